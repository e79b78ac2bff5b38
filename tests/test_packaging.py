"""Issue 16: the library installs into a researcher's own environment (ranges, not pins) and runs from a wheel."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(ROOT), "-w", str(out)],
                   check=True, capture_output=True, text=True)
    (path,) = out.glob("dgl_ssm-*.whl")
    return path


def requirements(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        lines = z.read(meta).decode().splitlines()
    reqs = [Requirement(line.split(":", 1)[1].strip()) for line in lines if line.startswith("Requires-Dist:")]
    return {r.name.lower(): r for r in reqs if r.marker is None}


def test_requirements_are_ranges_that_admit_a_cuda_dgl_24_stack(wheel):
    """A dry-run resolution cannot test this (DGL 2.4 is not on the package index): read the specifiers."""
    reqs = requirements(wheel)
    for name, version in [("torch", "2.4.0"), ("torch", "2.4.1+cu124"), ("dgl", "2.4.0+cu124"), ("dgl", "2.1.0"),
                          ("torch", "2.2.1"), ("numpy", "1.26.4"), ("torchdata", "0.7.1")]:
        assert reqs[name].specifier.contains(version, prereleases=True), f"{name} {reqs[name].specifier} rejects {version}"
    assert not any(str(r.specifier).startswith("==") for r in reqs.values()), "pins belong in constraints.txt"
    assert not reqs["numpy"].specifier.contains("2.0.0") and not reqs["torchdata"].specifier.contains("0.8.0")
    assert not reqs["dgl"].specifier.contains("2.5.0")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert "dgl_ssm/conf/study/depth_quick.yaml" in names and "dgl_ssm/conf/config.yaml" in names
    assert any(n.endswith("entry_points.txt") for n in names)


def test_constraints_pin_every_declared_requirement(wheel):
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    for name, req in requirements(wheel).items():
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), f"constraints.txt pins {name}=={pins[name]} outside {req.specifier}"


@pytest.mark.slow
def test_installed_wheel_runs_a_study_outside_the_repository(wheel, tmp_path):
    """pip install --no-deps into a fresh venv on top of the pinned stack, run the console script from elsewhere:
    results land in the working folder, caches in ~/.dgl_ssm, nothing inside site-packages."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    stack = next(p for p in map(Path, sys.path) if p.name == "site-packages" and (p / "dgl").is_dir())
    (site / "pinned_stack.pth").write_text(str(stack) + "\n")  # the pinned stack under the new venv
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    (venv / "bin" / "dgl-ssm-study").write_text(f"#!{venv / 'bin' / 'python'}\nfrom dgl_ssm.studies.__main__ import main\nmain()\n")
    (venv / "bin" / "dgl-ssm-study").chmod(0o755)
    before = {p for p in site.rglob("*")}
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DGL_SSM_ROOT", "DGL_SSM_DATA")}
    env.update(HOME=str(home), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [str(venv / "bin" / "dgl-ssm-study"), "study=graphprop_quick", "study.datasets=[diameter]", "study.settings=[2]",
         "study.sizes=[32,8,8]", "study.train.epochs=1", "study.train.hidden=8", "~study.models.gcn",
         "~study.models.gcn_ssm_eig1", "~study.models.kgcn_ssm", "~study.models.drew_gcn", "~study.models.drew_gcn_delay"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import_path = subprocess.run([str(venv / "bin" / "python"), "-c", "import dgl_ssm; print(dgl_ssm.__file__)"],
                                 cwd=work, env=env, capture_output=True, text=True).stdout.strip()
    assert import_path.startswith(str(site)), import_path
    assert (work / "results" / "graphprop_quick" / "results.csv").is_file()
    assert (home / ".dgl_ssm" / "graph_property").is_dir(), "the default data root is the per-user ~/.dgl_ssm"
    created = {p for p in site.rglob("*")} - before
    assert not [p for p in created if "__pycache__" not in p.parts], created


# --- issue 44: a plain `pip install <path>` next to an installed torch 2.2.1 + dgl 2.1.0, no constraints file ------

EXTRAS = ("ogb", "rdkit", "hydra-core", "omegaconf", "hydra-joblib-launcher", "matplotlib", "tabulate")


def _farm(folder: Path, dists, keep: bool = False) -> Path:
    """A folder of symlinks to the pinned stack's site-packages: without ``dists`` (and without dgl_ssm itself), or
    ``keep=True``: only ``dists``. Put on a venv's path with a ``.pth`` line, it is an environment where exactly
    those distributions are (not) installed: pip sees them through ``importlib.metadata``, Python imports them."""
    from importlib import metadata

    stack = next(p for p in map(Path, sys.path) if p.name == "site-packages" and (p / "dgl").is_dir())
    names = {f.parts[0] for d in dists for f in metadata.distribution(d).files or []} - {"__pycache__", ".."}
    folder.mkdir()
    for entry in stack.iterdir():
        if entry.suffix == ".pth" or entry.name.startswith(("dgl_ssm", "__editable__")) or (entry.name in names) != keep:
            continue
        (folder / entry.name).symlink_to(entry)
    return folder


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory):
    """A fresh venv (with pip) whose only packages are the pinned torch 2.2.1 + dgl 2.1.0 stack minus torchdata,
    ogb, rdkit and the studies extra: the researcher's environment of issue 44 before `pip install <path>`."""
    root = tmp_path_factory.mktemp("bare")
    farm = _farm(root / "stack", ("torchdata",) + EXTRAS)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "stack.pth").write_text(f"{farm}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "DGL_SSM_"))}
    env.update(PIP_CONSTRAINT="", PIP_DISABLE_PIP_VERSION_CHECK="1", OMP_NUM_THREADS="1")
    return venv, site, env


def _pip(venv, env, *args):
    return subprocess.run([str(venv / "bin" / "python"), "-m", "pip", *args], env=env, capture_output=True, text=True,
                          timeout=600)


def _would_install(venv, env, target, tmp_path) -> dict:
    report = tmp_path / "report.json"
    run = _pip(venv, env, "install", "--dry-run", "--only-binary", ":all:", "--report", str(report), target)
    assert run.returncode == 0, run.stderr[-3000:]
    import json

    return {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}


@pytest.mark.index
def test_pip_resolves_a_torchdata_that_imports_next_to_torch_22_and_dgl_21(wheel, bare_venv, tmp_path):
    """Issue 44: with torch 2.2.1 + dgl 2.1.0 installed, `pip install <path>` resolved torchdata 0.9 (which needs
    torch >= 2.3) and `import dgl_ssm` died. The dry run resolves against the package index and downloads metadata
    only; it must keep torch and DGL and pick a torchdata < 0.8."""
    from packaging.version import Version

    venv, _, env = bare_venv
    plan = _would_install(venv, env, str(wheel), tmp_path)
    assert set(plan) == {"dgl-ssm", "torchdata"}, f"pip would install {plan}: it must leave torch, DGL and NumPy alone"
    assert Version(plan["torchdata"]) < Version("0.8"), plan


@pytest.mark.index
@pytest.mark.slow
def test_a_plain_install_imports_the_lean_core_and_the_extras_run_a_study_outside_the_repository(
        wheel, bare_venv, tmp_path):
    """Issue 44's "done when": `pip install <path>` (no constraints file) into the venv above, then
    `import dgl_ssm.nn` imports nothing beyond `import dgl` and the core, in an environment where ogb and rdkit are
    really absent; then `pip install "<path>[studies,lrgb]"` (the extras found installed, as a researcher's would be)
    and `dgl-ssm-study study=depth_quick` runs from a folder outside the repository on the offline Cora."""
    venv, site, env = bare_venv
    plan = _would_install(venv, env, str(wheel), tmp_path)
    assert not {"torch", "dgl"} & set(plan) and not any(n.startswith("nvidia") for n in plan), plan
    run = _pip(venv, env, "install", "-q", "--only-binary", ":all:", str(wheel))
    assert run.returncode == 0, run.stderr[-3000:]
    python = str(venv / "bin" / "python")
    lean = subprocess.run([python, "-c", """
import importlib.util, sys
assert importlib.util.find_spec("ogb") is None and importlib.util.find_spec("rdkit") is None
import dgl
base = set(sys.modules)
import dgl_ssm.nn
print(sorted({m.split('.')[0] for m in set(sys.modules) - base}))
print(dgl_ssm.__file__)
"""], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert lean.returncode == 0, lean.stderr[-3000:]
    added, where = lean.stdout.strip().splitlines()
    assert set(eval(added)) <= {"dgl_ssm", "numba", "llvmlite", "timeit"}, added
    assert where.startswith(str(site)), where

    (site / "extras.pth").write_text(f"{_farm(tmp_path / 'extras', EXTRAS, keep=True)}\n")
    plan = _would_install(venv, env, f"{wheel}[studies,lrgb]", tmp_path)
    assert plan == {}, f"the extras are installed, yet pip would install {plan}"
    work = tmp_path / "work"
    work.mkdir()
    data = Path(os.environ.get("DGL_SSM_DATA", ROOT.parent / "shared" / "data")).resolve()
    study = subprocess.run(
        [str(venv / "bin" / "dgl-ssm-study"), "study=depth_quick", "study.seeds=1", "study.settings=[2]", "threads=1",
         "~study.models.res_gcn", "~study.models.gcn_ssm", f"data_root={tmp_path / 'root'}"],  # one cell: CI time
        cwd=work, env={**env, "DGL_SSM_DATA": str(data), "HOME": str(tmp_path / "home")},
        capture_output=True, text=True, timeout=600)
    assert study.returncode == 0, study.stderr[-3000:]
    assert (work / "results" / "depth_quick" / "results.csv").is_file()
    assert "GCN (Kipf & Welling)" in study.stdout, study.stdout[-2000:]
