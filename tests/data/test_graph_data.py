"""Graph-level datasets: graph property prediction, RingTransfer, Peptides, pre-transform cache."""
import collections
import gzip
import shutil

import dgl
import networkx as nx
import numpy as np
import pytest
import torch

from dgl_ssm.data import (
    GraphPropertyDataset,
    MissingDataError,
    PeptidesDataset,
    PreTransform,
    RingTransferDataset,
    collate,
)
from dgl_ssm.data import graph_property as gp

SMALL = (40, 10, 10)


def test_generator_mixture_sizes_and_no_isolated_nodes():
    rng = np.random.default_rng(0)
    counts = collections.Counter()
    for _ in range(1000):
        adj, family = gp.generate_graph(rng)
        counts[family] += 1
        n = adj.shape[0]
        assert 25 <= n <= 35
        assert (adj == adj.T).all() and not adj.diagonal().any()
        assert adj.any(1).all(), f"isolated node in a {family} graph"
    for family, p in gp.FAMILIES.items():  # 1000 draws: binomial sd <= 13
        assert abs(counts[family] - 1000 * p) < 45, (family, counts[family])


def test_targets_match_networkx():
    rng = np.random.default_rng(1)
    for _ in range(20):
        adj, _ = gp.generate_graph(rng)
        g = nx.from_numpy_array(adj.astype(int))
        src = int(rng.integers(adj.shape[0]))
        sssp, ecc, diam = gp.graph_targets(adj, src)
        lengths = nx.single_source_shortest_path_length(g, src)
        assert sssp.tolist() == [float(lengths.get(v, 0)) for v in range(adj.shape[0])]
        comps = [g.subgraph(c) for c in nx.connected_components(g)]
        expected_ecc = {v: e for c in comps for v, e in nx.eccentricity(c).items()}
        assert ecc.tolist() == [float(expected_ecc[v]) for v in range(adj.shape[0])]
        assert diam == max(nx.diameter(c) for c in comps)


def test_graph_property_items_cache_and_normalisation(tmp_path):
    sssp = GraphPropertyDataset("sssp", "train", seed=3, root=tmp_path, sizes=SMALL)
    diam = GraphPropertyDataset("diameter", "test", seed=3, root=tmp_path, sizes=SMALL)
    cached = list((tmp_path / "graph_property").rglob("*.bin"))
    assert len(cached) == 1, "the three tasks must share one generated cache"
    assert (len(sssp), len(diam)) == (40, 10)
    g, y = sssp[0]
    assert g.ndata["feat"].shape == (g.num_nodes(), 2) and y.shape == (g.num_nodes(), 1)
    assert list(g.ndata.keys()) == ["feat"], "targets must not leak into the node data"
    assert g.ndata["feat"][:, 0].sum() == 1 and y[g.ndata["feat"][:, 0].argmax()] == 0  # source has distance 0
    assert max(float(sssp[i][1].max()) for i in range(len(sssp))) == 1.0  # divided by the training max
    assert diam[0][1].shape == (1,) and diam.level == "graph" and sssp.level == "node"
    ecc_val = GraphPropertyDataset("eccentricity", "val", seed=3, root=tmp_path, sizes=SMALL)
    ecc_train = GraphPropertyDataset("eccentricity", "train", seed=3, root=tmp_path, sizes=SMALL)
    assert ecc_val.scale == ecc_train.scale
    again = GraphPropertyDataset("sssp", "train", seed=3, root=tmp_path / "other", sizes=SMALL)
    assert torch.equal(again[5][0].ndata["feat"], sssp[5][0].ndata["feat"]), "not deterministic in the seed"
    other_seed = GraphPropertyDataset("sssp", "train", seed=4, root=tmp_path, sizes=SMALL)
    assert not torch.equal(other_seed[0][0].ndata["feat"], sssp[0][0].ndata["feat"])


def test_raw_targets_are_hops_from_networkx(tmp_path):
    """``target_scale="raw"``: labels are shortest-path hop counts (networkx oracle), the same cache as scaled ones."""
    raw = GraphPropertyDataset("diameter", "val", seed=3, root=tmp_path, sizes=SMALL, target_scale="raw")
    scaled = GraphPropertyDataset("diameter", "val", seed=3, root=tmp_path, sizes=SMALL)
    assert raw.scale == 1.0 and scaled.scale > 1.0
    assert len(list((tmp_path / "graph_property").rglob("*.bin"))) == 1
    def ecc(g):  # the generator may rewire a graph into pieces: distances are over reachable nodes
        nxg = dgl.to_networkx(g).to_undirected()
        return [max(nx.single_source_shortest_path_length(nxg, v).values()) for v in range(g.num_nodes())]

    for i in range(3):
        g, y = raw[i]
        assert float(y) == max(ecc(g))
        assert torch.allclose(scaled[i][1] * scaled.scale, y)
    g, y = GraphPropertyDataset("eccentricity", "train", seed=3, root=tmp_path, sizes=SMALL, target_scale="raw")[0]
    assert y.squeeze(1).tolist() == [float(e) for e in ecc(g)]
    with pytest.raises(ValueError, match="target_scale must be one of train_max, raw, got 'log'"):
        GraphPropertyDataset("sssp", "train", root=tmp_path, sizes=SMALL, target_scale="log")


def test_graph_property_failure_leaves_no_partial_cache(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = gp.graph_targets

    def failing(adj, source):
        calls["n"] += 1
        if calls["n"] > 30:
            raise KeyboardInterrupt  # interrupted half way
        return real(adj, source)

    monkeypatch.setattr(gp, "graph_targets", failing)
    with pytest.raises(KeyboardInterrupt):
        GraphPropertyDataset("sssp", "train", root=tmp_path, sizes=SMALL)
    # the folder's lock file stays (empty; deleting an flock's file would let two processes hold it), no cache does
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["graph_property.lock"]


def test_unknown_task_and_split(tmp_path):
    with pytest.raises(ValueError, match="known: diameter, sssp, eccentricity"):
        GraphPropertyDataset("girth", "train", root=tmp_path)
    with pytest.raises(ValueError, match="unknown split"):
        RingTransferDataset(6, num_graphs=20, split="training", root=tmp_path)


def test_ring_transfer(tmp_path):
    n, c = 10, 5
    splits = {s: RingTransferDataset(n, num_graphs=100, num_classes=c, seed=1, split=s, root=tmp_path) for s in ("train", "val", "test")}
    assert [len(d) for d in splits.values()] == [80, 10, 10]
    idx = splits["train"].get_idx_split()
    assert len(set(torch.cat(list(idx.values())).tolist())) == 100
    full = RingTransferDataset(n, num_graphs=100, num_classes=c, seed=1, root=tmp_path)
    assert torch.bincount(full.labels, minlength=c).tolist() == [20] * c
    g, y = splits["val"][3]
    feat = g.ndata["feat"]
    assert feat[0].sum() == 0 and feat[n // 2].argmax() == y and feat[n // 2].sum() == 1
    assert feat[1:n // 2].eq(1).all() and g.ndata["target_mask"].nonzero().flatten().tolist() == [0]
    assert g.in_degrees().eq(2).all() and y.dim() == 0


def test_pre_transform_hook_is_cached(tmp_path):
    calls = []

    def self_loops(graphs):
        calls.append(len(graphs))
        return [dgl.add_self_loop(g) for g in graphs]

    hook = PreTransform(self_loops, "self_loop", per_graph=False)
    plain = RingTransferDataset(6, num_graphs=20, num_classes=2, root=tmp_path)
    looped = RingTransferDataset(6, num_graphs=20, num_classes=2, root=tmp_path, pre_transform=hook)
    again = RingTransferDataset(6, num_graphs=20, num_classes=2, root=tmp_path, pre_transform=hook, split="test")
    assert calls == [20], "the pre-transform must run once and then come from the cache"
    assert looped[0][0].num_edges() == plain[0][0].num_edges() + 6
    assert again[0][0].num_edges() == 18 and "target_mask" in again[0][0].ndata
    with pytest.raises(TypeError, match="cache_key"):
        RingTransferDataset(6, num_graphs=20, root=tmp_path, pre_transform=dgl.add_self_loop)
    with pytest.raises(ValueError, match="cache_key"):
        PreTransform(dgl.add_self_loop, "../escape")


def test_collate_node_level_labels_follow_batched_node_order(tmp_path):
    ds = GraphPropertyDataset("sssp", "val", root=tmp_path, sizes=SMALL)
    bg, y = ds.collate([ds[0], ds[1]])
    assert y.shape == (bg.num_nodes(), 1)
    assert torch.equal(y[: ds[0][0].num_nodes()], ds[0][1])
    _, yg = collate([(dgl.graph(([0], [1])), torch.zeros(10))] * 3)
    assert yg.shape == (3, 10)


def test_peptides_struct_missing_csv_names_the_file(raw_data, tmp_path):
    raw_data("lrgb/Peptides-func/splits_random_stratified_peptide.pickle")
    with pytest.raises(MissingDataError, match="peptide_structure_dataset.csv.gz"):
        PeptidesDataset("peptides-struct", "train", root=tmp_path)


def test_peptides_truncated_csv_is_one_clear_error_and_no_cache(raw_data, tmp_path):
    source = raw_data("lrgb/Peptides-func/peptide_multi_class_dataset.csv.gz", "lrgb/Peptides-func/splits_random_stratified_peptide.pickle")
    cut = tmp_path / "raw" / "lrgb" / "Peptides-func"
    cut.mkdir(parents=True)
    shutil.copy(source / "lrgb/Peptides-func/splits_random_stratified_peptide.pickle", cut)
    data = (source / "lrgb/Peptides-func/peptide_multi_class_dataset.csv.gz").read_bytes()
    (cut / "peptide_multi_class_dataset.csv.gz").write_bytes(data[: len(data) // 3])
    with pytest.raises(MissingDataError) as err:
        PeptidesDataset("peptides-func", "train", root=tmp_path / "root", data_dir=tmp_path / "raw")
    message = str(err.value)
    assert "peptide_multi_class_dataset.csv.gz" in message and "truncated" in message and "good copy" in message
    assert "\n" not in message
    assert not list((tmp_path / "root").rglob("*.bin"))
    with pytest.raises(EOFError):  # the cut file really is broken
        gzip.decompress((cut / "peptide_multi_class_dataset.csv.gz").read_bytes())


def test_unknown_peptides_name(tmp_path):
    with pytest.raises(ValueError, match="known: peptides-func, peptides-struct"):
        PeptidesDataset("peptides-foo", root=tmp_path)


def _same_batch(a, b):
    (ga, ya), (gb, yb) = a, b
    assert all(torch.equal(x, y) for x, y in zip(ga.edges(order="eid"), gb.edges(order="eid")))
    assert torch.equal(ga.batch_num_nodes(), gb.batch_num_nodes()) and torch.equal(ga.batch_num_edges(), gb.batch_num_edges())
    assert ga.idtype == gb.idtype and set(ga.ndata) == set(gb.ndata) and set(ga.edata) == set(gb.edata)
    assert all(torch.equal(ga.ndata[k], gb.ndata[k]) and ga.ndata[k].dtype == gb.ndata[k].dtype for k in ga.ndata)
    assert all(torch.equal(ga.edata[k], gb.edata[k]) for k in ga.edata)
    assert torch.equal(ya, yb) and ya.dtype == yb.dtype


@pytest.mark.parametrize("kind", ["sssp_khop", "diameter", "ring"])
def test_collate_positions_is_dgl_batch_of_the_items(tmp_path, kind):
    """The packed gather builds the batch dgl.batch builds (same edge order, fields, labels, batch sizes)."""
    from dgl_ssm.transforms import KHopRewire

    ds = {"sssp_khop": lambda: GraphPropertyDataset("sssp", "train", root=tmp_path, sizes=SMALL, pre_transform=KHopRewire(2)),
          "diameter": lambda: GraphPropertyDataset("diameter", "val", root=tmp_path, sizes=SMALL),
          "ring": lambda: RingTransferDataset(6, num_graphs=30, num_classes=3, split="test", root=tmp_path)}[kind]()
    rng = np.random.default_rng(0)
    for positions in ([0], [len(ds) - 1, 0, 2], rng.permutation(len(ds)).tolist()):
        _same_batch(ds.collate([ds[i] for i in positions]), ds.collate_positions(positions))
    ds.head(3)  # positions are into the (shortened) split
    _same_batch(ds.collate([ds[i] for i in (2, 1)]), ds.collate_positions([2, 1]))


def test_collate_positions_reads_only_the_graphs_of_its_split(tmp_path):
    """A limited run (head) transforms only the graphs it keeps: the packed batch must not read the others (it
    took the fields of the whole list's first graph, so a k-hop model on a limited Peptides split saw no 'hop')."""
    from dgl_ssm.transforms import KHopRewire

    ds = GraphPropertyDataset("sssp", "val", root=tmp_path, sizes=SMALL).head(3)
    kept = ds.indices.tolist()
    assert 0 not in kept  # the val split starts after the train graphs: graph 0 stays un-rewired
    for i, graph in zip(kept, KHopRewire(2)([ds.graphs[i] for i in kept])):
        ds.graphs[i] = graph
    batch, _ = ds.collate_positions([2, 0])
    assert "hop" in batch.edata
    _same_batch(ds.collate([ds[i] for i in (2, 0)]), (batch, _))


def test_collate_positions_out_of_range_is_one_clear_error(tmp_path):
    ds = GraphPropertyDataset("diameter", "val", root=tmp_path, sizes=SMALL)
    for bad in ([0, len(ds)], [-1]):
        with pytest.raises(IndexError, match=rf"positions must be in 0..{len(ds) - 1} \(this val split has {len(ds)} items\)"):
            ds.collate_positions(bad)
