"""Every value of a study's configuration checked before anything runs or is written: :func:`validate` (ranges,
known presets and options, each protocol field for the study's level, the rewiring radius) and
:func:`check_overrides_reach` (a ``study.train`` value that would not reach a model with its own protocol).
OmegaConf has checked the types and keys already (:mod:`dgl_ssm.studies.schema`)."""
from __future__ import annotations

import re
import warnings
from typing import Optional

from .schema import ConfigError, _check_published_format, protocol_for, runs_on, to_container

__all__ = ["validate", "check_overrides_reach"]


def check_overrides_reach(study, overrides) -> None:
    """Refuse a ``study.train.KEY=VALUE`` override that does not reach every model, in one line.

    Under ``study.protocol=published`` a model with its own ``train`` entry for ``KEY`` (its paper's
    configuration) keeps it, so the override would change some models and silently not others. The line names the
    models, their own value, and the override that would change them (``study.models.<key>.train.KEY=VALUE``), or
    ``study.protocol=shared``.

    Raises
    ------
    ConfigError
        Naming the override, the models it does not reach and how to reach them.

    Examples
    --------
    >>> from omegaconf import OmegaConf
    >>> study = OmegaConf.create({"protocol": "published", "train": {"epochs": 5},
    ...                           "models": {"gcn": {"label": "GCN", "train": {"epochs": 200}}, "ssm": {"train": {}}}})
    >>> check_overrides_reach(study, ["study.train.epochs=5"])
    Traceback (most recent call last):
        ...
    dgl_ssm.studies.schema.ConfigError: study.train.epochs=5 does not reach model gcn (GCN), which trains with its own study.models.gcn.train.epochs=200 (its published configuration); add study.models.gcn.train.epochs=5, or train every model with study.train alone: study.protocol=shared
    """
    if study.protocol == "shared":
        return
    for override in overrides:
        name, sep, value = override.lstrip("+").partition("=")
        if not sep or not name.startswith("study.train.") or name.count(".") != 2:
            continue
        key = name.rsplit(".", 1)[1]
        missed = [(model, spec) for model, spec in study.models.items()
                  if key in (to_container(spec.train) or {}) and to_container(spec.train)[key] != to_container(study.train).get(key)]
        if missed:
            names = ", ".join(f"{m} ({spec.label or m})" for m, spec in missed)
            own = ", ".join(f"study.models.{m}.train.{key}={to_container(spec.train)[key]}" for m, spec in missed)
            fix = " ".join(f"study.models.{m}.train.{key}={value}" for m, _ in missed)
            raise ConfigError(f"{name}={value} does not reach model{'s' * (len(missed) > 1)} {names}, which "
                              f"train{'s' * (len(missed) == 1)} with {'its' if len(missed) == 1 else 'their'} own "
                              f"{own} ({'its' if len(missed) == 1 else 'their'} published configuration); add {fix}, "
                              "or train every model with study.train alone: study.protocol=shared")

def _fields_applied(study) -> dict:
    """``{field: (applies, to what)}`` of the study fields that only some datasets or kinds read."""
    from ..data.graph_property import GRAPH_PROPERTY_TASKS

    peptides = any(d.startswith("peptides") for d in study.datasets)
    graph = study.kind == "graph"
    return {
        "sizes": (graph and any(d in GRAPH_PROPERTY_TASKS for d in study.datasets),
                  f"the generated graph property datasets ({', '.join(GRAPH_PROPERTY_TASKS)})"),
        "ring_graphs": ("ring" in study.datasets, "the RingTransfer dataset (ring)"),
        "ring_classes": ("ring" in study.datasets, "the RingTransfer dataset (ring)"),
        "limit": (peptides, "the LRGB Peptides datasets"),
        "param_budget": (graph, "graph-level studies (kind: graph)"),
        "fit_width": (graph, "graph-level studies (kind: graph)"),
        "max_hidden": (graph, "graph-level studies (kind: graph)"),
        "record_gradients": (not graph, "node classification studies (kind: node)"),
    }


def _check_fields_apply(study) -> None:
    """Refuse a study field that none of the study's cells reads, set to other than its default: the sitting would
    run as if it were not set (``study.limit=100`` on Cora, ``study.sizes`` on Peptides).

    Raises
    ------
    ConfigError
        Naming the field, what reads it, and the fix (remove it).
    """
    from .schema import StudyConfig, changed_from_default

    applied = _fields_applied(study)
    unread = [key for key, (applies, _) in applied.items() if not applies]
    for key, value in changed_from_default(study, StudyConfig, unread).items():
        raise ConfigError(f"study.{key}={value!r}: only {applied[key][1]} read it, and study {study.name} "
                          f"({study.kind}: {', '.join(study.datasets)}) has none: it would be ignored; remove it")


def _check_selected_models(cfg) -> None:
    """``models=[...]`` names model entries of the study, at least one, and no part of a selection group."""
    if cfg.models is None:
        return
    study, chosen = cfg.study, list(cfg.models)
    unknown = [m for m in chosen if m not in study.models]
    if unknown or not chosen:
        raise ConfigError(f"models={chosen}: {'no model entry' if not chosen else 'unknown model entries ' + str(unknown)}"
                          f" of study {study.name}; its entries: {', '.join(study.models)} (leave models out to run them all)")
    for row, members in study.select.items():
        left = [m for m in members if m not in chosen]
        if left and len(left) < len(members):
            raise ConfigError(f"models={chosen} leaves out {left} of study.select.{row}, whose members are chosen among "
                              f"on validation together: add them, or leave out the whole row")


def validate(cfg) -> None:
    """Check the values of a resolved :class:`RunConfig` (types are checked by OmegaConf already).

    Raises
    ------
    ConfigError
        Naming the first bad key, its value and what is accepted.
    """
    from ..models import PRESETS, available_models, build_model

    study = cfg.study
    if study.kind not in ("node", "graph"):
        raise ConfigError(f"study.kind must be 'node' or 'graph', got {study.kind!r}")
    for row, members in study.select.items():
        unknown = [m for m in members if m not in study.models]
        if unknown or not members:
            raise ConfigError(f"study.select.{row}: unknown or no model keys {unknown or list(members)}; known: {', '.join(study.models)}")
    _check_published_format(study)  # rows and columns at report time (check_published)
    if (study.select or study.choose_setting) and not study.select_metric.startswith("val_"):
        raise ConfigError(f"study.select_metric must be a validation metric (val_...) with study.select or "
                          f"study.choose_setting, got {study.select_metric!r}: selecting on test would report a "
                          "tuned-on-test number")
    if study.select_seeds and not (study.select and 1 <= study.select_seeds <= study.seeds):
        raise ConfigError(f"study.select_seeds must be 0 or 1..study.seeds ({study.seeds}) with a study.select, got "
                          f"{study.select_seeds}{'' if study.select else ' and no select'}")
    if study.choose_seeds and not (study.choose_setting and 1 <= study.choose_seeds <= study.seeds
                                   and not study.select_seeds):
        why = ("no choose_setting" if not study.choose_setting else "select_seeds as well" if study.select_seeds
               else f"study.seeds = {study.seeds}")
        raise ConfigError(f"study.choose_seeds must be 0 or 1..study.seeds with study.choose_setting and without "
                          f"study.select_seeds, got {study.choose_seeds} with {why}")
    if study.protocol not in ("published", "shared"):
        raise ConfigError(f"study.protocol must be 'published' (each model its own train) or 'shared' (study.train "
                          f"for all), got {study.protocol!r}")
    _check_protocol(study, None)
    for model in study.models:
        _check_protocol(study, model)
    if study.seeds < 1:
        raise ConfigError(f"study.seeds must be >= 1, got {study.seeds}")
    if not study.settings or min(study.settings) < 1:
        raise ConfigError(f"study.settings must be a non-empty list of positive {study.setting_name} values, got {list(study.settings)}")
    if not study.datasets:
        raise ConfigError("study.datasets must name at least one dataset")
    if not study.models:
        raise ConfigError("study.models must name at least one model")
    graph_sets = ("diameter", "sssp", "eccentricity", "ring", "peptides-func", "peptides-struct")
    from ..data.node import NODE_DATASETS

    node_sets = tuple(d for d in NODE_DATASETS if d != "grid")  # grid has no labels
    known = node_sets if study.kind == "node" else graph_sets
    unknown = [d for d in study.datasets if d not in known]
    if unknown:
        raise ConfigError(f"study.datasets: unknown {study.kind}-level dataset(s) {', '.join(unknown)}; known: {', '.join(known)}")
    from ..data.graph_property import GRAPH_PROPERTY_TASKS, TARGET_SCALES

    if study.target_scale not in TARGET_SCALES:
        raise ConfigError(f"study.target_scale must be one of {', '.join(TARGET_SCALES)}, got {study.target_scale!r}")
    if study.target_scale != "train_max" and any(d not in GRAPH_PROPERTY_TASKS for d in study.datasets):
        raise ConfigError(f"study.target_scale={study.target_scale} applies to graph property tasks only "
                          f"({', '.join(GRAPH_PROPERTY_TASKS)}); remove it or those datasets")
    if study.normalize_features and study.kind != "node":
        raise ConfigError("study.normalize_features applies to node classification studies (kind: node) only; "
                          "remove it")
    if study.ring_graphs < study.ring_classes or study.ring_classes < 2:
        raise ConfigError(f"study.ring_classes must be >= 2 and ring_graphs >= ring_classes, got {study.ring_classes}, {study.ring_graphs}")
    if study.limit is not None and study.limit < 1:
        raise ConfigError(f"study.limit must be >= 1 or null (all graphs), got {study.limit}")
    if study.param_budget is not None and study.param_budget < 1:
        raise ConfigError(f"study.param_budget must be >= 1 or null, got {study.param_budget}")
    _check_fields_apply(study)
    if cfg.threads < 1:
        raise ConfigError(f"threads must be >= 1, got {cfg.threads}")
    if not cfg.checkpoint_every_s >= 0:
        raise ConfigError(f"checkpoint_every_s must be >= 0 seconds (0: after every epoch), got {cfg.checkpoint_every_s}")
    if not 0 <= cfg.time_limit_s < float("inf"):
        raise ConfigError(f"time_limit_s must be a finite number of seconds >= 0 (0: no limit), got {cfg.time_limit_s}")
    if cfg.plan_epochs < 0 or (cfg.plan_epochs and not cfg.plan):
        raise ConfigError(f"plan_epochs must be >= 0 and goes with plan=true, got plan_epochs={cfg.plan_epochs}, "
                          f"plan={cfg.plan}")
    if not 0 <= cfg.shard < cfg.num_shards:
        raise ConfigError(f"shard must be in [0, num_shards={cfg.num_shards}), got {cfg.shard}")
    _check_selected_models(cfg)
    flush = [m for m in study.models if to_container(protocol_for(study, m)).get("denormals") == "flush"]
    if flush and (cfg.threads != 1 or not str(cfg.device).startswith("cpu")):
        where = f"study.models.{flush[0]}.train.denormals=flush" if study.protocol == "published" and \
            to_container(study.train).get("denormals") != "flush" else "study.train.denormals=flush"
        raise ConfigError(f"{where} needs threads=1 and device=cpu (flush-to-zero reaches only the calling thread, "
                          f"and only CPU arithmetic), got threads={cfg.threads}, device={cfg.device}; set them, or "
                          "use denormals=ieee")
    for label, spec in study.models.items():
        off = [x for x in (spec.settings or []) if x not in list(study.settings)]
        if off:
            raise ConfigError(f"study.models.{label}.settings: {off} not in study.settings {list(study.settings)}")
        stray = [d for d in spec.datasets if d not in known]
        if stray:
            raise ConfigError(f"study.models.{label}.datasets: unknown {study.kind}-level dataset(s) {', '.join(stray)}; "
                              f"known: {', '.join(known)}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", label):
            raise ConfigError(f"study.models key {label!r} must be an identifier (letters, digits, _); put the display name in label")
        if spec.preset not in PRESETS:
            raise ConfigError(f"study.models.{label}.preset: unknown model {spec.preset!r}; known: {', '.join(available_models())}")
        options = to_container(spec.options)
        try:
            PRESETS[spec.preset].check_options(options)
        except ValueError as err:
            raise ConfigError(f"study.models.{label}.options: {err}") from None
        try:  # a tiny build checks every option value before anything runs
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. the spectral-radius warning: the real build warns again
                tiny = build_model(spec.preset, 3, 4, 2, 2, **options)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"study.models.{label}.options: {err}") from None
        names = [n for n, _ in tiny.named_parameters()]
        for prefix in protocol_for(study, label).weight_decay_groups:  # a typo would decay nothing, mid-run
            if not any(n.startswith(prefix) for n in names):
                raise ConfigError(f"study.models.{label}: weight_decay_groups prefix {prefix!r} matches no parameter "
                                  f"of {spec.preset!r}; parameter names look like {names[0]!r}")

    if not any(runs_on(spec, d) for spec in study.models.values() for d in study.datasets):
        raise ConfigError(f"the grid is empty: no model of study.models runs on study.datasets "
                          f"({', '.join(study.datasets)}; each model lists its own datasets); name a dataset that one runs on")

def _check_protocol(study, model: Optional[str]) -> None:
    """The protocol of ``model`` (``None``: the study's ``train`` section) checked for the study's level
    (:meth:`dgl_ssm.train.cell.TrainProtocol.check`), and the model's preset against its rewiring radius
    (:func:`dgl_ssm.train.cell.rewiring`); one :class:`ConfigError` naming the key."""
    from ..models import PRESETS
    from ..train.cell import TrainProtocol, rewiring

    where = "study.train" if model is None else f"study.models.{model}.train"
    train = to_container(study.train if model is None else protocol_for(study, model))
    try:
        TrainProtocol.from_mapping(train).check(study.kind)
    except ValueError as err:
        key = str(err).split("=", 1)[0].split(" ", 1)[0]  # messages start with the key they name
        raise ConfigError(f"{where}.{err}" if key in train else f"{where}: {err}") from None
    if model is None:
        return
    spec = study.models[model]
    if spec.preset not in PRESETS:
        return  # named by the preset check
    if study.kind == "node" and PRESETS[spec.preset].needs_hop_edges:
        raise ConfigError(f"study.models.{model}.preset: {spec.preset!r} reads k-hop rings (edata['hop']), which node "
                          "studies do not build; run it in a graph-level study (kind: graph)")
    if study.kind == "graph":
        try:
            rewiring(spec.preset, to_container(spec.options), train.get("max_hop"))
        except ValueError as err:
            raise ConfigError(f"study.models.{model}: {err}") from None
