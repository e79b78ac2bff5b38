"""The grid of a study: its cells (models x datasets x settings x seeds, with the two-stage choices applied), a
cell's key and where a running cell keeps its checkpoint."""
from __future__ import annotations

from pathlib import Path
from typing import List

from .labels import column_of
from .schema import runs_at, runs_on
from .selection import first_stage_seeds, selection_choices, setting_choices

__all__ = ["study_cells", "cell_key", "checkpoint_dir", "first_stage_seeds"]


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
    choices = selection_choices(study, rows, {column_of(study, c, True) for c in cells})
    chosen = {(best, column) for (_, column), best in choices.items() if best is not None}
    grouped = {m for members in study.select.values() for m in members}
    return [c for c in cells
            if c["model"] not in grouped or c["seed"] in first or (c["model"], column_of(study, c, True)) in chosen]

def cell_key(study, cell: dict) -> tuple:
    return tuple(cell[k] for k in ("model", "dataset", study.setting_name, "seed"))

def checkpoint_dir(out: Path, cell: dict, config: dict) -> Path:
    """Where a running cell keeps its checkpoint: named by the cell and the hash of its configuration, so that a
    cell rerun with another configuration (a retired row, a fixed protocol) never resumes the old run's state."""
    from .labels import slug
    from .record import config_hash

    return out / ".checkpoints" / f"{slug(cell)}-{config_hash(config)}"
