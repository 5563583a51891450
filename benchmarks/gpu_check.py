"""The GPU checks of the vLLM generation backend (run by ``benchmarks/gpu_check.sh``).

1. **Log-prob agreement**: vLLM samples replies to a few prompts; the same tokens are
   scored by the Hugging Face model palaestra trains (teacher-forced, bf16 autocast as the
   trainer runs it). Prints the mean and largest gap per token.
2. **Training**: ``GRPO_STEPS`` iterations of GRPO on the bandit with the vLLM backend in a
   generation actor sharing the GPU with the learner; prints each iteration's return and
   the vLLM-vs-learner log-prob gap the trainer logs.

Needs one CUDA GPU, vllm (``pip install 'palaestra[vllm]'``) and ray. MODEL (default
``tiny``) names the model.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from palaestra.algorithms import make_algorithm
from palaestra.algorithms.config import TrainConfig
from palaestra.algorithms.trainer import Trainer
from palaestra.distributed import PolicySource
from palaestra.distributed.vllm_backend import vllm_agent
from palaestra.llm.generation import SamplingConfig
from palaestra.llm.models import load_model
from palaestra.llm.prompting import PromptConfig
from palaestra.rollout import play

MODEL = os.environ.get("MODEL", "tiny")
GRPO_STEPS = int(os.environ.get("GRPO_STEPS", "10"))
#: Largest mean per-token gap accepted (bf16 learner against vLLM's bf16 engine).
MEAN_GAP_LIMIT = 0.05


def agreement() -> float:
    """Mean per-token gap between vLLM's log-probs and the learner's on vLLM's tokens."""
    import gymnasium as gym

    sampling = SamplingConfig(max_new_tokens=32, temperature=1.0)
    agent = vllm_agent(
        PolicySource(model=MODEL, backend="vllm", gpu_memory_utilization=0.3),
        sampling=sampling,
        prompt=PromptConfig(),
        batch=16,
    )
    seeds = list(range(16))
    envs = [gym.make("palaestra/Bandit-v0", horizon=3) for _ in seeds]
    episodes = play(agent, envs, seeds, keys=[(0, s) for s in seeds])
    model, _ = load_model(MODEL, device="cuda", dtype="float32")
    gaps = []
    with torch.no_grad():
        for episode in episodes:
            for turn in episode.turns:
                ids = torch.tensor([[*turn.prompt_ids, *turn.response_ids]], device="cuda")
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    logits = model(ids).logits[0, len(turn.prompt_ids) - 1 : -1].float()
                learner = torch.log_softmax(logits / sampling.temperature, -1)
                chosen = learner.gather(1, ids[0, len(turn.prompt_ids) :, None]).squeeze(1)
                gaps += (chosen.cpu() - torch.tensor(turn.logprobs)).abs().tolist()
    mean = statistics.fmean(gaps)
    print(f"log-prob agreement: {len(gaps)} tokens, mean gap {mean:.4f}, largest {max(gaps):.4f}")
    del agent
    torch.cuda.empty_cache()
    return mean


def training() -> list[dict[str, float]]:
    """GRPO_STEPS iterations with the vLLM backend; each iteration's metrics."""
    out = Path(tempfile.mkdtemp(prefix="palaestra-gpu-check-"))
    config = TrainConfig(
        env="palaestra/Bandit-v0",
        env_kwargs='{"horizon": 3}',
        model=MODEL,
        steps=GRPO_STEPS,
        groups=4,
        group_size=8,
        extract="choice",
        device="cuda",
        out=out,
        tensorboard=False,
        progress=False,
        generation_workers=1,
        generation_backend="vllm",
        vllm_gpu_memory=0.3,
    )
    Trainer(config, make_algorithm("grpo")).run()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        print(
            f"iteration {row['iteration']:>2}: return {row['return']:+.3f}  "
            f"logprob_gap {row['logprob_gap']:.4f}  weight_sync {row['weight_sync_s']:.2f} s  "
            f"generate {row['generate_s']:.2f} s  update {row['update_s']:.2f} s"
        )
    return rows


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU here", file=sys.stderr)
        return 2
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, model {MODEL}")
    mean = agreement()
    rows = training()
    ok = mean <= MEAN_GAP_LIMIT and len(rows) == GRPO_STEPS
    ok = ok and all(row["logprob_gap"] <= MEAN_GAP_LIMIT for row in rows)
    print("gpu_check:", "passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
