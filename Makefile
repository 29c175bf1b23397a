# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo check test bench bench-scale bench-detect bench-faults bench-drift bench-walk bench-fleet serve browser postgres prometheus haproxy clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,docs]'
	touch $(STAMP)

demo: $(STAMP) haproxy
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/changeflow demo

# The Prefect UI approval test drives Debian's chromium; install it when apt-get can (CI runs as root).
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } || \
	  echo "chromium not installable here: the browser test will be skipped"

# The distributed tests and bench-scale start a private PostgreSQL (Debian's postgresql); install it when apt-get can.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) ; } || \
	  echo "PostgreSQL not installable here: the distributed tests will be skipped"

# The metric-provider tests scrape a test Triton with a private Prometheus (Debian's prometheus); install it when apt-get can.
prometheus:
	@command -v prometheus >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null) ; } || \
	  echo "Prometheus not installable here: the Prometheus provider tests will be skipped"

# The load-balancer tests (and `triton up --replicas N`) run Debian's haproxy; install it when apt-get can.
haproxy:
	@{ command -v haproxy || ls /usr/sbin/haproxy ; } >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null) ; } || \
	  echo "haproxy not installable here: the load-balancer tests will be skipped"

# The fast loop, under a minute on two cores: lint, the import contracts, and the tests that start nothing
# (pytest markers say what a test starts: tests/conftest.py; `make test` runs every test). No apt-get, no server.
UNIT_TESTS := not triton and not prefect and not postgres and not prometheus and not browser and not wheel and not cli
# `ruff format --check` reports but does not fail until the tree is formatted once (its own commit, which sets this
# to 1); `make check FORMAT_CHECK=1` enforces it now.
FORMAT_CHECK ?= 1

check: $(STAMP)
	$(BIN)/ruff check .
	@if [ "$(FORMAT_CHECK)" = 1 ]; then echo "$(BIN)/ruff format --check ."; $(BIN)/ruff format --check .; \
	else $(BIN)/ruff format --check . >/dev/null 2>&1 || \
	  echo "ruff format --check: $$($(BIN)/ruff format --check . 2>/dev/null | tail -1) (not failing: FORMAT_CHECK=0 until the tree is formatted once)"; fi
	@# the contracts live in pyproject.toml [tool.importlinter]; until they are written there is nothing to check
	@if grep -q '^\[tool\.importlinter\]' pyproject.toml; then echo "$(BIN)/lint-imports"; $(BIN)/lint-imports; \
	else echo "lint-imports: no [tool.importlinter] in pyproject.toml yet, skipped"; fi
	@# the docs site: a broken link, a missing anchor or a page left out of the nav fails it
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet -d $(CURDIR)/site
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -m "$(UNIT_TESTS)"

test: $(STAMP) browser postgres prometheus haproxy
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

serve: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/changeflow serve

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/rollback.py

bench-scale: $(STAMP) postgres
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/scale.py

bench-detect: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/detect.py

bench-faults: $(STAMP) postgres
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/faults.py

# A fleet of 3 Tritons behind haproxy under client load: rollback across replicas, restart convergence, canary share (#24)
bench-fleet: $(STAMP) haproxy
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/fleet.py

bench-drift: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/drift.py

# How many modules one live normal deployment runs, YAML to closed record (every process under coverage): #25 asks <= 30
bench-walk: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/walk.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
