"""Helpers shared by the benchmark scripts: flags, interleaved timing, subprocesses, results.

Every benchmark measures its target as a *ratio* of two variants timed in the
same process (or in alternating fresh subprocesses), interleaved round by round
and summarised by the median of the per-round ratios, so that load from other
users of the machine hits both variants alike and cancels.

Scripts import this module as ``from _common import ...`` (the script's folder
is first on ``sys.path``).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional

# Benchmarks configure OpenMP themselves (dgl_ssm.configure_threads, or on purpose not at all).
os.environ.setdefault("DGL_SSM_NO_THREAD_WARNING", "1")

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent


# ----------------------------------------------------------------------------- flags and set-up
def parser(description: str) -> argparse.ArgumentParser:
    """``--out`` (default ``runs/bench``), ``--quick``, ``--threads``, ``--repeats``."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default="runs/bench", help="output folder for <name>.json and <name>.md")
    p.add_argument("--quick", action="store_true", help="fewer repeats and smaller workloads (development)")
    p.add_argument("--threads", type=int, default=1, help="OpenMP threads per runtime (dgl_ssm.configure_threads)")
    p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default: per benchmark)")
    return p


def machine() -> dict:
    """Cores, load average and a note: the numbers come from a shared, loaded machine."""
    load = os.getloadavg()
    return {
        "cpu_count": os.cpu_count(),
        "loadavg_1_5_15": [round(x, 2) for x in load],
        "python": sys.version.split()[0],
        "note": (
            f"shared machine: load average {load[0]:.1f} on {os.cpu_count()} cores while measuring; "
            "absolute times are noisy, targets are ratios of interleaved repeats (medians)"
        ),
    }


# ----------------------------------------------------------------------------- timing
def _clock(kind: str) -> Callable[[], float]:
    return {"wall": time.perf_counter, "cpu": time.process_time}[kind]


def interleaved(fns: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 1) -> Dict[str, Dict[str, List[float]]]:
    """Time each callable ``repeats`` times, round-robin with a rotating order.

    Returns ``{name: {"wall": [...], "cpu": [...]}}`` in seconds. Process CPU
    time is recorded too: with one OpenMP thread per runtime it does not count
    time the process spends waiting for a core on a loaded machine.
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times = {name: {"wall": [], "cpu": []} for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            c0, w0 = time.process_time(), time.perf_counter()
            fns[name]()
            w1, c1 = time.perf_counter(), time.process_time()
            times[name]["wall"].append(w1 - w0)
            times[name]["cpu"].append(c1 - c0)
    return times


def median(xs) -> float:
    return float(statistics.median(xs))


def ratio(num: List[float], den: List[float]) -> float:
    """Median of the per-round ratios ``num[i] / den[i]`` (rounds are paired by interleaving)."""
    return median([a / b for a, b in zip(num, den)])


def profiler_peak(step: Callable[[], object]) -> float:
    """Peak bytes allocated above the start during ``step()``, from the CPU allocator events of ``torch.profiler``.

    The live-tensor peak (not RSS): the running sum of every allocation
    (+bytes) and free (-bytes) event, in time order.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    # the raw "[memory]" events are every allocation (+bytes) and free (-bytes) of the CPU allocator;
    # prof.events() folds most of them into their ops, so read the kineto results
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    cur = peak = 0
    for e in sorted(events, key=lambda e: e.start_us()):  # stable: same-microsecond events keep their order
        cur += e.nbytes()
        peak = max(peak, cur)
    return float(peak)


def subnormal_share(t) -> float:
    """Share of the entries of tensor ``t`` that are subnormal (non-zero and below the dtype's smallest normal)."""
    import torch

    a = t.detach().abs()
    return ((a > 0) & (a < torch.finfo(t.dtype).tiny)).float().mean().item()


def summarize(times: Mapping[str, Mapping[str, List[float]]]) -> dict:
    """Median milliseconds per variant and clock."""
    return {name: {clk: round(median(v) * 1e3, 3) for clk, v in t.items() if v} for name, t in times.items()}


# ----------------------------------------------------------------------------- subprocesses
def python_env(**extra: Optional[str]) -> dict:
    """The current environment with ``PYTHONPATH`` pointing at the repository; ``None`` values unset a variable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("DGL_SSM_NO_THREAD_WARNING", "1")
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


RESULT_PREFIX = "BENCH_RESULT "


def emit(obj) -> None:
    """Print a JSON result line for :func:`run_python` to pick up (child side)."""
    print(RESULT_PREFIX + json.dumps(obj), flush=True)


# Set by tests/test_benchmarks.py's smoke runs: a child runs in its parent's process (its script's ``main`` called
# with its arguments), which saves the import of torch and DGL per child (about 6 CPU-seconds each, some 15 children
# in all). The smoke runs check the children's code, not what a fresh process gives them (their environment
# variables, a new OpenMP pool, their own peak memory), so such numbers are meaningless and are marked so.
IN_PROCESS = "DGL_SSM_BENCH_IN_PROCESS"


def in_process() -> bool:
    """Whether children run in their parent's process (:data:`IN_PROCESS` is ``1``: the smoke tests)."""
    return os.environ.get(IN_PROCESS) == "1"


def run_python(args: List[str], env: Optional[dict] = None, timeout: float = 600, isolated: bool = False) -> dict:
    """Run ``python *args`` in a fresh process and return the dict it :func:`emit`-ted last.

    In a smoke run (:func:`in_process`) the script's ``main(args[1:])`` runs in this process instead, unless
    ``isolated`` (a child whose environment is what it checks, e.g. an ``LD_PRELOAD`` library).

    Raises
    ------
    RuntimeError
        If the child fails or prints no result (its stderr tail is in the message).
    """
    if in_process() and not isolated:
        return _run_in_process(args)
    proc = subprocess.run(
        [sys.executable, *args], env=env or python_env(), cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark child {args} failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT_PREFIX):])


def _run_in_process(args: List[str]) -> dict:
    import importlib.util
    import io

    script = Path(args[0]).resolve()
    main = sys.modules.get("__main__")
    if main is None or Path(getattr(main, "__file__", "")).resolve() != script:  # another script's child
        spec = importlib.util.spec_from_file_location(f"_child_{script.stem}", script)
        main = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(main)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main.main(list(args[1:]))
    lines = [ln for ln in out.getvalue().splitlines() if ln.startswith(RESULT_PREFIX)]
    if not lines:
        raise RuntimeError(f"benchmark child {args} (in process) printed no result")
    return json.loads(lines[-1][len(RESULT_PREFIX):])


@contextlib.contextmanager
def busy_process(seconds: float = 120.0):
    """One competing CPU-bound process (a Python spin loop), bounded by ``seconds``, killed on exit."""
    code = f"import time\nend = time.time() + {float(seconds)}\nwhile time.time() < end:\n    pass\n"
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(0.2)
        yield proc
    finally:
        proc.kill()
        proc.wait()


# ----------------------------------------------------------------------------- results
@dataclass
class Target:
    """One row of the summary table."""

    benchmark: str
    name: str
    target: str
    measured: Optional[float]
    passed: Optional[bool]
    unit: str = "x"
    detail: str = ""

    def cell(self) -> str:
        if self.measured is None:
            return "n/a"
        return f"{self.measured:.2f}{self.unit}" if self.unit == "x" else f"{self.measured:.3g} {self.unit}"


def target(benchmark: str, name: str, measured: Optional[float], *, at_most: float = None, at_least: float = None,
           unit: str = "x", detail: str = "") -> Target:
    """A :class:`Target` with ``passed`` filled in from ``at_most`` / ``at_least`` (``None`` if not measured)."""
    if at_most is not None:
        text, ok = f"<= {at_most:g}{unit if unit == 'x' else ' ' + unit}", (None if measured is None else measured <= at_most)
    elif at_least is not None:
        text, ok = f">= {at_least:g}{unit if unit == 'x' else ' ' + unit}", (None if measured is None else measured >= at_least)
    else:
        text, ok = "(report)", None
    return Target(benchmark, name, text, None if measured is None else float(measured), ok, unit, detail)


def table(rows: List[Target]) -> str:
    """Markdown table target | measured | pass."""
    mark = {True: "PASS", False: "FAIL", None: "-"}
    out = ["| benchmark | quantity | target | measured | pass |", "|---|---|---|---|---|"]
    out += [f"| {r.benchmark} | {r.name} | {r.target} | {r.cell()} | {mark[r.passed]} |" for r in rows]
    return "\n".join(out)


def write_results(out: os.PathLike, name: str, rows: List[Target], details: dict, notes: str = "") -> Path:
    """Write ``<out>/<name>.json`` (rows, details, machine) and ``<out>/<name>.md``; print the table."""
    from dgl_ssm.experiment import atomic_write, write_json

    out = Path(out)
    info = machine()
    if in_process():
        notes = (f"**A smoke run ({IN_PROCESS}=1): any children ran in their parent's process, so these numbers "
                 f"are meaningless.**\n\n{notes}")
        info = {**info, "note": f"{info['note']}; smoke run, children in process"}
    payload = {"benchmark": name, "command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": info,
               "targets": [asdict(r) for r in rows], "details": details}
    write_json(out / f"{name}.json", payload)
    md = f"# {name}\n\n{table(rows)}\n\n{notes}\n\n_{info['note']}._\n\nCommand: `{payload['command']}`\n"
    atomic_write(out / f"{name}.md", lambda tmp: Path(tmp).write_text(md))
    print(table(rows))
    print(info["note"])
    return out / f"{name}.json"


def read_targets(path: os.PathLike) -> List[Target]:
    """The rows of a result file written by :func:`write_results`."""
    data = json.loads(Path(path).read_text())
    return [Target(**row) for row in data["targets"]]


__all__ = [
    "ROOT", "BENCH_DIR", "parser", "machine", "interleaved", "median", "ratio", "profiler_peak", "subnormal_share", "summarize", "python_env", "emit",
    "run_python", "in_process", "IN_PROCESS", "busy_process", "Target", "target", "table", "write_results", "read_targets", "property_graphs",
    "peptides_subset", "ListDataset", "graph_workload",
]


# ----------------------------------------------------------------------------- graph-level workloads
PEPTIDES_CSV = "lrgb/Peptides-func/peptide_multi_class_dataset.csv.gz"


def property_graphs(quick: bool):
    """Training split of the graph property task (sssp; 5,120 graphs, or 512 with ``quick``), cached under the data root."""
    from dgl_ssm.data import GraphPropertyDataset

    sizes = (512, 64, 128) if quick else (5120, 640, 1280)
    return GraphPropertyDataset("sssp", "train", sizes=sizes)


def offline_file(relpath) -> Path:
    """``<offline data>/relpath``; without ``DGL_SSM_DATA`` (or ``../shared/data`` beside the checkout), or without
    the file, the benchmark stops with one line that names what to set."""
    from dgl_ssm.data import raw_source

    source = raw_source()
    if source is None:
        raise SystemExit("error: no offline data folder: set DGL_SSM_DATA to it (e.g. ../shared/data beside the "
                         "checkout; make bench sets it)")
    path = Path(source) / relpath
    if not path.is_file():
        raise SystemExit(f"error: {path} is missing from the offline data folder (DGL_SSM_DATA={source})")
    return path


def peptides_subset(n: int):
    """The first ``n`` Peptides-func molecules as ``(DGLGraph, label)``, built with ogb's ``smiles2graph``.

    A subset straight from the offline CSV (the full dataset takes ~80 s to process); node features are the
    9 OGB atom categories as float (both pipelines use a ``Linear`` encoder on them).
    """
    import ast

    import dgl
    import pandas as pd
    import torch
    from ogb.utils import smiles2graph

    df = pd.read_csv(offline_file(PEPTIDES_CSV), nrows=n)
    items = []
    for smiles, labels in zip(df["smiles"], df["labels"]):
        g = smiles2graph(smiles)
        src, dst = torch.as_tensor(g["edge_index"][0]), torch.as_tensor(g["edge_index"][1])
        dg = dgl.graph((src, dst), num_nodes=g["num_nodes"])
        dg.ndata["feat"] = torch.as_tensor(g["node_feat"], dtype=torch.float32)
        items.append((dg, torch.tensor(ast.literal_eval(labels), dtype=torch.float32)))
    return items


class ListDataset:
    """``(graph, label)`` items with the ``collate``/``level`` interface of dgl_ssm's graph datasets."""

    def __init__(self, items, level: str = "graph"):
        self.items, self.level = list(items), level

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]

    def collate(self, items):
        from dgl_ssm.data import collate

        return collate(items, node_level=self.level == "node")


def graph_workload(name: str, quick: bool):
    """``(dataset, in_feats, out_feats, loss, readout)`` of a peer-comparison workload, without self-loops."""
    if name == "property":
        ds = property_graphs(quick)
        return ds, 2, 1, "mse", None
    items = peptides_subset(400 if quick else 2000)
    return ListDataset(items, "graph"), 9, 10, "bce", "mean"
