"""Two measurements of one device or one run directory never run at once (issue 12), with real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import suite.results as results
from suite.errors import EXIT_BUSY

REPO = Path(__file__).resolve().parents[2]
#: Long enough (about 25 s) that the holder is still measuring while the others are refused; it is then killed.
SLOW = """name: held
op: conv2d
fixed: {cin: 8, resolution: 8}
axes: {cout: {range: [4, 48, 4]}}
measure: {warmup_runs: 1, warmup_s: 0.0, min_runs: 5, min_s: 0.5, max_s: 0.8, timeout_s: 20, rounds: 2,
          confirm_s: 0}
"""


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "suite", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ), start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    """kill -9 the process group (the agent with it); the kernel drops its locks."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def wait_for(path: Path, lines: int = 1, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= lines:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never got {lines} line(s)")


def keys(run: Path) -> Counter:
    out: Counter = Counter()
    for line in (run / "journal.jsonl").read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:  # the line a kill -9 cut short
            continue
        out[(rec["job_id"], rec["round"], rec["role"], rec["slot"])] += 1
    return out


def test_a_second_run_into_the_same_out_is_refused_and_measures_nothing(write_yaml, tmp_path):
    sweep = write_yaml(SLOW)
    other_device = write_yaml((REPO / "devices/local-cpu.yaml").read_text().replace("name: local-cpu",
                                                                                     "name: local-cpu-2"), "dev2.yaml")
    out = tmp_path / "run"
    first = start("run", str(sweep), "--out", str(out), "--quiet")
    try:
        wait_for(out / "journal.jsonl")
        # the same device: refused at the device lock
        same = start("run", str(sweep), "--out", str(tmp_path / "elsewhere"), "--quiet")
        assert same.wait(timeout=60) == EXIT_BUSY
        err = same.stderr.read()
        assert "device local-cpu is busy" in err and f"pid {first.pid}" in err and "Traceback" not in err
        # another device, the same run directory: refused at the run directory's lock
        again = start("run", str(sweep), "--device", str(other_device), "--out", str(out), "--quiet")
        assert again.wait(timeout=60) == EXIT_BUSY
        err = again.stderr.read()
        assert f"run directory {out} is busy" in err and "another --out" in err
        assert first.poll() is None, "the holder finished before the others were refused"
    finally:
        stop(first)
    counted = keys(out)
    assert counted and set(counted.values()) == {1}  # nothing measured twice
    assert not (tmp_path / "elsewhere" / "journal.jsonl").exists()
    # the lock died with its holder: the same command resumes and finishes
    p = subprocess.run([sys.executable, "-m", "suite", "run", str(sweep), "--out", str(out), "--quiet"], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert set(keys(out).values()) == {1} and len(results.load(out)) == 12


FARM = """name: f
results: {results}
devices_dir: {devices}
jobs:
  - sweep: {sweep}
    devices: [local-cpu]
"""


def test_a_farm_and_a_plain_run_never_measure_one_device_at_once(write_yaml, tmp_path):
    sweep = write_yaml(SLOW)
    farm = write_yaml(FARM.format(results=tmp_path / "farm", devices=REPO / "devices", sweep=sweep), "farm.yaml")
    journal = tmp_path / "farm" / "i1" / "local-cpu" / "held" / "journal.jsonl"
    holder = start("farm", "run", str(farm), "--instance", "i1")
    try:
        wait_for(journal)
        refused = start("run", str(sweep), "--out", str(tmp_path / "plain"), "--quiet")
        assert refused.wait(timeout=60) == EXIT_BUSY
        err = refused.stderr.read()
        assert "device local-cpu is busy" in err and "farm f" in err
        assert holder.poll() is None, "the farm finished before the run was refused"
    finally:
        stop(holder)
    # and the other way round: a plain run holds the device, the farm is told it is busy
    plain = start("run", str(sweep), "--out", str(tmp_path / "plain"), "--quiet")
    try:
        wait_for(tmp_path / "plain" / "journal.jsonl")
        farm_try = start("farm", "run", str(farm), "--instance", "i2", "--no-wait")
        assert farm_try.wait(timeout=60) == EXIT_BUSY
        assert "busy" in farm_try.stdout.read() + farm_try.stderr.read()
        assert plain.poll() is None, "the run finished before the farm was refused"
    finally:
        stop(plain)
    assert not (tmp_path / "farm" / "i2" / "local-cpu" / "held" / "journal.jsonl").exists()
