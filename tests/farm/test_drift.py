"""Drift control: sentinel checks per chunk, cooldown and re-measurement, all logged."""

from __future__ import annotations

import pytest

from suite.devices.session import DeviceLost, Job
from suite.farm.config import DriftSpec
from suite.farm.drift import SENTINEL, DriftControl, drifted


def job(i: int) -> Job:
    return Job(job_id=f"p{i}", model_path="m", format="onnx", dtype="fp32", runtime="onnxruntime",
               runtime_options={}, protocol={}, input_seed=0, model_sha256="x")


class FakeSession:
    """Answers every job with samples around ``level_ms``; sentinel levels follow a script."""

    transport = "fake-transport"

    def __init__(self, sentinel_levels: list[float]) -> None:
        self.levels = list(sentinel_levels)
        self.batches: list[list[str]] = []

    def run_batch(self, jobs, on_result, on_env=None, on_hello=None):
        self.batches.append([j.job_id for j in jobs])
        on_env("start", {"temperatures_c": {"z": 50.0}, "cpu_freq_mhz": 1000.0, "governor": "performance"})
        for j in jobs:
            level = self.levels.pop(0) if j.job_id.startswith(SENTINEL) else 1.0
            on_result({"job": j.job_id, "status": "ok", "samples_ms": [level * (1 + 0.001 * k) for k in range(-5, 6)]})
        on_env("end", {"temperatures_c": {"z": 55.0}, "cpu_freq_mhz": 900.0, "governor": "performance"})


def test_drifted_uses_ci_widened_by_tolerance():
    base = {"median_ms": 1.0, "ci_low_ms": 0.99, "ci_high_ms": 1.01}
    assert not drifted(base, 1.04, 0.05) and drifted(base, 1.07, 0.05) and drifted(base, 0.9, 0.05)


def test_drift_triggers_cooldown_and_remeasure():
    # baseline 1.0; chunk 0 ok; chunk 1 drifts (1.3) then recovers after cooldown (1.0)
    inner = FakeSession([1.0, 1.0, 1.3, 1.0])
    cooled, logs, results = [], [], []
    control = DriftControl(DriftSpec(every=2, tolerance=0.05, retries=1), cooldown=cooled.append)
    session = control.wrap(inner, record=lambda log: logs.append(log))
    session.run_batch([job(i) for i in range(4)], on_result=lambda m: results.append(m["job"]))
    assert inner.batches[0][0].startswith(SENTINEL) and inner.batches[0][-1].startswith(SENTINEL)
    assert inner.batches[1][:2] == inner.batches[2][:2] == ["p2", "p3"]  # chunk 1 measured twice
    assert results == ["p0", "p1", "p2", "p3", "p2", "p3"]  # sentinels never reach the pipeline
    assert cooled == ["fake-transport"]
    log = logs[-1]
    assert log["remeasured_jobs"] == 2 and log["persistent"] == 0
    assert [c["drifted"] for c in log["checks"]] == [False, True, False]
    assert log["batches"][0]["start"]["cpu_freq_mhz"] == 1000.0 and log["batches"][0]["end"]["temperatures_c"]


def test_persistent_drift_is_kept_and_counted():
    inner = FakeSession([1.0, 1.5, 1.5])
    logs = []
    session = DriftControl(DriftSpec(every=3, retries=1)).wrap(inner, record=logs.append)
    session.run_batch([job(i) for i in range(3)], on_result=lambda m: None)
    assert logs[-1]["persistent"] == 1 and "persisted" in logs[-1]["checks"][-1]["action"]


def test_device_lost_on_a_sentinel_names_no_sentinel():
    class Losing(FakeSession):
        def run_batch(self, jobs, on_result, on_env=None, on_hello=None):
            raise DeviceLost("gone", in_flight=jobs[0].job_id, pending=[j.job_id for j in jobs])

    session = DriftControl(DriftSpec(every=2)).wrap(Losing([]), record=lambda log: None)
    with pytest.raises(DeviceLost) as err:
        session.run_batch([job(0), job(1)], on_result=lambda m: None)
    assert err.value.in_flight is None and err.value.pending == ["p0", "p1"]
