#!/usr/bin/env bash
# EPO over GRPO on ALFWorld, Qwen2.5-1.5B-Instruct (Xu et al., 2025: EPO, entropy-regularized
# policy optimization; the paper reports ALFWorld at 3B, GRPO 63.3 -> 75.8 % success, with
# the verl-agent setup of ALFWORLD_ARGS in common.sh). The GRPO part is alfworld_grpo.sh's.
#
# Hardware: one machine with 8 GPUs of 80 GB (A100/H100 class) and about 32 free CPU cores:
# GPUs 0-3 run 4 DDP training processes, GPUs 4-7 one vLLM generation actor each (one per
# training process), the CPUs 32 ALFWorld environment actors; alfworld_grpo.sh says why.
# Not yet run on a GPU by the project: see README.md.
#
#   bash examples/recipes/alfworld_epo.sh                      # starts and stops a local Ray
#   MODEL=/models/Qwen2.5-1.5B-Instruct bash examples/recipes/alfworld_epo.sh   # offline
#   DRY_RUN=1 bash examples/recipes/alfworld_epo.sh            # print the command only
#
# On a Ray cluster (`ray start --head` and `ray start --address HEAD:6379` on the others):
# RAY_ADDRESS=HEAD:6379 bash examples/recipes/alfworld_epo.sh on the learners' machine
# (common.sh lists the GPU variables; alfworld_grpo.sh says where ALFWorld's games come from).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TRAIN_ARGS=(
    epo
    "${ALFWORLD_ARGS[@]}"
    --out "${OUT:-runs/alfworld_epo}"
    # EPO's terms at the paper's ALFWorld values (palaestra/algorithms/epo.py's defaults):
    # λ 0.001, band [κ_l, κ_r] = [0, 2]·H̄, schedule γ 3, smoothing α 0.1 (ALFWorld).
    --algo.entropy-weight 0.001
    --algo.kappa-low 0.0
    --algo.kappa-high 2.0
    --algo.schedule-gamma 3.0
    --algo.smoothing-weight 0.1
    # The GRPO loss of alfworld_grpo.sh (ε 0.2, k3 KL 0.01, token-mean, std-normalized),
    # without its separate entropy bonus: EPO's trajectory entropy term takes that place.
    --algo.clip-low 0.2
    --algo.clip-high 0.2
    --algo.kl-coef 0.01
    --algo.loss-aggregation token_mean
    --algo.entropy-coef 0.0
    --algo.scale-rewards
)

launch "${TRAIN_ARGS[@]}"
