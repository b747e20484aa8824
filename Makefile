# Two commands do all the set-up on a fresh machine (Python ≥ 3.11 with venv):
#   make report   create .venv, install gmmtheory, run the main job (writes out/report/report.md + figures)
#   make test     create .venv, install gmmtheory with its test and bridge extras, check the house rules (ruff,
#                 lint-imports: the floors in pyproject.toml), run the test suite
# torch (for the bridge extra) is installed first, on its own, from TORCH and TORCH_INDEX:
#   TORCH        the requirement; the default pin is the CPU build this machine's package index serves.
#   TORCH_INDEX  empty: TORCH comes from pip's configured index. On PyPI plain `torch` is, on Linux, the multi-GB
#                CUDA build, so to get the CPU build elsewhere set TORCH_INDEX to PyTorch's CPU wheel index (its URL
#                is in PyTorch's installation instructions); it is passed to pip as --index-url for torch alone.
#   CPU build:   make test TORCH=torch TORCH_INDEX=<PyTorch's CPU wheel index URL>
#   CUDA build:  make test TORCH=torch            (or TORCH_INDEX=<PyTorch's wheel index for your CUDA version>)
# The install runs once per .venv (stamp file): `make clean` before switching builds.
PYTHON      ?= python3
TORCH       ?= torch==2.13.0
TORCH_INDEX ?=
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: report test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(if $(TORCH_INDEX),--index-url '$(TORCH_INDEX)') '$(TORCH)'
	$(BIN)/pip install --quiet -e '.[test,bridge]'
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/gmmtheory report --out out/report

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
