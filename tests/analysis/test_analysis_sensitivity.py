"""Sensitivity ||dh_v^(L)/dx_u|| (over-squashing) and gradient flow, against finite differences and closed forms."""
import dgl
import networkx as nx
import numpy as np
import pytest
import torch

from dgl_ssm.analysis import backward_errors, gradient_flow, hop_distances, sensitivity, sensitivity_by_distance
from dgl_ssm.models import build_model


def path_graph(n):
    src = torch.arange(n - 1)
    return dgl.add_self_loop(dgl.graph((torch.cat([src, src + 1]), torch.cat([src + 1, src])), num_nodes=n))


def test_sensitivity_matches_finite_differences():
    g = path_graph(6)
    model = build_model("gcn-ssm", 3, 4, 2, num_layers=2, activation="tanh",
                        block_options={"state_transition": 0.7}).double()
    x = torch.randn(6, 3, dtype=torch.float64)
    targets = [0, 4]
    got = sensitivity(model, g, x, targets)
    eps, expected = 1e-6, torch.zeros(2, 6, dtype=torch.float64)
    with torch.no_grad():
        for u in range(6):
            for j in range(3):
                step = torch.zeros_like(x)
                step[u, j] = eps
                diff = (model.hidden_states(g, x + step)[-1] - model.hidden_states(g, x - step)[-1]) / (2 * eps)
                expected[:, u] += diff[targets].pow(2).sum(-1)
    torch.testing.assert_close(got, expected.sqrt(), atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("num_layers", [1, 3])
def test_gcn_sensitivity_is_exactly_zero_beyond_receptive_field(num_layers):
    g = path_graph(9)
    model = build_model("gcn", 3, 5, 2, num_layers=num_layers, activation="tanh")
    targets = [0, 4]
    sens = sensitivity(model, g, torch.randn(9, 3), targets)
    dist = torch.tensor([[abs(u - v) for u in range(9)] for v in targets])
    assert torch.all(sens[dist > num_layers] == 0)
    assert torch.all(sens[dist <= num_layers] > 0)


def test_sensitivity_of_a_float32_model_does_not_underflow_where_its_gradients_are_tiny():
    """A far node of a deep model can have float32 gradient entries near 1e-25: their squares (1e-50) are 0 in
    float32, so the sum of squares is taken in float64 (the norm itself, 1e-25, is a float32 number)."""

    class Scaled(torch.nn.Module):
        def forward(self, graph, x):
            return x * 1e-25

    g = path_graph(3)
    sens = sensitivity(Scaled(), g, torch.randn(3, 2), [0])
    assert sens.dtype == torch.float32
    torch.testing.assert_close(sens, torch.tensor([[2 ** 0.5 * 1e-25, 0.0, 0.0]]), rtol=1e-5, atol=0)


def test_sensitivity_of_a_model_dropping_features_is_refused_until_eval():
    """In training mode with dropout the Jacobian is one draw of the masks: refused, named; in eval mode measured."""
    g = path_graph(4)
    model = build_model("gcn-ssm", 3, 4, 2, num_layers=2, dropout=0.5)
    with pytest.raises(ValueError, match=r"training mode with dropout \(p=0.5\).*call model.eval\(\) first"):
        sensitivity(model, g, torch.randn(4, 3), [0])
    assert sensitivity(model.eval(), g, torch.randn(4, 3), [0]).shape == (1, 4)


def test_hop_distances_and_average_by_distance_match_networkx():
    nxg = nx.connected_watts_strogatz_graph(14, 4, 0.4, seed=3)
    src, dst = zip(*nxg.edges())
    g = dgl.graph((torch.tensor(src + dst), torch.tensor(dst + src)), num_nodes=14)
    other = path_graph(3)  # a second graph in the batch: unreachable from the targets
    batch = dgl.batch([dgl.add_self_loop(g), other])
    targets = [0, 7]
    dist = hop_distances(batch, targets)
    for i, v in enumerate(targets):
        lengths = nx.single_source_shortest_path_length(nxg, v)
        assert dist[i, :14].tolist() == [lengths[u] for u in range(14)]
    assert (dist[:, 14:] == -1).all()
    sens = torch.rand(2, 17)
    table = sensitivity_by_distance(sens, batch, targets)
    for _, row in table.iterrows():
        mask = dist == row["distance"]
        assert row["pairs"] == int(mask.sum())
        assert row["mean"] == pytest.approx(sens[mask].double().mean().item())
    with pytest.raises(ValueError, match="expected"):
        sensitivity_by_distance(torch.rand(3, 17), batch, targets)


def test_sensitivity_across_graphs_of_a_batch_is_zero():
    batch = dgl.batch([path_graph(4), path_graph(3)])
    model = build_model("gcn-ssm", 2, 3, 2, num_layers=4)
    sens = sensitivity(model, batch, torch.randn(7, 2), [1, 5])
    assert (sens[0, 4:] == 0).all() and (sens[1, :4] == 0).all()
    with pytest.raises(ValueError, match="target nodes"):
        sensitivity(model, batch, torch.randn(7, 2), [7])


def linear_gcn(num_layers=3):
    model = build_model("gcn", 3, 4, 2, num_layers=num_layers, activation="identity").double()
    return model


def gcn_matrix(n):
    a = np.zeros((n, n))
    for i in range(n - 1):
        a[i, i + 1] = a[i + 1, i] = 1
    a += np.eye(n)
    inv = 1 / np.sqrt(a.sum(1))
    return inv[:, None] * a * inv[None, :]


def test_backward_errors_match_closed_form_for_linear_gcn():
    g, model = path_graph(5), linear_gcn()
    x = torch.randn(5, 3, dtype=torch.float64)
    c = torch.randn(5, 2, dtype=torch.float64)
    loss, errors, norms = backward_errors(model, g, x, lambda y: (y * c).sum())
    a_hat = torch.tensor(gcn_matrix(5))
    expected = c @ model.decoder.weight.detach()  # B_L = C W_dec (nn.Linear: y = h W_decᵀ + b)
    for layer in range(3, -1, -1):
        torch.testing.assert_close(errors[layer], expected)
        if layer:  # H_l = Â H_{l-1} W_l + b  =>  B_{l-1} = Âᵀ B_l W_lᵀ
            expected = a_hat.T @ expected @ model.layers[layer - 1].conv.weight.detach().T
    # weight-gradient norms agree with an ordinary backward pass
    (model(g, x) * c).sum().backward()
    for layer, norm in zip(model.layers, norms):
        assert norm == pytest.approx(torch.sqrt(sum(p.grad.pow(2).sum() for p in layer.parameters())).item())
    assert loss.item() == pytest.approx((model(g, x) * c).sum().item())


def test_gradient_flow_table_per_graph():
    batch = dgl.batch([path_graph(4), path_graph(6)])
    model = linear_gcn(2)
    x = torch.randn(10, 3, dtype=torch.float64)
    mask = torch.arange(10) < 4  # the loss only sees the first graph
    table = gradient_flow(model, batch, x, lambda y: y[mask].pow(2).sum(), per_graph=True)
    assert list(table.columns) == ["layer", "graph", "grad_norm", "error_dirichlet_energy",
                                   "error_feature_norm", "error_mean_deviation"]
    assert len(table) == 3 * 2 and np.isnan(table["grad_norm"][0])
    second = table[table["graph"] == 1]
    assert (second["error_feature_norm"] == 0).all()
    assert (table[table["graph"] == 0]["error_feature_norm"] > 0).all()
    with pytest.raises(ValueError, match="scalar"):
        gradient_flow(model, batch, x, lambda y: y)


def test_gradient_flow_of_a_model_whose_first_state_is_its_input():
    """Kipf & Welling's GCN has no encoder: H_0 is the input features, which need no gradient of their own; the
    backpropagated error at H_0 is still computed (it failed: "One of the differentiated Tensors does not require
    grad", so study.record_gradients=true stopped a sitting with kipf-gcn)."""
    import dgl
    import torch

    from dgl_ssm.analysis import gradient_flow
    from dgl_ssm.models import build_model

    g = dgl.add_self_loop(dgl.graph(([0, 1, 2], [1, 2, 0])))
    x = torch.randn(3, 4)
    table = gradient_flow(build_model("kipf-gcn", 4, 8, 2, 2), g, x, lambda y: y.pow(2).sum())
    assert list(table["layer"]) == [0, 1, 2] and table["error_feature_norm"].gt(0).all() and not x.requires_grad
