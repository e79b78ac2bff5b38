"""Shared test set-up and helpers: fast OpenMP configuration, seeds, data-availability skips, Hydra composition."""
import os

from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch/DGL load their OpenMP runtimes
# as `make test` (and so CI) sets them: offline raw data beside the checkout, caches in the checkout's data/ (or a
# test's tmp_path), never the user-wide ~/.dgl_ssm
_ROOT = Path(__file__).resolve().parents[1]
if (_ROOT.parent / "shared" / "data").is_dir():
    os.environ.setdefault("DGL_SSM_DATA", str(_ROOT.parent / "shared" / "data"))
os.environ.setdefault("DGL_SSM_ROOT", str(_ROOT / "data"))

import pytest
import torch

import dgl_ssm
from dgl_ssm.data.paths import raw_source

dgl_ssm.configure_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def raw_data():
    """The offline raw-data directory; returns a function that skips when a file is absent."""

    def need(*relpaths):
        source = raw_source()
        if source is None:
            pytest.skip("no offline data: set DGL_SSM_DATA (e.g. ../shared/data)")
        for rel in relpaths:
            if not (source / rel).is_file():
                pytest.skip(f"offline data file {source / rel} is missing")
        return source

    return need


@pytest.fixture
def compose_config():
    """``compose_config(name, *overrides)``: the composed Hydra configuration ``dgl_ssm/conf/<name>.yaml`` (no run)."""
    from hydra import compose, initialize_config_module

    def make(name: str, *overrides):
        with initialize_config_module("dgl_ssm.conf", version_base="1.3"):
            return compose(name, overrides=list(overrides))

    return make
