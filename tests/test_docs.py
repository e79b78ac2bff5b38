"""Issue 17: the documentation builds with warnings as errors, and the README's code runs."""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("sphinx") is None or importlib.util.find_spec("myst_parser") is None,
                    reason="needs the dev extra (sphinx, myst-parser)")
def test_docs_build_without_warnings(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(ROOT / "docs"),
                           str(tmp_path / "html")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "html" / "api.html").read_text().count("SSMConv") > 3


def test_readme_is_short_and_its_example_runs():
    text = (ROOT / "README.md").read_text()
    assert len(text.encode()) < 8 * 1024, "the README is a front page (<8 KB); details go to docs/"
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - our own README
    assert tuple(scope["h"].shape) == (100, 64) and scope["layers"][0].matrices is scope["layers"][-1].matrices
    for link in re.findall(r"\]\(((?:docs/|results/)[^)#]+|[A-Z]+[A-Za-z.]*)\)", text):
        assert (ROOT / link).exists(), f"README links to {link}, which does not exist"


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "docs").glob("*.md") if "```python" in p.read_text()))
def test_documentation_examples_run(page):
    """Every ``python`` block of a docs page runs as written (each block on its own, so a reader can copy one)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / page).read_text(), flags=re.S)
    for number, code in enumerate(blocks, 1):
        scope = {}
        exec(compile(code, f"docs/{page}, python block {number}", "exec"), scope)  # noqa: S102 - our own docs
        if page == "guide.md" and number == 1:
            assert tuple(scope["h"].shape) == (100, 64) and tuple(scope["layer"].state_transition.shape) == (64, 64)
        if page == "guide.md" and number == 2:
            assert tuple(scope["out"].shape) == (30, 64) and "hop" in scope["rg"].edata


def test_every_run_option_is_in_the_documented_table():
    """docs/studies.md lists the top-level run options (RunConfig) with their defaults; a new option must join it."""
    import dataclasses

    from dgl_ssm.studies.schema import RunConfig

    text = (ROOT / "docs" / "studies.md").read_text()
    table = text[text.index("**Run options**"):text.index("## Published and shared protocols")]
    documented = set(re.findall(r"^\| `(\w+)`(?:, `(\w+)`)? \|", table, flags=re.M))
    documented = {name for pair in documented for name in pair if name}
    options = {f.name for f in dataclasses.fields(RunConfig)} - {"study"}
    assert documented == options, f"undocumented: {sorted(options - documented)}; stale: {sorted(documented - options)}"


def test_every_test_the_guarantees_page_names_exists():
    """docs/guarantees.md proves each line with a named test: each name must be a test in that file."""
    import ast
    import re

    page = (ROOT / "docs" / "guarantees.md").read_text()
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", page)
    assert len(named) >= 20
    for path, name in named:
        tree = ast.parse((ROOT / path).read_text())
        tests = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert name in tests, f"docs/guarantees.md names {path}::{name}, which does not exist"


def test_the_studies_table_counts_each_grid(compose_config):
    """docs/studies.md's table of studies: its ``cells`` column is each study's grid as configured today
    (:func:`~dgl_ssm.studies.grid.study_cells`; a two-stage study's choices read from its committed record), and it
    lists every study. Its counts were written by hand and had gone stale (depth_cora 320 for 400, lrgb_seed 28 for 32)."""
    from dgl_ssm.report import read_csv
    from dgl_ssm.studies.grid import study_cells

    listed = {}
    for line in (ROOT / "docs" / "studies.md").read_text().splitlines():
        row = re.match(r"\| (`[^|]+) \| .* \| ([\d,; ]+) \|$", line)
        if row:
            names = re.findall(r"`([^`]+)`", row.group(1))
            names = [names[0]] + [names[0] + n if n.startswith("_") else n for n in names[1:]]
            counts = [int(c.replace(",", "")) for c in row.group(2).split(";")]
            assert len(names) == len(counts), line
            listed.update(zip(names, counts))
    for name, count in listed.items():
        record = ROOT / "results" / name / "results.csv"
        study = compose_config("config", f"study={name}").study
        assert len(study_cells(study, read_csv(record) if record.is_file() else [])) == count, name
    packaged = {p.stem for p in (ROOT / "dgl_ssm" / "conf" / "study").glob("*.yaml")}
    assert set(listed) == packaged, sorted(packaged ^ set(listed))
