"""The Examples sections of dgl_ssm.analysis run and print what they show."""
import doctest
import importlib

import pytest

MODULES = ["energy", "jacobian", "spectral", "sensitivity", "gradients", "probe"]


@pytest.mark.filterwarnings("ignore:Exited")  # LOBPCG on a 6 x 6 Jacobian asks for more than float32 gives
@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    module = importlib.import_module(f"dgl_ssm.analysis.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
