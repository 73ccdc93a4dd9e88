# Two commands do all the set-up on a fresh clone: `make demo` and `make test`.
# Both install the exact versions of requirements.lock, every file checked against its sha256 (pip --require-hashes),
# then the project itself without dependencies; `make lock` renews the locks (see below).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PIP    := --quiet --disable-pip-version-check
LOCK   := requirements.lock
# az + aws CLIs, in their own venv (azure-cli pins its own azure-* SDKs); the tests find them via MDC_AWS_CLI_VENV.
CLIS_VENV  ?= .venv-clis
CLIS_STAMP := $(CLIS_VENV)/.installed-stamp
CLIS_LOCK  := tests/clis-requirements.lock
# pip-tools, for `make lock` only: installed into a throwaway venv, never into the project's.
PIP_TOOLS ?= pip-tools>=7.4,<8
# Chromium + its chromedriver (Debian packages), for tests/test_browser.py and screenshots/browser.png (`make browser`).
BROWSER_PACKAGES := chromium chromium-driver
MDC_AWS_BROWSER  ?= $(or $(shell command -v chromium 2>/dev/null),/usr/bin/chromium)

.PHONY: demo test clis lock snapshot emulate bench screenshots lint clean browser aws-models

# hatchling (the build backend) is in the lock too, so the editable install needs nothing unchecked from the index;
# `pip check` fails the install when the lock no longer satisfies pyproject.toml (edited without `make lock`).
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP) --require-hashes -r $(LOCK)
	$(PY) -m pip install $(PIP) --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $(STAMP)

$(CLIS_STAMP): tests/clis-requirements.txt $(CLIS_LOCK)
	$(PYTHON) -m venv $(CLIS_VENV)
	$(CLIS_VENV)/bin/python -m pip install $(PIP) --require-hashes -r $(CLIS_LOCK)
	touch $(CLIS_STAMP)

## Renew requirements.lock (pyproject.toml's dependencies + the dev and demo extras + the build backend) and
## tests/clis-requirements.lock (tests/clis-requirements.txt): the newest versions inside the ranges, with the sha256
## of every file PyPI has for each. Run on Python 3.11 (CI's: environment markers are resolved for the running
## Python), then `make test`, and commit the locks with the change that needed them. pip-tools runs from a throwaway
## venv; the machine's pip configuration (mirrors, find-links) is ignored so that only PyPI is asked.
lock:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "make lock: run it on Python 3.11 (PYTHON=python3.11)")'
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  export PIP_CONFIG_FILE=/dev/null CUSTOM_COMPILE_COMMAND="make lock"; unset PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL; \
	  $(PYTHON) -m venv "$$tmp/venv"; \
	  "$$tmp/venv/bin/python" -m pip install $(PIP) '$(PIP_TOOLS)'; \
	  compile="$$tmp/venv/bin/pip-compile --quiet --upgrade --generate-hashes --allow-unsafe --strip-extras \
	    --no-emit-index-url --no-emit-find-links"; \
	  $$compile --extra dev --all-build-deps --output-file $(LOCK) pyproject.toml; \
	  $$compile --output-file $(CLIS_LOCK) tests/clis-requirements.txt

## Microsoft's az CLI and the AWS CLI, for tests/test_az_cli.py (about 1.5 min the first time).
clis: $(CLIS_STAMP)

## Chromium and chromedriver for the browser test (`mdc-aws serve` in headless Chromium) and its screenshot: installed
## with apt-get when missing (as root, else through sudo -n); no browser is ever downloaded by selenium.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "make browser: install Chromium and its chromedriver ($(BROWSER_PACKAGES) on Debian/Ubuntu), then retry" >&2; \
	  exit 1; fi; \
	if [ "$$(id -u)" = 0 ]; then s=; elif sudo -n true 2>/dev/null; then s="sudo -n"; else \
	  echo "make browser: Chromium is missing and this needs root: run \`sudo apt-get install -y --no-install-recommends $(BROWSER_PACKAGES)\`, then retry" >&2; \
	  exit 1; fi; \
	echo "installing $(BROWSER_PACKAGES) ..."; \
	$$s apt-get update -qq && $$s env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES) >/dev/null || { \
	  echo "make browser: apt-get could not install $(BROWSER_PACKAGES): install them, then retry" >&2; exit 1; }

## The main job on the embedded emulated estate.
demo: $(STAMP)
	$(VENV)/bin/mdc-aws --demo

## ruff, mypy and the import-linter contracts (all three configured in pyproject.toml). All three run; any failure
## fails the target. .ci/run runs it before the tests.
lint: $(STAMP)
	@rc=0; \
	echo "ruff check"; $(VENV)/bin/ruff check --no-cache --output-format concise . || rc=1; \
	echo "mypy"; $(VENV)/bin/mypy || rc=1; \
	echo "lint-imports"; $(VENV)/bin/lint-imports --no-cache || rc=1; \
	exit $$rc

## The whole test suite (what .ci/run runs).
test: $(STAMP) $(CLIS_STAMP) browser
	MDC_AWS_CLI_VENV=$(abspath $(CLIS_VENV)) MDC_AWS_BROWSER=$(MDC_AWS_BROWSER) \
	  $(PY) -m pytest -q -n 2 --dist loadfile -p no:cacheprovider

snapshot: $(STAMP)
	$(VENV)/bin/mdc-aws snapshot --demo --format table

emulate: $(STAMP)
	$(VENV)/bin/mdc-aws emulate

# the collection's cut of botocore's models (tui/core/awsmodels.py), after a botocore upgrade
aws-models: $(STAMP)
	$(PY) -m tui.core.awsmodels --write

bench: $(STAMP)
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) $(CLIS_VENV) .pytest_cache .hypothesis

## SVG + PNG of every screen on the demo estate into screenshots/ (PNGs need rsvg-convert: Debian librsvg2-bin),
## and screenshots/browser.png: `mdc-aws serve --demo` in headless Chromium.
screenshots: $(STAMP) browser
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
	MDC_AWS_BROWSER=$(MDC_AWS_BROWSER) $(PY) scripts/browser_screenshot.py
