# Sourced by the recipes in this folder: the GPU split, the Ray cluster and the launch.
# A recipe sets TRAIN_ARGS (the `palaestra train` arguments, the algorithm first) and calls
# `launch "${TRAIN_ARGS[@]}"`; the ALFWorld recipes share ALFWORLD_ARGS, below.
#
# Environment (all optional):
#   MODEL            hub id or local model folder (default Qwen/Qwen2.5-1.5B-Instruct)
#   OUT              run folder (default runs/<recipe name>)
#   LEARNER_GPUS     GPUs of the DDP training processes, one process each (default 0,1,2,3)
#   GENERATION_GPUS  GPUs of the local Ray cluster, one vLLM generation actor each
#                    (default 4,5,6,7); not used when RAY_ADDRESS is set
#   RAY_ADDRESS      host:port of a running Ray cluster to place the environment and generation
#                    actors on (start it with `ray start --head` and `ray start --address`);
#                    unset: a local cluster is started on GENERATION_GPUS and stopped at exit.
#                    If this machine is one of the cluster's nodes, start its Ray with
#                    CUDA_VISIBLE_DEVICES set to the GPUs the learners do not use (or with
#                    --num-gpus 0), so no vLLM actor is placed on a learner's GPU.
#   RAY_PORT         port of that local cluster (default 6379)
#   DRY_RUN=1        print the launch command and exit (starts nothing; the tests use it)
#
# --rollout-workers and --generation-workers count actors per training process: each process
# plays its share of the rollout (--groups x --group-size episodes over all processes) with
# its own actors. So 4 processes with --generation-workers 1 use 4 vLLM actors, one GPU each.

RECIPES="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$RECIPES/../.." && pwd)"
MODEL="${MODEL:-Qwen/Qwen2.5-1.5B-Instruct}"
LEARNER_GPUS="${LEARNER_GPUS:-0,1,2,3}"
GENERATION_GPUS="${GENERATION_GPUS:-4,5,6,7}"

count() { # the number of entries of a comma-separated list
    local -a items
    IFS=, read -r -a items <<<"$1"
    echo "${#items[@]}"
}

launch() {
    local -a command=(
        accelerate launch --config_file "$ROOT/examples/accelerate/ddp.yaml"
        --num_processes "$(count "$LEARNER_GPUS")" --gpu_ids "$LEARNER_GPUS"
        -m palaestra.cli train "$@"
    )
    if [[ "${DRY_RUN:-0}" == 1 ]]; then
        printf '%q ' "${command[@]}"
        echo
        return 0
    fi
    if [[ -z "${RAY_ADDRESS:-}" ]]; then
        # Ray sees only the generation GPUs, so its vLLM actors never land on a learner's GPU.
        CUDA_VISIBLE_DEVICES="$GENERATION_GPUS" ray start --head --port "${RAY_PORT:-6379}" \
            --num-gpus "$(count "$GENERATION_GPUS")" --include-dashboard=false
        trap 'ray stop' EXIT
        export RAY_ADDRESS="127.0.0.1:${RAY_PORT:-6379}"
    fi
    cd "$ROOT"
    "${command[@]}"
}

# The run settings of the ALFWorld recipes: those of the GiGPO paper (Feng et al., 2025,
# arXiv:2505.10978), which the EPO and SPEAR papers' ALFWorld runs share, as verl-agent's
# examples/{grpo,gigpo}_trainer/run_alfworld.sh and verl's ppo_trainer.yaml set them.
ALFWORLD_ARGS=(
    --env palaestra/ALFWorld-v0
    --model "$MODEL"
    # 150 iterations of 16 groups x 8 episodes (train_data_size=16, env.rollout.n=8,
    # total_epochs=150 of one batch each).
    --steps 150
    --groups 16
    --group-size 8
    # Episodes of at most 50 steps (env.max_steps=50, ALFWorld's registered limit).
    --max-turns 50
    # AdamW, lr 1e-6, weight decay 0.01, constant schedule, gradient norm 1.0 (verl's actor
    # optim.lr, optim.weight_decay and grad_clip).
    --lr 1e-6
    --weight-decay 0.01
    --max-grad-norm 1.0
    # verl-agent trains mini-batches of 256 turns (ppo_mini_batch_size=256). palaestra sets
    # the number of mini-batches, not their size: 16 of 256 turns are 128 episodes of 32
    # turns. Micro-batches change memory only, not the result: verl-agent's are 16 samples
    # with padding removed; palaestra pads a micro-batch to its longest sample, so 8.
    --mini-batches 16
    --micro-batch-size 8
    # One sample per turn showing the last 2 turns (env.history_length=2), replies of up to
    # 512 tokens (max_response_length=512) sampled at temperature 1 (rollout.temperature),
    # the action in <action>...</action> as verl-agent's ALFWorld prompt asks.
    --layout per_turn
    --history 2
    --max-new-tokens 512
    --temperature 1.0
    --extract tag
    # bf16 autocast and gradient checkpointing (enable_gradient_checkpointing=True).
    --precision bf16
    --gradient-checkpointing
    --checkpoint-every 50
    # Actors per training process (see above): 8 environment actors (4 episodes each, with 4
    # processes), 1 vLLM generation actor.
    --rollout-workers 8
    --generation-workers 1
    --generation-backend vllm
)
