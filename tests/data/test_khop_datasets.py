"""KHopRewire as a cached dataset pre-transform, and recipes picking the rewired variant per model."""
import dgl
import torch

from dgl_ssm.data import GraphPropertyDataset
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


def test_study_loads_each_dataset_variant_once(tmp_path, compose_config):
    """Plain models see the input graph; k-hop presets the rewired one; each variant is built once per process."""
    from dgl_ssm.models import needs_hop_edges
    from dgl_ssm.studies.cells import cell_data
    from dgl_ssm.train.cell import graph_datasets, rewiring

    study = compose_config("config", *["study=ring_quick", "study.ring_graphs=20", "study.ring_classes=2"]).study
    cell = {"model": "gcn", "dataset": "ring", "ring_size": 6, "seed": 0}
    data = cell_data(study, cell, tmp_path)
    plain, info = graph_datasets("ring", data, rewiring("gcn", {}, 3)[0])
    assert "hop" not in plain["train"][0][0].edata and info.in_feats == 2 and info.readout is None and info.target_mask
    g = plain["train"][0][0]
    assert g.has_edges_between(g.nodes(), g.nodes()).all(), "every node has its self-loop (cached pre-transform)"
    for name in ("kgcn-ssm", "drew-gcn", "drew-gcn-delay"):
        assert needs_hop_edges(name)
        rewired, _ = graph_datasets("ring", data, rewiring(name, {}, 2)[0])
        assert rewired["train"][0][0].edata["hop"].max() == 2
    assert graph_datasets("ring", data, rewiring("gcn-ssm", {}, 2)[0])[0] is plain and not needs_hop_edges("gcn-ssm")
