"""The identity of a cell: everything that determines its result, hashed into the record (``config_hash``).

Committed records carry these hashes, so the identity of a cell must not change when the code around it does:
keys added to the protocol later are left out at the value that reproduces the behaviour before them
(:data:`IMPLICIT_PROTOCOL`), and the graph-level keys that node protocols once named unused stay in a node cell's
identity at those values (:data:`NODE_IDENTITY_CONSTANTS`). A preset corrected after records existed raises its
revision (:attr:`dgl_ssm.models.registry.Preset.revision`), which enters the identity: rows of the earlier model
are then refused as another configuration, to be retired (``python -m dgl_ssm.studies.retire``) and rerun. The test
suite checks every committed record.
"""
from __future__ import annotations

import json
from typing import Dict, List, Mapping, Optional

from ..models.registry import PRESETS
from .schema import protocol_for, to_container

__all__ = ["IMPLICIT_PROTOCOL", "NODE_IDENTITY_CONSTANTS", "cell_config", "flatten", "departures"]

#: protocol keys added after records existed, with the value that reproduces the behaviour before them: a cell
#: config leaves them out at that value, so that older records keep their hashes (and are not re-run or refused)
IMPLICIT_PROTOCOL = {"monitor": "metric", "weight_decay_groups": {}, "precision": "32", "scheduler_options": {},
                     "denormals": "ieee"}

#: node protocols named ``batch_size: 128`` and ``max_hop: 3`` (never read by a node cell) until those keys were
#: refused for node studies; every committed node cell's identity has them at these values, so every node cell's
#: identity keeps them: a constant, which keeps the hashes and changes nothing else
NODE_IDENTITY_CONSTANTS = {"batch_size": 128, "max_hop": 3}


def cell_config(study, cell: dict) -> dict:
    """Everything that determines a cell's result: its key, model entry and the protocol (its identity)."""
    spec = study.models[cell["model"]]
    train = to_container(protocol_for(study, cell["model"]))
    train = {k: v for k, v in train.items() if not (k in IMPLICIT_PROTOCOL and v == IMPLICIT_PROTOCOL[k])}
    if study.kind == "node":
        train = {**train, **{k: v for k, v in NODE_IDENTITY_CONSTANTS.items() if train.get(k) is None}}
    config = {"kind": study.kind, "cell": dict(cell), "preset": spec.preset, "options": to_container(spec.options),
              "train": train}
    revision = getattr(PRESETS.get(spec.preset), "revision", 0)
    if revision:  # left out at 0: presets never corrected keep their records' hashes
        config["preset_revision"] = revision
    if study.kind == "graph":
        config["sizes"] = list(study.sizes)
    if study.target_scale != "train_max":  # left out at the default: records from before the option keep their hash
        config["target_scale"] = study.target_scale
    if study.normalize_features:  # likewise
        config["normalize_features"] = True
    if cell["dataset"] == "ring":
        config["ring"] = {"graphs": study.ring_graphs, "classes": study.ring_classes}
    if cell["dataset"].startswith("peptides"):
        config["peptides"] = {"limit": study.limit, "param_budget": study.param_budget, "max_hidden": study.max_hidden}
        if not study.fit_width:  # left out at the default: records from before the option keep their hash
            config["peptides"]["fit_width"] = False
    return config




def flatten(config: Mapping, prefix: str = "") -> Dict[str, object]:
    """A nested configuration as ``{"train.lr": 0.01, ...}`` (an empty mapping has no keys, so it adds none).

    Examples
    --------
    >>> flatten({"train": {"lr": 0.01, "weight_decay_groups": {}}, "preset": "gcn"})
    {'train.lr': 0.01, 'preset': 'gcn'}
    """
    out = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def departures(packaged, rows: List[Mapping], cells: Mapping[str, Mapping]) -> List[tuple]:
    """Where a record's rows were made with values other than its packaged study's.

    A study table's title is the packaged configuration's ``description``, which may state values (epochs, graphs);
    a record made with overrides (``study.train.epochs=2``) would carry a title that is not its own. Each row's
    configuration is its identity in ``cells.json`` (``config_hash``), compared with the identity the packaged study
    gives the same cell (:func:`cell_config`). Which cells the grid has (models, datasets, settings, seeds) is no
    departure: the table shows it. Rows without an identity, or of models the packaged study does not have, are
    left out.

    Parameters
    ----------
    packaged : StudyConfig or None
        The packaged study (``dgl_ssm/conf/study/<name>.yaml``); ``None``: no departures.
    rows : list of mapping
        The record's rows (``model``, ``config_hash``, ...).
    cells : mapping
        ``cells.json``: ``config_hash -> cell configuration``.

    Returns
    -------
    list of (str, object, object, list of str)
        ``(key, recorded value, packaged value, models)``, sorted by key; ``None`` stands for a key one side lacks.

    Examples
    --------
    >>> from hydra import compose, initialize_config_module
    >>> with initialize_config_module("dgl_ssm.conf", version_base="1.3"):
    ...     packaged = compose("config", overrides=["study=ring_quick"]).study
    >>> cell = {"model": "gcn", "dataset": "ring", "ring_size": 4, "seed": 0}
    >>> mine = cell_config(packaged, cell)
    >>> mine["train"]["epochs"], mine["ring"]["graphs"] = 2, 100               # as study.train.epochs=2 ...
    >>> departures(packaged, [{"model": "gcn", "config_hash": "h"}], {"h": mine})
    [('ring.graphs', 100, 500, ['gcn']), ('train.epochs', 2, 40, ['gcn'])]
    """
    if packaged is None:
        return []
    found: Dict[str, tuple] = {}  # by the JSON of (key, recorded, packaged): values may be lists
    for row in rows:
        mine: Optional[Mapping] = cells.get(str(row.get("config_hash")))
        if mine is None or row.get("model") not in packaged.models or "cell" not in mine:
            continue
        theirs = cell_config(packaged, dict(mine["cell"]))
        a = flatten({k: v for k, v in mine.items() if k != "cell"})
        b = flatten({k: v for k, v in theirs.items() if k != "cell"})
        for key in a.keys() | b.keys():
            if a.get(key) != b.get(key):
                entry = found.setdefault(json.dumps([key, a.get(key), b.get(key)], sort_keys=True, default=str),
                                         (key, a.get(key), b.get(key), []))
                if row["model"] not in entry[3]:
                    entry[3].append(row["model"])
    return sorted(found.values(), key=lambda entry: entry[0])
