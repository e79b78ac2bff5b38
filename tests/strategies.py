"""Hypothesis strategies shared by the property-based tests (imported as ``from strategies import graphs``: pytest puts
this folder on ``sys.path`` for its ``conftest.py``)."""
import dgl
import torch
from hypothesis import strategies as st


@st.composite
def graphs(draw, max_nodes=14, max_edges=40):
    """A ``dgl.graph`` drawn as an edge list over ``n`` nodes: multi-edges, self-loops, isolated nodes and several
    components as often as not."""
    n = draw(st.integers(1, max_nodes))
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=max_edges))
    src = torch.tensor([a for a, _ in pairs], dtype=torch.int64)
    dst = torch.tensor([b for _, b in pairs], dtype=torch.int64)
    return dgl.graph((src, dst), num_nodes=n)
