# Two commands do all the set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# az + aws CLIs, in their own venv (azure-cli pins its own azure-* SDKs); the tests find them via MDC_AWS_CLI_VENV.
CLIS_VENV  ?= .venv-clis
CLIS_STAMP := $(CLIS_VENV)/.installed-stamp

.PHONY: demo test clis snapshot emulate bench screenshots lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

$(CLIS_STAMP): tests/clis-requirements.txt
	$(PYTHON) -m venv $(CLIS_VENV)
	$(CLIS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/clis-requirements.txt
	touch $(CLIS_STAMP)

## Microsoft's az CLI and the AWS CLI, for tests/test_az_cli.py (about 1.5 min the first time).
clis: $(CLIS_STAMP)

## The main job on the embedded emulated estate.
demo: $(STAMP)
	$(VENV)/bin/mdc-aws --demo

## The whole test suite (what .ci/run runs).
test: $(STAMP) $(CLIS_STAMP)
	MDC_AWS_CLI_VENV=$(abspath $(CLIS_VENV)) $(PY) -m pytest -q -n 2 --dist loadfile -p no:cacheprovider

snapshot: $(STAMP)
	$(VENV)/bin/mdc-aws snapshot --demo --format table

emulate: $(STAMP)
	$(VENV)/bin/mdc-aws emulate

bench: $(STAMP)
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) $(CLIS_VENV) .pytest_cache .hypothesis

## SVG + PNG of every screen on the demo estate into screenshots/ (PNGs need rsvg-convert: Debian librsvg2-bin).
screenshots: $(STAMP)
	@command -v rsvg-convert >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    s=$$([ "$$(id -u)" = 0 ] || echo sudo -n); \
	    echo "installing librsvg2-bin (rsvg-convert) for the PNGs ..."; \
	    $$s apt-get install -y -qq librsvg2-bin >/dev/null 2>&1 || \
	      { $$s apt-get update -qq >/dev/null 2>&1 && $$s apt-get install -y -qq librsvg2-bin >/dev/null 2>&1; } || \
	      echo "could not install librsvg2-bin: keeping the SVGs only"; \
	  else \
	    echo "rsvg-convert not found and no apt-get here: keeping the SVGs only (install librsvg2-bin / librsvg)"; \
	  fi; }
	$(PY) scripts/screenshots.py
	$(PY) scripts/wizard_screenshots.py
