"""Dirichlet energy, feature norm and mu(H), checked against numpy/networkx Laplacians."""
import dgl
import networkx as nx
import numpy as np
import pytest
import torch

from dgl_ssm.analysis import dirichlet_energy, feature_norm, mean_deviation, node_graph_ids


def nx_graph(n=12, m=20, seed=0, self_loop=True, isolated=False):
    g = nx.gnm_random_graph(n, m, seed=seed)
    if self_loop:
        g.add_edge(0, 0)
    if isolated:
        g.add_node(n)  # a node with no edge at all
    return g


def to_dgl(g):
    src, dst = zip(*g.edges())
    src, dst = torch.tensor(src), torch.tensor(dst)
    off = src != dst
    # both directions of every undirected edge, a self-loop once
    return dgl.graph((torch.cat([src, dst[off]]), torch.cat([dst, src[off]])), num_nodes=g.number_of_nodes())


def test_unnormalized_energy_matches_networkx_laplacian():
    g = nx_graph()
    h = np.random.default_rng(0).standard_normal((g.number_of_nodes(), 5))
    lap = nx.laplacian_matrix(g, nodelist=range(g.number_of_nodes())).toarray()
    expected = 2.0 * np.trace(h.T @ lap @ h) / g.number_of_nodes()
    got = dirichlet_energy(to_dgl(g), torch.tensor(h))
    assert got.dim() == 0
    np.testing.assert_allclose(got.item(), expected, rtol=1e-10)


def test_normalized_energy_matches_networkx_normalized_laplacian_with_isolated_node():
    g = nx_graph(isolated=True)
    h = np.random.default_rng(1).standard_normal((g.number_of_nodes(), 3))
    lap = nx.normalized_laplacian_matrix(g, nodelist=range(g.number_of_nodes())).toarray()
    got = dirichlet_energy(to_dgl(g), torch.tensor(h), normalized=True)
    np.testing.assert_allclose(got.item(), np.trace(h.T @ lap @ h), rtol=1e-10)


def test_energy_is_zero_for_constant_features_and_self_loops_add_nothing():
    g = to_dgl(nx_graph())
    assert dirichlet_energy(g, torch.ones(g.num_nodes(), 4)).item() == 0.0
    h = torch.randn(g.num_nodes(), 4)
    with_loops = dgl.add_self_loop(g)
    torch.testing.assert_close(dirichlet_energy(with_loops, h), dirichlet_energy(g, h))


@pytest.mark.parametrize("normalized", [False, True])
def test_per_graph_values_equal_each_graph_alone(normalized):
    graphs = [to_dgl(nx_graph(n, m, seed=n)) for n, m in [(5, 6), (9, 15), (7, 9)]]
    feats = [torch.randn(g.num_nodes(), 3, dtype=torch.float64) for g in graphs]
    batch, h = dgl.batch(graphs), torch.cat(feats)
    per = dirichlet_energy(batch, h, normalized=normalized, per_graph=True)
    alone = torch.stack([dirichlet_energy(g, f, normalized=normalized) for g, f in zip(graphs, feats)])
    torch.testing.assert_close(per, alone)
    total = dirichlet_energy(batch, h, normalized=normalized)
    if normalized:  # a trace: additive over the blocks
        torch.testing.assert_close(total, alone.sum())
    else:  # edge sum over all graphs, divided by the total N
        sizes = torch.tensor([g.num_nodes() for g in graphs], dtype=torch.float64)
        torch.testing.assert_close(total, (alone * sizes).sum() / sizes.sum())


def test_norm_and_mean_deviation_per_graph_match_numpy():
    graphs = [to_dgl(nx_graph(n, m, seed=n)) for n, m in [(4, 4), (6, 8)]]
    batch = dgl.batch(graphs)
    h = torch.randn(batch.num_nodes(), 2, 3, dtype=torch.float64)  # trailing dims flattened
    flat = h.reshape(len(h), -1).numpy()
    parts = np.split(flat, [graphs[0].num_nodes()])
    mus = [np.linalg.norm(p - p.mean(0, keepdims=True)) for p in parts]
    np.testing.assert_allclose(mean_deviation(batch, h, per_graph=True).numpy(), mus)
    np.testing.assert_allclose(mean_deviation(batch, h).item(), np.sqrt(np.sum(np.square(mus))))
    np.testing.assert_allclose(feature_norm(batch, h, per_graph=True).numpy(), [np.linalg.norm(p) for p in parts])
    np.testing.assert_allclose(feature_norm(batch, h).item(), np.linalg.norm(flat))
    assert mean_deviation(batch, torch.ones(batch.num_nodes(), 3)).item() == 0.0
    assert node_graph_ids(batch).tolist() == [0] * 4 + [1] * 6


def test_energy_is_differentiable_and_rejects_wrong_rows():
    g = to_dgl(nx_graph())
    h = torch.randn(g.num_nodes(), 3, requires_grad=True)
    dirichlet_energy(g, h, normalized=True).backward()
    assert h.grad is not None and torch.isfinite(h.grad).all()
    with pytest.raises(ValueError, match="one row per node"):
        dirichlet_energy(g, torch.randn(g.num_nodes() + 1, 3))
