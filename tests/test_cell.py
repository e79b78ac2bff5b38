"""The one cell path (dgl_ssm.train.cell): every protocol field honoured by its level or refused, the rewiring
radius decided once, node and graph cells built in one order; the study engine's values reach the model."""
import dataclasses
import json
from pathlib import Path

import pytest
import torch

from dgl_ssm.train.cell import (FIELD_LEVELS, DataOptions, TrainProtocol, fit_cell, graph_datasets, prepare_cell,
                                rewiring)

ROOT = Path(__file__).resolve().parents[1]
TEXAS = ("geom_gcn/new_data/texas/out1_graph_edges.txt", "geom_gcn/new_data/texas/out1_node_feature_label.txt")
BASE = TrainProtocol(hidden=8, optimizer="adam", lr=0.01, weight_decay=5e-4, dropout=0.5, activation="relu",
                     epochs=3, patience=3)
RING = DataOptions(ring_size=6, ring_graphs=24, ring_classes=2)


def _prepare(level, tmp_path, preset=None, **changes):
    protocol = dataclasses.replace(BASE, **{**({"batch_size": 8, "max_hop": 2} if level == "graph" else {}), **changes})
    if level == "node":
        return prepare_cell("texas", preset or "gcn-ssm", 2, 0, protocol, data=DataOptions(root=tmp_path / "data"))
    return prepare_cell("ring", preset or "kgcn-ssm", 3, 0, protocol, data=dataclasses.replace(RING, root=tmp_path))


def _out(cell, as_trained=False):
    """The cell's output on its graph (node) or first validation batch (graph); ``as_trained``: as the task calls
    the model (under the protocol's precision)."""
    model = cell.trainer._task_model if as_trained else cell.model
    model.eval()
    if cell.graph is not None:
        return model(cell.graph, cell.graph.ndata["feat"])
    batch, _ = next(iter(cell.task.eval_loaders["val"]))
    return model(batch, batch.ndata["feat"])


def _hops(cell):
    return {m.max_hop for m in cell.model.modules() if hasattr(m, "rings")}


#: per field, a changed value and how the prepared cell shows it took effect (given the cell at the base values)
HONOURED = {
    "hidden": (16, lambda c, b: c.model.hidden == 16 != b.model.hidden),
    "optimizer": ("adamw", lambda c, b: type(c.trainer.optimizer) is torch.optim.AdamW),
    "lr": (0.05, lambda c, b: c.trainer.optimizer.param_groups[0]["lr"] == 0.05),
    "weight_decay": (0.1, lambda c, b: c.trainer.optimizer.param_groups[0]["weight_decay"] == 0.1),
    "dropout": (0.2, lambda c, b: c.model.dropout.p == 0.2),
    "activation": ("tanh", lambda c, b: not torch.equal(_out(c), _out(b))),
    "epochs": (7, lambda c, b: c.trainer.max_epochs == 7),
    "patience": (2, lambda c, b: c.trainer.patience == 2),
    "scheduler": ("cosine", lambda c, b: isinstance(c.trainer.scheduler, torch.optim.lr_scheduler.CosineAnnealingLR)
                  and c.trainer.scheduler.T_max == BASE.epochs and b.trainer.scheduler is None),
    "monitor": ("loss", lambda c, b: c.trainer.monitor == "loss"),
    "weight_decay_groups": ({"layers.0.": 0.3}, lambda c, b: [g["weight_decay"] for g in c.trainer.optimizer.param_groups][-1] == 0.3),
    "batch_size": (4, lambda c, b: c.task.train_loader.batch_size == 4),
    "max_hop": (3, lambda c, b: _hops(c) == {3} and _hops(b) == {2}
                and int(c.task.datasets["train"].graphs[int(c.task.datasets["train"].indices[0])].edata["hop"].max()) <= 3),
    "precision": ("bf16-mixed", lambda c, b: c.trainer.precision.name == "bf16-mixed"
                  and _out(c, True).dtype == torch.float32 and not torch.equal(_out(c, True), _out(b, True))),
    "layer_profile": (True, None),  # an output: checked by test_layer_profile_is_recorded_for_node_cells_only
}


def test_every_protocol_field_has_a_check_and_a_level():
    names = {f.name for f in dataclasses.fields(TrainProtocol)}
    assert names == set(HONOURED), "a new protocol field needs its honoured-or-refused check here"
    assert set(FIELD_LEVELS) <= names


@pytest.mark.parametrize("level", ["node", "graph"])
@pytest.mark.parametrize("name", [n for n, (_, check) in HONOURED.items() if check is not None])
def test_every_protocol_field_is_honoured_by_its_level_or_refused(tmp_path, raw_data, level, name):
    raw_data(*TEXAS)
    value, check = HONOURED[name]
    if level not in FIELD_LEVELS.get(name, ("node", "graph")):
        with pytest.raises(ValueError, match=rf"^{name}={value} does not apply to {level} cells .*: remove it$"):
            _prepare(level, tmp_path, **{name: value})
        return
    base, changed = _prepare(level, tmp_path), _prepare(level, tmp_path, **{name: value})
    assert check(changed, base), f"{name}={value} did not reach the {level} cell"


def test_layer_profile_is_recorded_for_node_cells_only(tmp_path, raw_data):
    raw_data(*TEXAS)
    rows = []
    fit_cell("texas", "gcn-ssm", 2, 0, dataclasses.replace(BASE, epochs=1, layer_profile=True), profile_rows=rows,
             data=DataOptions(root=tmp_path / "data"))
    assert [r["layer"] for r in rows] == [0, 1, 2] and all(r["dirichlet_energy"] > 0 for r in rows)
    with pytest.raises(ValueError, match="layer_profile=True does not apply to graph cells"):
        _prepare("graph", tmp_path, layer_profile=True)


@pytest.mark.parametrize("level", ["node", "graph"])
@pytest.mark.parametrize("change,message", [
    ({"scheduler": "bogus"}, "scheduler must be one of none, cosine, plateau, step, got 'bogus'"),
    ({"optimizer": "sgd"}, "optimizer must be one of adam, adamw"),
    ({"lr": float("inf")}, "lr must be a finite number > 0, got inf"),
    ({"weight_decay": float("nan")}, "weight_decay must be a finite number >= 0"),
    ({"epochs": 0}, "epochs must be >= 1, got 0"),
    ({"precision": "16"}, "precision must be one of 32, bf16-mixed, 16-mixed, got '16'"),
])
def test_bad_protocol_values_are_refused_at_both_levels(tmp_path, level, change, message):
    protocol = dataclasses.replace(BASE, **{**({"batch_size": 8, "max_hop": 2} if level == "graph" else {}), **change})
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        protocol.check(level)


def test_a_graph_cell_needs_its_batch_size_and_unknown_keys_are_refused():
    with pytest.raises(ValueError, match="batch_size is required for graph cells"):
        BASE.check("graph")
    with pytest.raises(ValueError, match="unknown protocol key lrr"):
        TrainProtocol.from_mapping({**BASE.as_dict(), "lrr": 0.1})


def test_the_rewiring_radius_is_decided_once(tmp_path):
    transform, options = rewiring("drew-gcn", {}, 4)
    assert transform.max_hop == 4 and options == {"max_hop": 4}
    assert rewiring("kgcn-ssm", {"conv_options": {"max_hop": 3}}, 3)[1] == {"conv_options": {"max_hop": 3}}
    with pytest.raises(ValueError, match="conv_options.max_hop=2 differs from the rewiring radius max_hop=3 of the data"):
        rewiring("kgcn-ssm", {"conv_options": {"max_hop": 2}}, 3)
    with pytest.raises(ValueError, match="'kgcn-ssm' reads k-hop rings: it needs the rewiring radius max_hop"):
        rewiring("kgcn-ssm", {}, None)
    # the data of a prepared cell has exactly the model's rings
    cell = _prepare("graph", tmp_path, max_hop=3)
    graphs = cell.task.datasets["train"].graphs
    assert _hops(cell) == {3} and max(int(g.edata["hop"].max()) for g in graphs) <= 3
    assert graph_datasets("ring", dataclasses.replace(RING, root=tmp_path), None)[0]["train"].graphs[0].edata.get("hop") is None


def test_a_k_hop_preset_is_refused_in_a_node_cell_before_any_data_is_read(tmp_path):
    with pytest.raises(ValueError, match="'kgcn-ssm' reads k-hop rings .*which node cells do not build"):
        prepare_cell("texas", "kgcn-ssm", 2, 0, BASE, data=DataOptions(root=tmp_path / "nothing"))
    assert not (tmp_path / "nothing").exists()


def test_node_optimizer_and_scheduler_reach_the_model(tmp_path, raw_data, compose_config):
    """study.train.optimizer and study.train.scheduler in a node study: each changes the numbers (with a weight decay,
    AdamW is not Adam), and the record says what ran."""
    from dgl_ssm.studies import run_study

    raw_data(*TEXAS)
    base = ["config", "study=depth_quick", "study.datasets=[texas]", "study.settings=[2]", "~study.models.gcn",
            "~study.models.res_gcn", "study.train.epochs=4", f"data_root={tmp_path / 'data'}"]
    losses = {}
    for name, extra in {"adam": [], "adamw": ["study.train.optimizer=adamw"], "cosine": ["study.train.scheduler=cosine"]}.items():
        out = tmp_path / name
        rows, _ = run_study(compose_config(*base, *extra, f"out={out}"), "t", log=lambda *_: None)
        losses[name] = rows[0]["val_loss"]
        train = next(iter(json.loads((out / "cells.json").read_text()).values()))["train"]
        assert (train["optimizer"], train["scheduler"]) == {"adam": ("adam", "none"), "adamw": ("adamw", "none"),
                                                             "cosine": ("adam", "cosine")}[name]
    assert len(set(losses.values())) == 3, losses


def test_a_graph_study_with_a_bad_scheduler_writes_nothing(tmp_path, compose_config):
    from dgl_ssm.studies import run_study
    from dgl_ssm.studies.schema import ConfigError

    out = tmp_path / "out"
    cfg = compose_config("config", "study=graphprop_quick", "study.train.scheduler=bogus", f"out={out}")
    with pytest.raises(ConfigError, match="study.train.scheduler must be one of none, cosine, plateau, step, got 'bogus'"):
        run_study(cfg, "t", log=lambda *_: None)
    assert not out.exists()


def test_fit_node_classifier_takes_the_optimizer_and_scheduler(tmp_path, raw_data):
    from dgl_ssm.data import load_node_graph
    from dgl_ssm.train import fit_node_classifier

    raw_data(*TEXAS)
    graph = load_node_graph("texas", split=0, root=tmp_path)
    results = [fit_node_classifier(graph, "gcn-ssm", 2, 0, hidden=8, max_epochs=3, optimizer=o, scheduler=s)[1]
               for o, s in (("adam", "none"), ("adamw", "none"), ("adam", "cosine"))]
    assert len({r.val["loss"] for r in results}) == 3
    with pytest.raises(ValueError, match="scheduler must be one of"):
        fit_node_classifier(graph, "gcn-ssm", 2, 0, scheduler="cosin")


def test_every_committed_record_keeps_its_cell_hashes():
    """Each committed cell's identity, recomputed from its record's configuration (every sitting's, migrated by
    record_study) with the current code, is the hash the record holds: no protocol change re-runs or refuses it."""
    from dgl_ssm.report import read_csv
    from dgl_ssm.studies.identity import cell_config
    from dgl_ssm.studies.record import config_hash
    from dgl_ssm.studies.tables import record_study

    folders = [f.parent for f in sorted((ROOT / "results").glob("*/cells.json")) if (f.parent / "provenance.json").is_file()]
    assert len(folders) >= 15
    checked = 0
    for folder in folders:
        study = record_study(folder)
        for row in read_csv(folder / "results.csv"):
            cell = {"model": row["model"], "dataset": row["dataset"], study.setting_name: int(row[study.setting_name]),
                    "seed": int(row["seed"])}
            assert config_hash(cell_config(study, cell)) == str(row["config_hash"]), (folder.name, cell)
            checked += 1
    assert checked > 1400
