"""Shared plumbing of the studies: seeding, devices, output folders, atomic result files.

The command line lives in the entry points only (:mod:`dgl_ssm.studies`,
configured through Hydra); nothing here parses arguments.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from ._io import atomic_write, write_csv, write_json  # noqa: F401  (re-exported)

__all__ = ["seed_everything", "resolve_device", "check_output_folder", "write_csv", "write_json", "atomic_write"]


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy, torch (CPU and CUDA) and DGL, so that CPU runs are reproducible.

    Examples
    --------
    >>> import torch
    >>> seed_everything(3); a = torch.rand(2)
    >>> seed_everything(3); bool((a == torch.rand(2)).all())
    True
    """
    import dgl

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    dgl.seed(seed)


def resolve_device(name: str) -> torch.device:
    """``torch.device(name)``, with a clear error when CUDA is asked for but unusable.

    Raises
    ------
    RuntimeError
        If ``name`` is a CUDA device and torch or DGL has no CUDA support.
    """
    device = torch.device(name)
    if device.type == "cuda":
        import dgl

        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda: torch sees no CUDA device; use --device cpu")
        try:
            dgl.graph(([0], [0])).to(device)
        except Exception as err:  # DGL's CPU wheels raise a DGLError here
            raise RuntimeError(f"--device cuda: the installed DGL has no CUDA support ({err}); install a CUDA build of DGL") from err
    return device


def check_output_folder(out: os.PathLike, flag: str = "out") -> Path:
    """``out`` as a ``Path`` if it can be used as an output folder (checked before anything is written).

    Raises
    ------
    ValueError
        If ``out`` is a file, or its nearest existing folder is not writable; the message names ``flag``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{flag} {out} is a file; give a folder")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{flag} {out}: {parent} is not writable; give a writable folder")
    return out
