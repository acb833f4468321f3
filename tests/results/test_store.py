"""Run directories: journal recovery, resume rules, schema versions, DuckDB views."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import suite.results as results
from suite.errors import ResultsError
from suite.results.records import Measurement
from suite.results.schema import CONTRACT_COLUMNS, SCHEMA_VERSION
from suite.results.statistics import summarize
from suite.results.store import JOURNAL, MEASUREMENTS, RunWriter, read_journal


def manifest(**over):
    base = {"schema_version": SCHEMA_VERSION, "run_id": "r1", "sweep_sha256": "abc", "device_name": "dev",
            "protocol": {"min_runs": 3}, "seed": 0, "rounds": 1, "sentinel_every": 0, "sweep": {"name": "s", "points": 2},
            "device": {"name": "dev", "class": "cpu"}}
    base.update(over)
    return base


def measurement(job: str, status: str = "ok", cout: int = 8, **over) -> Measurement:
    samples = [1.0, 1.1, 0.9] if status in ("ok", "fallback") else []
    fields = dict(run_id="r1", job_id=job, sweep="s", device="dev", device_class="cpu", runtime="onnxruntime",
                  format="onnx", point_id=job.split("-")[0], config_id="c", op="conv2d", dtype="fp32",
                  params={"cin": 8, "cout": cout, "activation": "relu"}, macs=10, flops=20, param_count=5,
                  bytes_in=1, bytes_out=2, bytes_weights=3, status=status, started_at="2026-01-01T00:00:00+00:00",
                  samples_ms=samples, stats=summarize(samples) if samples else {},
                  error=None if status == "ok" else "onnxruntime: boom")
    fields.update(over)
    return Measurement(**fields)


def test_measurement_rejects_a_timed_status_without_samples():
    with pytest.raises(ValueError, match="not 0 ms"):
        Measurement(**{**measurement("a-onnx").__dict__, "samples_ms": [], "stats": {}})
    with pytest.raises(ValueError, match="needs an error"):
        measurement("a-onnx", status="crashed", error=None)


def test_parquet_has_the_contract_columns_and_param_columns(tmp_path):
    w = RunWriter(tmp_path / "run", manifest())
    w.append(measurement("a-onnx"))
    w.append(measurement("b-onnx", status="unsupported", cout=16))
    w.finalize()
    w.close()
    df = results.load(tmp_path / "run")
    for col in CONTRACT_COLUMNS:
        assert col in df.columns, col
    assert {"cin", "cout", "activation"} <= set(df.columns)
    ok = df[df.status == "ok"].iloc[0]
    assert list(ok.samples_ms) == [1.0, 1.1, 0.9] and ok.median_ms == 1.0 and ok.n == 3
    bad = df[df.status == "unsupported"].iloc[0]
    assert bad.error == "onnxruntime: boom" and bad.n == 0 and (bad.median_ms != bad.median_ms)  # NaN, never 0


def test_truncated_and_corrupt_journal_lines_are_reported_and_the_rest_recovered(tmp_path):
    w = RunWriter(tmp_path / "run", manifest())
    w.append(measurement("a-onnx"))
    w.close()
    journal = tmp_path / "run" / JOURNAL
    with open(journal, "a") as f:
        f.write('{"run_id": "r1", "job_id": "trunc')  # a kill -9 in the middle of a write
    w = RunWriter(tmp_path / "run", manifest())
    assert w.done_keys() == {("a-onnx", 0, "point", 0)}
    assert len(w.previous.bad_lines) == 1
    w.append(measurement("b-onnx"))
    m = w.finalize()
    w.close()
    assert m["counts"] == {"ok": 2}
    assert m["journal_bad_lines"] and "line 2" in m["journal_bad_lines"][0]
    assert set(read_journal(journal).measurements) == {("a-onnx", 0, "point", 0), ("b-onnx", 0, "point", 0)}


def test_device_lost_points_are_measured_again_on_resume(tmp_path):
    w = RunWriter(tmp_path / "run", manifest())
    w.append(measurement("a-onnx"))
    w.append(measurement("b-onnx", status="device_lost"))
    w.close()
    w = RunWriter(tmp_path / "run", manifest())
    assert w.done_keys() == {("a-onnx", 0, "point", 0)}
    w.append(measurement("b-onnx"))
    w.finalize()
    w.close()
    df = results.load(tmp_path / "run")
    assert sorted(df.job_id) == ["a-onnx", "b-onnx"] and set(df.status) == {"ok"}


def test_resuming_a_different_run_is_refused(tmp_path):
    RunWriter(tmp_path / "run", manifest()).close()
    with pytest.raises(ResultsError, match="differs in sweep_sha256"):
        RunWriter(tmp_path / "run", manifest(sweep_sha256="other"))


def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps(manifest(schema_version=SCHEMA_VERSION + 1)))
    with pytest.raises(ResultsError, match="upgrade hwbehave"):
        results.open(run)


def test_duckdb_views_join_several_runs(tmp_path):
    for i, name in enumerate(["r1", "r2"]):
        w = RunWriter(tmp_path / name, manifest(run_id=name, device_name=f"dev{i}"))
        w.append(measurement("a-onnx", run_id=name, device=f"dev{i}"))
        w.finalize()
        w.close()
    con = results.open([tmp_path])
    assert con.sql("SELECT count(*) FROM runs").fetchall() == [(2,)]
    rows = con.sql("SELECT device, median_ms FROM measurements ORDER BY device").fetchall()
    assert rows == [("dev0", 1.0), ("dev1", 1.0)]


def test_an_unfinished_run_is_readable_from_its_journal(tmp_path):
    w = RunWriter(tmp_path / "run", manifest())
    w.append(measurement("a-onnx"))
    w.close()
    assert not (tmp_path / "run" / MEASUREMENTS).exists()
    assert len(results.load(tmp_path / "run")) == 1


def test_open_on_a_path_without_runs_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ResultsError, match="no run directories"):
        results.open(tmp_path)


def test_resume_after_the_journal_was_lost_keeps_what_the_parquet_held(tmp_path):
    # issue 12: an interrupted run (parquet written at the interruption), journal deleted, resumed
    w = RunWriter(tmp_path / "run", manifest())
    w.append(measurement("a-onnx"))
    w.append(measurement("b-onnx", cout=16))
    w.finalize(status="interrupted")
    w.close()
    (tmp_path / "run" / JOURNAL).unlink()
    w = RunWriter(tmp_path / "run", manifest())
    assert {k[0] for k in w.done_keys()} == {"a-onnx", "b-onnx"}
    w.append(measurement("c-onnx", cout=24))
    m = w.finalize()
    w.close()
    df = results.load(tmp_path / "run")
    assert sorted(df.job_id) == ["a-onnx", "b-onnx", "c-onnx"]
    assert m["counts"] == {"ok": 3}


def test_a_jobs_rounds_become_one_row_and_a_failed_round_keeps_the_timed_rounds_facts(tmp_path):
    w = RunWriter(tmp_path / "run", manifest(rounds=2))
    w.append(measurement("a-onnx", info={"provider": "CPUExecutionProvider"}, provider="CPUExecutionProvider"))
    w.finalize(status="interrupted")
    w.close()
    w = RunWriter(tmp_path / "run", manifest(rounds=2))
    w.append(measurement("a-onnx", status="crashed", error="agent: runtime process died", round=1))
    w.finalize()
    w.close()
    [row] = results.load(tmp_path / "run").to_dict("records")
    assert row["status"] == "ok" and row["rounds"] == 1 and row["rounds_failed"] == 1
    assert row["error"] == "round 1: agent: runtime process died" and row["provider"] == "CPUExecutionProvider"
    assert json.loads(row["info_json"]) == {"provider": "CPUExecutionProvider"}
    assert len(results.load_rounds(tmp_path / "run")) == 2


# ---- the journal's durability: flushed before append returns, fsynced in the background ------------

KILL_AFTER_APPENDS = """
import os, signal, sys
sys.path.insert(0, sys.argv[2])
from test_store import manifest, measurement
from suite.results.store import RunWriter
w = RunWriter(sys.argv[1], manifest())
for i in range(5):
    w.append(measurement(f"j{i}-onnx"))
os.kill(os.getpid(), signal.SIGKILL)  # no close, no finalize, no fsync waited for
"""


def test_a_kill_9_right_after_append_loses_nothing_appended(tmp_path):
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", KILL_AFTER_APPENDS, str(tmp_path / "run"), str(Path(__file__).parent)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == -9, p.stderr
    read = read_journal(tmp_path / "run" / JOURNAL)
    assert sorted(k[0] for k in read.measurements) == [f"j{i}-onnx" for i in range(5)] and not read.bad_lines


def test_every_append_is_fsynced_by_the_time_the_writer_closes(tmp_path, monkeypatch):
    import os

    import suite.results.store as store

    journal = tmp_path / "run" / JOURNAL
    synced_sizes: list[int] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced_sizes.append(os.fstat(fd).st_size)
        real(fd)

    monkeypatch.setattr(store.os, "fsync", spy)
    w = RunWriter(tmp_path / "run", manifest())
    for i in range(20):
        w.append(measurement(f"j{i}-onnx"))
    w.close()
    assert synced_sizes and synced_sizes[-1] == journal.stat().st_size  # the last fsync saw every line
    assert len(synced_sizes) <= 20  # coalesced, never more than one per append


def test_an_fsync_error_stops_the_writer_with_that_error(tmp_path, monkeypatch):
    import errno
    import time

    import suite.results.store as store

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(store.os, "fsync", broken)
    w = RunWriter(tmp_path / "run", manifest())
    w.append(measurement("a-onnx"))
    with pytest.raises(OSError, match="Input/output error"):
        for i in range(500):  # the background fsync fails soon after the first append
            w.append(measurement(f"b{i}-onnx"))
            time.sleep(0.01)
    w.close()  # already raised: closing does not raise it again
    assert len(read_journal(tmp_path / "run" / JOURNAL).measurements) >= 1  # written lines stay readable
