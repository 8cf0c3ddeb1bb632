# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit clean ensure-redis ensure-chromium examples

# $(call ensure_command,COMMAND,DEBIAN_PACKAGE,WHAT_FOR): apt-get install the package when
# the command is missing (as root, else through sudo).
define ensure_command
	@command -v $(1) >/dev/null 2>&1 || { \
	  echo "installing $(2) for $(3)"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2); }
endef

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The HTTP server on the bundled examples: tenant demo (hello) and tenant onboarding;
# open http://127.0.0.1:8080/chat and pick a tenant. Ctrl-C stops it.
run: $(STAMP) examples
	@if [ -d examples/hello ]; then \
	  $(BIN)/greentic-runner serve --pack examples/hello \
	    $$([ -d examples/onboarding ] && echo --pack onboarding=examples/onboarding); \
	else \
	  echo "examples/hello is missing: nothing to serve"; exit 1; \
	fi

# Build the WebAssembly components of the example packs from their sources
# (examples/<pack>/src/<id>/ -> examples/<pack>/components/<id>.wasm, git-ignored; cached by
# source hash in .build/examples/, so a second run costs a few hashes).
examples: $(STAMP)
	$(BIN)/python tools/build_components.py --examples

lint: $(STAMP)
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests

typecheck: $(STAMP)
	$(BIN)/mypy src

# The storage tests start a private redis-server on a free port (never touching 6379).
ensure-redis:
	$(call ensure_command,redis-server,redis-server,the storage tests)

# The /chat browser test drives Debian's chromium through Playwright (no browser download).
ensure-chromium:
	$(call ensure_command,chromium,chromium,the browser test)

unit: $(STAMP) ensure-redis ensure-chromium
	$(BIN)/pytest

test: ensure-chromium lint typecheck unit

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

# Benchmarks (docs/performance.md): BENCH lines on stdout, JSON in .bench/report.json.
# The Bot Framework peer runs in its own virtualenv, .bench/ (ignored by git).
# BENCH_ARGS passes options through, e.g. `make bench BENCH_ARGS="--only turn-echo --profile"`.
BENCH_VENV := .bench
BENCH_STAMP := $(BENCH_VENV)/.installed

.PHONY: bench bench-icount ensure-wrk ensure-valgrind

$(BENCH_STAMP): bench/peer/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet -r bench/peer/requirements.txt
	touch $(BENCH_STAMP)

ensure-wrk:
	$(call ensure_command,wrk,wrk,the http-webchat benchmark)

bench: $(STAMP) $(BENCH_STAMP) ensure-redis ensure-wrk
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Instructions per WebChat request (ours vs the bare echo app) and per echo and ask-name
# turn (ours vs the peer), counted by valgrind: noise-free companions to http-webchat,
# turn-echo and turn-ask-name (bench/icount.py; about four minutes).
bench-icount: $(STAMP) $(BENCH_STAMP) ensure-valgrind
	$(BIN)/python -m bench.icount

ensure-valgrind:
	$(call ensure_command,valgrind,valgrind,bench-icount)
