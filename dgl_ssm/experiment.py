"""Shared plumbing of the studies: seeding, devices, output folders, atomic result files.

The command line lives in the entry points only (:mod:`dgl_ssm.studies`,
configured through Hydra); nothing here parses arguments.
"""
from __future__ import annotations

import csv
import json
import os
import random
from pathlib import Path
from typing import Iterable, Mapping, Optional

import numpy as np
import torch

__all__ = ["seed_everything", "resolve_device", "check_output_folder", "write_csv", "write_json", "atomic_write"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA), so that CPU runs are reproducible."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


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


def atomic_write(path: os.PathLike, write_fn) -> Path:
    """Write ``path`` through ``write_fn(tmp_path)`` then rename: readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write_fn(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_json(path: os.PathLike, obj) -> Path:
    """Write JSON atomically (non-JSON values are written with ``str``)."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2, default=str)))


def write_csv(path: os.PathLike, rows: Iterable[Mapping], fieldnames: Optional[list] = None) -> Path:
    """Write a list of dicts as CSV atomically; columns are the union of keys in first-seen order."""
    rows = list(rows)
    if fieldnames is None:
        fieldnames = list(dict.fromkeys(k for row in rows for k in row))

    def write(tmp):
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fieldnames)
            writer.writeheader()
            writer.writerows(rows)

    return atomic_write(path, write)
