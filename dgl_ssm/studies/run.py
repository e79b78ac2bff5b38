"""Run a study: every pending cell of the grid, each recorded as it finishes; then the tables.

The library entry point is :func:`run_study` (a resolved configuration in,
rows and a Markdown table out); ``python -m dgl_ssm.studies`` is the command
line on top of it (Hydra).
"""
from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from .grid import cell_key, checkpoint_dir, first_stage_seeds, study_cells
from .identity import cell_config
from .plan import checkpointed_cells, measure_epochs, plan_text
from .plots import write_plots
from .record import ResultsRecord, record_study
from .schema import ConfigError, protocol_for, to_container, with_selected_models
from .validation import validate
from .stop import SittingStop, StudyStopped
from .tables import write_tables

__all__ = ["run_study", "output_folder"]


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

    Examples
    --------
    RingTransfer at ring size 4 with two of its models, 100 rings and 2 epochs, recorded in a folder of its own;
    a second call finds every cell recorded and trains nothing:

    >>> import tempfile
    >>> from hydra import compose, initialize_config_module
    >>> out = tempfile.mkdtemp()
    >>> with initialize_config_module("dgl_ssm.conf", version_base="1.3"):
    ...     cfg = compose("config", overrides=[
    ...         "study=ring_quick", "study.settings=[4]", "study.ring_graphs=100", "study.train.epochs=2",
    ...         "~study.models.gcn", "~study.models.gcn_ssm_l050", "~study.models.gcn_ssm_l075", f"out={out}"])
    >>> rows, table = run_study(cfg, log=lambda line: None)
    >>> sorted((row["model"], row["ring_size"], row["epochs_run"]) for row in rows)
    [('gcn_ssm_l100', 4, 2), ('kgcn_ssm', 4, 2)]
    >>> run_study(cfg, log=print)[0] == rows
    ring_quick: 2 of 2 cells already recorded in .../results.csv, skipped
    True
    """
    from ..experiment import resolve_device
    from ..runtime import configure_threads
    from ..train.distributed import cleanup_distributed, init_distributed

    validate(cfg)  # every bad value (threads included) is one ConfigError before anything is set or written
    cfg = with_selected_models(cfg)  # models=[...]: the study cut to those entries, as ~study.models.<key> cuts it
    configure_threads(cfg.threads)
    study = cfg.study
    out = output_folder(cfg)
    resolve_device(cfg.device, flag="device=")
    info = init_distributed(cfg.device)  # under torchrun: one process per rank, gloo on CPU, nccl on CUDA
    if info.enabled and (study.kind != "graph" or cfg.num_shards != 1):
        raise ConfigError("under torchrun (DDP) a study must be graph-level with num_shards=1: the ranks share each cell")
    if info.enabled and cfg.time_limit_s:
        raise ConfigError("time_limit_s is not available under torchrun (DDP): the ranks could stop at different "
                          "epochs; leave it at 0 and give the time limit to the scheduler (the checkpoint resumes)")
    device, main = info.device, info.is_main
    log = log if main else (lambda *_: None)
    record = ResultsRecord(out, ("model", "dataset", study.setting_name, "seed"))
    record.check_provenance()  # before anything is written
    damage = record.integrity().report(record.csv, record.keys)
    if damage and main:  # those cells are pending: this sitting reruns them (their rows move to retired.csv)
        log(f"warning: {damage}")
    if cfg.plan:
        recorded = record.rows()
        pending = _pending(cfg, record, recorded)[0]
        running = {cell_key(study, c) for c in pending if record.held(c)}
        measured = measure_epochs(cfg, study, pending, recorded, device) if cfg.plan_epochs else None
        return recorded, plan_text(study, pending, recorded, checkpointed_cells(study, pending, out), running,
                                   measured)  # printed by the caller
    recorded = record.rows()
    pending = _pending(cfg, record, recorded)[0]
    checkpointed_cells(study, pending, out, strict=True)  # a foreign or broken checkpoint: refused
    from ..data import check_dataset_files

    for dataset in dict.fromkeys(c["dataset"] for c in pending):  # a missing or damaged data file: refused
        check_dataset_files(dataset, cfg.data_root, cfg.data_dir)
    start, stop, stopped = time.time(), SittingStop(cfg.time_limit_s), None
    try:
        with _announced(study, record, recorded, command, main), \
                contextlib.nullcontext() if info.enabled else stop.on_signals():
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


def _announced(study, record: ResultsRecord, recorded: list, command: str, main: bool):
    """:meth:`ResultsRecord.sitting_registered` with every cell of the study (not only this shard's or the pending
    ones: a cell another sitting runs may be recorded meanwhile) by its label and configuration hash."""
    if not main:
        return contextlib.nullcontext()
    from .record import config_hash

    cells = {", ".join(f"{k}={v}" for k, v in c.items()): config_hash(cell_config(study, c))
             for c in study_cells(study, recorded)}
    return record.sitting_registered(cells, to_container(study), command)


def _run_stages(cfg, study, record, out, device, info, start, log, stop, main, command) -> Optional[str]:
    """The pending cells, in one stage or (``study.select_seeds``, ``study.choose_seeds``) two; why the sitting
    stopped early, or ``None``.

    With two stages a sitting plans again after each pass and runs the cells it has not tried yet: a choice whose
    first-stage cell another sitting was running when this one planned opens once that cell is recorded (a sitting
    used to end then and leave the choice's seeds to a rerun). Cells still held by another sitting at the end are
    named in one line (first-stage cells only: a second-stage cell opens nothing): rerun the command after that
    sitting to run what they open. A cell skipped because another sitting held it, and no longer held by anyone at
    the end without being recorded (that sitting was killed or failed), runs here (one- or two-stage)."""
    tried, stage = set(), 0
    while True:  # the chosen members' (settings') remaining seeds once their choice is made
        pending, done, cells = _pending(cfg, record, record.rows())
        fresh = [c for c in pending if cell_key(study, c) not in tried]
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
        tried.update(cell_key(study, c) for c in fresh)
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


def _whole_study(study, out: Path):
    """The study of the whole record in ``out`` (every sitting's models and settings, rows in the configuration's
    order; :func:`dgl_ssm.studies.tables.record_study`), so that a sitting that ran part of the grid writes the same
    ``results.md`` as ``python -m dgl_ssm.studies.tables``; this sitting's study if the record has no provenance."""
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
                row = _run_cell(cfg, study, cell, out, device, info, run_dir, record, stop)
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


def _run_cell(cfg, study, cell, out, device, info, run_dir: Path, record, stop=None) -> dict:
    """Train one cell (checkpoints in ``run_dir``); its row (profile and gradient rows go to their files).
    ``stop``: asked after every epoch (:class:`~dgl_ssm.train.TrainingInterrupted`)."""
    from .cells import run_cell
    from .labels import slug
    from .trained import model_file

    profile = [] if protocol_for(study, cell["model"]).layer_profile else None
    grads = [] if study.record_gradients and study.kind == "node" else None
    history = out / "histories" / f"{slug(cell)}.csv" if study.kind == "graph" else None
    row = run_cell(study, cell, device, data_root=cfg.data_root, data_dir=cfg.data_dir, run_dir=run_dir,
                   history_path=history, profile_rows=profile, gradient_rows=grads, info=info,
                   checkpoint_every_s=cfg.checkpoint_every_s, progress=cfg.progress, should_stop=stop,
                   identity=run_dir.name,
                   model_path=model_file(out, run_dir.name) if cfg.keep_models else None)
    if info.is_main:
        record.append_rows("layers.csv", profile or [])
        record.append_rows("gradients.csv", grads or [])
    return row


