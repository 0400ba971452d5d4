# Quick start: `make demo` and `make test` work on a fresh clone (they create .venv).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Extras installed into the development environment.  torch is pinned exactly in
# pyproject.toml (this machine installs its CPU build from a local file).
EXTRAS ?= test,plot,torch
SOURCES := $(wildcard fastbatch/*.pyx fastbatch/*.pxd) setup.py pyproject.toml

.PHONY: demo test test-fast bench build clean sdist-check

$(VENV)/.deps: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet "setuptools>=77" "Cython>=3.1" "numpy>=2" wheel
	$(PIP) install --quiet --no-build-isolation -e ".[$(EXTRAS)]"
	touch $@

# Rebuild the extensions in place whenever a Cython source changes.
$(VENV)/.built: $(VENV)/.deps $(SOURCES)
	$(PY) setup.py --quiet build_ext --inplace -j 2
	touch $@

build: $(VENV)/.built

demo: build
	$(VENV)/bin/fastbatch demo

test: build
	$(PY) -m pytest -q tests

bench: build
	$(VENV)/bin/fastbatch bench

clean:
	rm -rf build dist *.egg-info fastbatch/*.c fastbatch/*.so fastbatch/*.html .pytest_cache .benchmarks
