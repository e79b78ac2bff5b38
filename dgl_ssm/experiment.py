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

__all__ = ["seed_everything", "resolve_device", "check_output_folder", "write_csv", "write_json", "atomic_write",
           "exit_on_error"]


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


def resolve_device(name: str, flag: str = "--device ") -> torch.device:
    """``torch.device(name)``, with a clear error when it cannot run DGL here.

    Parameters
    ----------
    name : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    flag : str
        How the caller's user spells the option, for the messages: ``"--device "`` (a recipe's command line,
        default) or ``"device="`` (a study's Hydra option).

    Raises
    ------
    ValueError
        If ``name`` is not a device, or not a CPU or CUDA one (DGL has no build for ``mps`` and the like).
    RuntimeError
        If ``name`` is a CUDA device and torch or DGL has no CUDA support.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("mps", flag="device=")
    Traceback (most recent call last):
        ...
    ValueError: device=mps: DGL runs on cpu or cuda only; use device=cpu or device=cuda
    """
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{flag}{name}: not a device ({' '.join(str(err).split())[:120]}); use {flag}cpu or "
                         f"{flag}cuda") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"{flag}{name}: DGL runs on cpu or cuda only; use {flag}cpu or {flag}cuda")
    if device.type == "cuda":
        import dgl

        if not torch.cuda.is_available():
            raise RuntimeError(f"{flag}{name}: torch sees no CUDA device; use {flag}cpu")
        try:
            dgl.graph(([0], [0])).to(device)
        except Exception as err:  # DGL's CPU wheels raise a DGLError here
            raise RuntimeError(f"{flag}{name}: the installed DGL has no CUDA support ({err}); install a CUDA build "
                               "of DGL") from err
    return device


def check_output_folder(out: os.PathLike, flag: str = "out") -> Path:
    """``out`` as a ``Path`` if it can be used as an output folder (checked before anything is written).

    Raises
    ------
    ValueError
        If ``out`` is a file, lies under a file, or its nearest existing folder is not writable; the message names
        ``flag``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{flag} {out} is a file; give a folder")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():  # out=<file>/sub: the folder cannot be made under a file
        raise ValueError(f"{flag} {out}: {parent} is a file, so no folder can be made under it; give a folder")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{flag} {out}: {parent} is not writable; give a writable folder")
    return out


def exit_on_error(main, *args, **kwargs):
    """Run a script's ``main``; an expected failure (a bad value, missing data or extra, no CUDA) ends the process
    with one ``error:`` line and exit status 1 instead of a traceback. For scripts (the recipes); the library raises.

    Examples
    --------
    >>> exit_on_error(lambda: 3)
    3
    >>> exit_on_error(lambda: resolve_device("mps"))
    Traceback (most recent call last):
        ...
    SystemExit: error: --device mps: DGL runs on cpu or cuda only; use --device cpu or --device cuda
    """
    import sys

    try:
        return main(*args, **kwargs)
    except (ValueError, RuntimeError, FileNotFoundError, ImportError) as err:
        sys.exit(f"error: {' '.join(str(err).split())}")
