"""`python -m dgl_ssm` reports the environment; every entry point answers --version (issue 44)."""
import sys

import pytest

import dgl_ssm


def test_the_environment_report_names_versions_cuda_threads_and_data(capsys, monkeypatch):
    from dgl_ssm.__main__ import main

    monkeypatch.setenv("DGL_SSM_DATA", "/some/offline/copies")
    main([])
    out = capsys.readouterr().out
    for line in (f"dgl_ssm: {dgl_ssm.__version__}", "torch: ", "dgl: ", "torchdata: ", "numpy: ", "python: ",
                 "torch/DGL pair: works together", "CUDA in torch: ", "CUDA in DGL: ", "threads: torch ",
                 "offline raw data (DGL_SSM_DATA): /some/offline/copies", "data root (caches, DGL_SSM_ROOT): "):
        assert line in out, line


@pytest.mark.parametrize("module", ["dgl_ssm.__main__", "dgl_ssm.studies.__main__", "dgl_ssm.studies.diagnostics"])
def test_every_entry_point_prints_its_version(module, capsys, monkeypatch):
    import importlib

    monkeypatch.setattr(sys, "argv", ["prog", "--version"])
    entry = importlib.import_module(module)
    entry.main() if module != "dgl_ssm.__main__" else entry.main(["--version"])
    assert capsys.readouterr().out.strip() == dgl_ssm.__version__


def _without(modules, code: str):
    """Run ``code`` in a fresh interpreter where ``modules`` cannot be imported (an environment without an extra)."""
    import subprocess

    hide = "; ".join(f"sys.modules[{m!r}] = None" for m in modules)
    return subprocess.run([sys.executable, "-c", f"import sys; {hide}\n{code}"], capture_output=True, text=True,
                          timeout=300)


def test_the_lean_core_imports_without_the_lrgb_extra_and_names_it_when_needed():
    """Without ogb and rdkit, `import dgl_ssm.nn` adds nothing to what `import dgl` imports but the core (numba
    compiles the k-hop kernel), every library package imports, and Peptides is one line naming the extra."""
    run = _without(["ogb", "rdkit"], """
import dgl
base = set(sys.modules)
import dgl_ssm.nn
print(sorted({m.split('.')[0] for m in set(sys.modules) - base}))
import dgl_ssm.data, dgl_ssm.models, dgl_ssm.train, dgl_ssm.analysis, dgl_ssm.transforms
try:
    dgl_ssm.data.PeptidesDataset("peptides-func", "train")
except ImportError as err:
    print(err)
""")
    assert run.returncode == 0, run.stderr[-2000:]
    added, line = run.stdout.strip().splitlines()
    assert set(eval(added)) <= {"dgl_ssm", "numba", "llvmlite", "timeit"}, added
    assert line == 'Peptides (LRGB) needs ogb and rdkit: pip install "dgl_ssm[lrgb]"'


@pytest.mark.parametrize("entry", ["study", "diagnostics"])
def test_an_entry_point_without_the_studies_extra_is_one_line(entry):
    run = _without(["hydra", "omegaconf"], f"from dgl_ssm.entry_points import {entry}; {entry}()")
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stderr[-2000:]
    assert lines[0].startswith("error: the study engine needs ") and 'pip install "dgl_ssm[studies]"' in lines[0]
