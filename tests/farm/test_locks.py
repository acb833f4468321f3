"""Device locks: one holder across processes; a second caller waits or is refused."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from suite.farm.locks import DeviceBusy, DeviceLock

HOLD = """
import sys, time
from suite.farm.locks import DeviceLock
lock = DeviceLock(sys.argv[1], "dev", {"farm": "other"})
lock.acquire()
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_second_process_is_refused_then_gets_it(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), "1.0"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = DeviceLock(tmp_path, "dev")
        with pytest.raises(DeviceBusy) as err:
            lock.acquire(wait=False)
        assert err.value.holder["farm"] == "other" and f"pid {holder.pid}" in str(err.value)
        t0 = time.monotonic()
        lock.acquire(wait=True, timeout_s=10, poll_s=0.05)  # waits until the holder exits
        assert time.monotonic() - t0 > 0.2
        lock.release()
    finally:
        holder.kill()
        holder.wait()


def test_kill_9_frees_the_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), "60"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    lock = DeviceLock(tmp_path, "dev")
    lock.acquire(wait=False)
    assert lock.held
    lock.release()


def test_wait_times_out(tmp_path):
    a = DeviceLock(tmp_path, "dev")
    a.acquire()
    try:
        with pytest.raises(DeviceBusy, match="after waiting"):
            DeviceLock(tmp_path, "dev").acquire(wait=True, timeout_s=0.3, poll_s=0.05)
    finally:
        a.release()
