"""Drift control: a sentinel point re-measured every N points catches a device that changed.

A long sweep can outlast the device's steady state (it heats and throttles, a background
job starts). :class:`DriftSession` wraps a :class:`~suite.devices.session.DeviceSession`:
each batch the pipeline hands it is split into chunks of ``every`` jobs; a copy of one
*sentinel* job (the same point every time) runs before the first chunk — the baseline — and
after every chunk. When a sentinel's median leaves the baseline's 95 % CI of the median,
widened by ``tolerance`` (relative), the chunk it closes is suspect: the device cools down
and the chunk is measured again (its results replace the first ones: a run directory keeps
the newest record per job and round), up to ``retries`` times. Every check, action and the
device environment (temperatures, frequency, governor) at the start and end of every chunk
go into the run manifest under ``drift``.

Sentinel results never become measurements: their job ids carry the :data:`SENTINEL`
prefix and stay inside this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from suite.devices.session import DeviceLost, Job
from suite.farm.config import DriftSpec
from suite.results.statistics import summarize

SENTINEL = "sentinel~"

#: Environment facts kept per chunk (the whole probe is already in environment.device).
ENV_KEYS = ("temperatures_c", "cpu_freq_mhz", "governor")


def drifted(baseline: dict[str, float], median_ms: float, tolerance: float) -> bool:
    """Whether ``median_ms`` is outside the baseline CI widened by ``tolerance`` (relative).

    The interval is ``[ci_low * (1 - tolerance), ci_high * (1 + tolerance)]``: the CI alone
    is the noise of one measurement; the tolerance absorbs what a quiet device still varies
    between batches (cache and allocator state, a new agent process).
    """
    lo = baseline["ci_low_ms"] * (1.0 - tolerance)
    hi = baseline["ci_high_ms"] * (1.0 + tolerance)
    return not lo <= median_ms <= hi


class DriftControl:
    """Settings plus the cooldown to run when drift is seen; :meth:`wrap` applies them to a session.

    Parameters
    ----------
    spec : DriftSpec
        ``every`` (jobs per chunk), ``tolerance``, ``retries``.
    cooldown : callable, optional
        Called with the session's transport when drift is seen (waits until the device is cool).
    """

    def __init__(self, spec: DriftSpec, cooldown: Callable[[Any], None] | None = None) -> None:
        self.spec = spec
        self.cooldown = cooldown

    def wrap(self, session: Any, record: Callable[[dict[str, Any]], None]) -> DriftSession:
        """A session that runs sentinel-checked chunks; ``record(drift_dict)`` stores the log."""
        return DriftSession(session, self, record)


class DriftSession:
    """Drop-in for ``DeviceSession.run_batch`` that adds sentinel checks (see module doc)."""

    def __init__(self, inner: Any, control: DriftControl, record: Callable[[dict[str, Any]], None]) -> None:
        self.inner = inner
        self.control = control
        self.record = record
        self.spec = control.spec
        self.sentinel: Job | None = None
        self.baseline: dict[str, float] | None = None
        self.chunk_no = 0
        self.log: dict[str, Any] = {"every": self.spec.every, "tolerance": self.spec.tolerance,
                                    "retries": self.spec.retries, "sentinel": None, "baseline": None,
                                    "checks": [], "batches": [], "remeasured_jobs": 0, "persistent": 0}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def run_batch(self, jobs: list[Job], on_result: Callable[[dict[str, Any]], None],
                  on_env: Callable[[str, dict[str, Any]], None] | None = None,
                  on_hello: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Run ``jobs`` in sentinel-checked chunks; raises ``DeviceLost`` like the inner session."""
        if not jobs:
            return
        if self.sentinel is None:
            self.sentinel = min(jobs, key=lambda j: j.job_id)
            self.log["sentinel"] = self.sentinel.job_id
        every = self.spec.every
        for start in range(0, len(jobs), every):
            chunk = jobs[start:start + every]
            for attempt in range(self.spec.retries + 1):
                median = self._run_chunk(chunk, on_result, on_env, on_hello)
                if median is None or self.baseline is None:
                    break
                bad = drifted(self.baseline, median, self.spec.tolerance)
                check = {"chunk": self.chunk_no - 1, "attempt": attempt, "median_ms": median, "drifted": bad,
                         "jobs": len(chunk)}
                if not bad:
                    self.log["checks"].append(check)
                    break
                if attempt == self.spec.retries:
                    check["action"] = "kept (drift persisted after retries)"
                    self.log["persistent"] += 1
                    self.log["checks"].append(check)
                    break
                check["action"] = "cooldown and re-measure"
                self.log["checks"].append(check)
                self.log["remeasured_jobs"] += len(chunk)
                self._save()
                if self.control.cooldown is not None:
                    self.control.cooldown(self.inner.transport)
            self._save()

    def _sentinel_job(self, tag: str) -> Job:
        assert self.sentinel is not None
        return dataclasses.replace(self.sentinel, job_id=f"{SENTINEL}{tag}~{self.sentinel.job_id}")

    def _run_chunk(self, chunk: list[Job], on_result: Callable[[dict[str, Any]], None],
                   on_env: Callable[[str, dict[str, Any]], None] | None,
                   on_hello: Callable[[dict[str, Any]], None] | None) -> float | None:
        """Run one chunk and its closing sentinel; the sentinel's median (``None`` if it failed)."""
        k = self.chunk_no
        self.chunk_no += 1
        batch = list(chunk)
        if self.baseline is None:
            batch.insert(0, self._sentinel_job(f"base{k}"))
        batch.append(self._sentinel_job(str(k)))
        sentinel_medians: dict[str, float | None] = {}
        env_row: dict[str, Any] = {"chunk": k, "jobs": len(chunk)}

        def result(msg: dict[str, Any]) -> None:
            job = str(msg.get("job", ""))
            if job.startswith(SENTINEL):
                samples = msg.get("samples_ms") or []
                sentinel_medians[job] = summarize(samples) if msg.get("status") == "ok" and samples else None
                return
            on_result(msg)

        def env(when: str, data: dict[str, Any]) -> None:
            env_row[when] = {key: data.get(key) for key in ENV_KEYS}
            if on_env:
                on_env(when, data)

        try:
            self.inner.run_batch(batch, on_result=result, on_env=env, on_hello=on_hello)
        except DeviceLost as exc:
            pending = [j for j in exc.pending if not j.startswith(SENTINEL)]
            in_flight = exc.in_flight if exc.in_flight and not exc.in_flight.startswith(SENTINEL) else None
            raise DeviceLost(exc.reason, in_flight=in_flight, pending=pending) from None
        finally:
            self.log["batches"].append(env_row)
        base_id = batch[0].job_id if batch[0].job_id.startswith(SENTINEL) else None
        if base_id is not None:
            stats = sentinel_medians.get(base_id)
            if stats is not None:
                self.baseline = {k_: float(stats[k_]) for k_ in ("median_ms", "ci_low_ms", "ci_high_ms")}
                self.log["baseline"] = self.baseline
        closing = sentinel_medians.get(batch[-1].job_id)
        return float(closing["median_ms"]) if closing is not None else None

    def _save(self) -> None:
        self.record(self.log)
