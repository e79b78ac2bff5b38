"""Registries of convolutions, blocks and named model presets.

Extensions (k-hop convs, baselines) register themselves here instead of
editing the builder:

* a **conv factory** ``f(dim, *, layer, num_layers, **options) -> nn.Module``
  (``layer``: 0-based index of the layer being built) returns a module
  called as ``conv(graph, h)`` that maps ``(N, dim)`` to ``(N, dim)``
  *without* a non-linearity (the block applies it);
* a **block factory** ``f(conv, dim, activation, **options) -> nn.Module``
  returns a module called as ``block(graph, h)`` that maps ``(N, dim)`` to
  ``(N, dim)`` (one layer of the deep model);
* a **preset** maps a model name such as ``"gcn-ssm"`` to builder keyword
  arguments (``conv=..., block=..., ...``).
"""
from __future__ import annotations

from typing import Callable, Dict

CONVS: Dict[str, Callable] = {}
BLOCKS: Dict[str, Callable] = {}
PRESETS: Dict[str, dict] = {}


def _register(table: dict, kind: str, name: str):
    def deco(factory):
        if name in table:
            raise ValueError(f"{kind} {name!r} is already registered")
        table[name] = factory
        return factory

    return deco


def register_conv(name: str):
    """Decorator: register a conv factory ``f(dim, **options)`` under ``name``."""
    return _register(CONVS, "conv", name)


def register_block(name: str):
    """Decorator: register a block factory ``f(conv, dim, activation, **options)``."""
    return _register(BLOCKS, "block", name)


def register_preset(name: str, **builder_kwargs) -> None:
    """Register a named model, e.g. ``register_preset("gcn-ssm", conv="gcn", block="ssm")``."""
    if name in PRESETS:
        raise ValueError(f"model preset {name!r} is already registered")
    PRESETS[name] = builder_kwargs


def lookup(table: dict, kind: str, name: str):
    """Return ``table[name]`` or raise a ``ValueError`` listing the known names."""
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(sorted(table))}") from None
