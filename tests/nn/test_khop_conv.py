"""KHopConv: GCN equality at max_hop=1, ring schedules, equivariance; the kGCN presets in DeepGNN."""
import dgl
import pytest
import torch
from dgl.nn import GraphConv

from dgl_ssm.models import build_model
from dgl_ssm.nn import KHopConv, SSMConv
from dgl_ssm.nn.khop import ring_schedule
from dgl_ssm.transforms import KHopRewire

D = 6


def random_graph(n=25, m=40, seed=0):
    torch.manual_seed(seed)
    return dgl.to_bidirected(dgl.remove_self_loop(dgl.rand_graph(n, m)))  # has isolated nodes, several components


def dense_ring(g, k):
    """Dense 0/1 adjacency of ring k (float64), from the rewired graph."""
    n = g.num_nodes()
    a = torch.zeros(n, n, dtype=torch.float64)
    u, v = g.edges()
    mask = g.edata["hop"] == k
    a[u[mask], v[mask]] = 1.0
    return a


def reference(g, x, conv):
    """sum_k D_k^-1/2 A_k D_k^-1/2 X W_k + b, with A_1 + I, in dense float64."""
    out = conv.bias.double().expand(g.num_nodes(), -1).clone()
    for i, k in enumerate(conv.rings):
        a = dense_ring(g, k) + (torch.eye(g.num_nodes(), dtype=torch.float64) if k == 1 else 0)
        norm = a.sum(1).clamp(min=1).pow(-0.5)
        out += (norm[:, None] * a.T * norm[None, :]) @ x.double() @ conv.weight[i].double()
    return out


def test_max_hop_1_equals_graphconv_with_self_loops():
    g = random_graph()
    x = torch.randn(g.num_nodes(), D)
    gcn = GraphConv(D, 4, norm="both", bias=True)
    torch.nn.init.normal_(gcn.bias)
    conv = KHopConv(D, 4, max_hop=1, layer=5)
    assert conv.rings == [1]
    with torch.no_grad():
        conv.weight[0].copy_(gcn.weight)
        conv.bias.copy_(gcn.bias)
    rewired = KHopRewire(max_hop=1)(g)
    torch.testing.assert_close(conv(rewired, x), gcn(dgl.add_self_loop(g), x))
    # rewired with more hops: max_hop=1 still only reads ring 1; input self-loops are ignored
    more = dgl.add_self_loop(KHopRewire(max_hop=4)(g))
    torch.testing.assert_close(conv(more, x), gcn(dgl.add_self_loop(g), x))


@pytest.mark.parametrize("rings,layer,expected", [("cumulative", 0, [1]), ("cumulative", 2, [1, 2, 3]),
                                                   ("cumulative", 7, [1, 2, 3]), ("single", 0, [1]),
                                                   ("single", 1, [2]), ("single", 9, [3])])
def test_ring_schedule_and_formula(rings, layer, expected):
    g = KHopRewire(max_hop=None)(random_graph(seed=1))
    conv = KHopConv(D, 5, max_hop=3, rings=rings, layer=layer)
    torch.nn.init.normal_(conv.bias)
    assert conv.rings == expected and conv.weight.shape == (len(expected), D, 5)
    x = torch.randn(g.num_nodes(), D)
    torch.testing.assert_close(conv(g, x).double(), reference(g, x, conv), rtol=1e-5, atol=1e-5)


def test_single_ring_ignores_other_rings_and_has_no_self_term():
    g = KHopRewire(max_hop=3)(dgl.graph(([0, 1, 2], [1, 2, 3])))  # path 0-1-2-3
    conv = KHopConv(1, 1, max_hop=3, rings="single", layer=1, bias=False)  # ring 2 only
    with torch.no_grad():
        conv.weight.fill_(1.0)
    x = torch.tensor([[1.0], [10.0], [100.0], [1000.0]])
    # ring 2 pairs: (0,2), (1,3); every node has ring-2 degree 1
    torch.testing.assert_close(conv(g, x), torch.tensor([[100.0], [1000.0], [1.0], [10.0]]))


def test_per_ring_inputs():
    g = KHopRewire(max_hop=2)(random_graph(seed=2))
    conv = KHopConv(D, D, max_hop=2, layer=1)
    x1, x2 = torch.randn(g.num_nodes(), D), torch.randn(g.num_nodes(), D)
    same = conv(g, x1)
    torch.testing.assert_close(conv(g, [x1, x1]), same)
    split = conv(g, [x1, x2])
    ring1 = KHopConv(D, D, max_hop=1, bias=False)
    ring2 = KHopConv(D, D, max_hop=2, rings="single", layer=1, bias=False)
    with torch.no_grad():
        ring1.weight[0].copy_(conv.weight[0])
        ring2.weight[0].copy_(conv.weight[1])
    torch.testing.assert_close(split, ring1(g, x1) + ring2(g, x2) + conv.bias)
    with pytest.raises(ValueError, match="per-ring"):
        conv(g, [x1])


@pytest.mark.parametrize("self_loops", ["first", "every"])
def test_ring_terms_sum_to_the_layer_and_every_ring_gets_its_self_loop(self_loops):
    """ring_terms: each ring's term apart (one input or one per ring); they sum to forward's before its bias. With
    self_loops="every" the single ring 2 is GCN on the ring-2 graph with self-loops (PyG's GCNConv per ring)."""
    g = KHopRewire(max_hop=3)(random_graph(seed=3))
    conv = KHopConv(D, D, max_hop=3, layer=2, self_loops=self_loops)
    x = [torch.randn(g.num_nodes(), D) for _ in conv.rings]
    for feat in (x[0], x):
        terms = conv.ring_terms(g, feat)
        assert len(terms) == 3 and all(t.shape == (g.num_nodes(), D) for t in terms)
        torch.testing.assert_close(sum(terms) + conv.bias, conv(g, feat))
    ring2 = dgl.add_self_loop(dgl.edge_subgraph(g, g.edata["hop"] == 2, relabel_nodes=False))
    gc = GraphConv(D, D, norm="both", bias=False)
    with torch.no_grad():
        gc.weight.copy_(conv.weight[1])
    if self_loops == "every":
        torch.testing.assert_close(conv.ring_terms(g, x)[1], gc(ring2, x[1]))
    else:
        assert not torch.allclose(conv.ring_terms(g, x)[1], gc(ring2, x[1]))
    with pytest.raises(ValueError, match="self_loops must be one of"):
        KHopConv(D, D, self_loops="all")


def test_permutation_equivariance():
    g = random_graph(n=30, m=50, seed=3)
    x = torch.randn(30, D)
    perm = torch.randperm(30)
    conv = KHopConv(D, D, max_hop=3, layer=2)
    out = conv(KHopRewire(3)(g), x)
    u, v = g.edges()
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(30)
    gp = dgl.graph((inv[u], inv[v]), num_nodes=30)  # node perm[i] of g is node i of gp
    torch.testing.assert_close(conv(KHopRewire(3)(gp), x[perm]), out[perm])


def test_missing_hop_and_bad_options():
    conv = KHopConv(D, D, max_hop=2)
    with pytest.raises(dgl.DGLError, match="KHopRewire"):
        conv(random_graph(), torch.randn(25, D))
    with pytest.raises(ValueError, match="rings"):
        KHopConv(D, D, max_hop=2, rings="both")
    with pytest.raises(ValueError, match="layer"):
        KHopConv(D, D, max_hop=2, layer=-1)
    with pytest.raises(ValueError, match="max_hop"):
        ring_schedule(0, max_hop=0)


@pytest.mark.parametrize("name,block", [("kgcn-ssm", SSMConv), ("kgcn", None), ("res-kgcn", None)])
def test_kgcn_presets_on_batched_rewired_graph(name, block):
    graphs = [random_graph(n, 2 * n, seed=n) for n in (8, 12, 5)]
    bg = KHopRewire(max_hop=3)(dgl.batch(graphs))
    model = build_model(name, 4, 8, 2, num_layers=5, readout="mean", conv_options={"max_hop": 3})
    assert [layer.conv.rings for layer in model.layers] == [[1], [1, 2], [1, 2, 3], [1, 2, 3], [1, 2, 3]]
    if block is not None:
        assert all(isinstance(layer, block) for layer in model.layers)
    out = model(bg, torch.randn(bg.num_nodes(), 4))
    assert out.shape == (3, 2)
    out.sum().backward()
    assert all(p.grad is not None for p in model.layers[2].parameters())


# ----------------------------------------------------------------------------- the sparse ring aggregation
from dgl_ssm.nn._csr import _ring_csr_torch, csr_from_coo, ring_csr  # noqa: E402
from dgl_ssm.nn.khop import ring_graph  # noqa: E402


def _messy_graph(seed):
    """A rewired graph plus input self-loops and a duplicated edge, ring labels 1..4."""
    g = KHopRewire(max_hop=4)(random_graph(n=20, m=35, seed=seed))
    g = dgl.add_self_loop(g)  # hop of the new edges: 0 (filled by DGL) -> must be ignored
    return g


@pytest.mark.parametrize("rings", [(1,), (1, 2, 3), (2,), (3,), (2, 4), (1, 3)])
@pytest.mark.parametrize("directed", [False, True])
@pytest.mark.parametrize("self_loops", ["first", "every"])
def test_ring_csr_kernel_matches_torch_formula(rings, directed, self_loops):
    g = _messy_graph(seed=4)
    if directed:
        keep = torch.rand(g.num_edges()) < 0.7
        g = dgl.edge_subgraph(g, keep, relabel_nodes=False)
    src, dst = g.edges()
    hop = g.edata["hop"]
    n, r = g.num_nodes(), len(rings)
    adj, adj_t = ring_csr(src, dst, hop, rings, n, torch.float64, self_loops=self_loops)
    slot_of = torch.full((max(rings) + 1,), -1, dtype=torch.long)
    slot_of[torch.tensor(rings)] = torch.arange(r)
    loops = r if self_loops == "every" else int(rings[0] == 1)
    ref, ref_t = _ring_csr_torch(src.long(), dst.long(), hop.long(), slot_of, n, r, loops, torch.float64)
    torch.testing.assert_close(adj.to_dense(), ref.to_dense())
    torch.testing.assert_close(adj_t.to_dense(), adj.to_dense().T)
    torch.testing.assert_close(ref_t.to_dense(), ref.to_dense().T)
    # the dense formula: column u * r + i of row v is A_k[u, v] / sqrt(d_out d_in) within ring k (+ I for ring 1, or
    # for every ring with self_loops="every": PyG's GCNConv on each ring's edges)
    dense = torch.zeros(n, n * r, dtype=torch.float64)
    for i, k in enumerate(rings):
        a = torch.zeros(n, n, dtype=torch.float64)
        m = (hop == k) & (src != dst)
        a[src[m].long(), dst[m].long()] = 1.0  # multi-edges count once in KHopRewire output; none here
        if k == 1 or self_loops == "every":
            a += torch.eye(n, dtype=torch.float64)
        dout, din = a.sum(1).clamp(min=1), a.sum(0).clamp(min=1)
        dense[:, i::r] = (a / dout.sqrt()[:, None] / din.sqrt()[None, :]).T
    torch.testing.assert_close(adj.to_dense(), dense)


def test_csr_from_coo_keeps_row_order_and_values():
    rows, cols = torch.tensor([2, 0, 2, 1, 0]), torch.tensor([1, 3, 0, 2, 0])
    vals = torch.arange(5, dtype=torch.float64) + 1
    a = csr_from_coo(rows, cols, vals, (3, 4))
    assert a.crow_indices().tolist() == [0, 2, 3, 5]
    assert a.col_indices().tolist() == [3, 0, 2, 1, 0] and a.values().tolist() == [2.0, 5.0, 4.0, 1.0, 3.0]


def test_ring_graph_is_cached_per_graph_and_rebuilt_after_changes():
    g = KHopRewire(max_hop=3)(random_graph(seed=5))
    first = ring_graph(g, [1, 2, 3])
    assert ring_graph(g, [1, 2, 3]) is first  # layers of one forward share it
    assert ring_graph(g, [1, 2]) is not first
    conv = KHopConv(D, D, max_hop=3, layer=2)
    x = torch.randn(g.num_nodes(), D)
    before = conv(g, x)
    g.edata["hop"][g.edata["hop"] == 3] = 2  # in place: ring 3 edges move to ring 2
    rebuilt = ring_graph(g, [1, 2, 3])
    assert rebuilt is not first and rebuilt.adj._nnz() == first.adj._nnz()
    assert not torch.allclose(conv(g, x), before)
    torch.testing.assert_close(conv(g, x).double(), reference(g, x, conv), rtol=1e-5, atol=1e-5)
    g.add_edges([0], [1], data={"hop": torch.tensor([1])})  # structural change: a new graph index
    assert ring_graph(g, [1, 2, 3]) is not rebuilt


def test_khop_conv_gradients_and_second_derivatives():
    g = KHopRewire(max_hop=3)(random_graph(n=9, m=12, seed=6))
    conv = KHopConv(3, 2, max_hop=3, layer=2).double()
    x = torch.randn(g.num_nodes(), 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h: conv(g, h), (x,))
    assert torch.autograd.gradgradcheck(lambda h: torch.tanh(conv(g, h)), (x,))
    weight = conv.weight.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda w: torch.func.functional_call(conv, {"weight": w, "bias": conv.bias}, (g, x.detach())), (weight,))
    # per-ring inputs (DRew): the bmm path
    drew = KHopConv(3, 3, max_hop=2, layer=1).double()
    y = torch.randn(g.num_nodes(), 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: drew(g, [a, b]), (x, y))


# ----------------------------------------------------------------------------- rings the rewiring does not have
from dgl_ssm.nn.khop import rewired_max_hop  # noqa: E402


def test_a_conv_refuses_rings_the_rewiring_does_not_have():
    g, x = random_graph(seed=3), torch.randn(25, D)
    two = KHopRewire(max_hop=2)(g)
    for layer in (0, 1):  # rings {1} and {1, 2}: both in the graph
        KHopConv(D, D, max_hop=3, layer=layer)(two, x)
    missing = r"KHopConv \(layer 2, max_hop=3\) reads ring 3, but the graph was rewired with max_hop=2.*KHopRewire\(max_hop=3\)"
    with pytest.raises(dgl.DGLError, match=missing):
        KHopConv(D, D, max_hop=3, layer=2)(two, x)
    with pytest.raises(dgl.DGLError, match="reads ring 3"):
        KHopConv(D, D, max_hop=3, layer=2, rings="single").ring_terms(two, x)
    with pytest.raises(dgl.DGLError, match=r"max_hop=None\) reads ring 5.*KHopRewire\(max_hop=5 or None\)"):
        KHopConv(D, D, max_hop=None, layer=4)(two, x)  # no cap: ring 5 is not in the graph either
    # every distance: ring 31 lies past every component's diameter and is empty, legitimately
    KHopConv(D, D, max_hop=None, layer=30)(KHopRewire(max_hop=None)(g), x)
    KHopConv(D, D, max_hop=5, layer=4)(KHopRewire(max_hop=5)(g), x)
    # a batch is held to its smallest radius; graphs rewired at every distance do not lower it
    with pytest.raises(dgl.DGLError, match="rewired with max_hop=2"):
        KHopConv(D, D, max_hop=3, layer=2)(dgl.batch([KHopRewire(3)(g), two]), torch.randn(50, D))
    KHopConv(D, D, max_hop=3, layer=2)(dgl.batch([KHopRewire(3)(g), KHopRewire(None)(g)]), torch.randn(50, D))
    # a graph rewired by hand (no field) is not checked; a field changed in place is read again
    by_hand = dgl.graph(two.edges(), num_nodes=25)
    by_hand.edata["hop"] = two.edata["hop"]
    KHopConv(D, D, max_hop=3, layer=2)(by_hand, x)
    two.ndata["max_hop"][:] = 3
    assert rewired_max_hop(two) == 3
    KHopConv(D, D, max_hop=3, layer=2)(two, x)
    # nodes added after the rewiring (DGL fills their field with 0) do not count
    two.add_nodes(2)
    assert rewired_max_hop(two) == 3


@pytest.mark.parametrize("name,options", [("kgcn-ssm", {"conv_options": {"max_hop": 3}}), ("drew-gcn-delay", {"max_hop": 3})])
def test_a_model_built_for_more_rings_than_the_graph_has_fails_at_its_first_forward(name, options):
    bg = KHopRewire(max_hop=2)(dgl.batch([random_graph(n, 2 * n, seed=n) for n in (8, 12)]))
    model = build_model(name, 4, 8, 2, num_layers=4, readout="mean", **options)
    with pytest.raises(dgl.DGLError, match="reads ring 3, but the graph was rewired with max_hop=2"):
        model(bg, torch.randn(bg.num_nodes(), 4))
