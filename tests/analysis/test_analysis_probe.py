"""SignalProbe: hook-based per-layer records equal direct computations, with and without checkpointing."""
import dgl
import numpy as np
import pytest
import torch

from dgl_ssm.analysis import SignalProbe, dirichlet_energy, feature_norm, gradient_flow, mean_deviation
from dgl_ssm.models import build_model


def graph():
    parts = [dgl.add_self_loop(dgl.to_bidirected(dgl.rand_graph(n, m))) for n, m in [(8, 20), (5, 10)]]
    return dgl.batch(parts)


def loss_fn(y):
    return y.pow(2).sum()


def test_forward_records_equal_hidden_state_measures():
    g, model = graph(), build_model("gcn-ssm", 3, 6, 2, num_layers=4, activation="tanh")
    x = torch.randn(13, 3)
    with SignalProbe(model, backward=False) as probe, torch.no_grad():
        model(g, x)
    table = probe.table()
    states = model.hidden_states(g, x)
    assert list(table["layer"]) == [0, 1, 2, 3, 4] and set(table["step"]) == {0}
    for row, h in zip(table.itertuples(), states):
        assert row.dirichlet_energy == pytest.approx(dirichlet_energy(g, h).item(), rel=1e-6)
        assert row.feature_norm == pytest.approx(feature_norm(g, h).item(), rel=1e-6)
        assert row.mean_deviation == pytest.approx(mean_deviation(g, h).item(), rel=1e-6)
    assert "grad_norm" not in table


@pytest.mark.parametrize("checkpoint", [False, True])
def test_backward_records_equal_gradient_flow(checkpoint):
    g = graph()
    model = build_model("gcn", 3, 6, 2, num_layers=3, activation="tanh", checkpoint=checkpoint)
    x = torch.randn(13, 3)
    expected = gradient_flow(model, g, x, loss_fn)
    with SignalProbe(model) as probe:
        loss_fn(model(g, x)).backward()
    table = probe.table()
    assert list(table["layer"]) == [0, 1, 2, 3] and set(table["step"]) == {0}  # no double record on recompute
    for column in ["grad_norm", "error_dirichlet_energy", "error_feature_norm", "error_mean_deviation"]:
        np.testing.assert_allclose(table[column], expected[column], rtol=1e-5)


def test_steps_hook_removal_per_graph_and_plot(tmp_path):
    g, model = graph(), build_model("res-gcn", 3, 6, 2, num_layers=3)
    x = torch.randn(13, 3)
    probe = SignalProbe(model, per_graph=True)
    with probe:
        for _ in range(2):
            loss_fn(model(g, x)).backward()
    assert all(not layer._forward_hooks and not layer._forward_pre_hooks for layer in model.layers)
    loss_fn(model(g, x)).backward()  # after exit: nothing more is recorded
    table = probe.table()
    assert sorted(set(table["step"])) == [0, 1] and len(table) == 2 * 4 * 2
    per = table[(table["step"] == 1) & (table["layer"] == 3)].sort_values("graph")
    h = model.hidden_states(g, x)[-1]
    np.testing.assert_allclose(per["dirichlet_energy"], dirichlet_energy(g, h, per_graph=True).detach(), rtol=1e-5)
    path = probe.plot(tmp_path / "signals.png", metrics=["dirichlet_energy", "grad_norm"], title="res-gcn")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="not recorded"):
        probe.plot(tmp_path / "x.png", metrics=["nope"])
    with pytest.raises(ValueError, match="layers"):
        SignalProbe(torch.nn.Linear(2, 2))
