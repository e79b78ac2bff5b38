"""KHopRewire as a cached dataset pre-transform, and recipes picking the rewired variant per model."""
import dgl
import torch

from dgl_ssm.data import GraphPropertyDataset, RingTransferDataset
from dgl_ssm.train.recipe import DatasetVariants
from dgl_ssm.transforms import KHopRewire


def test_graph_property_rewired_once_and_cached(tmp_path):
    sizes = (12, 4, 4)
    plain = GraphPropertyDataset("sssp", "train", root=tmp_path, sizes=sizes)
    rewired = GraphPropertyDataset("sssp", "train", root=tmp_path, sizes=sizes, pre_transform=KHopRewire(2))
    assert len(rewired) == len(plain)
    for (g, y), (h, z) in zip(plain, rewired):
        expected = KHopRewire(2)(g)
        assert torch.equal(h.ndata["feat"], g.ndata["feat"]) and torch.equal(y, z)
        assert sorted(zip(*map(torch.Tensor.tolist, h.edges()), h.edata["hop"].tolist())) == sorted(
            zip(*map(torch.Tensor.tolist, expected.edges()), expected.edata["hop"].tolist())
        )
    cached = list(tmp_path.rglob("pre_khop-max_hop2*"))
    assert cached, "the rewiring was not cached"

    class Exploding(KHopRewire):
        def __call__(self, g):
            raise AssertionError("cached rewiring must be read from disk, not recomputed")

    again = GraphPropertyDataset("sssp", "train", root=tmp_path, sizes=sizes, pre_transform=Exploding(2))
    assert again[0][0].num_edges() == rewired[0][0].num_edges()


def test_list_call_equals_batched_call():
    graphs = [dgl.rand_graph(8, 14), dgl.rand_graph(5, 6)]
    listed = KHopRewire(3)(graphs)
    batched = dgl.unbatch(KHopRewire(3)(dgl.batch(graphs)))
    for a, b in zip(listed, batched):
        assert torch.equal(torch.stack(a.edges()), torch.stack(b.edges())) and torch.equal(a.edata["hop"], b.edata["hop"])


def test_dataset_variants_rewire_only_for_hop_models(tmp_path):
    calls = []

    def load(pre):
        calls.append(None if pre is None else pre.cache_key)
        return {s: RingTransferDataset(6, 20, 2, split=s, root=tmp_path, pre_transform=pre) for s in ("train", "val", "test")}

    variants = DatasetVariants(load, max_hop=2)
    plain = variants.for_model("gcn")
    assert "hop" not in plain["train"][0][0].edata
    for name in ("kgcn-ssm", "drew-gcn", "drew-gcn-delay"):
        assert variants.for_model(name)["train"][0][0].edata["hop"].max() == 2
    assert variants.for_model("gcn-ssm") is plain
    assert calls == [None, "khop-max_hop2"]
