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

from ..models.registry import PRESETS
from .schema import protocol_for, to_container

__all__ = ["IMPLICIT_PROTOCOL", "NODE_IDENTITY_CONSTANTS", "cell_config"]

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


