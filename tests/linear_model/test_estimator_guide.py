"""The user guide's estimator page (docs/guide/estimator.rst): every ``code-block:: python``
runs as written, and says what its text says."""

import contextlib
import io
import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide" / "estimator.rst"


def code_blocks():
    if not GUIDE.is_file():        # an installed package's tests: no docs folder
        return []
    text = GUIDE.read_text()
    return ["\n".join(line[4:] for line in block.splitlines())
            for block in re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)]


BLOCKS = code_blocks()


@pytest.mark.skipif(not BLOCKS, reason="docs/guide/estimator.rst is not here")
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_every_code_block_of_the_guide_runs(index):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(BLOCKS[index], f"{GUIDE.name} block {index}", "exec"), {})
    assert out.getvalue()


def test_the_guide_shows_sparsity_and_robustness_as_its_text_says():
    outputs = []
    for block in BLOCKS:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, GUIDE.name, "exec"), {})
        outputs.append(out.getvalue())
    assert any("8 of 8 irrelevant coefficients are 0" in o for o in outputs)
    assert any("l1_ratio must be a finite number in [0, 1], got 1.5" in o for o in outputs)
