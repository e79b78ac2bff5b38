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
    """One pair of buffers per model: an in-place edit of one layer's Lambda (calibration) reaches every layer,
    also after a dtype move and a state_dict round trip; checkpoints with per-layer keys still load."""
    model = build_model("gcn-ssm", 5, 8, 3, 6, block_options={"state_transition": "uniform", "r_min": 0.5, "input_matrix": "random"})
    first = model.layers[0]
    assert isinstance(first, SSMConv) and model.ssm_matrices is first.matrices
    assert all(layer.matrices is first.matrices for layer in model.layers)
    assert sum(1 for name, _ in model.named_buffers() if name.endswith("state_transition")) == 1
    model = model.to(torch.float64)
    model.layers[3].state_transition.mul_(0.5)
    assert all(layer.state_transition.data_ptr() == first.state_transition.data_ptr() for layer in model.layers)
    old_style = {k.replace("matrices.", ""): v.clone() for k, v in model.state_dict().items()}
    fresh = build_model("gcn-ssm", 5, 8, 3, 6, block_options={"state_transition": 0.1}).to(torch.float64)
    fresh.load_state_dict(old_style)
    torch.testing.assert_close(fresh.layers[5].state_transition, first.state_transition)
    assert fresh.layers[0].matrices is fresh.layers[5].matrices


def test_ssm_conv_rejects_matrices_with_specifications():
    from dgl.nn import GraphConv

    from dgl_ssm.nn import StateSpaceMatrices

    shared = StateSpaceMatrices(4, 0.5)
    with pytest.raises(ValueError, match="either matrices= or matrix specifications"):
        SSMConv(GraphConv(4, 4), 4, state_transition=0.9, matrices=shared)
    # a value equal to the default is given all the same, and would be ignored: Λ = I asked, Λ = 0.5 I shared
    for given in ({"state_transition": 1.0}, {"input_matrix": "identity"}, {"r_min": 0.9}, {"r_max": 1.0}):
        with pytest.raises(ValueError, match=f"not both \\(got {next(iter(given))}\\)"):
            SSMConv(GraphConv(4, 4), 4, matrices=shared, **given)
    assert float(SSMConv(GraphConv(4, 4), 4).state_transition[0, 0]) == 1.0  # the defaults without matrices
    assert float(SSMConv(GraphConv(4, 4), 4).input_matrix[1, 1]) == 1.0
    with pytest.raises(ValueError, match="matrices has dim=4"):
        SSMConv(GraphConv(8, 8), 8, matrices=shared)


@pytest.mark.parametrize("name", available_models())
def test_reset_parameters_redraws_every_weight_and_keeps_the_fixed_matrices(name):
    """After reset every trainable tensor is redrawn (none keeps a perturbed value), the draw is reproducible
    from the seed, and Lambda and B are untouched. For GCN-based presets without a wrapper that re-initialises
    the conv at construction (plain GCN, GCNII, DRew) the redraw equals the construction draw."""
    from dgl_ssm.experiment import seed_everything
    from dgl_ssm.models import PRESETS

    options = {"max_hop": 3} if PRESETS[name].max_hop_option == "max_hop" else {}
    seed_everything(7)
    model = build_model(name, 5, 8, 3, 3, **options)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    draws = []
    for _ in range(2):
        seed_everything(7)
        model.reset_parameters()
        draws.append({k: v.clone() for k, v in model.state_dict().items()})
    assert all(torch.equal(draws[0][k], draws[1][k]) for k in initial)
    kept = [n for n, _ in model.named_parameters() if torch.equal(draws[0][n], initial[n] + 1.0)]
    assert not kept, f"not reset: {kept}"
    for key, value in draws[0].items():
        if key.endswith(("state_transition", "input_matrix")):
            assert torch.equal(value, initial[key])
    if name in ("gcn", "res-gcn", "gcnii", "drew-gcn", "drew-gcn-delay"):
        assert all(torch.equal(initial[k], draws[0][k]) for k in initial)


def test_lipschitz_reset_keeps_the_norm():
    model = build_model("lip-res-gcn", 5, 8, 3, 4, lipschitz=2.0)
    model.reset_parameters()
    model.train()
    model(graph(), torch.randn(30, 5))
    for layer in model.layers:
        assert float(torch.linalg.matrix_norm(layer.conv.weight, 2)) == pytest.approx(2.0, rel=1e-3)


def test_presets_carry_their_metadata():
    """Kinds come from the preset, never from its name: family, rings, where max_hop goes, accepted options."""
    from dgl_ssm.models import PRESETS, GNNBase, needs_hop_edges

    for name, preset in PRESETS.items():
        assert preset.name == name and preset.family in ("plain", "residual", "ssm", "baseline", "drew")
        options = preset.with_max_hop({}, 2)
        model = build_model(name, 5, 8, 3, 2, **options)
        assert isinstance(model, GNNBase) and needs_hop_edges(name) == preset.needs_hop_edges
        assert preset.state_space == any(isinstance(layer, SSMConv) for layer in model.layers)
    assert PRESETS["kgcn-ssm"].with_max_hop({"conv_options": {"max_hop": 5}}, 2) == {"conv_options": {"max_hop": 5}}
    assert PRESETS["drew-gcn"].with_max_hop({}, 2) == {"max_hop": 2} and PRESETS["gcn"].with_max_hop({}, 2) == {}
    assert "state_transition" in PRESETS["kgcn-ssm"].accepted_options()["block_options"]
    with pytest.raises(ValueError, match="unknown block option 'lambda' for model 'gcn-ssm' \\(block 'ssm'\\); known: input_matrix"):
        PRESETS["gcn-ssm"].check_options({"block_options": {"lambda": 0.5}})
    with pytest.raises(ValueError, match="takes no block_options"):
        PRESETS["gcnii"].check_options({"block_options": {"alpha": 0.5}})
    with pytest.raises(ValueError, match="unknown option 'heads' for model 'gcn'"):
        PRESETS["gcn"].check_options({"heads": 4})


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


def test_share_weights_is_refused_for_a_conv_that_depends_on_its_layer():
    """The k-hop conv of layer ℓ reads rings K(ℓ) = 1..min(ℓ + 1, k): one shared conv (layer 0's) would read ring 1 in
    every layer, a GCN-SSM on the rewired graph's first ring."""
    with pytest.raises(ValueError, match="conv 'khop' depends on its layer"):
        build_model("kgcn-ssm", 5, 8, 3, 4, share_weights=True, conv_options={"max_hop": 3})
    assert len(build_model("kgcn-ssm", 5, 8, 3, 1, share_weights=True, conv_options={"max_hop": 3}).layers) == 1


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


@pytest.mark.parametrize("name", ["gcn", "gcn-ssm", "kgcn-ssm", "gcnii", "kipf-gcn"])
def test_a_size_that_is_not_a_positive_int_is_one_clear_error(name):
    from dgl_ssm.models import build_model

    with pytest.raises(ValueError, match=r"hidden must be a positive int, got 0"):
        build_model(name, 3, 0, 2, 2)
    with pytest.raises(ValueError, match=r"in_feats must be a positive int, got -1"):
        build_model(name, -1, 4, 2, 2)


def test_a_rewiring_radius_too_large_for_the_kernel_is_one_clear_error():
    from dgl_ssm.transforms import KHopRewire

    with pytest.raises(ValueError, match=r"max_hop must be < 2\*\*31, got 18446744073709551616; use None"):
        KHopRewire(2**64)


def test_the_mlp_control_is_the_gcn_model_without_message_passing():
    """Keriven (2025)'s counter-example: same encoder, blocks, decoder and initialisation as `gcn`; Â replaced by I."""
    import dgl
    import torch

    from dgl_ssm.models import build_model

    g = dgl.add_self_loop(dgl.rand_graph(12, 40))
    x = torch.randn(12, 5)
    torch.manual_seed(0)
    mlp = build_model("mlp", 5, 8, 3, 4).eval()
    torch.manual_seed(0)
    gcn = build_model("gcn", 5, 8, 3, 4).eval()
    assert [p.shape for p in mlp.parameters()] == [p.shape for p in gcn.parameters()]
    for p, q in zip(mlp.parameters(), gcn.parameters()):
        torch.testing.assert_close(p, q)
    loops_only = dgl.add_self_loop(dgl.graph(([], []), num_nodes=12))  # Â = I
    torch.testing.assert_close(mlp(g, x), gcn(loops_only, x))
    torch.testing.assert_close(mlp(g, x), mlp(dgl.add_self_loop(dgl.rand_graph(12, 5)), x))
