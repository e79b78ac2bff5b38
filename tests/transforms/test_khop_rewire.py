"""KHopRewire: shortest-path rings vs networkx, batching, data, caching, bad input."""
import dgl
import networkx as nx
import numpy as np
import pytest
import torch

from dgl_ssm.transforms import KHopRewire, cached_rewire, khop_pairs, rewire_dataset


def nx_rings(g: dgl.DGLGraph, max_hop, directed=False):
    """{(u, v): d(u, v)} for 1 <= d <= max_hop, by networkx (the oracle)."""
    src, dst = (t.tolist() for t in g.edges())
    G = nx.DiGraph() if directed else nx.Graph()
    G.add_nodes_from(range(g.num_nodes()))
    G.add_edges_from((a, b) for a, b in zip(src, dst) if a != b)
    return {
        (u, v): d
        for u, lengths in nx.all_pairs_shortest_path_length(G, cutoff=max_hop)
        for v, d in lengths.items()
        if d >= 1
    }


def rings(g: dgl.DGLGraph):
    u, v = (t.tolist() for t in g.edges())
    out = dict(zip(zip(u, v), g.edata["hop"].tolist()))
    assert len(out) == g.num_edges(), "duplicate edges in the rewired graph"
    return out


def messy_graph(n, m, seed, directed_input=True):
    """Random directed multigraph with self-loops and (often) several components."""
    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
    src = np.concatenate([src, src[:5], [0, n - 1]])  # repeated edges and self-loops
    dst = np.concatenate([dst, dst[:5], [0, n - 1]])
    g = dgl.graph((torch.from_numpy(src), torch.from_numpy(dst)), num_nodes=n)
    return g if directed_input else dgl.to_bidirected(dgl.remove_self_loop(g))


@pytest.mark.parametrize("max_hop", [1, 2, 3, 8, None])
@pytest.mark.parametrize("n,m,seed", [(30, 25, 0), (40, 80, 1), (12, 6, 2), (70, 90, 3)])
def test_rings_match_networkx(n, m, seed, max_hop):
    g = messy_graph(n, m, seed)
    assert rings(KHopRewire(max_hop)(g)) == nx_rings(g, max_hop)


@pytest.mark.parametrize("max_hop", [1, 3, None])
def test_directed_option_follows_edge_direction(max_hop):
    g = messy_graph(30, 40, 5)
    out = KHopRewire(max_hop, directed=True)(g)
    assert rings(out) == nx_rings(g, max_hop, directed=True)
    assert rings(KHopRewire(max_hop)(g)) != rings(out)  # the default treats the input as undirected


def test_path_graph_rings_and_connected_component():
    g = dgl.graph(([0, 1, 2, 3], [1, 2, 3, 4]))  # 0-1-2-3-4
    out = KHopRewire(max_hop=None)(g)
    r = rings(out)
    assert r[(0, 4)] == r[(4, 0)] == 4 and r[(1, 3)] == 2 and (2, 2) not in r
    assert out.num_edges() == 5 * 4
    assert out.edata["hop"].dtype == torch.int64


@pytest.mark.parametrize("directed", [False, True])
@pytest.mark.parametrize("max_hop", [5, None])
def test_graphs_of_several_source_blocks_match_networkx(max_hop, directed):
    """More than 256 nodes: several blocks of sources, two passes, pairs still sorted by v then u."""
    g = messy_graph(600, 700, 7)
    src, dst = (t.numpy() for t in g.edges())
    u, v, hop = khop_pairs(src, dst, [600], max_hop, directed=directed)
    assert np.all(np.diff(v * 600 + u) > 0)
    assert dict(zip(zip(u.tolist(), v.tolist()), hop.tolist())) == nx_rings(g, max_hop, directed)


def test_batched_graphs_keep_batch_info_and_never_cross():
    graphs = [messy_graph(n, m, s) for n, m, s in [(10, 12, 0), (1, 0, 1), (25, 30, 2), (7, 3, 3)]]
    graphs.append(dgl.graph(([], []), num_nodes=4))  # edgeless
    bg = dgl.batch(graphs)
    out = KHopRewire(3)(bg)
    assert torch.equal(out.batch_num_nodes(), bg.batch_num_nodes())
    parts = dgl.unbatch(out)
    for g, part in zip(graphs, parts):
        assert rings(part) == nx_rings(g, 3)
    assert out.batch_num_edges().tolist() == [p.num_edges() for p in parts]
    gid = np.repeat(np.arange(len(graphs)), bg.batch_num_nodes().numpy())
    u, v = out.edges()
    assert np.all(gid[u.numpy()] == gid[v.numpy()])


@pytest.mark.parametrize("directed", [False, True])
def test_batch_of_mixed_sizes_matches_networkx_graph_by_graph(directed):
    """Graphs of every size class (empty, 1 node, one and several words, several blocks) in one batch."""
    sizes = [23, 5, 17, 1, 40, 17, 9, 0, 31, 2, 66, 12, 300, 3]
    graphs = [messy_graph(n, int(1.3 * n), s) if n > 1 else dgl.graph(([], []), num_nodes=n)
              for s, n in enumerate(sizes)]
    bg = dgl.batch(graphs)
    src, dst = (t.numpy() for t in bg.edges())
    u, v, hop = khop_pairs(src, dst, sizes, 4, directed=directed)
    assert np.all(np.diff(v * bg.num_nodes() + u) > 0)  # sorted by v then u, no repeats
    out = KHopRewire(4, directed=directed)(bg)
    assert out.batch_num_edges().tolist() == [len(nx_rings(g, 4, directed)) for g in graphs]
    for g, part in zip(graphs, dgl.unbatch(out)):
        assert rings(part) == nx_rings(g, 4, directed)


def test_node_data_preserved_and_hop1_edge_data():
    g = dgl.graph(([0, 1, 1, 2, 3], [1, 2, 2, 3, 3]))  # 1->2 twice, 3->3 self-loop
    g.ndata["x"] = torch.randn(4, 3)
    g.edata["w"] = torch.tensor([10.0, 20.0, 21.0, 30.0, 99.0])
    g.edata["t"] = torch.arange(10, dtype=torch.int32).view(5, 2)
    out = KHopRewire(2)(g)
    assert out.ndata["x"] is g.ndata["x"] or torch.equal(out.ndata["x"], g.ndata["x"])

    def w(a, b):
        return out.edata["w"][out.edge_ids(a, b)].item()

    assert w(0, 1) == 10.0 and w(2, 3) == 30.0
    assert w(1, 2) == 20.0  # the first of the multi-edge
    assert w(2, 1) == 20.0 and w(1, 0) == 10.0  # reverse of a directed input edge (undirected view)
    assert w(0, 2) == 0.0 and w(1, 3) == 0.0  # hop 2: zeros
    assert out.edata["t"].dtype == torch.int32 and out.edata["t"].shape == (out.num_edges(), 2)
    assert out.edata["t"][out.edge_ids(1, 2)].tolist() == [2, 3]


def test_rewire_dataset_matches_transform_and_keeps_order():
    graphs = [messy_graph(n, n, s) for s, n in enumerate([30, 5, 18, 2, 40, 11])]
    for g in graphs:
        g.ndata["x"] = torch.randn(g.num_nodes(), 2)
        g.edata["w"] = torch.randn(g.num_edges())
    outs = rewire_dataset(graphs, 2, chunk_size=4)
    assert len(outs) == len(graphs)
    for g, out in zip(graphs, outs):
        ref = KHopRewire(2)(g)
        assert out.num_nodes() == g.num_nodes() and rings(out) == rings(ref)
        assert torch.equal(out.ndata["x"], g.ndata["x"])
        ids = ref.edge_ids(*out.edges())
        assert torch.equal(out.edata["w"], ref.edata["w"][ids])


def test_cached_rewire_saves_then_loads(tmp_path):
    graphs = [messy_graph(12, 15, 0), messy_graph(9, 9, 1)]
    path = tmp_path / "sub" / "khop3.bin"
    first = cached_rewire(graphs, 3, path)
    assert path.is_file() and not list(path.parent.glob(".*tmp*"))
    stamp = path.stat().st_mtime_ns
    again = cached_rewire(graphs, 3, path)
    assert path.stat().st_mtime_ns == stamp  # loaded, not recomputed
    for a, b in zip(first, again):
        assert rings(a) == rings(b)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_bad_max_hop(bad):
    with pytest.raises(ValueError, match="max_hop"):
        KHopRewire(bad)


def test_bad_batch_and_heterograph():
    with pytest.raises(ValueError, match="different graphs"):
        khop_pairs(np.array([0]), np.array([3]), [2, 2], 2)
    hg = dgl.heterograph({("a", "r", "b"): ([0], [0])})
    with pytest.raises(dgl.DGLError, match="homogeneous"):
        KHopRewire(2)(hg)


def test_a_rewired_graph_is_not_rewired_again():
    """Rewiring twice measures distances over the rings (on a path 0-1-2-3-4 at max_hop 3, node 0 to 4 would be 2 ring
    edges, ring 2, where it is 4 bonds): refused, one graph, a list and a batch alike; a hop field of 1s is not."""
    once = KHopRewire(3)(dgl.graph(([0, 1, 2, 3], [1, 2, 3, 4])))
    for again in (lambda: KHopRewire(3)(once), lambda: KHopRewire(3)([once]), lambda: KHopRewire(3)(dgl.batch([once, once]))):
        with pytest.raises(dgl.DGLError, match="rewired already"):
            again()
    plain = dgl.graph(([0, 1], [1, 2]))
    plain.edata["hop"] = torch.ones(2, dtype=torch.int64)
    assert KHopRewire(2)(plain).num_edges() == 6


def test_mixed_graph_sizes_are_grouped_by_bit_width_in_batch_order():
    """Graphs of 1, 2 and 3 words (<= 64, <= 128, <= 192 nodes), interleaved in one batch."""
    graphs = [messy_graph(n, int(1.2 * n), s) for s, n in enumerate([70, 10, 150, 64, 65, 3, 129])]
    out = KHopRewire(4)(dgl.batch(graphs))
    parts = dgl.unbatch(out)
    for g, part in zip(graphs, parts):
        assert rings(part) == nx_rings(g, 4)


def test_idtype_is_kept():
    g = messy_graph(20, 25, 4).int()
    assert KHopRewire(2)(g).idtype == torch.int32
    out = rewire_dataset([g, g], 2)[1]
    assert out.idtype == torch.int32 and rings(out) == nx_rings(g, 2)
    out.ndata["y"] = torch.zeros(20)  # a normal, writable graph
    assert dgl.add_self_loop(out).num_edges() == out.num_edges() + 20


@pytest.mark.parametrize("max_hop,field", [(2, 2), (None, -1)])
def test_the_rewiring_radius_is_on_every_node_by_every_path(tmp_path, max_hop, field):
    graphs = [messy_graph(n, n, s) for s, n in enumerate([30, 5, 18])]
    outs = [KHopRewire(max_hop)(graphs[0]), KHopRewire(max_hop)(dgl.batch(graphs)),
            *rewire_dataset(graphs, max_hop, chunk_size=2), *cached_rewire(graphs, max_hop, tmp_path / "c.bin"),
            *cached_rewire(graphs, max_hop, tmp_path / "c.bin")]  # the last three loaded from the cache
    for out in outs:
        assert out.ndata["max_hop"].dtype == torch.int32
        assert out.ndata["max_hop"].tolist() == [field] * out.num_nodes()
    assert all("max_hop" not in g.ndata for g in graphs)  # the inputs are not changed
    kept = dgl.node_subgraph(dgl.add_self_loop(dgl.batch(outs[2:5])), [0, 31, 40])  # kept by DGL's own transforms
    assert kept.ndata["max_hop"].tolist() == [field] * 3


def test_a_cache_of_the_format_before_the_radius_field_is_rebuilt(tmp_path):
    from dgl_ssm.graphcache import graphs_fingerprint, save_cache

    graphs = [messy_graph(12, 15, 0), messy_graph(9, 9, 1)]
    path = tmp_path / "khop3.bin"
    old = [dgl.graph(g.edges(), num_nodes=g.num_nodes()) for g in rewire_dataset(graphs, 3)]  # no ndata['max_hop']
    save_cache(path, old, f"khop-3-undirected:{graphs_fingerprint(graphs)}")  # that format's content key
    with pytest.warns(RuntimeWarning, match="content key differs.*rebuilding it"):
        healed = cached_rewire(graphs, 3, path)
    assert all(g.ndata["max_hop"].tolist() == [3] * g.num_nodes() for g in healed)
    assert KHopRewire(3).cache_key == "khop-max_hop3-r2"  # a dataset's pre-transform cache gets a new file
