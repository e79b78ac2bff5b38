"""Issue 45: every number in the README's "Where the models stand" and in the prose the claims file lists is traced
to its record (or, for a published number, to the one configuration that holds it, with paper, table and row).

``docs/claims.yaml`` lists each claim: the exact text in a document, and how its number follows from a committed file
(``results/<record>/results.csv`` or another CSV of the record). This test recomputes every number from the file and
checks that the text says it; and that no decimal number in the README's results bullets is left without a claim.
Documents say "−" for a minus sign; the files say "-": both are read as one.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = yaml.safe_load((ROOT / "docs" / "claims.yaml").read_text())
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _text(doc: str) -> str:
    return (ROOT / doc).read_text().replace("−", "-")


def _select(frame: pd.DataFrame, where: dict) -> pd.DataFrame:
    for key, value in where.items():
        frame = frame[frame[key].isin(value if isinstance(value, list) else [value])]
    return frame


def _groups(claim: dict, where: dict) -> dict:
    """{group key: (mean, std, count)} of ``column`` over the rows of ``where`` (status ok), grouped by the keys
    whose value is a list."""
    path = ROOT / claim.get("file", f"results/{claim.get('record')}/results.csv")
    frame = pd.read_csv(path)
    if "status" in frame:
        frame = frame[frame["status"] == "ok"]
    frame = _select(frame, where)
    assert len(frame), f"no rows of {path.relative_to(ROOT)} match {where}"
    by = [k for k, v in where.items() if isinstance(v, list)]
    if not by:
        values = frame[claim["column"]]
        return {(): (values.mean(), values.std() if len(values) > 1 else 0.0, len(values))}
    stats = frame.groupby(by)[claim["column"]].agg(["mean", "std", "count"])
    return {k if isinstance(k, tuple) else (k,): (m, 0.0 if pd.isna(s) else s, c)
            for k, (m, s, c) in zip(stats.index, stats.itertuples(index=False))}


def _number(value: float, claim: dict) -> str:
    value *= claim.get("scale", 1.0)
    if claim.get("format") == "sci":
        exponent = int(f"{value:e}".split("e")[1])
        mantissa = value / 10 ** exponent
        text = f"{mantissa:.{claim.get('digits', 1)}f}"
        return f"{text}·10{str(exponent).translate(SUPERSCRIPT)}"
    if claim.get("format") == "times":
        return f"×{value:.{claim.get('digits', 0)}f}"
    return f"{value:.{claim.get('digits', 1)}f}"


def _published(conf, label: str, column: str) -> float:
    entry = conf.published[label]
    assert entry.source, f"{label}: a published number needs its source (paper, table, row)"
    return float(re.match(r"\s*([-+]?\d+(\.\d+)?)", str(entry.numbers[column])).group(1))


def expected(claim: dict) -> str:
    """The number ``claim`` says, recomputed from its file (or the published configuration)."""
    if "published" in claim:
        from omegaconf import OmegaConf

        spec = claim["published"]
        conf = OmegaConf.load(ROOT / "dgl_ssm" / "conf" / "study" / f"{spec['study']}.yaml")
        value = _published(conf, spec["label"], spec["column"])
        if "minus" in claim:
            value -= _published(conf, claim["minus"]["label"], spec["column"])
        return _number(value, {"digits": claim.get("digits", 1)})
    where = claim["where"]
    groups = _groups(claim, where)
    if "relative_to" in claim or "minus" in claim:
        other = _groups(claim, {**where, **claim.get("relative_to", claim.get("minus"))})
        assert set(other) == set(groups), f"{claim['text']}: groups differ ({sorted(groups)} vs {sorted(other)})"
        combine = (lambda a, b: a / b) if "relative_to" in claim else (lambda a, b: a - b)
        values = [combine(groups[k][0], other[k][0]) for k in groups]
    else:
        values = [m for m, _, _ in groups.values()]
    show = claim.get("show", "mean")
    if show == "range":
        lo, hi = _number(min(values), claim), _number(max(values), claim)
        return f"{lo}–{hi}" if lo != hi else lo
    assert len(values) == 1, f"{claim['text']}: {len(values)} groups for show={show}; add show: range"
    if show == "mean_std":
        (mean, std, count), = groups.values()
        assert count > 1, f"{claim['text']}: one run has no std"
        return f"{_number(mean, claim)} ± {_number(std, claim)}"
    return _number(values[0], claim)


@pytest.mark.parametrize("claim", CLAIMS, ids=[c["text"][:60] for c in CLAIMS])
def test_every_claim_is_in_its_document_and_follows_from_its_record(claim):
    assert claim["text"].replace("−", "-") in _text(claim["doc"]), f"{claim['doc']} no longer says: {claim['text']}"
    number = expected(claim).replace("−", "-")
    assert number in claim["text"].replace("−", "-"), f"the record gives {number}; {claim['doc']} says: {claim['text']}"


def _section(doc: str, start: str, end: str) -> str:
    text = _text(doc)
    return text[text.index(start):text.index(end, text.index(start))]


SECTIONS = [("README.md", "**Where the models stand**", "## Documentation"),
            ("docs/results.md", "*What it shows:* GCN, GAT and GCN-SSM with λ < 1", "*Verdict:*"),
            ("docs/results.md", "*Verdict: supported for GCN, with vanishing beside it.*", "## The main job"),
            ("docs/results.md", "*The seed's claims at 60 epochs, 1 seed*", "```{include} ../results/lrgb_seed_60"),
            ("docs/results.md", "**The rows at initialisation**", "![Mean node-state norm"),
            ("docs/results.md", "**Over-squashing at initialisation**", "![Sensitivity by shortest-path distance"),
            ("docs/results.md", "**Tier 2** (`results/lrgb_seed/`", "```{include} ../results/lrgb_seed/"),
            ("docs/results.md", "**Over-squashing after training**", "![Sensitivity by shortest-path distance")]


@pytest.mark.parametrize("doc, start, end", SECTIONS)
def test_no_decimal_number_of_a_checked_section_is_without_a_claim(doc, start, end):
    section = _section(doc, start, end)
    claimed = {n for c in CLAIMS if c["doc"] == doc for n in re.findall(r"-?\d+\.\d+", c["text"].replace("−", "-"))}
    section = re.sub(r"arXiv:\d+\.\d+", "arXiv", section)  # an identifier, not a number
    for sentence in re.split(r"(?<=[.;:)])\s", section):
        for number in re.findall(r"-?\d+\.\d+", sentence):
            assert number in claimed, f"{doc}: {number} in {sentence.strip()[:120]!r} has no claim in docs/claims.yaml"


def test_the_superscript_format_reads_as_written():
    assert _number(2.78e-30, {"format": "sci"}) == "2.8·10⁻³⁰" and _number(8.74e27, {"format": "sci"}) == "8.7·10²⁷"
