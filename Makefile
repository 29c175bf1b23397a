# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench bench-scale bench-detect bench-faults bench-drift serve browser postgres prometheus clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
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

test: $(STAMP) browser postgres prometheus
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

bench-drift: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/drift.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
