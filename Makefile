# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Debian packages the tests use when running as root (kernel-mode proxy),
# and those the benchmarks add (load generator and the nginx peer).
TEST_DEBS  := nftables
BENCH_DEBS := nftables wrk nginx-light libnginx-mod-stream

.PHONY: setup demo test unit e2e bench lint clean

setup: $(STAMP)

define install_debs
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then echo "installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	fi
endef

$(STAMP): pyproject.toml
	$(call install_debs,$(TEST_DEBS))
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,mesh]'
	@touch $(STAMP)

demo: setup
	$(VENV)/bin/kubelite demo

test: setup
	$(PY) -m pytest -q tests

unit: setup
	$(PY) -m pytest -q tests/unit

e2e: setup
	$(PY) -m pytest -q tests/e2e

bench: setup
	$(call install_debs,$(BENCH_DEBS))
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(PY) -m mypy src/kubelite

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
