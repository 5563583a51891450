"""What ``make demo`` runs.

1. The reference curves on palaestra's bandits: classic algorithms (UCB1, Thompson sampling,
   epsilon-greedy), the oracle and a random agent play every bandit variant through the text
   interface; a regret table and a plot of mean cumulative regret per round.
2. The reference training run: GRPO trains the tiny model, from scratch on the CPU, on a
   5-armed letter bandit (a short warm start on random arms teaches only the reply format,
   then RL finds the paying arm); its learning and entropy curves are plotted.
3. The leaderboard: the trained models and the scripted baselines are scored on the
   palaestra-v1 suite, submitted to a local server that replays every episode, and the
   table is printed.
"""

from palaestra.demo.bandits import BANDIT_AGENTS, BANDIT_IDS, bandit_demo, bandit_regret
from palaestra.demo.leaderboard import BASELINES, Entry, leaderboard_demo
from palaestra.demo.training import REFERENCE_RUNS, reference_entries, training_demo

__all__ = [
    "BANDIT_AGENTS",
    "BANDIT_IDS",
    "BASELINES",
    "REFERENCE_RUNS",
    "Entry",
    "bandit_demo",
    "bandit_regret",
    "leaderboard_demo",
    "reference_entries",
    "training_demo",
]
