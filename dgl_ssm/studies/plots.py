"""A study's figures, from its record: the metric against the setting, validation curves, gradient norms at
initialization and the energy profile of the trained models."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from .labels import labelled, labels
from .selection import best_member

__all__ = ["write_plots"]


def write_plots(study, rows: list, out: Path) -> List[str]:
    """``<metric>.png`` (the metric against the setting, one panel per dataset) and, with a layer profile,
    ``energy.png`` (Dirichlet energy and feature norm per layer of the deepest trained model of each row)."""
    from ..report import aggregate, plot_lines, read_csv

    from .provenance import cells_of, departures_note

    names = labels(study)
    # the title is the packaged study's description; rows made with other values say so, as their table does
    other = " (other values: results.md)" if departures_note(study, rows, cells_of(out)) else ""
    written = []
    for dataset in study.datasets:
        settings = {}
        for r in rows:
            if r["dataset"] == dataset:
                settings.setdefault(r["model"], set()).add(r[study.setting_name])
        if settings and all(len(s) == 1 for s in settings.values()) and (out / "histories").is_dir():
            # one setting per model (the rows of lrgb_seed: 5 layers for LRGB's GCN, 17 for the others): a curve
            # says more than a dot
            curves = _plot_validation_curves(study, rows, out, dataset)
            if curves:
                (out / f"{study.metric}_{dataset}.png").unlink(missing_ok=True)
                written.append(curves)
                continue
        stats = aggregate([r for r in rows if r["dataset"] == dataset and r.get("status") != "diverged"],
                          ("model", study.setting_name), study.metric)
        series, errors = {}, {}
        for (model, setting), (mean, std, _) in sorted(stats.items(), key=lambda kv: kv[0][1]):
            series.setdefault(names.get(model, model), ([], []))
            series[names.get(model, model)][0].append(setting)
            series[names.get(model, model)][1].append(mean * study.scale)
            errors.setdefault(names.get(model, model), []).append(std * study.scale)
        if series:
            name = f"{study.metric}_{dataset}.png"
            plot_lines(series, out / name, study.setting_name, study.metric_label or study.metric,
                       f"{study.description or study.name}: {dataset}{other}", logx=study.setting_name == "depth", errors=errors)
            written.append(name)
    grads = read_csv(out / "gradients.csv")
    for dataset in study.datasets if grads else ():
        mine = [g for g in grads if g["dataset"] == dataset and g["layer"] > 0]
        if not mine:
            continue
        deepest = max(g[study.setting_name] for g in mine)
        stats = aggregate([g for g in mine if g[study.setting_name] == deepest], ("model", "layer"), "grad_norm")
        series = {}
        for model in study.models:
            layer_ids = sorted(layer for (m, layer) in stats if m == model)
            if layer_ids:
                series[names[model]] = (layer_ids, [max(stats[(model, layer)][0], 1e-30) for layer in layer_ids])
        if series:
            name = f"gradients_{dataset}.png"
            plot_lines(series, out / name, "layer ℓ", "‖∂L/∂W_ℓ‖ at init",
                       f"{dataset}, L = {deepest}: gradient norms at initialization", logy=True)
            written.append(name)
    layers = read_csv(out / "layers.csv")
    if layers:
        series = {}
        for model in study.models:
            mine = [r for r in layers if r["model"] == model]
            if not mine:
                continue
            deepest = max(r[study.setting_name] for r in mine)
            seed = min(r["seed"] for r in mine if r[study.setting_name] == deepest)
            mine = sorted((r for r in mine if r[study.setting_name] == deepest and r["seed"] == seed), key=lambda r: r["layer"])
            series[f"{names[model]} (L={deepest})"] = ([r["layer"] for r in mine], [max(r["dirichlet_energy"], 1e-30) for r in mine])
        if series:
            plot_lines(series, out / "energy.png", "layer", "Dirichlet energy E(H)", "trained models, deepest of each row",
                       logy=True)
            written.append("energy.png")
    return written

def _plot_validation_curves(study, rows: list, out: Path, dataset: str) -> Optional[str]:
    """``validation_curves_<dataset>.png``: the validation metric per epoch (``histories/``) of each table row's
    lowest seed; a ``select`` group shows its member chosen on validation. ``None`` without histories."""
    from ..report import plot_lines, read_csv
    from .labels import slug

    if not study.metric.startswith("test_"):
        return None
    column, names = "val_" + study.metric[len("test_"):], labels(study)
    mine = [r for r in rows if r["dataset"] == dataset and r.get("status") != "diverged"]
    entries = {names.get(m, m): m for m in dict.fromkeys(r["model"] for r in mine)}
    if study.select:
        setting = mine[0][study.setting_name] if mine else None
        grouped = {m for members in study.select.values() for m in members}
        chosen = {g: best_member(study, labelled(study, mine, True), list(members), f"{dataset} {setting}")[0]
                  for g, members in study.select.items()}
        entries = {**{label: m for label, m in entries.items() if m not in grouped},
                   **{f"{g}: {names[m]}": m for g, m in chosen.items() if m is not None}}
    series = {}
    for label, model in entries.items():
        runs = sorted((r for r in mine if r["model"] == model), key=lambda r: r["seed"])
        if not runs:
            continue
        path = out / "histories" / f"{slug({k: runs[0][k] for k in ('model', 'dataset', study.setting_name, 'seed')})}.csv"
        history = [h for h in read_csv(path) if h.get(column) is not None]  # [] without a history file
        if history:
            series[f"{label}, seed {runs[0]['seed']}"] = ([h["epoch"] for h in history],
                                                          [h[column] * study.scale for h in history])
    if not series:
        return None
    name = f"validation_curves_{dataset}.png"
    plot_lines(series, out / name, "epoch", f"validation {column[4:]}", f"{study.name}: {dataset}, validation per epoch",
               markers=False)
    return name
