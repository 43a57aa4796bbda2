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
# Third-party tools of tests/tools, each in its own virtualenv (their boto3 is not ours).
TOOLS_DIR ?= .venv-tools
TOOLS     := ansible principalmapper scoutsuite cloudsplaining
TOOL_STAMPS := $(TOOLS:%=$(TOOLS_DIR)/%/.installed)

.PHONY: run test bench fuzz install clean tools screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The distribution is tessera-iam; a venv made when it was still called tessera loses the old one.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip uninstall --quiet --yes tessera 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The resource servers' client library (clients/python) is its own distribution; tests use it.
$(TSTAMP): pyproject.toml clients/python/pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]' -e clients/python
	touch $@

$(BSTAMP): pyproject.toml $(TSTAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/tessera serve --host $(HOST) --port $(PORT) --data-dir $(DATA)

$(JSDEPS): tests/js/package.json tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund --loglevel=error

# Exact pins of every package (tests/tools/requirements/<tool>.txt, from the package registry),
# installed without the resolver; a <tool>.pth there is copied into the tool's site-packages
# (principalmapper 1.1.5 still imports Mapping from collections, gone since Python 3.10).
$(TOOLS_DIR)/%/.installed: tests/tools/requirements/%.txt
	rm -rf $(TOOLS_DIR)/$*
	$(PYTHON) -m venv $(TOOLS_DIR)/$*
	$(TOOLS_DIR)/$*/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r $<
	if [ -f tests/tools/requirements/$*.pth ]; then \
		cp tests/tools/requirements/$*.pth "$$($(TOOLS_DIR)/$*/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/"; fi
	touch $@

# The four installs wait on the network more than on the CPU: side by side (~3 min once).
tools:
	$(MAKE) --no-print-directory -j4 $(TOOL_STAMPS)

test: $(TSTAMP) $(JSDEPS) tools
	command -v jq >/dev/null || (apt-get update -qq && apt-get install -y -qq jq)
	command -v curl >/dev/null || (apt-get update -qq && apt-get install -y -qq curl)
	command -v xmlsec1 >/dev/null || (apt-get update -qq && apt-get install -y -qq xmlsec1)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/ruff check --no-cache src tests bench clients examples
	$(BIN)/ruff format --check --no-cache src tests bench clients examples
	$(BIN)/mypy
	TESSERA_TOOLS_DIR=$(abspath $(TOOLS_DIR)) $(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

# The console's screenshots in docs/console/, taken by its browser tests (SQLite).
screenshots: $(TSTAMP)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	TESSERA_CONSOLE_SCREENSHOTS=$(abspath docs/console) $(BIN)/python -m pytest -q tests/e2e -k "console and (sqlite or not postgres)"

bench: $(BSTAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS_DIR) build *.egg-info src/*.egg-info

# A long fuzzing run (the same generator as the short one in `make test`), then the
# property tests with random examples (`make test` runs them derandomized).
FUZZ_REQUESTS ?= 50000
FUZZ_SEED     ?= 20261202
fuzz: $(TSTAMP)
	TESSERA_FUZZ_REQUESTS=$(FUZZ_REQUESTS) TESSERA_FUZZ_SEED=$(FUZZ_SEED) \
		$(BIN)/python -m pytest -p no:cacheprovider tests/attack/test_fuzz.py $(PYTEST_ARGS)
	HYPOTHESIS_PROFILE=explore $(BIN)/python -m pytest -q -p no:cacheprovider -n 2 tests/unit $(PYTEST_ARGS)
