"""The documentation site (docs/, ``make docs``): its code blocks run, it builds without a
warning, its internal links lead somewhere, and it says what the code does."""

import builtins
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from doc_blocks import DOCS, REPO, broken_links, code_blocks, guide_pages

import fastbatch as fb
from fastbatch._bench.report import efficiency_row, status_of

# Optional packages a page may use: without one, the rest of that page is skipped.
OPTIONAL = ("torch", "torchdata", "lightning", "pyarrow", "datasets", "matplotlib",
            "sklearn")
PAGES = guide_pages()


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_code_blocks_of_the_page_run_in_order(page, tmp_path, monkeypatch):
    # Each page's Python blocks run one after another in one namespace, in an empty
    # folder (pages write their own example files), as a reader would paste them.
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__", "__builtins__": builtins}
    blocks = [b for b in code_blocks(page) if b.not_tested is None]
    for block in blocks:
        code = compile(block.code, f"{page.relative_to(REPO)}, block at line {block.line}",
                       "exec")
        try:
            exec(code, namespace)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.split(".")[0] in OPTIONAL:
                pytest.skip(f"{page.name} from line {block.line} needs {exc.name}")
            raise


def test_every_page_with_python_has_blocks_that_run():
    # A page whose every block is marked not-tested would pass without testing anything.
    for page in PAGES:
        blocks = code_blocks(page)
        if blocks:
            assert any(b.not_tested is None for b in blocks), f"{page}: no block is run"


def test_blocks_left_out_of_the_run_say_why():
    for page in PAGES:
        for block in code_blocks(page):
            if block.not_tested is not None:
                assert len(block.not_tested) > 10, (
                    f"{page}:{block.line}: a not-tested block must give its reason")


def test_the_estimator_page_keeps_the_classic_loop_that_the_training_test_runs():
    # tests/linear_model/test_training.py runs the classic loop of the docs against the
    # estimator; the block is left out of the page run for that reason only.
    found = [b for p in PAGES for b in code_blocks(p)
             if b.code.startswith("# The mini-batch loop people write")]
    assert len(found) == 1 and found[0].not_tested


def test_api_reference_lists_every_public_name():
    text = (DOCS / "api" / "index.rst").read_text()
    listed = set(re.findall(r"^   ([\w.]+)$", text, re.M))
    missing = [name for name in fb.__all__ if name != "__version__" and name not in listed]
    assert not missing, f"docs/api/index.rst lacks {missing}"
    assert "automodule:: fastbatch.torch_bridge" in (DOCS / "api" / "torch_bridge.rst").read_text()


def _statuses_the_report_prints():
    ratios = {status_of(r, f, g) for r, f, g in [(9, 4, 8), (5, 4, 8), (1, 4, 8), (1, None, None)]}
    efficiency = {efficiency_row("e", 1, {"fastbatch": t, "b": 1}, "b",
                                 {"random": 1, "sequential": 1}, goal=g)["status"]
                  for t, g in [(1, 0.5), (4, 0.5), (1, None)]}
    return ratios | efficiency


def test_performance_page_names_the_statuses_the_report_prints():
    # The README once spoke of statuses that its report did not show: the page's list
    # is checked against the report code, both ways.
    text = (DOCS / "guide" / "performance.rst").read_text()
    section = text.split("What the status column says", 1)[1].split("\nWhat limits", 1)[0]
    named = set(re.findall(r"^- ``([^`]+)`` —", section, re.M))
    printed = _statuses_the_report_prints()
    assert printed <= named, f"statuses the report prints but the page does not explain: " \
                             f"{printed - named}"
    source = (REPO / "fastbatch" / "_bench" / "report.py").read_text()
    for status in named - printed:
        stem = status.split(" PACKAGE")[0].strip("()")
        assert stem in source, f"the page explains {status!r}, which the report never prints"


def test_readme_statuses_are_the_reports():
    readme = (REPO / "README.md").read_text()
    words = set(re.findall(r"\b(goal met|floor met|BELOW FLOOR|below goal)\b", readme))
    assert words, "the README's ratio table shows the report's statuses"
    assert words <= _statuses_the_report_prints()


def test_link_checker_finds_a_broken_link_and_a_missing_anchor(tmp_path):
    (tmp_path / "a.html").write_text('<a href="b.html#here">b</a><a href="c.html">c</a>'
                                     '<a href="https://example.org/x">x</a>')
    (tmp_path / "b.html").write_text('<h1 id="there">b</h1><a href="a.html">a</a>')
    assert sorted(broken_links(tmp_path)) == [("a.html", "b.html#here"), ("a.html", "c.html")]
    (tmp_path / "b.html").write_text('<h1 id="here">b</h1>')
    (tmp_path / "c.html").write_text("")
    assert broken_links(tmp_path) == []


@pytest.mark.slow
def test_site_builds_without_warnings_and_its_links_resolve(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    pytest.importorskip("pydata_sphinx_theme")
    pytest.importorskip("matplotlib")
    # Built from a copy: the build writes generated pages next to the sources.
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs, ignore=shutil.ignore_patterns("_build", "_generated",
                                                              "generated"))
    html = tmp_path / "html"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n",
                             "-q", "-b", "html", docs, html], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == "", result.stderr
    assert not broken_links(html)
    for page in ("index.html", "guide/loading.html", "guide/performance.html",
                 "api/generated/fastbatch.BatchLoader.html", "api/torch_bridge.html"):
        assert (html / page).is_file(), page
    api = (html / "api" / "generated" / "fastbatch.BatchLoader.html").read_text()
    assert "shuffle_method" in api and "Parameters" in api
    assert (html / "_images" / "bench-report.png").is_file()

