"""Effective resistance against networkx (oracle), closed forms, Rayleigh's monotonicity law, batching and relabelling.

Graphs are drawn as edge lists over ``n`` nodes (multi-edges, self-loops, isolated nodes and several components as
often as not); both directions of an edge, a repeated edge and a self-loop must give the simple undirected graph's
resistances, as networkx's ``nx.Graph`` has them.
"""
import math

import dgl
import networkx as nx
import numpy as np
import pytest
import torch
from dgl import DGLError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dgl_ssm.analysis import hop_distances, resistance_distances, total_effective_resistance
from dgl_ssm.transforms import KHopRewire
from strategies import graphs

FAST = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def simple_nx(g):
    G = nx.Graph()
    G.add_nodes_from(range(g.num_nodes()))
    G.add_edges_from((u, v) for u, v in zip(*(t.tolist() for t in g.edges())) if u != v)
    return G


def nx_resistances(G, v):
    component = nx.node_connected_component(G, v)
    sub = G.subgraph(component)  # networkx wants a connected graph
    return [0.0 if u == v else nx.resistance_distance(sub, v, u) if u in component else math.inf for u in G.nodes]


@FAST
@given(graphs())
def test_resistance_distances_are_networkx_resistance_distance(g):
    G = simple_nx(g)
    targets = list(range(0, g.num_nodes(), 2))
    ours = resistance_distances(g, targets)
    assert ours.shape == (len(targets), g.num_nodes()) and ours.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), np.array([nx_resistances(G, v) for v in targets]), rtol=1e-9, atol=1e-9)


@FAST
@given(graphs())
def test_total_effective_resistance_is_networkx_effective_graph_resistance(g):
    G = simple_nx(g)
    expected = 0.0 if g.num_nodes() == 1 else nx.effective_graph_resistance(G)
    ours = float(total_effective_resistance(g))
    assert ours == expected if math.isinf(expected) else ours == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("n", [2, 5, 9])
def test_closed_forms_of_the_path_cycle_and_complete_graph(n):
    path = dgl.graph((list(range(n - 1)), list(range(1, n))))
    cycle = dgl.graph((list(range(n)), [(i + 1) % n for i in range(n)]))
    complete = dgl.graph(([u for u in range(n) for v in range(n) if u != v], [v for u in range(n) for v in range(n) if u != v]))
    assert resistance_distances(path, [0])[0].tolist() == pytest.approx([float(k) for k in range(n)])  # resistors in series
    if n > 2:
        # a ring: d ohm parallel to n - d ohm
        assert resistance_distances(cycle, [0])[0].tolist() == pytest.approx([d * (n - d) / n for d in range(n)])
    assert resistance_distances(complete, [0])[0, 1:].tolist() == pytest.approx([2 / n] * (n - 1))
    per = total_effective_resistance(dgl.batch([path, complete]), per_graph=True).tolist()
    assert per == pytest.approx([(n ** 3 - n) / 6, n - 1])  # Kirchhoff index of P_n and K_n


@FAST
@given(graphs(), st.sampled_from([2, 3, None]))
def test_rewiring_never_raises_a_resistance(g, max_hop):
    """Rayleigh's monotonicity law: k-hop rewiring adds edges (rings up to max_hop), so no resistance grows; pairs
    within reach of max_hop hops keep their component, so they stay finite."""
    targets = list(range(g.num_nodes()))
    before = resistance_distances(g, targets)
    after = resistance_distances(KHopRewire(max_hop)(g), targets)
    assert torch.all(after <= before + 1e-9)
    assert torch.equal(torch.isinf(after), torch.isinf(before))  # rewiring joins no two components
    assert float(total_effective_resistance(KHopRewire(max_hop)(g))) <= float(total_effective_resistance(g)) + 1e-9


def test_resistance_is_at_most_the_shortest_path_distance():
    """One path of d unit resistors already gives d ohm; a second path can only lower it."""
    g = dgl.to_bidirected(dgl.rand_graph(30, 60, idtype=torch.int64))
    hops, res = hop_distances(g, [0, 7]), resistance_distances(g, [0, 7])
    reachable = hops >= 0
    assert torch.all(res[reachable] <= hops[reachable].double() + 1e-9) and torch.all(torch.isinf(res[~reachable]))


@FAST
@given(st.lists(graphs(max_nodes=8, max_edges=16), min_size=1, max_size=4))
def test_batched_equals_single(parts):
    batch = dgl.batch(parts)
    per = total_effective_resistance(batch, per_graph=True)
    assert per.shape == (len(parts),)
    np.testing.assert_allclose(per.numpy(), [float(total_effective_resistance(p)) for p in parts], rtol=1e-12)
    offsets = np.cumsum([0] + [p.num_nodes() for p in parts])
    rows = resistance_distances(batch, offsets[:-1].tolist())
    for i, p in enumerate(parts):
        alone = resistance_distances(p, [0])[0]
        np.testing.assert_allclose(rows[i, offsets[i] : offsets[i + 1]].numpy(), alone.numpy(), rtol=1e-12)
        outside = torch.cat([rows[i, : offsets[i]], rows[i, offsets[i + 1] :]])
        assert torch.all(torch.isinf(outside))  # another graph of the batch: no path


@FAST
@given(graphs(), st.randoms(use_true_random=False))
def test_relabelling_nodes_permutes_the_resistances(g, rng):
    n = g.num_nodes()
    perm = list(range(n))
    rng.shuffle(perm)
    src, dst = g.edges()
    relabel = torch.tensor(perm)
    h = dgl.graph((relabel[src], relabel[dst]), num_nodes=n)
    ours, theirs = resistance_distances(g, list(range(n))), resistance_distances(h, perm)
    np.testing.assert_allclose(theirs[:, relabel].numpy(), ours.numpy(), rtol=1e-9, atol=1e-9)
    assert float(total_effective_resistance(h)) == pytest.approx(float(total_effective_resistance(g)), rel=1e-9)


def test_errors_name_the_problem_and_the_fix():
    g = dgl.graph(([0, 1], [1, 2]))
    with pytest.raises(ValueError, match=r"target node 3 is not a node of this graph \(0..2\)"):
        resistance_distances(g, [3])
    with pytest.raises(ValueError, match="more than max_nodes=2.*pass max_nodes=3"):
        resistance_distances(g, [0], max_nodes=2)
    with pytest.raises(ValueError, match="more than max_nodes=2"):
        total_effective_resistance(g, max_nodes=2)
    hetero = dgl.heterograph({("a", "r", "b"): ([0], [0])})
    with pytest.raises(DGLError, match="homogeneous.*dgl.to_homogeneous"):
        total_effective_resistance(hetero)
