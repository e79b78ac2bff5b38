"""The DGL-internal fast paths of dgl_ssm._compat give what the public API gives."""
import dgl
import pytest
import torch

from dgl_ssm import _compat
from dgl_ssm.transforms import KHopRewire


def _graphs():
    torch.manual_seed(0)
    g = dgl.rand_graph(12, 30)
    g.ndata["feat"] = torch.randn(12, 3)
    g.edata["w"] = torch.randn(30, 2)
    empty = dgl.graph(([], []), num_nodes=4)
    empty.ndata["feat"] = torch.randn(4, 3)
    empty.edata["w"] = torch.zeros(0, 2)
    return [g, empty, dgl.batch([g, g]), dgl.batch([empty, g])]


@pytest.mark.parametrize("which", range(4))
@pytest.mark.parametrize("max_hop", [2, None])
def test_internal_and_public_paths_agree(monkeypatch, which, max_hop):
    g = _graphs()[which]
    fast = KHopRewire(max_hop)(g)
    assert _compat.edge_arrays(g)[0].tolist() == g.edges()[0].tolist()
    monkeypatch.setattr(_compat, "INTERNALS", False)
    slow = KHopRewire(max_hop)(g)
    assert [t.tolist() for t in fast.edges()] == [t.tolist() for t in slow.edges()]
    assert fast.num_nodes() == slow.num_nodes() and fast.batch_size == slow.batch_size
    assert fast.batch_num_edges().tolist() == slow.batch_num_edges().tolist()
    for key in ("hop", "w"):
        assert torch.equal(fast.edata[key], slow.edata[key])
    assert torch.equal(fast.ndata["feat"], slow.ndata["feat"])


def test_structure_token_changes_with_the_graph():
    g = dgl.graph(([0], [1]))
    token = _compat.graph_index(g)
    assert _compat.graph_index(g) == token
    g.add_edges([1], [0])
    assert _compat.graph_index(g) != token
    assert _compat.num_graphs_in_batch(g) == 1 and _compat.num_graphs_in_batch(dgl.batch([g, g])) == 2


def test_internals_only_on_checked_versions(monkeypatch):
    monkeypatch.setenv("DGL_SSM_PUBLIC_DGL_ONLY", "1")
    assert not _compat._use_internals()
    monkeypatch.delenv("DGL_SSM_PUBLIC_DGL_ONLY")
    monkeypatch.setattr(dgl, "__version__", "3.0.0")
    assert not _compat._use_internals()
    monkeypatch.setattr(dgl, "__version__", "2.4.0+cu124")
    assert _compat._use_internals()


def test_ring_cache_with_public_paths_only(monkeypatch):
    from dgl_ssm.nn.khop import _RING_CACHE, ring_graph

    monkeypatch.setattr(_compat, "INTERNALS", False)
    g = KHopRewire(2)(dgl.graph(([0, 1], [1, 2])))
    first = ring_graph(g, [1, 2])
    assert ring_graph(g, [1, 2]) is first
    g.add_edges([2], [0], data={"hop": torch.tensor([2])})
    assert ring_graph(g, [1, 2]) is not first
    del g, first
    import gc

    gc.collect()
    assert len(_RING_CACHE) == 0  # the cache never keeps a graph alive
