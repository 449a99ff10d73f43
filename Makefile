# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# RAY_AUTH_MODE is left unset: rayarb's own Ray then runs with a fresh token per run (orchestration/ray_runtime.py)
export RAY_USAGE_STATS_ENABLED ?= 0

.PHONY: run test test-full sim bench chaos chaos-load clean prometheus badinput-table

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/rayarb run $(ARGS)

sim: $(STAMP)
	$(BIN)/rayarb sim $(ARGS)

# The metrics tests run a real Prometheus server: Debian's package, installed here when this runs as root.
prometheus:
	@if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then \
		if [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's prometheus package (the metrics tests run a real Prometheus)"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
		else \
			echo "the tests need Prometheus: run  sudo apt-get install -y --no-install-recommends prometheus  then make test again" >&2; \
			exit 1; \
		fi; \
	fi

# The tests that start no Ray (the domain and the simulator) run on every core; then the rest, one at a time, since
# each starts its own Ray and venues. ARGS: pytest options, given to both.
NO_RAY_TESTS := tests/execution tests/simulator
test: $(STAMP) prometheus
	$(BIN)/pytest -m "not slow" -n auto $(NO_RAY_TESTS) $(ARGS)
	$(BIN)/pytest -m "not slow" $(addprefix --ignore=,$(NO_RAY_TESTS)) $(ARGS)

# The long scenarios too, each file of them in a pytest process of its own: Ray's driver does not survive every
# sequence of Rays started and shut down in one process (a slow benchmark test after tests/actors/test_peers.py
# ended pytest in a check of Ray's reference counter).
SLOW_TESTS = $(shell grep -rl --include='test_*.py' 'pytest.mark.slow' tests | sort)
test-full: test
	for file in $(SLOW_TESTS); do \
		$(BIN)/pytest -m slow $$file $(ARGS); rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ] || exit $$rc; \
	done

# Every published benchmark (benchmarks/suite.py), recorded in benchmarks/results.json; BENCHMARKS.md's tables made anew.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.suite $(ARGS)

# RELIABILITY.md's bad-input table, written from the cases of tests/badinput (a test fails when they differ)
badinput-table: $(STAMP)
	$(BIN)/python -m tests.badinput.cases

# The full chaos campaign (RELIABILITY.md): every fault kind, 120 faults over 12 minutes (1,000+ attempts), exit 1 on any violation;
# a head and one worker node on this host, for node_lost.
chaos: $(STAMP)
	$(BIN)/rayarb chaos --duration 720 --seed 1 --nodes 1 $(ARGS)

# The load campaign (RELIABILITY.md): 10 symbols on 3 venues quoted as fast as the simulator can, 10 minutes, no faults.
chaos-load: $(STAMP)
	$(BIN)/rayarb chaos --load --faults none --duration 600 --seed 1 $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
