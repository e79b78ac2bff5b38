"""Node datasets: offline staging into DGL's raw_path, splits, grid graph, clear errors."""
import shutil

import networkx as nx
import pytest
import torch

from dgl_ssm.data import MissingDataError, grid_graph, load_node_graph
from dgl_ssm.data.paths import raw_source


def test_cora_from_offline_copy(raw_data, tmp_path):
    source = raw_data("planetoid/ind.cora.x", "planetoid/ind.cora.graph")
    g = load_node_graph("cora", root=tmp_path, data_dir=source)
    assert g.num_nodes() == 2708
    assert g.num_edges() == 10556 + 2708  # DGL's Cora edges plus one self-loop per node
    assert [int(g.ndata[f"{s}_mask"].sum()) for s in ("train", "val", "test")] == [140, 500, 1000]
    assert g.ndata["feat"].shape == (2708, 1433) and int(g.ndata["label"].max()) == 6
    # files were staged as links into DGL's hashed raw_path, never copied or written into the source
    links = list(tmp_path.glob("planetoid/*/cora_v2_*/ind.cora_v2.x"))  # planetoid/<content key>/cora_v2_<hash>/
    assert len(links) == 1 and links[0].is_symlink()


def test_texas_geom_gcn_splits(raw_data, tmp_path):
    source = raw_data("geom_gcn/new_data/texas/out1_graph_edges.txt")
    g0 = load_node_graph("texas", split=0, root=tmp_path, data_dir=source)
    g3 = load_node_graph("texas", split=3, root=tmp_path, data_dir=source)
    assert g0.num_nodes() == 183 and g0.ndata["feat"].shape[1] == 1703
    assert [int(g0.ndata[f"{s}_mask"].sum()) for s in ("train", "val", "test")] == [87, 59, 37]
    assert not torch.equal(g0.ndata["train_mask"], g3.ndata["train_mask"])
    masks = torch.stack([g0.ndata[f"{s}_mask"] for s in ("train", "val", "test")])
    assert int(masks.sum(0).max()) == 1  # disjoint


def test_normalized_features_are_the_raw_ones_divided_by_their_row_sum(raw_data, tmp_path):
    """normalize_features against a dense float64 formula on the raw Texas features (0/1 counts), and no side effect
    on a later plain load (the transform divides in place)."""
    source = raw_data("geom_gcn/new_data/texas/out1_graph_edges.txt")
    raw = load_node_graph("texas", root=tmp_path, data_dir=source).ndata["feat"].double()
    normed = load_node_graph("texas", root=tmp_path, data_dir=source, normalize_features=True).ndata["feat"]
    sums = raw.sum(1, keepdim=True)
    expected = torch.where(sums > 0, raw / sums.clamp(min=1), raw)
    assert torch.allclose(normed.double(), expected, atol=1e-7)
    assert torch.allclose(normed.sum(1)[sums.squeeze(1) > 0].double(), torch.ones(int((sums > 0).sum()), dtype=torch.float64))
    assert torch.equal(load_node_graph("texas", root=tmp_path, data_dir=source).ndata["feat"].double(), raw)


@pytest.mark.parametrize("name, counts", [("chameleon-filtered", (890, 8854, 2325)), ("squirrel-filtered", (2223, 46998, 2089))])
def test_filtered_wikipedia_graphs_match_the_published_files(raw_data, tmp_path, name, counts):
    """Platonov et al. (2023): duplicates removed; their npz (edges, 10 split masks) is the oracle, read with numpy."""
    import numpy as np

    stem = name.replace("-", "_")
    source = raw_data(f"heterophilous_graphs/{stem}.npz")
    ref = np.load(source / "heterophilous_graphs" / f"{stem}.npz")
    g = load_node_graph(name, split=7, root=tmp_path, data_dir=source, self_loop=False)
    nodes, undirected, feats = counts
    assert (g.num_nodes(), g.num_edges(), g.ndata["feat"].shape[1]) == (nodes, 2 * undirected, feats)
    u, v = g.edges()
    ours = {(min(a, b), max(a, b)) for a, b in zip(u.tolist(), v.tolist())}
    assert ours == {(min(a, b), max(a, b)) for a, b in ref["edges"].tolist()}
    for key in ("train", "val", "test"):
        assert torch.equal(g.ndata[f"{key}_mask"], torch.from_numpy(ref[f"{key}_masks"][7]).bool())
    assert torch.equal(g.ndata["label"], torch.from_numpy(ref["node_labels"]))


def test_missing_offline_file_names_it(raw_data, tmp_path):
    source = raw_data("planetoid/ind.cora.x")
    partial = tmp_path / "partial"
    shutil.copytree(source / "planetoid", partial / "planetoid")
    (partial / "planetoid" / "ind.cora.tx").unlink()
    with pytest.raises(MissingDataError, match=r"ind\.cora\.tx is missing"):
        load_node_graph("cora", root=tmp_path / "root", data_dir=partial)


def test_nonexistent_data_dir_is_an_error(tmp_path):
    with pytest.raises(MissingDataError, match="does not exist"):
        raw_source(tmp_path / "nowhere")


def test_bad_names_and_splits():
    with pytest.raises(ValueError, match="unknown node dataset 'pubmedx'"):
        load_node_graph("pubmedx")
    with pytest.raises(ValueError, match="10 published splits"):
        load_node_graph("texas", split=10)
    # a dataset with one split would ignore another, before any data is read
    for name in ("cora", "citeseer", "grid"):
        with pytest.raises(ValueError, match=rf"{name} has one published split \(split=0\), got split=3"):
            load_node_graph(name, split=3)


def test_grid_graph_matches_networkx():
    g = grid_graph(4, 5, feat_dim=3, seed=1)
    ref = nx.grid_2d_graph(4, 5)
    ours = {(int(u), int(v)) for u, v in zip(*g.edges())}
    theirs = {(i * 5 + j, k * 5 + l) for (i, j), (k, l) in ref.edges()}
    assert ours == theirs | {(v, u) for u, v in theirs}
    assert torch.equal(g.ndata["feat"], grid_graph(4, 5, feat_dim=3, seed=1).ndata["feat"])
    assert abs(float(grid_graph(30, 30, feat_dim=8).ndata["feat"].std()) - 1) < 0.05
