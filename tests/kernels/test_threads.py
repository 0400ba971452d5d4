"""Thread control: get_num_threads / set_num_threads, the environment variable, threadpoolctl."""
import os
import subprocess
import sys

import pytest

import fastbatch as fb


def _in_fresh_process(code, **env):
    environ = {k: v for k, v in os.environ.items() if k != "FASTBATCH_NUM_THREADS"}
    environ.update(env)
    out = subprocess.run([sys.executable, "-W", "always", "-c", code], env=environ,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip(), out.stderr


def test_default_is_the_cpus_this_process_may_run_on():
    stdout, _ = _in_fresh_process("import fastbatch as fb; print(fb.get_num_threads())")
    assert int(stdout) == len(os.sched_getaffinity(0))


def test_environment_variable_sets_the_default():
    stdout, _ = _in_fresh_process("import fastbatch as fb; print(fb.get_num_threads())",
                                  FASTBATCH_NUM_THREADS="3")
    assert stdout == "3"


@pytest.mark.parametrize("value", ["zero", "0", "-2", "1.5", "100000"])
def test_bad_environment_variable_is_ignored_with_a_warning_naming_it(value):
    stdout, stderr = _in_fresh_process("import fastbatch as fb; print(fb.get_num_threads())",
                                       FASTBATCH_NUM_THREADS=value)
    assert int(stdout) == len(os.sched_getaffinity(0))
    assert "FASTBATCH_NUM_THREADS" in stderr and repr(value) in stderr


def test_set_num_threads_is_process_wide_and_immediate():
    before = fb.get_num_threads()
    try:
        fb.set_num_threads(3)
        assert fb.get_num_threads() == 3
    finally:
        fb.set_num_threads(before)


def test_set_num_threads_as_context_manager_restores_the_previous_count():
    before = fb.get_num_threads()
    with fb.set_num_threads(5):
        assert fb.get_num_threads() == 5
        with fb.set_num_threads(1):
            assert fb.get_num_threads() == 1
        assert fb.get_num_threads() == 5
    assert fb.get_num_threads() == before


def test_context_manager_restores_after_an_exception():
    before = fb.get_num_threads()
    with pytest.raises(KeyError):
        with fb.set_num_threads(7):
            raise KeyError("boom")
    assert fb.get_num_threads() == before


@pytest.mark.parametrize("bad, error", [
    (0, ValueError), (-1, ValueError), (257, ValueError), (2**63, ValueError),
    (1.5, TypeError), (True, TypeError), ("2", TypeError), (None, TypeError),
])
def test_bad_counts_are_rejected_naming_the_argument(bad, error):
    before = fb.get_num_threads()
    with pytest.raises(error, match=r"\bn\b"):
        fb.set_num_threads(bad)
    assert fb.get_num_threads() == before


def test_threadpoolctl_sees_and_limits_fastbatch():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    infos = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "fastbatch"]
    assert len(infos) == 1 and infos[0]["num_threads"] == fb.get_num_threads()
    before = fb.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=1, user_api="fastbatch"):
        assert fb.get_num_threads() == 1
    assert fb.get_num_threads() == before
