# The few commands everyone uses. Everything installs from the package registries.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test
JSDEPS := tests/js/node_modules/.package-lock.json
BSTAMP := $(VENV)/.installed-bench
HOST   ?= 127.0.0.1
PORT   ?= 8686
DATA   ?= ./.tessera

.PHONY: run test bench fuzz install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TSTAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(BSTAMP): pyproject.toml $(TSTAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/tessera serve --host $(HOST) --port $(PORT) --data-dir $(DATA)

$(JSDEPS): tests/js/package.json tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund --loglevel=error

test: $(TSTAMP) $(JSDEPS)
	$(BIN)/ruff check --no-cache src tests bench
	$(BIN)/ruff format --check --no-cache src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

bench: $(BSTAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info

# A long fuzzing run (the same generator as the short one in `make test`).
FUZZ_REQUESTS ?= 50000
FUZZ_SEED     ?= 20261202
fuzz: $(TSTAMP)
	TESSERA_FUZZ_REQUESTS=$(FUZZ_REQUESTS) TESSERA_FUZZ_SEED=$(FUZZ_SEED) \
		$(BIN)/python -m pytest -p no:cacheprovider tests/attack/test_fuzz.py $(PYTEST_ARGS)
