"""Where a record's rows come from: the machine and versions a sitting ran on (:func:`machine_info`), the commit, and
the study a record holds (:func:`record_study`, over every sitting of ``provenance.json``)."""
from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf

from .identity import IMPLICIT_PROTOCOL, departures
from .labels import labels
from .schema import StudyConfig, check_published

__all__ = ["machine_info", "record_study", "packaged_study", "cells_of", "departures_note"]


def machine_info() -> dict:
    """CPU model, cores, threads, the math libraries' code path and the versions that matter for the numbers.

    ``cpu_capability`` is the vector instruction set torch's CPU kernels use (``"AVX512"``, ``"AVX2"``, ...;
    ``torch.backends.cpu.get_cpu_capability()``) and ``mkl_cbwr`` the ``MKL_CBWR`` setting (``None``: MKL picks its
    code path from the CPU). Training is bit-identical between runs on one machine, but these paths change the
    floating-point summation order, so the last digit of a short one-seed run can differ between CPUs (an Intel
    AVX-512 machine against an AMD EPYC one: ResGCN at 8 layers on Cora, 79.4 against 79.5; ``docs/rough_edges.md``).
    ``ld_preload`` is the ``LD_PRELOAD`` setting: on an AMD CPU, a library defining ``mkl_serv_intel_cpu_true``
    (``make mkl-intel-path``) makes the pinned torch's MKL take its Intel code path, another summation order.
    """
    import numpy
    import torch

    try:
        import dgl

        dgl_version = dgl.__version__
    except Exception:  # noqa: BLE001 - provenance must not fail
        dgl_version = None
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
        "python": sys.version.split()[0], "torch": torch.__version__, "dgl": dgl_version, "numpy": numpy.__version__,
        "dgl_ssm": _package_version(), "cpu_capability": _cpu_capability(), "mkl_cbwr": os.environ.get("MKL_CBWR"),
        "ld_preload": os.environ.get("LD_PRELOAD"),
    }


def _cpu_capability() -> str | None:
    import torch

    with contextlib.suppress(AttributeError, RuntimeError):  # torch < 2.1 has no get_cpu_capability
        return torch.backends.cpu.get_cpu_capability()
    return None


def _package_version() -> str:
    from .. import __version__

    return __version__


def _git(*args: str, cwd=None) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                              cwd=cwd or Path(__file__).resolve().parent).stdout.strip()
    return ""


def uncommitted_changes(record_folder: Path, cwd=None) -> bool:
    """Whether the checkout that holds this code (``cwd``: the package's folder) has uncommitted changes to tracked
    files, the files of the record being written (``record_folder``, where it lies inside the checkout) aside: a
    sitting that resumes a record, or a second shard, finds the record's own files changed by the first, and that is
    not a change to the code that made the numbers.

    Examples
    --------
    >>> import subprocess, tempfile, pathlib
    >>> repo = pathlib.Path(tempfile.mkdtemp())
    >>> for args in (["init", "-q"], ["config", "user.email", "t@e.org"], ["config", "user.name", "t"]):
    ...     _ = subprocess.run(["git", *args], cwd=repo, check=True)
    >>> (repo / "results" / "s").mkdir(parents=True)
    >>> for name in ("code.py", "results/s/results.csv"):
    ...     _ = (repo / name).write_text("a")
    >>> _ = subprocess.run(["git", "add", "."], cwd=repo, check=True)
    >>> _ = subprocess.run(["git", "commit", "-qm", "c"], cwd=repo, check=True)
    >>> _ = (repo / "results/s/results.csv").write_text("b")   # the record's own file
    >>> uncommitted_changes(repo / "results" / "s", cwd=repo)
    False
    >>> _ = (repo / "code.py").write_text("b")
    >>> uncommitted_changes(repo / "results" / "s", cwd=repo)
    True
    """
    top = _git("rev-parse", "--show-toplevel", cwd=cwd)
    exclude = []
    if top:
        with contextlib.suppress(ValueError):
            rel = Path(record_folder).resolve().relative_to(Path(top).resolve())
            exclude = [f":(top,exclude){rel.as_posix()}"] if rel.parts else []
    return bool(_git("status", "--porcelain", "--untracked-files=no", "--", ":/", *exclude, cwd=cwd))


def record_study(folder: Path):
    """The study of a record: the last sitting's configuration, with the models, datasets and settings of every sitting
    (a sitting may run a part of the grid, e.g. ``~study.models.gcn 'study.settings=[64]'``) and the most seeds any
    sitting asked for (a sitting may run fewer, e.g. ``study.seeds=1``). A model's entry is its latest one; rows follow
    the packaged configuration's model order (else the order in which sittings first named them), and ``published`` and
    ``description`` (a table's title) are the packaged configuration's. A model's label (presentation, not part of a
    cell's identity) is the packaged configuration's while it still has the model, so that a relabelled row still meets
    its published numbers. A model that the packaged configuration no longer has and that has no row left in
    ``results.csv`` (all retired) is not a row. A protocol key that a sitting's configuration lacks (it was recorded
    before the key existed) takes the value :data:`~dgl_ssm.studies.identity.IMPLICIT_PROTOCOL` gives it, the behaviour
    of that sitting's code."""
    from ..report import read_csv

    sittings = json.loads((folder / "provenance.json").read_text())["sittings"]
    if not sittings:
        raise FileNotFoundError(f"{folder / 'provenance.json'} records no sitting: it is not the record of a study")
    config = dict(sittings[-1]["config"])
    models, datasets, settings, seeds = {}, [], set(), 1
    for sitting in sittings:
        part = sitting["config"]
        models.update(part.get("models", {}))  # a key keeps its first position, takes its latest value
        datasets += [d for d in part.get("datasets", []) if d not in datasets]
        settings |= set(part.get("settings", []))
        seeds = max(seeds, int(part.get("seeds", 1)))
    current = packaged_study(config.get("name", ""))
    if current is not None:  # rows in the configuration's order; the numbers to compare with as configured now
        check_published(current)
        recorded = {str(r.get("model")) for r in read_csv(folder / "results.csv")} if (folder / "results.csv").is_file() else set()
        order = [k for k in current.models if k in models] + [k for k in models if k not in current.models and k in recorded]
        models = {k: models[k] for k in order}
        for key in models.keys() & current.models.keys():
            if current.models[key].label:
                models[key] = {**models[key], "label": current.models[key].label}
        config["published"] = OmegaConf.to_container(current.published)
        config["compare_published"] = current.compare_published
        config["unavailable"] = OmegaConf.to_container(current.unavailable)  # presentation, as configured now
        config["description"] = current.description  # presentation: a table's title, as configured now
        if current.choose_setting:  # presentation: the table of the setting chosen on validation, as configured now
            config.update(choose_setting=True, select_metric=current.select_metric,
                          select_higher_is_better=current.select_higher_is_better)
    config.update(models=models, datasets=datasets, settings=sorted(settings), seeds=seeds)
    # a sitting recorded before a protocol key existed ran with the value that key now leaves implicit
    config["train"] = {**IMPLICIT_PROTOCOL, **config.get("train", {})}
    return OmegaConf.merge(OmegaConf.structured(StudyConfig), config)

@functools.lru_cache(maxsize=None)  # a sitting asks after every cell; the packaged file does not change meanwhile
def packaged_study(name: str):
    """The packaged study configuration ``name`` (``dgl_ssm/conf/study/<name>.yaml``), or ``None`` if there is none."""
    from importlib.resources import files

    if not name or not files("dgl_ssm.conf").joinpath("study", f"{name}.yaml").is_file():
        return None
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():  # inside a Hydra application (a study sitting): its search path
        return compose("config", overrides=[f"study={name}"]).study
    with initialize_config_module("dgl_ssm.conf", version_base="1.3"):
        return compose("config", overrides=[f"study={name}"]).study


def departures_note(study, rows: list, cells: dict) -> str:
    """One paragraph naming the values with which the rows were made where they are not the packaged study's
    (:func:`~dgl_ssm.studies.identity.departures`); ``""`` when there are none, or no packaged study of that name.
    The title is the packaged configuration's description, which may state values the record did not use.

    Examples
    --------
    >>> from hydra import compose, initialize_config_module
    >>> from dgl_ssm.studies.identity import cell_config
    >>> with initialize_config_module("dgl_ssm.conf", version_base="1.3"):
    ...     study = compose("config", overrides=["study=ring_quick", "study.train.epochs=2"]).study
    >>> cells = {m: cell_config(study, {"model": m, "dataset": "ring", "ring_size": 4, "seed": 0})
    ...          for m in ("gcn", "kgcn_ssm")}
    >>> print(departures_note(study, [{"model": m, "config_hash": m} for m in cells], cells))
    Made with values other than those of the packaged configuration (`dgl_ssm/conf/study/ring_quick.yaml`, whose
    description is the title): `train.epochs` 2 (packaged: 40).
    """
    packaged = packaged_study(study.name)
    if packaged is None:
        return ""
    parts = []
    recorded = [d for d in study.datasets if any(r.get("dataset") == d for r in rows)]
    if recorded and set(recorded) - set(packaged.datasets):  # one dataset is no column of the table: say which
        parts.append(f"`datasets` {_shown(recorded)} (packaged: {_shown(list(packaged.datasets))})")
    names = labels(study)
    everyone = {r["model"] for r in rows if str(r.get("config_hash")) in cells and r.get("model") in packaged.models}
    for key, mine, theirs, models in departures(packaged, rows, cells):
        who = "" if set(models) == everyone else f" for {', '.join(names.get(m, m) for m in models)}"
        parts.append(f"`{key}` {_shown(mine)}{who} (packaged: {_shown(theirs)})")
    if not parts:
        return ""
    return (f"Made with values other than those of the packaged configuration (`dgl_ssm/conf/study/{study.name}.yaml`, "
            f"whose description is the title): {'; '.join(parts)}.\n")


def cells_of(folder: Path) -> dict:
    """A record's ``cells.json`` (``{}`` without one)."""
    return json.loads((folder / "cells.json").read_text()) if (folder / "cells.json").is_file() else {}


def _shown(value) -> str:
    """A configuration value as the command line writes it (``null`` for a key one side lacks)."""
    import json

    return "null" if value is None else value if isinstance(value, str) else json.dumps(value, default=str)
