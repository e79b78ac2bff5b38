"""train_last_layer: only the decoder moves, to a stationary point (float64), and the documented errors."""
import dgl
import pytest
import torch
import torch.nn.functional as F

from dgl_ssm.models import build_model
from dgl_ssm.train import train_last_layer


def test_only_the_decoder_moves_to_a_stationary_point_and_the_mode_is_restored():
    torch.manual_seed(0)
    g = dgl.add_self_loop(dgl.rand_graph(40, 160))
    x, y = torch.randn(40, 5, dtype=torch.float64), torch.randint(0, 3, (40,))
    model = build_model("gcn", 5, 8, 3, num_layers=5, dropout=0.5).double().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = train_last_layer(model, g, x, lambda o: F.cross_entropy(o, y))
    assert model.training and out["loss_after"] < out["loss_before"] and out["decoder_grad_max"] < 1e-6
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]) != key.startswith("decoder."), key
    # a stationary point of the decoder: the finite-difference slope along a random direction is ~0
    model.eval()
    w = model.decoder.weight
    direction = torch.randn_like(w)
    with torch.no_grad():
        def loss_at(t):
            w.add_(t * direction)
            value = float(F.cross_entropy(model(g, x), y))
            w.sub_(t * direction)
            return value
        slope = (loss_at(1e-5) - loss_at(-1e-5)) / 2e-5
    assert abs(slope) < 1e-5


def test_documented_errors():
    g = dgl.add_self_loop(dgl.rand_graph(5, 10))
    model = build_model("gcn", 3, 4, 2, num_layers=2)
    with pytest.raises(ValueError, match="max_iter must be >= 1"):
        train_last_layer(model, g, torch.randn(5, 3), lambda o: o.sum(), max_iter=0)
    del model.decoder
    model.decoder = torch.nn.Identity()
    with pytest.raises(ValueError, match="no decoder with parameters"):
        train_last_layer(model, g, torch.randn(5, 3), lambda o: o.sum())
