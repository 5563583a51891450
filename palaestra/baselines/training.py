"""Non-LLM reference agents: tianshou's DQN and PPO on the numeric view of an environment.

``train_baseline`` trains on :class:`~palaestra.envs.wrappers.numeric.NumericView` copies of a
registered environment, evaluating the greedy policy after every epoch, and returns the
learning curve with a uniformly random policy's return on the same evaluation seeds as the
reference line. ``palaestra baseline ENV_ID --algo dqn|ppo`` runs it from the command line
and plots the curve.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from palaestra.envs.registration import parse_env_kwargs
from palaestra.envs.wrappers.numeric import NumericView
from palaestra.errors import InvalidArgumentError
from palaestra.optional import require
from palaestra.rollout import run_episodes

BaselineAlgo = Literal["dqn", "ppo"]


@dataclass(frozen=True)
class BaselineConfig:
    """A tianshou baseline run.

    Attributes:
        env: A registered palaestra id with a numeric view (bandits, social dilemmas).
        algo: ``dqn`` or ``ppo``.
        env_kwargs: JSON object of ``gym.make`` keyword arguments.
        epochs: Training epochs (an evaluation after each).
        steps_per_epoch: Environment steps collected per epoch.
        n_envs: Parallel training environments.
        hidden: Width of the two hidden layers.
        lr: Adam learning rate.
        gamma: Discount factor.
        eval_episodes: Episodes of each evaluation.
        seed: Seed of the networks, exploration and episodes.
    """

    env: str
    algo: BaselineAlgo = "dqn"
    env_kwargs: str = "{}"
    epochs: int = 10
    steps_per_epoch: int = 1000
    n_envs: int = 4
    hidden: int = 64
    lr: float = 1e-3
    gamma: float = 0.99
    eval_episodes: int = 50
    seed: int = 0


@dataclass
class BaselineResult:
    """What a baseline run produced.

    Attributes:
        curve: ``(environment steps, mean evaluation return)`` after each epoch.
        random_return: Mean return of a uniformly random policy on the evaluation seeds.
        final_return: The last evaluation's mean return.
    """

    curve: list[tuple[int, float]] = field(default_factory=list)
    random_return: float = 0.0

    @property
    def final_return(self) -> float:
        """The last evaluation's mean return."""
        return self.curve[-1][1] if self.curve else float("nan")


def _make(config: BaselineConfig) -> Any:
    kwargs = parse_env_kwargs(config.env_kwargs)
    return lambda: NumericView(gym.make(config.env, **kwargs))


def mean_return(policy: Any, make: Any, episodes: int, seed: int) -> float:
    """Mean return of ``policy`` (``None``: uniformly random) over seeded episodes."""
    env = make()
    try:
        played = run_episodes(
            env, _PolicyAgent(policy, env.action_space.n, seed), episodes=episodes, seed=seed
        )
    finally:
        env.close()
    return float(np.mean([episode.total_reward for episode in played]))


class _PolicyAgent:
    """A tianshou policy's greedy action on each numeric observation (random without one)."""

    def __init__(self, policy: Any, actions: int, seed: int) -> None:
        self.policy, self.actions = policy, actions
        self.rng = np.random.default_rng(seed)

    def reset(self, instruction: str) -> None:
        pass

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> int:
        if self.policy is None:
            return int(self.rng.integers(self.actions))
        import torch
        from tianshou.data import Batch

        with torch.no_grad():
            return int(self.policy(Batch(obs=observation[None], info={})).act[0])


def _algorithm(config: BaselineConfig, env: Any) -> Any:
    from tianshou.algorithm.modelfree.dqn import DQN, DiscreteQLearningPolicy
    from tianshou.algorithm.modelfree.ppo import PPO
    from tianshou.algorithm.modelfree.reinforce import DiscreteActorPolicy
    from tianshou.algorithm.optim import AdamOptimizerFactory
    from tianshou.utils.net.common import Net
    from tianshou.utils.net.discrete import DiscreteActor, DiscreteCritic

    state_shape = env.observation_space.shape
    n_actions = int(env.action_space.n)
    hidden = (config.hidden, config.hidden)
    optim = AdamOptimizerFactory(lr=config.lr)
    if config.algo == "dqn":
        net = Net(state_shape=state_shape, action_shape=n_actions, hidden_sizes=hidden)
        q_policy = DiscreteQLearningPolicy(
            model=net, action_space=env.action_space, eps_training=0.1, eps_inference=0.0
        )
        return DQN(policy=q_policy, optim=optim, gamma=config.gamma, target_update_freq=100)
    body = Net(state_shape=state_shape, hidden_sizes=hidden)
    actor = DiscreteActor(preprocess_net=body, action_shape=n_actions, softmax_output=False)
    critic = DiscreteCritic(preprocess_net=Net(state_shape=state_shape, hidden_sizes=hidden))
    actor_policy = DiscreteActorPolicy(
        actor=actor, action_space=env.action_space, deterministic_eval=True
    )
    return PPO(policy=actor_policy, critic=critic, optim=optim, gamma=config.gamma)


def train_baseline(config: BaselineConfig) -> BaselineResult:
    """Train ``config.algo`` on ``config.env`` and return its evaluation curve."""
    require("tianshou", "baselines", "the tianshou baselines")
    import torch
    from tianshou.data import Collector, VectorReplayBuffer
    from tianshou.env import DummyVectorEnv
    from tianshou.trainer import OffPolicyTrainerParams, OnPolicyTrainerParams

    if config.algo not in ("dqn", "ppo"):
        raise InvalidArgumentError(f"algo must be 'dqn' or 'ppo', got {config.algo!r}")
    if config.epochs < 1 or config.steps_per_epoch < 1 or config.n_envs < 1:
        raise InvalidArgumentError("epochs, steps_per_epoch and n_envs must be positive")
    make = _make(config)
    probe = make()
    torch.manual_seed(config.seed)
    algorithm = _algorithm(config, probe)
    envs = DummyVectorEnv([make for _ in range(config.n_envs)])
    envs.seed([config.seed * 1000 + k for k in range(config.n_envs)])
    buffer = VectorReplayBuffer(max(10_000, config.steps_per_epoch), config.n_envs)
    collector: Any = Collector(algorithm, envs, buffer, exploration_noise=True)
    eval_seed = 10_000 + config.seed
    result = BaselineResult(random_return=mean_return(None, make, config.eval_episodes, eval_seed))
    steps = 0
    for _ in range(config.epochs):
        # One epoch of tianshou's own trainer at a time, then a seeded greedy evaluation.
        if config.algo == "dqn":
            params: Any = OffPolicyTrainerParams(
                training_collector=collector,
                max_epochs=1,
                epoch_num_steps=config.steps_per_epoch,
                collection_step_num_env_steps=4 * config.n_envs,
                update_step_num_gradient_steps_per_sample=0.25,
                batch_size=64,
                test_in_training=False,
                verbose=False,
                show_progress=False,
            )
        else:
            params = OnPolicyTrainerParams(
                training_collector=collector,
                max_epochs=1,
                epoch_num_steps=config.steps_per_epoch,
                collection_step_num_env_steps=256,
                update_step_num_repetitions=4,
                batch_size=64,
                test_in_training=False,
                verbose=False,
                show_progress=False,
            )
        stats = algorithm.run_training(params)
        steps += int(stats.train_step)
        result.curve.append(
            (steps, mean_return(algorithm.policy, make, config.eval_episodes, eval_seed))
        )
    envs.close()
    probe.close()
    return result


def save_curve(result: BaselineResult, config: BaselineConfig, out: Path) -> list[Path]:
    """Write ``curve.json`` and, with matplotlib installed, ``curve.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "env": config.env,
        "algo": config.algo,
        "curve": result.curve,
        "random_return": result.random_return,
    }
    paths = [out / "curve.json"]
    paths[0].write_text(json.dumps(data, indent=1))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return paths
    figure, axis = plt.subplots(figsize=(6, 3.5))
    xs, ys = zip(*result.curve, strict=True)
    axis.plot(xs, ys, marker="o", label=config.algo.upper())
    axis.axhline(result.random_return, color="grey", linestyle="--", label="random")
    axis.set_xlabel("environment steps")
    axis.set_ylabel("mean evaluation return")
    axis.set_title(config.env)
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "curve.png", dpi=100)
    plt.close(figure)
    return [*paths, out / "curve.png"]
