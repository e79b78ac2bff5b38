"""recipes/: every recipe's --quick runs from a folder outside the repository; the recipes train exactly what the
study engine trains (same initial state, same first epoch); the numbers of recipes/README.md are the record's."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
TEXAS = ("geom_gcn/new_data/texas/out1_graph_edges.txt", "geom_gcn/new_data/texas/out1_node_feature_label.txt")
CORA = ("planetoid/ind.cora.x", "planetoid/ind.cora.graph")
PEPTIDES = ("lrgb/Peptides-func/peptide_multi_class_dataset.csv.gz",
            "lrgb/Peptides-func/splits_random_stratified_peptide.pickle")


def recipe(name: str):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name,data,written", [
    ("node_depth", CORA, "accuracy_vs_depth.png"),
    ("graph_property", (), "log10_mse.png"),
    ("ring_transfer", (), "accuracy_vs_ring_size.png"),
    ("lrgb_peptides", PEPTIDES, "validation_curve.png"),
    ("diagnostics", TEXAS, "diagnostics.png"),
    ("own_conv", CORA, "accuracy.png"),
])
def test_every_recipe_runs_quick_from_a_folder_outside_the_repository(name, data, written, tmp_path, monkeypatch,
                                                                      raw_data):
    raw_data(*data)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DGL_SSM_ROOT", str(tmp_path / "data"))
    frame = recipe(name).main(["--quick", "--out", "out"])
    assert len(frame) and (tmp_path / "out" / "results.csv").is_file() or (tmp_path / "out" / "diagnostics.csv").is_file()
    assert (tmp_path / "out" / written).stat().st_size > 1000
    if name == "diagnostics":  # σ_min's own column says where it is only an upper bound (ConvergenceWarning)
        jac = frame.dropna(subset=["sigma_min"])
        assert len(jac) and jac["sigma_min_converged"].isin([True, False]).all()


def test_quick_shortens_the_run_and_honours_the_values_given_beside_it(tmp_path, monkeypatch):
    """--quick sets the defaults of a smoke run; a flag given beside it is honoured, not replaced."""
    node = recipe("node_depth")
    cells = node.setup(node.parse_args(["--quick", "--layers", "3", "--seeds", "2"]))[2]
    assert sorted((layers, seed) for layers, seed, _ in cells) == [(3, 0), (3, 1)]
    cells = node.setup(node.parse_args(["--quick"]))[2]
    assert sorted((layers, seed) for layers, seed, _ in cells) == [(2, 0), (4, 0)]
    assert {layers for layers, *_ in node.setup(node.parse_args([]))[2]} == {2, 8, 32}
    graph = recipe("graph_property")
    protocol, cells = graph.setup(graph.parse_args(["--quick", "--layers", "5", "--sizes", "20", "10", "10"]))
    assert protocol.epochs == 2 and {c[2] for c in cells} == {5} and {c[4]["data"].sizes for c in cells} == {(20, 10, 10)}
    monkeypatch.chdir(tmp_path)
    frame = recipe("ring_transfer").main(["--quick", "--sizes", "4", "--graphs", "20", "--lambdas", "1.0", "--out", "o"])
    assert frame["ring_size"].tolist() == [4]


def test_peptides_struct_without_its_csv_is_one_line(tmp_path, raw_data):
    source = raw_data(PEPTIDES[1])
    if (source / "lrgb/Peptides-struct/peptide_structure_dataset.csv.gz").is_file():
        pytest.skip("the Peptides-struct CSV is here: the recipe runs (test_every_recipe_runs_quick...)")
    run = subprocess.run([sys.executable, str(RECIPES / "lrgb_peptides.py"), "--dataset", "peptides-struct", "--quick",
                          "--out", "out"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "DGL_SSM_ROOT": str(tmp_path / "data")})
    assert run.returncode == 1 and not (tmp_path / "out").exists()
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "peptide_structure_dataset.csv.gz is missing" in lines[0] and "MD5 9786061a" in lines[0]


def _first_epoch(cell):
    state = {k: v.clone() for k, v in cell.model.state_dict().items()}
    torch.manual_seed(0)
    return state, cell.task.train_epoch(cell.model, cell.trainer.optimizer)


@pytest.mark.parametrize("name,argv,study,cell", [
    ("node_depth", ["--model", "kipf-gcn", "--dataset", "cora", "--quick"], ["study=depth_cora"],
     {"model": "gcn", "dataset": "cora", "depth": 2, "seed": 0}),
    ("graph_property", ["--task", "diameter", "--model", "kgcn-ssm", "--quick"],
     ["study=graphprop", "study.sizes=[64,16,16]", "study.settings=[3]", "study.train.epochs=2"],
     {"model": "kgcn_ssm", "dataset": "diameter", "layers": 3, "seed": 0}),
])
def test_a_recipe_trains_what_the_study_engine_trains(name, argv, study, cell, raw_data, compose_config, tmp_path,
                                                     monkeypatch):
    """The same cell from the recipe and from the engine: equal initial state_dict and first-epoch loss."""
    from dgl_ssm.studies.cells import cell_arguments
    from dgl_ssm.train import prepare_cell

    if name == "node_depth":
        raw_data(*CORA)
    monkeypatch.setenv("DGL_SSM_ROOT", str(tmp_path / "data"))
    module = recipe(name)
    setup = module.setup(module.parse_args(argv))
    protocol, cells = setup[-2], setup[-1]
    mine = cells[0]
    args = (mine[0], mine[1]) if name == "graph_property" else (module.parse_args(argv).dataset, "kipf-gcn")
    layers, seed, kwargs = (mine[2], mine[3], mine[4]) if name == "graph_property" else mine
    ours = _first_epoch(prepare_cell(*args, layers, seed, protocol, **kwargs))
    engine_args, engine_options = cell_arguments(compose_config("config", *study).study, cell)
    theirs = _first_epoch(prepare_cell(*engine_args, **engine_options))
    assert ours[0].keys() == theirs[0].keys() and all(torch.equal(ours[0][k], theirs[0][k]) for k in ours[0])
    assert ours[1] == theirs[1]


def _mean(study, **match):
    frame = pd.read_csv(ROOT / "results" / study / "results.csv")
    for key, value in match.items():
        if key != "metric":
            frame = frame[frame[key] == value]
    return frame[match["metric"]].mean(), len(frame)


def test_the_numbers_of_the_recipes_readme_are_the_records_and_the_configurations():
    """Each "ours" number recomputed from its record, each published one found in the study configuration that
    holds it (with its source): a number in prose is checked, never typed in."""
    text = (RECIPES / "README.md").read_text()
    ours = [  # (shown, record, row match, metric, scale, digits)
        ("82.0 (10 seeds", "depth_cora", {"model": "gcn", "depth": 2}, "test_accuracy", 100, 1),
        ("-3.340 log10 MSE (2 seeds", "graphprop_full", {"model": "kgcn_ssm_sssp"}, "test_log10_mse", 1, 3),
        ("61.2% (3 seeds", "ring_lambda", {"model": "kgcn_ssm_l100", "ring_size": 30}, "test_accuracy", 100, 1),
        ("0.4590 test AP (1 seed", "lrgb_seed_60", {"model": "gcn_lrgb"}, "test_ap", 1, 4),
    ]
    for shown, study, match, metric, scale, digits in ours:
        value, count = _mean(study, metric=metric, **match)
        expected = f"{value * scale:.{digits}f}"
        assert shown in text and shown.startswith(expected) and f"({count} seed" in shown, (shown, expected, count)
    configs = {"depth_cora": "81.5", "graphprop_full": "-3.6044 ± 0.0291", "lrgb_seed": "0.5930 ± 0.0023"}
    for study, number in configs.items():
        assert number in text and number in (ROOT / "dgl_ssm" / "conf" / "study" / f"{study}.yaml").read_text(), study
