"""This process's memory counters from /proc (Linux), for the memory tests."""

import pytest


def status_bytes(field):
    """``field`` of /proc/self/status (``"VmRSS"``, ``"RssFile"``, ...) in bytes; the test
    is skipped on a platform that does not report it."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    pytest.skip(f"this platform does not report {field}")
