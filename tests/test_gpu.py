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


@needs_cuda
def test_the_diagnostics_of_over_squashing_take_a_cuda_graph():
    """sensitivity, hop distances and effective resistance of a graph on CUDA (resistance is computed on the CPU, in
    float64, and returned there)."""
    import dgl

    from dgl_ssm.analysis import hop_distances, resistance_distances, sensitivity, total_effective_resistance
    from dgl_ssm.models import build_model

    g = dgl.add_self_loop(dgl.to_bidirected(dgl.graph(([0, 1, 2, 3], [1, 2, 3, 4])))).to("cuda")
    model = build_model("gcn-ssm", 4, 8, 2, num_layers=3).cuda()
    sens = sensitivity(model, g, torch.randn(5, 4, device="cuda"), [0])
    assert sens.shape == (1, 5) and torch.isfinite(sens).all()
    assert hop_distances(g, [0]).tolist() == [[0, 1, 2, 3, 4]]
    assert resistance_distances(g, [0])[0].tolist() == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0])
    assert float(total_effective_resistance(g)) == pytest.approx((5 ** 3 - 5) / 6)


needs_torch_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@needs_torch_cuda
@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
def test_mixed_precision_steps_on_cuda(precision):
    """The CUDA paths of dgl_ssm.train.precision without DGL's kernels: a torch model, the loss of the float32 output,
    float16 with the gradient scaler (its scale applied at the output; scaler.step unscales) or bfloat16."""
    from dgl_ssm.train.precision import Precision

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)).cuda()
    reference = [p.detach().clone() for p in model.parameters()]
    p = Precision(precision, "cuda")
    optimizer = p.wrap_optimizer(torch.optim.SGD(model.parameters(), lr=0.1))
    x = torch.randn(32, 8, device="cuda")
    out = p.wrap(model)(x)
    assert out.dtype == torch.float32
    optimizer.zero_grad()
    out.square().mean().backward()
    grads = [q.grad.detach().clone() for q in model.parameters()]
    optimizer.step()
    # the step used the true (unscaled) gradient: compare with a float32 step of the same loss, loosely (fp16 forward)
    model32 = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)).cuda()
    for q, r in zip(model32.parameters(), reference):
        q.data.copy_(r)
    model32(x).square().mean().backward()
    for g, q in zip(grads, model32.parameters()):
        scale = p.scaler.get_scale() if p.scaler is not None else 1.0
        assert torch.allclose(g / scale, q.grad, rtol=0.05, atol=1e-3)
    assert all(q.dtype == torch.float32 for q in model.parameters())


@needs_cuda
def test_a_graph_epoch_under_16_mixed_on_cuda(tmp_path):
    from dgl_ssm.data import GraphPropertyDataset, self_loops
    from dgl_ssm.models import build_model
    from dgl_ssm.train import GraphTask, Trainer, make_optimizer

    sets = {s: GraphPropertyDataset("diameter", s, root=tmp_path, sizes=(32, 8, 8), pre_transform=self_loops())
            for s in ("train", "val", "test")}
    model = build_model("gcn-ssm", 2, 8, 1, 3, readout="max").cuda()
    task = GraphTask.for_datasets(sets, batch_size=16, device="cuda")
    result = Trainer(model, task, make_optimizer(model, lr=1e-3), max_epochs=2, patience=2, progress=False,
                     precision="16-mixed").fit()
    assert result.status == "ok"


@needs_torch_cuda
def test_a_run_on_cuda_records_no_cpu_time():
    """On a GPU the host's CPU seconds are not what an epoch costs: the history has no ``cpu_s``, ``train_cpu_s`` is
    None, and tables fall back to the wall-clock epoch."""
    from dgl_ssm.train import Trainer

    class Task:
        metric, higher_is_better = "accuracy", True

        def train_epoch(self, model, optimizer):
            return float(model(torch.ones(1, 2, device="cuda")).sum())

        def evaluate(self, model, splits):
            return {s: {"loss": 0.5, "accuracy": 0.5} for s in splits}

    model = torch.nn.Linear(2, 1).cuda()
    result = Trainer(model, Task(), torch.optim.SGD(model.parameters(), lr=0.1), max_epochs=2, progress=False).fit()
    assert all("cpu_s" not in h for h in result.history) and result.train_cpu_s is None
    assert result.summary()["train_cpu_s"] is None and result.train_time_s > 0
