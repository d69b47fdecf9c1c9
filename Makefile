# Two commands for a fresh machine: `make demo` and `make test`. Both create .venv and install the project.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# keep LSL on this machine (discovery on 127.0.0.1 only); a site sets its own file in production
export LSLAPICFG := $(CURDIR)/acquisition/lsl_api.cfg

.PHONY: demo test soak bench lint goldens clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/amuse-acq demo --data-dir data

test: $(STAMP)
	$(BIN)/python -m pytest -q

soak: $(STAMP)
	$(BIN)/python -m pytest -q -m soak

bench: $(STAMP)
	$(BIN)/python bench/record_throughput.py

# re-record the golden visits of tests/data/golden/ when a change of recorded data or events is intended
goldens: $(STAMP)
	$(BIN)/python -m tests.goldens.regenerate

lint: $(STAMP)
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info
