"""Run a study: every pending cell of the grid, each recorded as it finishes; then the tables.

The library entry point is :func:`run_study` (a resolved configuration in,
rows and a Markdown table out); ``python -m dgl_ssm.studies`` is the command
line on top of it (Hydra).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from .identity import IMPLICIT_PROTOCOL, cell_config  # noqa: F401  (re-exported: the cell identity)
from .record import ResultsRecord
from .schema import ConfigError, protocol_for, runs_at, runs_on, to_container, validate
from .stop import SittingStop, StudyStopped

__all__ = ["run_study", "study_cells", "cell_config", "write_tables", "output_folder", "plan_text"]


def output_folder(cfg) -> Path:
    """``cfg.out`` or ``results/<study.name>``, checked to be usable before anything is written.

    Raises
    ------
    ConfigError
        If the path is a file or its nearest existing folder is not writable.
    """
    from ..experiment import check_output_folder

    try:
        return check_output_folder(Path(cfg.out) if cfg.out else Path("results") / cfg.study.name, "out=")
    except ValueError as err:
        raise ConfigError(str(err).replace("out= ", "out=")) from None


def study_cells(study, rows: list = ()) -> List[dict]:
    """Every cell of the grid: dataset by dataset, setting by setting, model by model, seed by seed.

    A model with its own ``datasets`` list (e.g. a baseline configured for one dataset) runs on those only. With
    ``study.select_seeds``, a member of a ``select`` group runs the seeds after the first ``select_seeds`` only if it
    is the member chosen on validation over those seeds in ``rows`` (the record) once every member has run them;
    with ``study.choose_seeds``, a model runs the seeds after the first ``choose_seeds`` only at its setting chosen on
    validation over those (:func:`setting_choices`).
    """
    cells = [
        {"model": model, "dataset": dataset, study.setting_name: int(setting), "seed": seed}
        for dataset in study.datasets
        for setting in study.settings
        for model in study.models
        if runs_on(study.models[model], dataset) and runs_at(study.models[model], setting)
        for seed in range(study.first_seed, study.first_seed + study.seeds)
    ]
    if study.choose_seeds:
        chosen = setting_choices(study, rows)
        first = first_stage_seeds(study)
        return [c for c in cells if c["seed"] in first
                or chosen.get((c["model"], c["dataset"])) == c[study.setting_name]]
    if not study.select_seeds:
        return cells
    first = first_stage_seeds(study)
    choices = selection_choices(study, rows, {_column(study, c, True) for c in cells})
    chosen = {(best, column) for (_, column), best in choices.items() if best is not None}
    grouped = {m for members in study.select.values() for m in members}
    return [c for c in cells
            if c["model"] not in grouped or c["seed"] in first or (c["model"], _column(study, c, True)) in chosen]


def first_stage_seeds(study) -> range:
    """The seeds every member (``study.select_seeds``) or setting (``study.choose_seeds``) runs before the choice;
    the two are exclusive (schema). Empty for a one-stage study."""
    return range(study.first_seed, study.first_seed + (study.select_seeds or study.choose_seeds))


def selection_choices(study, rows: list, columns) -> dict:
    """``{(select group, column): chosen member key, or None while a member lacks one of the first
    study.select_seeds seeds}`` (two-stage selection; columns are ``"<dataset> <setting>"``)."""
    first = first_stage_seeds(study)
    labelled = _labelled(study, rows, multi=True)  # columns name the dataset: a sitting may run one of several
    ran = {(r["model"], r["column"], r["seed"]) for r in labelled}
    ok = [r for r in labelled if r.get("status") != "diverged" and r["seed"] in first]
    labels, choices = _labels(study), {}
    for group, members in study.select.items():
        for column in columns:
            done = all((labels[m], column, s) in ran for m in _members_in(study, members, column) for s in first)
            choices[(group, column)] = _best_member(study, ok, members, column)[0] if done else None
    return choices


def setting_choices(study, rows: list) -> dict:
    """``{(model key, dataset): chosen setting, or None while a setting lacks one of the first study.choose_seeds
    seeds}`` (two-stage choice of the setting, :func:`chosen_setting` over those seeds)."""
    first = first_stage_seeds(study)
    ran = {(r["model"], r["dataset"], int(r[study.setting_name]), r["seed"]) for r in rows}
    choices, labels = {}, _labels(study)
    for model, spec in study.models.items():
        label = labels[model]
        for dataset in (d for d in study.datasets if runs_on(spec, d)):
            done = all((model, dataset, int(x), s) in ran for x in study.settings if runs_at(spec, x) for s in first)
            mine = [r for r in rows if r["model"] == model and r["dataset"] == dataset and r["seed"] in first
                    and r.get("status") != "diverged"]
            column = chosen_setting(study, _labelled(study, mine, multi=True), label, dataset, multi=True)[0]
            choices[(model, dataset)] = int(_setting_of(column)) if done and column is not None else None
    return choices


def _column(study, row: dict, multi: bool):
    """A row's table column: ``"<dataset> <setting>"`` if ``multi`` (the study has several datasets), else the setting."""
    return f"{row['dataset']} {row[study.setting_name]}" if multi else row[study.setting_name]


def _labelled(study, rows, multi: bool) -> list:
    """Record rows with ``model`` as its table label and their ``column``."""
    names = _labels(study)
    return [{**r, "column": _column(study, r, multi), "model": names.get(r["model"], r["model"])} for r in rows]


def run_study(cfg, command: str = "", log: Callable[[str], None] = print) -> Tuple[list, str]:
    """Run the pending cells of ``cfg.study`` (this worker's shard) and write the record and tables.

    Parameters
    ----------
    cfg : omegaconf.DictConfig
        A resolved :class:`~dgl_ssm.studies.schema.RunConfig`.
    command : str
        The command line, for the provenance.
    log : callable
        Receives one line per finished cell.

    Returns
    -------
    (list of dict, str)
        Every row of the record and the Markdown table.

    Raises
    ------
    ConfigError
        On a bad value (before anything is written).
    dgl_ssm.studies.record.RecordConflict
        If a cell is recorded with another configuration (before anything runs).
    dgl_ssm.studies.stop.StudyStopped
        When ``cfg.time_limit_s`` passed, or SIGTERM / SIGUSR1 came, before the last pending cell (the record and
        tables are written first; the interrupted cell's checkpoint is kept and the next sitting continues it).
    """
    from ..experiment import resolve_device
    from ..runtime import configure_threads
    from ..train.distributed import cleanup_distributed, init_distributed

    validate(cfg)  # every bad value (threads included) is one ConfigError before anything is set or written
    configure_threads(cfg.threads)
    study = cfg.study
    out = output_folder(cfg)
    resolve_device(cfg.device)
    info = init_distributed(cfg.device)  # under torchrun: one process per rank, gloo on CPU, nccl on CUDA
    if info.enabled and (study.kind != "graph" or cfg.num_shards != 1):
        raise ConfigError("under torchrun (DDP) a study must be graph-level with num_shards=1: the ranks share each cell")
    if info.enabled and cfg.time_limit_s:
        raise ConfigError("time_limit_s is not available under torchrun (DDP): the ranks could stop at different "
                          "epochs; leave it at 0 and give the time limit to the scheduler (the checkpoint resumes)")
    device, main = info.device, info.is_main
    log = log if main else (lambda *_: None)
    record = ResultsRecord(out, ("model", "dataset", study.setting_name, "seed"))
    if cfg.plan:
        recorded = record.rows()
        pending = _pending(cfg, record, recorded)[0]
        running = {_key(study, c) for c in pending if record.held(c)}
        measured = _measure_epochs(cfg, study, pending, recorded, device) if cfg.plan_epochs else None
        return recorded, plan_text(study, pending, recorded, _checkpointed(study, pending, out), running,
                                   measured)  # printed by the caller
    start, stop, stopped = time.time(), SittingStop(cfg.time_limit_s), None
    try:
        with contextlib.nullcontext() if info.enabled else stop.on_signals():
            stopped = _run_stages(cfg, study, record, out, device, info, start, log, stop, main, command)
    finally:
        cleanup_distributed()
    rows = record.rows()
    if not main:
        return rows, ""
    whole = _whole_study(study, out)
    table = write_tables(whole, rows, out)
    write_plots(whole, rows, out)
    if stopped:
        raise StudyStopped(f"{study.name}: sitting stopped ({stopped}); rerun the same command to continue", stopped)
    return rows, table


def _run_stages(cfg, study, record, out, device, info, start, log, stop, main, command) -> Optional[str]:
    """The pending cells, in one stage or (``study.select_seeds``, ``study.choose_seeds``) two; why the sitting
    stopped early, or ``None``.

    With two stages a sitting plans again after each pass and runs the cells it has not tried yet: a choice whose
    first-stage cell another sitting was running when this one planned opens once that cell is recorded (a sitting
    used to end then and leave the choice's seeds to a rerun). Cells still held by another sitting at the end are
    named in one line (first-stage cells only: a second-stage cell opens nothing): rerun the command after that
    sitting to run what they open. A cell skipped because another sitting held it, and no longer held by anyone at
    the end without being recorded (that sitting was killed or failed), runs here (one- or two-stage)."""
    two_stage = study.select_seeds or study.choose_seeds
    tried, stage = set(), 0
    while True:  # the chosen members' (settings') remaining seeds once their choice is made
        pending, done, cells = _pending(cfg, record, record.rows())
        fresh = [c for c in pending if _key(study, c) not in tried]
        if done and not stage:
            log(f"{study.name}: {done} of {cells} cells already recorded in {record.csv}, skipped")
        if stage and not fresh:
            # a tried cell still pending was skipped while another sitting held it (a cell this sitting runs is
            # recorded or ends the sitting); if nobody holds it now, that sitting ended without recording it
            fresh = [c for c in pending if not record.held(c)]
            if fresh:
                log(f"{study.name}: {_cells(len(fresh))} another sitting held {'were' if len(fresh) != 1 else 'was'}"
                    f" left unrecorded when it ended; running {'them' if len(fresh) != 1 else 'it'} here")
            else:  # a held first-stage cell can open a choice after this sitting ends; a second-stage one cannot
                n = sum(c["seed"] in first_stage_seeds(study) for c in pending)
                if n:
                    log(f"{study.name}: {_cells(n)} another sitting is running {'are' if n != 1 else 'is'} "
                        f"not recorded yet; rerun this command after it to run the seeds of the choices "
                        f"{'they open' if n != 1 else 'it opens'} (plan=true lists them)")
                return None
        elif stage:
            log(f"{study.name}: selection on seeds < {first_stage_seeds(study).stop} done, "
                f"{len(fresh)} cells of the chosen {'members' if study.select_seeds else 'settings'} follow")
        sitting = record.start_sitting(to_container(study), command, len(fresh)) if fresh and main else None
        stopped = _run_cells(cfg, study, fresh, record, out, device, info, sitting, start, log,
                             None if info.enabled else stop)
        tried.update(_key(study, c) for c in fresh)
        if stopped or not fresh or info.enabled:  # under torchrun: rerun for stage 2 (ranks share no claims)
            return stopped
        stage += 1


def _cells(n: int) -> str:
    return f"{n} cell{'s' * (n != 1)}"


def _pending(cfg, record: ResultsRecord, recorded: list) -> Tuple[List[dict], int, int]:
    """This shard's pending cells of ``cfg.study`` given the record's rows, with how many of all cells are done and
    how many there are; a cell recorded with another configuration is refused (before anything runs)."""
    cells = study_cells(cfg.study, recorded)
    status = [record.status(c, cell_config(cfg.study, c), recorded) for c in cells]
    pending = [c for i, (c, s) in enumerate(zip(cells, status)) if s == "pending" and i % cfg.num_shards == cfg.shard]
    return pending, sum(s == "done" for s in status), len(cells)


def _checkpointed(study, pending: List[dict], out: Path) -> dict:
    """``{(model, dataset, setting, seed): (next epoch, seconds trained)}`` of the pending cells that an interrupted
    sitting left a checkpoint of (:func:`checkpoint_dir`; a sitting resumes them there); an unreadable checkpoint
    counts as none (the sitting that runs the cell reports it)."""
    from ..train.trainer import Trainer, load_checkpoint

    found = {}
    for cell in pending:
        path = checkpoint_dir(out, cell, cell_config(study, cell)) / Trainer.CHECKPOINT
        if path.is_file():
            try:
                state = load_checkpoint(path)
            except (OSError, RuntimeError, ValueError):
                continue
            found[_key(study, cell)] = (
                int(state["next_epoch"]), float(state["elapsed"]))
    return found


def _measure_epochs(cfg, study, pending: List[dict], recorded: list, device) -> dict:
    """``{(model, dataset, setting): seconds per epoch}``, timed here over ``cfg.plan_epochs`` epochs (the training
    pass and the validation pass, as the Trainer runs them; nothing written) for each pending group without a
    recorded cell of the same model, dataset and setting (lowest pending seed)."""
    from ..train.cell import prepare_cell
    from .cells import cell_data, cell_protocol, layers_of

    timed = {(r["model"], r["dataset"], r[study.setting_name]) for r in recorded}
    out = {}
    for cell in pending:
        key = (cell["model"], cell["dataset"], cell[study.setting_name])
        if key in timed or key in out:
            continue
        spec = study.models[cell["model"]]
        prepared = prepare_cell(cell["dataset"], spec.preset, layers_of(study, cell), int(cell["seed"]),
                                cell_protocol(study, cell["model"]), options=to_container(spec.options),
                                data=cell_data(study, cell, cfg.data_root, cfg.data_dir),
                                param_budget=study.param_budget, max_hidden=study.max_hidden, device=device,
                                fit_width_to_budget=study.fit_width and "hidden" not in (to_container(spec.train) or {}))
        trainer, seconds = prepared.trainer, 0.0
        for _ in range(cfg.plan_epochs):
            start = time.perf_counter()
            prepared.task.train_epoch(trainer._task_model, trainer._task_optimizer)
            prepared.task.evaluate(trainer._task_model, ("val",))
            seconds += time.perf_counter() - start
        out[key] = seconds / cfg.plan_epochs
    return out


def _key(study, cell: dict) -> tuple:
    return tuple(cell[k] for k in ("model", "dataset", study.setting_name, "seed"))


def plan_text(study, pending: List[dict], recorded: list, checkpointed: Optional[dict] = None,
              running: Optional[set] = None, measured: Optional[dict] = None) -> str:
    """What a sitting would run: pending cells by model, dataset and setting, each with the mean ``train_time_s`` of
    the recorded cells of the same model, dataset and setting (else of the model and setting on other datasets, else,
    for depth, of the nearest recorded depth scaled linearly, else of the other entries with the same preset, setting
    and ``train`` entries other than ``hidden``, e.g. one model per task; an entry that changes the rewiring radius
    or the epochs is not estimated from one that does not; times under this machine's load then: an estimate), the
    known total, and with ``study.select_seeds`` (``study.choose_seeds``) the cells that wait for a selection. ``checkpointed`` (from
    :func:`_checkpointed`) marks the seeds that resume from a checkpoint, ``seed (from epoch e)``, and takes the
    time they have trained off the total (down to 0 per cell). ``running`` (keys ``(model, dataset, setting, seed)``
    whose claim another sitting holds now, :meth:`ResultsRecord.held`) marks the seeds being run, ``seed (running)``;
    they stay in the total, which is what the study still needs. ``measured`` (``{(model, dataset, setting): seconds
    per epoch}``, ``plan_epochs``) estimates a group with no recorded time: the seconds per epoch times its
    protocol's epochs (an upper bound for a cell that early stopping ends sooner).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> study = SimpleNamespace(name="s", setting_name="depth", select_seeds=0, choose_seeds=0, select={}, models={})
    >>> rows = [{"model": "gcn", "dataset": "cora", "depth": 2, "seed": 0, "train_time_s": 30.0}]
    >>> print(plan_text(study, [{"model": "gcn", "dataset": "cora", "depth": 2, "seed": s} for s in (1, 2)], rows))
    s: 2 cells pending; 0.0 CPU-hours for the 2 with a recorded time (1 core each), 0 without one
    <BLANKLINE>
    | model | dataset | depth | seeds | s per cell (recorded cells) |
    |---|---|---|---|---|
    | gcn | cora | 2 | 1, 2 | 30 (1) |
    """
    from ..report import aggregate

    checkpointed, running = checkpointed or {}, running or set()
    times = aggregate(recorded, ("model", "dataset", study.setting_name), "train_time_s")
    elsewhere = aggregate(recorded, ("model", study.setting_name), "train_time_s")  # the model on other datasets
    cost = {key: _cost_key(spec) for key, spec in study.models.items()}
    siblings = aggregate([{**r, "cost": cost[r["model"]]} for r in recorded if r["model"] in cost],
                         ("cost", study.setting_name), "train_time_s")  # other entries alike but for their width
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
        if mean is not None:
            known, seconds = known + len(seeds), seconds + mean * len(seeds)
            seconds -= sum(min(r[1], mean) for r in resumed.values() if r)
        notes = {s: ([f"from epoch {resumed[s][0]}"] if resumed[s] else []) + ["running"] * ((*key, s) in running)
                 for s in seeds}
        shown = [f"{s} ({', '.join(notes[s])})" if notes[s] else str(s) for s in seeds]
        lines.append(f"| {' | '.join(map(str, key))} | {', '.join(shown)} | "
                     f"{'unknown' if mean is None else f'{mean:.0f} ({count}{note})' if count else f'{mean:.0f} ({note[2:]})'} |")
    text = (f"{study.name}: {len(pending)} cells pending; {seconds / 3600:.1f} CPU-hours for the {known} with a "
            f"recorded time (1 core each), {len(pending) - known} without one")
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


def _whole_study(study, out: Path):
    """The study of the whole record in ``out`` (every sitting's models and settings, rows in the configuration's
    order; :func:`dgl_ssm.studies.tables.record_study`), so that a sitting that ran part of the grid writes the same
    ``results.md`` as ``python -m dgl_ssm.studies.tables``; this sitting's study if the record has no provenance."""
    from .tables import record_study

    return record_study(out) if (out / "provenance.json").is_file() else study


def _not_recorded(study, record, cells) -> int:
    """How many of ``cells`` the record does not hold yet (another sitting may have recorded some of this sitting's
    plan meanwhile: those are not "not started")."""
    rows = record.rows()
    return sum(record.status(cell, cell_config(study, cell), rows) != "done" for cell in cells)


def _run_cells(cfg, study, pending, record, out, device, info, sitting, start, log, stop=None) -> Optional[str]:
    """Run ``pending`` cell by cell, each recorded as it finishes. A cell that another sitting holds (or has
    recorded since this sitting planned) is skipped (:meth:`ResultsRecord.claim`; not under DDP, whose ranks
    share every cell). ``stop`` (:class:`~dgl_ssm.studies.stop.SittingStop`) is asked before each cell and after
    each epoch; the reason it gives ends the sitting there (returned; ``None`` when every cell ran)."""
    from ..train import TrainingInterrupted

    ran, stopped = 0, None
    for n, cell in enumerate(pending, 1):
        stopped = stop() if stop is not None else None
        if stopped:
            log(f"{study.name}: {stopped}; {_not_recorded(study, record, pending[n - 1:])} cells not started")
            break
        label, config = ", ".join(f"{k}={v}" for k, v in cell.items()), cell_config(study, cell)
        with contextlib.nullcontext(True) if info.enabled else record.claim(cell) as mine:
            if not mine or (not info.enabled and record.status(cell, config) == "done"):
                log(f"{study.name} | {label} | skipped: another sitting {'is running' if not mine else 'has run'} it")
                continue
            run_dir = checkpoint_dir(out, cell, config)
            if cfg.progress:  # the epoch bar that follows belongs to this cell
                log(f"{study.name} | {label} | started")
            try:
                row = _run_cell(cfg, study, cell, out, device, info, run_dir, stop)
            except TrainingInterrupted as err:  # its checkpoint is written; the claim is released on the way out
                stopped = err.reason
                log(f"{study.name} | {label} | stopped ({err.reason}); the next sitting continues it from epoch "
                    f"{err.next_epoch}; {_not_recorded(study, record, pending[n:])} later cells not started")
                break
            if info.is_main:
                record.append(cell, config, row)  # under the claim: nobody starts it meanwhile
                shutil.rmtree(run_dir, ignore_errors=True)  # recorded: the checkpoint has served
        if not info.is_main:
            continue
        ran += 1
        record.update_sitting(sitting, ran, time.time() - start, finished=n == len(pending))
        write_tables(_whole_study(study, out), record.rows(), out)  # the table matches the record, cell by cell
        log(f"{study.name} | {label} | {row.get('status')} | {study.metric} = {row.get(study.metric)}")
    if sitting and info.is_main and ran < len(pending):  # cells skipped, or a stop: the sitting is over
        record.update_sitting(sitting, ran, time.time() - start, finished=True, stopped=stopped)
    return stopped


def checkpoint_dir(out: Path, cell: dict, config: dict) -> Path:
    """Where a running cell keeps its checkpoint: named by the cell and the hash of its configuration, so that a
    cell rerun with another configuration (a retired row, a fixed protocol) never resumes the old run's state."""
    from .cells import slug
    from .record import config_hash

    return out / ".checkpoints" / f"{slug(cell)}-{config_hash(config)}"


def _run_cell(cfg, study, cell, out, device, info, run_dir: Path, stop=None) -> dict:
    """Train one cell (checkpoints in ``run_dir``); its row (profile and gradient rows go to their files).
    ``stop``: asked after every epoch (:class:`~dgl_ssm.train.TrainingInterrupted`)."""
    from .cells import run_cell, slug

    profile = [] if protocol_for(study, cell["model"]).layer_profile else None
    grads = [] if study.record_gradients and study.kind == "node" else None
    history = out / "histories" / f"{slug(cell)}.csv" if study.kind == "graph" else None
    row = run_cell(study, cell, device, data_root=cfg.data_root, data_dir=cfg.data_dir, run_dir=run_dir,
                   history_path=history, profile_rows=profile, gradient_rows=grads, info=info,
                   checkpoint_every_s=cfg.checkpoint_every_s, progress=cfg.progress, should_stop=stop)
    if info.is_main and profile:
        _append_rows(out / "layers.csv", profile)
    if info.is_main and grads:
        _append_rows(out / "gradients.csv", grads)
    return row


def write_plots(study, rows: list, out: Path) -> List[str]:
    """``<metric>.png`` (the metric against the setting, one panel per dataset) and, with a layer profile,
    ``energy.png`` (Dirichlet energy and feature norm per layer of the deepest trained model of each row)."""
    from ..report import aggregate, plot_lines, read_csv

    names = _labels(study)
    written = []
    for dataset in study.datasets:
        if len({r[study.setting_name] for r in rows if r["dataset"] == dataset}) == 1 and (out / "histories").is_dir():
            curves = _plot_validation_curves(study, rows, out, dataset)  # one setting: a curve says more than a dot
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
                       f"{study.description or study.name}: {dataset}", logx=study.setting_name == "depth", errors=errors)
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
    from .cells import slug

    if not study.metric.startswith("test_"):
        return None
    column, names = "val_" + study.metric[len("test_"):], _labels(study)
    mine = [r for r in rows if r["dataset"] == dataset and r.get("status") != "diverged"]
    entries = {names.get(m, m): m for m in dict.fromkeys(r["model"] for r in mine)}
    if study.select:
        setting = mine[0][study.setting_name] if mine else None
        grouped = {m for members in study.select.values() for m in members}
        chosen = {g: _best_member(study, _labelled(study, mine, True), list(members), f"{dataset} {setting}")[0]
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


def _append_rows(path: Path, rows: list) -> None:
    from ..experiment import write_csv
    from ..report import read_csv

    write_csv(path, read_csv(path) + rows)


def write_tables(study, rows: list, out: Path) -> str:
    """``results.md``: mean ± std of the study's metric (diverged cells counted apart), rows by model."""
    from .._io import atomic_write
    from ..report import markdown_table
    from .schema import to_container

    multi = len(study.datasets) > 1
    labelled = _labelled(study, rows, multi)
    order = [f"{d} {s}" if multi else s for d in study.datasets for s in study.settings]
    seen = sorted({r["column"] for r in labelled} - set(order), key=str)
    names = _labels(study)
    # models that share a label (one baseline configured per dataset) share a row
    models = list(dict.fromkeys(names[k] for k in study.models)) + sorted({r["model"] for r in labelled} - set(names.values()))
    table = markdown_table(labelled, "model", "column", study.metric, scale=study.scale, digits=study.digits,
                           row_order=models, col_order=order + seen, expected=study.seeds,
                           row_label=f"model \\ {'dataset ' if multi else ''}{study.setting_name}")
    for column, why in (study.unavailable or {}).items():  # a column that says why it is empty, on every row
        lines = table.splitlines()
        lines = [ln + (f" {column} |" if i == 0 else "---|" if i == 1 else f" {why} |") for i, ln in enumerate(lines)]
        table = "\n".join(lines)
    seeds = sorted({r["seed"] for r in rows})
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
    over = (f"one seed ({seeds[0]})" if len(seeds) == 1
            else f"mean ± std over {len(seeds)} seeds ({', '.join(map(str, seeds))})")
    text = (f"{study.description or study.name}: {study.metric_label or study.metric}, {over}; {protocol}. "
            f"Generated from the record "
            f"(results.csv) by `python -m dgl_ssm.studies.tables`.\n\n{table}\n")
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
        text += "\n" + selection_table(study, labelled, order + seen, multi) + "\n"
    if study.choose_setting:
        text += "\n" + chosen_setting_table(study, labelled, models) + "\n"
    if study.published and study.compare_published:
        text += "\n" + published_table(study, labelled, order + seen) + "\n"
    if study.epoch_time_table:
        timed = [{**r, "s_per_epoch": r["train_time_s"] / r["epochs_run"]} for r in labelled
                 if r.get("train_time_s") is not None and r.get("epochs_run")]
        text += ("\nTraining time per epoch (s; `train_time_s / epochs_run`, this machine, see provenance.json):\n\n"
                 + markdown_table(timed, "model", "column", "s_per_epoch", digits=2, row_order=models,
                                  col_order=order + seen, row_label="model") + "\n")
    atomic_write(out / "results.md", lambda tmp: Path(tmp).write_text(text))
    return text


def _labels(study) -> dict:
    """``{model key: table row label}`` (the label, else the key)."""
    return {key: spec.label or key for key, spec in study.models.items()}


def _members_in(study, members, column) -> list:
    """The members of a ``select`` group that run in ``column`` (``"<dataset> <setting>"`` or a setting): a member
    with its own ``datasets`` list runs on those only, so a group may hold one member per dataset (e.g. the width and
    λ another study chose on validation for each task)."""
    dataset = str(column).rsplit(" ", 1)[0] if " " in str(column) else None
    return [m for m in members if dataset is None or runs_on(study.models[m], dataset)]


def _best_member(study, rows: list, members: list, column):
    """The member (model key) of a ``study.select`` group with the best mean validation metric in ``column``.

    Members are compared over the seeds that every member with results in ``column`` has run, so that a member with
    more seeds (say the one chosen on seed 0 and then run on three) is not favoured by its extra seeds. Returns
    ``(member, members with results, seeds compared)``; ``(None, 0, ())`` when no member has results, and the
    member's own seeds when the members share none.
    """
    labels, members = _labels(study), _members_in(study, members, column)
    values = _validation_values(study, [r for r in rows if r["column"] == column], "model")
    return _best_on_validation(study, {m: values[labels[m]] for m in members if labels[m] in values})


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
    results. ``rows`` are labelled (:func:`_labelled`, columns named as ``multi`` says: by default as the study's
    tables name them) and not diverged; settings are compared over the seeds they all have, so a setting with more
    seeds is not favoured by them; a tie goes to the smaller setting."""
    multi = len(study.datasets) > 1 if multi is None else multi
    mine = [r for r in rows if r["model"] == label and r["dataset"] == dataset]
    values = _validation_values(study, mine, "column")
    order = [f"{dataset} {x}" if multi else x for x in sorted(study.settings)]
    return _best_on_validation(study, {c: values[c] for c in order if c in values})


def _setting_of(column) -> str:
    """The setting of a table column (``"<dataset> <setting>"`` or the setting itself)."""
    return str(column).rsplit(" ", 1)[-1]


def _settings_run(rows: list, label: str, dataset: str) -> int:
    """How many settings of model row ``label`` on ``dataset`` have recorded cells (diverged ones too)."""
    return len({r["column"] for r in rows if r["model"] == label and r["dataset"] == dataset})


def chosen_setting_table(study, rows: list, models: list) -> str:
    """Per model row and dataset, the setting chosen on validation (:func:`chosen_setting`) and its test metric."""
    from ..report import aggregate, count_of, mean_std

    ok = [r for r in rows if r.get("status") != "diverged"]
    test = aggregate(ok, ("model", "column"), study.metric)
    name = study.setting_name
    lines = [f"| model \\ dataset | " + " | ".join(study.datasets) + " |", "|---" * (len(study.datasets) + 1) + "|"]
    for label in models:
        cells = []
        for dataset in study.datasets:
            column, have, common = chosen_setting(study, ok, label, dataset)
            if column is None or (label, column) not in test:
                cells.append("–")
                continue
            mean, std, count = test[(label, column)]
            setting = _setting_of(column)
            ran = _settings_run(rows, label, dataset)
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


def _entries_run(study, members, column, have: int) -> str:
    """``", k of n entries run"`` while only ``have`` of a group's members in ``column`` have results, else ``""``."""
    total = len(_members_in(study, members, column))
    return f", {have} of {total} entries run" if have < total else ""


def selection_table(study, rows: list, columns: list, multi: bool) -> str:
    """Per row group and column, the member with the best mean ``study.select_metric`` (validation), its test metric.

    ``rows`` carry ``model`` as display labels and ``column``; members are model keys of ``study.select``. A cell
    reads ``test mean ± std · chosen member`` over all the member's seeds; it says how many members had results when
    some had none yet, and on which seeds the members were compared when that is fewer than the member's own.
    """
    from ..report import aggregate, count_of, mean_std

    labels = _labels(study)
    ok = [r for r in rows if r.get("status") != "diverged"]
    test = aggregate(ok, ("model", "column"), study.metric)
    lines = [f"| {'selected on ' + study.select_metric} | " + " | ".join(map(str, columns)) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for group, members in study.select.items():
        cells = []
        for column in columns:
            best, have, common = _best_member(study, ok, members, column)
            if best is None or (labels[best], column) not in test:  # no member yet, or its test metric not finite
                cells.append("–")
                continue
            mean, std, count = test[(labels[best], column)]
            note = _entries_run(study, members, column, have)
            if have > 1 and len(common) < count:
                note += (f", chosen on seed{'s' if len(common) > 1 else ''} {', '.join(map(str, common))}"
                         if common else ", members share no seed: chosen on their own seeds")
            cells.append(f"{mean_std(mean, std, count, study.scale, study.digits)} "
                         f"({labels[best]}, {count_of(count, 'seed')}{note})")
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

    labels = _labels(study)
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
                ran = _settings_run(rows, row, dataset)
                if column is not None:
                    partial = (f", {study.setting_name} {_setting_of(column)} chosen on validation"
                               + (f", {ran} of {len(study.settings)} run" if ran < len(study.settings) else ""))
            elif row in study.select:
                best, have, _ = _best_member(study, ok, list(study.select[row]), column)
                label = labels[best] if best else None
                partial = _entries_run(study, list(study.select[row]), column, have)
            pub_mean, _pub_std = parse_published(value)
            if label is None or (label, column) not in test:
                ours, diff = "–", "–"
            else:
                mean, std, count = test[(label, column)]
                ours = f"{mean_std(mean, std, count, study.scale, d)} ({count_of(count, 'seed')}{partial})"
                diff = f"{mean * study.scale - pub_mean:+.{d}f}"
            note = "; ".join(x for x in (entry.scale, entry.source) if x)
            lines.append(f"| {row} | {name} | {ours} | {value} | {diff} | {note} |")
    return (f"Ours against the published numbers ({study.metric_label or study.metric}; a selected row uses the "
            f"member chosen on validation):\n\n" + "\n".join(lines))
