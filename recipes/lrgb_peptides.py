"""LRGB Peptides-func (test AP) and Peptides-struct (test MAE) at the seed paper's protocol (Arroyo et al. 2025,
Appendix C): AdamW lr 1e-3, ReLU, hidden 105, 17 layers, at most 300 epochs (``dgl_ssm/conf/protocol/arroyo2025_lrgb.yaml``,
which also states the schedule we chose: the paper gives none).

    python recipes/lrgb_peptides.py --dataset peptides-func --model kgcn-ssm --seeds 4          # hours per seed on CPU
    python recipes/lrgb_peptides.py --dataset peptides-struct --quick
    python recipes/lrgb_peptides.py --model drew-gcn-lrgb --protocol gutteridge2023_drew_lrgb   # DRew's own configuration

Data: the official LRGB splits (DGL's ``PeptidesFunctionalDataset`` / ``PeptidesStructuralDataset``, offline copies
from ``DGL_SSM_DATA``). Peptides-struct's CSV is not among the offline copies here; without it the recipe stops with
one line naming the file, its official MD5 and where to put it. ``--quick`` makes the first 100 molecules of each
split directly from the CSV (seconds; DGL's processing of all 15,535 takes about 2 minutes) and trains 1 epoch.
Parameters are counted against LRGB's 500k budget and printed. Each cell is ``dgl_ssm.train.fit_cell``, as in
``study=lrgb_seed``. Writes ``results.csv`` and ``validation_curve.png`` into ``--out``.
"""
from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from dgl_ssm.data import PEPTIDES, check_dataset_files
from dgl_ssm.experiment import check_output_folder, exit_on_error, resolve_device
from dgl_ssm.train import DataOptions, fit_cell, load_protocol

BUDGET = 500_000  # LRGB's parameter budget (Dwivedi et al. 2022, Sec. 4)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="peptides-func", choices=sorted(PEPTIDES))
    p.add_argument("--model", default="kgcn-ssm",
                   help="a preset: kgcn-ssm, gcn-ssm, kgcn, gcn, drew-gcn-delay, drew-gcn-lrgb, lrgb-gcn, ...")
    p.add_argument("--layers", type=int, default=17)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--protocol", default="arroyo2025_lrgb", help="a file of dgl_ssm/conf/protocol/")
    p.add_argument("--precision", default=None, help="32 or bf16-mixed (default: the protocol's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/lrgb_peptides")
    p.add_argument("--quick", action="store_true", help="100 molecules per split, 1 epoch")
    return p.parse_args(argv)


def main(argv=None) -> pd.DataFrame:
    args = parse_args(argv)
    out = check_output_folder(args.out, "--out ")
    check_dataset_files(args.dataset)  # the missing Peptides-struct CSV: one line, before anything runs
    overrides = {"epochs": 1} if args.quick else {}
    if args.precision:
        overrides["precision"] = args.precision
    protocol = load_protocol(args.protocol, **overrides)
    data, device = DataOptions(limit=100 if args.quick else None), resolve_device(args.device)
    print(f"{args.model} on {args.dataset}: {args.layers} layers, hidden {protocol.hidden}, {protocol.optimizer} lr "
          f"{protocol.lr}, <= {protocol.epochs} epochs, k-hop radius {protocol.max_hop}, precision {protocol.precision}")
    rows, history = [], {}
    for seed in range(args.seeds):
        history[seed] = out / f"history_seed{seed}.csv"
        row = fit_cell(args.dataset, args.model, args.layers, seed, protocol, data=data, device=device,
                       progress=True, history_path=history[seed], fit_width_to_budget=False)
        rows.append({"dataset": args.dataset, "model": args.model, "seed": seed, **row})
        print(f"seed {seed}: {row['params']:,} parameters ({'over' if row['params'] > BUDGET else 'within'} LRGB's "
              f"500k budget); " + ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k.startswith("test_")))
    frame = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "results.csv", index=False)
    metric = next(c for c in frame.columns if c in ("test_ap", "test_mae"))
    print(f"{args.model}: {metric} {frame[metric].mean():.4f} ± {frame[metric].std():.4f} over {len(frame)} seed(s)")

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for seed, path in history.items():
        curve = pd.read_csv(path)
        val = next(c for c in curve.columns if c.startswith("val_") and c != "val_loss")
        ax.plot(curve["epoch"] + 1, curve[val], marker=".", label=f"seed {seed}")
    ax.set(xlabel="epoch", ylabel=val.replace("_", " "), title=f"{args.model} on {args.dataset}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "validation_curve.png", dpi=120)
    print(f"wrote {out / 'results.csv'} and {out / 'validation_curve.png'}")
    return frame


if __name__ == "__main__":
    exit_on_error(main)  # a bad value, missing data, no CUDA: one line
