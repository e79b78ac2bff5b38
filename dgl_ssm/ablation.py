"""Ablation suites: named grids of models x tasks x settings x seeds, run cell by cell, resumable.

A :class:`Suite` names its models (display label -> preset and options for
its cell runner), its tasks, one swept setting (depth, ring size, ...), its seeds and
the function that runs one :class:`Cell` and returns a result row.
:func:`run_suite` runs every cell that has no row in ``results.csv`` yet, so a
rerun with the same output folder continues where the last one stopped (the
training options are recorded in ``suite.json``; a rerun with other options is
refused, so one table never mixes differently trained cells), and
writes ``results.md``: one Markdown table of the mean ± std of the suite's
metric, rows by model and columns by task and setting.

``recipes/ablation.py --suite NAME`` is the command-line front end; the suites
are in :data:`SUITES`.

Examples
--------
>>> from dgl_ssm.ablation import SUITES, get_suite
>>> sorted(SUITES)
['depth', 'graphprop', 'peptides', 'ring']
>>> suite = get_suite("depth").variant(quick=True, settings=(2,), seeds=1, epochs=2)
>>> rows, table = run_suite(suite, "runs/ablation-depth")          # doctest: +SKIP
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .experiment import ResultTable, seed_everything, write_json
from .report import aggregate, markdown_table, plot_lines
from .train.recipe import count_parameters

__all__ = ["Cell", "Suite", "SuiteRun", "SUITES", "get_suite", "run_suite", "hidden_within_budget", "graph_runner"]


@dataclass(frozen=True)
class Cell:
    """One run of a suite: a model label, a task, a value of the swept setting and a seed."""

    model: str
    task: str
    setting: object
    seed: int

    def key(self, setting_name: str) -> dict:
        """The identifying columns of this cell's result row."""
        return {"model": self.model, "task": self.task, setting_name: self.setting, "seed": self.seed}


@dataclass(frozen=True)
class Suite:
    """A named ablation grid.

    Parameters
    ----------
    name, description : str
    models : mapping
        Display label -> ``(preset, options)``. The options are read by the
        cell runner: builder options of :func:`~dgl_ssm.models.build_model`
        for the depth suite, flag values of the graph recipes for
        :func:`graph_runner` suites.
    tasks : tuple of str
        Datasets or task names the cell runner understands.
    settings : tuple
        Values of the swept setting (depths, ring sizes, ...).
    setting_name : str
        Its column name (``"depth"``, ``"ring_size"``, ...).
    seeds : int
        Seeds per (model, task, setting): ``seed, seed + 1, ...``.
    metric : str
        Column of the result rows shown in the table (``"test_accuracy"``, ...).
    run_cell : callable
        ``run_cell(run: SuiteRun, cell: Cell) -> dict``: trains one cell and
        returns its metrics (the key columns are added by :func:`run_suite`).
    train : mapping
        Training options read by ``run_cell`` (epochs, lr, hidden, ...).
    quick : mapping
        Field overrides of the ``--quick`` variant; a ``"train"`` entry is
        merged into ``train`` key by key.
    metric_label : str
        Caption of the table (e.g. ``"test accuracy (%)"``).
    scale, digits : float, int
        Table values are ``scale * metric`` with ``digits`` decimals.
    finish : callable, optional
        ``finish(run: SuiteRun, rows) -> list of file names``: extra outputs
        (plots) written after the grid.
    """

    name: str
    description: str
    models: Mapping[str, Tuple[str, dict]]
    tasks: Tuple[str, ...]
    settings: Tuple
    setting_name: str
    seeds: int
    metric: str
    run_cell: Callable[["SuiteRun", Cell], dict]
    train: Mapping[str, object] = field(default_factory=dict)
    quick: Mapping[str, object] = field(default_factory=dict)
    metric_label: str = ""
    scale: float = 1.0
    digits: int = 1
    finish: Optional[Callable[["SuiteRun", list], list]] = None

    def variant(
        self,
        quick: bool = False,
        *,
        settings: Optional[Sequence] = None,
        seeds: Optional[int] = None,
        epochs: Optional[int] = None,
        models: Optional[Sequence[str]] = None,
        tasks: Optional[Sequence[str]] = None,
    ) -> "Suite":
        """This suite with the ``--quick`` overrides and then the given ones applied.

        Raises
        ------
        ValueError
            On a model label or task that the suite does not have (the message lists them).
        """
        suite = self
        if quick:
            changes = dict(self.quick)
            changes["train"] = {**self.train, **changes.get("train", {})}
            suite = dataclasses.replace(suite, **changes)
        changes = {}
        if settings:
            changes["settings"] = tuple(settings)
        if seeds:
            changes["seeds"] = int(seeds)
        if epochs:
            changes["train"] = {**suite.train, "epochs": int(epochs), "patience": min(int(epochs), int(suite.train.get("patience", epochs)))}
        if models:
            changes["models"] = {m: suite.models[m] for m in _known(models, suite.models, "model", self.name)}
        if tasks:
            changes["tasks"] = tuple(_known(tasks, suite.tasks, "task", self.name))
        return dataclasses.replace(suite, **changes)

    def cells(self, first_seed: int = 0) -> List[Cell]:
        """Every cell, task by task, setting by setting, model by model, seed by seed."""
        return [
            Cell(model, task, setting, seed)
            for task in self.tasks
            for setting in self.settings
            for model in self.models
            for seed in range(first_seed, first_seed + self.seeds)
        ]

    def check_models(self) -> None:
        """Raise ``ValueError`` naming the presets of this suite that are not registered (before anything runs)."""
        from .models import PRESETS

        missing = sorted({preset for preset, _ in self.models.values() if preset not in PRESETS})
        if missing:
            labels = [m for m, (preset, _) in self.models.items() if preset in missing]
            raise ValueError(
                f"suite {self.name!r} needs model presets that are not registered: {', '.join(missing)} "
                f"(models {', '.join(labels)}); choose the others with --models {' '.join(shlex.quote(m) for m in self.models if m not in labels)}"
            )

    def column(self, task: str, setting) -> str:
        """Table column label of a (task, setting) pair."""
        if len(self.settings) == 1:
            return task
        if len(self.tasks) == 1:
            return f"{self.setting_name}={setting}"
        return f"{task} {self.setting_name}={setting}"


def _known(names: Sequence[str], table, kind: str, suite: str) -> list:
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"suite {suite!r} has no {kind} {', '.join(map(repr, unknown))}; known: {', '.join(table)}")
    return list(names)


@dataclass
class SuiteRun:
    """What a cell runner gets: the suite, the output folder, the device, data locations and a cache.

    ``cached(key, make)`` returns ``make()`` once per ``key`` (datasets are loaded once per run);
    ``table(name, keys)`` opens an extra resumable CSV in the output folder.
    """

    suite: Suite
    dir: Path
    device: torch.device = torch.device("cpu")
    data_dir: Optional[os.PathLike] = None
    data_root: Optional[os.PathLike] = None
    progress: bool = False
    _cache: Dict[object, object] = field(default_factory=dict)
    _tables: Dict[str, ResultTable] = field(default_factory=dict)

    def cached(self, key, make: Callable[[], object]):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def table(self, name: str, keys: Sequence[str]) -> ResultTable:
        if name not in self._tables:
            self._tables[name] = ResultTable(self.dir / name, keys)
        return self._tables[name]


def run_suite(
    suite: Suite,
    out: os.PathLike,
    *,
    first_seed: int = 0,
    device="cpu",
    data_dir: Optional[os.PathLike] = None,
    data_root: Optional[os.PathLike] = None,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> Tuple[list, str]:
    """Run every cell of ``suite`` that has no row in ``out/results.csv``; write ``results.csv`` and ``results.md``.

    Parameters
    ----------
    suite : Suite
        Usually ``get_suite(name).variant(...)``.
    out : path
        Output folder; rerunning with the same folder skips finished cells.
    first_seed : int
        Seeds are ``first_seed, ..., first_seed + suite.seeds - 1``.
    device, data_dir, data_root, progress
        Passed to the cell runner through :class:`SuiteRun`.
    log : callable
        Receives one line per finished cell.

    Returns
    -------
    (list of dict, str)
        All rows of ``results.csv`` (also those of earlier runs) and the Markdown table.
    """
    from tqdm.auto import tqdm

    suite.check_models()
    run = SuiteRun(suite, Path(out), torch.device(device), data_dir, data_root, progress)
    run.dir.mkdir(parents=True, exist_ok=True)
    _check_same_training(suite, run.dir / "suite.json")
    results = ResultTable(run.dir / "results.csv", ("model", "task", suite.setting_name, "seed"))
    cells = suite.cells(first_seed)
    pending = [c for c in cells if not results.done(c.key(suite.setting_name))]
    if len(pending) < len(cells):
        log(f"{suite.name}: {len(cells) - len(pending)} of {len(cells)} cells already in {results.path}, skipped")
    for cell in tqdm(pending, desc=f"ablation {suite.name}", disable=not progress):
        row = {**cell.key(suite.setting_name), **suite.run_cell(run, cell)}
        results.add(row)
        log(f"{cell.model} | {suite.column(cell.task, cell.setting)} | seed {cell.seed}: {suite.metric} = {row.get(suite.metric)}")
    wanted = {tuple(str(v) for v in c.key(suite.setting_name).values()) for c in cells}
    rows = [r for r in results.rows if results.key(r) in wanted]
    table = results_table(suite, rows)
    (run.dir / "results.md").write_text(table + "\n")
    if suite.finish is not None:
        suite.finish(run, rows)
    return results.rows, table


def _check_same_training(suite: Suite, path: Path) -> None:
    """Record the suite's training options; refuse to mix cells trained with other options into one table."""
    current = json.loads(json.dumps({"suite": suite.name, "train": dict(suite.train)}, default=str))
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous != current:
            old, new = previous["train"], current["train"]
            changed = ", ".join(f"{k}: {old.get(k)} -> {new.get(k)}" for k in sorted({*old, *new}) if old.get(k) != new.get(k))
            raise ValueError(
                f"{path.parent} holds results of suite {previous['suite']!r} trained with other options "
                f"({changed or 'another suite'}); "
                "use a new --out (or the same flags as before) so that every cell of the table is trained alike"
            )
    else:
        write_json(path, current)


def results_table(suite: Suite, rows: Sequence[Mapping]) -> str:
    """Caption and Markdown table of ``suite.metric`` (mean ± std over seeds), rows by model, columns by task/setting."""
    labelled = [{**r, "column": suite.column(r["task"], r[suite.setting_name])} for r in rows]
    columns = [suite.column(t, s) for t in suite.tasks for s in suite.settings]
    table = markdown_table(labelled, "model", "column", suite.metric, scale=suite.scale, digits=suite.digits, row_order=list(suite.models), col_order=columns)
    seeds = {r["seed"] for r in rows}
    caption = f"{suite.description}: {suite.metric_label or suite.metric}, mean ± std over {len(seeds)} seed(s)."
    text = f"{caption}\n\n{table}"
    if any("over_budget" in r for r in rows):
        params = markdown_table(labelled, "model", "column", "params", digits=0, row_order=list(suite.models), col_order=columns)
        text += f"\n\nTrainable parameters (budget {suite.train['budget']:,}):\n\n{params.replace(' ± 0', '')}"
    return text


# ---------------------------------------------------------------------------------------------- helpers


def hidden_within_budget(build: Callable[[int], torch.nn.Module], budget: int, low: int = 8, high: int = 1024) -> int:
    """The largest width ``h`` in ``[low, high]`` with ``count_parameters(build(h)) <= budget`` (bisection).

    Parameters
    ----------
    build : callable
        ``build(hidden) -> model``; its parameter count must grow with ``hidden``.
    budget : int
        Parameter budget (500k for LRGB).

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


# ------------------------------------------------------------------------------------------- depth suite


def _node_graph(run: SuiteRun, task: str, seed: int):
    """The node graph of ``task``; Geom-GCN graphs use split ``seed % 10`` (Cora has one standard split)."""
    from .data import load_node_graph

    split = seed % 10 if task in ("texas", "cornell", "wisconsin") else 0
    return run.cached((task, split), lambda: load_node_graph(task, split=split, root=run.data_root, data_dir=run.data_dir))


def node_gradients_at_init(model: torch.nn.Module, graph) -> List[dict]:
    r"""Gradient flow (:func:`dgl_ssm.analysis.gradient_flow`) of the training cross-entropy of a freshly built node classifier.

    Eval mode (no dropout). One row per layer ``0..L``: ``grad_norm``
    (:math:`\|\partial L / \partial W_\ell\|`, NaN for layer 0) and the
    statistics of the backpropagated error :math:`\partial L / \partial H_\ell`.
    """
    from .analysis import gradient_flow

    model.eval()
    mask, label = graph.ndata["train_mask"].bool(), graph.ndata["label"]
    table = gradient_flow(model, graph, graph.ndata["feat"], lambda out: F.cross_entropy(out[mask], label[mask]))
    return table.to_dict("records")


def depth_cell(run: SuiteRun, cell: Cell) -> dict:
    """Train one node classifier with :func:`~dgl_ssm.train.fit_node_classifier`; also record the gradient norms at init."""
    from .models import build_model
    from .train import fit_node_classifier

    train = run.suite.train
    preset, options = run.suite.models[cell.model]
    graph = _node_graph(run, cell.task, cell.seed).to(run.device)
    hidden, dropout = train["hidden"], train["dropout"]
    num_classes = int(graph.ndata["label"].max()) + 1
    seed_everything(cell.seed)  # the same initial weights as the model fit_node_classifier trains
    fresh = build_model(preset, graph.ndata["feat"].shape[1], hidden, num_classes, cell.setting, dropout=dropout, **options).to(run.device)
    key = cell.key(run.suite.setting_name)
    run.table("gradients.csv", (*key, "layer")).add(*({**key, **row} for row in node_gradients_at_init(fresh, graph)))
    model, fit = fit_node_classifier(
        graph, preset, cell.setting, cell.seed, hidden=hidden, lr=train["lr"], weight_decay=train["weight_decay"],
        dropout=dropout, max_epochs=train["epochs"], patience=train["patience"], device=run.device,
        on_divergence="record", **options,
    )
    return {"params": count_parameters(model), **fit.summary()}


def plot_depth_gradients(run: SuiteRun, rows) -> list:
    """``gradients_<task>.png``: per-layer gradient norm at init (mean over seeds, log scale) of the deepest models."""
    suite = run.suite
    grads = run.table("gradients.csv", ("model", "task", suite.setting_name, "seed", "layer")).rows
    depth = max(suite.settings)
    written = []
    for task in suite.tasks:
        stats = aggregate([g for g in grads if g["task"] == task and g[suite.setting_name] == depth and g["layer"] > 0], ("model", "layer"), "grad_norm")
        series = {}
        for model in suite.models:
            layers = sorted(layer for (m, layer) in stats if m == model)
            if layers:
                series[model] = (layers, [max(stats[(model, layer)][0], 1e-30) for layer in layers])
        if series:
            name = f"gradients_{task}.png"
            plot_lines(series, run.dir / name, "layer ℓ", "‖∂L/∂W_ℓ‖ at init", f"{task}, L = {depth}: gradient norms at initialization", logy=True)
            written.append(name)
    return written


DEPTH = Suite(
    name="depth",
    description="Node classification vs depth (Cora, Texas)",
    models={
        "GCN": ("gcn", {}),
        "ResGCN": ("res-gcn", {}),
        "LipResGCN": ("lip-res-gcn", {}),
        "GCNII": ("gcnii", {}),
        "GCN-SSM": ("gcn-ssm", {"block_options": {"state_transition": 1.0, "input_matrix": 0.1}}),
    },
    tasks=("cora", "texas"),
    settings=(2, 8, 32, 128, 256),
    setting_name="depth",
    seeds=3,
    metric="test_accuracy",
    metric_label="test accuracy (%)",
    scale=100.0,
    run_cell=depth_cell,
    train=dict(hidden=64, lr=0.01, weight_decay=5e-4, dropout=0.5, epochs=200, patience=50),
    quick=dict(settings=(2, 8, 32), seeds=1, train=dict(epochs=30, patience=30)),
    finish=plot_depth_gradients,
)

# ------------------------------------------------------------------------------------ graph-level suites

SPLITS = ("train", "val", "test")


def graph_runner(load: Callable[[SuiteRun, Cell, object], Tuple[dict, dict]]) -> Callable[[SuiteRun, Cell], dict]:
    r"""A cell runner for graph-level tasks: :func:`~dgl_ssm.train.recipe.build_graph_model` and
    :func:`~dgl_ssm.train.recipe.run_graph_task`, as in the graph-level recipes.

    Parameters
    ----------
    load : callable
        ``load(run, cell, pre_transform) -> (datasets, spec)``: the
        ``{"train", "val", "test"}`` datasets of the cell's task, built with
        ``pre_transform`` (a :class:`~dgl_ssm.transforms.KHopRewire` for the
        presets that read ``'hop'`` edges, see
        :func:`~dgl_ssm.models.needs_hop_edges`, else ``None``), and a spec
        with ``in_feats``, ``out_feats``, ``readout``, ``layers`` and
        optionally ``encoder`` (``f(hidden) -> nn.Module``).

    Notes
    -----
    The suite's ``train`` mapping and a model entry's options are the graph
    recipes' flag values (``hidden``, ``activation``, ``dropout``, ``lr``,
    ``batch_size``, ``state_transition``, ``input_matrix``, ``r_min``,
    ``r_max``, ``max_hop``, ...); the entry's win. Without a ``hidden``, a
    suite whose ``train`` has a ``budget`` uses the widest model within it
    (:func:`hidden_within_budget`); rows record ``params`` and, with a
    budget, ``over_budget``. The k-hop rewiring is a cached dataset
    pre-transform (computed once per dataset and ``max_hop``). Each cell
    checkpoints to ``cells/<cell>/`` and resumes from it after an interruption.
    """

    def run_cell(run: SuiteRun, cell: Cell) -> dict:
        from .models import needs_hop_edges
        from .train.distributed import DistInfo
        from .train.recipe import build_graph_model, max_hop_of, run_graph_task
        from .transforms import KHopRewire

        preset, options = run.suite.models[cell.model]
        args = argparse.Namespace(**{**run.suite.train, **options, "resume": True, "no_progress": not run.progress})
        rewired = needs_hop_edges(preset)
        key = (cell.task, cell.setting, max_hop_of(args) if rewired else None)
        datasets, spec = run.cached(key, lambda: load(run, cell, KHopRewire(max_hop_of(args)) if rewired else None))
        args.layers = spec["layers"]

        def build(width: int):
            seed_everything(cell.seed)
            args.hidden = width
            encoder = spec["encoder"](width) if spec.get("encoder") else None
            return build_graph_model(preset, args, spec["in_feats"], spec["out_feats"], readout=spec["readout"], encoder=encoder, seed=cell.seed)

        budget = getattr(args, "budget", None)
        hidden = options.get("hidden") or (hidden_within_budget(build, budget, high=args.max_hidden) if budget else args.hidden)
        model = build(hidden)
        slug = re.sub(r"[^A-Za-z0-9.=_+-]+", "_", f"{cell.model}-{cell.task}-{cell.setting}-seed{cell.seed}")
        fit = run_graph_task(model, datasets, args, run.dir / "cells" / slug, DistInfo(device=run.device))
        params = count_parameters(model)
        row = {"layers": spec["layers"], "hidden": hidden, "params": params}
        if budget:
            row["over_budget"] = params > budget
        return {**row, **fit.summary()}

    return run_cell


def property_data(run: SuiteRun, cell: Cell, pre_transform):
    """Graph property prediction (diameter: graph level, max readout; SSSP, eccentricity: node level), ``cell.setting`` layers."""
    from .data import GraphPropertyDataset

    sizes = tuple(run.suite.train["sizes"])
    sets = {s: GraphPropertyDataset(cell.task, s, seed=0, root=run.data_root, sizes=sizes, pre_transform=pre_transform) for s in SPLITS}
    readout = None if sets["train"].level == "node" else "max"
    return sets, {"in_feats": 2, "out_feats": 1, "readout": readout, "layers": cell.setting}


def ring_data(run: SuiteRun, cell: Cell, pre_transform):
    """RingTransfer with ``cell.setting`` nodes per ring and ``n // 2`` layers (the least that carries the label)."""
    from .data import RingTransferDataset

    train = run.suite.train
    n, classes = cell.setting, train["classes"]
    sets = {
        s: RingTransferDataset(n, train["num_graphs"], classes, seed=0, split=s, root=run.data_root, pre_transform=pre_transform)
        for s in SPLITS
    }
    return sets, {"in_feats": classes, "out_feats": classes, "readout": None, "layers": max(1, n // 2)}


def peptides_data(run: SuiteRun, cell: Cell, pre_transform):
    """LRGB Peptides (OGB atom encoder, mean readout), ``cell.setting`` layers; the first ``train["limit"]`` graphs per split if set."""
    from .data import PeptidesDataset, atom_encoder

    limit = run.suite.train.get("limit")
    cached = None if limit else pre_transform  # a limited run rewires only the graphs it uses (below), uncached
    sets = {s: PeptidesDataset(cell.task, s, root=run.data_root, data_dir=run.data_dir, pre_transform=cached).head(limit) for s in SPLITS}
    if limit and pre_transform is not None:
        for ds in sets.values():
            kept = ds.indices.tolist()
            for i, graph in zip(kept, pre_transform([ds.graphs[i] for i in kept])):
                ds.graphs[i] = graph
    return sets, {"in_feats": 9, "out_feats": sets["train"].num_targets, "readout": "mean", "layers": cell.setting, "encoder": atom_encoder}


SSM_SMALL_INPUT = {"input_matrix": 0.1}  # B = 0.1 I: keeps deep λ = 1 stacks stable (see README, depth study)

GRAPHPROP = Suite(
    name="graphprop",
    description="Graph property prediction (Corso et al. 2020 tasks)",
    models={
        "GCN": ("gcn", {}),
        "GCN-SSM": ("gcn-ssm", {"state_transition": "uniform", "r_min": 0.0, "r_max": 1.0}),
        "GCN-SSM, eig(Λ) ≈ 1": ("gcn-ssm", {"state_transition": "uniform", "r_min": 0.95, "r_max": 1.0}),
        "kGCN-SSM": ("kgcn-ssm", {}),
        "DRew-GCN": ("drew-gcn", {}),
        "DRew-GCN + delay": ("drew-gcn-delay", {}),
    },
    tasks=("diameter", "sssp", "eccentricity"),
    settings=(10,),
    setting_name="layers",
    seeds=4,
    metric="test_log10_mse",
    metric_label="test log10 MSE (lower is better)",
    digits=3,
    run_cell=graph_runner(property_data),
    train=dict(hidden=30, activation="tanh", dropout=0.0, optimizer="adam", lr=3e-3, weight_decay=1e-6, scheduler="none",
               epochs=1500, patience=100, batch_size=512, sizes=(5120, 640, 1280)),
    quick=dict(seeds=1, train=dict(epochs=10, patience=10, sizes=(256, 64, 64))),
)

RING = Suite(
    name="ring",
    description="RingTransfer (label read n/2 hops away, n/2 layers)",
    models={
        "GCN": ("gcn", {}),
        **{f"GCN-SSM λ={lam}": ("gcn-ssm", {"state_transition": lam}) for lam in (0.5, 0.75, 1.0)},
        "kGCN-SSM": ("kgcn-ssm", {}),
    },
    tasks=("ring",),
    settings=(4, 8, 12, 16, 20),
    setting_name="ring_size",
    seeds=3,
    metric="test_accuracy",
    metric_label="test accuracy (%)",
    scale=100.0,
    run_cell=graph_runner(ring_data),
    train=dict(hidden=64, activation="relu", dropout=0.0, optimizer="adam", lr=1e-3, weight_decay=0.0, scheduler="none",
               epochs=100, patience=20, batch_size=64, num_graphs=2000, classes=5),
    quick=dict(settings=(4, 8, 12), seeds=1, train=dict(hidden=32, lr=5e-3, epochs=40, patience=40, num_graphs=500)),
)

PEPTIDES_SUITE = Suite(
    name="peptides",
    description="LRGB Peptides-func, hidden size the widest within 500k parameters",
    models={
        "GCN": ("gcn", {}),
        "GCN-SSM": ("gcn-ssm", SSM_SMALL_INPUT),
        "kGCN-SSM": ("kgcn-ssm", SSM_SMALL_INPUT),
        "GCN-SSM, hidden 256 (over budget)": ("gcn-ssm", {"hidden": 256, **SSM_SMALL_INPUT}),
    },
    tasks=("peptides-func",),
    settings=(17, 40),
    setting_name="layers",
    seeds=3,
    metric="test_ap",
    metric_label="test average precision",
    digits=4,
    run_cell=graph_runner(peptides_data),
    train=dict(activation="gelu", dropout=0.1, optimizer="adamw", lr=1e-3, weight_decay=0.0, scheduler="cosine", epochs=250,
               patience=50, batch_size=128, budget=500_000, max_hidden=512, limit=None),
    quick=dict(settings=(17,), seeds=1, train=dict(epochs=2, patience=2, limit=256)),
)

SUITES: Dict[str, Suite] = {s.name: s for s in (DEPTH, GRAPHPROP, PEPTIDES_SUITE, RING)}


def get_suite(name: str) -> Suite:
    """The suite called ``name``.

    Raises
    ------
    ValueError
        On an unknown name; the message lists the suites.
    """
    try:
        return SUITES[name]
    except KeyError:
        raise ValueError(f"unknown suite {name!r}; known suites: {', '.join(SUITES)}") from None
