# One command each: `make demo` sets up and runs the main job, `make test` sets up and runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

# System tools some tests use: ruby (`ruby -c` on the Homebrew formula). Installed from
# Debian's packages when missing and this runs as root; otherwise that one test skips.
TEST_TOOLS_NOTE := ruby is missing: tests/packaging/test_homebrew.py skips its syntax check (install ruby)

.PHONY: setup test-tools demo test lint typecheck check bench package clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "memento-syncd needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv with the package and the dev tools

demo: $(STAMP)  ## a local server and two devices' daemons: an observation syncs, a conflict settles
	$(BIN)/python scripts/demo.py

test: $(STAMP) test-tools  ## run the test suite
	$(BIN)/pytest

test-tools:  ## install the system tools some tests use (ruby), when missing and root
	@command -v ruby >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends ruby >/dev/null; \
	  else echo "note: $(TEST_TOOLS_NOTE)"; fi; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test  ## what CI runs

$(BENCH_STAMP): $(STAMP)  # matplotlib, for the plots only (the optional extra `bench`)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# plots.py runs server_bench.py at 1k to 100k observations (3 runs each) and daemon_bench.py,
# printing their figures, then redraws docs/throughput.png and docs/propagation.png.
bench: $(BENCH_STAMP)  ## print every benchmark figure of docs/benchmarks.md, redraw its plots
	$(BIN)/python bench/plots.py
	$(BIN)/python bench/server_phases.py
	$(BIN)/python bench/dedup_bench.py
	$(BIN)/python bench/templated_bench.py
	$(BIN)/python bench/reindex_bench.py
	$(BIN)/python bench/client_bench.py
	$(BIN)/python bench/floor_bench.py

package: $(STAMP)  ## build the wheel, the sdist and the .deb (Debian/Ubuntu only) into dist/
	$(BIN)/python -m build --outdir dist .
	# The newest wheel of this version (its tag names the platform: it holds the C speed-ups).
	packaging/deb/build-deb.sh --out dist --wheel "$$(ls -t dist/memento_syncd-$$($(BIN)/python \
	  -c 'import memento_syncd; print(memento_syncd.__version__)')-*.whl | head -n 1)"

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
