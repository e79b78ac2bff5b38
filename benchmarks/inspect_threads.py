"""Which thread pools a dgl_ssm process holds: mapped OpenMP runtimes and threadpoolctl's view, before and after
dgl_ssm.configure_threads(1). Writes runs/bench/threads.json (docs/threads.md quotes it)."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def pools() -> list:
    from threadpoolctl import threadpool_info

    return [{k: info[k] for k in ("user_api", "internal_api", "filepath", "num_threads")} for info in threadpool_info()]


def main(out: str = "runs/bench") -> dict:
    import torch
    import dgl  # noqa: F401  (loads libdgl.so and its libgomp dependency)

    import dgl_ssm

    maps = Path("/proc/self/maps").read_text().splitlines()
    gomp = sorted({line.split()[-1] for line in maps if "libgomp" in line or "libiomp" in line})
    report = {"openmp_runtimes_mapped": gomp, "torch_threads": torch.get_num_threads(), "pools_default": pools()}
    dgl_ssm.configure_threads(1)
    report["pools_after_configure_threads_1"] = pools()
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "threads.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main(*sys.argv[1:])
