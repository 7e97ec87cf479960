# The two commands a new user needs are `make upgrade` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv upgrade test lint lab-up lab-down bench clean

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

# The upgrade's stages, in order, on the embedded lab in .lab/ (started or reused; another
# target with OCTANE_TARGET=path/to/target.yaml); JUnit XML and Allure results in reports/.
upgrade: $(STAMP)
	mkdir -p reports
	$(BIN)/python -m pytest runbook/stages -p no:cacheprovider --junitxml=reports/junit.xml \
		--alluredir=reports/allure-results --clean-alluredir

# Two workers, each with its own lab on its own address block (tests/conftest.py); sabotage
# tests in two groups so each worker builds its stage checkpoints once (tests/sabotage/conftest.py).
test: $(STAMP)
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
