"""Property-based tests (hypothesis): k-hop rewiring against networkx, batched vs single, SSMConv identities.

Graphs are drawn as edge lists over ``n`` nodes, so they have multi-edges,
self-loops, isolated nodes and several components as often as not. Example
counts are small (the suite must stay fast); ``derandomize=True`` keeps CI
deterministic.
"""
import dgl
import networkx as nx
import pytest
import torch
from dgl.nn import GATConv, GINConv, GraphConv, SAGEConv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dgl_ssm.models import build_model
from dgl_ssm.nn import KHopConv, SSMConv
from dgl_ssm.transforms import KHopRewire
from strategies import graphs

FAST = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def nx_distances(g, max_hop, directed):
    G = nx.DiGraph() if directed else nx.Graph()
    G.add_nodes_from(range(g.num_nodes()))
    G.add_edges_from(zip(*(t.tolist() for t in g.edges())))
    return {(u, v): d for u, row in nx.all_pairs_shortest_path_length(G, cutoff=max_hop) for v, d in row.items() if d >= 1}


@FAST
@given(graphs(), st.sampled_from([1, 2, 3, None]), st.booleans())
def test_khop_rewire_is_networkx_shortest_paths(g, max_hop, directed):
    out = KHopRewire(max_hop, directed=directed)(g)
    ours = {(u, v): h for u, v, h in zip(*(t.tolist() for t in out.edges()), out.edata["hop"].tolist())}
    assert len(ours) == out.num_edges()  # every pair once
    assert ours == nx_distances(g, max_hop, directed)


@FAST
@given(st.lists(graphs(max_nodes=10, max_edges=25), min_size=1, max_size=4), st.sampled_from([2, None]), st.booleans())
def test_khop_rewire_batched_equals_single(parts, max_hop, directed):
    transform = KHopRewire(max_hop, directed=directed)
    batched = dgl.unbatch(transform(dgl.batch(parts)))
    for one, alone in zip(batched, (transform(g) for g in parts)):
        assert [t.tolist() for t in one.edges()] == [t.tolist() for t in alone.edges()]
        assert one.edata["hop"].tolist() == alone.edata["hop"].tolist()


def _conv(name, d):
    return {
        "gcn": lambda: GraphConv(d, d, allow_zero_in_degree=True),
        "sage": lambda: SAGEConv(d, d, "mean"),
        "gin": lambda: GINConv(torch.nn.Linear(d, d), "sum"),
        "gat": lambda: GATConv(d, d, num_heads=2, allow_zero_in_degree=True),
    }[name]()


@FAST
@given(st.lists(graphs(max_nodes=8, max_edges=16), min_size=1, max_size=3), st.sampled_from(["gcn", "sage", "gin", "gat"]),
       st.sampled_from([0.0, 0.5, 1.0]))
def test_every_layer_batched_equals_single(parts, conv, lam):
    torch.manual_seed(0)
    d = 3
    layer = SSMConv(_conv(conv, d), d, state_transition=lam, input_matrix=0.5)
    parts = [dgl.add_self_loop(dgl.remove_self_loop(g)) for g in parts]
    feats = [torch.randn(g.num_nodes(), d) for g in parts]
    batched = layer(dgl.batch(parts), torch.cat(feats))
    torch.testing.assert_close(batched, torch.cat([layer(g, x) for g, x in zip(parts, feats)]), rtol=1e-5, atol=1e-5)


@FAST
@given(st.lists(graphs(max_nodes=8, max_edges=16), min_size=1, max_size=3), st.integers(0, 3),
       st.sampled_from(["cumulative", "single"]))
def test_khop_conv_and_kgcn_ssm_batched_equal_single(parts, layer_index, rings):
    torch.manual_seed(0)
    transform = KHopRewire(3)
    rewired = [transform(g) for g in parts]
    feats = [torch.randn(g.num_nodes(), 4) for g in parts]
    conv = KHopConv(4, 4, max_hop=3, rings=rings, layer=layer_index)
    batched = conv(transform(dgl.batch(parts)), torch.cat(feats))
    torch.testing.assert_close(batched, torch.cat([conv(g, x) for g, x in zip(rewired, feats)]), rtol=1e-5, atol=1e-5)
    model = build_model("kgcn-ssm", 4, 4, 2, 3, readout="mean", conv_options={"max_hop": 3}).eval()
    whole = model(transform(dgl.batch(parts)), torch.cat(feats))
    torch.testing.assert_close(whole, torch.cat([model(g, x) for g, x in zip(rewired, feats)]), rtol=1e-5, atol=1e-5)


@FAST
@given(graphs(max_nodes=10, max_edges=25), st.floats(-1.5, 1.5), st.sampled_from(["gcn", "sage", "gin"]))
def test_ssm_identities(g, lam, conv):
    """Λ = 0, B = I gives the conv itself; B = 0 gives H Λᵀ (Arroyo et al. 2025, Eq. 9)."""
    torch.manual_seed(0)
    g = dgl.add_self_loop(dgl.remove_self_loop(g))
    d = 3
    inner = _conv(conv, d)
    x = torch.randn(g.num_nodes(), d)
    torch.testing.assert_close(SSMConv(inner, d, state_transition=0.0, input_matrix="identity")(g, x), inner(g, x))
    lam_matrix = torch.randn(d, d) * lam
    with pytest.warns(RuntimeWarning) if float(torch.linalg.eigvals(lam_matrix).abs().max()) > 1 + 1e-6 else _nothing():
        layer = SSMConv(inner, d, state_transition=lam_matrix, input_matrix=0.0)
    torch.testing.assert_close(layer(g, x), x @ lam_matrix.T)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
