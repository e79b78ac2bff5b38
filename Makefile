# Two commands on a fresh machine (see README.md):
#   make run    build .venv if needed, then run the main job (the reduced depth study on Cora, into runs/depth_quick;
#               rerunning resumes it; the committed record is results/depth_quick)
#   make test   build .venv if needed, then run the test suite
PYTHON ?= python3
VENV   ?= .venv
# Data: raw offline copies from ../shared/data beside the checkout (when present), caches in the checkout's data/;
# never the user-wide ~/.dgl_ssm (dgl_ssm/data/paths.py). Both can be overridden from the environment.
SHARED_DATA := $(abspath $(CURDIR)/../shared/data)
export DGL_SSM_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)
export DGL_SSM_ROOT ?= $(CURDIR)/data
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test test-fast bench docs clean mkl-intel-path carry

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,studies,lrgb]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m dgl_ssm.studies study=depth_quick out=runs/depth_quick

# two test processes (CI has 2 cores; each test runs one thread); --dist loadfile keeps a file's tests, and the
# fixtures they share (a built wheel, a trained record), in one process
XDIST  := -n 2 --dist loadfile

test: $(STAMP)
	$(PY) -m pytest -q $(XDIST)

test-fast: $(STAMP)
	$(PY) -m pytest -q $(XDIST) -m "not slow"

# PyTorch Geometric is a benchmark-only peer (not a runtime dependency): installed on demand beside, not into, .venv
PYG_DIR := .bench-deps
bench: $(STAMP)
	[ -d $(PYG_DIR)/torch_geometric ] || $(PY) -m pip install --quiet --no-deps --target $(PYG_DIR) torch_geometric==2.5.3
	PYG_PATH=$(PYG_DIR) $(PY) benchmarks/run_all.py

# the documentation site (docs/, Sphinx + MyST; API reference from the docstrings), warnings are errors
docs: $(STAMP)
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs/_build/html/index.html"

# on an AMD CPU, MKL's Intel code path for the pinned torch (tools/mkl_intel_path.c, docs/rough_edges.md); use it with
# LD_PRELOAD=$(CURDIR)/$(VENV)/lib/libmkl_intel_path.so
mkl-intel-path: $(VENV)/lib/libmkl_intel_path.so

$(VENV)/lib/libmkl_intel_path.so: tools/mkl_intel_path.c $(STAMP)
	$(CC) -shared -fPIC -O2 -o $@ $<

# a study's record and its running cells' checkpoints, from the worktree the workers ran in, staged (tools/carry_study.sh);
# RECORDED=1: only the recorded cells, while the others still run there
carry:
	@test -n "$(RUN)" || { echo "error: make carry needs RUN=<the worktree the workers ran in>, e.g. make carry RUN=../lrgb-run" >&2; exit 2; }
	@case "$(RECORDED)" in ""|0|1) ;; *) echo "error: RECORDED=$(RECORDED): give RECORDED=1 (only the recorded cells) or leave it out" >&2; exit 2;; esac
	tools/carry_study.sh $(if $(filter 1,$(RECORDED)),--recorded) "$(RUN)" $(or $(STUDY),lrgb_seed)

clean:
	rm -rf $(VENV) runs .pytest_cache docs/_build
