"""The spectral gap against networkx's normalised Laplacian spectrum (oracle), closed forms, batching, relabelling."""
import math

import dgl
import networkx as nx
import numpy as np
import pytest
import torch
from dgl import DGLError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dgl_ssm.analysis import spectral_gap
from strategies import graphs

FAST = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def nx_gap(g) -> float:
    G = nx.Graph()
    G.add_nodes_from(range(g.num_nodes()))
    G.add_edges_from((u, v) for u, v in zip(*(t.tolist() for t in g.edges())) if u != v)
    if g.num_nodes() < 2:
        return math.nan
    if not nx.is_connected(G):
        return 0.0
    return float(np.sort(nx.normalized_laplacian_spectrum(G))[1])


@FAST
@given(graphs())
def test_the_gap_is_networkx_normalized_laplacian_spectrum(g):
    ours, theirs = float(spectral_gap(g)), nx_gap(g)
    assert (math.isnan(ours) and math.isnan(theirs)) or ours == pytest.approx(theirs, abs=1e-9)


@pytest.mark.parametrize("n", [3, 6, 11])
def test_closed_forms_of_the_path_cycle_and_complete_graph(n):
    path = dgl.graph((list(range(n - 1)), list(range(1, n))))
    cycle = dgl.graph((list(range(n)), [(i + 1) % n for i in range(n)]))
    complete = dgl.graph(([u for u in range(n) for v in range(n) if u != v], [v for u in range(n) for v in range(n) if u != v]))
    gaps = spectral_gap(dgl.batch([path, cycle, complete]), per_graph=True).tolist()
    assert gaps == pytest.approx([1 - math.cos(math.pi / (n - 1)), 1 - math.cos(2 * math.pi / n), n / (n - 1)])


@FAST
@given(st.lists(graphs(max_nodes=8, max_edges=16), min_size=1, max_size=4))
def test_batched_equals_single_and_a_batch_as_one_graph_is_disconnected(parts):
    per = spectral_gap(dgl.batch(parts), per_graph=True)
    alone = torch.stack([spectral_gap(p) for p in parts])
    assert per.shape == (len(parts),) and torch.allclose(per, alone, equal_nan=True)
    if len(parts) > 1:
        assert float(spectral_gap(dgl.batch(parts))) == 0.0


@FAST
@given(graphs(), st.randoms(use_true_random=False))
def test_relabelling_nodes_keeps_the_gap(g, rng):
    perm = list(range(g.num_nodes()))
    rng.shuffle(perm)
    relabel = torch.tensor(perm)
    src, dst = g.edges()
    h = dgl.graph((relabel[src], relabel[dst]), num_nodes=g.num_nodes())
    a, b = float(spectral_gap(g)), float(spectral_gap(h))
    assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-9)


def test_errors_name_the_problem_and_the_fix():
    with pytest.raises(ValueError, match="more than max_nodes=2.*pass max_nodes=3"):
        spectral_gap(dgl.graph(([0, 1], [1, 2])), max_nodes=2)
    with pytest.raises(DGLError, match="homogeneous.*dgl.to_homogeneous"):
        spectral_gap(dgl.heterograph({("a", "r", "b"): ([0], [0])}))
