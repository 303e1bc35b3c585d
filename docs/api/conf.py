"""Sphinx configuration of rnnkit's API reference (built in CI with warnings as errors).

    python3 -m sphinx -W --keep-going -b html docs/api docs/api/_build
"""

from __future__ import annotations

import rnnkit

project = "rnnkit"
author = "the rnnkit authors"
release = version = rnnkit.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
]
# No network in CI: torch/numpy cross-references stay plain text instead of links.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
nitpicky = False
# References to torch / numpy objects cannot be resolved offline.
suppress_warnings = ["ref.class", "ref.func", "ref.mod", "ref.meth", "ref.obj"]
exclude_patterns = ["_build"]
html_theme = "alabaster"


def _io_blocks_as_rst(app, what, name, obj, options, lines: list[str]) -> None:  # noqa: ANN001
    """Make torch.nn's "Inputs: a, b" / "Outputs: ..." blocks valid RST.

    They are not napoleon sections: RST needs a blank line after the header line, and an
    item whose text wraps onto a deeper-indented line would start an unexpected block,
    so wrapped lines are joined onto their item, and each item is made a bullet. The
    docstrings stay as they read in code.
    """
    i = 0
    while i < len(lines) - 1:
        head = lines[i].lstrip()
        indent = len(lines[i]) - len(head)
        if not head.startswith(("Inputs:", "Outputs:")) or not lines[i + 1].strip():
            i += 1
            continue
        lines.insert(i + 1, "")
        j, item_indent = i + 2, None
        while j < len(lines) and lines[j].strip():
            depth = len(lines[j]) - len(lines[j].lstrip())
            if depth <= indent:
                break
            if item_indent is None:
                item_indent = depth
            if depth > item_indent and not lines[j].lstrip().startswith(("* ", "- ")):
                lines[j - 1] = lines[j - 1].rstrip() + " " + lines[j].strip()
                del lines[j]
                continue
            if depth == item_indent and not lines[j].lstrip().startswith(("* ", "- ")):
                lines[j] = " " * depth + "* " + lines[j].lstrip()  # one item a bullet
            j += 1
        i = j


def setup(app) -> None:  # noqa: ANN001
    app.connect("autodoc-process-docstring", _io_blocks_as_rst)
