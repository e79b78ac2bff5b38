"""The package's layering (.importlinter, enforced by import-linter) and no import cycle anywhere in dgl_ssm."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"]


def _lint(config: Path, cwd: Path):
    return subprocess.run([*LINT, "--config", str(config)], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_the_layer_contracts_hold():
    proc = _lint(ROOT / ".importlinter", ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "Contracts: 4 kept, 0 broken." in proc.stdout


def test_a_broken_contract_fails(tmp_path):
    """A contract the code breaks on purpose (the training layer may not use the models) fails the run."""
    config = tmp_path / "broken.ini"
    shutil.copy(ROOT / ".importlinter", config)
    with open(config, "a") as f:
        f.write("\n[importlinter:contract:planted]\nname = planted: train without models\ntype = forbidden\n"
                "source_modules =\n    dgl_ssm.train\nforbidden_modules =\n    dgl_ssm.models\n")
    proc = _lint(config, ROOT)
    assert proc.returncode != 0 and "planted: train without models BROKEN" in proc.stdout


def test_no_import_cycle_in_the_package():
    import grimp
    import networkx as nx

    graph = grimp.build_graph("dgl_ssm")
    edges = [(m, d) for m in graph.modules for d in graph.find_modules_directly_imported_by(m) if d.startswith("dgl_ssm")]
    assert list(nx.simple_cycles(nx.DiGraph(edges))) == []


def test_no_study_engine_module_is_over_450_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in (ROOT / "dgl_ssm" / "studies").glob("*.py")}
    assert max(sizes.values()) <= 450, sizes
