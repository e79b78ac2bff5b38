"""Shared plumbing: seeding, devices, output folders, atomic result files, and the diagnostics recipes' flags.

The studies (:mod:`dgl_ssm.studies`) take their configuration from Hydra; the
two diagnostics entry points in ``recipes/`` still start with::

    parser = experiment.parser("what this recipe does")
    ...recipe-specific flags...
    args = parser.parse_args()
    run = experiment.start(args, "oversmoothing")   # checks, threads, seed, run folder, device

(``parser`` moves out of the library when they move to configuration).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Optional

import numpy as np
import torch

from .runtime import configure_threads

__all__ = ["parser", "start", "Run", "seed_everything", "resolve_device", "write_csv", "write_json", "atomic_write", "ResultTable"]


def parser(description: str) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the flags every recipe shares.

    ``--device``, ``--seed``, ``--data-dir`` (offline raw copies),
    ``--data-root`` (cache), ``--out`` (run folder), ``--threads``
    (OpenMP threads per runtime; default 1, the fast setting on small machines),
    ``--quick`` (a small grid that finishes in minutes on 2 cores).
    """
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (needs a CUDA build of DGL)")
    p.add_argument("--seed", type=int, default=0, help="base random seed")
    p.add_argument("--data-dir", default=None, help="offline raw data (default: $DGL_SSM_DATA or ../shared/data)")
    p.add_argument("--data-root", default=None, help="data root / cache (default: $DGL_SSM_ROOT or ./data)")
    p.add_argument("--out", default=None, help="run folder (default: runs/<recipe>-<timestamp>)")
    p.add_argument("--threads", type=int, default=1, help="OpenMP threads per runtime (torch and DGL)")
    p.add_argument("--quick", action="store_true", help="small grid for a smoke run (minutes on 2 CPU cores)")
    p.add_argument("--no-progress", action="store_true", help="disable tqdm progress bars")
    return p


@dataclass
class Run:
    """A recipe run: its folder, device and parsed arguments."""

    name: str
    dir: Path
    device: torch.device
    args: argparse.Namespace

    def path(self, filename: str) -> Path:
        """A file inside the run folder."""
        return self.dir / filename


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


def start(args: argparse.Namespace, name: str) -> Run:
    """Check the device and output folder, then configure threads, seed, create the run folder and record ``args.json``.

    Raises
    ------
    ValueError
        If ``--out`` is a file or lies in a folder that is not writable (before anything is written).
    RuntimeError
        If the device cannot be used (see :func:`resolve_device`).
    """
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    device = resolve_device(args.device)
    out = check_output_folder(Path(args.out) if args.out else Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}",
                              "--out")
    configure_threads(args.threads)
    seed_everything(args.seed)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "args.json", vars(args))
    return Run(name=name, dir=out, device=device, args=args)


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


def positive(p: argparse.ArgumentParser, name: str, value, default):
    """``value`` if given (it must be >= 1), else ``default``: an explicit 0 or negative is an error, never a default."""
    if value is None:
        return default
    if value < 1:
        p.error(f"{name} must be >= 1, got {value}")
    return value


def run_main(main) -> None:
    """Run an entry point's ``main()``; expected errors (values, data, device) become one ``error:`` line, exit 2."""
    import sys

    try:
        main()
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        sys.exit(2)


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


class ResultTable:
    """A results CSV that grows one finished cell at a time, so that a rerun skips what is done.

    Rows are identified by the values of ``keys`` (compared as strings, so
    ``2`` and the ``2`` read back from the CSV match); the file is rewritten
    atomically after every :meth:`add`.

    Parameters
    ----------
    path : path
        The CSV file; its rows are loaded when it exists.
    keys : sequence of str
        Columns that identify a cell, e.g. ``("model", "depth", "seed")``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "results.csv"
    >>> table = ResultTable(path, ("model", "depth"))
    >>> table.add({"model": "gcn", "depth": 2, "acc": 0.8})
    >>> ResultTable(path, ("model", "depth")).pending([{"model": "gcn", "depth": 2}, {"model": "gcn", "depth": 4}])
    [{'model': 'gcn', 'depth': 4}]
    """

    def __init__(self, path: os.PathLike, keys):
        from .report import read_csv

        self.path, self.keys = Path(path), tuple(keys)
        self.rows = read_csv(self.path)
        self._done = {self.key(row) for row in self.rows}

    def key(self, row: Mapping) -> tuple:
        """The identifying values of ``row`` as strings."""
        return tuple(str(row[k]) for k in self.keys)

    def done(self, row: Mapping) -> bool:
        """Whether a row with the same key is already in the table."""
        return self.key(row) in self._done

    def pending(self, cells: Iterable[Mapping]) -> list:
        """The ``cells`` (mappings with the key columns) that have no row yet, in order."""
        return [cell for cell in cells if not self.done(cell)]

    def add(self, *rows: Mapping) -> None:
        """Append rows whose key is new (a row already present is kept, not duplicated) and rewrite the file."""
        for row in rows:
            if not self.done(row):
                self.rows.append(dict(row))
                self._done.add(self.key(row))
        write_csv(self.path, self.rows)
