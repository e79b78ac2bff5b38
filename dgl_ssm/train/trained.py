"""A trained cell's model, kept for analysis after training: the weights its test metric was computed with."""
from __future__ import annotations

import os
from typing import Optional

import torch

from .._io import atomic_write

__all__ = ["TRAINED_FORMAT", "save_trained", "load_trained"]

#: format of the files :func:`save_trained` writes
TRAINED_FORMAT = 1


def save_trained(path: os.PathLike, model: torch.nn.Module, *, identity: Optional[str] = None,
                 best_epoch: Optional[int] = None, status: str = "ok") -> None:
    """Write ``model``'s ``state_dict`` (parameters and buffers: batch norm's running statistics too) with what
    names it, atomically.

    Parameters
    ----------
    path : path
        The file (its folder is created).
    model : torch.nn.Module
        The trained model as its test metric was computed: after :meth:`~dgl_ssm.train.Trainer.fit`, the state of
        the best validation epoch.
    identity : str, optional
        The cell's identity (a study's ``<cell>-<config hash>``); :func:`load_trained` can demand it.
    best_epoch : int, optional
        The epoch the state is from.
    status : str
        The record's status of the run (``"ok"`` or ``"diverged"``).

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "m.pt"
    >>> save_trained(path, torch.nn.Linear(2, 1), identity="cell-0", best_epoch=3)
    >>> sorted(load_trained(path, identity="cell-0"))
    ['best_epoch', 'format', 'identity', 'state_dict', 'status']
    """
    state = {"format": TRAINED_FORMAT, "identity": identity, "best_epoch": best_epoch, "status": status,
             "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_trained(path: os.PathLike, identity: Optional[str] = None) -> dict:
    """Read a file of :func:`save_trained` (``torch.load(weights_only=True)``, on the CPU).

    Returns
    -------
    dict
        ``format``, ``identity``, ``best_epoch``, ``status`` and ``state_dict`` (load it into the cell's model as
        :func:`~dgl_ssm.train.prepare_cell` builds it).

    Raises
    ------
    FileNotFoundError
        If there is no such file (the cell ran without ``keep_models=true``).
    ValueError
        If the file is not a trained model of this format, or (with ``identity``) is another cell's.

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "m.pt"
    >>> save_trained(path, torch.nn.Linear(2, 1), identity="cell-0", best_epoch=3)
    >>> model = torch.nn.Linear(2, 1)
    >>> model.load_state_dict(load_trained(path)["state_dict"])
    <All keys matched successfully>
    >>> load_trained(path, identity="cell-1")
    Traceback (most recent call last):
    ...
    ValueError: ...
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no trained model; rerun the cell with keep_models=true to keep it")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle.UnpicklingError, RuntimeError, EOFError on foreign or damaged files
        raise ValueError(f"{path} is not a dgl_ssm trained model ({type(err).__name__})") from err
    if not isinstance(state, dict) or state.get("format") != TRAINED_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path} has trained-model format {found!r}, this dgl_ssm reads format {TRAINED_FORMAT}")
    if identity is not None and state.get("identity") != identity:
        raise ValueError(f"{path} is the model of {state.get('identity')!r}, not of {identity!r}: it was copied or "
                         "moved; put it back under its own name")
    return state
