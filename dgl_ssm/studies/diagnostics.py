"""Diagnostics from configuration: what each kind measures, its checks (:func:`validate`) and the entry point.

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
* ``study_init``: a study's own cells as they start training (``study``:
  e.g. ``lrgb_seed``), their forward signal per layer on one batch of real
  graphs (``layers.csv``, ``summary.csv``, ``study_init.png``;
  :mod:`dgl_ssm.studies.study_init`). These four measure untrained models
  (the first three: :mod:`dgl_ssm.studies.at_init`).
* ``backward_smoothing`` and ``stationary_points``: Keriven (2025)'s backward
  over-smoothing, at initialization and during training, and its spurious
  stationary points (:mod:`dgl_ssm.studies.backward`).
* ``gradient_oversmoothing``: Park & Kim (2024)'s gradient over-smoothing and
  expansion during training (:mod:`dgl_ssm.studies.gradient_expansion`).
* ``resistance``: over-squashing's topology, no model: the effective resistance
  between the nodes of an LRGB dataset's first validation graphs or a node
  dataset's largest connected component, on their edges and after k-hop
  rewiring to each of ``max_hops``, by shortest-path distance (``resistance.csv``, ``summary.csv``, ``resistance.png``;
  :mod:`dgl_ssm.studies.topology`).

Models: GCN, GAT, (GIN), residual GCN and GCN-SSM with Λ = λI and B = βI
(``input_scale``).
"""
from __future__ import annotations

import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional


from ..data import NODE_DATASETS
from .schema import ConfigError, changed_from_default, to_container

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
    #: study_init: the packaged study (``dgl_ssm/conf/study/<name>.yaml``) whose cells are measured
    study: Optional[str] = None
    #: study_init (graph-level studies): the first graphs of the validation split measured, as one batch
    batch_graphs: int = 128
    #: study_init (graph-level studies): over-squashing, the sensitivity of node 0 of each of the first this many
    #: validation graphs to every node, by shortest-path distance; 0: not measured
    sensitivity_graphs: int = 0
    #: study_init: measure the trained models a record kept (``keep_models=true``) instead of the cells at
    #: initialization, in eval mode
    trained: bool = False
    #: study_init with ``trained``: the record's folder (default ``results/<study>``)
    record: Optional[str] = None
    #: resistance: the k-hop rewirings (every ring up to each max_hop joined) measured beside the input graph
    max_hops: List[int] = field(default_factory=lambda: [3])


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
    if d.kind == "study_init":
        from .study_init import study_of

        if d.trained and d.name.endswith("_init"):
            raise ConfigError(f"diagnostic.name={d.name}: trained models are not the initialization; use "
                              "diagnostic=study_trained, or give another diagnostic.name")
        study = study_of(d)  # a packaged study, and graphs[0] one of its datasets
        for key in ("batch_graphs", "sensitivity_graphs"):
            if study.kind == "node" and getattr(d, key) != getattr(DiagnosticConfig, key):
                raise ConfigError(f"diagnostic.{key}={getattr(d, key)}: study {study.name} is node-level, its cells "
                                  "see the whole graph; drop it")
    if d.batch_graphs < 1:
        raise ConfigError(f"diagnostic.batch_graphs must be >= 1, got {d.batch_graphs}")
    if d.sensitivity_graphs < 0:
        raise ConfigError(f"diagnostic.sensitivity_graphs must be >= 0 (0: not measured), got {d.sensitivity_graphs}")
    if d.kind == "resistance":
        from ..data import PEPTIDES

        if not d.max_hops or min(d.max_hops) < 1:
            raise ConfigError(f"diagnostic.max_hops must be a non-empty list of ints >= 1, got {list(d.max_hops)}")
        unknown = [g for g in d.graphs if g not in (*PEPTIDES, *NODE_DATASETS)]
        if unknown or not d.graphs:
            raise ConfigError(f"diagnostic.graphs: kind resistance measures LRGB and node datasets "
                              f"({', '.join((*PEPTIDES, *NODE_DATASETS))}), got {list(d.graphs)}; pass e.g. "
                              "diagnostic.graphs=[peptides-func]")
        if not set(d.graphs) & set(PEPTIDES) and d.batch_graphs != DiagnosticConfig.batch_graphs:
            raise ConfigError(f"diagnostic.batch_graphs={d.batch_graphs}: kind resistance reads it for LRGB datasets "
                              "only (a node dataset is measured on its largest connected component); drop it")
    # study_init: the study's datasets (study_of, above); resistance: the LRGB datasets (above)
    known = () if d.kind in ("study_init", "resistance") else NODE_DATASETS
    unknown = [g for g in [*d.graphs, *([d.large_graph] if d.large_graph else [])] if known and g not in known]
    if unknown or not d.graphs:
        raise ConfigError(f"diagnostic.graphs: unknown or no node dataset(s) {', '.join(unknown)}; known: {', '.join(NODE_DATASETS)}")
    if cfg.threads < 1:
        raise ConfigError(f"threads must be >= 1, got {cfg.threads}")
    if d.kind in ONE_GRAPH and len(d.graphs) != 1:
        raise ConfigError(f"diagnostic.graphs: kind {d.kind} measures one graph, got {list(d.graphs)}; pass one, "
                          f"e.g. diagnostic.graphs=[{d.graphs[0]}]")
    unread = [key for key in DiagnosticConfig.__dataclass_fields__ if key not in (*COMMON_READS, *READS[d.kind])]
    for key, value in changed_from_default(d, DiagnosticConfig, unread).items():
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
    "study_init": {"study", "batch_graphs", "sensitivity_graphs", "trained", "record"},
    "backward_smoothing": {"depths", "hidden", "input_scale", "dtype", "train", "measure_epochs",
                           "largest_component"},
    "stationary_points": {"depths", "hidden", "input_scale", "dtype", "train", "largest_component",
                          "last_layer_iterations", "full_epochs"},
    "gradient_oversmoothing": {"depths", "hidden", "activation", "input_scale", "dtype", "train", "measure_epochs",
                               "largest_component"},
    "resistance": {"batch_graphs", "max_hops"},
}
#: the kinds that measure the first graph only (the training kinds refuse several graphs in validate_training)
ONE_GRAPH = ("jacobian", "gradients", "study_init")


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


from .at_init import run_gradients, run_jacobian, run_oversmoothing  # noqa: E402
from .backward import run_backward_smoothing, run_stationary_points  # noqa: E402
from .gradient_expansion import run_gradient_oversmoothing  # noqa: E402
from .study_init import run_study_init  # noqa: E402
from .topology import run_resistance  # noqa: E402

#: diagnostic.kind -> runner(d, out, device, data_root, data_dir, log) -> rows
KINDS = {"oversmoothing": run_oversmoothing, "jacobian": run_jacobian, "gradients": run_gradients,
         "study_init": run_study_init,
         "backward_smoothing": run_backward_smoothing, "stationary_points": run_stationary_points,
         "gradient_oversmoothing": run_gradient_oversmoothing, "resistance": run_resistance}
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
