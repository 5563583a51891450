"""Non-LLM reference agents: tianshou's DQN and PPO on an environment's numeric view."""

from palaestra.baselines.training import BaselineConfig, BaselineResult, train_baseline

__all__ = ["BaselineConfig", "BaselineResult", "train_baseline"]
