# convkernels — one entry point for a fresh machine.
#
#   make bench                  the main job: benchmark report (no GPU: says so, runs what it can)
#   make test                   build the extension and run the test suite
#   make check-kernels          nvcc + ptxas report for every kernel; fails on any spill
#   make lint                   ruff over the Python code
#   make test-cpu-torch         install with a CPU-only torch (no extension) and test that
#   make test-other-torch       build against a second CUDA torch (2.14.1) and import it
#   make docs                   the documentation site with the API reference (warnings fail)
#   make gpu-check OUT=dir      the whole GPU check in one 10-minute command (needs a GPU)
#   make gpu-report OUT=dir     the whole GPU pass (build, CUDA tests, sanitizer, benchmarks)
#
# Python: the one that already has torch if there is one (the GPU machine has no network),
# else .venv, created on first use with the pinned torch from the package registry.

TORCH_VERSION ?= 2.15.0
# CUTLASS headers for the Hopper conv (csrc/kernels/conv/sm90); setup.py finds them through
# `import cutlass_library` and builds without that kernel when they are missing.
CUTLASS_VERSION ?= 4.2.0.0
VENV ?= .venv
PYTHON ?= $(shell if [ -x $(VENV)/bin/python ]; then echo $(VENV)/bin/python; \
	elif python3 -c 'import torch' >/dev/null 2>&1; then echo python3; \
	else echo $(VENV)/bin/python; fi)
PYTEST_ARGS ?=
# The benchmark package's own tests that need no GPU (layer shapes, report maths, rendering).
BENCH_CPU_TESTS := bench/test_shapes.py bench/test_report.py bench/test_runner_cpu.py \
	bench/test_roofline.py bench/test_opbench_cpu.py bench/test_gpu_check_target.py \
	bench/test_overhead_cpu.py
BUILD_STAMP := build/.extension-stamp
SOURCES := setup.py $(shell find csrc -name '*.cu' -o -name '*.cuh' -o -name '*.cpp' -o -name '*.h' 2>/dev/null)

.PHONY: all lint test test-cpu-torch test-other-torch bench install check-kernels venv clean help
all: test

help:
	@sed -n '2,16p' Makefile

# PIP_CONSTRAINT: some machines cap torch below the pinned release in a site-wide pip
# constraints file; the venv asks for exactly TORCH_VERSION, so that cap must not apply.
$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --upgrade pip
	PIP_CONSTRAINT=/dev/null $(VENV)/bin/python -m pip install "torch==$(TORCH_VERSION)" torchvision timm \
		triton numpy ninja pytest pytest-benchmark pytest-xdist pytest-timeout hypothesis \
		expecttest matplotlib ruff scikit-learn mkdocs "mkdocstrings[python]"
	# --no-deps: only its headers are used; its dependencies serve CUTLASS's Python tools.
	$(VENV)/bin/python -m pip install --no-deps "nvidia-cutlass==$(CUTLASS_VERSION)"

# Only a Python we create is a make target; an existing one (with torch) is used as it is.
ifeq ($(PYTHON),$(VENV)/bin/python)
PYDEP := $(VENV)/bin/python
endif
venv: $(PYDEP)

# Editable install: builds convkernels._C when torch has CUDA and nvcc is found.
$(BUILD_STAMP): $(SOURCES) | $(PYDEP)
	@mkdir -p build; : > build/pip-install.log; echo "building (full log: build/pip-install.log)"; \
	$(PYTHON) -m pip install -v --no-build-isolation --no-deps -e . > build/pip-install.log 2>&1 & \
	pid=$$!; tail -n +1 -f build/pip-install.log --pid=$$pid | sed -unE \
	  -e 's/^ *(\[[0-9]+\/[0-9]+ files, [0-9.]+ s\]).* -c (-c )?[^ ]*\/(csrc\/[^ ]+) .*/\1 \3/p' \
	  -e 's/^ *(convkernels setup: .*)/\1/p'; \
	wait $$pid || { tail -40 build/pip-install.log; exit 1; }
	@mkdir -p build && touch $@

install: $(BUILD_STAMP)

check-kernels: | $(PYDEP)
	$(PYTHON) tools/check_kernels.py --host-tests

lint: | $(PYDEP)
	$(PYTHON) -m ruff check .

test: install
	$(PYTHON) -m pytest tests/ $(BENCH_CPU_TESTS) $(PYTEST_ARGS)

# The pure-Python install: with a CPU-only torch (no CUDA, no triton) the package must install
# without the extension and pass its tests on the torch backend. Run from build/ so the
# installed package, not the source tree, is what gets imported.
CPU_TORCH_VERSION ?= 2.13.0
CPU_VENV := build/cpu-torch-venv
test-cpu-torch:
	rm -rf $(CPU_VENV) && python3 -m venv $(CPU_VENV)
	$(CPU_VENV)/bin/python -m pip install -q "torch==$(CPU_TORCH_VERSION)" numpy pytest \
		hypothesis expecttest
	$(CPU_VENV)/bin/python -m pip install -q --no-build-isolation --no-deps .
	cd build && ../$(CPU_VENV)/bin/python -m pytest -q -p no:cacheprovider ../tests

# A second CUDA build of torch (older than the pinned one, like the GPU machine's 2.11): build
# the extension against it (one arch, to keep CI short), import it from the installed copy, and
# run the C++ runtime self-test. An import that crashes on some torch must fail here first.
OTHER_TORCH_VERSION ?= 2.14.1
OTHER_VENV := build/torch-$(OTHER_TORCH_VERSION)-venv
test-other-torch:
	rm -rf $(OTHER_VENV) && python3 -m venv $(OTHER_VENV)
	$(OTHER_VENV)/bin/python -m pip install -q "torch==$(OTHER_TORCH_VERSION)" numpy ninja \
		setuptools wheel
	TORCH_CUDA_ARCH_LIST=9.0 $(OTHER_VENV)/bin/python -m pip install -q --no-build-isolation \
		--no-deps .
	cd build && ../$(OTHER_VENV)/bin/python -c "import convkernels, torch; \
		ok, why = convkernels._extension.load(); assert ok, why; \
		print('convkernels imports on torch', torch.__version__, 'with', \
		convkernels._extension.build_info())"
	cd build && ../$(OTHER_VENV)/bin/python ../tools/check_extension_runtime.py

clean:
	rm -rf build *.egg-info convkernels/_C*.so convkernels/_C.build.json bench/out

-include bench/Makefile.inc

# ---- documentation ----------------------------------------------------------------------------

.PHONY: docs which-python

# The site (docs/*.md + the API reference mkdocstrings generates from the docstrings) into
# build/site; --strict turns every warning (a broken link, an unresolved reference) into an error.
docs: | $(PYDEP)
	$(PYTHON) -m mkdocs build --strict --clean

# The interpreter every command in the README means (.venv/bin/python, or a python3 with torch).
which-python:
	@echo $(PYTHON)
