"""SSMConv: the state-space layer H' = H Λᵀ + F(G, H) Bᵀ (Arroyo et al. 2025, Eq. 9)."""
import dgl
import numpy as np
import pytest
import torch
from dgl.nn import GATConv, GINConv, GraphConv, SAGEConv

from dgl_ssm.nn import SSMConv, make_input_matrix, make_state_transition, spectral_radius

D = 8


def ring_graph(n=6):
    src = torch.arange(n)
    g = dgl.graph((torch.cat([src, (src + 1) % n]), torch.cat([(src + 1) % n, src])))
    return dgl.add_self_loop(g)


def random_graph(n=20, m=60, seed=0):
    torch.manual_seed(seed)
    return dgl.add_self_loop(dgl.to_bidirected(dgl.rand_graph(n, m)))


@pytest.mark.parametrize(
    "make_conv",
    [
        lambda: GraphConv(D, D),
        lambda: SAGEConv(D, D, "mean"),
        lambda: GINConv(torch.nn.Linear(D, D), "sum"),
    ],
)
def test_zero_state_transition_identity_input_equals_wrapped_conv(make_conv):
    g, x = random_graph(), torch.randn(20, D)
    conv = make_conv()
    layer = SSMConv(conv, D, state_transition=0.0, input_matrix="identity")
    torch.testing.assert_close(layer(g, x), conv(g, x))


def test_zero_input_matrix_is_linear_recurrence():
    g, x = random_graph(), torch.randn(20, D)
    lam = torch.randn(D, D) * 0.2
    layer = SSMConv(GraphConv(D, D), D, state_transition=lam, input_matrix=0.0)
    torch.testing.assert_close(layer(g, x), x @ lam.T)


def test_general_matrices_match_formula():
    g, x = random_graph(), torch.randn(20, D)
    conv = GraphConv(D, D)
    lam, b = torch.randn(D, D) * 0.3, torch.randn(D, D)
    layer = SSMConv(conv, D, state_transition=lam, input_matrix=b, activation=torch.tanh)
    expected = x @ lam.T + torch.tanh(conv(g, x)) @ b.T
    torch.testing.assert_close(layer(g, x), expected)


def test_diagonal_fast_path_matches_dense_product():
    g, x = random_graph(), torch.randn(20, D)
    eig = torch.linspace(0.1, 0.9, D)
    conv = GraphConv(D, D)
    layer = SSMConv(conv, D, state_transition=eig, input_matrix=0.5)
    torch.testing.assert_close(layer(g, x), x @ torch.diag(eig).T + conv(g, x) @ (0.5 * torch.eye(D)).T)


def test_in_place_buffer_change_is_seen():
    g, x = random_graph(), torch.randn(20, D)
    layer = SSMConv(GraphConv(D, D), D, state_transition=1.0, input_matrix=0.0)
    torch.testing.assert_close(layer(g, x), x)
    layer.state_transition.mul_(0.5)
    torch.testing.assert_close(layer(g, x), 0.5 * x)


def test_buffers_are_not_parameters_and_move_with_module():
    layer = SSMConv(GraphConv(D, D), D, state_transition=0.7)
    names = {n for n, _ in layer.named_parameters()}
    assert not any("state_transition" in n or "input_matrix" in n for n in names)
    assert "matrices.state_transition" in layer.state_dict() and "matrices.input_matrix" in layer.state_dict()
    assert layer.to(torch.float64).state_transition.dtype == torch.float64


def test_state_transition_constructions():
    assert torch.equal(make_state_transition(4, 0.5), 0.5 * torch.eye(4))
    assert torch.equal(make_state_transition(3, [0.1, 0.2, 0.3]), torch.diag(torch.tensor([0.1, 0.2, 0.3])))
    lam = make_state_transition(64, "uniform", r_min=0.95, r_max=1.0, seed=3)
    eig = torch.diagonal(lam)
    assert torch.equal(lam, torch.diag(eig)) and eig.min() >= 0.95 and eig.max() <= 1.0
    assert torch.equal(lam, make_state_transition(64, "uniform", r_min=0.95, r_max=1.0, seed=3))
    # eigenvalues of the constructed matrix are exactly the requested ones
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(lam.numpy()).real), np.sort(eig.numpy()), atol=1e-6)


def test_input_matrix_constructions():
    assert torch.equal(make_input_matrix(4), torch.eye(4))
    assert torch.equal(make_input_matrix(4, 2.0), 2 * torch.eye(4))
    q = make_input_matrix(16, "random", seed=1)
    torch.testing.assert_close(q @ q.T, torch.eye(16), atol=1e-5, rtol=0)
    assert torch.equal(q, make_input_matrix(16, "random", seed=1))


def test_gat_heads_are_merged():
    g, x = random_graph(), torch.randn(20, D)
    gat = GATConv(D, D, num_heads=3)
    layer = SSMConv(gat, D, state_transition=0.0)
    torch.testing.assert_close(layer(g, x), gat(g, x).mean(1))
    flat = SSMConv(GATConv(D, D // 2, num_heads=2), D, state_transition=0.0, head_merge="flatten")
    assert flat(g, x).shape == (20, D)


def test_extra_forward_arguments_pass_through():
    g, x = random_graph(), torch.randn(20, D)
    w = torch.rand(g.num_edges())
    conv = GraphConv(D, D, norm="none")
    layer = SSMConv(conv, D, state_transition=0.0)
    torch.testing.assert_close(layer(g, x, edge_weight=w), conv(g, x, edge_weight=w))


def test_batched_equals_per_graph():
    graphs = [random_graph(10, 25, seed=s) for s in range(3)]
    feats = [torch.randn(10, D) for _ in graphs]
    layer = SSMConv(GraphConv(D, D, activation=torch.relu), D, state_transition="uniform", seed=0)
    batched = layer(dgl.batch(graphs), torch.cat(feats))
    torch.testing.assert_close(batched, torch.cat([layer(g, x) for g, x in zip(graphs, feats)]))


def test_permutation_equivariance():
    g, x = random_graph(), torch.randn(20, D)
    layer = SSMConv(GraphConv(D, D, activation=torch.tanh), D, state_transition=0.8, input_matrix="random", seed=2)
    perm = torch.randperm(20)
    inv = torch.argsort(perm)
    src, dst = g.edges()
    g_perm = dgl.graph((inv[src], inv[dst]), num_nodes=20)
    torch.testing.assert_close(layer(g_perm, x[perm]), layer(g, x)[perm], atol=1e-5, rtol=1e-5)


def test_identity_ssm_does_not_collapse_over_64_layers():
    """λ=1, B=I keeps ‖H‖ and the Dirichlet energy; 64 plain GCN layers collapse them by orders of magnitude."""
    torch.manual_seed(0)
    g = random_graph(60, 240, seed=1)
    x = torch.randn(60, D)
    src, dst = g.edges()

    def energy(h):
        return ((h[src] - h[dst]) ** 2).sum().item() / h.shape[0]

    h_gcn, h_ssm = x, x
    with torch.no_grad():
        for _ in range(64):
            h_gcn = GraphConv(D, D, activation=torch.relu)(g, h_gcn)
            h_ssm = SSMConv(GraphConv(D, D, activation=torch.relu), D, state_transition=1.0)(g, h_ssm)
    assert energy(h_gcn) < 1e-3 * energy(x)
    assert h_ssm.norm() >= 0.5 * x.norm()
    assert energy(h_ssm) > 0.1 * energy(x)


def test_spectral_radius():
    assert spectral_radius(torch.tensor([[0.0, 1.0], [-1.0, 0.0]])) == pytest.approx(1.0)
    assert spectral_radius(torch.diag(torch.tensor([0.2, -0.9]))) == pytest.approx(0.9)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"state_transition": torch.randn(D, D + 1)}, "square"),
        ({"state_transition": torch.randn(D + 1, D + 1)}, "dim=8"),
        ({"state_transition": [0.5] * (D - 1)}, "eigenvalues"),
        ({"input_matrix": torch.randn(3, D)}, "square"),
        ({"input_matrix": "nonsense"}, "unknown input_matrix"),
        ({"state_transition": "nonsense"}, "unknown state_transition"),
        ({"head_merge": "sum"}, "head_merge"),
    ],
)
def test_bad_construction_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SSMConv(GraphConv(D, D), D, **kwargs)


def test_unstable_state_transition_warns():
    with pytest.warns(RuntimeWarning, match="spectral radius"):
        SSMConv(GraphConv(D, D), D, state_transition=1.5)


def test_dimension_mismatch_raises():
    g = random_graph()
    with pytest.raises(ValueError, match="returned shape"):
        SSMConv(GraphConv(D, D + 2), D)(g, torch.randn(20, D))
    with pytest.raises(ValueError, match="expected node states"):
        SSMConv(GraphConv(D, D), D)(g, torch.randn(20, D + 1))


def test_zero_in_degree_raises_dgl_error():
    g = dgl.graph(([0, 1], [1, 2]), num_nodes=4)  # nodes 0 and 3 have no in-edges
    with pytest.raises(dgl.DGLError, match="0-in-degree"):
        SSMConv(GraphConv(D, D), D)(g, torch.randn(4, D))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_state_transition_and_input_matrix_are_rejected(bad):
    """Regression (issue 14, defect 7): NaN segfaulted inside torch.linalg.eigvals, inf hung it."""
    from dgl_ssm.nn.ssm import make_input_matrix, make_state_transition, spectral_radius

    with pytest.raises(ValueError, match="state_transition has non-finite entries"):
        SSMConv(GraphConv(4, 4), dim=4, state_transition=bad)
    with pytest.raises(ValueError, match="state_transition has non-finite entries"):
        make_state_transition(4, [1.0, bad, 0.5, 0.5])
    with pytest.raises(ValueError, match="input_matrix has non-finite entries"):
        make_input_matrix(4, bad)
    with pytest.raises(ValueError, match="finite"):
        make_state_transition(4, "uniform", r_min=0.0, r_max=bad)
    with pytest.raises(ValueError, match="non-finite"):
        spectral_radius(torch.full((3, 3), bad))
    layer = SSMConv(GraphConv(4, 4), dim=4)
    with torch.no_grad():
        layer.state_transition[0, 0] = bad  # a buffer edited in place is checked before use
    g = dgl.add_self_loop(dgl.graph(([0, 1], [1, 2])))
    with pytest.raises(ValueError, match="state_transition has non-finite entries"):
        layer(g, torch.randn(3, 4))
