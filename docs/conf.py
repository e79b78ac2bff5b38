"""Sphinx configuration of the dgl_ssm documentation (``make docs``: ``sphinx-build -W -b html docs docs/_build/html``)."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import dgl_ssm  # noqa: E402

project = "dgl_ssm"
author = "The dgl_ssm authors"
release = version = dgl_ssm.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax", "myst_parser"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_ivar = True  # "Attributes" sections as :ivar: fields (no duplicate attribute entries)
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
html_theme = "furo"  # a maintained theme with readable tables (issue 44)
html_title = f"dgl_ssm {release}"
# docstrings cross-reference torch, DGL and numpy objects that are not documented here
nitpicky = False
suppress_warnings = ["myst.header", "myst.xref_missing"]
