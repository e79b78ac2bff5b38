"""LargestComponent against networkx's connected components (oracle), with node data and original ids kept."""
import dgl
import networkx as nx
import pytest
import torch
from dgl import DGLError
from hypothesis import given, settings
from hypothesis import strategies as st

from dgl_ssm.transforms import LargestComponent


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 30), p=st.floats(0.0, 0.3), seed=st.integers(0, 10_000), directed=st.booleans())
def test_keeps_networkx_largest_weak_component_in_node_order(n, p, seed, directed):
    nx_graph = nx.gnp_random_graph(n, p, seed=seed, directed=directed)
    g = dgl.from_networkx(nx_graph if directed else nx_graph.to_directed())
    g = dgl.add_nodes(g, n - g.num_nodes())
    g.ndata["x"] = torch.arange(n, dtype=torch.float32)
    components = list(nx.weakly_connected_components(nx_graph) if directed else nx.connected_components(nx_graph))
    size = max(len(c) for c in components)
    expected = sorted(min((c for c in components if len(c) == size), key=min))  # ties: the lowest node id
    lcc = LargestComponent()(g)
    assert lcc.ndata[dgl.NID].tolist() == expected and lcc.ndata["x"].tolist() == [float(v) for v in expected]
    sub = nx_graph.subgraph(expected)
    assert lcc.num_edges() == (sub.number_of_edges() if directed else 2 * sub.number_of_edges())


def test_refuses_a_batch_and_an_empty_graph_with_the_fix():
    g = dgl.graph(([0], [1]))
    with pytest.raises(DGLError, match="apply it to each graph before batching"):
        LargestComponent()(dgl.batch([g, g]))
    with pytest.raises(DGLError, match="no node"):
        LargestComponent()(dgl.graph(([], []), num_nodes=0))
