"""Farm runs on local devices: parallel workers, idempotent reruns, exit codes, faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from suite.cli.main import main
from suite.farm.config import EXIT_BUSY, EXIT_FAILED, EXIT_INCOMPLETE, load_farm
from suite.farm.runner import run_farm
from suite.results.store import read_journal

REPO = Path(__file__).resolve().parents[2]
#: The default rounds (3) and sentinel (first and last in a round of at most 10 points), no confirmation.
SLOW = "measure: {warmup_runs: 1, warmup_s: 0.01, min_runs: 3, min_s: 0.15, max_s: 0.3, confirm_s: 0}"
ROUNDS = 3


def expected_keys(points: int) -> int:
    return points * ROUNDS + 2 * ROUNDS  # every point once per round, and the sentinel twice per round


def journal_keys(run_dir: Path) -> Counter:
    keys: Counter = Counter()
    for line in (run_dir / "journal.jsonl").read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        keys[(rec["job_id"], rec["round"], rec["role"], rec["slot"])] += 1
    return keys


def farm_cli(farm: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "suite", "farm", "run", str(farm), "--instance", "i1", *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_devices_in_parallel_then_rerun_measures_nothing(farm_dir, capsys):
    farm_dir.sweep("s", [4, 8, 12])
    farm_dir.device("cpu-a")
    farm_dir.device("cpu-b")
    path = farm_dir.farm("""\
        jobs:
          - sweep: sweeps/s.yaml
            devices: [cpu-a, cpu-b]
        drift: {every: 2, cooldown: {pause_s: 0}}
        """)
    assert main(["farm", "run", str(path), "--instance", "day1"]) == 0
    summary = json.loads((farm_dir.root / "results/day1/summary.json").read_text())
    assert summary["exit_code"] == 0 and set(summary["devices"]) == {"cpu-a", "cpu-b"}
    for dev in ("cpu-a", "cpu-b"):
        run = farm_dir.root / f"results/day1/{dev}/s"
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["status"] == "complete" and manifest["counts"] == {"ok": 3}
        drift = manifest["drift"]
        assert drift["sentinel"] and len(drift["batches"]) == 2 + len([c for c in drift["checks"] if c.get("action", "").startswith("cooldown")])
    out = capsys.readouterr().out
    assert "cpu-a" in out and "done" in out
    again = run_farm(load_farm(path), "day1")
    assert again.exit_code == 0
    assert all(t.earlier and t.measured == 0 for r in again.devices.values() for t in r.tasks)


def test_failing_device_is_quarantined_and_others_finish(farm_dir):
    farm_dir.sweep("s", [4, 8])
    farm_dir.device("good")
    farm_dir.device("bad", "name: bad\nclass: cpu\npython: /bin/false\n")  # agent exits at once: device lost
    path = farm_dir.farm("""\
        jobs:
          - sweep: sweeps/s.yaml
            devices: [good, bad]
          - name: second
            sweep: sweeps/s.yaml
            devices: [bad]
        retry: {attempts: 3, backoff_s: 0.01}
        quarantine_after: 2
        """)
    outcome = run_farm(load_farm(path), "q")
    assert outcome.exit_code == EXIT_FAILED
    assert outcome.devices["good"].status == "done"
    bad = outcome.devices["bad"]
    assert bad.status == "quarantined" and "2 failures in a row" in bad.reason and "agent stream ended" in bad.reason
    assert sorted(t.status for t in bad.tasks) == ["failed", "skipped"]
    # the rest of the instance: still quarantined on a rerun, unless cleared
    again = run_farm(load_farm(path), "q")
    assert again.devices["bad"].status == "quarantined" and "earlier" in again.devices["bad"].reason
    assert again.devices["good"].tasks[0].earlier


def test_budget_exhausted_is_incomplete_and_resumable(farm_dir):
    farm_dir.sweep("s", [4, 8, 12, 16], SLOW)
    farm_dir.device("cpu-a")
    path = farm_dir.farm("""\
        jobs:
          - sweep: sweeps/s.yaml
            devices: [cpu-a]
        budget_min: 0.005
        """)
    outcome = run_farm(load_farm(path), "b")
    assert outcome.exit_code == EXIT_INCOMPLETE
    assert outcome.devices["cpu-a"].tasks[0].status in ("skipped", "incomplete")
    path.write_text(path.read_text().replace("budget_min: 0.005", ""))
    assert run_farm(load_farm(path), "b").exit_code == 0
    table = pq.read_table(farm_dir.root / "results/b/cpu-a/s/measurements.parquet")
    assert table.num_rows == 4


def test_kill_9_mid_run_then_rerun_measures_every_point_once(farm_dir):
    farm_dir.sweep("s", [4, 8, 12, 16, 20, 24, 28, 32], SLOW)
    farm_dir.device("cpu-a")
    path = farm_dir.farm("jobs:\n  - sweep: sweeps/s.yaml\n    devices: [cpu-a]\n")
    run = farm_dir.root / "results/i1/cpu-a/s"
    proc = farm_cli(path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (run / "journal.jsonl").exists() and len((run / "journal.jsonl").read_text().splitlines()) >= 2:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = journal_keys(run)
    assert 2 <= sum(first.values()) < expected_keys(8)
    proc = farm_cli(path)
    assert proc.wait(timeout=90) == 0, proc.stderr.read()
    keys = journal_keys(run)
    assert len(keys) == expected_keys(8) and set(keys.values()) == {1}  # each (job, round) once, none twice
    assert pq.read_table(run / "measurements.parquet").num_rows == 8


def test_two_farm_runs_at_once_never_interleave(farm_dir):
    farm_dir.sweep("s", [4, 8, 12, 16, 20, 24], SLOW)
    farm_dir.device("cpu-a")
    path = farm_dir.farm("jobs:\n  - sweep: sweeps/s.yaml\n    devices: [cpu-a]\n")
    lock = farm_dir.root / "locks/cpu-a.lock"
    first = farm_cli(path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (lock.exists() and lock.read_text().strip()):
        time.sleep(0.02)
    refused = farm_cli(path, "--no-wait")
    assert refused.wait(timeout=30) == EXIT_BUSY
    assert "busy" in refused.stderr.read() + refused.stdout.read()
    waiter = farm_cli(path, "--wait")
    assert first.wait(timeout=90) == 0
    assert waiter.wait(timeout=90) == 0
    run = farm_dir.root / "results/i1/cpu-a/s"
    keys = journal_keys(run)
    assert len(keys) == expected_keys(6) and set(keys.values()) == {1}
    assert read_journal(run / "journal.jsonl").bad_lines == []


def test_truncated_journal_line_is_reported_and_the_rest_recovered(farm_dir):
    farm_dir.sweep("s", [4, 8, 12])
    farm_dir.device("cpu-a")
    path = farm_dir.farm("jobs:\n  - sweep: sweeps/s.yaml\n    devices: [cpu-a]\n")
    assert run_farm(load_farm(path), "t").exit_code == 0
    run = farm_dir.root / "results/t/cpu-a/s"
    lines = (run / "journal.jsonl").read_text().splitlines()
    # as a crash would leave it: last record cut in half, run not finalised
    (run / "journal.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][: len(lines[2]) // 2])
    (run / "measurements.parquet").unlink()
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    outcome = run_farm(load_farm(path), "t")
    assert outcome.exit_code == 0 and outcome.devices["cpu-a"].tasks[0].measured == 1
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["journal_bad_lines"] and manifest["journal_bad_lines"][0].startswith("line 3")
    assert pq.read_table(run / "measurements.parquet").num_rows == 3
