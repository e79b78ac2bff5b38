"""One path from a training protocol to a trained model, for node and graph cells alike.

A *cell* is one model (a registered preset, its options and depth) trained once, with one seed, on one dataset
under a :class:`TrainProtocol`. :func:`prepare_cell` builds everything in one fixed order (data, the seed, the
model, the optimizer and scheduler the protocol names, the :class:`~dgl_ssm.train.Trainer`), and
:func:`fit_cell` runs it and returns the row a study records. The study engine (:mod:`dgl_ssm.studies`) and the
recipes both call these; neither builds a model, an optimizer or a dataset of its own.

Every field of a :class:`TrainProtocol` is honoured by the level it applies to and refused by the other
(:data:`FIELD_LEVELS`, :meth:`TrainProtocol.check`); the k-hop rewiring radius is decided once, by
:func:`rewiring`, for the data and the model together.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional, Tuple

import torch

from .build import count_parameters, make_trainer, seeded_build
from .protocol import FIELD_LEVELS, LEVELS, OPTIMIZERS, SCHEDULERS, TrainProtocol

__all__ = ["TrainProtocol", "DataOptions", "PreparedCell", "FIELD_LEVELS", "LEVELS", "SCHEDULERS", "OPTIMIZERS",
           "dataset_kind", "rewiring", "graph_datasets", "hidden_within_budget", "build_cell_model", "seeded_build", "make_trainer", "prepare_cell",
           "fit_cell", "count_parameters", "gradients_at_init", "layer_profile"]


@dataclass(frozen=True)
class DataOptions:
    """Where a cell's data comes from and what, beyond the dataset's name, determines it.

    Every field but ``root`` and ``data_dir`` belongs to one kind of dataset; a field given for a dataset of another
    kind would be ignored, so :meth:`for_dataset` refuses it. ``None`` means not given (the default below).

    Parameters
    ----------
    root, data_dir : path, optional
        Caches and offline raw copies (:mod:`dgl_ssm.data.paths`).
    normalize_features : bool, optional
        Node datasets: divide every node's features by their sum (Kipf's and GCNII's preprocessing). Default false.
    sizes : tuple of int, optional
        Graph property tasks: train, validation and test graphs (generated with seed 0). Default 5120, 640, 1280.
    target_scale : str, optional
        Graph property tasks: ``"train_max"`` (default) or ``"raw"``.
    ring_size, ring_graphs, ring_classes : int, optional
        RingTransfer (dataset ``"ring"``): nodes per ring (required there), rings (default 2000) and classes (5).
    limit : int, optional
        Peptides: the first ``limit`` graphs of each split (default: all).

    Examples
    --------
    >>> data = DataOptions(ring_size=10, ring_graphs=100).for_dataset("ring")
    >>> data.ring_size, data.ring_graphs, data.ring_classes                  # the one not given: its default
    (10, 100, 5)
    >>> DataOptions(ring_size=10, sizes=(64, 16, 16)).for_dataset("ring")
    Traceback (most recent call last):
    ...
    ValueError: DataOptions: sizes is a generated graph property task's field, which dataset 'ring' does not read; ...
    """

    root: Optional[object] = None
    data_dir: Optional[object] = None
    normalize_features: Optional[bool] = None
    sizes: Optional[Tuple[int, ...]] = None
    target_scale: Optional[str] = None
    ring_size: Optional[int] = None
    ring_graphs: Optional[int] = None
    ring_classes: Optional[int] = None
    limit: Optional[int] = None

    #: the fields of each kind of dataset, and their defaults
    KINDS = {"node": {"normalize_features": False},
             "property": {"sizes": (5120, 640, 1280), "target_scale": "train_max"},
             "ring": {"ring_size": None, "ring_graphs": 2000, "ring_classes": 5},
             "peptides": {"limit": None}}
    _WHAT = {"node": "a node dataset's", "property": "a generated graph property task's", "ring": "RingTransfer's",
             "peptides": "Peptides'"}

    def for_dataset(self, name: str) -> "DataOptions":
        """These options for dataset ``name``, with the defaults of its fields filled in.

        Raises
        ------
        ValueError
            On a field given that another kind of dataset reads (it would be ignored), naming the fields ``name`` reads.
        """
        from dataclasses import replace

        kind = dataset_kind(name)
        for other, fields in self.KINDS.items():
            given = [f for f in fields if other != kind and getattr(self, f) is not None]
            if given:
                many = len(given) > 1
                raise ValueError(f"DataOptions: {', '.join(given)} {'are' if many else 'is'} {self._WHAT[other]} "
                                 f"field{'s' if many else ''}, which dataset {name!r} does not read; it reads "
                                 f"{', '.join(self.KINDS[kind])}")
        return replace(self, **{f: default for f, default in self.KINDS[kind].items() if getattr(self, f) is None})


def dataset_kind(name: str) -> str:
    """``"node"``, ``"property"``, ``"ring"`` or ``"peptides"``: which fields of :class:`DataOptions` dataset ``name``
    reads (:attr:`DataOptions.KINDS`).

    Examples
    --------
    >>> dataset_kind("cora"), dataset_kind("sssp"), dataset_kind("ring"), dataset_kind("peptides-func")
    ('node', 'property', 'ring', 'peptides')
    """
    from ..data import GRAPH_PROPERTY_TASKS
    from ..data.node import NODE_DATASETS

    if name in NODE_DATASETS:
        return "node"
    if name in GRAPH_PROPERTY_TASKS:
        return "property"
    return "ring" if name == "ring" else "peptides"


def rewiring(preset: str, options: Optional[Mapping], max_hop: Optional[int]):
    """The k-hop rewiring radius decided once, for the data and the model: ``(transform, options)``.

    ``transform`` is :class:`~dgl_ssm.transforms.KHopRewire` ``(max_hop)`` for a preset that reads k-hop rings
    (``edata['hop']``: k-hop convs, DRew), else ``None``; ``options`` are the model options with ``max_hop`` put
    where the preset reads it (:meth:`~dgl_ssm.models.Preset.with_max_hop`), so that the rings the model reads are
    exactly the rings the data has.

    Raises
    ------
    ValueError
        If a preset that reads rings gets no ``max_hop``, or its options name a radius of their own that differs
        from ``max_hop`` (say ``conv_options.max_hop=2`` on data rewired at 3).

    Examples
    --------
    >>> transform, options = rewiring("kgcn-ssm", {}, 3)
    >>> transform.max_hop, options
    (3, {'conv_options': {'max_hop': 3}})
    >>> rewiring("gcn-ssm", {"block_options": {"state_transition": 1.0}}, 3)[0] is None
    True
    """
    from ..models import PRESETS, lookup
    from ..transforms import KHopRewire

    spec, options = lookup(PRESETS, "model", preset), dict(options or {})
    if not spec.needs_hop_edges:
        return None, options
    if max_hop is None:
        raise ValueError(f"model {preset!r} reads k-hop rings: it needs the rewiring radius max_hop (train.max_hop)")
    group, _, key = spec.max_hop_option.rpartition(".")
    own = (options.get(group) or {}).get(key) if group else options.get(key)
    if own is not None and own != max_hop:
        where = spec.max_hop_option if group else key
        raise ValueError(f"{where}={own} differs from the rewiring radius max_hop={max_hop} of the data: the model "
                         f"would read rings the graphs do not have, or ignore some; set train.max_hop instead")
    return KHopRewire(max_hop), spec.with_max_hop(options, max_hop)


_GRAPH_DATA: Dict[tuple, dict] = {}  # per process: datasets by what determines them


def graph_datasets(name: str, data: DataOptions, rewire=None) -> Tuple[dict, "object"]:
    """``({"train", "val", "test"}: dataset, task_info)`` of a graph-level cell on dataset ``name``.

    Graph property tasks use the seed-0 generated data of ``data.sizes``; ``ring`` the RingTransfer graphs of
    ``data.ring_size`` nodes; Peptides the official splits (the first ``data.limit`` graphs of each, if set).
    Every graph gets one self-loop per node, k-hop rewired first with ``rewire`` (from :func:`rewiring`): one
    cached pre-transform (:class:`~dgl_ssm.data.ComposePreTransform`). What the model needs (input size, targets,
    readout, encoder) comes from the datasets' :class:`~dgl_ssm.data.TaskInfo`. Datasets are kept per process by
    what determines them.

    Raises
    ------
    ValueError
        On ``ring`` without ``data.ring_size``, or a field of ``data`` that another kind of dataset reads.
    """
    from ..data import (GRAPH_PROPERTY_TASKS, ComposePreTransform, GraphPropertyDataset, PeptidesDataset,
                        RingTransferDataset, self_loops)

    data = data.for_dataset(name)
    max_hop = rewire.max_hop if rewire is not None else None
    pre = ComposePreTransform([rewire, self_loops()])
    splits, root = ("train", "val", "test"), data.root
    if name in GRAPH_PROPERTY_TASKS:
        key = (name, tuple(data.sizes), data.target_scale, max_hop, str(root))
        make = lambda: {s: GraphPropertyDataset(name, s, seed=0, root=root, sizes=tuple(data.sizes), pre_transform=pre,
                                                target_scale=data.target_scale) for s in splits}
    elif name == "ring":
        n = data.ring_size
        if n is None:
            raise ValueError("dataset 'ring' needs DataOptions.ring_size (nodes per ring)")
        key = (name, n, data.ring_graphs, data.ring_classes, max_hop, str(root))
        make = lambda: {s: RingTransferDataset(n, data.ring_graphs, data.ring_classes, seed=0, split=s, root=root,
                                               pre_transform=pre) for s in splits}
    else:
        key = (name, data.limit, max_hop, str(root), str(data.data_dir))

        def make():
            # a limited run makes only the graphs it uses, from the CSV (PeptidesDataset's limit), and transforms
            # them uncached
            cached = None if data.limit else pre
            sets = {s: PeptidesDataset(name, s, root=root, data_dir=data.data_dir, pre_transform=cached, limit=data.limit)
                    for s in splits}
            if data.limit:
                for ds in sets.values():
                    kept = ds.indices.tolist()
                    for i, graph in zip(kept, pre([ds.graphs[i] for i in kept])):
                        ds.graphs[i] = graph
            return sets
    if key not in _GRAPH_DATA:
        _GRAPH_DATA[key] = make()
    sets = _GRAPH_DATA[key]
    return sets, sets["train"].task_info


def hidden_within_budget(build: Callable[[int], torch.nn.Module], budget: int, low: int = 8, high: int = 1024) -> int:
    """The largest width ``h`` in ``[low, high]`` with ``build(h)``'s trainable parameters ``<= budget`` (bisection).

    Raises
    ------
    ValueError
        If even ``build(low)`` exceeds the budget.

    Examples
    --------
    >>> from dgl_ssm.models import build_model
    >>> hidden_within_budget(lambda h: build_model("gcn", 9, h, 10, 17), 500_000)
    170
    """
    if count_parameters(build(low)) > budget:
        raise ValueError(f"even hidden={low} exceeds the budget of {budget:,} parameters")
    while low < high:
        mid = (low + high + 1) // 2
        if count_parameters(build(mid)) <= budget:
            low = mid
        else:
            high = mid - 1
    return low


def build_cell_model(preset: str, num_layers: int, seed: int, protocol: TrainProtocol, task_info,
                     options: Optional[Mapping] = None, hidden: Optional[int] = None,
                     level: str = "graph") -> torch.nn.Module:
    """Seed everything with ``seed``, then build ``preset`` for ``task_info`` (a :class:`~dgl_ssm.data.TaskInfo`).

    The one place a cell's model is seeded and built. ``options`` are the preset's options with the rewiring
    radius already in place (:func:`rewiring`); ``hidden`` defaults to ``protocol.hidden``. A ``level="graph"``
    cell's model gets the task's readout and encoder (built right after the seed: the encoder's embeddings are the
    first random draws), and a GNN-SSM's randomly drawn Λ and B are seeded with ``seed`` too; a ``"node"`` cell's
    model (node classification on one graph) is the plain build.

    Examples
    --------
    >>> from dgl_ssm.data import TaskInfo
    >>> p = TrainProtocol(hidden=8, optimizer="adam", lr=0.01, weight_decay=0.0, dropout=0.0, activation="relu",
    ...                   epochs=1, patience=1)
    >>> info = TaskInfo(level="node", in_feats=5, num_targets=3, loss="ce", metric="accuracy")
    >>> build_cell_model("gcn-ssm", 4, 0, p, info, level="node").num_layers
    4
    """
    from ..models import PRESETS

    hidden = protocol.hidden if hidden is None else int(hidden)
    extra = copy.deepcopy(dict(options or {}))
    if level == "node":
        return seeded_build(seed, preset, task_info.in_feats, hidden, task_info.num_targets, num_layers,
                            dropout=protocol.dropout, **{"activation": protocol.activation, **extra})
    if PRESETS[preset].state_space:
        extra["block_options"] = {"seed": seed, **extra.get("block_options", {})}
    return seeded_build(seed, preset, task_info.in_feats, hidden, task_info.num_targets, num_layers,
                        activation=protocol.activation, dropout=protocol.dropout, readout=task_info.readout,
                        encoder=lambda: task_info.build_encoder(hidden), **extra)


@dataclass
class PreparedCell:
    """A cell ready to train: its model as initialised, task, trainer, and what the record says of it.

    Attributes
    ----------
    model : torch.nn.Module
        On the cell's device (wrapped in DDP when the cell runs under torchrun).
    task : object
        :class:`~dgl_ssm.train.NodeClassificationTask` or :class:`~dgl_ssm.train.GraphTask`.
    trainer : dgl_ssm.train.Trainer
    row : dict
        ``params`` and, with a parameter budget, ``hidden`` (when fitted to it) and ``over_budget``.
    graph : dgl.DGLGraph or None
        A node cell's graph (on the device).

    Examples
    --------
    >>> from dgl_ssm.train import load_protocol
    >>> cell = prepare_cell("ring", "gcn-ssm", 2, 0, load_protocol("ring", epochs=1),
    ...                     data=DataOptions(ring_size=4, ring_graphs=20))
    >>> type(cell.task).__name__, cell.graph is None, sorted(cell.row)      # a graph-level cell
    ('GraphTask', True, ['params'])
    """

    model: torch.nn.Module
    task: object
    trainer: object
    row: dict
    graph: object = None


def _level_of(dataset: str) -> str:
    from ..data.node import NODE_DATASETS

    return "node" if dataset in NODE_DATASETS else "graph"


def prepare_cell(dataset: str, preset: str, num_layers: int, seed: int, protocol: TrainProtocol, *,
                 options: Optional[Mapping] = None, data: DataOptions = DataOptions(), param_budget: Optional[int] = None,
                 fit_width_to_budget: bool = True, max_hidden: int = 512, device="cpu", run_dir=None,
                 checkpoint_every_s: float = 0.0, progress: bool = False, should_stop=None, ddp=None,
                 identity: Optional[str] = None) -> PreparedCell:
    """Build one cell: data, seed, model, optimizer and scheduler, trainer, in that order.

    Parameters
    ----------
    dataset : str
        A node dataset (``"cora"``, ``"texas"``, ...: node classification, split ``seed % splits`` for graphs with
        several) or a graph-level one (``"sssp"``, ``"ring"``, ``"peptides-func"``, ...).
    preset : str
        A registered model (:data:`~dgl_ssm.models.PRESETS`).
    num_layers, seed : int
        Message-passing layers; the seed of everything (model weights, Λ and B, dropout, shuffling).
    protocol : TrainProtocol
        Checked for the dataset's level first (:meth:`TrainProtocol.check`).
    options : mapping, optional
        The preset's options (``block_options``, ``conv_options``, ...); the rewiring radius comes from
        ``protocol.max_hop`` (:func:`rewiring`).
    data : DataOptions
    param_budget : int, optional
        Graph cells: with ``fit_width_to_budget`` the width is the widest within the budget (up to ``max_hidden``;
        :func:`hidden_within_budget`); the row says whether the model is over it.
    device, run_dir, checkpoint_every_s, progress, should_stop, identity
        As for the :class:`~dgl_ssm.train.Trainer`; with a ``run_dir`` an interrupted cell resumes exactly (from a
        checkpoint of the same ``identity`` only).
    ddp : dgl_ssm.train.distributed.DistInfo, optional
        Under torchrun: the model is wrapped and each rank trains on its shard (graph cells only).

    Raises
    ------
    ValueError
        A protocol value that does not apply to the level, a k-hop preset in a node cell, a model radius that
        differs from the data's (:func:`rewiring`), or a budget that even the narrowest model exceeds.

    Examples
    --------
    A kGCN-SSM on RingTransfer (rings of 10 nodes, rewired to max_hop 2) as a study cell builds it, trained for two
    epochs:

    >>> from dgl_ssm.train import load_protocol
    >>> protocol = load_protocol("ring", epochs=2, max_hop=2)
    >>> cell = prepare_cell("ring", "kgcn-ssm", 5, 0, protocol, data=DataOptions(ring_size=10, ring_graphs=100))
    >>> cell.row["params"] == sum(p.numel() for p in cell.model.parameters())
    True
    >>> cell.trainer.fit().epochs_run
    2
    >>> prepare_cell("cora", "kgcn-ssm", 5, 0, load_protocol("kipf2017"))
    Traceback (most recent call last):
    ...
    ValueError: model 'kgcn-ssm' reads k-hop rings (edata['hop']), which node cells do not build; ...
    """
    from ..models import PRESETS, lookup

    level = _level_of(dataset)
    protocol.check(level)
    data = data.for_dataset(dataset)  # a data field of another kind of dataset is refused before anything is built
    if level == "node":
        if lookup(PRESETS, "model", preset).needs_hop_edges:
            raise ValueError(f"model {preset!r} reads k-hop rings (edata['hop']), which node cells do not build; "
                             "train it on a graph-level task")
        if ddp is not None and ddp.enabled:
            raise ValueError("node cells train on one graph in one process: DDP is for graph cells")
        return _prepare_node(dataset, preset, num_layers, seed, protocol, options, data, device, run_dir,
                             checkpoint_every_s, progress, should_stop, identity)
    from .graph import GraphTask

    rewire, options = rewiring(preset, options, protocol.max_hop)
    datasets, info = graph_datasets(dataset, data, rewire)
    hidden, row = protocol.hidden, {}

    def build(h):
        return build_cell_model(preset, num_layers, seed, protocol, info, options, h)

    if param_budget and fit_width_to_budget:
        hidden = hidden_within_budget(build, param_budget, high=max_hidden)
        row["hidden"] = hidden
    model = build(hidden).to(device)
    params = count_parameters(model)
    if param_budget:
        row["over_budget"] = params > param_budget
    use_ddp = ddp is not None and ddp.enabled
    if use_ddp:  # each rank trains on its shard of the training graphs; metrics on every rank's predictions
        from .distributed import wrap_ddp

        model = wrap_ddp(model, ddp)
    task = GraphTask.for_datasets(datasets, batch_size=protocol.batch_size, device=device, ddp=use_ddp)
    trainer = make_trainer(model, task, protocol, run_dir=run_dir, resume=run_dir is not None,
                           checkpoint_every_s=checkpoint_every_s, progress=progress, should_stop=should_stop,
                           is_main_process=ddp is None or ddp.is_main, identity=identity)
    return PreparedCell(model, task, trainer, {"params": params, **row})


def _prepare_node(dataset, preset, num_layers, seed, protocol, options, data, device, run_dir, checkpoint_every_s,
                  progress, should_stop, identity) -> PreparedCell:
    from ..data import load_node_graph, node_task_info, split_for_seed
    from .node import NodeClassificationTask

    data = data.for_dataset(dataset)
    graph = load_node_graph(dataset, split=split_for_seed(dataset, seed), root=data.root, data_dir=data.data_dir,
                            normalize_features=data.normalize_features)
    model = build_cell_model(preset, num_layers, seed, protocol, node_task_info(graph), options,
                             level="node").to(device)
    task = NodeClassificationTask(graph, device)
    trainer = make_trainer(model, task, protocol, run_dir=run_dir, resume=run_dir is not None,
                           checkpoint_every_s=checkpoint_every_s, progress=progress, should_stop=should_stop,
                           identity=identity)
    return PreparedCell(model, task, trainer, {"params": count_parameters(model)}, graph=task.graph)


def fit_cell(dataset: str, preset: str, num_layers: int, seed: int, protocol: TrainProtocol, *,
             profile_rows: Optional[list] = None, gradient_rows: Optional[list] = None,
             history_path: Optional[Path] = None, model_path: Optional[Path] = None, **prepare) -> dict:
    """Train one cell (:func:`prepare_cell` with ``prepare``'s keywords) and return its record row.

    A run that diverges is a row with ``status="diverged"`` (:meth:`~dgl_ssm.train.Trainer.fit` with
    ``on_divergence="record"``). Node cells: with ``gradient_rows``, the gradient flow of the model as initialised
    is appended to it; with ``protocol.layer_profile`` and ``profile_rows``, the trained model's per-layer
    Dirichlet energy and feature norm. Graph cells: the per-epoch history goes to ``history_path``. With
    ``model_path``, the trained model as its test metric was computed (:func:`~dgl_ssm.train.trained.save_trained`).

    Returns
    -------
    dict
        ``params`` (and ``hidden`` / ``over_budget`` with a budget), then :meth:`FitResult.summary`.

    Raises
    ------
    TrainingInterrupted
        When ``should_stop`` gave a reason (the checkpoint of that epoch is in ``run_dir``).

    Examples
    --------
    >>> from dgl_ssm.train import load_protocol
    >>> row = fit_cell("ring", "gcn-ssm", 5, 0, load_protocol("ring", epochs=2),
    ...                data=DataOptions(ring_size=10, ring_graphs=100))
    >>> row["status"], row["epochs_run"], "test_accuracy" in row
    ('ok', 2, True)
    """
    from .._io import write_csv

    cell = prepare_cell(dataset, preset, num_layers, seed, protocol, **prepare)
    if gradient_rows is not None and cell.graph is not None:  # the model as initialised; draws no random numbers
        gradient_rows.extend(gradients_at_init(copy.deepcopy(cell.model), cell.graph))
    fit = cell.trainer.fit(on_divergence="record")
    if cell.graph is not None and protocol.layer_profile and profile_rows is not None and fit.status == "ok":
        profile_rows.extend(layer_profile(cell.model, cell.graph))
    if history_path is not None and fit.history and cell.trainer.is_main:
        write_csv(history_path, fit.history)
    if model_path is not None and cell.trainer.is_main:
        from .trained import save_trained
        from .trainer import unwrap

        save_trained(model_path, unwrap(cell.model), identity=prepare.get("identity"), best_epoch=fit.best_epoch,
                     status=fit.status)
    return {**cell.row, **fit.summary()}


def gradients_at_init(model: torch.nn.Module, graph) -> list:
    r"""Gradient flow (:func:`dgl_ssm.analysis.gradient_flow`) of the training cross-entropy of a fresh node classifier.

    Eval mode (no dropout). One row per layer ``0..L``: ``grad_norm``
    (:math:`\|\partial L / \partial W_\ell\|`, NaN for layer 0) and the
    statistics of the backpropagated error :math:`\partial L / \partial H_\ell`.
    """
    import torch.nn.functional as F

    from ..analysis import gradient_flow

    model.eval()
    mask, label = graph.ndata["train_mask"].bool(), graph.ndata["label"]
    table = gradient_flow(model, graph, graph.ndata["feat"], lambda out: F.cross_entropy(out[mask], label[mask]))
    return table.to_dict("records")


@torch.no_grad()
def layer_profile(model, graph) -> list:
    """Dirichlet energy and ``‖H‖_F`` of every layer's node states of a trained model (eval mode)."""
    from ..analysis import dirichlet_energy, feature_norm

    model.eval()
    states = model.hidden_states(graph, graph.ndata["feat"])
    return [{"layer": i, "dirichlet_energy": float(dirichlet_energy(graph, h)), "feature_norm": float(feature_norm(graph, h))}
            for i, h in enumerate(states)]
