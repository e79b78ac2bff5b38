"""Typed study configuration (OmegaConf structured configs): every field has a type, every key is known.

A study is a grid ``models x datasets x settings x seeds`` trained with one
protocol. Its YAML files live in ``dgl_ssm/conf/study/`` (one per study, the
single source of every default); Hydra composes them, OmegaConf checks them
against these dataclasses (a wrong type or an unknown key is an error), and
:func:`validate` checks the values (ranges, known presets, known model
options) before anything runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING, OmegaConf

__all__ = ["ModelSpec", "PublishedRow", "parse_published", "check_published", "Protocol", "StudyConfig", "RunConfig", "ConfigError", "to_container", "protocol_for", "runs_on", "runs_at", "changed_from_default"]


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key and what is accepted."""


@dataclass
class ModelSpec:
    """One row of a study's tables: a registered preset and its builder options.

    Its key in ``study.models`` is a plain identifier (``gcn_ssm_l100``: the
    ``model`` column of the record, addressable on the command line, e.g.
    ``~study.models.res_gcn`` drops it); ``label`` is what tables show.
    """

    preset: str = MISSING
    label: str = ""
    #: this model's departures from the study's protocol (``study.train``), e.g. ``{hidden: 20}`` or its paper's lr
    train: Dict[str, Any] = field(default_factory=dict)
    #: keyword arguments of :func:`dgl_ssm.models.build_model` (``block_options``, ``conv_options``, ``activation``, ...)
    options: Dict[str, Any] = field(default_factory=dict)
    #: the datasets this model runs on (empty: all of the study's), e.g. a baseline configured for one dataset
    datasets: List[str] = field(default_factory=list)
    #: the settings this model runs at (empty: all of the study's), e.g. a baseline at its published depth
    settings: List[int] = field(default_factory=list)


def runs_on(spec, dataset: str) -> bool:
    """Whether a model (a :class:`ModelSpec`) runs on ``dataset``: its own ``datasets`` list, empty for all."""
    return not spec.datasets or dataset in spec.datasets


def runs_at(spec, setting) -> bool:
    """Whether a model (a :class:`ModelSpec`) runs at ``setting``: its own ``settings`` list, empty for all."""
    own = list(getattr(spec, "settings", None) or [])
    return not own or int(setting) in [int(x) for x in own]


def parse_published(value) -> Optional[tuple]:
    """``"0.7424 ± 0.0466"`` → ``(0.7424, 0.0466)``; ``"85.5"`` → ``(85.5, None)``; anything else → ``None``."""
    parts = [p.strip() for p in str(value).replace("+-", "±").split("±")]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        return None
    if len(numbers) == 1:
        return numbers[0], None
    return (numbers[0], numbers[1]) if len(numbers) == 2 else None


@dataclass
class PublishedRow:
    """Published numbers for one row of a study's tables (a ``study.select`` group or a model label).

    ``numbers`` maps a table column (``"diameter 10"``, or the setting, e.g. ``64``) to ``"mean ± std"`` (or
    ``"mean"``) in the table's units (after ``study.scale``); ``source`` cites paper and table; ``scale`` says on
    which target scale or protocol the published number was measured when it differs from ours.
    """

    numbers: Dict[str, str] = field(default_factory=dict)
    source: str = MISSING
    scale: str = ""


@dataclass
class Protocol:
    """How every cell is trained. No value has a default here: each comes from one YAML file
    (``conf/protocol/`` or the study's own ``train`` section), so that a value lives in exactly one place. The
    fields that one level only reads (``batch_size``, ``max_hop``: graph; ``layer_profile``: node) are unset
    elsewhere, and refused there when set (:data:`dgl_ssm.train.cell.FIELD_LEVELS`)."""

    hidden: int = MISSING
    optimizer: str = MISSING
    lr: float = MISSING
    weight_decay: float = MISSING
    dropout: float = MISSING
    activation: str = MISSING
    epochs: int = MISSING
    patience: int = MISSING
    scheduler: str = MISSING
    #: the schedule's options (dgl_ssm.train.make_scheduler), e.g. LRGB's reduce-on-plateau {factor: 0.5,
    #: patience: 20, min_lr: 1.0e-5, watch: loss}; empty: the schedule's own (every record before the option)
    scheduler_options: Dict[str, Any] = field(default_factory=dict)
    #: graphs per batch: graph-level studies only (required there; refused in node studies, which train full-graph)
    batch_size: Optional[int] = None
    #: k-hop rewiring radius of the presets that read 'hop' edges: graph-level studies only
    max_hop: Optional[int] = None
    monitor: str = MISSING  #: early stopping and best state on the validation 'metric', 'loss' or 'loss_and_metric' (GAT's rule)
    #: ``{parameter-name prefix: weight decay}`` overriding ``weight_decay`` (GCNII: ``{layers: 0.01}``)
    weight_decay_groups: Dict[str, float] = MISSING
    layer_profile: bool = False  #: an output, not a hyperparameter: record each layer's energy (node-level only)
    #: ``"32"`` (float32: every record before the option), ``"bf16-mixed"`` or ``"16-mixed"`` (CUDA): the
    #: protocol file that uses another says why (dgl_ssm.train.precision)
    precision: str = "32"
    #: ``"ieee"`` (subnormal floats as IEEE 754 has them: every record before the option) or ``"flush"``
    #: (flush-to-zero, CPU and threads=1 only; faster where vanishing gradients turn subnormal; dgl_ssm.train.denormals)
    denormals: str = "ieee"


@dataclass
class StudyConfig:
    """A grid of cells: ``models x datasets x settings x seeds``.

    The packaged studies are ``dgl_ssm/conf/study/<name>.yaml``; each field below is a key there (``study.<key>=``
    on the command line).

    Examples
    --------
    >>> from hydra import compose, initialize_config_module
    >>> with initialize_config_module("dgl_ssm.conf", version_base="1.3"):
    ...     study = compose("config", overrides=["study=depth_quick", "study.seeds=1"]).study
    >>> study.name, study.datasets, study.settings, study.seeds
    ('depth_quick', ['cora'], [2, 8, 32], 1)
    >>> sorted(study.models)
    ['gcn', 'gcn_ssm', 'res_gcn']
    """

    name: str = MISSING  #: output folder ``results/<name>/`` and the study's identity
    description: str = ""
    kind: str = "node"  #: ``"node"`` (node classification on one graph) or ``"graph"`` (graph property tasks)
    datasets: List[str] = MISSING
    setting_name: str = "depth"  #: the swept quantity (message-passing layers)
    settings: List[int] = MISSING
    seeds: int = 3
    first_seed: int = 0
    metric: str = "test_accuracy"
    metric_label: str = "test accuracy (%)"
    scale: float = 100.0
    digits: int = 1
    models: Dict[str, ModelSpec] = MISSING
    train: Protocol = field(default_factory=Protocol)
    #: graph-level: split sizes of the generated graph property data
    sizes: List[int] = field(default_factory=lambda: [5120, 640, 1280])
    #: graph property targets: ``train_max`` (divided by the training maximum) or ``raw`` (hops; the scale of the
    #: baseline rows Gravina et al. 2023's code produced)
    target_scale: str = "train_max"
    #: node-level: divide every node's features by their sum (Kipf's and GCNII's preprocessing; load_node_graph)
    normalize_features: bool = False
    #: RingTransfer (dataset ``ring``; the setting is the ring size n, with n // 2 layers): graphs and classes
    ring_graphs: int = 2000
    ring_classes: int = 5
    #: LRGB Peptides: keep the first ``limit`` graphs of each split (``null``: all)
    limit: Optional[int] = None
    #: parameter budget (LRGB: 500k): models without their own ``train.hidden`` get the widest width within it
    #: (``fit_width``; false: every model at its protocol's hidden, the rows say whether they are over the budget)
    param_budget: Optional[int] = None
    fit_width: bool = True
    max_hidden: int = 512
    #: node-level: also record per-layer gradient norms of each cell's freshly built model (gradients.csv, plots)
    record_gradients: bool = False
    #: ``published``: every model trains with its own ``train`` (its paper's configuration) over ``train``;
    #: ``shared``: every model trains with ``train`` alone (the "same budget" protocol). Tables say which.
    protocol: str = "published"
    #: model selection on validation for a second table: ``{row label: [model keys]}``; per column the member with
    #: the best mean ``select_metric`` (a validation metric, never a test one) is reported (its test metric)
    select: Dict[str, List[str]] = field(default_factory=dict)
    select_metric: str = ""
    select_higher_is_better: bool = False
    #: two-stage selection: every member of a ``select`` group runs the first ``select_seeds`` seeds; the remaining
    #: seeds run only for the member chosen on those (per group and column, once all members have them). ``0``:
    #: every member runs every seed
    select_seeds: int = 0
    #: a table of the setting chosen on validation: per model and dataset, the setting (e.g. the depth) with the best
    #: mean ``select_metric`` over the seeds every setting with results has run, and its test metric (the protocol of
    #: papers that report "the best of 1-5 layers on validation"). Published numbers keyed ``"<dataset> chosen"``
    #: (``"chosen"`` with one dataset) meet it. Presentation only: not part of a cell's identity
    choose_setting: bool = False
    #: two-stage choice of the setting: every setting runs the first ``choose_seeds`` seeds; the remaining seeds run
    #: only at the setting chosen on those (per model and dataset, once every setting has them). ``0``: every setting
    #: runs every seed. Needs ``choose_setting``; not with ``select_seeds``
    choose_seeds: int = 0
    #: published numbers to set beside ours (a third table: ours, published, difference): ``{row: PublishedRow}``
    published: Dict[str, PublishedRow] = field(default_factory=dict)
    #: set ``False`` where the budget makes the comparison meaningless (a plumbing check that inherits a full
    #: study's ``published``): no third table
    compare_published: bool = True
    #: add a table of training seconds per epoch (CPU: train_cpu_s / epochs_run; rows recorded before CPU time: the
    #: median wall-clock epoch of their history), e.g. to cost a longer protocol
    epoch_time_table: bool = False
    #: datasets the study would have but that cannot be run here: ``{column: why}``, a column of the first table
    #: that says why on every row (``lrgb_seed``: Peptides-struct, whose CSV is not in the offline data).
    #: Presentation only: nothing runs, nothing enters a cell's identity
    unavailable: Dict[str, str] = field(default_factory=dict)


@dataclass
class RunConfig:
    """The top-level configuration: a study and where and how to run it (``dgl_ssm/conf/config.yaml``).

    Examples
    --------
    >>> from hydra import compose, initialize_config_module
    >>> with initialize_config_module("dgl_ssm.conf", version_base="1.3"):
    ...     cfg = compose("config", overrides=["study=ring_quick", "threads=1", "time_limit_s=3600"])
    >>> cfg.study.name, cfg.device, cfg.threads, cfg.time_limit_s, cfg.num_shards
    ('ring_quick', 'cpu', 1, 3600.0, 1)
    """

    study: StudyConfig = MISSING
    out: Optional[str] = None  #: default ``results/<study.name>``
    device: str = "cpu"
    threads: int = 1
    #: offline raw copies (read only); default $DGL_SSM_DATA, else none: DGL downloads (dgl_ssm/data/paths.py)
    data_dir: Optional[str] = None
    #: staging and caches; default $DGL_SSM_ROOT, else ~/.dgl_ssm (make sets the checkout's data/)
    data_root: Optional[str] = None
    shard: int = 0  #: this worker's share of the pending cells (``cell_index % num_shards == shard``)
    num_shards: int = 1
    #: a tqdm bar over each cell's epochs (stderr), after a "<study> | <cell> | started" line
    progress: bool = False
    #: a running cell writes its checkpoint (``results/<study>/.checkpoints/<cell>-<config hash>/``) at most once per
    #: this many seconds (0: after every epoch); an interrupted cell continues from it, exactly
    checkpoint_every_s: float = 60.0
    #: end the sitting this many seconds after it started (0: no limit): the running cell writes its checkpoint at
    #: the end of its epoch and the next sitting (the same command) continues it exactly; no later cell starts; exit
    #: status 3. SIGTERM or SIGUSR1 (a batch scheduler's warning) does the same at any time (dgl_ssm/studies/stop.py)
    time_limit_s: float = 0.0
    #: list what a sitting would run (pending cells, with a time estimate from the record's cells of the same model,
    #: dataset and setting) and run nothing, write nothing
    plan: bool = False
    #: with ``plan``: time this many epochs (training and validation pass, nothing written) of every pending model,
    #: dataset and setting without a recorded time, and estimate its cells from them (a new study's cost)
    plan_epochs: int = 0
    #: keep each cell's trained model, the weights its test metric was computed with, in
    #: ``results/<study>/.models/<cell>-<config hash>.pt`` (git-ignored) for analysis after training
    #: (``dgl_ssm.studies.trained.trained_cell``); without it only the record's numbers remain
    keep_models: bool = False
    #: run only these model entries of the study (keys of ``study.models``; default: all): the same study as
    #: deleting every other entry with ``~study.models.<key>`` (:func:`with_selected_models`)
    models: Optional[List[str]] = None


def with_selected_models(cfg):
    """``cfg`` with ``study.models`` cut to the entries ``cfg.models`` names, in the study's order; ``cfg`` itself
    when ``cfg.models`` is ``None``. The study is then exactly what deleting every other entry with
    ``~study.models.<key>`` composes (and ``~study.select.<row>`` for a selection row none of whose members is
    named): its cells, their configuration hashes and the sitting's provenance are the same, so the two ways of
    running part of a study share one record. Checked by :func:`~dgl_ssm.studies.validation.validate` (a name that
    is not an entry, or part of a selection row, is refused).

    Examples
    --------
    >>> from hydra import compose, initialize_config_module
    >>> with initialize_config_module("dgl_ssm.conf", version_base="1.3"):
    ...     cfg = compose("config", overrides=["study=ring_quick", "models=[kgcn_ssm,gcn]"])
    >>> list(with_selected_models(cfg).study.models), len(cfg.study.models)
    (['gcn', 'kgcn_ssm'], 5)
    """
    import copy

    from omegaconf import open_dict

    if cfg.models is None:
        return cfg
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg.study.models):
        for key in [k for k in cfg.study.models if k not in cfg.models]:
            del cfg.study.models[key]
    with open_dict(cfg.study.select):  # a selection row none of whose members runs goes with them
        for row in [r for r, members in cfg.study.select.items() if not set(members) & set(cfg.models)]:
            del cfg.study.select[row]
    return cfg


def protocol_for(study, model: str):
    """The protocol of one model of a study: ``study.train`` with the model's own ``train`` entries over it
    (``study.protocol == "published"``), or ``study.train`` alone (``"shared"``).

    Raises
    ------
    ConfigError
        If the model's ``train`` names a key that :class:`Protocol` does not have, or a value of the wrong type.
    """
    spec = study.models[model]
    overrides = to_container(spec.train) if spec.train is not None else {}
    if not overrides or study.protocol == "shared":
        return study.train
    try:
        return OmegaConf.merge(OmegaConf.structured(Protocol), study.train, overrides)
    except Exception as err:  # noqa: BLE001 - OmegaConf's validation errors
        raise ConfigError(f"study.models.{model}.train: {' '.join(str(err).split()[:40])}") from None


def _check_published_format(study) -> None:
    """Every published number is ``"mean"`` or ``"mean ± std"`` (:func:`parse_published`)."""
    for row, entry in study.published.items():
        for column, value in entry.numbers.items():
            if parse_published(value) is None:
                raise ConfigError(f"study.published.{row}.numbers.{column}: {value!r} is not 'mean' or 'mean ± std'")


def check_published(study) -> None:
    """Check that every row and column of ``study.published`` names a row and a column of the study's table.

    A sitting may run a part of the grid (``~study.models.gcn 'study.settings=[64]'``), so :func:`validate` checks
    only the format of the published numbers; the rows and columns are checked against the whole study, the
    packaged configuration, when the tables are made (:mod:`dgl_ssm.studies.tables`) and by the test suite.

    Raises
    ------
    ConfigError
        A row that is neither a select group nor a model label, a column that is not a setting (``"<dataset>
        <setting>"`` when the study has several datasets), or a number that is not ``"mean"`` or ``"mean ± std"``.
    """
    rows = set(study.select) | {spec.label or key for key, spec in study.models.items()}
    multi = len(study.datasets) > 1
    columns = {f"{d} {x}" if multi else str(x) for d in study.datasets for x in study.settings}
    chosen = {f"{d} chosen" if multi else "chosen" for d in study.datasets} if study.choose_setting else set()
    for row, entry in study.published.items():
        if row not in rows:
            raise ConfigError(f"study.published.{row}: no such row; rows are the select groups and model labels: "
                              f"{', '.join(sorted(rows))}")
        for column in entry.numbers:
            if str(column) in chosen and row in study.select:
                raise ConfigError(f"study.published.{row}.numbers: column {column!r} is a model's setting chosen on "
                                  "validation; a select group has none (publish it under a model label)")
            if str(column) not in columns | chosen:
                raise ConfigError(f"study.published.{row}.numbers: no column {column!r}; columns: "
                                  f"{', '.join(sorted(columns | chosen))}")
    _check_published_format(study)


def to_container(node) -> Any:
    """A plain Python value (dicts, lists, numbers) from an OmegaConf node."""
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def changed_from_default(node, schema, keys) -> dict:
    """``{key: value}`` of the ``keys`` of ``node`` whose value differs from the default of the structured config
    ``schema`` (a dataclass): a value someone set, which whatever does not read ``key`` would ignore.

    Examples
    --------
    >>> changed_from_default(OmegaConf.structured(RunConfig(study=StudyConfig(), threads=2)), RunConfig,
    ...                      ["threads", "device"])
    {'threads': 2}
    """
    defaults = OmegaConf.structured(schema)
    return {key: to_container(node[key]) for key in keys if to_container(node[key]) != to_container(defaults[key])}


def register() -> None:
    """Register :class:`RunConfig` as ``run_schema``, the first entry of ``conf/config.yaml``'s defaults."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="run_schema", node=RunConfig)


register()
