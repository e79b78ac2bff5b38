"""``python -m dgl_ssm.studies.tables [FOLDER ...]``: regenerate every study's ``results.md`` from its record.

Without arguments, every ``results/*/`` folder with a ``results.csv`` and a
``provenance.json``; ``--readme README.md`` also fills the README's generated
result blocks. The study configuration is the latest sitting's (from
``provenance.json``), except ``published``, ``choose_setting`` (when the file turns it on) and the row order: the
numbers to compare with and the tables to show are not part of how a result was made, so they come from the
study's current configuration file (``dgl_ssm/conf/study/<name>.yaml``) when
it exists, and rows follow its model order; a line under the title names the values the rows were made with where
they are not the packaged study's (:func:`~dgl_ssm.studies.provenance.departures_note`). ``--check`` writes nothing and exits 1 if a committed
table differs from what its record gives (the test suite runs this).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Optional

from .labels import labelled, labels, setting_of
from .provenance import cells_of, departures_note
from .record import record_study
from .selection import best_member, chosen_setting, first_stage_seeds, members_in, settings_run

__all__ = ["write_tables", "repeats_phrase", "selection_table", "chosen_setting_table", "published_table", "regenerate", "readme_blocks", "main"]


def write_tables(study, rows: list, out: Path, histories: Optional[Path] = None, cells: Optional[dict] = None) -> str:
    """``results.md``: mean ± std of the study's metric (diverged cells counted apart), rows by model.
    ``histories``: the record's per-epoch histories (default ``out / "histories"``), for the epoch time table.
    ``cells``: the record's cell configurations (default ``out / "cells.json"``), for :func:`departures_note`."""
    from .._io import atomic_write
    from ..report import markdown_table
    from .schema import to_container

    multi = len(study.datasets) > 1
    named = labelled(study, rows, multi)
    order = [f"{d} {s}" if multi else s for d in study.datasets for s in study.settings]
    seen = sorted({r["column"] for r in named} - set(order), key=str)
    names = labels(study)
    # models that share a label (one baseline configured per dataset) share a row
    models = list(dict.fromkeys(names[k] for k in study.models)) + sorted({r["model"] for r in named} - set(names.values()))
    table = markdown_table(named, "model", "column", study.metric, scale=study.scale, digits=study.digits,
                           row_order=models, col_order=order + seen, expected=study.seeds,
                           row_label=f"model \\ {'dataset ' if multi else ''}{study.setting_name}")
    for column, why in (study.unavailable or {}).items():  # a column that says why it is empty, on every row
        lines = table.splitlines()
        lines = [ln + (f" {column} |" if i == 0 else "---|" if i == 1 else f" {why} |") for i, ln in enumerate(lines)]
        table = "\n".join(lines)
    seeds = sorted({r["seed"] for r in rows})
    over = repeats_phrase(study, seeds)
    own = [k for k, spec in study.models.items() if to_container(spec.train)]
    if study.protocol == "shared":
        protocol = "shared protocol (every model: the study's train section)"
    elif not own:  # one configuration, whatever it is (the description says: e.g. Platonov et al.'s, a plumbing check)
        protocol = "one configuration for every model (the study's train section)"
    elif len(own) == len(study.models):
        protocol = "published protocol (every model: its own train entries over the study's train section)"
    else:
        protocol = (f"published protocol ({', '.join(names[k] for k in own)}: their own configurations; "
                    "the others: the study's train section)")
    note = departures_note(study, rows, cells_of(out) if cells is None else cells)
    text = (f"{study.description or study.name}: {study.metric_label or study.metric}, {over}; {protocol}. "
            f"Generated from the record "
            f"(results.csv) by `python -m dgl_ssm.studies.tables`.\n\n{note + chr(10) if note else ''}{table}\n")
    if study.select and study.select_seeds:
        last = first_stage_seeds(study)[-1]
        first = f"seed {last}" if study.select_seeds == 1 else f"seeds {study.first_seed}–{last}"
        text += (f"\nEntries of a selection group run {first}; the entry chosen on validation there runs all "
                 f"{study.seeds} seeds (`study.select_seeds`).\n")
    if study.choose_seeds:
        last = first_stage_seeds(study)[-1]
        first = f"seed {last}" if study.choose_seeds == 1 else f"seeds {study.first_seed}–{last}"
        text += (f"\nEvery {study.setting_name} runs {first}; the {study.setting_name} chosen on validation there runs "
                 f"all {study.seeds} seeds (`study.choose_seeds`).\n")
    if study.select:
        text += "\n" + selection_table(study, named, order + seen, multi) + "\n"
    if study.choose_setting:
        text += "\n" + chosen_setting_table(study, named, models) + "\n"
    if study.published and study.compare_published:
        text += "\n" + published_table(study, named, order + seen) + "\n"
    if study.epoch_time_table:
        text += "\n" + epoch_time_table(study, rows, histories or out / "histories", models, order + seen, multi)
    atomic_write(out / "results.md", lambda tmp: Path(tmp).write_text(text))
    return text

def seconds_per_epoch(row: dict, history: list) -> tuple:
    """A cell's seconds per epoch and how they were measured: ``(seconds, "cpu")``, the process's CPU seconds
    (``train_cpu_s / epochs_run``); for a row recorded without them, ``(seconds, "median")``, the median
    wall-clock epoch of its ``history`` (:func:`~dgl_ssm.train.trainer.history_epoch_seconds`: robust to the few
    epochs in which the process was paused); else ``(seconds, "mean")``, ``train_time_s / epochs_run``; ``(None,
    "")`` without any.

    Examples
    --------
    >>> seconds_per_epoch({"train_cpu_s": 30.0, "train_time_s": 900.0, "epochs_run": 3}, [])
    (10.0, 'cpu')
    >>> seconds_per_epoch({"train_time_s": 900.0, "epochs_run": 3}, [{"time_s": 9.0}, {"time_s": 11.0}, {"time_s": 880.0}])
    (11.0, 'median')
    >>> seconds_per_epoch({"train_time_s": 900.0, "epochs_run": 3}, [])
    (300.0, 'mean')
    """
    from ..train.trainer import history_epoch_seconds

    epochs = row.get("epochs_run")
    if not epochs:
        return None, ""
    if row.get("train_cpu_s") is not None:
        return row["train_cpu_s"] / epochs, "cpu"
    wall = history_epoch_seconds([{"time_s": h.get("time_s")} for h in history])[0]
    if wall is not None:
        return wall, "median"
    if row.get("train_time_s") is not None:
        return row["train_time_s"] / epochs, "mean"
    return None, ""


def epoch_time_table(study, rows: list, histories: Path, models: list, columns: list, multi: bool) -> str:
    """Seconds per training epoch (with its validation pass) of each row and column, mean ± std over seeds, by
    :func:`seconds_per_epoch`. A row with a cell recorded without CPU time is marked (``†``: its median
    wall-clock epoch from ``histories``; ``*``: its mean wall-clock epoch), and the note says so."""
    from ..report import markdown_table, read_csv
    from .labels import slug

    marks = {"cpu": "", "median": " †", "mean": " *"}
    timed = []
    for r, named in zip(rows, labelled(study, rows, multi)):
        key = {k: r[k] for k in ("model", "dataset", study.setting_name, "seed")}
        seconds, how = seconds_per_epoch(r, read_csv(histories / f"{slug(key)}.csv"))
        if seconds is not None:
            timed.append({**named, "seconds": seconds, "how": how})
    weakest = {}
    for t in timed:
        weakest[t["model"]] = max(weakest.get(t["model"], "cpu"), t["how"], key=list(marks).index)
    for t in timed:
        t["model"] += marks[weakest[t["model"]]]
    order = [m + marks[weakest[m]] for m in models if m in weakest]
    notes = []
    if "cpu" in weakest.values():
        notes.append("CPU seconds of the training process per epoch (`train_cpu_s / epochs_run`: time paused or "
                     "waiting for a shared core does not count)")
    if "median" in weakest.values():
        notes.append("†: recorded without CPU time, the median wall-clock epoch of its history (`histories/`; a few "
                     "paused epochs do not move it, a core shared for long does)")
    if "mean" in weakest.values():
        notes.append("*: recorded without CPU time or history, `train_time_s / epochs_run` (wall-clock: it counts "
                     "pauses)")
    table = markdown_table(timed, "model", "column", "seconds", digits=2, row_order=order, col_order=columns,
                           row_label="model")
    return f"Training time per epoch (s, this machine, see provenance.json; {'; '.join(notes)}):\n\n{table}\n"


def repeats_phrase(study, seeds: list) -> str:
    """What a table's mean is over: seeds, or, for node graphs with published splits (Geom-GCN, the filtered graphs),
    the splits the seeds select (run ``s`` uses split ``s % 10``, :func:`dgl_ssm.data.node.split_for_seed`).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> repeats_phrase(SimpleNamespace(kind="node", datasets=["texas"]), list(range(10)))
    'mean ± std over 10 splits (one run per split; run s uses split s % 10)'
    >>> repeats_phrase(SimpleNamespace(kind="node", datasets=["cora"]), [0, 1])
    'mean ± std over 2 seeds (0, 1)'
    """
    listed = ", ".join(map(str, seeds))
    splits = None
    if study.kind == "node":
        from ..data.node import num_splits

        counts = {num_splits(d) for d in study.datasets}
        splits = next(iter(counts)) if len(counts) == 1 and next(iter(counts)) > 1 else None
    if splits and len({s % splits for s in seeds}) == len(seeds):
        if len(seeds) == 1:
            return f"one split ({seeds[0] % splits}, run {seeds[0]})"
        which = "" if seeds == list(range(len(seeds))) else f": runs {listed}"
        return f"mean ± std over {len(seeds)} splits (one run per split; run s uses split s % {splits}{which})"
    return f"one seed ({seeds[0]})" if len(seeds) == 1 else f"mean ± std over {len(seeds)} seeds ({listed})"


def chosen_setting_table(study, rows: list, models: list) -> str:
    """Per model row and dataset, the setting chosen on validation (:func:`chosen_setting`) and its test metric."""
    from ..report import aggregate, count_of, mean_std

    ok = [r for r in rows if r.get("status") != "diverged"]
    test = aggregate(ok, ("model", "column"), study.metric)
    name = study.setting_name
    lines = ["| model \\ dataset | " + " | ".join(study.datasets) + " |", "|---" * (len(study.datasets) + 1) + "|"]
    for label in models:
        cells = []
        for dataset in study.datasets:
            column, have, common = chosen_setting(study, ok, label, dataset)
            if column is None or (label, column) not in test:
                cells.append("–")
                continue
            mean, std, count = test[(label, column)]
            setting = setting_of(column)
            ran = settings_run(rows, label, dataset)
            note = f", {ran} of {len(study.settings)} {name}s run" if ran < len(study.settings) else ""
            if have > 1 and len(common) < count:
                note += (f", chosen on seed{'s' if len(common) > 1 else ''} {', '.join(map(str, common))}"
                         if common else f", no seed shared: chosen on each {name}'s own seeds")
            cells.append(f"{mean_std(mean, std, count, study.scale, study.digits)} ({name} {setting}, "
                         f"{count_of(count, 'seed')}{note})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return (f"Per model, the {name} with the best mean {study.select_metric} over the seeds every {name} has run "
            f"(validation; the test set is never used to choose; diverged cells cannot be chosen), its "
            f"{study.metric_label or study.metric}:\n\n" + "\n".join(lines))

def entries_run(study, members, column, have: int) -> str:
    """``", k of n entries run"`` while only ``have`` of a group's members in ``column`` have results, else ``""``."""
    total = len(members_in(study, members, column))
    return f", {have} of {total} entries run" if have < total else ""

def selection_table(study, rows: list, columns: list, multi: bool) -> str:
    """Per row group and column, the member with the best mean ``study.select_metric`` (validation), its test metric.

    ``rows`` carry ``model`` as display labels and ``column``; members are model keys of ``study.select``. A cell
    reads ``test mean ± std · chosen member`` over all the member's seeds; it says how many members had results when
    some had none yet, and on which seeds the members were compared when that is fewer than the member's own.
    """
    from ..report import aggregate, count_of, mean_std

    names = labels(study)
    ok = [r for r in rows if r.get("status") != "diverged"]
    test = aggregate(ok, ("model", "column"), study.metric)
    lines = [f"| {'selected on ' + study.select_metric} | " + " | ".join(map(str, columns)) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for group, members in study.select.items():
        cells = []
        for column in columns:
            best, have, common = best_member(study, ok, members, column)
            if best is None or (names[best], column) not in test:  # no member yet, or its test metric not finite
                cells.append("–")
                continue
            mean, std, count = test[(names[best], column)]
            note = entries_run(study, members, column, have)
            if have > 1 and len(common) < count:
                note += (f", chosen on seed{'s' if len(common) > 1 else ''} {', '.join(map(str, common))}"
                         if common else ", members share no seed: chosen on their own seeds")
            cells.append(f"{mean_std(mean, std, count, study.scale, study.digits)} "
                         f"({names[best]}, {count_of(count, 'seed')}{note})")
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return (f"Per row, the entry with the best mean {study.select_metric} over the seeds all entries have run "
            f"(validation; the test set is never used to choose), its {study.metric_label or study.metric}:\n\n" + "\n".join(lines))

def published_table(study, rows: list, columns: list) -> str:
    """Ours beside ``study.published``: one line per (row, column) with a published number.

    Ours is the row's selected member (a ``study.select`` group, chosen on validation; "k of n entries run" while
    the choice is among some of its members only) or the model label's runs; in a column ``"<dataset> chosen"``
    (``study.choose_setting``), the model's runs at its setting chosen on validation; the difference is ours − published in
    the table's units. Scale notes and sources come from the configuration.
    A number keyed ``"<dataset> <setting>"`` meets a one-dataset table's column ``<setting>`` (a record made
    before its study had more datasets).
    """
    from ..report import aggregate, count_of, mean_std
    from .schema import parse_published

    names = labels(study)
    ok = [r for r in rows if r.get("status") != "diverged"]
    test = aggregate(ok, ("model", "column"), study.metric)
    by_name = {str(c): c for c in columns}
    if len(study.datasets) == 1:  # a one-dataset table names its columns by the setting alone
        by_name.update({f"{study.datasets[0]} {c}": c for c in columns})
    d = study.digits
    lines = ["| row | column | ours | published | ours − published | published: scale, source |", "|---|---|---|---|---|---|"]
    for row, entry in study.published.items():
        for name, value in entry.numbers.items():
            column = by_name.get(str(name), name)
            label, partial = row, ""
            if study.choose_setting and str(name).split(" ")[-1] == "chosen":  # the row's setting chosen on validation
                dataset = str(name).rsplit(" ", 1)[0] if len(study.datasets) > 1 else study.datasets[0]
                column, _, _ = chosen_setting(study, ok, row, dataset)
                ran = settings_run(rows, row, dataset)
                if column is not None:
                    partial = (f", {study.setting_name} {setting_of(column)} chosen on validation"
                               + (f", {ran} of {len(study.settings)} run" if ran < len(study.settings) else ""))
            elif row in study.select:
                best, have, _ = best_member(study, ok, list(study.select[row]), column)
                label = names[best] if best else None
                partial = entries_run(study, list(study.select[row]), column, have)
            pub_mean, _pub_std = parse_published(value)
            if label is None or (label, column) not in test:
                ours, diff = "–", "–"
            else:
                mean, std, count = test[(label, column)]
                ours = f"{mean_std(mean, std, count, study.scale, d)} ({count_of(count, 'seed')}{partial})"
                diff = f"{round(mean * study.scale - pub_mean, d) + 0.0:+.{d}f}"  # + 0.0: "+0.0", never "-0.0"
            note = "; ".join(x for x in (entry.scale, entry.source) if x)
            lines.append(f"| {row} | {name} | {ours} | {value} | {diff} | {note} |")
    return (f"Ours against the published numbers ({study.metric_label or study.metric}; a selected row uses the "
            f"member chosen on validation):\n\n" + "\n".join(lines))


def regenerate(folder: Path, write: bool = True, warn=None) -> str:
    """The ``results.md`` text of the study in ``folder`` (written, with the plots, unless ``write`` is false).

    Damaged rows (:mod:`~dgl_ssm.studies.integrity`) are left out and named in one line given to ``warn``; a record
    without ``provenance.json`` is tabulated with its packaged configuration (``dgl_ssm/conf/study/<folder
    name>.yaml``), and ``warn`` says that the rows' provenance is missing.

    Raises
    ------
    FileNotFoundError
        If ``provenance.json`` is missing and no packaged study has the folder's name.
    """
    from .plots import write_plots
    from .record import ResultsRecord, packaged_study

    folder, warn = Path(folder), warn or (lambda line: None)
    if (folder / "provenance.json").is_file():
        study = record_study(folder)
    else:
        study = packaged_study(folder.name)
        if study is None:
            raise FileNotFoundError(f"{folder / 'provenance.json'} is missing and no packaged study is named "
                                    f"{folder.name!r}: restore it (git checkout -- {folder / 'provenance.json'})")
        warn(f"{folder / 'provenance.json'} is missing: the rows' commits, commands and machines are unknown; "
             f"tables made with the packaged configuration {folder.name!r} (restore it: git checkout -- "
             f"{folder / 'provenance.json'})")
    record = ResultsRecord(folder, ("model", "dataset", study.setting_name, "seed"))
    damage = record.integrity().report(record.csv, ("model", "dataset", study.setting_name, "seed"))
    if damage:
        warn(damage)
    rows = record.rows()
    if write:
        write_plots(study, rows, folder)
        return write_tables(study, rows, folder)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return write_tables(study, rows, Path(tmp), histories=folder / "histories", cells=cells_of(folder))


def readme_blocks(readme: Path, results: Path) -> str:
    """``readme`` with every ``<!-- results:NAME -->`` ... ``<!-- /results:NAME -->`` block set to ``results/NAME/results.md``."""
    text = readme.read_text()

    def fill(match):
        name = match.group(1)
        table = (results / name / "results.md").read_text().strip()
        return f"<!-- results:{name} -->\n{table}\n<!-- /results:{name} -->"

    return re.sub(r"<!-- results:([\w-]+) -->.*?<!-- /results:\1 -->", fill, text, flags=re.S)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="*", type=Path)
    p.add_argument("--check", action="store_true", help="compare with the committed results.md instead of writing")
    p.add_argument("--readme", type=Path, default=None,
                   help="also fill the <!-- results:NAME --> blocks of this Markdown file from results/NAME/results.md")
    args = p.parse_args(argv)
    folders = args.folders or sorted(f.parent for f in Path("results").glob("*/results.csv"))  # studies, not diagnostics
    for folder in folders:
        if not (Path(folder) / "results.csv").is_file():
            print(f"error: {folder} is not a study record: it has no results.csv (a record holds results.csv, "
                  "cells.json and provenance.json, as a sitting of python -m dgl_ssm.studies writes them)",
                  file=sys.stderr)
            return 2
    stale = []
    for folder in folders:
        try:
            text = regenerate(folder, write=not args.check, warn=lambda line: print(f"warning: {line}", file=sys.stderr))
        except FileNotFoundError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        committed = folder / "results.md"
        if args.check and (not committed.is_file() or committed.read_text() != text):
            stale.append(str(folder))
    if args.readme is not None:
        filled = readme_blocks(args.readme, Path("results") if not args.folders else args.folders[0].parent)
        if args.check and filled != args.readme.read_text():
            stale.append(str(args.readme))
        elif not args.check:
            args.readme.write_text(filled)
    if stale:
        print(f"error: results.md differs from its record in {', '.join(stale)}; run python -m dgl_ssm.studies.tables")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
