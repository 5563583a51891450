"""The Gymnasium single-agent views against the scripted opponents."""

import gymnasium as gym
import pytest

from palaestra.errors import InvalidArgumentError


def play(env: gym.Env[str, str], moves: list[str], seed: int = 0) -> list[float]:
    env.reset(seed=seed)
    rewards = []
    for move in moves:
        _, reward, terminated, _, _ = env.step(move)
        rewards.append(reward)
        if terminated:
            break
    return rewards


def test_defecting_exploits_always_cooperate() -> None:
    env = gym.make("palaestra/PrisonersDilemma-v0", opponent="always_cooperate", horizon=1)
    assert play(env, ["defect"]) == [5.0]


def test_tit_for_tat_retaliates_and_forgives() -> None:
    env = gym.make("palaestra/PrisonersDilemma-v0", opponent="tit_for_tat", horizon=4)
    assert play(env, ["defect", "cooperate", "cooperate", "cooperate"]) == [5.0, 0.0, 3.0, 3.0]


def test_grim_trigger_never_forgives() -> None:
    env = gym.make("palaestra/PrisonersDilemma-v0", opponent="grim_trigger", horizon=4)
    assert play(env, ["defect", "cooperate", "cooperate", "cooperate"]) == [5.0, 0.0, 0.0, 0.0]


def test_public_goods_against_free_riders() -> None:
    env = gym.make("palaestra/PublicGoods-v0", opponent="always_defect", horizon=1)
    # Alone in the pot: 10 * 1.6 / 4 = 4 back.
    assert play(env, ["10"]) == [pytest.approx(4.0)]


def test_success_and_metrics() -> None:
    env = gym.make("palaestra/StagHunt-v0", opponent="always_cooperate", horizon=2)
    env.reset(seed=0)
    env.step("stag")
    *_, info = env.step("stag")
    assert info["success"] and info["episode_metrics"]["cooperation"] == 1.0
    env.reset(seed=0)
    env.step("hare")
    *_, info = env.step("nonsense")
    assert not info["success"] and info["episode_metrics"]["invalid_actions"] == 1


def test_unknown_opponent_suggests() -> None:
    with pytest.raises(InvalidArgumentError, match="did you mean 'tit_for_tat'"):
        gym.make("palaestra/PrisonersDilemma-v0", opponent="tit_for_tatt")


@pytest.mark.parametrize(
    ("env_id", "game_class", "view_class"),
    [
        ("palaestra/Gathering-v0", "GridGameParallelEnv", "GridGameEnv"),
        ("palaestra/Cleanup-v0", "GridGameParallelEnv", "GridGameEnv"),
        ("palaestra/PrisonersDilemma-v0", "MatrixGameParallelEnv", "MatrixGameEnv"),
    ],
)
def test_views_take_every_argument_of_their_game(
    env_id: str, game_class: str, view_class: str
) -> None:
    import inspect

    import gymnasium as gym

    from palaestra.envs import social

    game = getattr(social, game_class)
    parameters = inspect.signature(game.__init__).parameters.values()
    defaults = {
        p.name: p.default
        for p in parameters
        if p.kind is p.KEYWORD_ONLY and p.name != "render_mode"
    }
    assert defaults  # a game with keyword arguments
    env = gym.make(env_id, **defaults)  # every one of them, through gym.make
    assert isinstance(env.unwrapped, getattr(social, view_class))
    for name, value in defaults.items():
        if hasattr(env.unwrapped.game, name) and value is not None:  # type: ignore[attr-defined]
            assert getattr(env.unwrapped.game, name) == value  # type: ignore[attr-defined]
    env.close()


def test_grid_arguments_reach_the_game_through_gym_make() -> None:
    import gymnasium as gym

    env = gym.make("palaestra/Cleanup-v0", regrow_steps=3, beam_length=5, waste_rate=0.2,
                   apple_rate=0.3, invalid_action_penalty=-0.5)  # fmt: skip
    game = env.unwrapped.game  # type: ignore[attr-defined]
    assert (game.regrow_steps, game.beam_length, game.waste_rate, game.apple_rate) == (
        3, 5, 0.2, 0.3,
    )  # fmt: skip
    assert env.unwrapped.invalid_action_penalty == -0.5  # type: ignore[attr-defined]
    env.close()


@pytest.mark.parametrize(
    ("env_id", "wrong", "right"),
    [("palaestra/Gathering-v0", "regrow_step", "regrow_steps"),
     ("palaestra/PrisonersDilemma-v0", "horizn", "horizon")],
)  # fmt: skip
def test_a_misspelled_argument_names_the_closest(env_id: str, wrong: str, right: str) -> None:
    import gymnasium as gym

    with pytest.raises(InvalidArgumentError, match=f"did you mean '{right}'"):
        gym.make(env_id, **{wrong: 3})
