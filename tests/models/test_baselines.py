"""Baselines: Lipschitz-normalized residual GCN (weight norms, Jacobian bound), GCNII, and that every preset trains."""
import math
from pathlib import Path

import dgl
import pytest
import torch
from dgl_ssm.experiment import seed_everything
from dgl_ssm.models import build_model
from dgl_ssm.models.baselines import GCNII, LipschitzResidualBlock, lipschitz_bound
from dgl_ssm.train import NodeClassificationTask, Trainer, make_optimizer


def community_graph(n=60, classes=3, seed=0):
    """Homophilous graph (dense within a class, sparse across) with noisy one-hot features and random splits."""
    gen = torch.Generator().manual_seed(seed)
    label = torch.arange(n) % classes
    same = label[:, None] == label[None, :]
    prob = torch.where(same, torch.tensor(0.2), torch.tensor(0.01))
    adj = torch.triu(torch.rand(n, n, generator=gen) < prob, diagonal=1)
    src, dst = adj.nonzero(as_tuple=True)
    g = dgl.add_self_loop(dgl.to_bidirected(dgl.graph((src, dst), num_nodes=n)))
    g.ndata["feat"] = torch.nn.functional.one_hot(label, classes).float() + torch.randn(n, classes, generator=gen)
    g.ndata["label"] = label
    perm = torch.randperm(n, generator=gen)
    for i, split in enumerate(("train", "val", "test")):
        g.ndata[f"{split}_mask"] = torch.zeros(n, dtype=torch.bool).index_fill_(0, perm[i * n // 3 : (i + 1) * n // 3], True)
    return g


def small_undirected_graph(n=6, d=4, seed=0):
    g = dgl.add_self_loop(dgl.to_bidirected(dgl.graph(([0, 1, 2, 3, 4, 0], [1, 2, 3, 4, 5, 3]), num_nodes=n)))
    return g, torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def test_lipschitz_residual_weights_have_spectral_norm_c():
    g, x = small_undirected_graph(d=8)
    c = 0.5  # well below the norm of an un-normalized 8x8 Glorot matrix (about 1.5-2)
    model = build_model("lip-res-gcn", 8, 8, 3, num_layers=4, lipschitz=c)
    model.train()
    for _ in range(200):  # one power iteration per training forward; converge it
        model(g, x)
    for layer in model.layers:
        assert isinstance(layer, LipschitzResidualBlock) and layer.alpha == pytest.approx(1 / 4)
        raw = layer.conv.parametrizations.weight.original
        assert torch.linalg.matrix_norm(raw, 2) > 1.0  # the normalization is what brings it down
        norm = torch.linalg.matrix_norm(layer.conv.weight, 2)
        assert norm <= c * (1 + 1e-5) and norm >= c * (1 - 1e-3)


def test_lipschitz_residual_stack_respects_product_bound():
    g, x = small_undirected_graph()
    model = build_model("lip-res-gcn", 4, 4, 2, num_layers=6, lipschitz=3.0, activation="tanh")
    model.train()
    for _ in range(30):
        model(g, x)
    model.eval()
    bound = lipschitz_bound(model)
    assert bound == pytest.approx((1 + 3.0 / 6) ** 6) and bound <= math.exp(3.0)

    def stack(h):
        return model.propagate(g, h)

    jac = torch.autograd.functional.jacobian(stack, x).reshape(x.numel(), x.numel())
    assert torch.linalg.matrix_norm(jac, 2) <= bound * (1 + 1e-4)

    # the same estimate catches a stack whose weights are not normalized
    plain = build_model("res-gcn", 4, 4, 2, num_layers=6, activation="identity", block_options={"alpha": 0.5})
    with torch.no_grad():
        for layer in plain.layers:
            layer.conv.weight.copy_(3.0 * torch.eye(4))
    jac = torch.autograd.functional.jacobian(lambda h: plain.propagate(g, h), x).reshape(x.numel(), x.numel())
    assert torch.linalg.matrix_norm(jac, 2) > bound


def test_lipschitz_bound_and_block_errors():
    with pytest.raises(ValueError, match="LipschitzResidualBlock"):
        lipschitz_bound(build_model("res-gcn", 4, 4, 2, num_layers=2))
    with pytest.raises(ValueError, match="lipschitz must be > 0"):
        build_model("lip-res-gcn", 4, 4, 2, num_layers=2, lipschitz=0.0)
    assert build_model("lip-res-gcn", 4, 4, 2, num_layers=2, alpha=0.3).layers[1].alpha == 0.3
    assert build_model("lip-res-gcn", 4, 4, 2, num_layers=2, block_options={"alpha": 0.4}).layers[1].alpha == 0.4
    # one value twice: the block option would win unseen
    with pytest.raises(ValueError, match="lip-res-gcn: alpha, lipschitz given both as an argument and in block_options"):
        build_model("lip-res-gcn", 4, 4, 2, num_layers=2, alpha=0.3, lipschitz=1.0,
                    block_options={"alpha": 0.4, "lipschitz": 2.0})


def layer_has_no_bias(model) -> bool:
    return all(getattr(layer, "bias", None) is None for layer in model.layers)


def test_node_classification_baselines_have_their_papers_shapes():
    """Kipf & Welling's GCN on Cora with hidden 16: exactly 1433x16 and 16x7 plus biases; GAT: 8 heads x 8, 1 head out;
    GCNII: Linear(F, d), L square layers without bias, Linear(d, C)."""
    shapes = lambda m: [tuple(p.shape) for p in m.parameters()]
    assert shapes(build_model("kipf-gcn", 1433, 16, 7, 2)) == [(1433, 16), (16,), (16, 7), (7,)]
    assert shapes(build_model("kipf-gcn", 1433, 16, 7, 3)) == [(1433, 16), (16,), (16, 16), (16,), (16, 7), (7,)]
    gat = build_model("velickovic-gat", 1433, 8, 7, 2)
    assert shapes(gat) == [(1, 8, 8), (1, 8, 8), (64,), (64, 1433), (1, 1, 7), (1, 1, 7), (7,), (7, 64)]
    assert gat.layers[0].feat_drop.p == gat.layers[0].attn_drop.p == 0.6
    gcnii = build_model("gcnii", 1433, 64, 7, 64)
    assert shapes(gcnii) == [(64, 1433), (64,)] + [(64, 64)] * 64 + [(7, 64), (7,)]
    # GraphSAGE as DGL's full-graph example: SAGEConv (gcn aggregator: one weight, bias first), 1433 -> 16 -> 7
    sage = build_model("dgl-sage", 1433, 16, 7, 2)
    assert shapes(sage) == [(16,), (16, 1433), (7,), (7, 16)]
    assert [layer._aggre_type for layer in sage.layers] == ["gcn", "gcn"] and sage.dropout.p == 0.5


def test_platonov_gcn_has_their_shapes_and_formula():
    """Platonov et al.'s GCN (their model.py/modules.py): Linear(F, d), per block LayerNorm and a two-layer
    feed-forward part of width d (the propagation has no weight), LayerNorm and Linear(d, C) at the end; and the
    forward pass against a dense float64 formula, H0 = gelu(X W + b), H <- H + FFN(Â LN(H)), Y = LN(H) W + b, with
    Â = D^-1/2 (A + I) D^-1/2."""
    shapes = lambda m: [tuple(p.shape) for p in m.parameters()]
    block = [(512,), (512,), (512, 512), (512,), (512, 512), (512,)]
    assert shapes(build_model("platonov-gcn", 2325, 512, 5, 2)) == (
        [(512, 2325), (512,)] + block * 2 + [(512,), (512,), (5, 512), (5,)])
    g, x = small_undirected_graph(d=5)
    model = build_model("platonov-gcn", 5, 6, 3, num_layers=2, dropout=0.2).eval()
    with torch.no_grad():  # LayerNorm starts as the identity map: give it weights that show
        for p in model.parameters():
            if p.dim() == 1:
                p.normal_()
    src, dst = g.edges()
    adj = torch.zeros(6, 6, dtype=torch.float64)
    adj[dst, src] = 1.0  # self-loops included
    deg = adj.sum(1)
    a_hat = adj / torch.sqrt(deg[:, None] * deg[None, :])
    lin = lambda m, h: h @ m.weight.double().T + m.bias.double()
    norm = lambda m, h: torch.nn.functional.layer_norm(h, (6,), m.weight.double(), m.bias.double(), m.eps)
    gelu = torch.nn.functional.gelu
    h = gelu(lin(model.encoder, x.double()))
    for layer in model.layers:
        h = h + lin(layer.ffn[3], gelu(lin(layer.ffn[0], a_hat @ norm(layer.norm, h))))
    expected = lin(model.decoder[1], norm(model.decoder[0], h))
    torch.testing.assert_close(model(g, x).double(), expected, rtol=1e-5, atol=1e-5)
    assert [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)] == [0.2] * 5


def test_dgl_example_sage_is_the_mean_over_the_closed_neighbourhood():
    """Against a dense float64 formula: layer 1 is relu(((A + I) X) / (deg_in + 1) W^T + b) for a graph without
    self-loops (DGL's gcn aggregator), and the last layer has no activation."""
    import dgl

    g = dgl.graph(([0, 1, 2, 3, 0], [1, 2, 3, 0, 2]))
    x = torch.randn(4, 5)
    model = build_model("dgl-sage", 5, 6, 3, 2).eval()
    adj = torch.zeros(4, 4, dtype=torch.float64)
    src, dst = g.edges()
    adj[dst, src] = 1.0
    closed = (adj + torch.eye(4, dtype=torch.float64)) / (adj.sum(1, keepdim=True) + 1)
    layer = lambda conv, h: (closed @ h) @ conv.fc_neigh.weight.double().T + conv.bias.double()
    expected = layer(model.layers[1], torch.relu(layer(model.layers[0], x.double())))
    torch.testing.assert_close(model(g, x).double(), expected, rtol=1e-5, atol=1e-6)


def test_gcnii_layers_follow_the_paper():
    g, x = small_undirected_graph(d=5)
    model = build_model("gcnii", 5, 8, 3, num_layers=4, alpha=0.2, lambda_=0.5)
    assert isinstance(model, GCNII) and len(model.layers) == 4
    assert [layer.beta for layer in model.layers] == pytest.approx([math.log(0.5 / l + 1) for l in range(1, 5)])
    model.eval()
    states = model.hidden_states(g, x)
    assert len(states) == 5 and model(g, x).shape == (6, 3)
    # Eq. 5 by hand for the first layer: relu(((1-a) Â H + a H0)((1-b) I + b W)); no bias, as the authors' code
    assert layer_has_no_bias(model) and all(float(l.weight1.abs().max()) <= 8 ** -0.5 for l in model.layers)
    h0 = states[0]
    deg = g.in_degrees().float().clamp(min=1) ** -0.5
    adj = torch.zeros(6, 6)
    src, dst = g.edges()
    adj.index_put_((dst, src), torch.ones(len(src)), accumulate=True)
    a_hat = deg[:, None] * adj * deg[None, :]
    layer = model.layers[0]
    support = 0.8 * a_hat @ h0 + 0.2 * h0
    expected = torch.relu((1 - layer.beta) * support + layer.beta * support @ layer.weight1)
    assert torch.allclose(states[1], expected, atol=1e-5)


def test_gcnii_graph_readout_and_rejected_options():
    graphs = dgl.batch([small_undirected_graph()[0], small_undirected_graph()[0]])
    model = build_model("gcnii", 4, 8, 2, num_layers=3, readout="mean")
    assert model(graphs, torch.randn(12, 4)).shape == (2, 2)
    with pytest.raises(TypeError):
        build_model("gcnii", 4, 8, 2, num_layers=3, block_options={"alpha": 0.1})


@pytest.mark.parametrize("name", ["gat", "gat-ssm", "gin", "gin-ssm", "lip-res-gcn", "gcnii", "gcnii*"])
def test_preset_trains_on_toy_graph(name):
    g = community_graph()
    seed_everything(0)
    options = {"block_options": {"input_matrix": 0.1}} if name.endswith("ssm") else {}
    if name == "gcnii*":
        name, options = "gcnii", {"variant": True}
    model = build_model(name, 3, 16, 3, num_layers=4, dropout=0.0, **options)
    result = Trainer(model, NodeClassificationTask(g), make_optimizer(model, lr=0.01), max_epochs=60, patience=60, progress=False).fit()
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.test["accuracy"] > 0.6  # chance is 1/3


@pytest.mark.slow
def test_kipf_gcn_reaches_its_published_accuracy_on_cora(raw_data, tmp_path):
    """A researcher's first check: GCN at 2 layers on Cora, Kipf & Welling's configuration, >= 80 % mean of 3 seeds
    (published 81.5, Kipf & Welling 2017, Table 2)."""
    from omegaconf import OmegaConf

    from dgl_ssm.data import load_node_graph
    from dgl_ssm.train import build_node_classifier, fit_node_classifier

    raw_data("planetoid/ind.cora.x")
    protocol = OmegaConf.load(Path(__file__).resolve().parents[2] / "dgl_ssm/conf/protocol/kipf2017.yaml")
    g = load_node_graph("cora", root=tmp_path)
    accs = []
    for seed in range(3):
        model = build_node_classifier(g, "kipf-gcn", 2, seed, hidden=protocol.hidden, dropout=protocol.dropout)
        _, fit = fit_node_classifier(g, model, lr=protocol.lr, weight_decay=protocol.weight_decay,
                                     weight_decay_groups=dict(protocol.weight_decay_groups), max_epochs=protocol.epochs,
                                     patience=protocol.patience, monitor=protocol.monitor)
        accs.append(fit.test["accuracy"])
    assert sum(accs) / 3 >= 0.80, accs


def test_gcnii_star_is_the_authors_variant_in_float64():
    """GCNII* (Chen et al. 2020, Eq. 6; chennnM/GCNII model.py with --variant) against the authors' formula in dense
    float64: theta * (Â H W1 + H0 W2) + (1 - theta) * ((1-a) Â H + a H0), with the raw (trained) weights W1, W2."""
    g, x = small_undirected_graph(d=5)
    model = build_model("gcnii", 5, 8, 3, num_layers=3, alpha=0.3, lambda_=1.0, variant=True).double().eval()
    layer = model.layers[0]
    raw1, raw2 = layer.parametrizations.weight1.original, layer.parametrizations.weight2.original
    assert {n for n, _ in model.named_parameters() if "layers.0." in n} == {
        "layers.0.parametrizations.weight1.original", "layers.0.parametrizations.weight2.original"}
    assert float(raw1.abs().max()) <= 8 ** -0.5 and float(raw2.abs().max()) <= 8 ** -0.5  # U(-1/sqrt(d), 1/sqrt(d))
    states = model.hidden_states(g, x.double())
    deg = g.in_degrees().double().clamp(min=1) ** -0.5
    adj = torch.zeros(6, 6, dtype=torch.float64)
    src, dst = g.edges()
    adj.index_put_((dst, src), torch.ones(len(src), dtype=torch.float64), accumulate=True)
    a_hat = deg[:, None] * adj * deg[None, :]
    h0 = states[0]
    theta = math.log(1.0 / 1 + 1)
    expected = torch.relu(theta * (a_hat @ h0 @ raw1 + h0 @ raw2) + (1 - theta) * (0.7 * a_hat @ h0 + 0.3 * h0))
    torch.testing.assert_close(states[1], expected, rtol=1e-10, atol=1e-12)
    plain = build_model("gcnii", 5, 8, 3, num_layers=3)
    count = lambda m: sum(p.numel() for p in m.layers.parameters())  # noqa: E731
    assert count(model) == 2 * count(plain) == 2 * 3 * 64


def test_lrgb_gcn_is_graphgyms_general_layer_stack_in_float64():
    """LRGB's GCN (lrgb-gcn) against GraphGym's layers in dense float64: every layer is a GeneralLayer, GCNConv
    without bias, BatchNorm1d over the nodes (batch statistics in training), ReLU, then each node state divided by
    its L2 norm (has_l2norm = gnn.l2norm); the stage normalises again (a no-op), mean pool, Linear."""
    g, x = small_undirected_graph(d=5)
    g = dgl.batch([g, g])
    x = torch.cat([x, x.flip(0)]).double()
    model = build_model("lrgb-gcn", 5, 8, 3, num_layers=3, readout="mean").double().train()
    gen = torch.Generator().manual_seed(1)
    for layer in model.layers:  # non-trivial affine batch norm: gamma, beta drawn away from 1, 0
        with torch.no_grad():
            layer.norm.weight.copy_(torch.randn(8, generator=gen, dtype=torch.float64))
            layer.norm.bias.copy_(torch.randn(8, generator=gen, dtype=torch.float64))
    deg = g.in_degrees().double() ** -0.5
    adj = torch.zeros(12, 12, dtype=torch.float64)
    src, dst = g.edges()
    adj.index_put_((dst, src), torch.ones(len(src), dtype=torch.float64), accumulate=True)
    a_hat = deg[:, None] * adj * deg[None, :]
    h = model.encoder(x)
    for layer in model.layers:
        assert layer.conv.bias is None
        z = a_hat @ h @ layer.conv.weight
        z = (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + 1e-5) * layer.norm.weight + layer.norm.bias
        h = torch.relu(z)
        h = h / h.norm(dim=1, keepdim=True).clamp_min(1e-12)
    expected = model.decoder(torch.stack([h[:6].mean(0), h[6:].mean(0)]))
    torch.testing.assert_close(model(g, x), expected, rtol=1e-10, atol=1e-12)
    states = model.hidden_states(g, x)[1:]
    assert all(torch.allclose(s.norm(dim=1)[s.norm(dim=1) > 0], torch.ones(1, dtype=torch.float64)) for s in states)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_gcnii_star_refuses_an_alpha_that_removes_a_term(alpha):
    with pytest.raises(ValueError, match="0 < alpha < 1"):
        build_model("gcnii", 5, 8, 3, num_layers=2, alpha=alpha, variant=True)
