# The two commands of the README: `make demo` (run the local demo) and `make test` (lint and the
# full suite on one cell of the matrix: Django 5.2, Python 3.11, the database of DATABASE_URL or
# SQLite). `nox` runs the whole matrix (noxfile.py); .ci/run runs `make test`, then the other cells.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
WORKFLOWS := .github/workflows
comma := ,

.PHONY: demo test test-deps lint install clean bench

# The dev extra builds mysqlclient against MariaDB's client library: Debian's packages first.
$(STAMP): pyproject.toml | test-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The demo needs neither Chromium nor a database client library: the demo extra only.
$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $(DEMO_STAMP)

install: $(STAMP)

# STORAGE=gcs or STORAGE=azure: the same demo on fake-gcs-server + the Pub/Sub emulator, or on
# Azurite (their client libraries come with the gcs/azure extra; the emulators with scripts/emulators).
demo: $(DEMO_STAMP)
	$(if $(filter gcs azure,$(STORAGE)),$(BIN)/python -m pip install --quiet -e '.[demo$(comma)$(STORAGE)]')
	$(if $(filter gcs azure,$(STORAGE)),scripts/emulators)
	$(BIN)/python manage.py demo $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT)) $(if $(STORAGE),--storage $(STORAGE))

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint lambda/asyncimg_processor/sam/template.yaml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)/*.yml
	$(BIN)/zizmor --offline $(WORKFLOWS)/

# Debian's packages the tests and the dev extra need (MariaDB's client library, pkg-config,
# Chromium, Redis), installed when missing; Redis started when it does not answer.
test-deps:
	scripts/test-deps

# The JavaScript client's checks and vitest suite first: tests/test_js_client.py uses its build.
test: lint test-deps
	scripts/js-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The peers the benchmarks compare with come from the bench's own requirements, not the product's.
# bench/processing.py's pyvips peer needs Debian's libvips42: installed when missing (with sudo
# unless root, as scripts/test-deps does).
bench: $(STAMP)
	dpkg -s libvips42 >/dev/null 2>&1 || { if [ "$$(id -u)" -eq 0 ]; then s=; else s="sudo -n"; fi; \
		$$s apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$s apt-get install -y -qq libvips42 >/dev/null; }
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	$(BIN)/python -m pip install --quiet -r bench/requirements-push.txt
	$(BIN)/python bench/presign.py
	$(BIN)/python bench/lifecycle.py
	$(BIN)/python bench/push_latency.py
	$(BIN)/python bench/processing.py
	$(BIN)/python bench/e2e.py
	$(BIN)/python bench/subscriptions.py
	$(BIN)/python bench/compare.py

clean:
	rm -rf $(VENV) .nox .pytest_cache .mypy_cache .ruff_cache var
