#!/usr/bin/env bash
# SPEAR over GRPO on ALFWorld, Qwen2.5-1.5B-Instruct (Qin et al., 2025: self-imitation with
# progressive exploration; ALFWorld at 1.5B, GRPO 72.8 -> 88.9 % success), with the verl-agent
# setup of ALFWORLD_ARGS in common.sh.
#
# Hardware: one machine with 8 GPUs of 80 GB (A100/H100 class) and about 32 free CPU cores:
# GPUs 0-3 run 4 DDP training processes, GPUs 4-7 one vLLM generation actor each (one per
# training process), the CPUs 32 ALFWorld environment actors; alfworld_grpo.sh says why.
# Not yet run on a GPU by the project: see README.md.
#
#   bash examples/recipes/alfworld_spear.sh                    # starts and stops a local Ray
#   MODEL=/models/Qwen2.5-1.5B-Instruct bash examples/recipes/alfworld_spear.sh   # offline
#   DRY_RUN=1 bash examples/recipes/alfworld_spear.sh          # print the command only
#
# On a Ray cluster (`ray start --head` and `ray start --address HEAD:6379` on the others):
# RAY_ADDRESS=HEAD:6379 bash examples/recipes/alfworld_spear.sh on the learners' machine
# (common.sh lists the GPU variables; alfworld_grpo.sh says where ALFWorld's games come from).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TRAIN_ARGS=(
    spear
    "${ALFWORLD_ARGS[@]}"
    --out "${OUT:-runs/alfworld_spear}"
    # The paper's Dr. GRPO-style base (palaestra/algorithms/spear.py's defaults): GRPO
    # advantages without the std, no KL, ε 0.2 / 0.28, and Clip-Cov on the on-policy loss
    # (r 2e-4, bounds 1 and 5).
    --algo.base grpo
    --algo.no-scale-rewards
    --algo.kl-coef 0.0
    --algo.clip-low 0.2
    --algo.clip-high 0.28
    --algo.covariance-control clip_cov
    --algo.clip-cov-ratio 2e-4
    --algo.clip-cov-lower 1.0
    --algo.clip-cov-upper 5.0
    # Self-imitation: a buffer of 2048 positive-advantage trajectories, dropped after 10
    # iterations; a FIFO of 10,240 group mean rewards; the replay weight rising to c = 1
    # over K_r = 100 iterations (ALFWorld); Clip-Cov on the replay loss with r 0.02, ub 40.
    --algo.buffer-capacity 2048
    --algo.tolerate-steps 10
    --algo.reward-fifo 10240
    --algo.replay-warmup 100
    --algo.replay-coef 1.0
    --algo.replay-clip-cov-ratio 0.02
    --algo.replay-clip-cov-upper 40.0
    # No tool-call reward: ALFWorld's commands are moves in the household, not tool calls
    # (palaestra's ALFWorld counts none, and SPEAR refuses the reward on such an env).
    --algo.no-tool-reward
)

launch "${TRAIN_ARGS[@]}"
