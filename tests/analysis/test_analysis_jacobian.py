"""Layer Jacobians: dense spectra (Lemma 3.1 of Arroyo et al. 2025), matrix-free estimates, calibration."""
import warnings

import dgl
import networkx as nx
import numpy as np
import pytest
import torch
from dgl.nn import GATConv, GraphConv

from dgl_ssm.analysis import (
    ConvergenceWarning,
    calibrate_edge_of_chaos,
    edge_of_chaos_distance,
    estimate_singular_values,
    estimate_spectral_radius,
    jacobian_eigenvalues,
    jacobian_operator,
    jacobian_singular_values,
    layer_jacobian,
)
from dgl_ssm.nn import SSMConv


def small_graph(n=10, m=16, seed=0):
    g = nx.connected_watts_strogatz_graph(n, 4, 0.3, seed=seed) if m is None else nx.gnm_random_graph(n, m, seed=seed)
    src, dst = zip(*g.edges())
    dg = dgl.graph((torch.tensor(src + dst), torch.tensor(dst + src)), num_nodes=n)
    return dgl.add_self_loop(dg), g


def gcn_matrix(g_nx):
    """Â = D^-1/2 (A + I) D^-1/2, built with numpy from the networkx graph."""
    a = nx.to_numpy_array(g_nx, nodelist=range(g_nx.number_of_nodes())) + np.eye(g_nx.number_of_nodes())
    inv = 1.0 / np.sqrt(a.sum(1))
    return inv[:, None] * a * inv[None, :]


def test_linear_gcn_jacobian_is_kronecker_product_in_row_major_order():
    g, g_nx = small_graph()
    conv = GraphConv(3, 5, bias=False).double()
    jac = layer_jacobian(conv, g, torch.randn(10, 3, dtype=torch.float64)).numpy()
    expected = np.kron(gcn_matrix(g_nx), conv.weight.detach().numpy().T)  # vec_r(Â X W) = (Â ⊗ Wᵀ) vec_r(X)
    np.testing.assert_allclose(jac, expected, atol=1e-12)


def test_linear_gcn_squared_singular_values_are_lemma_3_1_products():
    g, g_nx = small_graph()
    d = 4
    conv = GraphConv(d, d, bias=False).double()
    sigma = jacobian_singular_values(conv, g, torch.randn(10, d, dtype=torch.float64)).numpy()
    lam = np.linalg.eigvalsh(gcn_matrix(g_nx))
    w = conv.weight.detach().numpy()
    mu = np.linalg.eigvalsh(w @ w.T)
    products = np.sort(np.outer(lam**2, mu).reshape(-1))
    np.testing.assert_allclose(np.sort(sigma**2), products, atol=1e-10)


def test_jacobian_of_nonlinear_layer_matches_finite_differences():
    g, _ = small_graph(8, 12)
    layer = GATConv(3, 2, num_heads=2).double()  # (N, heads, out) output, flattened
    x = torch.randn(8, 3, dtype=torch.float64)
    jac = layer_jacobian(layer, g, x)
    assert jac.shape == (8 * 4, 8 * 3)
    eps = 1e-6
    for col in [0, 5, 13, 23]:
        step = torch.zeros(8 * 3, dtype=torch.float64)
        step[col] = eps
        with torch.no_grad():
            diff = (layer(g, x + step.view(8, 3)) - layer(g, x - step.view(8, 3))).reshape(-1) / (2 * eps)
        torch.testing.assert_close(jac[:, col], diff, atol=1e-7, rtol=1e-6)


def test_pure_torch_layer_uses_jacrev_and_agrees():
    g, _ = small_graph()
    w = torch.randn(3, 3, dtype=torch.float64)
    x = torch.randn(10, 3, dtype=torch.float64)
    jac = layer_jacobian(lambda graph, h: torch.tanh(h @ w), g, x)
    expected = torch.block_diag(*[w.T * (1 - torch.tanh(x[n] @ w) ** 2)[:, None] for n in range(10)])
    torch.testing.assert_close(jac, expected)


def test_size_limit_and_shape_errors():
    g, _ = small_graph()
    with pytest.raises(ValueError, match="max_size"):
        layer_jacobian(GraphConv(4, 4), g, torch.randn(10, 4), max_size=39)
    with pytest.raises(ValueError, match="square"):
        jacobian_eigenvalues(GraphConv(4, 3), g, torch.randn(10, 4))


def test_ssm_eigenvalues_and_per_graph_blocks():
    (g1, _), (g2, _) = small_graph(6, 8, seed=1), small_graph(9, 14, seed=2)
    batch = dgl.batch([g1, g2])
    layer = SSMConv(GraphConv(3, 3), 3, state_transition=[0.2, 0.5, 0.9], input_matrix=0.0)
    eig = jacobian_eigenvalues(layer, batch, torch.randn(15, 3))
    np.testing.assert_allclose(np.sort(eig.real.numpy()), np.repeat([0.2, 0.5, 0.9], 15), atol=1e-6)
    assert eig.abs()[0] == eig.abs().max()
    layer = SSMConv(GraphConv(3, 3, activation=torch.tanh), 3, state_transition=0.5)
    x = torch.randn(15, 3, dtype=torch.float64)
    layer = layer.double()
    per = jacobian_singular_values(layer, batch, x, per_graph=True)
    alone = [jacobian_singular_values(layer, g, part) for g, part in zip([g1, g2], x.split([6, 9]))]
    for a, b in zip(per, alone):
        torch.testing.assert_close(a, b)


def test_edge_of_chaos_distance():
    assert edge_of_chaos_distance(torch.ones(5)) == 0.0
    assert edge_of_chaos_distance(torch.tensor([0.0, 3.0])) == pytest.approx(1.5)


def ssm_layer(lam=0.9, beta=0.5, d=4):
    return SSMConv(GraphConv(d, d, activation=torch.tanh), d, state_transition=lam, input_matrix=beta)


def test_jacobian_operator_products_match_dense():
    g, _ = small_graph(12, 20)
    layer, x = ssm_layer(), torch.randn(12, 4)
    dense = layer_jacobian(layer, g, x).double().numpy()
    op = jacobian_operator(layer, g, x)
    v, w = np.random.default_rng(0).standard_normal((2, 48))
    np.testing.assert_allclose(op @ v, dense @ v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(op.H @ w, dense.T @ w, rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("error")  # converged: neither LOBPCG's float64 stopping test nor ours may warn
def test_matrix_free_estimates_match_dense_spectrum():
    g, _ = small_graph(20, 40)
    layer, x = ssm_layer(lam=0.8, beta=0.7), torch.randn(20, 4)
    sigma = jacobian_singular_values(layer, g, x)
    top, bottom = estimate_singular_values(layer, g, x)
    assert top == pytest.approx(sigma[0].item(), rel=1e-4)
    assert bottom == pytest.approx(sigma[-1].item(), rel=1e-3)
    assert abs(bottom - sigma[-1].item()) <= 1e-4 * top  # within the bound it claimed by not warning
    rho = jacobian_eigenvalues(layer, g, x).abs().max().item()
    assert estimate_spectral_radius(layer, g, x) == pytest.approx(rho, rel=1e-4)
    with pytest.raises(ValueError, match="square"):
        estimate_spectral_radius(GraphConv(4, 3), g, x)


@pytest.mark.parametrize("wide", [False, True], ids=["tall", "wide"])
def test_an_unconverged_smallest_singular_value_is_an_upper_bound_and_says_so(wide):
    """Fault injection: two LOBPCG iterations. One ConvergenceWarning (none of scipy's), the value an upper bound on
    the dense σ_min; the same estimate with enough iterations converges silently. ``wide``: a Jacobian with fewer
    rows than columns (the Gramian JJᵀ)."""
    g, _ = small_graph(20, 40)
    torch.manual_seed(0)
    layer = GraphConv(4, 2) if wide else ssm_layer(lam=0.8, beta=0.7)
    x = torch.randn(20, 4)
    dense = jacobian_singular_values(layer, g, x)
    true_min = dense[min(layer_jacobian(layer, g, x).shape) - 1].item()
    with pytest.warns(ConvergenceWarning, match=r"^sigma_min = \S+ is an upper bound only: its error bound") as caught:
        _, bound = estimate_singular_values(layer, g, x, maxiter=2)
    assert [w.category for w in caught] == [ConvergenceWarning]
    assert bound >= true_min - 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, bottom = estimate_singular_values(layer, g, x, maxiter=2000)
    assert abs(bottom - true_min) <= 1e-4 * dense[0].item()


def test_calibrate_state_transition_in_place_reaches_unit_spectral_radius():
    g, _ = small_graph(15, 30)
    layer, x = ssm_layer(lam=1.0, beta=0.3), torch.randn(15, 4)
    cal = calibrate_edge_of_chaos(layer, g, x, target=1.0, tol=5e-3)
    assert cal.layer is layer and 0.0 < cal.scale < 2.0
    torch.testing.assert_close(layer.state_transition, cal.scale * torch.eye(4))
    rho = jacobian_eigenvalues(layer, g, x).abs().max().item()  # independent dense check
    assert abs(rho - 1.0) <= 5e-3
    assert cal.spectral_radius == pytest.approx(rho, abs=1e-4)


def test_calibrate_input_matrix_with_factory_and_bad_bracket():
    g, _ = small_graph(15, 30)
    x = torch.randn(15, 4)
    conv = GraphConv(4, 4, activation=torch.tanh)
    weights = {k: v.clone() for k, v in conv.state_dict().items()}

    def factory(scale):
        layer = SSMConv(conv, 4, state_transition=0.5, input_matrix=scale)
        layer.conv.load_state_dict(weights)  # SSMConv re-initializes the conv it wraps
        return layer

    cal = calibrate_edge_of_chaos(factory, g, x, tol=5e-3, bracket=(0.0, 20.0))
    rho = jacobian_eigenvalues(cal.layer, g, x).abs().max().item()
    assert abs(rho - 1.0) <= 5e-3 and cal.layer.input_matrix[0, 0].item() == pytest.approx(cal.scale)
    with pytest.raises(ValueError, match="no sign change"):
        calibrate_edge_of_chaos(factory, g, x, bracket=(0.0, 0.01))
    with pytest.raises(ValueError, match="buffers named"):
        calibrate_edge_of_chaos(conv, g, x)
    with pytest.raises(ValueError, match="with a factory the factory decides what its scale scales"):
        calibrate_edge_of_chaos(factory, g, x, matrix="state_transition", bracket=(0.0, 20.0))


def test_spectra_of_a_non_finite_layer_are_refused():
    """Regression (issue 14, defect 7): LAPACK on NaN entries segfaults."""
    import dgl
    import pytest
    import torch
    from dgl.nn import GraphConv

    from dgl_ssm.analysis import jacobian_eigenvalues, jacobian_singular_values

    g = dgl.add_self_loop(dgl.graph(([0, 1], [1, 2])))
    conv = GraphConv(2, 2)
    with torch.no_grad():
        conv.weight[0, 0] = float("nan")
    for fn in (jacobian_eigenvalues, jacobian_singular_values):
        with pytest.raises(ValueError, match="non-finite"):
            fn(conv, g, torch.randn(3, 2))
