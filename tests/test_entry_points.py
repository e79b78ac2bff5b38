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
