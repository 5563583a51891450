#!/usr/bin/env bash
# The vLLM backend's checks on one CUDA GPU: vLLM-vs-learner log-prob agreement on the same
# tokens, then GRPO iterations with generation in a vLLM actor (see gpu_check.py).
#   bash benchmarks/gpu_check.sh                  # the tiny model, 10 iterations
#   MODEL=Qwen/Qwen2.5-1.5B-Instruct GRPO_STEPS=3 bash benchmarks/gpu_check.sh
# Installs into .venv if vllm is missing (vllm brings its own CUDA build of torch).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || { python3 -m venv .venv; PYTHON=.venv/bin/python; }
"$PYTHON" -c "import vllm, ray" 2>/dev/null || "$PYTHON" -m pip install --quiet -e ".[train,vllm]"
exec "$PYTHON" benchmarks/gpu_check.py
