"""Every Examples section of the package runs and prints what it shows."""
import doctest
import importlib
import pkgutil

import pytest

import dgl_ssm

MODULES = sorted(m.name for m in pkgutil.walk_packages(dgl_ssm.__path__, "dgl_ssm."))


@pytest.mark.filterwarnings("ignore:Exited")  # LOBPCG on a 6 x 6 Jacobian asks for more than float32 gives
@pytest.mark.parametrize("name", MODULES)
def test_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_public_modules_have_examples():
    """The modules users call directly document themselves with runnable examples."""
    for name in ("dgl_ssm.nn.ssm", "dgl_ssm.nn.khop", "dgl_ssm.transforms.khop", "dgl_ssm.models.deep_gnn",
                 "dgl_ssm.analysis.energy", "dgl_ssm.analysis.jacobian", "dgl_ssm.analysis.probe", "dgl_ssm.data.node",
                 "dgl_ssm.analysis.resistance", "dgl_ssm.analysis.expansion"):
        assert doctest.DocTestFinder().find(importlib.import_module(name)), name
        assert sum(len(t.examples) for t in doctest.DocTestFinder().find(importlib.import_module(name))) > 0, name
