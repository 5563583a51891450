"""Hand-built episodes for advantage tests."""

from palaestra.agents.records import Episode, Turn


def episode(rewards: list[float], group: int = 0, observations: list[str] | None = None) -> Episode:
    observations = observations or [f"s{t}" for t in range(len(rewards))]
    turns = [
        Turn(
            prompt_ids=[1, 2],
            response_ids=[3, 4],
            logprobs=[-1.0, -1.0],
            entropies=[1.0, 1.0],
            observation=obs,
            response="a",
            action="a",
            reward=r,
        )
        for obs, r in zip(observations, rewards, strict=True)
    ]
    return Episode(env_id="test", seed=group, instruction="", turns=turns, group=group)
