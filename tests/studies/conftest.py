"""What the study-engine tests share as fixtures: the count of the cells trained and the entry points run in-process.

The tiny study they run is a plain list, in ``tiny.py``."""
import pytest

@pytest.fixture
def fits(monkeypatch):
    """The cells trained: every cell goes through the one cell path, dgl_ssm.train.cell.fit_cell."""
    import dgl_ssm.train.cell

    calls = []
    real = dgl_ssm.train.cell.fit_cell

    def counted(*args, **kwargs):
        calls.append(args[:2])
        return real(*args, **kwargs)

    monkeypatch.setattr(dgl_ssm.train.cell, "fit_cell", counted)
    return calls


@pytest.fixture
def run_cli(monkeypatch, capsys, tmp_path):
    """``run_cli(main, *argv) -> (exit status, stderr)``: an entry point's ``main()`` in this process, from ``tmp_path``.

    A fresh ``python -m`` process spends seconds importing torch, DGL and Hydra before it reads its first argument (9-12 s
    each on a loaded 2-core AMD machine, 5 minutes for the 31 bad-configuration cases). The error path is the same
    ``main()`` either way; what only a real process shows (exit status 2 and no traceback on stderr) keeps one
    subprocess test per entry point."""
    import sys

    def run(main, *argv):
        monkeypatch.setattr(sys, "argv", ["prog", *argv])
        monkeypatch.chdir(tmp_path)
        with pytest.raises(SystemExit) as stopped:
            main()
        return stopped.value.code, capsys.readouterr().err

    return run


@pytest.fixture
def run_cli_process(tmp_path):
    """``run_cli_process(module, *argv) -> (exit status, stderr)``: ``python -m module *argv`` in a fresh process, from
    ``tmp_path``, with this checkout first on the path (what :func:`run_cli` cannot show: the real exit status)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]

    def run(module, *argv):
        proc = subprocess.run([sys.executable, "-m", module, *argv], capture_output=True, text=True, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(root)}, timeout=300)
        return proc.returncode, proc.stderr

    return run
