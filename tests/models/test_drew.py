"""DRew-GCN: delayed ring inputs (autograd dependency check), presets, bad input."""
import dgl
import pytest
import torch

from dgl_ssm.models import build_model
from dgl_ssm.models.drew import DRewGCN, delay
from dgl_ssm.transforms import KHopRewire

H = 5


def path_graph(n=10):
    src = torch.arange(n - 1)
    return KHopRewire(max_hop=None)(dgl.graph((src, src + 1), num_nodes=n))


def dependencies(model, graph, layer):
    """Indices j of the states x_j that the update of ``layer`` reads (non-zero gradient)."""
    states = [torch.randn(graph.num_nodes(), H, requires_grad=True) for _ in range(layer + 1)]
    model.update(graph, states, layer).pow(2).sum().backward()
    return [j for j, s in enumerate(states) if s.grad is not None and s.grad.abs().sum() > 0]


def test_delay_function():
    assert [delay(k, 1) for k in range(1, 5)] == [0, 1, 2, 3]
    assert [delay(k, 2) for k in range(1, 5)] == [0, 0, 1, 2]
    assert delay(7, None) == delay(7, float("inf")) == 0


@pytest.mark.parametrize("layer", [0, 1, 3, 5])
def test_no_delay_reads_only_current_state(layer):
    model = DRewGCN(3, H, 2, num_layers=6, nu=None, activation="tanh")
    assert dependencies(model, path_graph(), layer) == [layer]


@pytest.mark.parametrize("layer,expected", [(0, [0]), (1, [0, 1]), (3, [0, 1, 2, 3]), (5, [2, 3, 4, 5])])
def test_delay_nu1_ring_k_reads_state_l_minus_k_plus_1(layer, expected):
    """nu=1: ring k at layer l reads x_{l-(k-1)}; with k_max=4, layer 5 reads x_5..x_2."""
    model = DRewGCN(3, H, 2, num_layers=6, nu=1, max_hop=4, activation="tanh")
    assert dependencies(model, path_graph(), layer) == expected


def test_delay_clamps_at_zero():
    model = DRewGCN(3, H, 2, num_layers=4, nu=1, activation="tanh")
    assert model.layers[1].rings == [1, 2]
    g = path_graph()
    x0, x1 = torch.randn(10, H), torch.randn(10, H)
    # layer 1 (rings 1, 2): ring 2 reads x_{1-1} = x_0; a history with x_0 replaced changes the output
    assert not torch.allclose(model.update(g, [x0, x1], 1), model.update(g, [x1, x1], 1))
    hs = model.hidden_states(g, torch.randn(10, 3))
    assert len(hs) == 5 and all(h.shape == (10, H) for h in hs)


@pytest.mark.parametrize("name,nu", [("drew-gcn", None), ("drew-gcn-delay", 1)])
def test_presets_on_batched_rewired_graph(name, nu):
    graphs = [dgl.to_bidirected(dgl.rand_graph(n, 2 * n)) for n in (6, 9, 4)]
    bg = KHopRewire(max_hop=4)(dgl.batch(graphs))
    model = build_model(name, 3, 8, 2, num_layers=4, readout="sum", dropout=0.1)
    assert isinstance(model, DRewGCN) and model.nu == nu
    out = model(bg, torch.randn(bg.num_nodes(), 3))
    assert out.shape == (3, 2)
    out.sum().backward()
    assert model.layers[3].weight.grad is not None


def test_delay_changes_the_output():
    g = path_graph()
    torch.manual_seed(1)
    a = DRewGCN(3, H, 2, num_layers=4, nu=None)
    b = DRewGCN(3, H, 2, num_layers=4, nu=1)
    b.load_state_dict(a.state_dict())
    x = torch.randn(10, 3)
    assert not torch.allclose(a(g, x), b(g, x))


def test_missing_hop_and_bad_arguments():
    model = DRewGCN(3, H, 2, num_layers=2)
    with pytest.raises(dgl.DGLError, match="KHopRewire"):
        model(dgl.graph(([0, 1], [1, 2])), torch.randn(3, 3))
    with pytest.raises(ValueError, match="nu"):
        DRewGCN(3, H, 2, num_layers=2, nu=0.5)
    with pytest.raises(ValueError, match="num_layers"):
        DRewGCN(3, H, 2, num_layers=0)


def test_drew_gcn_lrgb_is_drews_code_in_float64():
    """drew-gcn-lrgb against DRew's code (lrgb/graphgps/stage/drew_gnn.py, each ring a GraphGym GeneralLayer around
    PyG's GCNConv) in dense float64: ring k of layer t reads x_(t - max(k - nu, 0)) through (A_k + I) with symmetric
    degree normalisation, then batch norm (batch statistics), ReLU and L2 on each ring's term; the terms sum,
    x_(t+1) = L2(x_t + ReLU(sum)); layer t reads rings 1..t+1."""
    tree = dgl.graph(([0, 1, 2, 3, 1], [1, 2, 3, 4, 5]), num_nodes=6)
    path = dgl.graph((torch.arange(6), torch.arange(1, 7)), num_nodes=7)
    g = KHopRewire(max_hop=3)(dgl.batch([dgl.to_bidirected(tree), dgl.to_bidirected(path)]))
    assert set(g.edata["hop"].tolist()) == {1, 2, 3}
    n = g.num_nodes()
    torch.manual_seed(0)
    model = build_model("drew-gcn-lrgb", 3, 4, 2, num_layers=3, max_hop=3).double().train()
    with torch.no_grad():
        for layer in model.ring_norms:
            for bn in layer:
                bn.weight.normal_(), bn.bias.normal_()
    assert all(conv.bias is None for conv in model.layers)
    src, dst, hop = *g.edges(), g.edata["hop"]

    def a_tilde(k):
        a = torch.eye(n, dtype=torch.float64)
        m = (hop == k) & (src != dst)
        a[src[m], dst[m]] = 1.0
        dout, din = a.sum(1), a.sum(0)
        return (a / dout.sqrt()[:, None] / din.sqrt()[None, :]).T  # out[v] = sum_u a_tilde[v, u] x[u]

    def l2(x):
        return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)

    x = torch.randn(n, 3, dtype=torch.float64)
    states = [model.encoder(x)]
    for t, conv in enumerate(model.layers):
        total = 0
        for i, k in enumerate(conv.rings):
            z = a_tilde(k) @ states[t - max(k - 1, 0)] @ conv.weight[i]
            bn = model.ring_norms[t][i]
            z = (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + bn.eps) * bn.weight + bn.bias
            total = total + l2(torch.relu(z))
        states.append(l2(states[t] + torch.relu(total)))
    got = model.hidden_states(g, x)
    for mine, theirs in zip(got, states):
        torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-12)
    assert [conv.rings for conv in model.layers] == [[1], [1, 2], [1, 2, 3]]


def test_drew_ring_options_are_checked():
    with pytest.raises(ValueError, match="norm must be 'batch' or None"):
        DRewGCN(3, H, 2, num_layers=2, norm="layer")
    with pytest.raises(ValueError, match="self_loops must be one of"):
        DRewGCN(3, H, 2, num_layers=2, self_loops="all")
    with pytest.raises(ValueError, match="l2norm must be True or False, got 'no'"):
        DRewGCN(3, H, 2, num_layers=2, l2norm="no")
    with pytest.raises(ValueError, match="l2norm must be True or False"):
        build_model("gcn", 3, H, 2, num_layers=2, block_options={"l2norm": "false"})
