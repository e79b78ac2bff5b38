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


def check_options(factory, options, kind: str, name: str, passed=()) -> None:
    """Raise ``ValueError`` if ``options`` has a key that ``factory`` does not name as a keyword parameter.

    Factories end in ``**_`` so that a builder can pass one set of options to
    any of them; this check is what keeps a misspelled option (or an SSM option
    given to a non-SSM block) from being ignored without a word. ``passed``
    are the keywords the builder itself supplies.
    """
    import inspect

    params = inspect.signature(factory).parameters
    known = sorted(
        n for n, p in params.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and n not in passed and n not in ("dim", "conv", "activation")
    )
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(
            f"unknown {kind} option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for {kind} {name!r}; "
            f"known: {', '.join(known) or 'none'}"
        )


def lookup(table: dict, kind: str, name: str):
    """Return ``table[name]`` or raise a ``ValueError`` listing the known names."""
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(sorted(table))}") from None
