"""Sphinx configuration of fastbatch's documentation site (``make docs``).

The API reference is generated from the numpydoc docstrings (autosummary + numpydoc); the
performance page's report and plot are drawn at build time from the committed benchmark
run in ``docs/_data/bench-report.json`` (``fastbatch bench --json``), into
``docs/_generated/`` (not committed).
"""

import json
import os
from pathlib import Path

# The package documented is the one importable here (`make docs`: this tree's editable
# install in .venv).
import fastbatch

DOCS = Path(__file__).resolve().parent

project = "fastbatch"
author = "The fastbatch developers"
copyright = "the fastbatch developers"
release = fastbatch.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
]

# Autosummary writes one page per public name into api/generated/ (not committed).
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"
# numpydoc lists a class's members itself; autosummary stubs then need no member tables.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()

exclude_patterns = ["_build", "_generated", "**/.ipynb_checkpoints"]
templates_path = ["_templates"]
# The docstrings name NumPy, PyTorch, pyarrow and scikit-learn objects; the site is built
# without network (no intersphinx), so references into those packages stay plain text.
nitpick_ignore_regex = [
    ("py:.*", r"(numpy|np|torch|torchdata|pyarrow|pa|datasets|sklearn|matplotlib|"
              r"threadpoolctl|lightning)(\..*)?"),
    ("py:.*", r"(array_like|array-like|ndarray|optional|callable|sized|path-like|"
              r"iterable|sequence|mapping|Generator|BitGenerator|SeedSequence|os\.PathLike|"
              r"\{.*\}|.*\}|\".*|'.*|default .*|or .*|of .*|int|float|bool|str|dict|list|"
              r"tuple|None|bytes|object|type)"),
]

html_theme = "pydata_sphinx_theme"
html_title = f"fastbatch {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_static_path = ["_static"]
html_css_files = ["fastbatch.css"]
html_show_sourcelink = False


def _draw_performance(app):
    """The report text and plot of the committed benchmark run, for guide/performance."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fastbatch._bench.plot import draw_report
    from fastbatch._bench.report import format_report

    report = json.loads((DOCS / "_data" / "bench-report.json").read_text())
    out = DOCS / "_generated"
    out.mkdir(exist_ok=True)
    (out / "bench-report.txt").write_text(format_report(report) + "\n")
    draw_report(report, os.fspath(out / "bench-report.png"), plt)


def setup(app):
    app.connect("builder-inited", _draw_performance)
