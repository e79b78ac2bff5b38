"""A record's trained models (``keep_models=true``): where a sitting keeps them and how a cell is rebuilt with one."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .cells import cell_arguments
from .grid import checkpoint_dir
from .identity import cell_config
from .provenance import record_study

__all__ = ["kept_models", "model_file", "recheck", "trained_cell"]


def model_file(out: Path, identity: str) -> Path:
    """Where a sitting with ``keep_models=true`` keeps a recorded cell's trained model: ``<out>/.models/<identity>.pt``,
    ``identity`` the cell's ``<cell>-<config hash>`` (its checkpoint folder's name,
    :func:`~dgl_ssm.studies.grid.checkpoint_dir`)."""
    return Path(out) / ".models" / f"{identity}.pt"


def _model_path(out: Path, study, cell: Dict) -> Path:
    """The kept model of ``cell`` of ``study`` in the record ``out`` (:func:`model_file` of its identity)."""
    return model_file(out, checkpoint_dir(out, cell, cell_config(study, cell)).name)


def kept_models(out, study, rows: List[dict], dataset: str, seed: int) -> Tuple[List[dict], List[dict]]:
    """The recorded cells (status ``ok``) of ``dataset`` and ``seed`` among ``rows`` (a record's ``results.csv``, of
    models ``study`` still has), split into those whose trained model the record in ``out`` kept
    (:func:`model_file`) and those it did not (their sitting ran without ``keep_models=true``).

    Returns
    -------
    (kept, missing) : two lists of cells ``{"model", "dataset", <setting name>, "seed"}``

    Examples
    --------
    >>> import tempfile
    >>> from dgl_ssm.studies.provenance import packaged_study
    >>> study = packaged_study("lrgb_seed")
    >>> rows = [{"model": "kgcn_ssm", "dataset": "peptides-func", "layers": 17, "seed": 0, "status": "ok"},
    ...         {"model": "gcn", "dataset": "peptides-func", "layers": 17, "seed": 0, "status": "diverged"}]
    >>> kept_models(tempfile.mkdtemp(), study, rows, "peptides-func", 0)  # a record that kept no model
    ([], [{'model': 'kgcn_ssm', 'dataset': 'peptides-func', 'layers': 17, 'seed': 0}])
    """
    kept, missing = [], []
    for row in rows:
        if (row.get("dataset") != dataset or int(row.get("seed", -1)) != seed or row.get("status") != "ok"
                or row.get("model") not in study.models):
            continue
        cell = {"model": row["model"], "dataset": dataset, study.setting_name: int(row[study.setting_name]), "seed": seed}
        (kept if _model_path(Path(out), study, cell).is_file() else missing).append(cell)
    return kept, missing


def trained_cell(out, cell: Dict, device="cpu", data_root=None, data_dir=None, limit: Optional[int] = None):
    """A recorded cell of the study recorded in ``out``, its model trained: the cell as its sitting built it
    (:func:`cell_arguments`, :func:`~dgl_ssm.train.prepare_cell`) with the weights its test metric was computed
    with (kept by a sitting run with ``keep_models=true``), in eval mode.

    Parameters
    ----------
    out : path
        The record's folder (``results/<study>``).
    cell : dict
        ``{"model", "dataset", <setting name>, "seed"}``, as in the record's ``results.csv``.
    limit : int, optional
        Peptides: build the cell on the first ``limit`` graphs of each split (the weights do not depend on it).

    Returns
    -------
    dgl_ssm.train.cell.PreparedCell

    Raises
    ------
    FileNotFoundError
        If the record has no trained model of this cell (its sitting ran without ``keep_models=true``;
        :func:`kept_models` tells which cells have one), or
        (:class:`~dgl_ssm.data.MissingDataError`) the cell's data is missing.
    ValueError
        If the file is another cell's, or not a trained model.
    """
    from ..train.cell import dataset_kind, prepare_cell
    from ..train.trained import load_trained

    out = Path(out)
    study = record_study(out)
    path = _model_path(out, study, cell)
    state = load_trained(path, identity=path.stem)
    args, options = cell_arguments(study, cell, data_root, data_dir)
    if limit is not None and dataset_kind(cell["dataset"]) == "peptides":  # the other datasets are built whole
        options["data"] = replace(options["data"], limit=limit)
    prepared = prepare_cell(*args, **options, device=device)
    prepared.model.load_state_dict(state["state_dict"])
    prepared.model.eval()
    return prepared


def recheck(out, device="cpu", data_root=None, data_dir=None, log=None) -> List[dict]:
    """Recompute every recorded number of a record's kept models: each cell whose trained model the record kept
    (:func:`kept_models`, every dataset and seed of its ``results.csv``) is rebuilt with it (:func:`trained_cell`,
    on its whole dataset) and evaluated as its sitting evaluated it after training (the task's ``evaluate`` on the
    validation and test splits), beside the record's ``val_<metric>``, ``val_loss``, ``test_<metric>`` and
    ``test_loss``. The kept weights are those of the best validation epoch, so both splits should agree up to the
    machine's rounding: a difference names a model that is not the one the record's numbers came from.

    Parameters
    ----------
    out : path
        The record's folder (``results/<study>``).
    device : str or torch.device
    data_root, data_dir : path, optional
        As for a sitting (:class:`~dgl_ssm.train.cell.DataOptions`).
    log : callable, optional
        Called with a line per cell as it is rebuilt.

    Returns
    -------
    list of dict
        One row per cell and quantity: the cell's key columns, ``quantity`` (e.g. ``test_ap``), ``recorded``,
        ``recomputed`` and ``difference`` (recomputed − recorded).

    Raises
    ------
    FileNotFoundError
        If ``out`` has no ``results.csv``.
    ValueError
        If the record kept no trained model of a recorded cell (run its cells with ``keep_models=true``), or a kept
        file is another cell's or not a trained model (:func:`~dgl_ssm.train.trained.load_trained`).

    Examples
    --------
    >>> import tempfile
    >>> recheck(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    FileNotFoundError: ...results.csv does not exist: give the folder of a study record (results/<study>)
    """
    from ..report import read_csv

    out = Path(out)
    if not (out / "results.csv").is_file():
        raise FileNotFoundError(f"{out / 'results.csv'} does not exist: give the folder of a study record "
                                "(results/<study>)")
    study = record_study(out)
    rows = read_csv(out / "results.csv")
    keys = ("model", "dataset", study.setting_name, "seed")
    cells = []
    for dataset, seed in sorted({(r["dataset"], int(r["seed"])) for r in rows if r.get("status") == "ok"}):
        cells += kept_models(out, study, rows, dataset, seed)[0]
    if not cells:
        raise ValueError(f"{out} kept no trained model of a recorded cell ({out / '.models'}): run the study's cells "
                         "with keep_models=true to keep them")
    found = []
    for cell in cells:
        if log is not None:
            log(f"{study.name} | " + ", ".join(f"{k}={cell[k]}" for k in keys) + " | rebuilt with its kept model")
        row = next(r for r in rows if r.get("status") == "ok" and all(str(r[k]) == str(cell[k]) for k in keys))
        prepared = trained_cell(out, cell, device, data_root, data_dir)
        metric = prepared.task.metric
        measured = prepared.task.evaluate(prepared.model, ("val", "test"))
        for split in ("val", "test"):
            for name in (metric, "loss"):
                recorded, recomputed = float(row[f"{split}_{name}"]), float(measured[split][name])
                found.append({**cell, "quantity": f"{split}_{name}", "recorded": recorded, "recomputed": recomputed,
                              "difference": recomputed - recorded})
    return found
