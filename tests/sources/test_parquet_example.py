"""The worked Parquet example runs: examples/parquet_shards.py and the code blocks of
docs/guide/parquet_example.rst (in order, as one program)."""
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_parquet_shards_example_trains_from_its_shards(tmp_path):
    pytest.importorskip("pyarrow")
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "parquet_shards.py"),
                          str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "262144 rows in 32 row groups" in run.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"part-{i:03d}.parquet" for i in range(4)]


def test_the_parquet_guides_code_blocks_run(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))    # its mkdtemp() in here
    text = (ROOT / "docs" / "guide" / "parquet_example.rst").read_text()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
    assert len(blocks) == 3
    program = "\n".join(re.sub(r"(?m)^    ", "", block) for block in blocks)
    exec(compile(program, "parquet_example.rst", "exec"), {})
