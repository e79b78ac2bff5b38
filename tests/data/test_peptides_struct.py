"""Peptides-struct, ready for its data (its CSV is not in the offline copies here): the missing-file line says
which file, with DGL's MD5, and where it goes; and the whole path (data, study, training, MAE) runs end to end on a
small CSV generated here with the struct file's columns. THE DATA OF THE END-TO-END TEST IS GENERATED, NOT LRGB'S."""
import gzip
import hashlib
import inspect
import pickle
import re

import numpy as np
import pandas as pd
import pytest

from dgl_ssm.data import MissingDataError, PeptidesDataset
from dgl_ssm.data.lrgb import CSV_MD5

TARGETS = ["Inertia_mass_a", "Inertia_mass_b", "Inertia_mass_c", "Inertia_valence_a", "Inertia_valence_b",
           "Inertia_valence_c", "length_a", "length_b", "length_c", "Spherocity", "Plane_best_fit"]
SMILES = ["CC(=O)NC(C)C(=O)O", "NCC(=O)NCC(=O)O", "CC(C)C(N)C(=O)O", "OC(=O)C1CCCN1", "NC(CO)C(=O)O",
          "NC(Cc1ccccc1)C(=O)O", "CSCCC(N)C(=O)O", "NC(CC(=O)O)C(=O)O", "NC(CCCCN)C(=O)O", "CC(O)C(N)C(=O)O"]


def test_the_csv_md5s_are_dgls():
    from dgl.data import PeptidesFunctionalDataset, PeptidesStructuralDataset

    for name, cls in (("peptides-func", PeptidesFunctionalDataset), ("peptides-struct", PeptidesStructuralDataset)):
        assert re.search(rf'self\.md5sum_data = "{CSV_MD5[name]}"', inspect.getsource(cls.__init__)), name


def test_the_missing_struct_csv_is_one_line_with_dgls_md5_and_where_it_goes(raw_data, tmp_path):
    source = raw_data("lrgb/Peptides-func/splits_random_stratified_peptide.pickle")
    with pytest.raises(MissingDataError) as err:
        PeptidesDataset("peptides-struct", "train", root=tmp_path)
    line = str(err.value)
    assert "\n" not in line and "peptide_structure_dataset.csv.gz is missing" in line
    assert "MD5 9786061a34298a0684150f2e4ff13f47" in line
    assert f"put it at {source / 'lrgb' / 'Peptides-struct' / 'peptide_structure_dataset.csv.gz'}" in line


@pytest.fixture
def generated_struct(tmp_path, monkeypatch):
    """An offline folder with a generated Peptides-struct CSV (30 small peptides, random targets) and a split of
    its own (20 / 5 / 5); the MD5 check and the recorded-file check accept these files (the test's seams)."""
    import dgl_ssm.data.lrgb as lrgb

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"smiles": [SMILES[i % len(SMILES)] for i in range(30)],
                          **{t: rng.normal(size=30) for t in TARGETS}})
    folder = tmp_path / "offline" / "lrgb"
    (folder / "Peptides-struct").mkdir(parents=True)
    (folder / "Peptides-func").mkdir(parents=True)
    csv = folder / "Peptides-struct" / "peptide_structure_dataset.csv.gz"
    with gzip.open(csv, "wt") as f:
        frame.to_csv(f, index=False)
    split = {"train": np.arange(20), "val": np.arange(20, 25), "test": np.arange(25, 30)}
    (folder / "Peptides-func" / "splits_random_stratified_peptide.pickle").write_bytes(pickle.dumps(split))
    monkeypatch.setitem(lrgb.CSV_MD5, "peptides-struct", hashlib.md5(csv.read_bytes()).hexdigest())
    monkeypatch.setattr(lrgb, "OFFLINE_FILES", {})  # the generated split is not the recorded one
    lrgb._load_dgl.cache_clear()
    yield tmp_path / "offline"
    lrgb._load_dgl.cache_clear()


def test_peptides_struct_end_to_end_on_generated_data(generated_struct, tmp_path, compose_config):
    """GENERATED DATA: the study path (kGCN-SSM, rewired, MAE over the 11 targets) runs and records a finite MAE."""
    from dgl_ssm.studies import run_study

    train = PeptidesDataset("peptides-struct", "train", root=tmp_path / "root", data_dir=generated_struct)
    g, y = train[0]
    assert len(train) == 20 and tuple(y.shape) == (11,) and train.task_info.metric == "mae"
    with gzip.open(generated_struct / "lrgb" / "Peptides-struct" / "peptide_structure_dataset.csv.gz", "rt") as f:
        frame = pd.read_csv(f)[TARGETS]
    standardised = ((frame - frame.mean()) / frame.std()).to_numpy()  # over the whole file, as DGL and LRGB
    assert np.allclose(y.numpy(), standardised[0], atol=1e-6) and g.ndata["feat"].shape[1] == 9
    cfg = compose_config("config", "study=peptides_quick", "study.datasets=[peptides-struct]", "study.limit=null",
                         "~study.models.gcn", "~study.models.gcn_ssm", "~study.models.drew_gcn", "study.settings=[2]",
                         "study.train.epochs=2", f"out={tmp_path / 'out'}", f"data_root={tmp_path / 'root'}",
                         f"data_dir={generated_struct}")
    rows, table = run_study(cfg, "t", log=lambda *_: None)
    assert len(rows) == 1 and rows[0]["status"] == "ok" and np.isfinite(rows[0]["test_mae"]) and rows[0]["test_mae"] > 0
    assert "test average precision" in table  # peptides_quick's label; the metric column is test_mae


def test_the_lrgb_table_has_a_peptides_struct_column_that_says_why_it_is_empty(compose_config, tmp_path):
    from dgl_ssm.studies.tables import write_tables

    study = compose_config("config", "study=lrgb_seed_60").study
    rows = [{"model": "gcn", "dataset": "peptides-func", "layers": 17, "seed": 0, "status": "ok", "test_ap": 0.5}]
    table = write_tables(study, rows, tmp_path).split("\n\n")[1]
    header, _, *body = table.splitlines()
    assert header.rstrip().endswith("| peptides-struct (test MAE) |") and len(body) == len(study.models)
    assert all(line.rstrip().endswith("| data not available offline |") for line in body)


def test_our_lrgb_metrics_are_lrgbs():
    """Test AP and MAE against LRGB's evaluation as its code computes them (GraphGPS graphgps/metrics_ogb.py eval_ap:
    per task with both classes, sklearn's average_precision_score, the mean over those tasks; the regression
    logger's MAE: sklearn's mean_absolute_error over all targets), written out here as the oracle."""
    import torch
    from sklearn.metrics import average_precision_score, mean_absolute_error

    from dgl_ssm.train.metrics import MAE, AveragePrecision

    rng = np.random.default_rng(3)
    true = (rng.random((200, 10)) < 0.2).astype(np.float32)
    true[:, 4] = 0.0  # a task with no positive: LRGB skips it
    pred = rng.normal(size=(200, 10)).astype(np.float32)
    lrgb = np.mean([average_precision_score(true[:, i], pred[:, i]) for i in range(10)
                    if (true[:, i] == 1).sum() > 0 and (true[:, i] == 0).sum() > 0])
    ap = AveragePrecision()
    for rows in np.array_split(np.arange(200), 3):  # batches: the metric gathers before scoring
        ap.update(torch.from_numpy(pred[rows]), torch.from_numpy(true[rows]))
    assert abs(ap.compute() - lrgb) < 1e-12
    y, p = rng.normal(size=(50, 11)).astype(np.float32), rng.normal(size=(50, 11)).astype(np.float32)
    mae = MAE()
    mae.update(torch.from_numpy(p), torch.from_numpy(y))
    assert abs(mae.compute() - mean_absolute_error(y, p)) < 1e-6


def test_limit_makes_the_first_graphs_of_each_split_as_dgls_processing_does(generated_struct, tmp_path):
    """``limit=`` makes the first graphs of a split straight from the CSV (seconds, for quick runs and recipes): the
    same graphs, features and standardised targets as DGL's processing of the whole file, in the same order."""
    import torch

    for split in ("train", "val", "test"):
        quick = PeptidesDataset("peptides-struct", split, root=tmp_path / "root", data_dir=generated_struct, limit=3)
        full = PeptidesDataset("peptides-struct", split, root=tmp_path / "root", data_dir=generated_struct).head(3)
        assert len(quick) == len(full) == 3
        for (g1, y1), (g2, y2) in zip(quick, full):
            assert torch.allclose(y1, y2) and torch.equal(torch.stack(g1.edges()), torch.stack(g2.edges()))
            assert torch.equal(g1.ndata["feat"], g2.ndata["feat"]) and torch.equal(g1.edata["feat"], g2.edata["feat"])
    with pytest.raises(ValueError, match="limit must be an int >= 1"):
        PeptidesDataset("peptides-struct", "train", root=tmp_path / "root", data_dir=generated_struct, limit=0)
