#!/usr/bin/env bash
# GRPO on ALFWorld, Qwen2.5-1.5B-Instruct: the GRPO baseline of the GiGPO paper (Feng et al.,
# 2025, arXiv:2505.10978; 72.8 % success at 1.5B), with that paper's settings (ALFWORLD_ARGS
# in common.sh) and its GRPO loss as verl-agent ran it.
#
# Hardware: one machine with 8 GPUs of 80 GB (A100/H100 class) and about 32 free CPU cores.
# GPUs 0-3 run 4 DDP training processes (examples/accelerate/ddp.yaml), GPUs 4-7 one vLLM
# generation actor each, one per training process (docs/scaling.md: with 128 episodes a
# turn, generation is bound by the length of the longest reply, not by GPU count), and the
# CPUs 32 ALFWorld environment actors. Not yet run on a GPU by the project: see README.md.
#
#   bash examples/recipes/alfworld_grpo.sh                     # starts and stops a local Ray
#   MODEL=/models/Qwen2.5-1.5B-Instruct bash examples/recipes/alfworld_grpo.sh   # offline
#   DRY_RUN=1 bash examples/recipes/alfworld_grpo.sh           # print the command only
#
# On a Ray cluster: `ray start --head --port 6379` on one node and `ray start --address
# HEAD:6379` on the others (GPU nodes for the vLLM actors, CPU nodes for the environments),
# then, on the machine of the learners, RAY_ADDRESS=HEAD:6379 bash examples/recipes/alfworld_grpo.sh
# (common.sh lists the GPU variables). ALFWorld games are generated offline and cached in
# ~/.cache/palaestra on each node (PALAESTRA_CACHE_DIR to share one folder); to train on the
# official games the papers used, set PALAESTRA_ALFWORLD_DATA to ALFWorld's json_2.1.1 folder
# on every node.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TRAIN_ARGS=(
    grpo
    "${ALFWORLD_ARGS[@]}"
    --out "${OUT:-runs/alfworld_grpo}"
    # GRPO's loss as verl-agent ran it: ε 0.2 both sides; k3 KL to the initial policy,
    # weight 0.01 (use_kl_loss, kl_loss_coef=0.01, kl_loss_type=low_var_kl); token-mean
    # aggregation (loss_agg_mode); entropy bonus 0.001 (actor.entropy_coeff); advantages
    # divided by the group's std (norm_adv_by_std_in_grpo).
    --algo.clip-low 0.2
    --algo.clip-high 0.2
    --algo.kl-coef 0.01
    --algo.loss-aggregation token_mean
    --algo.entropy-coef 0.001
    --algo.scale-rewards
)

launch "${TRAIN_ARGS[@]}"
