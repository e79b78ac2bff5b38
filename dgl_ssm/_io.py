"""Atomic file writes and small CSV / JSON helpers.

The one module of plumbing that every layer may use: it imports nothing of
``dgl_ssm`` (only the standard library), so ``nn/``, ``transforms/``,
``data/`` and ``models/`` depend on it without depending on the experiment
code above them.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Iterable, Mapping, Optional

__all__ = ["atomic_write", "write_json", "write_csv"]


def atomic_write(path: os.PathLike, write_fn) -> Path:
    """Write ``path`` through ``write_fn(tmp_path)``, then ``os.replace``: readers never see a partial file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a" / "x.txt"
    >>> atomic_write(p, lambda tmp: pathlib.Path(tmp).write_text("ok")).read_text()
    'ok'
    """
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
