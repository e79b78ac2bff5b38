"""GPU smoke test (issue 16): SSMConv, KHopConv and one epoch of a graph task on CUDA.

It cannot run on this project's machines: DGL's CUDA wheels are not on the
package index, so neither CI nor any machine here has a CUDA build of DGL
(and CI has no GPU). It is skipped there, and is meant for a researcher's own
CUDA environment: ``pytest -m gpu``.
"""
import pytest
import torch

pytestmark = pytest.mark.gpu


def _cuda_dgl() -> bool:
    if not torch.cuda.is_available():
        return False
    import dgl

    try:
        dgl.graph(([0], [1])).to("cuda")
    except Exception:  # DGL's CPU builds raise a DGLError here
        return False
    return True


needs_cuda = pytest.mark.skipif(not _cuda_dgl(), reason="needs CUDA and a CUDA build of DGL (none on this project's machines)")


@needs_cuda
def test_layers_and_one_graph_epoch_on_cuda(tmp_path):
    import dgl
    from dgl.nn import GraphConv

    from dgl_ssm.data import GraphPropertyDataset, self_loops
    from dgl_ssm.models import build_model
    from dgl_ssm.nn import KHopConv, SSMConv
    from dgl_ssm.train import GraphTask, make_optimizer
    from dgl_ssm.transforms import KHopRewire

    g = KHopRewire(3)(dgl.graph(([0, 1, 2, 3], [1, 2, 3, 4]))).to("cuda")
    x = torch.randn(5, 8, device="cuda", requires_grad=True)
    out = SSMConv(GraphConv(8, 8, allow_zero_in_degree=True), 8, state_transition=0.9).cuda()(g, x)
    out = out + KHopConv(8, 8, max_hop=3, layer=2).cuda()(g, x)
    out.sum().backward()
    assert out.device.type == "cuda" and x.grad is not None and torch.isfinite(x.grad).all()
    sets = {s: GraphPropertyDataset("diameter", s, root=tmp_path, sizes=(32, 8, 8), pre_transform=self_loops())
            for s in ("train", "val", "test")}
    model = build_model("gcn-ssm", 2, 8, 1, 3, readout="max").cuda()
    task = GraphTask.for_datasets(sets, batch_size=16, device="cuda")
    loss = task.train_epoch(model, make_optimizer(model, lr=1e-3))
    assert loss == loss and task.evaluate(model)["val"]["loss"] >= 0
