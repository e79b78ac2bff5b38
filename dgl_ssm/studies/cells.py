"""A study's cell in the terms of the training layer: the study's configuration read once into typed arguments
of :func:`dgl_ssm.train.cell.fit_cell` (which builds, seeds and trains every cell, node or graph)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

from .labels import slug  # noqa: F401  (re-exported)

__all__ = ["run_cell", "cell_arguments", "cell_protocol", "cell_data", "layers_of"]


def layers_of(study, cell: Dict) -> int:
    """Message-passing layers of a cell: the setting, or ``n // 2`` for a RingTransfer ring of ``n`` nodes."""
    setting = int(cell[study.setting_name])
    return max(1, setting // 2) if cell["dataset"] == "ring" else setting


def cell_protocol(study, model: str):
    """The :class:`~dgl_ssm.train.cell.TrainProtocol` of one model of a study (:func:`~.schema.protocol_for`)."""
    from ..train.cell import TrainProtocol
    from .schema import protocol_for, to_container

    return TrainProtocol.from_mapping(to_container(protocol_for(study, model)))


def cell_data(study, cell: Dict, data_root=None, data_dir=None):
    """The :class:`~dgl_ssm.train.cell.DataOptions` of a cell: the study's data fields its dataset reads."""
    from ..train.cell import DataOptions, dataset_kind

    ring = int(cell[study.setting_name]) if cell["dataset"] == "ring" else None
    values = {"normalize_features": study.normalize_features, "sizes": tuple(study.sizes),
              "target_scale": study.target_scale, "ring_size": ring, "ring_graphs": study.ring_graphs,
              "ring_classes": study.ring_classes, "limit": study.limit}
    fields = DataOptions.KINDS[dataset_kind(cell["dataset"])]
    return DataOptions(root=data_root, data_dir=data_dir, **{k: v for k, v in values.items() if k in fields})


def cell_arguments(study, cell: Dict, data_root=None, data_dir=None):
    """``(args, options)`` of :func:`~dgl_ssm.train.cell.prepare_cell` for one cell of ``study``: dataset, preset,
    layers, seed and protocol; the preset's options, the data, and the parameter budget (models without their own
    ``train.hidden`` take the widest width within ``study.param_budget`` unless ``study.fit_width`` is off). The one
    place a study's cell is read into the training layer's arguments (sittings and ``plan_epochs`` use it)."""
    from .schema import to_container

    spec = study.models[cell["model"]]
    args = (cell["dataset"], spec.preset, layers_of(study, cell), int(cell["seed"]), cell_protocol(study, cell["model"]))
    options = dict(options=to_container(spec.options), data=cell_data(study, cell, data_root, data_dir),
                   param_budget=study.param_budget, max_hidden=study.max_hidden,
                   fit_width_to_budget=study.fit_width and "hidden" not in (to_container(spec.train) or {}))
    return args, options


def run_cell(study, cell: Dict, device, *, data_root=None, data_dir=None, run_dir: Optional[Path] = None,
             history_path: Optional[Path] = None, profile_rows: Optional[list] = None,
             gradient_rows: Optional[list] = None, info=None, checkpoint_every_s: float = 0.0,
             progress: bool = False, should_stop=None, identity: Optional[str] = None,
             model_path: Optional[Path] = None) -> dict:
    """Train one cell of ``study`` (:func:`~dgl_ssm.train.cell.fit_cell`) and return its record row.

    Node cells: Geom-GCN graphs use split ``seed % 10`` (Cora and CiteSeer have one standard split); per-layer
    profile and gradient rows (tagged with the cell's key) go to ``profile_rows`` / ``gradient_rows``. Graph cells:
    models without their own ``train.hidden`` take the widest width within ``study.param_budget``; the per-epoch
    history goes to ``history_path``. A run that diverges is a row with ``status="diverged"``. ``identity`` (the
    cell's checkpoint folder name: key and configuration hash) is written into its checkpoint, and a checkpoint of
    another cell is refused. With ``model_path`` the trained model is kept there
    (:func:`dgl_ssm.studies.trained.trained_cell` reads it).
    """
    from ..train.cell import fit_cell

    profile, grads = ([] if rows is not None else None for rows in (profile_rows, gradient_rows))
    args, options = cell_arguments(study, cell, data_root, data_dir)
    row = fit_cell(*args, **options, device=device, run_dir=run_dir, checkpoint_every_s=checkpoint_every_s,
                   progress=progress, should_stop=should_stop, ddp=info, history_path=history_path,
                   profile_rows=profile, gradient_rows=grads, identity=identity, model_path=model_path)
    for mine, out in ((profile, profile_rows), (grads, gradient_rows)):
        if mine:
            out.extend({**cell, **r} for r in mine)
    return row

