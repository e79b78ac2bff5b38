"""A study's own cells as they start training (``diagnostic.kind: study_init``): each model entry at its width, options
and seed, its forward signal per layer on real graphs and its first step's loss. Configuration and dispatch are
:mod:`dgl_ssm.studies.diagnostics`'s.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from ..experiment import write_csv

__all__ = ["run_study_init", "study_of", "input_graph", "sensitivity_rows"]


def input_graph(graph):
    """The input graph of a rewired graph (or batch): its edges at shortest-path distance 1 (``edata['hop'] == 1``),
    every node kept; a graph without ``'hop'`` as it is. The Dirichlet energy of :func:`run_study_init` is over these
    edges (a molecule's bonds), the same for every model, whatever rings a model reads."""
    if "hop" not in graph.edata:
        return graph
    import dgl

    return dgl.remove_edges(graph, torch.nonzero(graph.edata["hop"] != 1).flatten())


def record_of(d) -> Path:
    """The record whose trained models ``study_init`` measures with ``trained``: ``d.record``, else
    ``results/<d.study>``."""
    return Path(d.record) if d.record else Path("results") / str(d.study)


def study_of(d):
    """The study that ``study_init`` measures: the packaged ``d.study``; with ``d.trained``, as its record
    (:func:`record_of`) holds it.

    Raises
    ------
    dgl_ssm.studies.schema.ConfigError
        If ``d.study`` names no packaged study, ``d.graphs[0]`` is not one of its datasets, ``d.record`` is given
        without ``d.trained``, or (with ``d.trained``) the folder holds no record of ``d.study``, or no trained model.
    """
    from .provenance import packaged_study, record_study
    from .schema import ConfigError

    study = packaged_study(d.study or "")
    if study is None:
        raise ConfigError(f"diagnostic.study={d.study!r} is not a study of dgl_ssm/conf/study/; name one, e.g. "
                          "diagnostic.study=lrgb_seed")
    if d.record and not d.trained:
        raise ConfigError(f"diagnostic.record={d.record}: a record's trained models are measured with "
                          "diagnostic.trained=true; add it, or drop diagnostic.record")
    if d.trained:
        folder = record_of(d)
        if not (folder / "provenance.json").is_file():
            raise ConfigError(f"diagnostic.record={folder}: no record there (provenance.json is missing); pass the "
                              f"folder a sitting of {d.study} recorded into")
        study = record_study(folder)
        if study.name != d.study:
            raise ConfigError(f"diagnostic.record={folder} is a record of study {study.name}, not {d.study}")
        if not any((folder / ".models").glob("*.pt")):
            raise ConfigError(f"{folder / '.models'} holds no trained model: run the study's cells with "
                              "keep_models=true to keep them")
    dataset = d.graphs[0] if d.graphs else None
    if dataset not in study.datasets:
        raise ConfigError(f"diagnostic.graphs=[{dataset or ''}]: study {study.name} has datasets {list(study.datasets)}; "
                          f"pass one of them, e.g. diagnostic.graphs=[{study.datasets[0]}]")
    if d.trained and not _kept(d, study, dataset)[0]:
        raise ConfigError(f"{record_of(d)} has no trained model of a recorded cell of {dataset}, seed {d.seed} (status "
                          f"ok): pass diagnostic.seed=<a seed whose models were kept>, or record its cells with "
                          "keep_models=true")
    return study


def _kept(d, study, dataset):
    """The record's recorded cells of ``dataset`` and ``d.seed``, with and without a kept model
    (:func:`~dgl_ssm.studies.trained.kept_models`)."""
    from ..report import read_csv
    from .trained import kept_models

    folder = record_of(d)
    rows = read_csv(folder / "results.csv") if (folder / "results.csv").is_file() else []
    return kept_models(folder, study, rows, dataset, d.seed)


def _first_graphs(task, count: int, device):
    """``(batch, labels)`` of the validation split's first ``count`` graphs (all, if it has fewer), one batch."""
    ds = task.datasets["val"]
    graph, labels = ds.collate([ds[i] for i in range(min(count, len(ds)))])
    return graph.to(device), labels


def _first_step(prepared, count: int, device):
    """``(graph, features, loss)`` of a cell's first training step, ``loss(model)`` its forward pass: a graph cell's
    first ``count`` validation graphs as one batch and its task's loss; a node cell's whole graph and its training
    nodes' cross-entropy."""
    import torch.nn.functional as F

    task = prepared.task
    if hasattr(task, "datasets"):
        batch = _first_graphs(task, count, device)
        graph = batch[0]
        return graph, graph.ndata[task.feat_key], lambda model: task.loss_fn(*task.predict(model, batch))
    train = task.masks["train"]
    return task.graph, task.feat, lambda model: F.cross_entropy(model(task.graph, task.feat)[train], task.label[train])


class _Propagate(torch.nn.Module):
    """A model's layers alone, ``(graph, H^(0)) -> H^(L)``: the map whose sensitivity :func:`sensitivity_rows` takes."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, graph, h):
        return self.model.propagate(graph, h)


def sensitivity_rows(prepared, model, count: int, seed: int, device, hold_batch_statistics: bool = True) -> list:
    r"""Over-squashing at a cell's start: :math:`\lVert \partial h_v^{(L)} / \partial h_u^{(0)} \rVert_F` (the
    layers' Jacobian from the encoder's output to the last layer's states, :func:`~dgl_ssm.analysis.sensitivity`)
    for the targets :math:`v` = node 0 of each of the first ``count`` validation graphs, batched together, against
    every node :math:`u`; mean, max and pair count by shortest-path distance :math:`d(u, v)` over the input graph's
    edges (:func:`~dgl_ssm.analysis.sensitivity_by_distance`; ``-1``: another graph of the batch). The map is the
    model's at these graphs' batch statistics, held fixed (batch norm's statistics taken from one training-mode pass
    over them, then the model in eval mode, without dropout): with the statistics a function of every node, a
    training-mode Jacobian would join every pair of nodes of the batch, and a 5-layer model would reach across a
    molecule of 90 bonds. So the sensitivity is exactly 0 beyond a model's receptive field. ``model`` is left in
    eval mode with those statistics. Without ``hold_batch_statistics`` (a trained model) the model is measured in eval
    mode as it is, with its own running statistics.
    """
    from ..analysis import sensitivity, sensitivity_by_distance

    graph = _first_graphs(prepared.task, count, device)[0]
    targets = torch.cumsum(graph.batch_num_nodes(), 0).roll(1)
    targets[0] = 0
    feat = graph.ndata[prepared.task.feat_key]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        if hold_batch_statistics:
            for m in norms:  # one pass sets the running statistics to this batch's (momentum 1), then they are held
                m.momentum = 1.0
            torch.manual_seed(seed)
            model.train().hidden_states(graph, feat)
        h0 = model.eval().encode(graph, feat)
    sens = sensitivity(_Propagate(model), graph, h0, targets.tolist())
    return sensitivity_by_distance(sens, input_graph(graph).cpu(), targets.tolist()).to_dict("records")


def _cells(d, study, dataset, device, data_root, data_dir, log):
    """``(model key, its spec, setting, prepared cell)`` of every cell measured: each model entry at each of its
    settings, as its cell of seed ``d.seed`` starts training; with ``d.trained``, each cell of that seed the record
    holds (status ok) with its trained model (:func:`~dgl_ssm.studies.trained.trained_cell`), and a line for each
    recorded cell whose model was not kept."""
    from dataclasses import replace

    from ..train.cell import dataset_kind, prepare_cell
    from .cells import cell_arguments
    from .schema import runs_at, runs_on
    from .trained import trained_cell

    # Peptides: build the cells on the graphs measured only (generated tasks and rings are built whole, and cheaply)
    limit = d.batch_graphs if dataset_kind(dataset) == "peptides" else None
    if d.trained:  # a cell whose model was not kept is named and skipped; any other error is raised
        kept, missing = _kept(d, study, dataset)
        for cell in missing:
            log(f"  {cell['model']} ({cell[study.setting_name]}): no trained model kept, not measured")
        for cell in kept:
            prepared = trained_cell(record_of(d), cell, device, data_root, data_dir, limit=limit)
            yield cell["model"], study.models[cell["model"]], cell[study.setting_name], prepared
        return
    for key, spec in study.models.items():
        for setting in [s for s in study.settings if runs_at(spec, s)] if runs_on(spec, dataset) else []:
            cell = {"model": key, "dataset": dataset, study.setting_name: setting, "seed": d.seed}
            args, options = cell_arguments(study, cell, data_root, data_dir)
            if limit is not None:
                options["data"] = replace(options["data"], limit=limit)
            yield key, spec, setting, prepare_cell(*args, **options, device=device)


def run_study_init(d, out: Path, device, data_root, data_dir, log) -> list:
    """The forward signal of a study's own cells at initialization: every model entry of ``d.study`` on dataset
    ``graphs[0]``, at each of its settings, built exactly as the study's cell of seed ``d.seed`` starts training
    (:func:`~dgl_ssm.studies.cells.cell_arguments`, :func:`~dgl_ssm.train.cell.prepare_cell`: the preset's options,
    width and initialisation), in training mode without gradients (the forward pass of a first training step: batch
    norm normalises with the batch's statistics, in eval mode its initial running statistics would make it the
    identity; dropout as the protocol sets it, drawn with seed ``d.seed``). A graph-level study's cells see the
    validation split's first ``batch_graphs`` graphs as one batch (for Peptides only those graphs of each split are
    made), a node-level one's the whole graph. Per layer (0 is the
    encoder's output): ``‖H‖_F``, the mean node-state norm, the Dirichlet energy over the input graph's edges
    (:func:`input_graph`) and ``E(H)/‖H‖²`` (``layers.csv``, ``study_init.png``); per cell the task's loss (the
    batch's, or the training nodes'; ``summary.csv``: what the first training step starts from). With
    ``sensitivity_graphs`` (graph-level studies), each cell's over-squashing too (:func:`sensitivity_rows`,
    ``sensitivity.csv``, ``sensitivity.png``). With ``trained``, the same of the trained models a record kept
    (``keep_models=true``; the record ``record``, else ``results/<study>``), in eval mode (:func:`_cells`).

    Checked before (:func:`study_of`, by ``validate``): ``d.study`` is a packaged study and ``graphs[0]`` one of its
    datasets.
    """
    from ..analysis import dirichlet_energy, feature_norm

    study, dataset = study_of(d), d.graphs[0]
    rows, names, summary, sens = [], [], [], []
    for key, spec, setting, prepared in _cells(d, study, dataset, device, data_root, data_dir, log):
        graph, feat, first_loss = _first_step(prepared, d.batch_graphs, device)
        # at initialization the forward pass of a first training step (batch norm with the batch's statistics);
        # a trained model as it is used (eval mode: its running statistics, no dropout)
        model = prepared.model.eval() if d.trained else prepared.model.train()
        with torch.no_grad():
            torch.manual_seed(d.seed)
            states = model.hidden_states(graph, feat)
            torch.manual_seed(d.seed)
            loss = float(first_loss(model))
        base, name = input_graph(graph), f"{spec.label or key} ({setting})"
        names.append(name)
        summary.append({"model": key, "label": name, study.setting_name: setting,
                        "loss" if d.trained else "initial_loss": loss,
                        "encoder_norm": float(states[0].norm(dim=1).mean()),
                        "last_norm": float(states[-1].norm(dim=1).mean())})
        if d.sensitivity_graphs:
            sens += [{"model": key, "label": name, study.setting_name: setting, **r}
                     for r in sensitivity_rows(prepared, model, d.sensitivity_graphs, d.seed, device,
                                               hold_batch_statistics=not d.trained)]
        for layer, h in enumerate(states):
            norm, energy = float(feature_norm(base, h)), float(dirichlet_energy(base, h))
            rows.append({"model": key, "label": name, study.setting_name: setting, "layer": layer,
                         "nodes": graph.num_nodes(), "feature_norm": norm,
                         "mean_node_norm": float(h.norm(dim=1).mean()), "dirichlet_energy": energy,
                         "relative_energy": energy / norm**2 if norm > 0 else math.nan})
    write_csv(out / "layers.csv", rows)
    write_csv(out / "summary.csv", summary)
    when = "trained" if d.trained else "at initialization"
    title = f"{study.name}, {dataset}, seed {d.seed}, {when}"
    _plot_study_init(rows, names, out / "study_init.png", title)
    if sens:
        write_csv(out / "sensitivity.csv", sens)
        _plot_sensitivity(sens, names, out / "sensitivity.png", title)
    seen = f"the first {d.batch_graphs} validation graphs" if study.kind == "graph" else "the graph"
    log(f"{study.name} on {dataset} {when} (seed {d.seed}, {rows[0]['nodes'] if rows else 0} nodes of {seen}): mean "
        f"node-state norm at the encoder and after the last layer, and the {'loss' if d.trained else 'first step' + chr(39) + 's loss'}")
    for row in summary:
        loss = row["loss" if d.trained else "initial_loss"]
        log(f"  {row['label']:80s} {row['encoder_norm']:10.3g} {row['last_norm']:10.3g} {loss:10.4g}")
    return rows


def _plot_study_init(rows: list, names: list, path, title: str) -> None:
    import matplotlib.pyplot as plt  # the caller chooses the backend; files only here

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name in names:
        part = [r for r in rows if r["label"] == name]
        for ax, key in zip(axes, ("mean_node_norm", "dirichlet_energy")):
            ax.plot([r["layer"] for r in part], [max(r[key], 1e-30) for r in part], marker=".", label=name)
    for ax, label in zip(axes, ("mean ‖h_v‖", "Dirichlet energy (input graph's edges)")):
        ax.set(yscale="log", xlabel="layer (0: encoder output)", ylabel=label)
    axes[0].set_title(title, fontsize=9)
    axes[1].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_sensitivity(rows: list, names: list, path, title: str) -> None:
    import matplotlib.pyplot as plt  # the caller chooses the backend; files only here

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in names:
        part = [r for r in rows if r["label"] == name and r["distance"] >= 0]
        ax.plot([r["distance"] for r in part], [max(r["mean"], 1e-30) for r in part], marker=".", label=name)
    ax.set(yscale="log", xlabel="shortest-path distance d(u, v) (input graph)",
           ylabel="mean ‖∂h_v^(L) / ∂h_u^(0)‖ (1e-30: zero)", title=title)
    ax.title.set_fontsize(9)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
