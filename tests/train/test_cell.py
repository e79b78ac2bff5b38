"""The one cell path (dgl_ssm.train.cell): every protocol field honoured by its level or refused, the rewiring
radius decided once, node and graph cells built in one order; the study engine's values reach the model."""
import dataclasses
import json
from pathlib import Path

import pytest
import torch

from dgl_ssm.train.cell import (FIELD_LEVELS, DataOptions, TrainProtocol, fit_cell, graph_datasets, prepare_cell,
                                rewiring)

ROOT = Path(__file__).resolve().parents[2]
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
    "scheduler_options": ({"step_size": 7}, None),  # checked by test_scheduler_options_reach_the_schedule
    "weight_decay_groups": ({"layers.0.": 0.3}, lambda c, b: [g["weight_decay"] for g in c.trainer.optimizer.param_groups][-1] == 0.3),
    "batch_size": (4, lambda c, b: c.task.train_loader.batch_size == 4),
    "max_hop": (3, lambda c, b: _hops(c) == {3} and _hops(b) == {2}
                and int(c.task.datasets["train"].graphs[int(c.task.datasets["train"].indices[0])].edata["hop"].max()) <= 3),
    "precision": ("bf16-mixed", lambda c, b: c.trainer.precision.name == "bf16-mixed"
                  and _out(c, True).dtype == torch.float32 and not torch.equal(_out(c, True), _out(b, True))),
    "layer_profile": (True, None),  # an output: checked by test_layer_profile_is_recorded_for_node_cells_only
    # the mode fit runs under: checked by tests/train/test_trainer.py::test_flush_to_zero_holds_during_fit_only
    "denormals": ("flush", lambda c, b: c.trainer.denormals == "flush" and b.trainer.denormals == "ieee"),
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


@pytest.mark.parametrize("level", ["node", "graph"])
def test_scheduler_options_reach_the_schedule(tmp_path, raw_data, level):
    raw_data(*TEXAS)
    options = {"factor": 0.25, "patience": 3, "min_lr": 1e-5, "watch": "loss"}
    cell = _prepare(level, tmp_path, scheduler="plateau", scheduler_options=options)
    s = cell.trainer.scheduler
    assert (s.factor, s.patience, s.min_lrs, s.watch) == (0.25, 3, [1e-5], "loss")
    with pytest.raises(ValueError, match="scheduler 'plateau' takes no option min_lrr"):
        _prepare(level, tmp_path, scheduler="plateau", scheduler_options={"min_lrr": 1e-5})


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


@pytest.mark.parametrize("dataset,data,named", [
    ("ring", DataOptions(ring_size=6, sizes=(64, 16, 16)), "sizes"),
    ("sssp", DataOptions(ring_graphs=100), "ring_graphs"),
    ("texas", DataOptions(limit=10), "limit"),
    ("peptides-func", DataOptions(normalize_features=True, target_scale="raw"), "normalize_features"),
])
def test_a_data_field_another_kind_of_dataset_reads_is_refused_before_anything_is_built(dataset, data, named, tmp_path):
    """A DataOptions field belongs to one kind of dataset; given for another it would be ignored."""
    data = dataclasses.replace(data, root=tmp_path / "nothing")
    with pytest.raises(ValueError, match=f"DataOptions: {named}.* which dataset '{dataset}' does not read"):
        prepare_cell(dataset, "gcn-ssm", 2, 0, dataclasses.replace(BASE, batch_size=8) if dataset != "texas" else BASE,
                     data=data)
    assert not (tmp_path / "nothing").exists()


def test_node_optimizer_and_scheduler_reach_the_model(tmp_path, raw_data, compose_config):
    """study.train.optimizer and study.train.scheduler in a node study: each changes the numbers (with a weight decay,
    AdamW is not Adam), and the record says what ran."""
    from dgl_ssm.studies import run_study

    raw_data(*TEXAS)
    base = ["config", "study=depth_quick", "study.seeds=1", "study.datasets=[texas]", "study.settings=[2]",
            "~study.models.gcn", "~study.models.res_gcn", "study.train.epochs=4", f"data_root={tmp_path / 'data'}"]
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


@pytest.mark.parametrize("given,named", [({"hidden": 128}, "hidden"), ({"dropout": 0.0}, "dropout"),
                                         ({"num_layers": 4}, "num_layers"), ({"activation": "tanh"}, "activation"),
                                         ({"hidden": 64, "dropout": 0.5}, "hidden, dropout")])
def test_fit_node_classifier_refuses_build_settings_for_a_built_model(given, named):
    """An explicit value is honoured or refused: a built model has its own width and dropout, so these would be ignored
    (``hidden=64``, the default of a preset build, too: it was given)."""
    import dgl
    import torch

    from dgl_ssm.models import build_model
    from dgl_ssm.train import fit_node_classifier

    graph = dgl.add_self_loop(dgl.rand_graph(6, 12))
    graph.ndata.update({"feat": torch.randn(6, 3), "label": torch.tensor([0, 1] * 3),
                        **{f"{s}_mask": torch.ones(6, dtype=torch.bool) for s in ("train", "val", "test")}})
    model = build_model("gcn-ssm", 3, 8, 2, num_layers=2)
    with pytest.raises(TypeError, match=f"fit_node_classifier: {named} configure a build, and this model is built"):
        fit_node_classifier(graph, model, max_epochs=1, **given)
    assert fit_node_classifier(graph, model, max_epochs=1)[1].epochs_run == 1
    with pytest.raises(TypeError, match="a preset name needs num_layers"):
        fit_node_classifier(graph, "gcn-ssm", max_epochs=1)


def test_lrgb_gcn_is_graphgyms_gcn_stack():
    """LRGB's GCN (lrgb-gcn): GCN layers without bias, batch norm, ReLU, each layer's states L2-normalised (the dense
    oracle: tests/models/test_baselines.py). At LRGB's shape (5 layers, hidden 300, AtomEncoder, 10 targets) it has
    LRGB's ~508k parameters."""
    import dgl

    from dgl_ssm.data import atom_encoder
    from dgl_ssm.models import build_model
    from dgl_ssm.train.cell import count_parameters

    model = build_model("lrgb-gcn", 9, 300, 10, 5, readout="mean", encoder=atom_encoder(300))
    assert count_parameters(model) == 508_210
    assert all(layer.conv.bias is None and isinstance(layer.norm, torch.nn.BatchNorm1d) for layer in model.layers)
    g = dgl.add_self_loop(dgl.graph(([0, 1, 2], [1, 2, 0])))
    small = build_model("lrgb-gcn", 4, 8, 2, 2).eval()
    states = small.propagate(g, small.encode(g, torch.randn(3, 4)))
    small.decoder = torch.nn.Identity()
    assert torch.allclose(small.readout(g, states).norm(dim=-1), torch.ones(3))


def test_drew_gcn_lrgb_has_drews_parameter_count():
    """DRew's configuration (17 layers, hidden 55, rings uncapped): layer t has t + 1 ring weights, 153 in all, each
    with a batch norm and no bias, so 153 (55^2 + 2 * 55) + the AtomEncoder's 173 * 55 + the head's 55 * 10 + 10:
    within the 500k budget its hidden 55 was chosen for (DRew's param_calcs.py)."""
    from ogb.utils.features import get_atom_feature_dims

    from dgl_ssm.data import atom_encoder
    from dgl_ssm.models import build_model
    from dgl_ssm.train.cell import count_parameters

    model = build_model("drew-gcn-lrgb", 9, 55, 10, 17, readout="mean", max_hop=17, encoder=atom_encoder(55))
    rings = sum(len(conv.rings) for conv in model.layers)
    assert rings == 153 == sum(t + 1 for t in range(17))
    expected = rings * (55 * 55 + 2 * 55) + sum(get_atom_feature_dims()) * 55 + 55 * 10 + 10
    assert count_parameters(model) == expected < 500_000
    assert f"{expected:,} parameters" in (Path(__file__).resolve().parents[2] / "docs" / "results.md").read_text()


def test_a_model_runs_at_its_own_settings_only(compose_config):
    from dgl_ssm.studies.grid import study_cells

    study = compose_config("config", "study=lrgb_seed_60").study
    cells = study_cells(study)
    assert {(c["model"], c["layers"]) for c in cells if c["model"] == "gcn_lrgb"} == {("gcn_lrgb", 5)}
    assert len(cells) == 8 and all(c["layers"] == 17 for c in cells if c["model"] != "gcn_lrgb")
    protocol = {c["model"]: __import__("dgl_ssm.studies.cells", fromlist=["x"]).cell_protocol(study, c["model"])
                for c in cells}
    assert protocol["gcn_lrgb"].hidden == 300 and protocol["gcn_lrgb"].epochs == 60
    assert protocol["drew_gcn_lrgb"].hidden == 55 and protocol["drew_gcn_lrgb"].max_hop == 17
    assert {p.epochs for p in protocol.values()} == {60} and protocol["kgcn_ssm"].hidden == 105


def test_a_plateau_schedule_watching_the_loss_steps_on_the_validation_loss():
    from dgl_ssm.train import Trainer, make_optimizer, make_scheduler

    class Task:  # validation loss rises while the metric improves: only a loss-watching plateau cuts the lr
        metric, higher_is_better = "accuracy", True

        def __init__(self):
            self.epoch = 0

        def train_epoch(self, model, optimizer):
            self.epoch += 1
            return 1.0

        def evaluate(self, model, splits=("val",)):
            return {s: {"loss": float(self.epoch), "accuracy": float(self.epoch)} for s in splits}

    lrs = {}
    for watch in ("loss", "metric"):
        model = torch.nn.Linear(2, 1)
        opt = make_optimizer(model, "adamw", lr=1e-3)
        trainer = Trainer(model, Task(), opt, make_scheduler(opt, "plateau", factor=0.5, patience=1, watch=watch),
                          max_epochs=6, patience=6, progress=False)
        lrs[watch] = [h["lr"] for h in trainer.fit().history]
    assert lrs["metric"] == [1e-3] * 6 and lrs["loss"][-1] < 1e-3


def test_plan_estimates_a_new_study_from_measured_epochs(tmp_path, raw_data, compose_config, capsys):
    """plan=true plan_epochs=1: a study with no record gets an estimate from one timed epoch per model (and writes
    nothing)."""
    from dgl_ssm.studies import run_study

    raw_data(*TEXAS)
    out = tmp_path / "out"
    cfg = compose_config("config", "study=depth_quick", "study.seeds=1", "study.datasets=[texas]", "study.settings=[2]",
                         "~study.models.res_gcn", f"out={out}", f"data_root={tmp_path / 'data'}", "plan=true",
                         "plan_epochs=1")
    _, text = run_study(cfg, "t", log=lambda *_: None)
    assert "2 cells pending" in text and "for the 2 with an estimate" in text and not out.exists()
    assert "measured" in text and "s/epoch × 200 epochs" in text and "s/epoch × 100 epochs" in text
