#!/usr/bin/env bash
# GiGPO on ALFWorld, Qwen2.5-1.5B-Instruct (Feng et al., 2025, arXiv:2505.10978; 86.1 %
# success at 1.5B against GRPO's 72.8 %), with the paper's settings (ALFWORLD_ARGS in
# common.sh) and its loss as verl-agent's examples/gigpo_trainer/run_alfworld.sh runs it.
#
# Hardware: one machine with 8 GPUs of 80 GB (A100/H100 class) and about 32 free CPU cores:
# GPUs 0-3 run 4 DDP training processes, GPUs 4-7 one vLLM generation actor each (one per
# training process), the CPUs 32 ALFWorld environment actors; alfworld_grpo.sh says why.
# Not yet run on a GPU by the project: see README.md.
#
#   bash examples/recipes/alfworld_gigpo.sh                    # starts and stops a local Ray
#   MODEL=/models/Qwen2.5-1.5B-Instruct bash examples/recipes/alfworld_gigpo.sh   # offline
#   DRY_RUN=1 bash examples/recipes/alfworld_gigpo.sh          # print the command only
#
# On a Ray cluster (`ray start --head` and `ray start --address HEAD:6379` on the others):
# RAY_ADDRESS=HEAD:6379 bash examples/recipes/alfworld_gigpo.sh on the learners' machine
# (common.sh lists the GPU variables; alfworld_grpo.sh says where ALFWorld's games come from).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TRAIN_ARGS=(
    gigpo
    "${ALFWORLD_ARGS[@]}"
    --out "${OUT:-runs/alfworld_gigpo}"
    # A = A_episode + ω·A_step with ω = 1 (step_advantage_w=1.0), step returns discounted by
    # γ = 0.95 (algorithm.gamma), both terms mean-normalized without std (gigpo.mode
    # mean_norm, verl-agent's default and the paper's choice for ALFWorld).
    --algo.step-weight 1.0
    --algo.gamma 0.95
    --algo.mode mean_norm
    # The rest of the loss as in alfworld_grpo.sh: ε 0.2, k3 KL 0.01, token-mean, entropy
    # bonus 0.001.
    --algo.clip-low 0.2
    --algo.clip-high 0.2
    --algo.kl-coef 0.01
    --algo.loss-aggregation token_mean
    --algo.entropy-coef 0.001
)

launch "${TRAIN_ARGS[@]}"
