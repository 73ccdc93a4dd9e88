# Two commands do all the set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test snapshot emulate bench screenshots lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## The main job on the embedded emulated estate.
demo: $(STAMP)
	$(VENV)/bin/mdc-aws --demo

## The whole test suite (what .ci/run runs).
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile -p no:cacheprovider

snapshot: $(STAMP)
	$(VENV)/bin/mdc-aws snapshot --demo --format table

emulate: $(STAMP)
	$(VENV)/bin/mdc-aws emulate

bench: $(STAMP)
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
