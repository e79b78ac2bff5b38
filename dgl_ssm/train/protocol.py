"""How one cell is trained: :class:`TrainProtocol`, every value explicit, each honoured by the level it applies to
(node or graph cells) or refused there (:data:`FIELD_LEVELS`)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Mapping, Optional

import torch

from .denormals import DENORMALS
from .precision import PRECISIONS

__all__ = ["TrainProtocol", "load_protocol", "default_protocol", "packaged_protocols", "FIELD_LEVELS", "LEVELS", "OPTIMIZERS", "SCHEDULERS", "MONITORS"]

#: the two kinds of cell: node classification on one graph, or datasets of graphs in mini-batches
LEVELS = ("node", "graph")

#: what :func:`~dgl_ssm.train.make_optimizer` and :func:`~dgl_ssm.train.make_scheduler` build
OPTIMIZERS = ("adam", "adamw")

SCHEDULERS = ("none", "cosine", "plateau", "step")

MONITORS = ("metric", "loss", "loss_and_metric")

#: the protocol fields that only one level reads; every other field applies to both
FIELD_LEVELS = {
    "batch_size": ("graph",),  # a node cell trains on its one graph, full batch
    "max_hop": ("graph",),  # node cells read no k-hop rings (k-hop presets are refused there)
    "layer_profile": ("node",),  # per-layer Dirichlet energy of the trained model's node states on its graph
}

_WHY_NOT = {
    ("batch_size", "node"): "a node cell trains on its whole graph at once",
    ("max_hop", "node"): "node cells are not k-hop rewired (k-hop presets run in graph studies)",
    ("layer_profile", "graph"): "the per-layer energy profile is recorded for node cells only",
}

@dataclass(frozen=True)
class TrainProtocol:
    """How one cell is trained: every value explicit, each honoured by its level or refused (:meth:`check`).

    Parameters
    ----------
    hidden : int
        Width of every layer (graph cells with a parameter budget may get another: :func:`prepare_cell`).
    optimizer : str
        ``"adam"`` or ``"adamw"`` (:func:`~dgl_ssm.train.make_optimizer`).
    lr, weight_decay : float
        Learning rate (> 0, finite) and weight decay (>= 0).
    dropout : float
        In ``[0, 1)``.
    activation : str
        The non-linearity of every layer (``"relu"``, ``"tanh"``, ``"gelu"``, ...).
    epochs, patience : int
        At most ``epochs`` epochs; stop after ``patience`` epochs without improvement of ``monitor``.
    scheduler : str
        One of :data:`SCHEDULERS` (``"cosine"`` runs over ``epochs``).
    scheduler_options : mapping
        The schedule's options (:func:`~dgl_ssm.train.make_scheduler`), e.g. ``{factor: 0.5, patience: 20,
        min_lr: 1.0e-5, watch: loss}`` for LRGB's reduce-on-plateau.
    monitor : str
        ``"metric"``, ``"loss"`` or ``"loss_and_metric"`` (:class:`~dgl_ssm.train.Trainer`).
    weight_decay_groups : mapping
        ``{parameter-name prefix: weight decay}`` overriding ``weight_decay``.
    batch_size : int, optional
        Graphs per mini-batch; graph cells only (required there).
    max_hop : int, optional
        The k-hop rewiring radius of presets that read rings; graph cells only (:func:`rewiring`).
    layer_profile : bool
        Record every layer's Dirichlet energy of the trained model; node cells only.
    precision : str
        ``"32"``, ``"bf16-mixed"`` or ``"16-mixed"`` (CUDA): :class:`~dgl_ssm.train.precision.Precision`.
    denormals : str
        ``"ieee"`` (subnormal floats as IEEE 754 has them) or ``"flush"`` (flush-to-zero on the CPU, one intra-op
        thread only): :mod:`dgl_ssm.train.denormals`.

    Examples
    --------
    >>> p = TrainProtocol(hidden=16, optimizer="adam", lr=0.01, weight_decay=5e-4, dropout=0.5, activation="relu",
    ...                   epochs=200, patience=10)
    >>> p.check("node")
    >>> TrainProtocol(**{**p.as_dict(), "batch_size": 64}).check("node")
    Traceback (most recent call last):
        ...
    ValueError: batch_size=64 does not apply to node cells (a node cell trains on its whole graph at once): remove it
    """

    hidden: int
    optimizer: str
    lr: float
    weight_decay: float
    dropout: float
    activation: str
    epochs: int
    patience: int
    scheduler: str = "none"
    scheduler_options: Mapping[str, object] = field(default_factory=dict)
    monitor: str = "metric"
    weight_decay_groups: Mapping[str, float] = field(default_factory=dict)
    batch_size: Optional[int] = None
    max_hop: Optional[int] = None
    layer_profile: bool = False
    precision: str = "32"
    denormals: str = "ieee"

    @classmethod
    def from_mapping(cls, values: Mapping) -> "TrainProtocol":
        """A protocol from a mapping (a study's resolved ``train`` section); unknown keys are a ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown protocol key{'s' * (len(unknown) > 1)} {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(known))}")
        return cls(**{k: v for k, v in values.items()})

    def as_dict(self) -> dict:
        return asdict(self)

    def check(self, level: str) -> None:
        """Raise ``ValueError`` (one line, naming the key) on a value out of range, or a field set for a level that
        does not read it.

        Raises
        ------
        ValueError
            E.g. ``batch_size`` in a node cell, ``layer_profile`` in a graph cell, an unknown scheduler, ``lr=inf``.
        """
        if level not in LEVELS:
            raise ValueError(f"level must be 'node' or 'graph', got {level!r}")
        for key, levels in FIELD_LEVELS.items():
            value = getattr(self, key)
            if level not in levels and value is not None and value is not False:  # unset: None (False: a flag off)
                raise ValueError(f"{key}={value} does not apply to {level} cells ({_WHY_NOT[(key, level)]}): remove it")
        if level == "graph" and self.batch_size is None:
            raise ValueError("batch_size is required for graph cells (graphs per mini-batch)")
        for key in ("hidden", "epochs", "patience", "batch_size", "max_hop"):
            value = getattr(self, key)
            if value is not None and not value >= 1:
                raise ValueError(f"{key} must be >= 1, got {value}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)) or not 0 <= self.dropout < 1:
            raise ValueError(f"weight_decay must be a finite number >= 0 and dropout in [0, 1), got "
                             f"{self.weight_decay}, {self.dropout}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}, got {self.scheduler!r}")
        if self.scheduler_options:
            from .trainer import make_scheduler  # noqa: PLC0415 (the trainer imports torch only)

            probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
            try:
                make_scheduler(probe, self.scheduler, self.epochs, **dict(self.scheduler_options))
            except (TypeError, ValueError) as err:
                raise ValueError(f"scheduler_options={dict(self.scheduler_options)}: {err}") from None
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.denormals not in DENORMALS:
            raise ValueError(f"denormals must be one of {', '.join(DENORMALS)}, got {self.denormals!r}")
        if self.monitor not in MONITORS:
            raise ValueError(f"monitor must be 'metric', 'loss' or 'loss_and_metric' (what early stopping watches), "
                             f"got {self.monitor!r}")
        bad = {k: v for k, v in dict(self.weight_decay_groups).items() if not (v >= 0 and math.isfinite(v))}
        if bad:
            raise ValueError(f"weight_decay_groups must map parameter-name prefixes to finite decays >= 0, got {bad}")


def packaged_protocols() -> list:
    """The names of the packaged protocol files (``dgl_ssm/conf/protocol/<name>.yaml``)."""
    from importlib.resources import files

    return sorted(p.name[:-5] for p in files("dgl_ssm.conf").joinpath("protocol").iterdir() if p.name.endswith(".yaml"))


def load_protocol(name: str, **overrides) -> TrainProtocol:
    """The packaged protocol ``name`` (``dgl_ssm/conf/protocol/<name>.yaml``, each value with its source in the
    file's comments), with ``overrides`` (e.g. ``epochs=2``) applied.

    Raises
    ------
    ValueError
        On an unknown name (the message lists the packaged ones) or an unknown key.

    Examples
    --------
    >>> p = load_protocol("kipf2017")
    >>> p.hidden, p.lr, p.epochs
    (16, 0.01, 200)
    >>> load_protocol("kipf2017", epochs=2).epochs
    2
    """
    from importlib.resources import files

    import yaml  # plain YAML: the files use no interpolation (Hydra composes them into the studies)

    if name not in packaged_protocols():
        raise ValueError(f"unknown protocol {name!r}; packaged: {', '.join(packaged_protocols())}")
    values = yaml.safe_load(files("dgl_ssm.conf").joinpath("protocol", f"{name}.yaml").read_text())
    return TrainProtocol.from_mapping({**values, **overrides})


def default_protocol(preset: str, dataset: str) -> str:
    """The protocol the packaged studies train ``preset`` with on ``dataset``: the protocol file a study names for
    that model (``/protocol/<name>@models.<key>.train``), else the one of the study's ``train`` section.

    Raises
    ------
    ValueError
        If no packaged study trains ``preset`` on ``dataset``, or they use several protocols (the message names them:
        choose one).

    Examples
    --------
    >>> default_protocol("kipf-gcn", "cora"), default_protocol("gcnii", "texas")
    ('kipf2017', 'chen2020_gcnii_texas')
    """
    from importlib.resources import files

    import yaml

    own, shared = set(), set()
    for path in sorted(files("dgl_ssm.conf").joinpath("study").iterdir()):
        if not path.name.endswith(".yaml"):
            continue
        study = yaml.safe_load(path.read_text())
        if dataset not in list(study.get("datasets") or []):
            continue
        defaults = [str(d) for d in study.get("defaults") or [] if isinstance(d, str) and d.startswith("/protocol/")]
        targets = {d.split("@", 1)[1]: d.split("/")[2].split("@")[0] for d in defaults if "@" in d}
        for key, entry in (study.get("models") or {}).items():
            if entry.get("preset") != preset or (entry.get("datasets") and dataset not in entry.get("datasets")):
                continue
            if f"models.{key}.train" in targets:
                own.add(targets[f"models.{key}.train"])
            elif "train" in targets:
                shared.add(targets["train"])
    found = own or shared
    if len(found) == 1:
        return found.pop()
    if not found:
        raise ValueError(f"no packaged study trains {preset!r} on {dataset!r}: give a protocol (one of "
                         f"{', '.join(packaged_protocols())})")
    raise ValueError(f"the packaged studies train {preset!r} on {dataset!r} with {', '.join(sorted(found))}: choose one")
