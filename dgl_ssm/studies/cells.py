"""Train one cell of a study: typed arguments in, one result row out (no command line, no Namespace)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch

__all__ = ["Cell", "node_cell", "graph_cell", "slug"]


class Cell(dict):
    """The key of one cell: ``{"model": label, "dataset": name, <setting_name>: value, "seed": int}``."""


def slug(cell: Dict) -> str:
    """A file-name-safe name of a cell."""
    return re.sub(r"[^A-Za-z0-9.=_+-]+", "_", "-".join(f"{v}" for v in cell.values()))


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def node_cell(study, cell: Dict, device, data_root=None, data_dir=None, profile_rows: Optional[list] = None,
              gradient_rows: Optional[list] = None, run_dir: Optional[Path] = None, checkpoint_every_s: float = 0.0,
              progress: bool = False, should_stop=None) -> dict:
    """Node classification: :func:`~dgl_ssm.train.fit_node_classifier` on ``cell["dataset"]``.

    With ``run_dir``, checkpoints go there (at most one per ``checkpoint_every_s``) and an interrupted cell
    continues from them. ``progress``: a tqdm bar over the epochs (stderr). ``should_stop``: asked after every
    epoch; a reason stops the cell there (:class:`~dgl_ssm.train.TrainingInterrupted`, its checkpoint written).

    Geom-GCN graphs use split ``seed % 10`` (Cora and CiteSeer have one
    standard split). A run that diverges is a row with ``status="diverged"``.
    With ``gradient_rows``, the gradient flow of the model as initialised
    (the same weights the training starts from) is appended to it.
    """
    import copy

    from ..data import load_node_graph, split_for_seed
    from ..train import build_node_classifier, fit_node_classifier
    from .schema import protocol_for, to_container

    spec, train = study.models[cell["model"]], protocol_for(study, cell["model"])
    name = cell["dataset"]
    graph = load_node_graph(name, split=split_for_seed(name, cell["seed"]), root=data_root, data_dir=data_dir,
                            normalize_features=study.normalize_features)
    options = {"activation": train.activation, **to_container(spec.options)}
    model = build_node_classifier(graph, spec.preset, cell[study.setting_name], cell["seed"], hidden=train.hidden,
                                  dropout=train.dropout, **options).to(device)
    if gradient_rows is not None:  # the model as initialised; gradient_flow draws no random numbers
        gradient_rows.extend({**cell, **row} for row in gradients_at_init(copy.deepcopy(model), graph.to(device)))
    model, fit = fit_node_classifier(
        graph, model, lr=train.lr, weight_decay=train.weight_decay, max_epochs=train.epochs, patience=train.patience,
        device=device, on_divergence="record", monitor=train.monitor,
        weight_decay_groups=to_container(train.weight_decay_groups), run_dir=run_dir, checkpoint_every_s=checkpoint_every_s,
        progress=progress, should_stop=should_stop,
    )
    if profile_rows is not None and fit.status == "ok":
        profile_rows.extend({**cell, **row} for row in layer_profile(model, graph.to(device)))
    return {"params": _count(model), **fit.summary()}


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


_GRAPH_DATA: Dict[tuple, dict] = {}  # per process: datasets by what determines them


def layers_of(study, cell: Dict) -> int:
    """Message-passing layers of a cell: the setting, or ``n // 2`` for a RingTransfer ring of ``n`` nodes."""
    setting = int(cell[study.setting_name])
    return max(1, setting // 2) if cell["dataset"] == "ring" else setting


def graph_datasets(study, cell: Dict, max_hop: Optional[int], root=None, data_dir=None) -> Tuple[dict, "TaskInfo"]:
    """``({"train", "val", "test"}: dataset, task_info)`` of a graph-level cell.

    Graph property tasks use the seed-0 generated data of ``study.sizes``;
    ``ring`` the RingTransfer graphs of ``cell``'s ring size; Peptides the
    official splits (the first ``study.limit`` graphs of each, if set). Every
    graph gets one self-loop per node, and with ``max_hop`` it is k-hop rewired
    first: one cached pre-transform (:class:`~dgl_ssm.data.ComposePreTransform`).
    What the model needs (input size, targets, readout, encoder) comes from the
    datasets' :class:`~dgl_ssm.data.TaskInfo`.
    """
    from ..data import (GRAPH_PROPERTY_TASKS, ComposePreTransform, GraphPropertyDataset, PeptidesDataset,
                        RingTransferDataset, self_loops)
    from ..transforms import KHopRewire

    name = cell["dataset"]
    pre = ComposePreTransform([KHopRewire(max_hop) if max_hop else None, self_loops()])
    splits = ("train", "val", "test")
    if name in GRAPH_PROPERTY_TASKS:
        key = (name, tuple(study.sizes), study.target_scale, max_hop, str(root))
        make = lambda: {s: GraphPropertyDataset(name, s, seed=0, root=root, sizes=tuple(study.sizes), pre_transform=pre,
                                                target_scale=study.target_scale) for s in splits}
    elif name == "ring":
        n = int(cell[study.setting_name])
        key = (name, n, study.ring_graphs, study.ring_classes, max_hop, str(root))
        make = lambda: {s: RingTransferDataset(n, study.ring_graphs, study.ring_classes, seed=0, split=s, root=root,
                                               pre_transform=pre) for s in splits}
    else:
        key = (name, study.limit, max_hop, str(root), str(data_dir))

        def make():
            cached = None if study.limit else pre  # a limited run transforms only the graphs it uses, uncached
            sets = {s: PeptidesDataset(name, s, root=root, data_dir=data_dir, pre_transform=cached).head(study.limit)
                    for s in splits}
            if study.limit:
                for ds in sets.values():
                    kept = ds.indices.tolist()
                    for i, graph in zip(kept, pre([ds.graphs[i] for i in kept])):
                        ds.graphs[i] = graph
            return sets
    if key not in _GRAPH_DATA:
        _GRAPH_DATA[key] = make()
    sets = _GRAPH_DATA[key]
    return sets, sets["train"].task_info


def build_graph_cell_model(study, cell: Dict, task, hidden: Optional[int] = None):
    """The model of a graph-level cell for ``task`` (a :class:`~dgl_ssm.data.TaskInfo`); the seed comes before the
    encoder, whose embeddings are the first random draws."""
    from ..experiment import seed_everything
    from ..models import PRESETS, build_model
    from .schema import protocol_for, to_container

    model_spec, train = study.models[cell["model"]], protocol_for(study, cell["model"])
    preset = PRESETS[model_spec.preset]
    hidden = train.hidden if hidden is None else hidden
    seed_everything(cell["seed"])
    options = dict(activation=train.activation, dropout=train.dropout, readout=task.readout,
                   encoder=task.build_encoder(hidden))
    extra = to_container(model_spec.options)
    if preset.state_space:
        options["block_options"] = {"seed": cell["seed"], **extra.pop("block_options", {})}
    options.update(preset.with_max_hop(extra, train.max_hop))
    return build_model(model_spec.preset, task.in_feats, hidden, task.num_targets, layers_of(study, cell), **options)


def hidden_within_budget(build, budget: int, low: int = 8, high: int = 1024) -> int:
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
    if _count(build(low)) > budget:
        raise ValueError(f"even hidden={low} exceeds the budget of {budget:,} parameters")
    while low < high:
        mid = (low + high + 1) // 2
        if _count(build(mid)) <= budget:
            low = mid
        else:
            high = mid - 1
    return low


def graph_cell(study, cell: Dict, device, run_dir: Path, data_root=None, history_path: Optional[Path] = None,
               data_dir=None, info=None, checkpoint_every_s: float = 0.0, progress: bool = False,
               should_stop=None) -> dict:
    """Graph property prediction (diameter: graph level, max readout; SSSP, eccentricity: node level).

    Checkpoints go to ``run_dir`` (resumed after an interruption); the
    per-epoch history is written to ``history_path``; ``progress``: a tqdm bar
    over the epochs (stderr); ``should_stop``: as for :func:`node_cell`.
    """
    from .._io import write_csv
    from ..models import needs_hop_edges
    from ..train import GraphTask, Trainer, make_optimizer, make_scheduler
    from .schema import protocol_for, to_container

    model_spec, train = study.models[cell["model"]], protocol_for(study, cell["model"])
    datasets, task_info = graph_datasets(study, cell, train.max_hop if needs_hop_edges(model_spec.preset) else None,
                                         data_root, data_dir)
    hidden, row = train.hidden, {}
    if study.param_budget and "hidden" not in to_container(model_spec.train):
        hidden = hidden_within_budget(lambda h: build_graph_cell_model(study, cell, task_info, h), study.param_budget,
                                      high=study.max_hidden)
        row["hidden"] = hidden
    model = build_graph_cell_model(study, cell, task_info, hidden).to(device)
    if study.param_budget:
        row["over_budget"] = _count(model) > study.param_budget
    params = _count(model)
    ddp = info is not None and info.enabled
    if ddp:  # each rank trains on its shard of the training graphs; metrics are computed on every rank's predictions
        from ..train.distributed import wrap_ddp

        model = wrap_ddp(model, info)
    task = GraphTask.for_datasets(datasets, batch_size=train.batch_size, device=device, ddp=ddp)
    optimizer = make_optimizer(model, train.optimizer, lr=train.lr, weight_decay=train.weight_decay,
                               weight_decay_groups=to_container(train.weight_decay_groups))
    scheduler = make_scheduler(optimizer, train.scheduler, max_epochs=train.epochs)
    main = info is None or info.is_main
    trainer = Trainer(model, task, optimizer, scheduler, max_epochs=train.epochs, patience=train.patience,
                      run_dir=run_dir, resume=True, progress=progress, is_main_process=main, monitor=train.monitor,
                      checkpoint_every_s=checkpoint_every_s, should_stop=should_stop)
    fit = trainer.fit(on_divergence="record")
    if history_path is not None and fit.history and main:
        write_csv(history_path, fit.history)
    return {"params": params, **row, **fit.summary()}
