"""The tables and summary lines: what they show, whatever the data."""

import gymnasium as gym
from rich.console import Console

from palaestra import reporting
from palaestra.agents import OracleAgent
from palaestra.leaderboard.live_client import LiveRun
from palaestra.rollout import run_episodes


def text_of(renderable: object) -> str:
    console = Console(width=200, record=True)
    console.print(renderable)
    return console.export_text()


def test_the_summary_table_shows_every_agent_and_metric() -> None:
    env = gym.make("palaestra/Bandit-v0", horizon=5)
    records = run_episodes(env, OracleAgent(env), episodes=2)
    text = text_of(reporting.summary_table("bandit", {"oracle": records, "nobody": []}))
    assert "oracle" in text and "regret" in text and "optimal_arm_rate" in text
    assert "nobody" not in text  # an agent with no episodes has no row


def test_markdown_tables() -> None:
    assert reporting.markdown_table([]) == ""
    table = reporting.markdown_table(
        [{"algo": "grpo", "return": 0.5}, {"algo": "epo", "return": 1}]
    )
    assert table.splitlines() == [
        "| algo | return |", "|---|---|", "| grpo | 0.500 |", "| epo | 1 |"
    ]  # fmt: skip


def test_intervals_and_the_live_line() -> None:
    assert reporting.interval(None) == "–"
    assert reporting.interval({"mean": 0.625, "low": 0.5, "high": 0.75}) == "0.62 [0.50, 0.75]"
    env = gym.make("palaestra/Bandit-v0", horizon=5)
    run = LiveRun(session="s1", status="finished", resumed=True,
                  records=run_episodes(env, OracleAgent(env), episodes=2))  # fmt: skip
    line = reporting.live_summary(run)
    assert line.startswith("live session s1 finished (resumed): 2 episodes played here")
    assert "success 1.00" in line
