"""Per-node weight gradients: the similarity against the explicit outer products in float64, and the factors
against autograd's weight gradient and a dense Â (oracles)."""
import dgl
import networkx as nx
import numpy as np
import pytest
import torch
from dgl import DGLError
from hypothesis import given, settings
from hypothesis import strategies as st

from dgl_ssm.analysis import layer_node_gradients, node_gradient_similarity
from dgl_ssm.models import build_model


def explicit_similarity(m: np.ndarray, e: np.ndarray) -> tuple:
    """Form every g_i = m_i e_i^T, drop the zero ones, average the cosine over ordered pairs i != j."""
    g = np.einsum("ia,ib->iab", m, e).reshape(len(m), -1)
    norms = np.linalg.norm(g, axis=1)
    g = g[norms > 0] / norms[norms > 0, None]
    n = len(g)
    cos = g @ g.T
    return (cos.sum() - np.trace(cos)) / (n * (n - 1)), n


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 12), d_in=st.integers(1, 5), d_out=st.integers(1, 5), zeros=st.integers(0, 3),
       seed=st.integers(0, 10_000))
def test_similarity_matches_the_explicit_outer_products(n, d_in, d_out, zeros, seed):
    rng = np.random.default_rng(seed)
    m, e = rng.normal(size=(n, d_in)), rng.normal(size=(n, d_out))
    e[: min(zeros, n - 2)] = 0.0  # nodes without a gradient are left out
    ours, count = node_gradient_similarity(torch.from_numpy(m), torch.from_numpy(e))
    expected, n_expected = explicit_similarity(m, e)
    assert count == n_expected
    assert ours == pytest.approx(expected, abs=1e-12)


def test_similarity_is_one_for_parallel_gradients_and_nan_for_fewer_than_two():
    m = torch.randn(1, 3).repeat(5, 1) * torch.arange(1.0, 6.0)[:, None]
    e = torch.randn(1, 2).repeat(5, 1)
    assert node_gradient_similarity(m, e)[0] == pytest.approx(1.0)
    value, n = node_gradient_similarity(m, torch.zeros(5, 2).index_fill_(0, torch.tensor([2]), 1.0))
    assert np.isnan(value) and n == 1


def test_similarity_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one row per node"):
        node_gradient_similarity(torch.randn(4, 3), torch.randn(5, 3))


def small_graph(seed=0):
    g = dgl.from_networkx(nx.connected_watts_strogatz_graph(12, 4, 0.3, seed=seed).to_directed())
    return dgl.add_self_loop(g)


@pytest.mark.parametrize("preset", ["gcn", "res-gcn", "gcn-ssm"])
def test_factors_sum_to_autograds_weight_gradient(preset):
    torch.manual_seed(0)
    g = small_graph()
    feat = torch.randn(12, 5, dtype=torch.float64)
    model = build_model(preset, 5, 6, 3, num_layers=4).double().eval()
    target = torch.randint(0, 3, (12,))
    loss_fn = lambda out: torch.nn.functional.cross_entropy(out, target)  # noqa: E731
    loss, factors = layer_node_gradients(model, g, feat, loss_fn)
    model.zero_grad()
    loss_fn(model(g, feat)).backward()
    assert len(factors) == 4
    for layer, (m, delta) in zip(model.layers, factors):
        torch.testing.assert_close(m.T @ delta, layer.conv.weight.grad, rtol=1e-10, atol=1e-12)


def test_inputs_are_the_dense_normalised_adjacency_times_the_conv_input():
    torch.manual_seed(1)
    g = small_graph(3)
    feat = torch.randn(12, 4, dtype=torch.float64)
    model = build_model("gcn", 4, 4, 2, num_layers=1).double().eval()
    seen = {}

    def keep_input(_module, args):
        seen["x"] = args[1].detach()

    model.layers[0].conv.register_forward_pre_hook(keep_input)
    _, [(m, _)] = layer_node_gradients(model, g, feat, lambda out: out.sum())
    a = g.adj_external(scipy_fmt="csr").toarray().astype(np.float64).T  # a[v, u] = 1 for an edge u -> v
    d_in, d_out = a.sum(1), a.sum(0)
    a_hat = a / np.sqrt(d_in)[:, None] / np.sqrt(d_out)[None, :]
    np.testing.assert_allclose(m.numpy(), a_hat @ seen["x"].numpy(), atol=1e-12)


def test_a_lipschitz_model_gives_the_gradient_of_its_effective_weight():
    torch.manual_seed(2)
    g = small_graph(1)
    feat = torch.randn(12, 5, dtype=torch.float64)
    model = build_model("lip-res-gcn", 5, 6, 3, num_layers=3).double().eval()
    _, factors = layer_node_gradients(model, g, feat, lambda out: out.pow(2).sum())
    # the oracle: the same model with each effective weight W a plain leaf, differentiated by autograd
    from torch.func import functional_call
    weights = {f"layers.{i}.conv.weight": layer.conv.weight.detach().clone().requires_grad_(True)
               for i, layer in enumerate(model.layers)}
    from torch.nn.utils import parametrize
    for layer in model.layers:
        parametrize.remove_parametrizations(layer.conv, "weight", leave_parametrized=True)
    out = functional_call(model, weights, (g, feat))
    grads = torch.autograd.grad(out.pow(2).sum(), list(weights.values()))
    for (m, delta), grad in zip(factors, grads):
        torch.testing.assert_close(m.T @ delta, grad, rtol=1e-9, atol=1e-12)


def test_a_model_without_graph_convolutions_is_refused_with_the_fix():
    model = build_model("gat", 4, 8, 2, num_layers=2)
    with pytest.raises(DGLError, match="conv='gcn'"):
        layer_node_gradients(model, small_graph(), torch.randn(12, 4), lambda out: out.sum())


def test_gradient_checkpointing_gives_the_same_factors():
    g = small_graph(2)
    feat = torch.randn(12, 3, dtype=torch.float64)
    found = []
    for checkpoint in (False, True, 2):
        torch.manual_seed(0)
        model = build_model("res-gcn", 3, 4, 2, num_layers=4, checkpoint=checkpoint).double().train()
        found.append(layer_node_gradients(model, g, feat, lambda out: out.pow(2).sum())[1])
    for other in found[1:]:
        for (m, delta), (m2, delta2) in zip(found[0], other):
            torch.testing.assert_close(m, m2)
            torch.testing.assert_close(delta, delta2)
