"""Diagnostics at initialization, from configuration: over-smoothing across depth and layer-Jacobian spectra.

``python -m dgl_ssm.studies.diagnostics diagnostic=<name> [overrides]`` runs one
of ``dgl_ssm/conf/diagnostic/`` and writes ``results/<name>/`` (CSV, PNG,
``provenance.json``):

* ``oversmoothing`` (+ ``_quick``): untrained networks propagate N(0, 1) node
  features through ``layers`` blocks on each graph; every layer's Dirichlet
  energy (Rusch et al. 2023 / Arroyo et al. 2025 Eq. 11), ``‖H‖_F`` and μ(H)
  (Park & Kim 2024) via :class:`~dgl_ssm.analysis.SignalProbe`
  (``layers.csv``, ``oversmoothing.png``).
* ``jacobian`` (+ ``_quick``): the dense Jacobian of each model's first block at
  N(0, 1) node states on a small graph: singular values (Arroyo et al. 2025,
  Lemma 3.1 for a linear GCN), eigenvalues and ρ(J) for every model
  (``singular_values.csv``, ``eigenvalues.csv``, ``summary.csv`` and PNGs);
  with ``large_graph``, σ_max, σ_min and ρ(J) matrix-free (``matrix_free.csv``).
* ``gradients``: gradient flow at initialization (``gradients.csv``).
* ``backward_smoothing`` and ``stationary_points``: Keriven (2025)'s backward
  over-smoothing, at initialization and during training, and its spurious
  stationary points (:mod:`dgl_ssm.studies.backward`).
* ``gradient_oversmoothing``: Park & Kim (2024)'s gradient over-smoothing and
  expansion during training (:mod:`dgl_ssm.studies.gradient_expansion`).

Models: GCN, GAT, (GIN), residual GCN and GCN-SSM with Λ = λI and B = βI
(``input_scale``).
"""
from __future__ import annotations

import math
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from omegaconf import OmegaConf

from ..analysis import (
    SignalProbe,
    edge_of_chaos_distance,
    estimate_singular_values,
    estimate_spectral_radius,
    jacobian_eigenvalues,
    jacobian_singular_values,
)
from ..data import NODE_DATASETS, load_node_graph
from ..experiment import write_csv
from ..models import build_model
from .schema import ConfigError, to_container

__all__ = ["DiagnosticConfig", "DiagnosticRun", "run_diagnostic"]


@dataclass
class DiagnosticConfig:
    """One diagnostic: what to measure, on which graphs, with which widths and depths."""

    name: str = "oversmoothing"
    kind: str = "oversmoothing"  #: a key of :data:`KINDS`
    graphs: List[str] = field(default_factory=lambda: ["cora", "texas", "grid"])
    layers: int = 80  #: oversmoothing: depth
    hidden: int = 16
    activation: str = "relu"
    lambdas: List[float] = field(default_factory=lambda: [0.5, 0.75, 1.0])
    input_scale: float = 0.1  #: β in B = βI for the SSM models
    seed: int = 0
    max_nodes: Optional[int] = None  #: jacobian: keep the first nodes in BFS order
    max_size: int = 8192  #: jacobian: largest N*d for a dense Jacobian
    large_graph: Optional[str] = None  #: jacobian: also estimate matrix-free on this whole graph
    large_hidden: int = 64
    #: ``"float32"`` or ``"float64"``: in float32 a deep GAT's energy underflows to 0 (Arroyo et al. 2025, Fig. 8)
    dtype: str = "float32"
    #: gradients and the training kinds: the depths at which each model is measured
    depths: List[int] = field(default_factory=lambda: [32, 128])
    #: the training kinds (backward_smoothing, stationary_points, gradient_oversmoothing): the optimiser section (a protocol of conf/protocol/, e.g. planetoid_shared)
    train: Dict[str, Any] = field(default_factory=dict)
    #: backward_smoothing, gradient_oversmoothing: the epochs after which the gradients are measured (0: at initialisation)
    measure_epochs: List[int] = field(default_factory=lambda: [0, 1, 5, 20, 50, 100, 200])
    #: the training kinds: keep only the graph's largest connected component (transforms.LargestComponent)
    largest_component: bool = False
    #: stationary_points: L-BFGS iterations at most for the last layer, and epochs of the all-layers comparison
    last_layer_iterations: int = 2000
    full_epochs: int = 500


@dataclass
class DiagnosticRun:
    """The top-level configuration of ``python -m dgl_ssm.studies.diagnostics``."""

    diagnostic: DiagnosticConfig = field(default_factory=DiagnosticConfig)
    out: Optional[str] = None  #: default ``results/<diagnostic.name>``
    device: str = "cpu"
    threads: int = 1
    #: offline raw copies (read only); default $DGL_SSM_DATA, else none: DGL downloads (dgl_ssm/data/paths.py)
    data_dir: Optional[str] = None
    #: staging and caches; default $DGL_SSM_ROOT, else ~/.dgl_ssm (make sets the checkout's data/)
    data_root: Optional[str] = None


def validate(cfg) -> None:
    """Check a resolved :class:`DiagnosticRun` (types are checked by OmegaConf).

    Raises
    ------
    ConfigError
        Naming the bad key and what is accepted.
    """
    d = cfg.diagnostic
    if d.kind not in KINDS:
        raise ConfigError(f"diagnostic.kind must be one of {', '.join(KINDS)}, got {d.kind!r}")
    if d.kind in TRAINING_KINDS:
        from .backward import validate_training

        validate_training(d)
    if d.kind in ("gradients", *TRAINING_KINDS) and (not d.depths or min(d.depths) < 1):
        raise ConfigError(f"diagnostic.depths must be a non-empty list of depths >= 1, got {list(d.depths)}")
    if d.largest_component and d.kind not in TRAINING_KINDS:
        raise ConfigError(f"diagnostic.largest_component: kind {d.kind} measures whole graphs; it applies to "
                          f"{', '.join(TRAINING_KINDS)} only (drop it)")
    if d.dtype not in ("float32", "float64"):
        raise ConfigError(f"diagnostic.dtype must be float32 or float64, got {d.dtype!r}")
    for key in ("layers", "hidden", "max_size", "large_hidden"):
        if getattr(d, key) < 1:
            raise ConfigError(f"diagnostic.{key} must be >= 1, got {getattr(d, key)}")
    if d.max_nodes is not None and d.max_nodes < 1:
        raise ConfigError(f"diagnostic.max_nodes must be >= 1 or null (all), got {d.max_nodes}")
    unknown = [g for g in [*d.graphs, *([d.large_graph] if d.large_graph else [])] if g not in NODE_DATASETS]
    if unknown or not d.graphs:
        raise ConfigError(f"diagnostic.graphs: unknown or no node dataset(s) {', '.join(unknown)}; known: {', '.join(NODE_DATASETS)}")
    if cfg.threads < 1:
        raise ConfigError(f"threads must be >= 1, got {cfg.threads}")
    if d.kind in ONE_GRAPH and len(d.graphs) != 1:
        raise ConfigError(f"diagnostic.graphs: kind {d.kind} measures one graph, got {list(d.graphs)}; pass one, "
                          f"e.g. diagnostic.graphs=[{d.graphs[0]}]")
    defaults = OmegaConf.structured(DiagnosticConfig)
    for key in DiagnosticConfig.__dataclass_fields__:
        if key in COMMON_READS or key in READS[d.kind]:
            continue
        value, default = to_container(d[key]), to_container(defaults[key])
        if value != default:
            raise ConfigError(f"diagnostic.{key}={value!r}: kind {d.kind} does not read it, so it would be ignored; "
                              f"drop it (kind {d.kind} reads {', '.join(sorted(READS[d.kind]))})")


#: the fields of :class:`DiagnosticConfig` every kind reads
COMMON_READS = ("name", "kind", "graphs", "seed")
#: the other fields each kind reads; :func:`validate` refuses any other field set to other than its default (it
#: would be ignored: e.g. ``dtype`` for the jacobian, ``layers`` for gradients, which reads ``depths``)
READS = {
    "oversmoothing": {"layers", "hidden", "activation", "input_scale", "dtype"},
    "jacobian": {"hidden", "lambdas", "input_scale", "activation", "max_nodes", "max_size", "large_graph",
                 "large_hidden"},
    "gradients": {"depths", "hidden", "activation", "input_scale"},
    "backward_smoothing": {"depths", "hidden", "input_scale", "dtype", "train", "measure_epochs",
                           "largest_component"},
    "stationary_points": {"depths", "hidden", "input_scale", "dtype", "train", "largest_component",
                          "last_layer_iterations", "full_epochs"},
    "gradient_oversmoothing": {"depths", "hidden", "activation", "input_scale", "dtype", "train", "measure_epochs",
                               "largest_component"},
}
#: the kinds that measure the first graph only (the training kinds refuse several graphs in validate_training)
ONE_GRAPH = ("jacobian", "gradients")


def oversmoothing_models(input_scale: float) -> dict:
    """Display name -> (preset, builder options)."""
    ssm = {
        f"GCN-SSM λ={lam}": ("gcn-ssm", {"block_options": {"state_transition": lam, "input_matrix": input_scale}})
        for lam in (0.5, 0.75, 1.0)
    }
    return {"GCN": ("gcn", {}), "GAT": ("gat", {}), **ssm, "ResGCN": ("res-gcn", {})}


def propagate(preset: str, options: dict, graph, feat: torch.Tensor, layers: int, activation: str, seed: int) -> list:
    """Per-layer measurements of one untrained model on one graph (rows of SignalProbe's table), in ``feat``'s dtype.

    Adds ``relative_energy`` :math:`E(H)/\\|H\\|_F^2`, which tells a collapse to a constant (falls) from a
    collapse to zero (the energy falls with the norm, the ratio need not).
    """
    torch.manual_seed(seed)
    dim = feat.shape[1]
    model = build_model(preset, dim, dim, 1, layers, activation=activation, **options)
    model = model.to(device=feat.device, dtype=feat.dtype).eval()
    with SignalProbe(model, backward=False) as probe, torch.no_grad():
        model.propagate(graph, feat)
    rows = probe.table().drop(columns="step").to_dict("records")
    for row in rows:
        norm2 = row["feature_norm"] ** 2
        row["relative_energy"] = row["dirichlet_energy"] / norm2 if norm2 > 0 else math.nan
    return rows


def plot_oversmoothing(rows: list, graphs: list, names: list, path) -> None:
    fig, axes = _plt().subplots(2, len(graphs), figsize=(4.5 * len(graphs), 6.5), squeeze=False)
    for col, graph in enumerate(graphs):
        for name in names:
            part = [r for r in rows if r["graph"] == graph and r["model"] == name]
            layers = [r["layer"] for r in part]
            for row_ax, key in zip(axes[:, col], ("dirichlet_energy", "feature_norm")):
                row_ax.plot(layers, [max(r[key], 1e-30) for r in part], label=name)
        axes[0, col].set_title(graph)
        for ax, label in zip(axes[:, col], ("Dirichlet energy", "‖H‖_F")):
            ax.set_yscale("log")
            ax.set_xlabel("layer")
            ax.set_ylabel(label)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)


def note(row: dict) -> str:
    if not math.isfinite(row["feature_norm"]):
        return "  (overflow)"
    return "  (underflow to 0 in float32)" if row["feature_norm"] == 0 else ""


def jacobian_models(lambdas, input_scale: float) -> dict:
    """Display name -> (preset, builder options)."""
    ssm = {
        f"GCN-SSM λ={lam}": ("gcn-ssm", {"block_options": {"state_transition": lam, "input_matrix": input_scale}})
        for lam in lambdas
    }
    return {"GCN": ("gcn", {}), "GAT": ("gat", {}), "GIN": ("gin", {}), **ssm}


def bfs_subgraph(graph, max_nodes: int):
    """The first ``max_nodes`` nodes reached by BFS from node 0 (a connected subgraph), or the whole graph."""
    if max_nodes is None or graph.num_nodes() <= max_nodes:
        return graph
    import dgl

    order = torch.cat(dgl.bfs_nodes_generator(graph.cpu(), 0))[:max_nodes]
    return dgl.node_subgraph(graph, order.to(graph.device))


def plot_histograms(spectra: dict, path) -> None:
    fig, axes = _plt().subplots(1, len(spectra), figsize=(3.2 * len(spectra), 3), sharey=True, squeeze=False)
    for ax, (name, sigma) in zip(axes[0], spectra.items()):
        ax.hist(np.log10(np.maximum(sigma**2, 1e-12)), bins=40, color="tab:blue")
        ax.axvline(0.0, color="k", lw=0.8, ls="--")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("log10 σ²  (σ² < 1e-12 at -12)")
    axes[0, 0].set_ylabel("count")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)


def plot_eigenvalues(eigen: dict, path) -> None:
    fig, axes = _plt().subplots(1, max(len(eigen), 1), figsize=(3.6 * max(len(eigen), 1), 3.6), squeeze=False)
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 400))
    for ax, (name, eig) in zip(axes[0], eigen.items()):
        ax.plot(circle.real, circle.imag, "k-", lw=0.8, label="unit circle")
        ax.scatter(eig.real, eig.imag, s=4, alpha=0.6)
        ax.set_aspect("equal")
        ax.set_title(f"{name}: ρ = {np.abs(eig).max():.3f}", fontsize=9)
        ax.set_xlabel("Re λ")
    axes[0, 0].set_ylabel("Im λ")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)


def matrix_free(table: dict, graph, hidden: int, activation: str, seed: int, device) -> list:
    """σ_max, σ_min and ρ(J) of each model's first block, matrix-free."""
    feat = torch.randn(graph.num_nodes(), hidden, generator=torch.Generator().manual_seed(seed)).to(device)
    rows = []
    for name, (preset, options) in table.items():
        torch.manual_seed(seed)
        layer = build_model(preset, hidden, hidden, 1, 1, activation=activation, **options).to(device).layers[0]
        top, bottom = estimate_singular_values(layer, graph, feat, seed=seed)
        rho = estimate_spectral_radius(layer, graph, feat, seed=seed)
        rows.append({"model": name, "sigma_max": top, "sigma_min": bottom, "spectral_radius": rho})
    return rows


def _plt():
    import matplotlib.pyplot as plt  # the caller chooses the backend; files only here

    return plt


def run_diagnostic(cfg, command: str = "", log=print) -> list:
    """Run ``cfg.diagnostic`` and write its files and provenance to the output folder; returns its rows.

    Raises
    ------
    ConfigError
        On a bad value or an unusable output folder (before anything is written).
    RuntimeError
        If the device cannot be used.
    """
    from ..experiment import check_output_folder, resolve_device, seed_everything
    from ..runtime import configure_threads
    from .record import ResultsRecord

    validate(cfg)
    d = cfg.diagnostic
    try:
        out = check_output_folder(Path(cfg.out) if cfg.out else Path("results") / d.name, "out=")
    except ValueError as err:
        raise ConfigError(str(err)) from None
    device = resolve_device(cfg.device, flag="device=")
    configure_threads(cfg.threads)
    seed_everything(d.seed)
    record = ResultsRecord(out, ())
    log(f"{d.name}: writing into {out.resolve()} (out=<folder> to choose)")
    sitting = record.start_sitting(to_container(d), command, 1)
    start = time.time()
    rows = KINDS[d.kind](d, out, device, cfg.data_root, cfg.data_dir, log)
    record.update_sitting(sitting, 1, time.time() - start, finished=True)
    return rows


def gradient_models(input_scale: float) -> dict:
    """Display name -> (preset, builder options) of the gradient-flow diagnostic."""
    return {"GCN": ("gcn", {}), "ResGCN": ("res-gcn", {}), "LipResGCN": ("lip-res-gcn", {}), "GCNII": ("gcnii", {}),
            "GCN-SSM λ=1.0": ("gcn-ssm", {"block_options": {"state_transition": 1.0, "input_matrix": input_scale}})}


def _gradients(d, out: Path, device, data_root, data_dir, log) -> list:
    """Gradient flow at initialization (eval mode) of the training cross-entropy of node classifiers on ``graphs[0]``:
    per layer ``‖∂L/∂W_ℓ‖`` and the Dirichlet energy and norm of the backpropagated error ``∂L/∂H_ℓ`` (backward
    over-smoothing, Keriven 2025), for every model and depth (``gradients.csv``, ``gradients.png``)."""
    import torch.nn.functional as F

    from ..analysis import gradient_flow
    from ..report import plot_lines

    graph = load_node_graph(d.graphs[0], root=data_root, data_dir=data_dir).to(device)
    mask, label = graph.ndata["train_mask"].bool(), graph.ndata["label"]
    classes = int(label.max()) + 1
    rows = []
    for depth in d.depths:
        for name, (preset, options) in gradient_models(d.input_scale).items():
            torch.manual_seed(d.seed)
            model = build_model(preset, graph.ndata["feat"].shape[1], d.hidden, classes, depth, activation=d.activation,
                                **options).to(device).eval()
            table = gradient_flow(model, graph, graph.ndata["feat"], lambda o: F.cross_entropy(o[mask], label[mask]))
            rows.extend({"graph": d.graphs[0], "depth": depth, "model": name, **r} for r in table.to_dict("records"))
    write_csv(out / "gradients.csv", rows)
    for metric, ylabel, file in (("grad_norm", "‖∂L/∂W_ℓ‖", "gradients.png"),
                                 ("error_dirichlet_energy", "E(∂L/∂H_ℓ)", "error_energy.png")):
        for depth in d.depths:
            series = {}
            for name in gradient_models(d.input_scale):
                part = [r for r in rows if r["depth"] == depth and r["model"] == name and r["layer"] > 0
                        and math.isfinite(r[metric])]
                series[name] = ([r["layer"] for r in part], [max(r[metric], 1e-300) for r in part])
            plot_lines(series, out / file.replace(".png", f"_{depth}.png"), "layer ℓ", ylabel,
                       f"{d.graphs[0]}, {depth} layers, at initialization", logy=True)
    log(f"Gradient flow at initialization on {d.graphs[0]} (width {d.hidden}): ‖∂L/∂W‖ at the first and last layer")
    for depth in d.depths:
        for name in gradient_models(d.input_scale):
            part = [r for r in rows if r["depth"] == depth and r["model"] == name and r["layer"] > 0]
            log(f"  L={depth:4d} {name:16s} {part[0]['grad_norm']:10.2e} {part[-1]['grad_norm']:10.2e}")
    return rows


def _oversmoothing(d, out: Path, device, data_root, data_dir, log) -> list:
    table = oversmoothing_models(d.input_scale)
    rows = []
    for graph_name in d.graphs:
        graph = load_node_graph(graph_name, root=data_root, data_dir=data_dir).to(device)
        gen = torch.Generator().manual_seed(d.seed)
        feat = torch.randn(graph.num_nodes(), d.hidden, generator=gen).to(device=device, dtype=getattr(torch, d.dtype))
        for name, (preset, options) in table.items():
            for row in propagate(preset, options, graph, feat, d.layers, d.activation, d.seed):
                rows.append({"graph": graph_name, "model": name, **row})
    write_csv(out / "layers.csv", rows)
    plot_oversmoothing(rows, list(d.graphs), list(table), out / "oversmoothing.png")
    log(f"Ratios layer {d.layers} / layer 0 (width {d.hidden}, {d.activation}, B = {d.input_scale} I); "
        "'rel. energy' is E(H)/‖H‖² (scale-free smoothness):")
    log(f"{'graph':8s} {'model':16s} {'energy':>10s} {'norm':>10s} {'rel. energy':>12s}")
    for graph_name in d.graphs:
        for name in table:
            part = [r for r in rows if r["graph"] == graph_name and r["model"] == name]
            first, last = part[0], part[-1]
            e = last["dirichlet_energy"] / first["dirichlet_energy"]
            n = last["feature_norm"] / first["feature_norm"]
            rel = e / n**2 if n > 0 else math.nan
            log(f"{graph_name:8s} {name:16s} {e:10.2e} {n:10.2e} {rel:12.2e}" + note(last))
    return rows


def _jacobian(d, out: Path, device, data_root, data_dir, log) -> list:
    graph = bfs_subgraph(load_node_graph(d.graphs[0], root=data_root, data_dir=data_dir), d.max_nodes).to(device)
    hidden = d.hidden
    feat = torch.randn(graph.num_nodes(), hidden, generator=torch.Generator().manual_seed(d.seed)).to(device)
    sv_rows, eig_rows, summary, spectra, eigen = [], [], [], {}, {}
    for name, (preset, options) in jacobian_models(d.lambdas, d.input_scale).items():
        torch.manual_seed(d.seed)
        layer = build_model(preset, hidden, hidden, 1, 1, activation=d.activation, **options).to(device).layers[0]
        sigma = jacobian_singular_values(layer, graph, feat, max_size=d.max_size).cpu().numpy()
        spectra[name] = sigma
        sv_rows += [{"model": name, "index": i, "sigma": s, "sigma_sq": s * s} for i, s in enumerate(sigma)]
        # every layer maps d -> d, so its Jacobian is square and has a spectral radius (issue 14: was NaN for non-SSM)
        eig = jacobian_eigenvalues(layer, graph, feat, max_size=d.max_size).cpu().numpy()
        eigen[name], rho = eig, float(np.abs(eig).max())
        eig_rows += [{"model": name, "real": e.real, "imag": e.imag, "modulus": abs(e)} for e in eig]
        summary.append({"model": name, "sigma_max": float(sigma[0]), "sigma_min": float(sigma[-1]),
                        "edge_of_chaos_distance": edge_of_chaos_distance(torch.from_numpy(sigma)),
                        "spectral_radius": rho})
    write_csv(out / "singular_values.csv", sv_rows)
    write_csv(out / "eigenvalues.csv", eig_rows)
    write_csv(out / "summary.csv", summary)
    plot_histograms(spectra, out / "singular_values.png")
    plot_eigenvalues(eigen, out / "eigenvalues.png")
    log(f"Layer Jacobian at init on {d.graphs[0]} (N={graph.num_nodes()}, d={hidden}, {d.activation}, "
        f"B = {d.input_scale} I): {graph.num_nodes() * hidden} x {graph.num_nodes() * hidden}")
    for row in summary:
        log(f"{row['model']:16s} {row['sigma_max']:9.3e} {row['sigma_min']:9.2e} "
            f"{row['edge_of_chaos_distance']:10.3f} {row['spectral_radius']:7.3f}")
    if d.large_graph:
        large = load_node_graph(d.large_graph, root=data_root, data_dir=data_dir).to(device)
        rows = matrix_free(jacobian_models(d.lambdas, d.input_scale), large, d.large_hidden, d.activation, d.seed, device)
        write_csv(out / "matrix_free.csv", rows)
    return summary


from .backward import run_backward_smoothing, run_stationary_points  # noqa: E402
from .gradient_expansion import run_gradient_oversmoothing  # noqa: E402

#: diagnostic.kind -> runner(d, out, device, data_root, data_dir, log) -> rows
KINDS = {"oversmoothing": _oversmoothing, "jacobian": _jacobian, "gradients": _gradients,
         "backward_smoothing": run_backward_smoothing, "stationary_points": run_stationary_points,
         "gradient_oversmoothing": run_gradient_oversmoothing}
#: the kinds that train (their train section and measurements checked by studies.backward.validate_training)
TRAINING_KINDS = ("backward_smoothing", "stationary_points", "gradient_oversmoothing")


def register() -> None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="diagnostic_schema", node=DiagnosticRun)


register()


def main() -> None:
    """``python -m dgl_ssm.studies.diagnostics diagnostic=<name> [overrides]`` (one ``error:`` line on bad input)."""
    import hydra
    from hydra import compose, initialize_config_module

    from .cli import fail as _fail

    argv = sys.argv[1:]
    if "--version" in argv:
        from .. import __version__

        print(__version__)
        return
    try:
        if not any(a.startswith("-") for a in argv):  # Hydra's own flags (--help, --cfg job, ...) go to Hydra
            with initialize_config_module("dgl_ssm.conf", version_base="1.3"):
                compose("diagnostics", overrides=[a for a in argv if not a.startswith("hydra")])
    except Exception as err:  # noqa: BLE001 - Hydra/OmegaConf raise several types
        _fail(err)

    @hydra.main(config_path="pkg://dgl_ssm.conf", config_name="diagnostics", version_base="1.3")
    def _main(cfg) -> None:
        import matplotlib

        matplotlib.use("Agg")
        command = "python -m dgl_ssm.studies.diagnostics " + " ".join(shlex.quote(a) for a in argv)
        try:
            run_diagnostic(cfg, command)
        except (ValueError, FileNotFoundError, RuntimeError) as err:
            _fail(err)

    _main()


if __name__ == "__main__":
    main()
