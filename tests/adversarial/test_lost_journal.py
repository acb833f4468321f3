"""Resume after data loss (issue 12): an interrupted run whose journal was deleted keeps what it had."""

from __future__ import annotations

import json

import suite.results as results
from suite.devices.config import load_device
from suite.devices.session import DeviceLost, DeviceSession
from suite.pipeline import run_sweep
from suite.results.store import JOURNAL, MEASUREMENTS, ROUNDS
from suite.sweep.expand import load_sweep

SWEEP = """name: lossy
op: conv2d
fixed: {cin: 8, resolution: 8}
axes: {cout: [4, 8, 12, 16, 20, 24]}
measure: {warmup_runs: 1, warmup_s: 0.0, min_runs: 5, min_s: 0.01, max_s: 0.1, timeout_s: 20, confirm_s: 0}
"""


def lose_device_after(monkeypatch, results_before_loss: int) -> None:
    """The device goes away after ``results_before_loss`` results (as a dropped SSH link would)."""
    real = DeviceSession.run_batch
    seen = {"n": 0}

    def run_batch(self, jobs, on_result, **kw):
        def counted(msg):
            if seen["n"] >= results_before_loss:
                raise DeviceLost("planted: link dropped", in_flight=msg["job"], pending=[msg["job"]])
            seen["n"] += 1
            on_result(msg)
        return real(self, jobs, on_result=counted, **kw)

    monkeypatch.setattr(DeviceSession, "run_batch", run_batch)


def test_resume_after_the_journal_was_deleted_merges_what_the_parquet_held(write_yaml, tmp_path, monkeypatch):
    sweep = load_sweep(write_yaml(SWEEP))
    device = load_device("devices/local-cpu.yaml")
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        lose_device_after(m, 10)
        first = run_sweep(sweep, device, out)
    assert not first.complete and (out / MEASUREMENTS).exists() and (out / ROUNDS).exists()
    before = results.load_rounds(out)
    kept = before[before.status == "ok"].set_index(["job_id", "round", "role", "slot"]).median_ms
    assert len(kept) == 10 and before.status.tolist().count("device_lost") == 1  # the job in flight
    (out / JOURNAL).unlink()  # the journal is lost; the parquet files written at the interruption remain

    second = run_sweep(sweep, device, out)
    assert second.complete
    df = results.load(out)
    rounds = results.load_rounds(out)
    assert len(df) == 6 and set(df.status) == {"ok"} and df.rounds.eq(3).all()
    assert not rounds.duplicated(["job_id", "round", "role", "slot"]).any()
    assert len(rounds[rounds.role == "point"]) == 18 and len(rounds[rounds.role == "sentinel"]) == 6
    after = rounds.set_index(["job_id", "round", "role", "slot"]).median_ms
    assert after.loc[kept.index].tolist() == kept.tolist()  # what was measured before is still there, unchanged
    assert second.measured == 24 - 10  # the rest, the job lost in flight included
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and m["counts"] == {"ok": 6}
