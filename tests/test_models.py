"""Model builder: presets, shared SSM matrices, weight sharing, checkpointing, readout, bad input."""
import dgl
import pytest
import torch

from dgl_ssm.models import DeepGNN, available_models, build_model
from dgl_ssm.nn import SSMConv


def graph(n=30, seed=0):
    torch.manual_seed(seed)
    return dgl.add_self_loop(dgl.to_bidirected(dgl.rand_graph(n, 3 * n)))


@pytest.mark.parametrize("name", ["gcn", "res-gcn", "gcn-ssm", "gat", "gat-ssm", "gin", "gin-ssm", "sage-ssm"])
def test_presets_build_and_run(name):
    g = graph()
    out = build_model(name, 5, 16, 3, num_layers=4)(g, torch.randn(30, 5))
    assert out.shape == (30, 3) and torch.isfinite(out).all()


def test_ssm_layers_share_one_lambda_and_b():
    model = build_model("gcn-ssm", 5, 8, 3, 6, block_options={"state_transition": "uniform", "r_min": 0.5, "input_matrix": "random"})
    first = model.layers[0]
    assert isinstance(first, SSMConv)
    for layer in model.layers[1:]:
        assert torch.equal(layer.state_transition, first.state_transition)
        assert torch.equal(layer.input_matrix, first.input_matrix)


def test_hidden_states_match_manual_propagation():
    g, x = graph(), torch.randn(30, 5)
    model = build_model("gcn-ssm", 5, 8, 3, 5, block_options={"state_transition": 0.9}).eval()
    states = model.hidden_states(g, x)
    assert len(states) == 6
    h = model.encoder(x)
    for layer, state in zip(model.layers, states[1:]):
        h = layer(g, h)
        torch.testing.assert_close(state, h)
    torch.testing.assert_close(model(g, x), model.decoder(states[-1]))


def test_share_weights_uses_one_conv():
    model = build_model("gcn-ssm", 5, 8, 3, 10, share_weights=True)
    assert len({id(layer.conv) for layer in model.layers}) == 1
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in build_model("gcn-ssm", 5, 8, 3, 2).parameters())


@pytest.mark.parametrize("checkpoint", [True, 1, 5, 12, 40])
def test_gradient_checkpointing_gives_same_gradients(checkpoint):
    g, x = graph(), torch.randn(30, 5)
    torch.manual_seed(1)
    plain = build_model("gcn-ssm", 5, 8, 3, 12, block_options={"input_matrix": 0.1})
    ckpt = build_model("gcn-ssm", 5, 8, 3, 12, checkpoint=checkpoint, block_options={"input_matrix": 0.1})
    ckpt.load_state_dict(plain.state_dict())
    for m in (plain, ckpt):
        m(g, x).square().sum().backward()
    for (n, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=n)


def test_checkpoint_segments():
    assert build_model("gcn", 5, 8, 3, 256, checkpoint=True).checkpoint_segment() == 16
    assert build_model("gcn", 5, 8, 3, 10, checkpoint=3).checkpoint_segment() == 3
    assert build_model("gcn", 5, 8, 3, 10).checkpoint_segment() == 0
    with pytest.raises(ValueError, match="segment length"):
        build_model("gcn", 5, 8, 3, 10, checkpoint=0)


def test_graph_level_readout_and_batched_equality():
    graphs = [graph(10 + i, seed=i) for i in range(3)]
    feats = [torch.randn(g.num_nodes(), 5) for g in graphs]
    model = build_model("gcn-ssm", 5, 8, 2, 3, readout="mean").eval()
    batched = model(dgl.batch(graphs), torch.cat(feats))
    assert batched.shape == (3, 2)
    torch.testing.assert_close(batched, torch.cat([model(g, x) for g, x in zip(graphs, feats)]))


def test_presets_are_listed_and_overrides_merge():
    assert {"gcn", "res-gcn", "gcn-ssm", "gat-ssm", "gin-ssm"} <= set(available_models())
    model = build_model("gcn-ssm", 5, 8, 3, 2, block_options={"state_transition": 0.25}, activation="tanh")
    assert float(model.layers[0].state_transition[0, 0]) == 0.25


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"conv": "nope"}, "unknown conv 'nope'; known: .*gcn"),
        ({"block": "nope"}, "unknown block"),
        ({"activation": "nope"}, "unknown activation"),
        ({"readout": "median"}, "unknown readout"),
        ({"num_layers": 0}, "num_layers must be >= 1"),
    ],
)
def test_bad_builder_arguments(kwargs, match):
    args = {"in_feats": 5, "hidden": 8, "out_feats": 3, "num_layers": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        DeepGNN(**args)


def test_unknown_preset_lists_known_names():
    with pytest.raises(ValueError, match="unknown model 'gcn-lstm'; known: .*gcn-ssm"):
        build_model("gcn-lstm", 5, 8, 3, 2)


def test_misspelled_or_misplaced_options_are_errors():
    """Issue 12: a misspelled block or conv option used to give Λ = I without a word."""
    import pytest

    with pytest.raises(ValueError, match=r"unknown block option 'state_trasition' for block 'ssm'; known: .*state_transition"):
        build_model("gcn-ssm", 4, 8, 2, 2, block_options={"state_trasition": 0.5})
    with pytest.raises(ValueError, match=r"unknown block option 'state_transition' for block 'plain'"):
        build_model("gcn", 4, 8, 2, 2, block_options={"state_transition": 0.5})
    with pytest.raises(ValueError, match=r"unknown conv option 'head' for conv 'gat'; known: heads"):
        build_model("gat", 4, 8, 2, 2, conv_options={"head": 2})
    assert build_model("gat", 4, 8, 2, 2, conv_options={"heads": 2}) is not None
