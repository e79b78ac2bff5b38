"""What the LRGB Peptides-func protocol costs: training FLOPs per epoch of every model of ``study=peptides_30``.

Each model is built as its cell builds it (17 layers, the widest hidden within 500k parameters), and
:class:`torch.utils.flop_counter.FlopCounterMode` counts the dense FLOPs (aten operations) of a forward and backward
pass over the first ``--batches`` training batches and of a forward pass (evaluation) over as many validation
batches; both are scaled to the whole splits by their node counts. A sparse product (the k-hop convs' rings,
``torch.sparse`` CSR) counts ``2 · nnz · d``, not torch's dense formula. DGL's message passing (``gspmm``) runs in
DGL's own kernels and is not counted: for the GCN it is ``2 · E · d`` per layer against ``2 · N · d²`` for the
layer's matrix product, under 2 % here. FLOPs do not depend on the machine or its load, unlike timings; the CPU
seconds per epoch are the CPU time (one thread) of the same batches without the counter, scaled the same way
(without the optimizer step and data loading), so ``cpu_gflops`` is what one core sustained; beside them, the wall
seconds per epoch of the study's own record (``results/peptides_30``: ``train_time_s / epochs_run``, or a running
cell's checkpoint), which include loading, the optimizer and any wait for a core.

``python benchmarks/inspect_peptides_cost.py`` writes ``results/peptides_cost/cost.csv`` (one row per model) and
``cost.json`` (commit, command, machine, versions, wall time, and the projected cost of the full protocol,
250 epochs × 4 seeds). Quoted in docs/results.md.
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
FULL_EPOCHS, FULL_SEEDS = 250, 4


def _mm_flops(a, b, *args, out=None, **kwargs) -> int:
    """``2 m k n`` for dense ``a @ b``; ``2 nnz(a) n`` when ``a`` is sparse (the k-hop convs' ring products, which
    torch's own formula would count as dense)."""
    n = b.shape[-1]
    if a.layout != torch.strided:
        return 2 * int(a._nnz()) * n
    return 2 * a.shape[0] * a.shape[1] * n


def _addmm_flops(bias, a, b, *args, out=None, **kwargs) -> int:
    return _mm_flops(a, b)


_mm_flops._get_raw = _addmm_flops._get_raw = True  # FlopCounterMode passes the tensors, not their shapes


def _flops(fn) -> int:
    aten = torch.ops.aten
    with FlopCounterMode(display=False, custom_mapping={aten.mm: _mm_flops, aten.addmm: _addmm_flops}) as counter:
        fn()
    return int(counter.get_total_flops())


def _nodes(dataset) -> int:
    return sum(dataset[i][0].num_nodes() for i in range(len(dataset)))


def measured_epoch_seconds(folder: Path, model: str):
    """Wall seconds per epoch of ``model`` in the record (a finished cell) or its checkpoint (a running one)."""
    results = folder / "results.csv"
    if results.is_file():
        for row in csv.DictReader(results.open()):
            if row["model"] == model and row.get("epochs_run"):
                return float(row["train_time_s"]) / int(row["epochs_run"]), "record"
    for path in sorted((folder / ".checkpoints").glob(f"{model}-*/checkpoint.pt")):
        state = torch.load(path, map_location="cpu", weights_only=False)
        if state.get("next_epoch"):
            return float(state["elapsed"]) / int(state["next_epoch"]), f"checkpoint after {state['next_epoch']} epochs"
    return None, "not run yet"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=8, help="batches counted per split (then scaled by node counts)")
    p.add_argument("--data-root", default=None, help="DGL_SSM_ROOT (generated caches)")
    p.add_argument("--data-dir", default=None, help="DGL_SSM_DATA (the offline copies)")
    p.add_argument("--gpu-tflops", type=float, nargs=2, default=(2.0, 10.0),
                   help="assumed sustained FP32 TFLOP/s on a GPU (low, high) for the GPU-hour range")
    p.add_argument("--out", default=str(ROOT / "results" / "peptides_cost"))
    args = p.parse_args(argv)
    start = time.time()
    torch.set_num_threads(1)

    from dgl.dataloading import GraphDataLoader

    from dgl_ssm.studies.cells import cell_arguments, cell_protocol
    from dgl_ssm.studies.record import machine_info
    from dgl_ssm.studies.record import packaged_study as _current_study
    from dgl_ssm.train.cell import count_parameters as _count
    from dgl_ssm.train.cell import prepare_cell

    study = _current_study("peptides_30")
    rows = []
    for key, spec in study.models.items():
        train = cell_protocol(study, key)
        cell = {"model": key, "dataset": "peptides-func", study.setting_name: study.settings[0], "seed": 0}
        cell_args, options = cell_arguments(study, cell, args.data_root, args.data_dir)
        prepared = prepare_cell(*cell_args, **options)
        model, task, datasets = prepared.model, prepared.task, prepared.task.datasets
        hidden = prepared.row["hidden"]
        counted, timed = {}, {}
        for split, backward in (("train", True), ("val", False)):
            loader = GraphDataLoader(datasets[split], collate_fn=datasets[split].collate, batch_size=train.batch_size)
            flops = nodes = 0
            cpu = 0.0
            model.train(backward)
            for i, batch in enumerate(loader):
                if i == args.batches:
                    break

                def step(batch=batch):
                    pred, target = task.predict(model, batch)
                    loss = task.loss_fn(pred, target)
                    if backward:
                        loss.backward()

                with torch.set_grad_enabled(backward):
                    flops += _flops(step)
                    start_cpu = time.process_time()  # CPU time: a process waiting for a core does not count
                    step()
                    cpu += time.process_time() - start_cpu
                nodes += batch[0].num_nodes()
            counted[split], timed[split] = flops / nodes, cpu / nodes
        train_nodes, eval_nodes = _nodes(datasets["train"]), _nodes(datasets["val"]) + _nodes(datasets["test"])
        epoch_flops = counted["train"] * train_nodes + counted["val"] * eval_nodes
        seconds = timed["train"] * train_nodes + timed["val"] * eval_nodes
        recorded, source = measured_epoch_seconds(ROOT / "results" / "peptides_30", key)
        full = FULL_EPOCHS * FULL_SEEDS
        rows.append({
            "model": key, "label": spec.label, "hidden": hidden, "params": _count(model),
            "train_gflop_per_epoch": round(counted["train"] * train_nodes / 1e9, 1),
            "eval_gflop_per_epoch": round(counted["val"] * eval_nodes / 1e9, 1),
            "cpu_s_per_epoch": round(seconds, 1),
            "study_s_per_epoch": None if recorded is None else round(recorded, 1), "study_s_source": source,
            "cpu_gflops": round(epoch_flops / seconds / 1e9, 1),
            "full_protocol_cpu_h": round(seconds * full / 3600, 1),
            "full_protocol_gpu_h_low": round(epoch_flops * full / (args.gpu_tflops[1] * 1e12) / 3600, 2),
            "full_protocol_gpu_h_high": round(epoch_flops * full / (args.gpu_tflops[0] * 1e12) / 3600, 2),
        })
        print(rows[-1], flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "cost.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    report = {
        "command": "python benchmarks/inspect_peptides_cost.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "commit": commit, "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "wall_time_s": round(time.time() - start, 1), "machine": machine_info(),
        "full_protocol": f"{FULL_EPOCHS} epochs x {FULL_SEEDS} seeds: python -m dgl_ssm.studies study=peptides",
        "gpu_assumption": (f"GPU hours = FLOPs / ({args.gpu_tflops[0]:g} to {args.gpu_tflops[1]:g} sustained FP32 "
                           "TFLOP/s): an assumption, not a measurement (no GPU with DGL here); data loading and "
                           "kernel launches are not included"),
        "rows": rows,
    }
    (out / "cost.json").write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
