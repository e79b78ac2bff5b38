"""Mixed precision (dgl_ssm.train.precision): every preset under bfloat16 autocast, float32 where it must stay
float32, refusals, and checkpoints that record their precision."""
import dgl
import pytest
import torch
import torch.nn.functional as F

from dgl_ssm.models import available_models, build_model, needs_hop_edges
from dgl_ssm.train import Trainer, make_optimizer
from dgl_ssm.train.precision import Precision
from dgl_ssm.transforms import KHopRewire


def _graphs():
    g = dgl.rand_graph(40, 160, seed=0) if "seed" in dgl.rand_graph.__code__.co_varnames else dgl.rand_graph(40, 160)
    return dgl.add_self_loop(g), KHopRewire(3)(g)


@pytest.mark.parametrize("name", available_models())
def test_every_preset_trains_under_bf16_autocast(name):
    """Forward and backward of every preset under "bf16-mixed" on the CPU: the output reaches the loss in float32,
    finite; parameters and their gradients stay float32; the forward really ran in bfloat16 (it differs from fp32)."""
    plain, rewired = _graphs()
    graph = rewired if needs_hop_edges(name) else plain
    torch.manual_seed(0)
    model = build_model(name, 5, 16, 3, 3)
    x = torch.randn(graph.num_nodes(), 5)
    wrapped = Precision("bf16-mixed", "cpu").wrap(model)
    out = wrapped(graph, x)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    F.cross_entropy(out, torch.arange(graph.num_nodes()) % 3).backward()
    for pname, p in model.named_parameters():
        assert p.dtype == torch.float32 and (p.grad is None or (p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all())), pname
    model.eval()
    with torch.no_grad():  # GAT's attention runs in float32 (dgl_ssm.nn._precision); velickovic-gat is nothing else
        assert torch.equal(model(graph, x), wrapped(graph, x)) == (name == "velickovic-gat"), "bf16 or not, as documented"


def test_the_k_hop_product_in_bf16_is_the_float32_product_rounded():
    """SpMM of a bfloat16 input: the float32 CSR product of the (exactly widened) input, rounded to bfloat16 once."""
    from dgl_ssm.nn._csr import SpMM, csr_from_coo

    rows, cols = torch.tensor([0, 0, 1, 2, 2]), torch.tensor([1, 2, 0, 0, 1])
    vals = torch.tensor([0.3, 0.7, 1.0, 0.25, 0.75])
    adj, adj_t = csr_from_coo(rows, cols, vals, (3, 3)), csr_from_coo(cols, rows, vals, (3, 3))
    x = torch.randn(3, 4).bfloat16().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = SpMM.apply(adj, adj_t, x)
    expected = (adj.to_dense() @ x.detach().float()).bfloat16()
    assert out.dtype == torch.bfloat16 and torch.equal(out, expected)
    out.float().sum().backward()
    assert x.grad.dtype == torch.bfloat16 and torch.equal(x.grad, (adj.to_dense().T @ torch.ones(3, 4)).bfloat16())


def test_precision_refusals_are_one_line():
    with pytest.raises(ValueError, match="precision='16-mixed' .*needs CUDA; on the CPU use precision='bf16-mixed'"):
        Precision("16-mixed", "cpu")
    with pytest.raises(ValueError, match="precision must be one of '32', 'bf16-mixed', '16-mixed', got 'bf16'"):
        Precision("bf16", "cpu")


def test_bf16_warns_once_on_a_cpu_without_native_bf16(monkeypatch):
    import dgl_ssm.train.precision as precision

    monkeypatch.setattr(precision, "native_bf16", lambda: False)
    with pytest.warns(UserWarning, match="without native bfloat16"):
        Precision("bf16-mixed", "cpu")
    monkeypatch.setattr(precision, "native_bf16", lambda: True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Precision("bf16-mixed", "cpu")


class _Task:
    """Node classification on a random graph, the loss computed from what the trainer hands the task."""

    metric, higher_is_better = "accuracy", True

    def __init__(self):
        torch.manual_seed(1)
        self.g = dgl.add_self_loop(dgl.rand_graph(30, 90))
        self.x, self.y = torch.randn(30, 5), torch.arange(30) % 3
        self.dtypes = []

    def train_epoch(self, model, optimizer):
        model.train()
        optimizer.zero_grad()
        out = model(self.g, self.x)
        self.dtypes.append(out.dtype)
        loss = F.cross_entropy(out, self.y)
        loss.backward()
        optimizer.step()
        return loss.item()

    @torch.no_grad()
    def evaluate(self, model, splits=("val",)):
        model.eval()
        out = model(self.g, self.x)
        return {s: {"loss": F.cross_entropy(out, self.y).item(), "accuracy": (out.argmax(-1) == self.y).float().mean().item()}
                for s in splits}


def _trainer(tmp_path, precision, epochs=3):
    torch.manual_seed(0)
    model = build_model("gcn-ssm", 5, 8, 3, 3)
    return Trainer(model, _Task(), make_optimizer(model, "adamw", lr=0.01), max_epochs=epochs, patience=epochs,
                   run_dir=tmp_path, resume=True, progress=False, precision=precision)


def test_a_bf16_run_keeps_float32_state_and_records_its_precision(tmp_path):
    trainer = _trainer(tmp_path / "bf16", "bf16-mixed")
    result = trainer.fit()
    assert result.status == "ok" and set(trainer.task.dtypes) == {torch.float32}  # the loss sees float32
    assert all(v.dtype == torch.float32 for st in trainer.optimizer.state.values() for k, v in st.items() if k != "step")
    assert torch.load(tmp_path / "bf16" / Trainer.CHECKPOINT, weights_only=True)["precision"] == "bf16-mixed"
    fp32 = _trainer(tmp_path / "fp32", "32").fit()
    assert fp32.history[0]["train_loss"] != result.history[0]["train_loss"]  # bf16 really ran


def test_a_resume_with_another_precision_is_refused_and_old_checkpoints_read_as_float32(tmp_path):
    _trainer(tmp_path, "bf16-mixed", epochs=2).fit()
    with pytest.raises(ValueError, match=r"checkpoint.pt was written with precision='bf16-mixed', this run asks for "
                                         r"precision='32'; resume with precision='bf16-mixed', or delete it"):
        _trainer(tmp_path, "32", epochs=3).fit()
    # a format-2 checkpoint written before the option has no "precision": it was float32, and still resumes
    path = tmp_path / Trainer.CHECKPOINT
    state = torch.load(path, weights_only=True)
    state.pop("precision")
    torch.save(state, path)
    with pytest.raises(ValueError, match="precision='32', this run asks for precision='bf16-mixed'"):
        _trainer(tmp_path, "bf16-mixed", epochs=3).fit()
    assert _trainer(tmp_path, "32", epochs=3).fit().epochs_run == 3


def test_the_parity_prose_is_what_the_records_say():
    """docs/benchmarks.md's accuracy-parity numbers, recomputed from the committed records."""
    import csv
    import statistics as st
    from collections import defaultdict
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    text = " ".join((root / "docs" / "benchmarks.md").read_text().split())

    def cells(study, metric):
        by = defaultdict(lambda: defaultdict(list))
        for r in csv.DictReader(open(root / "results" / study / "results.csv")):
            by[(r["model"].removesuffix("_bf16"), r["dataset"])]["bf16" if r["model"].endswith("_bf16") else "32"].append(float(r[metric]))
        return {k: (st.mean(v["32"]), st.stdev(v["32"]), st.mean(v["bf16"])) for k, v in by.items()}

    graph = cells("precision_graphprop", "test_log10_mse")
    within = sum(abs(b - a) <= s for a, s, b in graph.values())
    assert f"parity in {within} of the {len(graph)} model × task cells" in text
    a, s, b = graph[("kgcn_ssm", "diameter")]
    minus = lambda x: f"{x:.3f}".replace("-", "−")  # noqa: E731 (the docs write a minus sign)
    assert f"{abs(b - a) / s:.1f} float32 stds worse in bf16 ({minus(b)} against {minus(a)} ± {s:.3f})" in text
    pep = cells("precision_peptides", "test_ap")
    for model, words in (("drew_gcn", "AP {b:.4f} in bf16 against {a:.4f} ± {s:.4f}, {r:.1f} stds lower"),
                         ("gcn", "{b:.4f} against {a:.4f} ± {s:.4f}, {r:.0f} stds lower")):
        a, s, b = pep[(model, "peptides-func")]
        assert words.format(a=a, s=s, b=b, r=abs(b - a) / s) in text
    assert all(abs(b - a) <= s for (m, _), (a, s, b) in pep.items() if m in ("gcn_ssm", "kgcn_ssm"))
