"""What the study entry points share (``python -m dgl_ssm.studies``, ``dgl-ssm-diagnostics``): one ``error:`` line
for an expected failure. Entry points import this; nothing in the library imports an entry point."""
from __future__ import annotations

import sys

__all__ = ["fail"]


def fail(err: BaseException) -> None:
    """One ``error:`` line (the message and its causes, on one line) and exit status 2."""
    parts, seen = [], err
    while seen is not None:
        text = " ".join(str(seen).split())
        if text and text not in parts:
            parts.append(text)
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    print(f"error: {': '.join(parts[:2])}", file=sys.stderr)
    sys.exit(2)
