"""Activations by name: the one table every model resolves ``activation="relu"`` (and friends) against."""
from __future__ import annotations

import torch
from torch import nn

from .registry import lookup

__all__ = ["ACTIVATIONS", "resolve_activation"]

ACTIVATIONS = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "gelu": nn.functional.gelu,
    "elu": nn.functional.elu,
    "identity": None,
    "none": None,
}


def resolve_activation(name_or_fn):
    """A callable (or ``None`` for the identity) from a name in ``ACTIVATIONS`` or a callable.

    Raises
    ------
    ValueError
        On an unknown name.

    Examples
    --------
    >>> resolve_activation("tanh") is torch.tanh, resolve_activation("identity")
    (True, None)
    """
    if name_or_fn is None or callable(name_or_fn):
        return name_or_fn
    return lookup(ACTIVATIONS, "activation", name_or_fn)
