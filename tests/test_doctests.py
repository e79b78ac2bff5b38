"""Every Examples section of the package runs and prints what it shows."""
import doctest
import importlib
import inspect
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


PACKAGES = ("dgl_ssm", "dgl_ssm.nn", "dgl_ssm.models", "dgl_ssm.transforms", "dgl_ssm.analysis", "dgl_ssm.data",
            "dgl_ssm.train", "dgl_ssm.studies")


def test_every_public_function_and_class_has_a_runnable_example():
    """The brief's docstring standard (an Examples block that runs) for every function and class a package exports
    in its ``__all__`` (exceptions aside: their messages are tested where they are raised). The examples themselves
    run in ``test_examples``, in the module that defines them."""
    finder = doctest.DocTestFinder(recurse=False)
    without = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue  # registries, constants
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                continue
            tests = finder.find(obj, name, module=inspect.getmodule(obj), globs={})
            if not any(test.examples for test in tests):
                without.append(f"{package}.{name}")
    assert not without, f"no runnable Examples in the docstring of: {', '.join(without)}"
