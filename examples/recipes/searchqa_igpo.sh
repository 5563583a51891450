#!/usr/bin/env bash
# IGPO on SearchQA, Qwen2.5-1.5B-Instruct (Wang et al., 2025, arXiv:2510.14967: information-
# gain turn rewards for search agents; the paper trains Qwen2.5-7B on QA with a search tool).
# palaestra/SearchQA-v0 is the local stand-in: 2-hop questions about invented entities, a
# search[query] tool over a BM25 index, answer[...] scored by word F1.
#
# Hardware: one machine with 8 GPUs of 80 GB (A100/H100 class): GPUs 0-3 run 4 DDP training
# processes, GPUs 4-7 one vLLM generation actor each (one per training process). The
# environments stay in the training processes (--rollout-workers 0): a SearchQA step costs
# about 0.2 ms, a Ray round trip to environment actors several ms (docs/scaling.md).
# Not yet run on a GPU by the project: see README.md.
#
#   bash examples/recipes/searchqa_igpo.sh                     # starts and stops a local Ray
#   MODEL=/models/Qwen2.5-1.5B-Instruct bash examples/recipes/searchqa_igpo.sh   # offline
#   DRY_RUN=1 bash examples/recipes/searchqa_igpo.sh           # print the command only
#
# On a Ray cluster (`ray start --head` and `ray start --address HEAD:6379` on the others):
# RAY_ADDRESS=HEAD:6379 bash examples/recipes/searchqa_igpo.sh on the learners' machine
# (common.sh lists the GPU variables).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TRAIN_ARGS=(
    igpo
    # IGPO needs the gold answer, which the env gives the trainer (never the agent) when
    # made with expose_ground_truth.
    --env palaestra/SearchQA-v0
    --env-kwargs '{"expose_ground_truth": true}'
    --model "$MODEL"
    --out "${OUT:-runs/searchqa_igpo}"
    # Not the paper's (its batch size is not on file here): the 16 x 8 episodes of the
    # ALFWorld recipes, for 300 iterations.
    --steps 300
    --groups 16
    --group-size 8
    # At most 10 turns (SearchQA's registered limit: up to 6 searches, then an answer).
    --max-turns 10
    # lr 1e-6 (the paper's, given at 7B; kept at 1.5B), AdamW, gradient norm 1.0.
    --lr 1e-6
    --max-grad-norm 1.0
    # 4 mini-batches (palaestra's default, verl's GRPO recipes' ratio); micro-batches of 2
    # whole episodes (up to ~8k tokens each; memory only, the result does not depend on it).
    --mini-batches 4
    --micro-batch-size 2
    # Whole episodes as one sequence (the search agent sees its whole history, at most 10
    # turns), replies of up to 512 tokens at temperature 1, the action in <action>...</action>.
    --layout concat
    --max-new-tokens 512
    --temperature 1.0
    --extract tag
    --precision bf16
    --gradient-checkpointing
    --checkpoint-every 50
    --rollout-workers 0
    --generation-workers 1
    --generation-backend vllm
    # The paper's loss: GRPO clip ε 0.2, k3 KL 0.001 to the initial policy; turn returns
    # summed undiscounted (γ = 1) over the z-scored IG and outcome rewards.
    --algo.clip-low 0.2
    --algo.clip-high 0.2
    --algo.kl-coef 0.001
    --algo.gamma 1.0
)

launch "${TRAIN_ARGS[@]}"
