"""Bandits: K-armed (Bernoulli, Gaussian, close-gap) and contextual, in text."""

from palaestra.envs.bandit.env import BanditEnv, ContextualBanditEnv, arm_labels

__all__ = ["BanditEnv", "ContextualBanditEnv", "arm_labels"]
