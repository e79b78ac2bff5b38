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
