"""Real multi-process tests: a free TCP port, and a helper script run as N ranks."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(script, world_size, *args, timeout=120):
    """Run ``script rank world_size port *args`` as ``world_size`` processes."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(HELPERS.parent)] + os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    procs = [subprocess.Popen(
        [sys.executable, str(HELPERS / script), str(rank), str(world_size), str(port),
         *map(str, args)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for rank in range(world_size)]
    logs = []
    for p in procs:
        try:
            logs.append(p.communicate(timeout=timeout)[0].decode())
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"the {script} processes did not finish within {timeout} s")
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)
