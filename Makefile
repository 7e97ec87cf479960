# The two commands a new user needs are `make upgrade` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ALLURE := tools/allure/node_modules/.bin/allure
CHROMIUM := /usr/bin/chromium
SHELLCHECK := /usr/bin/shellcheck

.PHONY: venv allure chromium upgrade test lint lab-up lab-down bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# PyYAML 5.4.1 is built without build isolation against cython<3 because
# python-fuelclient 11.0.0 calls yaml.load() without a Loader (PyYAML 6 refuses).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip "setuptools<81" wheel "cython<3"
	$(BIN)/pip install --quiet --no-build-isolation "PyYAML==5.4.1"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

# Allure 2's command line (pinned in tools/allure/package-lock.json; runs on Java 17) for the
# single-file HTML report. npm sets old mtimes on what it unpacks: touch, or make reinstalls.
$(ALLURE): tools/allure/package.json tools/allure/package-lock.json
	cd tools/allure && npm ci --no-audit --no-fund
	touch $(ALLURE)

allure: $(ALLURE)

# Debian's packages the tests need (CI runs as root): headless Chromium renders the HTML reports
# (tests/report), shellcheck checks the CI job's script (tests/e2e/test_ci_job.py). One apt run.
$(CHROMIUM) $(SHELLCHECK) &:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core \
		fonts-liberation shellcheck

chromium: $(CHROMIUM)

# The upgrade's stages, in order, on the embedded lab in .lab/ (started or reused; another
# target with OCTANE_TARGET=path/to/target.yaml); then `octane report` builds reports/ (Allure
# HTML, compliance report, timeline), even when a stage failed; the stages' exit code is kept.
upgrade: $(STAMP) $(ALLURE)
	mkdir -p reports
	status=0; $(BIN)/python -m pytest runbook/stages -p no:cacheprovider --junitxml=reports/junit.xml \
		--alluredir=reports/allure-results --clean-alluredir || status=$$?; \
	$(BIN)/octane --reports reports report || [ $$status -ne 0 ] || status=1; \
	exit $$status

# Two workers, each with its own lab on its own address block (tests/conftest.py); sabotage
# tests in two groups so each worker builds its stage checkpoints once (tests/sabotage/conftest.py).
test: $(STAMP) $(ALLURE) $(CHROMIUM) $(SHELLCHECK)
	$(BIN)/python -m pytest -n 2 --dist loadgroup tests

lint: $(STAMP)
	$(BIN)/ruff check fuellab runbook tests benchmarks

lab-up: $(STAMP)
	$(BIN)/fuellab up --detach

lab-down: $(STAMP)
	$(BIN)/fuellab down

bench: $(STAMP)
	$(BIN)/python benchmarks/lab_start.py

clean:
	rm -rf $(VENV) .lab reports
