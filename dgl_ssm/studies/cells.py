"""Train one cell of a study: typed arguments in, one result row out (no command line, no Namespace)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Optional

import torch

__all__ = ["Cell", "node_cell", "graph_cell", "slug"]


class Cell(dict):
    """The key of one cell: ``{"model": label, "dataset": name, <setting_name>: value, "seed": int}``."""


def slug(cell: Dict) -> str:
    """A file-name-safe name of a cell."""
    return re.sub(r"[^A-Za-z0-9.=_+-]+", "_", "-".join(f"{v}" for v in cell.values()))


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def node_cell(study, cell: Dict, device, data_root=None, data_dir=None, profile_rows: Optional[list] = None) -> dict:
    """Node classification: :func:`~dgl_ssm.train.fit_node_classifier` on ``cell["dataset"]``.

    Geom-GCN graphs use split ``seed % 10`` (Cora and CiteSeer have one
    standard split). A run that diverges is a row with ``status="diverged"``.
    """
    from ..data import load_node_graph
    from ..experiment import seed_everything  # noqa: F401  (fit_node_classifier seeds)
    from .schema import protocol_for, to_container
    from ..train import fit_node_classifier

    spec, train = study.models[cell["model"]], protocol_for(study, cell["model"])
    name = cell["dataset"]
    split = cell["seed"] % 10 if name in ("texas", "cornell", "wisconsin") else 0
    graph = load_node_graph(name, split=split, root=data_root, data_dir=data_dir)
    model, fit = fit_node_classifier(
        graph, spec.preset, cell[study.setting_name], cell["seed"], hidden=train.hidden, lr=train.lr,
        weight_decay=train.weight_decay, dropout=train.dropout, max_epochs=train.epochs, patience=train.patience,
        device=device, on_divergence="record", **to_container(spec.options),
    )
    if profile_rows is not None and fit.status == "ok":
        profile_rows.extend({**cell, **row} for row in layer_profile(model, graph.to(device)))
    return {"params": _count(model), **fit.summary()}


@torch.no_grad()
def layer_profile(model, graph) -> list:
    """Dirichlet energy and ``‖H‖_F`` of every layer's node states of a trained model (eval mode)."""
    from ..analysis import dirichlet_energy, feature_norm

    model.eval()
    states = model.hidden_states(graph, graph.ndata["feat"])
    return [{"layer": i, "dirichlet_energy": float(dirichlet_energy(graph, h)), "feature_norm": float(feature_norm(graph, h))}
            for i, h in enumerate(states)]


_GRAPH_DATA: Dict[tuple, dict] = {}  # per process: (task, sizes, max_hop, root) -> datasets


def graph_datasets(task: str, sizes, max_hop: Optional[int], root=None) -> dict:
    """Graph property splits (seed 0 data), k-hop rewired (cached pre-transform) when ``max_hop`` is given."""
    from ..data import GraphPropertyDataset
    from ..transforms import KHopRewire

    key = (task, tuple(sizes), max_hop, str(root))
    if key not in _GRAPH_DATA:
        pre = KHopRewire(max_hop) if max_hop else None
        _GRAPH_DATA[key] = {s: GraphPropertyDataset(task, s, seed=0, root=root, sizes=tuple(sizes), pre_transform=pre)
                            for s in ("train", "val", "test")}
    return _GRAPH_DATA[key]


def build_graph_cell_model(study, cell: Dict, in_feats: int, out_feats: int, readout):
    """The model of a graph-level cell, built exactly as the graph recipes build it (same RNG draws)."""
    from ..experiment import seed_everything
    from ..models import PRESETS, build_model, needs_hop_edges
    from .schema import protocol_for, to_container

    spec, train = study.models[cell["model"]], protocol_for(study, cell["model"])
    options = dict(activation=train.activation, dropout=train.dropout, readout=readout, encoder=None)
    extra = to_container(spec.options)
    if PRESETS[spec.preset].get("block") == "ssm":
        options["block_options"] = {"seed": cell["seed"], **extra.pop("block_options", {})}
    if needs_hop_edges(spec.preset):
        if PRESETS[spec.preset].get("conv") == "khop":
            options["conv_options"] = {"max_hop": train.max_hop, **extra.pop("conv_options", {})}
        else:
            options["max_hop"] = train.max_hop
    options.update(extra)
    seed_everything(cell["seed"])
    return build_model(spec.preset, in_feats, train.hidden, out_feats, cell[study.setting_name], **options)


def graph_cell(study, cell: Dict, device, run_dir: Path, data_root=None, history_path: Optional[Path] = None) -> dict:
    """Graph property prediction (diameter: graph level, max readout; SSSP, eccentricity: node level).

    Checkpoints go to ``run_dir`` (resumed after an interruption); the
    per-epoch history is written to ``history_path``.
    """
    from ..experiment import write_csv
    from ..models import needs_hop_edges
    from ..train import GraphTask, Trainer, make_optimizer, make_scheduler
    from .schema import protocol_for

    spec, train = study.models[cell["model"]], protocol_for(study, cell["model"])
    datasets = graph_datasets(cell["dataset"], study.sizes, train.max_hop if needs_hop_edges(spec.preset) else None, data_root)
    readout = None if datasets["train"].level == "node" else "max"
    model = build_graph_cell_model(study, cell, 2, 1, readout).to(device)
    task = GraphTask.for_datasets(datasets, batch_size=train.batch_size, device=device, self_loop=True)
    optimizer = make_optimizer(model, train.optimizer, lr=train.lr, weight_decay=train.weight_decay)
    scheduler = make_scheduler(optimizer, train.scheduler, max_epochs=train.epochs)
    trainer = Trainer(model, task, optimizer, scheduler, max_epochs=train.epochs, patience=train.patience,
                      run_dir=run_dir, resume=True, progress=False)
    fit = trainer.fit(on_divergence="record")
    if history_path is not None and fit.history:
        write_csv(history_path, fit.history)
    return {"params": _count(model), **fit.summary()}
