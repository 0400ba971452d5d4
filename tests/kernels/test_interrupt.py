"""Ctrl-C interrupts long kernel calls within a fraction of a second.

Each test runs the call in a child process, sends it SIGINT (what Ctrl-C sends) while the
call runs, and measures how long the child takes to raise KeyboardInterrupt.  The calls take
several seconds here when not interrupted.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import fastbatch as fb

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
# After the child reports that its main thread is inside the kernel call.
SIGNAL_AFTER_SECONDS = 0.05
LATENCY_LIMIT_SECONDS = 1.0

CHILD = r"""
import json
import linecache
import sys
import threading
import time
import traceback

import numpy as np

import fastbatch as fb

call = sys.argv[1]
if call == "permutation":
    def run():
        return fb.permutation(150_000_000, rng=0, dtype=np.int32)
elif call == "take":
    X = np.zeros((4_000_000, 4), dtype=np.float32)
    idx = np.random.default_rng(0).integers(0, len(X), size=40_000_000)
    def run():
        return fb.take(X, idx)
elif call == "block":
    # One window of every row: a table of 1.5e8 rows, drawn as the first batch is cut.
    X = np.zeros(150_000_000, dtype=np.int8)
    loader = fb.BatchLoader(X, batch_size=256, shuffle=True, rng=0,
                            shuffle_method="block", block_size=len(X))
    def run():
        return next(iter(loader))
kernel = {"permutation": "permutation_into(", "take": "take_into(",
          "block": "run_draws("}[call]
main = threading.main_thread().ident


def report_ready():
    # "ready" once the main thread's innermost Python frame is the line that calls the
    # compiled kernel (argument checks done, the long call begun).
    while True:
        frame = sys._current_frames()[main]
        if kernel in linecache.getline(frame.f_code.co_filename, frame.f_lineno):
            print("ready", flush=True)
            return
        time.sleep(0.001)


threading.Thread(target=report_ready, daemon=True).start()
start = time.monotonic()
frames = []
try:
    run()
    outcome = "completed"
except KeyboardInterrupt as exc:
    outcome = "interrupted"
    frames = [frame.name for frame in traceback.extract_tb(exc.__traceback__)]
print(json.dumps({"outcome": outcome, "at": time.monotonic(), "start": start,
                  "frames": frames}), flush=True)
"""


def interrupt_latency(call, kernel):
    """Seconds from SIGINT to KeyboardInterrupt in a child running ``call``, which must
    come out of the compiled ``kernel`` (not be raised after it returned)."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, call], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        time.sleep(SIGNAL_AFTER_SECONDS)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, stderr
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report["outcome"] == "interrupted", (
        f"the call completed in {report['at'] - report['start']:.1f} s before the signal")
    assert report["start"] < sent, "the signal came before the call started"
    assert kernel in report["frames"], f"raised outside {kernel}: {report['frames']}"
    return report["at"] - sent


def test_ctrl_c_interrupts_a_long_permutation_promptly():
    latency = interrupt_latency("permutation", "fastbatch._kernels.shuffle.permutation_into")
    assert latency < LATENCY_LIMIT_SECONDS


def test_ctrl_c_interrupts_a_long_take_promptly():
    latency = interrupt_latency("take", "fastbatch._kernels.take.take_into")
    assert latency < LATENCY_LIMIT_SECONDS


def test_ctrl_c_interrupts_a_long_block_window_draw_promptly():
    # A window above the Fisher-Yates limit is drawn as it is entered, on every thread,
    # looking for Ctrl-C like a permutation.
    latency = interrupt_latency("block", "fastbatch._kernels.shuffle.RunsDraw.result")
    assert latency < LATENCY_LIMIT_SECONDS


def test_an_interrupted_permutation_releases_the_bit_generator():
    bit_generator = np.random.PCG64(0)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            fb.permutation(150_000_000, rng=bit_generator, dtype=np.int32)
    finally:
        timer.cancel()
    # The lock is reentrant: only another thread can tell whether it is still held.
    acquired = []
    probe = threading.Thread(target=lambda: acquired.append(
        bit_generator.lock.acquire(timeout=5) and bit_generator.lock.release() is None))
    probe.start()
    probe.join()
    assert acquired == [True]
    p = fb.permutation(3_000_000, rng=bit_generator)
    np.testing.assert_array_equal(np.sort(p), np.arange(3_000_000))
