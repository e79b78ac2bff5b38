"""The part of a node signal outside Â's dominant eigenspace, against a dense float64 eigendecomposition (oracle)."""
import dgl
import networkx as nx
import numpy as np
import pytest
import torch
from dgl import DGLError
from hypothesis import given, settings
from hypothesis import strategies as st

from dgl_ssm.analysis import dominant_eigenvectors, orthogonal_part, orthogonal_ratio


def graph_of(nx_graph) -> dgl.DGLGraph:
    g = dgl.from_networkx(nx.Graph(nx_graph).to_directed())
    return dgl.add_self_loop(dgl.remove_self_loop(g))


def dense_orthogonal_part(g: dgl.DGLGraph, h: np.ndarray) -> np.ndarray:
    """(I - Π) H with Π the projector on the eigenvalue-1 eigenvectors of D^-1/2 A D^-1/2 (numpy eigh)."""
    a = g.adj_external(scipy_fmt="csr").toarray().astype(np.float64)
    d = a.sum(1)
    a_hat = a / np.sqrt(d)[:, None] / np.sqrt(d)[None, :]
    values, vectors = np.linalg.eigh(a_hat)
    top = vectors[:, np.abs(values - 1.0) < 1e-9]
    return h - top @ (top.T @ h)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 14), p=st.floats(0.05, 0.6), seed=st.integers(0, 10_000), width=st.integers(1, 4))
def test_matches_the_dense_eigendecomposition_on_random_graphs(n, p, seed, width):
    g = graph_of(nx.gnp_random_graph(n, p, seed=seed))  # often several components, isolated nodes included
    h = np.random.default_rng(seed).normal(size=(n, width))
    ours = orthogonal_part(g, torch.from_numpy(h)).numpy()
    np.testing.assert_allclose(ours, dense_orthogonal_part(g, h), atol=1e-10)
    assert orthogonal_ratio(g, torch.from_numpy(h)) == pytest.approx(
        np.linalg.norm(dense_orthogonal_part(g, h)) / np.linalg.norm(h), abs=1e-10)


def test_repeated_propagation_drives_the_ratio_to_zero_and_is_not_the_distance_from_the_mean():
    """Â^k H keeps only the D^1/2 1 component: the ratio falls to 0, while on an irregular graph the distance from the
    mean row (mean_deviation) stays away from 0 relative to the norm."""
    from dgl_ssm.analysis import mean_deviation

    g = graph_of(nx.barabasi_albert_graph(40, 2, seed=1))  # connected, irregular
    a = torch.from_numpy(g.adj_external(scipy_fmt="csr").toarray()).double()
    d = a.sum(1)
    a_hat = a / d.sqrt()[:, None] / d.sqrt()[None, :]
    h = torch.randn(40, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for _ in range(400):
        h = a_hat @ h
    assert orthogonal_ratio(g, h) < 1e-6
    assert float(mean_deviation(g, h)) / float(h.norm()) > 0.1


def test_a_batch_is_its_graphs_and_the_basis_is_orthonormal():
    g1, g2 = graph_of(nx.path_graph(4)), graph_of(nx.cycle_graph(5))
    batch = dgl.batch([g1, g2])
    labels, u = dominant_eigenvectors(batch)
    assert labels.tolist() == [0] * 4 + [1] * 5
    assert float((u[:4] ** 2).sum()) == pytest.approx(1.0) and float((u[4:] ** 2).sum()) == pytest.approx(1.0)
    h = torch.randn(9, 2, dtype=torch.float64)
    torch.testing.assert_close(orthogonal_part(batch, h), torch.cat([orthogonal_part(g1, h[:4]), orthogonal_part(g2, h[4:])]))


def test_equivariant_under_node_permutation():
    g = graph_of(nx.gnp_random_graph(12, 0.3, seed=3))
    h = torch.randn(12, 3, dtype=torch.float64)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(0))
    inverse = torch.argsort(perm)
    src, dst = g.edges()
    permuted = dgl.graph((inverse[src], inverse[dst]), num_nodes=12)
    torch.testing.assert_close(orthogonal_part(permuted, h[perm]), orthogonal_part(g, h)[perm])


def test_documented_errors():
    g = dgl.graph(([0, 1], [1, 0]))
    with pytest.raises(DGLError, match="no self-loop.*dgl.add_self_loop"):
        orthogonal_ratio(g, torch.randn(2, 1))
    with pytest.raises(DGLError, match="one row per node"):
        orthogonal_part(dgl.add_self_loop(g), torch.randn(3, 1))
    assert np.isnan(orthogonal_ratio(dgl.add_self_loop(g), torch.zeros(2, 1)))


def dense_p(g: dgl.DGLGraph) -> np.ndarray:
    """P = I - L/(d_max + 1) of the graph without its self-loops, dense float64 (the oracle)."""
    a = dgl.remove_self_loop(g).adj_external(scipy_fmt="csr").toarray().astype(np.float64)
    d = a.sum(1)
    return np.eye(len(d)) - (np.diag(d) - a) / (d.max() + 1.0)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 12), p=st.floats(0.05, 0.6), seed=st.integers(0, 10_000))
def test_the_doubly_stochastic_conv_is_its_dense_matrix_and_its_dominant_vector_is_constant(n, p, seed):
    from dgl_ssm.models.convs import DoublyStochasticConv

    g = graph_of(nx.gnp_random_graph(n, p, seed=seed))
    dense = dense_p(g)
    np.testing.assert_allclose(dense, dense.T) and np.testing.assert_allclose(dense.sum(1), 1.0)
    conv = DoublyStochasticConv(3).double()
    h = torch.from_numpy(np.random.default_rng(seed).normal(size=(n, 3)))
    expected = dense @ h.numpy() @ conv.weight.detach().numpy() + conv.bias.detach().numpy()
    np.testing.assert_allclose(conv(g, h).detach().numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(conv(dgl.remove_self_loop(g), h).detach().numpy(), expected, atol=1e-12)  # loops ignored
    values, vectors = np.linalg.eigh(dense)
    top = vectors[:, np.abs(values - 1.0) < 1e-9]
    x = np.random.default_rng(seed + 1).normal(size=(n, 2))
    np.testing.assert_allclose(orthogonal_part(g, torch.from_numpy(x), "stochastic").numpy(), x - top @ (top.T @ x),
                               atol=1e-10)


def test_an_unknown_propagation_is_refused():
    with pytest.raises(ValueError, match="propagation must be"):
        orthogonal_ratio(graph_of(nx.path_graph(3)), torch.randn(3, 1), "random_walk")
