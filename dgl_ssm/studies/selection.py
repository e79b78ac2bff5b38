"""Choices made on validation, never on test: the member of a ``select`` group and the setting (depth) of a model,
over the seeds the candidates share; two-stage choices run their first seeds first (:func:`first_stage_seeds`)."""
from __future__ import annotations

from typing import Optional

from .labels import labelled, labels, setting_of
from .schema import runs_at, runs_on

__all__ = ["first_stage_seeds", "selection_choices", "setting_choices", "members_in", "best_member", "chosen_setting",
           "settings_run"]


def first_stage_seeds(study) -> range:
    """The seeds every member (``study.select_seeds``) or setting (``study.choose_seeds``) runs before the choice;
    the two are exclusive (schema). Empty for a one-stage study."""
    return range(study.first_seed, study.first_seed + (study.select_seeds or study.choose_seeds))

def selection_choices(study, rows: list, columns) -> dict:
    """``{(select group, column): chosen member key, or None while a member lacks one of the first
    study.select_seeds seeds}`` (two-stage selection; columns are ``"<dataset> <setting>"``)."""
    first = first_stage_seeds(study)
    named = labelled(study, rows, multi=True)  # columns name the dataset: a sitting may run one of several
    ran = {(r["model"], r["column"], r["seed"]) for r in named}
    ok = [r for r in named if r.get("status") != "diverged" and r["seed"] in first]
    names, choices = labels(study), {}
    for group, members in study.select.items():
        for column in columns:
            done = all((names[m], column, s) in ran for m in members_in(study, members, column) for s in first)
            choices[(group, column)] = best_member(study, ok, members, column)[0] if done else None
    return choices

def setting_choices(study, rows: list) -> dict:
    """``{(model key, dataset): chosen setting, or None while a setting lacks one of the first study.choose_seeds
    seeds}`` (two-stage choice of the setting, :func:`chosen_setting` over those seeds)."""
    first = first_stage_seeds(study)
    ran = {(r["model"], r["dataset"], int(r[study.setting_name]), r["seed"]) for r in rows}
    choices, names = {}, labels(study)
    for model, spec in study.models.items():
        label = names[model]
        for dataset in (d for d in study.datasets if runs_on(spec, d)):
            done = all((model, dataset, int(x), s) in ran for x in study.settings if runs_at(spec, x) for s in first)
            mine = [r for r in rows if r["model"] == model and r["dataset"] == dataset and r["seed"] in first
                    and r.get("status") != "diverged"]
            column = chosen_setting(study, labelled(study, mine, multi=True), label, dataset, multi=True)[0]
            choices[(model, dataset)] = int(setting_of(column)) if done and column is not None else None
    return choices

def members_in(study, members, column) -> list:
    """The members of a ``select`` group that run in ``column`` (``"<dataset> <setting>"`` or a setting): a member
    with its own ``datasets`` list runs on those only, so a group may hold one member per dataset (e.g. the width and
    λ another study chose on validation for each task)."""
    dataset = str(column).rsplit(" ", 1)[0] if " " in str(column) else None
    return [m for m in members if dataset is None or runs_on(study.models[m], dataset)]

def best_member(study, rows: list, members: list, column):
    """The member (model key) of a ``study.select`` group with the best mean validation metric in ``column``.

    Members are compared over the seeds that every member with results in ``column`` has run, so that a member with
    more seeds (say the one chosen on seed 0 and then run on three) is not favoured by its extra seeds. Returns
    ``(member, members with results, seeds compared)``; ``(None, 0, ())`` when no member has results, and the
    member's own seeds when the members share none.
    """
    names, members = labels(study), members_in(study, members, column)
    values = _validation_values(study, [r for r in rows if r["column"] == column], "model")
    return _best_on_validation(study, {m: values[names[m]] for m in members if names[m] in values})

def _validation_values(study, rows: list, key: str) -> dict:
    """``{row[key]: {seed: study.select_metric}}`` over ``rows`` with a finite validation value."""
    import math
    from numbers import Real

    values = {}
    for r in rows:
        value = r.get(study.select_metric)
        if isinstance(value, Real) and math.isfinite(value):
            values.setdefault(r[key], {})[r["seed"]] = float(value)
    return values

def _best_on_validation(study, candidates: dict):
    """The candidate with the best mean ``study.select_metric`` among ``{candidate: {seed: value}}`` (in order; the
    first wins a tie), compared over the seeds every candidate has (over its own when they share none). Returns
    ``(candidate, candidates, seeds compared)``; ``(None, 0, ())`` without candidates."""
    if not candidates:
        return None, 0, ()
    common = set.intersection(*(set(seeds) for seeds in candidates.values()))
    sign = -1.0 if study.select_higher_is_better else 1.0

    def score(candidate):
        own = candidates[candidate]
        values = [own[s] for s in common] if common else list(own.values())
        return sign * sum(values) / len(values)

    return min(candidates, key=score), len(candidates), tuple(sorted(common))

def chosen_setting(study, rows: list, label: str, dataset: str, multi: Optional[bool] = None):
    """The setting (a table column) of model row ``label`` on ``dataset`` with the best mean validation metric
    (``study.choose_setting``): ``(column, settings with results, seeds compared)``, ``(None, 0, ())`` without
    results. ``rows`` are labelled (:func:`~dgl_ssm.studies.labels.labelled`, columns named as ``multi`` says: by default as the study's
    tables name them) and not diverged; settings are compared over the seeds they all have, so a setting with more
    seeds is not favoured by them; a tie goes to the smaller setting."""
    multi = len(study.datasets) > 1 if multi is None else multi
    mine = [r for r in rows if r["model"] == label and r["dataset"] == dataset]
    values = _validation_values(study, mine, "column")
    order = [f"{dataset} {x}" if multi else x for x in sorted(study.settings)]
    return _best_on_validation(study, {c: values[c] for c in order if c in values})

def settings_run(rows: list, label: str, dataset: str) -> int:
    """How many settings of model row ``label`` on ``dataset`` have recorded cells (diverged ones too)."""
    return len({r["column"] for r in rows if r["model"] == label and r["dataset"] == dataset})
