# Two commands do all the set-up on a fresh machine (Python ≥ 3.11 with venv):
#   make report   create .venv, install gmmtheory, run the main job (writes out/report/report.md + figures)
#   make test     create .venv, install gmmtheory with its test and bridge extras, run the test suite
# TORCH pins the CPU build of torch that this machine keeps on disk (plain `torch` would pull a multi-GB CUDA
# build); override it elsewhere, e.g. `make test TORCH=torch`.
PYTHON ?= python3
TORCH  ?= torch==2.13.0
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: report test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet '$(TORCH)'
	$(BIN)/pip install --quiet -e '.[test,bridge]'
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/gmmtheory report --out out/report

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
