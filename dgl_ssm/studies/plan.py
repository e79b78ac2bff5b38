"""What a sitting would run, and for how long (``plan=true``): the pending cells with a time estimate from the
record, from checkpoints of cells under way, or from epochs timed here (``plan_epochs``). Writes nothing."""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import List, Optional

from .grid import cell_key, checkpoint_dir
from .identity import cell_config
from .schema import protocol_for, to_container
from .selection import selection_choices, setting_choices

__all__ = ["plan_text", "checkpointed_cells", "measure_epochs", "cell_seconds"]


def checkpointed_cells(study, pending: List[dict], out: Path, strict: bool = False) -> dict:
    """``{(model, dataset, setting, seed): (next epoch, seconds trained, seconds per epoch or None, best so far or
    None)}`` of the pending cells that an interrupted sitting left a checkpoint of (:func:`checkpoint_dir`; a sitting
    resumes them there). The best so far is the checkpoint's best monitored validation value, as text
    (``"best val_ap 0.6155 at epoch 193"``).

    Without ``strict`` (``plan=true``) an unreadable checkpoint, or one of another cell, counts as none. With it (a
    sitting, before its first cell) either is one error naming the file. The seconds are CPU seconds when every
    epoch of the checkpoint's history has them, else wall-clock ones (:func:`_trained`).

    Raises
    ------
    dgl_ssm.studies.record.RecordConflict
        (``strict``) If a checkpoint is unreadable, or records another cell's identity (it was copied or moved into
        this cell's folder): resuming it would record another run's result under this cell's configuration.
    """
    from ..train.trainer import Trainer, load_checkpoint
    from .record import RecordConflict

    found = {}
    for cell in pending:
        folder = checkpoint_dir(out, cell, cell_config(study, cell))
        path = folder / Trainer.CHECKPOINT
        if not path.is_file():
            continue
        try:
            state = load_checkpoint(path)
        except (OSError, RuntimeError, ValueError, EOFError) as err:
            if strict:
                raise RecordConflict(f"the checkpoint {path} is unreadable ({' '.join(str(err).split())[:160]}); "
                                     "delete it to start that cell afresh") from None
            continue
        theirs = state.get("identity")  # absent from checkpoints written before identities: the folder names the cell
        if theirs is not None and theirs != folder.name:
            if strict:
                raise RecordConflict(f"the checkpoint {path} is the checkpoint of run {theirs!r}, not of cell "
                                     f"{folder.name!r}: it was copied or moved here; delete it to start that cell "
                                     "afresh, or put it back in its own folder")
            continue
        found[cell_key(study, cell)] = (int(state["next_epoch"]), *_trained(state), _best(study, cell, state))
    return found


def _best(study, cell: dict, state: dict) -> Optional[str]:
    """The best monitored validation value of a checkpoint so far, ``"best val_ap 0.6155 at epoch 193"``; ``None``
    when it has none yet, or its monitor is no single value (``loss_and_metric``)."""
    value, epoch, history = state.get("best_value"), state.get("best_epoch"), state.get("history") or []
    monitor = getattr(protocol_for(study, cell["model"]), "monitor", None) or "metric"
    names = [k for k in (history[-1] if history else {}) if k.startswith("val_") and k != "val_loss"]
    name = "val_loss" if monitor == "loss" else names[0] if monitor == "metric" and len(names) == 1 else None
    if name is None or value is None or epoch is None:
        return None
    return f"best {name} {value:.4f} at epoch {epoch}"


def _trained(state: dict) -> tuple:
    """``(seconds trained, seconds per epoch)`` of a checkpoint: its CPU seconds when every epoch of its history has
    them; else its median wall-clock epoch times its epochs (:func:`~dgl_ssm.train.trainer.history_epoch_seconds`);
    else its wall-clock ``elapsed`` and ``None``."""
    from ..train.trainer import history_cpu_seconds, history_epoch_seconds

    history = state.get("history") or []
    cpu, (per, _) = history_cpu_seconds(history), history_epoch_seconds(history)
    if per is None:
        return float(state["elapsed"]), None
    return (cpu if cpu is not None else per * len(history)), per


def cell_seconds(row: dict) -> Optional[float]:
    """What a recorded cell cost: its CPU seconds (``train_cpu_s``), else its wall-clock ``train_time_s`` (rows
    recorded before CPU time; it counts the time a paused or waiting process spent).

    Examples
    --------
    >>> cell_seconds({"train_time_s": 900.0, "train_cpu_s": 300.0}), cell_seconds({"train_time_s": 900.0})
    (300.0, 900.0)
    """
    return row.get("train_cpu_s") if row.get("train_cpu_s") is not None else row.get("train_time_s")

def measure_epochs(cfg, study, pending: List[dict], recorded: list, device) -> dict:
    """``{(model, dataset, setting): seconds per epoch}``, timed here over ``cfg.plan_epochs`` epochs (the training
    pass and the validation pass, as the Trainer runs them; nothing written) for each pending group without a
    recorded cell of the same model, dataset and setting (lowest pending seed)."""
    from ..train.cell import prepare_cell
    from ..train.denormals import denormal_mode
    from .cells import cell_arguments

    timed = {(r["model"], r["dataset"], r[study.setting_name]) for r in recorded}
    out = {}
    for cell in pending:
        key = (cell["model"], cell["dataset"], cell[study.setting_name])
        if key in timed or key in out:
            continue
        args, options = cell_arguments(study, cell, cfg.data_root, cfg.data_dir)
        prepared = prepare_cell(*args, **options, device=device)
        trainer, seconds = prepared.trainer, 0.0
        with denormal_mode(trainer.denormals, device):  # as fit runs them (the protocol's denormals)
            for _ in range(cfg.plan_epochs):
                start = time.perf_counter()
                prepared.task.train_epoch(trainer._task_model, trainer._task_optimizer)
                prepared.task.evaluate(trainer._task_model, ("val",))
                seconds += time.perf_counter() - start
        out[key] = seconds / cfg.plan_epochs
    return out

def plan_text(study, pending: List[dict], recorded: list, checkpointed: Optional[dict] = None,
              running: Optional[set] = None, measured: Optional[dict] = None) -> str:
    """What a sitting would run: pending cells by model, dataset and setting, each with the mean cost
    (:func:`cell_seconds`: CPU seconds, else wall-clock seconds) of the recorded cells of the same model, dataset
    and setting (else of the model and setting on other datasets, else, for depth, of the nearest recorded depth
    scaled linearly, else of the other entries with the same preset, setting and ``train`` entries other than
    ``hidden``, e.g. one model per task; an entry that changes the rewiring radius or the epochs is not estimated
    from one that does not; times under this machine's load then: an estimate), the known total, and with
    ``study.select_seeds`` (``study.choose_seeds``) the cells that wait for a selection. ``checkpointed`` (from
    :func:`checkpointed_cells`) marks the seeds that resume from a checkpoint, ``seed (from epoch e, best val_ap
    0.6155 at epoch 193)``, and takes
    the time they have trained off the total (down to 0 per cell). ``running`` (keys ``(model, dataset, setting,
    seed)`` whose claim another sitting holds now, :meth:`ResultsRecord.held`) marks the seeds being run, ``seed
    (running)``; they stay in the total, which is what the study still needs. ``measured`` (``{(model, dataset,
    setting): seconds per epoch}``, ``plan_epochs``) estimates a group with no recorded time: the seconds per
    epoch times its protocol's epochs (an upper bound for a cell that early stopping ends sooner); else a group
    whose cells under way left checkpoints is estimated from their own seconds per epoch (:func:`_trained`) times
    its protocol's epochs. Without ``measured``, a plan with cells of no estimate names ``plan_epochs``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> study = SimpleNamespace(name="s", setting_name="depth", select_seeds=0, choose_seeds=0, select={}, models={})
    >>> rows = [{"model": "gcn", "dataset": "cora", "depth": 2, "seed": 0, "train_time_s": 30.0}]
    >>> print(plan_text(study, [{"model": "gcn", "dataset": "cora", "depth": 2, "seed": s} for s in (1, 2)], rows))
    s: 2 cells pending; 0.0 CPU-hours for the 2 with an estimate (1 core each), 0 without one
    <BLANKLINE>
    | model | dataset | depth | seeds | s per cell (recorded cells) |
    |---|---|---|---|---|
    | gcn | cora | 2 | 1, 2 | 30 (1) |
    """
    from ..report import aggregate

    checkpointed, running = checkpointed or {}, running or set()
    recorded = [{**r, "cost_s": cell_seconds(r)} for r in recorded]
    times = aggregate(recorded, ("model", "dataset", study.setting_name), "cost_s")
    elsewhere = aggregate(recorded, ("model", study.setting_name), "cost_s")  # the model on other datasets
    cost = {key: _cost_key(spec) for key, spec in study.models.items()}
    siblings = aggregate([{**r, "cost": cost[r["model"]]} for r in recorded if r["model"] in cost],
                         ("cost", study.setting_name), "cost_s")  # other entries alike but for their width
    groups: dict = {}
    for c in pending:
        groups.setdefault((c["model"], c["dataset"], c[study.setting_name]), []).append(c["seed"])
    lines, known, seconds, resuming = [], 0, 0.0, 0
    for key, seeds in groups.items():
        mean, _, count = times.get(key, (None, None, 0))
        note = ""
        if mean is None and (key[0], key[2]) in elsewhere:
            (mean, _, count), note = elsewhere[(key[0], key[2])], " on other datasets"
        nearest = [(abs(k[2] - key[2]), k[2]) for k in times if k[:2] == key[:2] and k[2] > 0]
        if mean is None and nearest and study.setting_name == "depth":  # time grows about linearly with depth
            depth = min(nearest)[1]
            mean, _, count = times[(key[0], key[1], depth)]
            mean, note = mean * key[2] / depth, f" at depth {depth}, times {key[2] / depth:g}"
        if mean is None and (cost.get(key[0]), key[2]) in siblings:
            (mean, _, count), (preset, train) = siblings[(cost[key[0]], key[2])], cost[key[0]]
            note = f" of preset {preset}" + "".join(f", {k}={v}" for k, v in train)
        if mean is None and measured and key in measured:
            epochs = protocol_for(study, key[0]).epochs
            mean, count, note = measured[key] * epochs, 0, f": measured {measured[key]:.1f} s/epoch × {epochs} epochs"
        resumed = {s: checkpointed.get((*key, s)) for s in seeds}
        resuming += sum(bool(r) for r in resumed.values())
        per_epoch = [r[2] for r in resumed.values() if r and len(r) > 2 and r[2]]
        if mean is None and per_epoch:  # a cell under way times itself
            per, epochs = statistics.median(per_epoch), protocol_for(study, key[0]).epochs
            mean, count, note = per * epochs, 0, f": its checkpoint's {per:.1f} s/epoch × {epochs} epochs"
        if mean is not None:
            known, seconds = known + len(seeds), seconds + mean * len(seeds)
            seconds -= sum(min(r[1], mean) for r in resumed.values() if r)
        notes = {s: ([f"from epoch {resumed[s][0]}"] if resumed[s] else [])
                 + ([resumed[s][3]] if resumed[s] and len(resumed[s]) > 3 and resumed[s][3] else [])
                 + ["running"] * ((*key, s) in running) for s in seeds}
        shown = [f"{s} ({', '.join(notes[s])})" if notes[s] else str(s) for s in seeds]
        lines.append(f"| {' | '.join(map(str, key))} | {', '.join(shown)} | "
                     f"{'unknown' if mean is None else f'{mean:.0f} ({count}{note})' if count else f'{mean:.0f} ({note[2:]})'} |")
    text = (f"{study.name}: {len(pending)} cells pending; {seconds / 3600:.1f} CPU-hours for the {known} with an "
            f"estimate (1 core each), {len(pending) - known} without one")
    if known < len(pending) and measured is None:
        text += " (plan_epochs=1 times one epoch of each here)"
    if resuming:
        text += f"; {resuming} of them resume from a checkpoint (the time trained there is taken off)"
    if running:
        text += f"; {len(running)} of them {'are' if len(running) != 1 else 'is'} being run by another sitting now"
    if study.select_seeds:
        columns = {f"{c['dataset']} {c[study.setting_name]}" for c in pending}
        columns |= {f"{r['dataset']} {r[study.setting_name]}" for r in recorded}
        waiting = [k for k, best in selection_choices(study, recorded, columns).items() if best is None]
        text += (f"; then up to {len(waiting) * (study.seeds - study.select_seeds)} cells of the members chosen "
                 f"in {len(waiting)} selections still open")
    if study.choose_seeds:
        waiting = [k for k, best in setting_choices(study, recorded).items() if best is None]
        text += (f"; then up to {len(waiting) * (study.seeds - study.choose_seeds)} cells at the "
                 f"{study.setting_name} chosen in {len(waiting)} choices still open")
    if lines:
        text += (f"\n\n| model | dataset | {study.setting_name} | seeds | s per cell (recorded cells) |\n|---|---|---|---|---|\n"
                 + "\n".join(lines))
    return text

def _cost_key(spec) -> tuple:
    """An entry's preset and ``train`` entries other than ``hidden``: entries alike in these cost about the same per
    cell (``plan_text``)."""
    train = to_container(getattr(spec, "train", None)) or {}
    return spec.preset, tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in train.items() if k != "hidden"))
