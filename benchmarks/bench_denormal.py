"""Flush-to-zero (``denormals: flush``): a GCNII training step on Cora with normal gradients, and with subnormal ones.

A training step (forward and backward on the training nodes) of a ``--layers``-layer GCNII (hidden 64, its Cora
options), in IEEE arithmetic and under :func:`dgl_ssm.train.denormals.denormal_mode` ``("flush")``, alternating,
one thread. Twice: with the loss as it is (its gradients are normal floats), and with the loss multiplied by
``--subnormal-scale`` (1e-36), which puts the gradients below float32's smallest normal number (1.2e-38), where
vanishing gradients end up in a very deep model (GCNII at 512 layers: 12.8 % of its gradient entries at epoch 828,
``benchmarks/inspect_denormal.py``); the result file gives the share of subnormal entries in each case.

Targets: with normal gradients flush-to-zero costs nothing (flush / IEEE CPU time <= 1.05); with subnormal ones it
is the faster (IEEE / flush >= 2).
"""
from __future__ import annotations

from _common import interleaved, parser, ratio, subnormal_share, summarize, target, write_results  # isort: skip  (sets env first)

import torch

import dgl_ssm


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=None, help="GCNII depth (default 64; 16 with --quick)")
    p.add_argument("--subnormal-scale", type=float, default=1e-36)
    args = p.parse_args(argv)
    if args.threads != 1:
        raise SystemExit("error: flush-to-zero reaches only the calling thread: run with --threads 1")
    if not 0 < args.subnormal_scale < 1e-30:
        raise SystemExit(f"error: --subnormal-scale must be in (0, 1e-30) to make the gradients subnormal, got "
                         f"{args.subnormal_scale}")
    layers = args.layers or (16 if args.quick else 64)
    dgl_ssm.configure_threads(1)
    from dgl_ssm.data import load_node_graph
    from dgl_ssm.models import build_model
    from dgl_ssm.train.denormals import denormal_mode

    g = load_node_graph("cora")
    x, y, mask = g.ndata["feat"], g.ndata["label"], g.ndata["train_mask"]
    torch.manual_seed(0)
    model = build_model("gcnii", x.shape[1], 64, int(y.max()) + 1, layers, alpha=0.1, lambda_=0.5)

    def step(mode: str, scale: float):
        with denormal_mode(mode):
            model.zero_grad(set_to_none=True)
            (torch.nn.functional.cross_entropy(model(g, x)[mask], y[mask]) * scale).backward()

    repeats = args.repeats or (2 if args.quick else 6)
    rows, details = [], {"layers": layers, "repeats": repeats, "subnormal_scale": args.subnormal_scale}
    for case, scale in (("normal", 1.0), ("subnormal", args.subnormal_scale)):
        times = interleaved({mode: (lambda m=mode, s=scale: step(m, s)) for mode in ("ieee", "flush")}, repeats)
        step("ieee", scale)
        details[case] = {"subnormal_share": subnormal_share(torch.cat([q.grad.flatten() for q in model.parameters() if q.grad is not None])), "median_ms": summarize(times), "times_s": times}
        if case == "normal":
            rows.append(target("denormal", f"{layers}-layer GCNII step, normal gradients: flush / IEEE (CPU time)",
                               ratio(times["flush"]["cpu"], times["ieee"]["cpu"]), at_most=1.05))
        else:
            rows.append(target("denormal", f"{layers}-layer GCNII step, {details[case]['subnormal_share']:.0%} of "
                               f"gradient entries subnormal: IEEE / flush (CPU time)",
                               ratio(times["ieee"]["cpu"], times["flush"]["cpu"]), at_least=2.0))
    notes = ("One thread; CPU time. The subnormal case multiplies the loss by the scale, so every gradient is the true "
             "one times it: the same step, its backward pass in the subnormal range.")
    write_results(args.out, "denormal", rows, details, notes)


if __name__ == "__main__":
    main()
