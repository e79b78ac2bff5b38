"""Subnormal floats in deep-GNN training on CPU: the share of subnormal gradient entries of a checkpointed cell, and
its training-step time with IEEE subnormals against flush-to-zero (``torch.set_flush_denormal(True)``).

Written when GCNII at 512 layers (``study=depth_lipschitz``, Cora) slowed from about 4.4 s per epoch at epoch 250
to about 10 s at epoch 600 with no change of load, RSS or workload: as the gradients vanish, more of them fall below
float32's smallest normal number (1.2·10⁻³⁸), and x86 cores handle subnormal operands in microcode. Flush-to-zero
sets them to 0, which changes results below that magnitude; the project does not use it (an option would have to
be part of a cell's identity, and diagnostics that measure vanishing gradients must keep the subnormals).

``python benchmarks/inspect_denormal.py [--study depth_lipschitz --model gcnii --depth 512 --seed 0]``: the cell
is built from its packaged study configuration (the sittings' own :func:`~dgl_ssm.studies.cells.cell_arguments`)
and its state read from the checkpoint a running or interrupted sitting keeps in
``results/<study>/.checkpoints/`` (it exists only on the machine that trains the cell, and only until the cell is
recorded). Prints, for the model as initialised and as checkpointed: the largest share of subnormal entries among
the parameters' gradients, and the CPU seconds per training step (forward and backward on the training nodes),
flush-to-zero off and on, median of 3 steps each, alternating.

``--thread-reach N``: no cell; the share of a tensor of subnormals that one multiply flushes to zero after
``torch.set_flush_denormal(True)`` with N intra-op threads whose pool already ran. The flag is a per-thread CPU
register (MXCSR), set only in the calling thread (threads created later inherit it; the pool's existing threads do
not), so with N threads the others keep IEEE subnormals. Flush-to-zero as a run option would hold only at one
thread (``threads=1``) or if set before the pool starts.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from _common import ROOT, subnormal_share  # isort: skip  (the script's folder is first on sys.path)


def thread_reach(threads: int, n: int = 4_000_000) -> float:
    """Share of ``n`` float32 subnormals (10⁻³⁹) that ``x * 1`` flushes to zero after ``torch.set_flush_denormal(True)``
    with ``threads`` intra-op threads (1.0: every thread flushes)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    x = torch.full((n,), 1e-39)
    try:
        x.mul(1.0)  # the pool's threads exist before the flag is set, as in a process that has trained already
        if not torch.set_flush_denormal(True):
            raise SystemExit("error: this CPU has no flush-to-zero mode torch can set (it needs SSE3 on x86)")
        return (x.mul(1.0) == 0).float().mean().item()
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(before)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--study", default="depth_lipschitz")
    p.add_argument("--model", default="gcnii")
    p.add_argument("--depth", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--thread-reach", type=int, metavar="N", help="only: the share flushed with N intra-op threads")
    args = p.parse_args(argv)
    if args.thread_reach is not None:
        if args.thread_reach < 1:
            sys.exit(f"error: --thread-reach must be at least 1, got {args.thread_reach}")
        for threads in sorted({1, args.thread_reach}):
            print(f"{threads} intra-op thread{'s' * (threads > 1)}: flush-to-zero reaches "
                  f"{thread_reach(threads):.3f} of the entries", flush=True)
        return

    import dgl_ssm
    from dgl_ssm.studies.cells import cell_arguments
    from dgl_ssm.studies.grid import checkpoint_dir
    from dgl_ssm.studies.identity import cell_config
    from dgl_ssm.studies.record import packaged_study
    from dgl_ssm.train.cell import prepare_cell

    dgl_ssm.configure_threads(1)
    study = packaged_study(args.study)
    if study is None:
        sys.exit(f"error: no packaged study {args.study!r}; see dgl_ssm/conf/study/")
    cell = {"model": args.model, "dataset": study.datasets[0], study.setting_name: args.depth, "seed": args.seed}
    path = checkpoint_dir(ROOT / "results" / study.name, cell, cell_config(study, cell)) / "checkpoint.pt"
    if not path.is_file():
        sys.exit(f"error: no checkpoint of {cell} at {path}; run the study's cell until it has one (or copy its folder)")
    cell_args, options = cell_arguments(study, cell)
    prepared = prepare_cell(*cell_args, **options)
    model, graph = prepared.model, prepared.graph
    mask = graph.ndata["train_mask"]

    def step():
        model.train()
        model.zero_grad()
        out = model(graph, graph.ndata["feat"])
        torch.nn.functional.cross_entropy(out[mask], graph.ndata["label"][mask]).backward()

    for name, state in (("as initialised", None), ("checkpointed", torch.load(path, map_location="cpu", weights_only=False)["model"])):
        if state is not None:
            model.load_state_dict(state)
        times = {False: [], True: []}
        for _ in range(3):
            for ftz in (False, True):
                torch.set_flush_denormal(ftz)
                t0 = time.process_time()
                step()
                times[ftz].append(time.process_time() - t0)
        torch.set_flush_denormal(False)
        step()
        share = max(subnormal_share(q.grad) for q in model.parameters() if q.grad is not None)
        ieee, ftz = statistics.median(times[False]), statistics.median(times[True])
        print(f"{name}: subnormal share of gradient entries {share:.3f}; step {ieee:.2f} s (IEEE) / {ftz:.2f} s "
              f"(flush-to-zero) = {ieee / ftz:.2f}x", flush=True)


if __name__ == "__main__":
    main()
