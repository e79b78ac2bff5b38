"""Diagnostics from configuration (python -m dgl_ssm.studies.diagnostics): finite CSVs and PNGs, one-line errors."""
import csv
import json
import math
import re

import dgl
import networkx as nx
import pandas as pd
import pytest
import torch

from dgl_ssm.studies.diagnostics import run_diagnostic

PNG = b"\x89PNG\r\n\x1a\n"



def numbers(path, columns):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows, f"{path} is empty"
    return [float(row[c]) for row in rows for c in columns]


def test_oversmoothing_quick(tmp_path, raw_data, compose_config):
    raw_data("planetoid/ind.cora.graph", "geom_gcn/new_data/texas/out1_graph_edges.txt")
    out = tmp_path / "run"
    rows = run_diagnostic(compose_config("diagnostics", "diagnostic=oversmoothing_quick", f"out={out}", f"data_root={tmp_path / 'data'}"),
                          log=lambda *_: None)
    assert {r["graph"] for r in rows} == {"cora", "texas", "grid"} and len({r["model"] for r in rows}) == 6
    values = numbers(out / "layers.csv", ["dirichlet_energy", "feature_norm", "mean_deviation"])
    assert len(values) == 3 * 6 * 17 * 3 and all(math.isfinite(v) for v in values)
    assert (out / "oversmoothing.png").read_bytes()[:8] == PNG and (out / "provenance.json").is_file()
    gcn = [r for r in rows if r["graph"] == "grid" and r["model"] == "GCN"]
    assert gcn[-1]["dirichlet_energy"] < 1e-3 * gcn[0]["dirichlet_energy"]  # plain GCN over-smooths
    assert all(r["relative_energy"] == pytest.approx(r["dirichlet_energy"] / r["feature_norm"] ** 2) for r in gcn)
    # float64 (the full diagnostic's setting): same measurements, computed in double precision
    rows64 = run_diagnostic(compose_config("diagnostics", "diagnostic=oversmoothing_quick", "diagnostic.dtype=float64",
                                           "diagnostic.graphs=[grid]", f"out={tmp_path / 'run64'}"), log=lambda *_: None)
    gcn64 = [r for r in rows64 if r["model"] == "GCN"]
    assert gcn64[0]["dirichlet_energy"] == pytest.approx(gcn[0]["dirichlet_energy"], rel=1e-5)


@pytest.mark.filterwarnings("ignore:Exited")  # LOBPCG warnings for the GCN-like layers whose σ_min is 0
@pytest.mark.filterwarnings("ignore:not reaching the requested tolerance")
def test_jacobian_quick(tmp_path, raw_data, compose_config):
    raw_data("geom_gcn/new_data/texas/out1_graph_edges.txt")
    out = tmp_path / "run"
    summary = run_diagnostic(compose_config("diagnostics", "diagnostic=jacobian_quick", f"out={out}", f"data_root={tmp_path / 'data'}",
                                    "diagnostic.large_graph=grid", "diagnostic.large_hidden=2"), log=lambda *_: None)
    assert [r["model"] for r in summary] == ["GCN", "GAT", "GIN", "GCN-SSM λ=0.5", "GCN-SSM λ=1.0"]
    assert all(math.isfinite(v) for v in numbers(out / "singular_values.csv", ["sigma", "sigma_sq"]))
    assert all(math.isfinite(v) for v in numbers(out / "eigenvalues.csv", ["real", "imag", "modulus"]))
    assert len(numbers(out / "singular_values.csv", ["sigma"])) == 5 * 183 * 4
    for png in ("singular_values.png", "eigenvalues.png"):
        assert (out / png).read_bytes()[:8] == PNG
    # regression (issue 14, defect 8): rho(J) was NaN for GCN, GAT and GIN
    assert all(math.isfinite(r["spectral_radius"]) and r["spectral_radius"] > 0 for r in summary)
    assert len(numbers(out / "eigenvalues.csv", ["modulus"])) == 5 * 183 * 4
    assert all(math.isfinite(v) for v in numbers(out / "matrix_free.csv", ["spectral_radius"]))
    ssm = {r["model"]: r["spectral_radius"] for r in summary if "SSM" in r["model"]}
    assert ssm["GCN-SSM λ=0.5"] < ssm["GCN-SSM λ=1.0"]
    top = numbers(out / "matrix_free.csv", ["sigma_max"])
    assert len(top) == 5 and all(math.isfinite(v) and v > 0 for v in top)
    converged = pd.read_csv(out / "matrix_free.csv")["sigma_min_converged"]  # σ_min's upper bounds are marked
    assert len(converged) == 5 and converged.isin([True, False]).all()


@pytest.mark.parametrize("override,message", [
    ("diagnostic.layers=0", "diagnostic.layers must be >= 1, got 0"),
    ("diagnostic.hidden=0", "diagnostic.hidden must be >= 1, got 0"),
    ("diagnostic.max_nodes=0", "diagnostic.max_nodes must be >= 1"),
    ("diagnostic.graphs=[coraa]", "unknown or no node dataset(s) coraa"),
    ("diagnostic.laers=3", "Could not override 'diagnostic.laers'"),
    ("device=cuda", "cuda"),
    ("out=FILE", "is a file"),
])
def test_explicit_values_are_honoured_or_rejected_in_one_line(tmp_path, run_cli, override, message):
    """Issue 12: --layers 0 / --hidden 0 used to fall back to defaults; bad names gave tracebacks after the run folder."""
    from dgl_ssm.studies.diagnostics import main

    (tmp_path / "FILE").write_text("x")
    override = override.replace("FILE", str(tmp_path / "FILE"))
    out = [] if override.startswith("out=") else [f"out={tmp_path / 'run'}"]
    status, stderr = run_cli(main, "diagnostic=oversmoothing_quick", override, *out)
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert status == 2 and len(lines) == 1 and message in lines[0], stderr[-1500:]
    assert "Traceback" not in stderr and sorted(p.name for p in tmp_path.iterdir()) == ["FILE"]


def test_a_bad_value_in_a_real_process_exits_2_without_a_traceback(tmp_path, run_cli_process):
    """The cases above run ``main()`` in-process; a fresh process shows the exit status and a clean stderr."""
    status, stderr = run_cli_process("dgl_ssm.studies.diagnostics", "diagnostic=oversmoothing_quick",
                                     "diagnostic.layers=0", f"out={tmp_path / 'run'}")
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert status == 2 and len(lines) == 1 and "diagnostic.layers must be >= 1, got 0" in lines[0], stderr
    assert "Traceback" not in stderr and not (tmp_path / "run").exists()


@pytest.mark.parametrize("config, override, message", [
    ("jacobian", "diagnostic.dtype=float64", "diagnostic.dtype='float64': kind jacobian does not read it"),
    ("gradients", "diagnostic.layers=40", "diagnostic.layers=40: kind gradients does not read it"),
    ("gradients", "diagnostic.graphs=[cora,texas]", "kind gradients measures one graph"),
    ("stationary_points", "diagnostic.measure_epochs=[0,5]", "kind stationary_points does not read it"),
    ("oversmoothing_quick", "diagnostic.depths=[8]", "kind oversmoothing reads activation, dtype, hidden"),
])
def test_a_diagnostic_refuses_a_field_its_kind_would_ignore(tmp_path, compose_config, config, override, message):
    """Each kind reads some of the diagnostic's fields (READS): any other one, set to other than its default, is one
    error naming the fields the kind reads, before anything is written (``layers`` for gradients used to run at
    ``depths`` silently)."""
    from dgl_ssm.studies.schema import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        run_diagnostic(compose_config("diagnostics", f"diagnostic={config}", override, f"out={tmp_path / 'run'}"),
                       log=lambda *_: None)
    assert not (tmp_path / "run").exists()


def test_gradients_diagnostic(tmp_path, raw_data, compose_config):
    """Gradient flow at initialization: one row per model, depth and layer; GCN vanishes, GCN-SSM (λ = 1) does not."""
    raw_data("geom_gcn/new_data/texas/out1_graph_edges.txt")
    out = tmp_path / "run"
    rows = run_diagnostic(compose_config("diagnostics", "diagnostic=gradients", "diagnostic.graphs=[texas]",
                                         "diagnostic.depths=[24]", "diagnostic.hidden=8", f"out={out}",
                                         f"data_root={tmp_path / 'data'}"), log=lambda *_: None)
    assert len(rows) == 5 * 25 and (out / "gradients_24.png").read_bytes()[:8] == PNG
    by = {m: [r["grad_norm"] for r in rows if r["model"] == m and r["layer"] > 0] for m in ("GCN", "GCN-SSM λ=1.0")}
    assert by["GCN"][0] < 1e-3 * by["GCN"][-1]  # vanishing towards the first layer
    assert 0.1 < by["GCN-SSM λ=1.0"][0] / by["GCN-SSM λ=1.0"][-1] < 10


def test_backward_smoothing_diagnostic(tmp_path, raw_data, compose_config):
    """Keriven (2025), claim 1: every model, measured epoch and layer has finite ratios in [0, 1]; the ratios are
    the orthogonal_ratio of the errors (recomputed here for the GCN at initialisation)."""
    raw_data("geom_gcn/new_data/texas/out1_graph_edges.txt")
    out = tmp_path / "run"
    rows = run_diagnostic(compose_config("diagnostics", "diagnostic=backward_smoothing", "diagnostic.graphs=[texas]",
                                         "diagnostic.depths=[6]", "diagnostic.hidden=8", "diagnostic.train.hidden=8",
                                         "diagnostic.measure_epochs=[0,3]", "diagnostic.train.epochs=3", f"out={out}",
                                         f"data_root={tmp_path / 'data'}"), log=lambda *_: None)
    assert len(rows) == 4 * 2 * 7 and (out / "backward.png").read_bytes()[:8] == PNG
    assert {r["epoch"] for r in rows} == {0, 3}
    assert all(0.0 <= r["error_ratio"] <= 1.0 and 0.0 <= r["state_ratio"] <= 1.0 for r in rows)
    assert numbers(out / "backward.csv", ["error_ratio", "state_ratio", "train_loss"])

    import torch
    import torch.nn.functional as F

    from dgl_ssm.analysis import backward_errors, orthogonal_ratio
    from dgl_ssm.data import load_node_graph
    from dgl_ssm.models import build_model

    graph = load_node_graph("texas", root=tmp_path / "data")
    mask, label = graph.ndata["train_mask"].bool(), graph.ndata["label"]
    torch.manual_seed(0)
    model = build_model("gcn", graph.ndata["feat"].shape[1], 8, int(label.max()) + 1, 6, dropout=0.5).eval()
    _, errors, _ = backward_errors(model, graph, graph.ndata["feat"], lambda o: F.cross_entropy(o[mask], label[mask]))
    ours = [r["error_ratio"] for r in rows if r["model"] == "GCN (ReLU)" and r["epoch"] == 0]
    assert ours == pytest.approx([orthogonal_ratio(graph, e) for e in errors], rel=1e-6)


def test_stationary_points_diagnostic(tmp_path, raw_data, compose_config):
    """Keriven (2025), claim 2: the last layer alone is trained to a stationary point (decoder gradient ~0 in
    float64); every other weight is as at initialisation (same block gradients would follow from the same weights)."""
    raw_data("geom_gcn/new_data/texas/out1_graph_edges.txt")
    out = tmp_path / "run"
    rows = run_diagnostic(compose_config("diagnostics", "diagnostic=stationary_points", "diagnostic.graphs=[texas]",
                                         "diagnostic.depths=[6]", "diagnostic.hidden=8", "diagnostic.train.hidden=8",
                                         "diagnostic.full_epochs=5", f"out={out}", f"data_root={tmp_path / 'data'}"),
                          log=lambda *_: None)
    assert [r["model"] for r in rows] == ["GCN (ReLU)", "MLP (ReLU)", "GCN-SSM λ=1.0", "GCN, stochastic P (ReLU)"]
    assert all(r["decoder_grad_max"] < 1e-5 and r["loss_last_layer"] <= r["loss_init"] for r in rows)
    assert (out / "stationary.png").read_bytes()[:8] == PNG
    layers = numbers(out / "stationary_layers.csv", ["error_ratio", "grad_norm"][1:])
    assert len(layers) == 4 * 2 * 7


def test_the_diagnostics_of_training_refuse_two_widths(tmp_path, compose_config):
    from dgl_ssm.studies.schema import ConfigError

    with pytest.raises(ConfigError, match="diagnostic.hidden .* and diagnostic.train.hidden .* differ"):
        run_diagnostic(compose_config("diagnostics", "diagnostic=stationary_points", "diagnostic.hidden=8",
                                      f"out={tmp_path / 'run'}"), log=lambda *_: None)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override, message", [
    ("diagnostic.graphs=[cora,texas]", "trains on one graph"),
    ("diagnostic.measure_epochs=[0,500]", "diagnostic.measure_epochs goes to 500"),
    ("diagnostic.train.scheduler=cosine", "trains without a schedule"),
    ("+diagnostic.train.precision=bf16-mixed", r"diagnostic.train.precision='bf16-mixed': kind backward_smoothing does "
                                              r"not read it \(they train in the features' dtype"),
    ("+diagnostic.train.learnig_rate=0.1", r"diagnostic.train.learnig_rate=0.1: .* not a key they read.*remove it"),
    ("diagnostic.train.activation=tanh", r"each model row has its own activation"),
    ("+diagnostic.train.batch_size=32", r"diagnostic.train.batch_size=32: kind backward_smoothing does not read it"),
    ("+diagnostic.train.denormals=flush", r"they measure vanishing gradients, which flush-to-zero would set to 0"),
])
def test_the_diagnostics_of_training_refuse_what_they_would_drop(tmp_path, compose_config, override, message):
    from dgl_ssm.studies.schema import ConfigError

    with pytest.raises(ConfigError, match=message):
        run_diagnostic(compose_config("diagnostics", "diagnostic=backward_smoothing", override,
                                      f"out={tmp_path / 'run'}"), log=lambda *_: None)
    assert not (tmp_path / "run").exists()


def test_gradient_oversmoothing_diagnostic(tmp_path, raw_data, compose_config):
    """Park & Kim (2024): per model, measured epoch and layer, the per-node gradient similarity in [-1, 1] and the
    weight-gradient norm; for the GCN at initialisation the norm is autograd's ‖∂L/∂W‖ and the similarity that of
    the same model built here (seed, width, dtype and eval mode as the diagnostic's)."""
    raw_data("geom_gcn/new_data/texas/out1_graph_edges.txt")
    out = tmp_path / "run"
    rows = run_diagnostic(compose_config("diagnostics", "diagnostic=gradient_oversmoothing", "diagnostic.graphs=[texas]",
                                         "diagnostic.depths=[5]", "diagnostic.hidden=8", "diagnostic.train.hidden=8",
                                         "diagnostic.measure_epochs=[0,2]", "diagnostic.train.epochs=2", f"out={out}",
                                         f"data_root={tmp_path / 'data'}"), log=lambda *_: None)
    assert len(rows) == 4 * 2 * 5 and (out / "node_gradients_5.png").read_bytes()[:8] == PNG
    assert {r["model"] for r in rows} == {"GCN", "ResGCN", "LipResGCN", "GCN-SSM λ=1.0"}
    assert all(-1.0 <= r["similarity"] <= 1.0 and r["nodes"] >= 2 for r in rows)
    assert numbers(out / "node_gradients.csv", ["similarity", "weight_grad_norm", "train_loss"])

    import torch
    import torch.nn.functional as F

    from dgl_ssm.analysis import layer_node_gradients, node_gradient_similarity
    from dgl_ssm.data import load_node_graph
    from dgl_ssm.models import build_model

    graph = load_node_graph("texas", root=tmp_path / "data")
    feat = graph.ndata["feat"].double()
    mask, label = graph.ndata["train_mask"].bool(), graph.ndata["label"]
    torch.manual_seed(0)
    model = build_model("gcn", feat.shape[1], 8, int(label.max()) + 1, 5, dropout=0.5).double().eval()
    F.cross_entropy(model(graph, feat)[mask], label[mask]).backward()
    ours = [r for r in rows if r["model"] == "GCN" and r["epoch"] == 0]
    assert [r["weight_grad_norm"] for r in ours] == pytest.approx(
        [float(layer.conv.weight.grad.norm()) for layer in model.layers], rel=1e-9)
    _, factors = layer_node_gradients(model, graph, feat, lambda o: F.cross_entropy(o[mask], label[mask]))
    assert [r["similarity"] for r in ours] == pytest.approx([node_gradient_similarity(m, e)[0] for m, e in factors],
                                                            rel=1e-9)


def test_gradient_oversmoothing_refuses_a_second_activation(tmp_path, compose_config):
    from dgl_ssm.studies.schema import ConfigError

    with pytest.raises(ConfigError, match="diagnostic.activation .* and diagnostic.train.activation .* differ"):
        run_diagnostic(compose_config("diagnostics", "diagnostic=gradient_oversmoothing", "diagnostic.train.activation=tanh",
                                      f"out={tmp_path / 'run'}"), log=lambda *_: None)
    assert not (tmp_path / "run").exists()


def test_stationary_points_on_the_largest_component(tmp_path, raw_data, compose_config):
    """stationary_points_lcc composes stationary_points and keeps one connected component of the graph."""
    raw_data("geom_gcn/new_data/texas/out1_graph_edges.txt")
    out = tmp_path / "run"
    cfg = compose_config("diagnostics", "diagnostic=stationary_points_lcc", "diagnostic.graphs=[texas]",
                         "diagnostic.depths=[3]", "diagnostic.hidden=8", "diagnostic.train.hidden=8",
                         "diagnostic.full_epochs=2", "diagnostic.last_layer_iterations=5", f"out={out}",
                         f"data_root={tmp_path / 'data'}")
    assert cfg.diagnostic.largest_component and cfg.diagnostic.last_layer_iterations == 5
    run_diagnostic(cfg, log=lambda *_: None)
    layers = numbers(out / "stationary_layers.csv", ["error_ratio"])
    assert len(layers) == 4 * 2 * 4


def test_the_training_kinds_take_the_largest_component_with_its_masks(monkeypatch, compose_config):
    """Texas is connected: a graph of two components (5 and 2 nodes) stands in for the loader."""
    import dgl
    import torch

    from dgl_ssm.studies import backward

    g = dgl.graph(([0, 1, 2, 3, 5], [1, 2, 3, 4, 6]), num_nodes=7)
    g.ndata["train_mask"] = torch.tensor([1, 0, 1, 0, 0, 1, 1], dtype=torch.bool)
    g.ndata["label"] = torch.tensor([0, 1, 2, 0, 1, 2, 3])
    monkeypatch.setattr(backward, "load_node_graph", lambda *a, **k: g)
    d = compose_config("diagnostics", "diagnostic=stationary_points_lcc").diagnostic
    g.ndata["feat"] = torch.randn(7, 2)
    graph, feat, loss_fn, classes = backward.node_task(d, "cpu", None, None)
    assert graph.ndata[dgl.NID].tolist() == [0, 1, 2, 3, 4] and feat.dtype == torch.float64 and classes == 3
    out = torch.randn(5, 3, dtype=torch.float64)  # the loss is on training nodes 0 and 2 of the component
    assert float(loss_fn(out)) == pytest.approx(float(torch.nn.functional.cross_entropy(out[[0, 2]], torch.tensor([0, 2]))))
    whole = backward.node_task(compose_config("diagnostics", "diagnostic=stationary_points").diagnostic, "cpu", None, None)
    assert whole[0].num_nodes() == 7


def test_largest_component_is_refused_where_it_would_be_ignored(tmp_path, compose_config):
    from dgl_ssm.studies.schema import ConfigError

    with pytest.raises(ConfigError, match="diagnostic.largest_component: kind oversmoothing"):
        run_diagnostic(compose_config("diagnostics", "diagnostic=oversmoothing_quick", "diagnostic.largest_component=true",
                                      f"out={tmp_path / 'run'}"), log=lambda *_: None)


PEPTIDES_FUNC = ("lrgb/Peptides-func/peptide_multi_class_dataset.csv.gz",
                 "lrgb/Peptides-func/splits_random_stratified_peptide.pickle")


@pytest.mark.slow
def test_study_init_measures_every_row_of_the_lrgb_table_as_it_starts(tmp_path, raw_data, compose_config):
    """diagnostic=lrgb_init: each row of study=lrgb_seed as its cell starts (its own width, options and seed-0
    initialisation) on the first validation molecules. Every energy is over the molecules' bonds, whatever rings a
    model reads: the 17-layer rows at hidden 105 share the encoder's initialisation, so their layer-0 energies agree
    (with the rewired graph's ring edges the k-hop rows' would not). Analytic checks: DRew's configuration and LRGB's
    GCN L2-normalise every layer's node states (mean node norm 1); GCN's signal vanishes, DRew's equation (no
    normalisation) explodes, kGCN-SSM at λ = 1 stays within a small factor (the edge of chaos); each cell's loss on the
    batch is what its first step starts from; each row's sensitivity is 0 exactly beyond its receptive field."""
    raw_data(*PEPTIDES_FUNC)
    out = tmp_path / "run"
    rows = run_diagnostic(compose_config("diagnostics", "diagnostic=lrgb_init", "diagnostic.batch_graphs=4",
                                         "diagnostic.sensitivity_graphs=1", f"out={out}", f"data_root={tmp_path / 'data'}"),
                          log=lambda *_: None)
    study = compose_config("config", "study=lrgb_seed").study
    assert [m for m in dict.fromkeys(r["model"] for r in rows)] == list(study.models)
    layers = {m: [r["layer"] for r in rows if r["model"] == m] for m in study.models}
    assert layers["gcn_lrgb"] == list(range(6)) and all(layers[m] == list(range(18)) for m in study.models if m != "gcn_lrgb")
    assert all(math.isfinite(v) for v in numbers(out / "layers.csv", ["feature_norm", "dirichlet_energy", "mean_node_norm"]))
    assert (out / "study_init.png").read_bytes()[:8] == PNG and (out / "provenance.json").is_file()
    at = {(r["model"], r["layer"]): r for r in rows}
    wide = ["gcn", "kgcn_ssm", "khop_gcn", "gcn_ssm", "kgcn_ssm_l05", "drew_gcn_delay"]
    assert all(at[(m, 0)]["dirichlet_energy"] == pytest.approx(at[("gcn", 0)]["dirichlet_energy"], rel=1e-6) for m in wide)
    assert all(at[("drew_gcn_lrgb", k)]["mean_node_norm"] == pytest.approx(1.0, abs=1e-5) for k in range(1, 18))
    assert all(at[("gcn_lrgb", k)]["mean_node_norm"] == pytest.approx(1.0, abs=1e-5) for k in range(1, 6))
    ratio = {m: at[(m, 17)]["mean_node_norm"] / at[(m, 0)]["mean_node_norm"] for m in wide}
    assert ratio["gcn"] < 0.1 and ratio["kgcn_ssm_l05"] < 0.01 and ratio["drew_gcn_delay"] > 10
    assert 0.5 < ratio["kgcn_ssm"] < 5, ratio
    assert all(r["relative_energy"] == pytest.approx(r["dirichlet_energy"] / r["feature_norm"] ** 2) for r in rows)
    # the loss the first step starts from: GCN's vanished signal leaves logits near 0, binary cross-entropy near log 2
    # (10 tasks, the decoder's bias only); DRew's exploded one leaves logits in the hundreds
    loss = {r["model"]: float(r["initial_loss"]) for r in csv.DictReader(open(out / "summary.csv"))}
    assert list(loss) == list(study.models)
    assert loss["gcn"] == pytest.approx(math.log(2), abs=0.05) and loss["drew_gcn_delay"] > 10
    # over-squashing: with batch norm's statistics held, a node's state after L layers depends on exactly the nodes
    # within its receptive field: L hops for GCN, GCN-SSM and both DRew-GCNs (with ν = 1 the delay makes ring k
    # arrive after k layers), 5 for LRGB's GCN, 1 + 2 + 3 · 15 = 48 for the k-hop rows (rings 1, 1-2, then 1-3)
    sens = list(csv.DictReader(open(out / "sensitivity.csv")))
    reach = {"gcn_lrgb": 5, "kgcn_ssm": 48, "khop_gcn": 48, "kgcn_ssm_l05": 48}
    for model in study.models:
        part = {int(r["distance"]): float(r["max"]) for r in sens if r["model"] == model}
        edge = reach.get(model, 17)
        assert all(v == 0 for d, v in part.items() if d > edge or d < 0), (model, part)
        assert all(v > 0 for d, v in part.items() if 0 <= d <= edge), (model, part)


def test_input_graph_is_the_graph_before_rewiring():
    """The energy's edges: a rewired graph's ring-1 edges are exactly the input graph's (as sets, same nodes)."""
    import dgl
    import torch

    from dgl_ssm.studies.study_init import input_graph
    from dgl_ssm.transforms import KHopRewire

    g = dgl.to_bidirected(dgl.graph((torch.arange(9), torch.arange(1, 10))))  # a path of 10 nodes
    rewired = KHopRewire(max_hop=3)(g)
    assert rewired.num_edges() > g.num_edges()
    base = input_graph(rewired)
    assert base.num_nodes() == g.num_nodes()
    assert set(zip(*(t.tolist() for t in base.edges()))) == set(zip(*(t.tolist() for t in g.edges())))
    assert input_graph(g) is g


@pytest.mark.parametrize("overrides, message", [
    (["diagnostic.study=nope"], "diagnostic.study='nope' is not a study of dgl_ssm/conf/study/"),
    (["diagnostic.study=null"], "diagnostic.study=None is not a study"),
    (["diagnostic.graphs=[peptides-struct]"], "diagnostic.graphs=[peptides-struct]: study lrgb_seed has datasets "
                                              "['peptides-func']; pass one of them"),
    (["diagnostic.graphs=[]"], "diagnostic.graphs=[]: study lrgb_seed has datasets ['peptides-func']"),
    (["diagnostic.study=depth_cora", "diagnostic.graphs=[cora]", "diagnostic.batch_graphs=16"],
     "diagnostic.batch_graphs=16: study depth_cora is node-level"),
    (["diagnostic.batch_graphs=0"], "diagnostic.batch_graphs must be >= 1, got 0"),
    (["diagnostic.hidden=32"], "diagnostic.hidden=32: kind study_init does not read it"),
])
def test_study_init_refuses_what_it_cannot_measure(tmp_path, compose_config, overrides, message):
    """Every refusal is one error before anything is written."""
    from dgl_ssm.studies.schema import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        run_diagnostic(compose_config("diagnostics", "diagnostic=lrgb_init", *overrides, f"out={tmp_path / 'run'}"),
                       log=lambda *_: None)
    assert not (tmp_path / "run").exists()


def test_study_init_on_a_node_study_sees_the_whole_graph(tmp_path, raw_data, compose_config):
    """study_init on a node-level study (depth_quick: Kipf's GCN, ResGCN and GCN-SSM at 2, 8 and 32 layers on Cora):
    every cell on the whole graph, its loss the training nodes' cross-entropy. Kipf's GCN has dropout 0.5 on its
    input, so the rows are reproducible only because the dropout masks are drawn with the diagnostic's seed."""
    raw_data("planetoid/ind.cora.graph")
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        runs.append(run_diagnostic(compose_config("diagnostics", "diagnostic=study_init", "diagnostic.study=depth_quick",
                                                  "diagnostic.graphs=[cora]", f"out={out}", f"data_root={tmp_path / 'data'}"),
                                   log=lambda *_: None))
    rows = runs[0]
    assert runs[0] == runs[1]
    assert json.loads((tmp_path / "a" / "provenance.json").read_text())["sittings"][0]["config"]["name"] == "depth_quick_init"
    assert {r["nodes"] for r in rows} == {2708}
    depths = {(r["model"], r["depth"]) for r in rows}
    assert depths == {(m, k) for m in ("gcn", "res_gcn", "gcn_ssm") for k in (2, 8, 32)}
    summary = list(csv.DictReader(open(tmp_path / "a" / "summary.csv")))
    # an untrained classifier's training loss: near log 7 (Cora's classes) where the logits are small
    gcn2 = next(r for r in summary if r["model"] == "gcn" and r["depth"] == "2")
    assert float(gcn2["initial_loss"]) == pytest.approx(math.log(7), abs=0.2)


GRAPH_TINY_TRAINED = ["study=graphprop_quick", "study.datasets=[diameter]", "study.settings=[3]",
                      "study.sizes=[128,32,32]", "study.train.epochs=3", "study.train.batch_size=16",
                      "study.train.hidden=16", "~study.models.gcn_ssm", "~study.models.gcn_ssm_eig1",
                      "~study.models.drew_gcn", "~study.models.drew_gcn_delay"]


def test_study_init_measures_the_trained_models_a_record_kept(tmp_path, compose_config, monkeypatch):
    """diagnostic.trained=true: the record's cells with the weights keep_models kept, in eval mode; a recorded cell
    whose model was not kept is named and skipped. Oracles: the trained cell's states are its trained model's (not the
    initialisation's), and a trained model's sensitivity is still exactly 0 beyond its receptive field (3 layers: GCN
    3 hops, kGCN-SSM 1 + 2 + 3 = 6)."""
    from dgl_ssm.studies import run_study
    from dgl_ssm.studies.trained import trained_cell

    record, data = tmp_path / "results" / "graphprop_quick", tmp_path / "data"
    run_study(compose_config("config", *GRAPH_TINY_TRAINED, "keep_models=true", f"out={record}", f"data_root={data}"),
              "t", log=lambda *_: None)
    (next(p for p in (record / ".models").iterdir() if p.name.startswith("gcn-"))).unlink()  # one model not kept
    said = []
    diag = ["diagnostic=study_trained", "diagnostic.study=graphprop_quick", "diagnostic.graphs=[diameter]",
            f"diagnostic.record={record}", "diagnostic.sensitivity_graphs=2", f"data_root={data}"]
    rows = run_diagnostic(compose_config("diagnostics", *diag, f"out={tmp_path / 'trained'}"), log=said.append)
    assert {r["model"] for r in rows} == {"kgcn_ssm"} and [r["layer"] for r in rows] == [0, 1, 2, 3]
    assert any("gcn (3): no trained model kept, not measured" in line for line in said)
    prepared = trained_cell(record, {"model": "kgcn_ssm", "dataset": "diameter", "layers": 3, "seed": 0}, data_root=data)
    val = prepared.task.datasets["val"]
    graph = val.collate([val[i] for i in range(len(val))])[0]
    with torch.no_grad():
        states = prepared.model.hidden_states(graph, graph.ndata["feat"])
    assert [r["mean_node_norm"] for r in rows] == pytest.approx([float(h.norm(dim=1).mean()) for h in states])
    init = run_diagnostic(compose_config("diagnostics", "diagnostic=study_init", *diag[1:3], f"data_root={data}",
                                         f"out={tmp_path / 'init'}"), log=lambda *_: None)
    mine = [r for r in init if r["model"] == "kgcn_ssm"]
    assert mine[-1]["mean_node_norm"] != pytest.approx(rows[-1]["mean_node_norm"])
    # batch_graphs is honoured on any graph dataset: the first 5 validation graphs (the default 128: all 32)
    five = run_diagnostic(compose_config("diagnostics", *diag[:-2], "diagnostic.batch_graphs=5", f"data_root={data}",
                                         f"out={tmp_path / 'five'}"), log=lambda *_: None)
    assert {r["nodes"] for r in five} == {sum(val[i][0].num_nodes() for i in range(5))}
    assert {r["nodes"] for r in rows} == {graph.num_nodes()} and len(val) == 32
    sens = list(csv.DictReader(open(tmp_path / "trained" / "sensitivity.csv")))
    assert all(float(r["max"]) == 0 for r in sens if int(r["distance"]) > 6 or int(r["distance"]) < 0)
    assert all(float(r["max"]) > 0 for r in sens if 0 <= int(r["distance"]) <= 6)
    # refused before anything is written: the record of another study; a record with no model kept
    from dgl_ssm.studies.schema import ConfigError

    with pytest.raises(ConfigError, match=r"has no trained model of a recorded cell of diameter, seed 1 \(status ok\): "
                                          r"pass diagnostic.seed="):
        run_diagnostic(compose_config("diagnostics", *diag, "diagnostic.seed=1", f"out={tmp_path / 'no'}"),
                       log=lambda *_: None)
    # a kept model whose cell cannot be built (its data missing) is an error, not "no trained model kept"
    from dgl_ssm.data import MissingDataError

    def missing(*args, **kwargs):
        raise MissingDataError("diameter.csv is missing: fault injected")

    with monkeypatch.context() as patch:
        patch.setattr("dgl_ssm.train.cell.prepare_cell", missing)
        said.clear()
        with pytest.raises(MissingDataError, match="fault injected"):
            run_diagnostic(compose_config("diagnostics", *diag, f"out={tmp_path / 'faulty'}"), log=said.append)
    assert not any("kgcn_ssm" in line and "no trained model kept" in line for line in said)

    other = [a.replace("study=graphprop_quick", "study=lrgb_seed").replace("[diameter]", "[peptides-func]") for a in diag]
    with pytest.raises(ConfigError, match="is a record of study graphprop_quick, not lrgb_seed"):
        run_diagnostic(compose_config("diagnostics", *other, f"out={tmp_path / 'no'}"), log=lambda *_: None)
    for path in (record / ".models").iterdir():
        path.unlink()
    with pytest.raises(ConfigError, match="holds no trained model: run the study's cells with keep_models=true"):
        run_diagnostic(compose_config("diagnostics", *diag, f"out={tmp_path / 'no'}"), log=lambda *_: None)
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("overrides, message", [
    (["diagnostic.record=somewhere"], "diagnostic.record=somewhere: a record's trained models are measured with "
                                      "diagnostic.trained=true"),
    (["diagnostic.trained=true", "diagnostic.record=nowhere", "diagnostic.name=x"], "diagnostic.record=nowhere: no record there"),
    (["diagnostic.trained=true", "diagnostic.record=results/lrgb_seed_60", "diagnostic.study=lrgb_seed_60",
      "diagnostic.name=lrgb_seed_60_init"], "diagnostic.name=lrgb_seed_60_init: trained models are not the initialization"),
])
def test_study_init_trained_refuses_what_it_cannot_read(tmp_path, compose_config, overrides, message):
    from dgl_ssm.studies.schema import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        run_diagnostic(compose_config("diagnostics", "diagnostic=lrgb_init", *overrides, f"out={tmp_path / 'run'}"),
                       log=lambda *_: None)
    assert not (tmp_path / "run").exists()


def test_resistance_diagnostic_on_the_first_peptides(tmp_path, raw_data, compose_config):
    """diagnostic=lrgb_resistance on 3 molecules: every pair of a molecule once, by its shortest-path distance over
    the bonds; on the bonds R(u, v) <= d(u, v) (one path of d unit resistors, and a second path only lowers it); each
    rewiring adds edges, so it lowers every mean (Rayleigh) and keeps the pair count; the totals are the
    per-molecule Kirchhoff indices and spectral gaps (recomputed here from the library functions)."""
    from dgl_ssm.analysis import spectral_gap, total_effective_resistance
    from dgl_ssm.data import PeptidesDataset
    from dgl_ssm.transforms import KHopRewire

    raw_data(*PEPTIDES_FUNC)
    out = tmp_path / "run"
    rows = run_diagnostic(compose_config("diagnostics", "diagnostic=lrgb_resistance", "diagnostic.batch_graphs=3",
                                         "diagnostic.max_hops=[2,3]", f"out={out}", f"data_root={tmp_path / 'data'}"),
                          log=lambda *_: None)
    by = {(r["topology"], r["distance"]): r for r in rows}
    topologies = list(dict.fromkeys(r["topology"] for r in rows))
    assert topologies == ["input graph", "rings 1..2", "rings 1..3"]
    molecules = [PeptidesDataset("peptides-func", "val", root=tmp_path / "data", limit=3)[i][0] for i in range(3)]
    connected_pairs = sum(len(c) * (len(c) - 1) // 2 for g in molecules
                          for c in nx.connected_components(dgl.to_networkx(g).to_undirected()))
    for name in topologies:
        assert sum(r["pairs"] for r in rows if r["topology"] == name) == connected_pairs
    distances = sorted(d for t, d in by if t == "input graph")
    assert distances[0] == 1 and all(by[("input graph", d)]["max_resistance"] <= d + 1e-9 for d in distances)
    assert by[("input graph", 1)]["max_resistance"] == pytest.approx(1.0)  # a bond on no ring: a bridge, 1 ohm
    for d in distances:
        assert by[("rings 1..3", d)]["mean_resistance"] <= by[("rings 1..2", d)]["mean_resistance"] + 1e-12
        assert by[("rings 1..2", d)]["mean_resistance"] <= by[("input graph", d)]["mean_resistance"] + 1e-12
    summary = {r["topology"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert {r["graphs"] for r in summary.values()} == {"peptides-func"} and summary["input graph"]["num_graphs"] == "3"
    totals = [float(total_effective_resistance(g)) for g in molecules]
    rewired = [float(total_effective_resistance(KHopRewire(3)(g))) for g in molecules]
    finite = [t for t in totals if math.isfinite(t)]
    assert int(summary["input graph"]["connected_graphs"]) == len(finite)
    gaps = [float(spectral_gap(g)) for g, t in zip(molecules, totals) if math.isfinite(t)]
    assert float(summary["input graph"]["mean_spectral_gap"]) == pytest.approx(sum(gaps) / len(gaps))
    assert float(summary["input graph"]["mean_total_effective_resistance"]) == pytest.approx(sum(finite) / len(finite))
    assert float(summary["rings 1..3"]["mean_total_effective_resistance"]) == pytest.approx(
        sum(r for r in rewired if math.isfinite(r)) / len(finite))
    assert (out / "resistance.png").read_bytes()[:8] == PNG and (out / "provenance.json").is_file()


def test_resistance_diagnostic_on_a_node_dataset_measures_its_largest_component(tmp_path, raw_data, compose_config):
    """A node dataset is measured on its largest connected component (Texas: all 183 nodes; Cora: 2,485 of 2,708), whose
    pairs are all connected, so its total effective resistance is finite; rings 1..2 lower every mean."""
    from dgl_ssm.data import load_node_graph
    from dgl_ssm.transforms import LargestComponent

    raw_data("geom_gcn/new_data/texas/out1_graph_edges.txt", "geom_gcn/new_data/texas/out1_node_feature_label.txt")
    out = tmp_path / "run"
    rows = run_diagnostic(compose_config("diagnostics", "diagnostic=lrgb_resistance", "diagnostic.graphs=[texas]",
                                         "diagnostic.max_hops=[2]", f"out={out}", f"data_root={tmp_path / 'data'}"),
                          log=lambda *_: None)
    n = LargestComponent()(load_node_graph("texas", self_loop=False, root=tmp_path / "data")).num_nodes()
    assert sum(r["pairs"] for r in rows if r["topology"] == "input graph") == n * (n - 1) // 2
    by = {(r["topology"], r["distance"]): r["mean_resistance"] for r in rows}
    assert all(by[("rings 1..2", d)] <= m + 1e-12 for (t, d), m in by.items() if t == "input graph")
    summary = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["connected_graphs"] for r in summary] == ["1", "1"]
    assert all(math.isfinite(float(r["mean_total_effective_resistance"])) for r in summary)


@pytest.mark.parametrize("override, message", [
    ("diagnostic.graphs=[coraa]", "kind resistance measures LRGB and node datasets"),
    ("diagnostic.graphs=[cora] diagnostic.batch_graphs=4", "diagnostic.batch_graphs=4: kind resistance reads it for LRGB"),
    ("diagnostic.max_hops=[0]", "diagnostic.max_hops must be a non-empty list of ints >= 1"),
    ("diagnostic.hidden=8", "diagnostic.hidden=8: kind resistance does not read it"),
])
def test_the_resistance_diagnostic_refuses_what_it_cannot_measure(tmp_path, compose_config, override, message):
    from dgl_ssm.studies.schema import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        run_diagnostic(compose_config("diagnostics", "diagnostic=lrgb_resistance", *override.split(),
                                      f"out={tmp_path / 'run'}"), log=lambda *_: None)
    assert not (tmp_path / "run").exists()
