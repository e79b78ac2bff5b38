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
* a **preset** (:class:`Preset`) maps a model name such as ``"gcn-ssm"`` to
  a model class (or function) and its keyword arguments, with the metadata
  that studies and trainers read instead of parsing names: its family,
  whether it reads k-hop rings, where the rewiring depth goes, and the
  options it accepts.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable, Dict, Mapping, Optional

FAMILIES = ("plain", "residual", "ssm", "baseline", "drew")


@dataclass(frozen=True)
class Preset:
    """A named model: what to build and what the rest of the package needs to know about it.

    Attributes
    ----------
    name : str
        The preset name (``"gcn-ssm"``).
    family : str
        ``"plain"``, ``"residual"``, ``"ssm"`` (GNN-SSM: has a state transition
        and an input matrix), ``"baseline"`` (published deep-GNN baselines) or
        ``"drew"`` (DRew).
    factory : callable
        ``factory(in_feats, hidden, out_feats, num_layers, **kwargs) -> nn.Module``.
    kwargs : mapping
        The preset's own keyword arguments (``conv``, ``block``, ...).
    max_hop_option : str, optional
        Where the k-hop rewiring depth is passed: ``"conv_options.max_hop"``
        (k-hop convs) or ``"max_hop"`` (DRew); ``None`` for models that read no rings.
    revision : int
        Raised by one each time what the preset builds changes (a corrected baseline). It enters a study cell's
        identity when above 0 (:func:`dgl_ssm.studies.identity.cell_config`), so that a row recorded with the
        earlier model is refused as another configuration instead of standing for the corrected one.

    Examples
    --------
    >>> preset = PRESETS["kgcn-ssm"]
    >>> preset.family, preset.state_space, preset.needs_hop_edges
    ('ssm', True, True)
    >>> preset.with_max_hop({}, 3)                          # where kGCN-SSM reads its rewiring depth
    {'conv_options': {'max_hop': 3}}
    >>> preset.check_options({"block_options": {"state_transiton": 0.5}})
    Traceback (most recent call last):
    ...
    ValueError: unknown block option 'state_transiton' for model 'kgcn-ssm' (block 'ssm'); known: ...
    """

    name: str
    family: str
    factory: Callable
    kwargs: Mapping = field(default_factory=dict)
    max_hop_option: Optional[str] = None
    revision: int = 0

    @property
    def needs_hop_edges(self) -> bool:
        """Whether the model reads ``edata['hop']``: datasets must be rewired with :class:`~dgl_ssm.transforms.KHopRewire`."""
        return self.max_hop_option is not None

    @property
    def state_space(self) -> bool:
        """Whether the model is a GNN-SSM (``block_options`` configure :math:`\\Lambda` and :math:`B`)."""
        return self.family == "ssm"

    def with_max_hop(self, options: dict, max_hop: int) -> dict:
        """``options`` with the rewiring depth put where this model reads it (unchanged for models without rings);
        a value already in ``options`` is kept."""
        if self.max_hop_option is None:
            return dict(options)
        options = dict(options)
        if "." in self.max_hop_option:
            group, key = self.max_hop_option.split(".")
            options[group] = {key: max_hop, **options.get(group, {})}
        else:
            options.setdefault(self.max_hop_option, max_hop)
        return options

    def accepted_options(self) -> Dict[str, list]:
        """Option names by group: ``{"model": [...], "conv_options": [...], "block_options": [...]}``."""
        sizes = ("in_feats", "hidden", "out_feats", "num_layers")
        own = set(_keywords(self.factory, passed=sizes))
        forwards_to = getattr(self.factory, "forwards_to", None)
        if _takes_kwargs(self.factory) and forwards_to is not None:  # passes the rest on (lip-res-gcn: DeepGNN)
            own |= set(_keywords(forwards_to, passed=sizes))
        out = {"model": sorted(own - {"conv_options", "block_options"})}
        conv = self.kwargs.get("conv", getattr(self.factory, "conv", None))
        block = self.kwargs.get("block", getattr(self.factory, "block", None))
        if conv in CONVS:
            out["conv_options"] = _keywords(CONVS[conv], passed=("layer", "num_layers", "dim"))
        if block in BLOCKS:
            out["block_options"] = _keywords(BLOCKS[block], passed=("dim", "conv", "activation", "matrices"))
        return out

    def check_options(self, options: Mapping) -> None:
        """Raise ``ValueError`` naming every option key this preset does not accept, and the accepted ones."""
        accepted = self.accepted_options()
        for key, value in options.items():
            group = key if key in ("conv_options", "block_options") else "model"
            if group != "model":
                if group not in accepted:
                    raise ValueError(f"model {self.name!r} takes no {group}")
                unknown = sorted(set(value) - set(accepted[group]))
                if unknown:
                    kind = group.split("_")[0]
                    raise ValueError(f"unknown {kind} option{'s' if len(unknown) > 1 else ''} "
                                     f"{', '.join(map(repr, unknown))} for model {self.name!r} "
                                     f"({kind} {self.kwargs.get(kind, getattr(self.factory, kind, '?'))!r}); "
                                     f"known: {', '.join(accepted[group]) or 'none'}")
            elif key not in accepted["model"]:
                raise ValueError(f"unknown option {key!r} for model {self.name!r}; known: {', '.join(accepted['model'])}")


def _takes_kwargs(fn) -> bool:
    return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values()) and inspect.isfunction(fn)


def _keywords(fn, passed=()) -> list:
    params = inspect.signature(fn).parameters
    return sorted(n for n, p in params.items()
                  if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and n not in passed and n != "self")


CONVS: Dict[str, Callable] = {}
BLOCKS: Dict[str, Callable] = {}
PRESETS: Dict[str, Preset] = {}


def _register(table: dict, kind: str, name: str):
    def deco(factory):
        if name in table:
            raise ValueError(f"{kind} {name!r} is already registered")
        table[name] = factory
        return factory

    return deco


def register_conv(name: str):
    """Decorator: register a conv factory ``f(dim, *, layer, num_layers, **options)`` under ``name``.

    The factory returns a module called as ``conv(graph, h)``, ``(N, dim) -> (N, dim)``, without a non-linearity
    (the block applies it); it ends in ``**_`` so that one set of options can be passed to any factory, and its
    keyword parameters are the options :class:`Preset` accepts for it.

    Raises
    ------
    ValueError
        On a name already registered.

    Examples
    --------
    A conv that averages each node's in-neighbours (DGL's message passing), in a GNN-SSM preset of its own:

    >>> import dgl, dgl.function as fn, torch
    >>> from dgl_ssm.models import DeepGNN, build_model
    >>> class MeanConv(torch.nn.Module):
    ...     def __init__(self, dim):
    ...         super().__init__()
    ...         self.linear = torch.nn.Linear(dim, dim)
    ...     def forward(self, graph, h):
    ...         with graph.local_scope():
    ...             graph.ndata["h"] = self.linear(h)
    ...             graph.update_all(fn.copy_u("h", "m"), fn.mean("m", "h"))
    ...             return graph.ndata["h"]
    >>> @register_conv("mean-example")
    ... def mean_example(dim, **_):
    ...     return MeanConv(dim)
    >>> _ = register_preset("mean-ssm-example", family="ssm", factory=DeepGNN, conv="mean-example", block="ssm")
    >>> model = build_model("mean-ssm-example", 5, 16, 3, num_layers=4, block_options={"input_matrix": 0.1})
    >>> model(dgl.add_self_loop(dgl.rand_graph(10, 30)), torch.randn(10, 5)).shape
    torch.Size([10, 3])
    >>> del CONVS["mean-example"], PRESETS["mean-ssm-example"]   # leave the registries as they were
    """
    return _register(CONVS, "conv", name)


def register_block(name: str):
    """Decorator: register a block factory ``f(conv, dim, activation, **options)`` under ``name``.

    The factory returns one layer of the deep model, called as ``block(graph, h)``, ``(N, dim) -> (N, dim)``,
    around the conv it is given; it ends in ``**_``, and its keyword parameters are the block options a
    :class:`Preset` accepts.

    Raises
    ------
    ValueError
        On a name already registered.

    Examples
    --------
    A gated residual block :math:`H + g\,\sigma(F(H))` with a learned scalar gate :math:`g`, started at ``gate``:

    >>> import dgl, torch
    >>> from dgl_ssm.models import DeepGNN
    >>> class GatedBlock(torch.nn.Module):
    ...     def __init__(self, conv, activation, gate):
    ...         super().__init__()
    ...         self.conv, self.activation = conv, activation
    ...         self.gate = torch.nn.Parameter(torch.tensor(float(gate)))
    ...     def forward(self, graph, h):
    ...         return h + self.gate * self.activation(self.conv(graph, h))
    >>> @register_block("gated-example")
    ... def gated_example(conv, dim, activation, *, gate=0.1, **_):
    ...     return GatedBlock(conv, activation, gate)
    >>> model = DeepGNN(5, 16, 3, num_layers=4, conv="gcn", block="gated-example", block_options={"gate": 0.5})
    >>> float(model.layers[0].gate)
    0.5
    >>> del BLOCKS["gated-example"]                          # leave the registry as it was
    """
    return _register(BLOCKS, "block", name)


def register_preset(name: str, *, family: str, factory: Callable, max_hop_option: Optional[str] = None,
                    revision: int = 0, **kwargs) -> Preset:
    """Register a named model, e.g. ``register_preset("gcn-ssm", family="ssm", factory=DeepGNN, conv="gcn",
    block="ssm")``.

    ``factory`` builds it (:class:`~dgl_ssm.models.DeepGNN` for the standard presets, registered next to it);
    ``kwargs`` are the preset's keyword arguments. A function factory that passes its other keyword arguments on
    names where in ``factory.forwards_to`` (so that :meth:`Preset.accepted_options` knows them). ``revision``
    (:attr:`Preset.revision`) is raised when an existing preset is corrected.

    Raises
    ------
    ValueError
        On a name already registered, an unknown family or a negative revision.

    Examples
    --------
    A GCN-SSM at the edge of chaos with a small input matrix, as a named model that studies can refer to:

    >>> from dgl_ssm.models import DeepGNN, build_model
    >>> preset = register_preset("gcn-ssm-small-b-example", family="ssm", factory=DeepGNN, conv="gcn", block="ssm",
    ...                          block_options={"state_transition": 1.0, "input_matrix": 0.1})
    >>> preset.state_space, preset.needs_hop_edges
    (True, False)
    >>> float(build_model("gcn-ssm-small-b-example", 5, 8, 3, num_layers=2).ssm_matrices.input_matrix[0, 0])
    0.1...
    >>> del PRESETS["gcn-ssm-small-b-example"]               # leave the registry as it was
    """
    if name in PRESETS:
        raise ValueError(f"model preset {name!r} is already registered")
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise ValueError(f"revision must be an int >= 0, got {revision!r}")
    PRESETS[name] = Preset(name, family, factory, dict(kwargs), max_hop_option, revision)
    return PRESETS[name]


def check_options(factory, options, kind: str, name: str, passed=()) -> None:
    """Raise ``ValueError`` if ``options`` has a key that ``factory`` does not name as a keyword parameter.

    Factories end in ``**_`` so that a builder can pass one set of options to
    any of them; this check is what keeps a misspelled option (or an SSM option
    given to a non-SSM block) from being ignored without a word. ``passed``
    are the keywords the builder itself supplies.
    """
    known = _keywords(factory, passed=(*passed, "dim", "conv", "activation"))
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
