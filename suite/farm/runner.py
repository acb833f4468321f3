"""Run a farm: every device in parallel, one worker thread per device, each with its own queue.

For one *instance* (default: today's date, UTC) every (job, device) pair gets one run
directory, ``<results>/<instance>/<device>/<job>/``. Running the same farm again for the
same instance measures only what is missing: finished runs are skipped, unfinished ones
resume through the pipeline's journal.

A device worker, in numbered steps with cleanup in ``finally``:

1. take the device's file lock (wait, or refuse with :class:`~suite.farm.locks.DeviceBusy`);
2. acquire its labgrid place when the device names one;
3. prepare the device (:mod:`suite.farm.prepare`);
4. run its tasks in the worker's own shuffled order; a transient failure (device lost,
   connect refused) is retried with exponential backoff; ``quarantine_after`` failures in a
   row bench the device for the rest of the instance (the other devices go on);
5. restore the preparation, release the place, write the device state, drop the lock.

Workers are threads: measuring happens in the agent's own process (local) or on the
device, so the controller only waits on pipes; a ``kill -9`` of the farm takes every worker
with it and the kernel drops every lock.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from suite.devices.agent_bundle import agent_bundle
from suite.devices.config import Device
from suite.errors import ConfigError, DeviceError, HwbehaveError
from suite.farm.config import (
    EXIT_BUSY,
    EXIT_DONE,
    EXIT_FAILED,
    EXIT_INCOMPLETE,
    CooldownSpec,
    Farm,
    FarmTask,
)
from suite.farm.drift import DriftControl
from suite.farm.labgrid import PlaceBusy, acquired_place
from suite.farm.locks import DeviceBusy, DeviceLock
from suite.farm.prepare import Cooldown, Host, LocalHost, Preparation, TransportHost, prepare_ops
from suite.models.cache import ArtifactCache
from suite.paths import check_segment
from suite.pipeline import run_sweep
from suite.results.store import MANIFEST, write_json_atomic

STATE_DIR = "_farm"
SUMMARY = "summary.json"

#: Task statuses in the summary.
DONE, FAILED, SKIPPED, INCOMPLETE = "done", "failed", "skipped", "incomplete"
#: Device statuses in the summary.
DEVICE_STATUSES = ("done", "failed", "quarantined", "busy", "incomplete")

Observer = Callable[..., None]


def default_instance() -> str:
    """Today's date in UTC: a daily cron job resumes the day's instance, the next day starts anew."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


class FarmStopped(HwbehaveError):
    """Raised inside a run when the farm is told to stop (signal) or its time budget ends."""


@dataclass
class TaskResult:
    """One (job, device) pair in this instance."""

    job: str
    device: str
    status: str
    out_dir: str
    reason: str = ""
    attempts: int = 0
    seconds: float = 0.0
    measured: int = 0
    skipped_done: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    earlier: bool = False


@dataclass
class DeviceReport:
    """What one device worker did."""

    device: str
    status: str = "done"
    reason: str = ""
    tasks: list[TaskResult] = field(default_factory=list)
    seconds: float = 0.0
    lock_wait_s: float = 0.0
    prepare: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    labgrid: dict[str, Any] = field(default_factory=dict)
    finished_at: str = ""

    def count(self, status: str) -> int:
        return sum(1 for t in self.tasks if t.status == status)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeviceReport:
        tasks = [TaskResult(**t) for t in data.get("tasks", [])]
        return cls(**{**data, "tasks": tasks})


@dataclass
class FarmOutcome:
    """The whole farm run: per-device reports, the summary path and the exit code."""

    instance: str
    root: Path
    devices: dict[str, DeviceReport]
    exit_code: int
    seconds: float
    summary_path: Path


def exit_code_for(reports: dict[str, DeviceReport]) -> int:
    """0 all done; 1 a task failed or a device is quarantined; 75 a device was busy; 3 incomplete.

    Failures win (someone must look), then busy (try again later), then incomplete (rerun
    the same instance to continue).
    """
    statuses = {r.status for r in reports.values()}
    if statuses & {"failed", "quarantined"} or any(r.count(FAILED) for r in reports.values()):
        return EXIT_FAILED
    if "busy" in statuses:
        return EXIT_BUSY
    if "incomplete" in statuses or any(r.count(INCOMPLETE) or r.count(SKIPPED) for r in reports.values()):
        return EXIT_INCOMPLETE
    return EXIT_DONE


class FarmRunner:
    """Runs one farm instance (see module doc). ``sleep`` and ``stop`` are injectable for tests."""

    def __init__(self, farm: Farm, instance: str | None = None, *, wait: bool = True,
                 lock_timeout_s: float | None = None, clear_quarantine: bool = False,
                 observer: Observer | None = None, stop: threading.Event | None = None,
                 devices: list[str] | None = None) -> None:
        self.farm = farm
        self.instance = check_segment(instance, "--instance") if instance else default_instance()
        self.root = farm.results_root / self.instance
        self.wait = wait
        self.lock_timeout_s = lock_timeout_s
        self.clear_quarantine = clear_quarantine
        self.observer = observer or (lambda event, **data: None)
        self.stop = stop or threading.Event()
        self.cache = ArtifactCache(farm.cache_dir) if farm.cache_dir else ArtifactCache()
        budget = farm.spec.budget_min
        self.deadline = time.monotonic() + budget * 60.0 if budget else None
        names = list(farm.devices)
        if devices:
            unknown = [d for d in devices if d not in farm.devices]
            if unknown:
                raise ConfigError("--device names a device that the farm does not use", field="--device",
                                  value=", ".join(unknown), expected="one of " + ", ".join(names))
            names = [d for d in names if d in devices]
        self.device_names = names
        self._emit_lock = threading.Lock()

    # -- top level --------------------------------------------------------------------
    def run(self) -> FarmOutcome:
        """Run every device's worker in parallel; write and return the summary."""
        start = time.monotonic()
        (self.root / STATE_DIR).mkdir(parents=True, exist_ok=True)
        agent_bundle()  # write the agent zipapp once, before the workers race to create it
        reports: dict[str, DeviceReport] = {}
        threads = []
        for name in self.device_names:
            report = DeviceReport(device=name)
            reports[name] = report
            t = threading.Thread(target=self._worker, args=(self.farm.devices[name], report),
                                 name=f"farm-{name}", daemon=True)
            threads.append(t)
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except KeyboardInterrupt:
            self.stop.set()
            for t in threads:
                t.join()
        seconds = time.monotonic() - start
        path = self.write_summary(reports, seconds)
        return FarmOutcome(instance=self.instance, root=self.root, devices=reports,
                           exit_code=exit_code_for(reports), seconds=seconds, summary_path=path)

    def emit(self, event: str, **data: Any) -> None:
        with self._emit_lock:
            self.observer(event, **data)

    # -- one device -------------------------------------------------------------------
    def _worker(self, device: Device, report: DeviceReport) -> None:
        lock = DeviceLock(self.farm.lock_dir, device.name, {"farm": self.farm.name, "instance": self.instance})
        t0 = time.monotonic()
        try:
            lock.acquire(wait=self.wait, timeout_s=self.lock_timeout_s)              # 1
        except DeviceBusy as exc:
            report.status, report.reason = "busy", str(exc)
            self.emit("device_busy", device=device.name, reason=str(exc))
            return
        report.lock_wait_s = time.monotonic() - t0
        started = time.monotonic()
        try:
            previous = self.read_state(device.name)
            if previous and previous.status == "quarantined" and not self.clear_quarantine:
                report.status = "quarantined"
                report.reason = f"quarantined earlier in instance {self.instance}: {previous.reason}"
                report.failures = previous.failures
                report.tasks = [TaskResult(job=t.job, device=device.name, status=SKIPPED,
                                           out_dir=str(self.run_dir(t)), reason="device quarantined")
                                for t in self.farm.tasks_for(device.name)]
                self.emit("device_quarantined", device=device.name, reason=report.reason)
                return
            self._with_place(device, report)                                         # 2-4
        except Exception as exc:  # noqa: BLE001 - the worker boundary: record, never kill the farm
            report.status = "failed"
            report.reason = f"{type(exc).__name__}: {exc}"
            self.emit("device_failed", device=device.name, reason=report.reason)
        finally:                                                                     # 5
            report.seconds = time.monotonic() - started
            report.finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            self.write_state(report)
            lock.release()
            self.emit("device_done", device=device.name, report=report)

    def _with_place(self, device: Device, report: DeviceReport) -> None:
        lg = self.farm.spec.labgrid
        try:
            with acquired_place(device, lg.coordinator, wait=lg.wait and self.wait, timeout_s=lg.timeout_s,
                                poll_s=lg.poll_s,
                                on_event=lambda ev, **d: report.labgrid.setdefault("events", []).append(
                                    {"event": ev, **d})) as placed:
                self._prepared(placed, report)
        except PlaceBusy as exc:
            report.status, report.reason = "busy", str(exc)
            self.emit("device_busy", device=device.name, reason=str(exc))
        except DeviceError as exc:  # coordinator unreachable, place missing
            report.status, report.reason = "failed", str(exc)
            self.emit("device_failed", device=device.name, reason=str(exc))

    def host_for(self, device: Device, transport: Any | None = None) -> tuple[Host, Any]:
        """Where prepare ops act: the local sysfs root, or the device through a transport."""
        spec = self.farm.prepare_for(device.name)
        if device.transport.kind == "local":
            return LocalHost(spec.sysfs_root), None
        if transport is None:
            from suite.devices.transports.base import transport_for

            transport = transport_for(device)
        transport.connect()
        return TransportHost(transport, device.timeouts.command_s), transport

    def _prepared(self, device: Device, report: DeviceReport) -> None:
        spec = self.farm.prepare_for(device.name)
        ops_wanted = prepare_ops(device, spec, LocalHost(spec.sysfs_root))
        prep: Preparation | None = None
        transport = None
        if ops_wanted:
            try:                                                                     # 3
                host, transport = self.host_for(device)
                prep = Preparation(prepare_ops(device, spec, host, sleep=self._sleep))
                report.prepare = [r.to_dict() for r in prep.apply()]
            except (DeviceError, OSError) as exc:
                report.prepare = [{"op": "connect", "available": False, "error": str(exc)}]
        try:
            self._queue(device, report)                                              # 4
        finally:
            if prep is not None:
                try:
                    prep.restore()
                except (DeviceError, OSError):
                    pass
            if transport is not None:
                transport.close()

    def _sleep(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise FarmStopped("farm stopped")

    def order(self, device: str) -> list[FarmTask]:
        """This device's tasks in its own shuffled order (seeded by farm seed, instance, device)."""
        tasks = self.farm.tasks_for(device)
        seed = [self.farm.spec.seed, zlib.crc32(self.instance.encode()), zlib.crc32(device.encode())]
        perm = np.random.default_rng(seed).permutation(len(tasks))
        return [tasks[i] for i in perm]

    def run_dir(self, task: FarmTask) -> Path:
        return self.root / task.device.name / task.job

    def _queue(self, device: Device, report: DeviceReport) -> None:
        queue = self.order(device.name)
        state = {"consecutive": 0, "quarantined": False}
        guard = threading.Lock()
        results: dict[str, TaskResult] = {}

        def take() -> FarmTask | None:
            with guard:
                return queue.pop(0) if queue else None

        def worker() -> None:
            while True:
                task = take()
                if task is None:
                    return
                res = self._task(device, task, state, guard, report)
                with guard:
                    results[task.job] = res

        n = min(self.farm.concurrency_for(device.name), max(1, len(queue)))
        if n == 1:
            worker()
        else:
            threads = [threading.Thread(target=worker, name=f"farm-{device.name}-{i}", daemon=True) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        report.tasks = [results[t.job] for t in self.order(device.name) if t.job in results]
        if state["quarantined"]:
            report.status = "quarantined"
        elif any(t.status == FAILED for t in report.tasks):
            report.status, report.reason = "failed", report.reason or "a task failed"
        elif any(t.status in (INCOMPLETE, SKIPPED) for t in report.tasks):
            report.status = "incomplete"
            report.reason = report.reason or next(t.reason for t in report.tasks if t.status in (INCOMPLETE, SKIPPED))

    def _task(self, device: Device, task: FarmTask, state: dict[str, Any], guard: threading.Lock,
              report: DeviceReport) -> TaskResult:
        out = self.run_dir(task)
        res = TaskResult(job=task.job, device=device.name, status=DONE, out_dir=str(out))
        if _finished(out):
            res.earlier = True
            res.reason = "finished earlier in this instance"
            self.emit("task_skipped", device=device.name, job=task.job, reason=res.reason)
            return res
        t0 = time.monotonic()
        retry = self.farm.spec.retry
        while True:
            with guard:
                if state["quarantined"]:
                    res.status = FAILED if res.attempts else SKIPPED
                    res.reason = "device quarantined" + (f" (last error: {res.reason})" if res.reason else "")
                    break
            if self.stop.is_set():
                res.status, res.reason = INCOMPLETE, "farm stopped"
                break
            if self.deadline is not None and time.monotonic() >= self.deadline:
                res.status, res.reason = SKIPPED, "time budget used up"
                break
            res.attempts += 1
            self.emit("task_start", device=device.name, job=task.job, attempt=res.attempts)
            error, transient = self._attempt(device, task, out, res)
            if error is None:
                res.status, res.reason = DONE, ""
                with guard:
                    state["consecutive"] = 0
                break
            if isinstance(transient, FarmStopped):
                res.status, res.reason = (SKIPPED if "budget" in error else INCOMPLETE), error
                break
            res.reason = error
            if not transient:
                res.status = FAILED
                break
            with guard:
                state["consecutive"] += 1
                report.failures.append(f"{task.job} attempt {res.attempts}: {error}"[:500])
                if state["consecutive"] >= self.farm.spec.quarantine_after and not state["quarantined"]:
                    state["quarantined"] = True
                    report.reason = (f"quarantined after {state['consecutive']} failures in a row; last: "
                                     f"{error}")[:1000]
                    self.emit("device_quarantined", device=device.name, reason=report.reason)
            if res.attempts >= retry.attempts:
                res.status, res.reason = FAILED, f"gave up after {res.attempts} attempts: {error}"
                break
            delay = retry.delay_s(res.attempts)
            self.emit("task_retry", device=device.name, job=task.job, attempt=res.attempts, delay_s=delay,
                      error=error)
            if self.stop.wait(delay):
                res.status, res.reason = INCOMPLETE, "farm stopped"
                break
        res.seconds = time.monotonic() - t0
        self.emit("task_done", device=device.name, job=task.job, result=res)
        return res

    def _attempt(self, device: Device, task: FarmTask, out: Path,
                 res: TaskResult) -> tuple[str | None, bool | FarmStopped]:
        """One try of one task: ``(None, _)`` on success, else ``(error, transient?)``."""
        def observer(event: str, **data: Any) -> None:
            if self.stop.is_set():
                raise FarmStopped("farm stopped")
            if self.deadline is not None and time.monotonic() >= self.deadline:
                raise FarmStopped("time budget used up")
            if event == "measured":
                self.emit("measured", device=device.name, job=task.job, measurement=data["measurement"])

        drift = None
        if self.farm.spec.drift is not None:
            drift = DriftControl(self.farm.spec.drift, cooldown=self._drift_cooldown(device,
                                                                                     self.farm.spec.drift.cooldown))
        try:
            outcome = run_sweep(task.sweep, device, out, seed=task.seed, rounds=task.rounds, cache=self.cache,
                                observer=observer, device_path=task.device_path, drift=drift)
        except FarmStopped as exc:
            return str(exc), exc
        except DeviceError as exc:
            return f"{type(exc).__name__}: {exc}", True
        except HwbehaveError as exc:  # refused results dir, bad config: retrying will not help
            return f"{type(exc).__name__}: {exc}", False
        res.measured += outcome.measured
        res.skipped_done = outcome.skipped_done
        res.counts = dict(outcome.counts)
        if outcome.complete:
            return None, False
        return outcome.error or "run interrupted", True

    def _drift_cooldown(self, device: Device, spec: CooldownSpec) -> Callable[[Any], None]:
        def cooldown(transport: Any) -> None:
            host, opened = self.host_for(device, transport if device.transport.kind != "local" else None)
            try:
                Cooldown(host, spec, sleep=self._sleep).apply()
            except TimeoutError:
                pass  # recorded by the drift log as persistent if the sentinel stays off
            finally:
                if opened is not None:
                    opened.close()
        return cooldown

    # -- state and summary ------------------------------------------------------------
    def state_path(self, device: str) -> Path:
        return self.root / STATE_DIR / f"{device}.json"

    def read_state(self, device: str) -> DeviceReport | None:
        try:
            return DeviceReport.from_dict(json.loads(self.state_path(device).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def write_state(self, report: DeviceReport) -> None:
        self.state_path(report.device).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.state_path(report.device), report.to_dict())

    def write_summary(self, reports: dict[str, DeviceReport], seconds: float) -> Path:
        """``summary.json``: this run's reports, plus the last state of devices this run did not hold."""
        from suite.farm.locks import DeviceLock as _Lock

        guard = _Lock(self.root / STATE_DIR, "summary")
        guard.acquire(wait=True, timeout_s=60)
        try:
            devices: dict[str, Any] = {}
            for name in self.farm.devices:
                mine = reports.get(name)
                if mine is not None and mine.status != "busy":
                    devices[name] = mine.to_dict()
                    continue
                stored = self.read_state(name)
                if stored is not None:
                    devices[name] = {**stored.to_dict(), "from_state": True}
                if mine is not None and mine.status == "busy":
                    devices[name] = {**devices.get(name, {}), **mine.to_dict()}
            summary = {"farm": self.farm.name, "farm_file": self.farm.file, "instance": self.instance,
                       "root": str(self.root), "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       "seconds": seconds, "exit_code": exit_code_for(reports), "devices": devices}
            path = self.root / SUMMARY
            write_json_atomic(path, summary)
            return path
        finally:
            guard.release()


def _finished(run_dir: Path) -> bool:
    try:
        return json.loads((run_dir / MANIFEST).read_text()).get("status") == "complete"
    except (OSError, ValueError):
        return False


def summary_rows(devices: dict[str, Any]) -> list[dict[str, Any]]:
    """One plain row per device for the printed table (from reports or summary dicts)."""
    rows = []
    for name, rep in devices.items():
        d = rep.to_dict() if isinstance(rep, DeviceReport) else rep
        tasks = d.get("tasks", [])
        points_bad = sum(n for t in tasks for s, n in (t.get("counts") or {}).items() if s not in ("ok", "fallback"))
        rows.append({"device": name, "status": d.get("status", "?"),
                     "done": sum(1 for t in tasks if t["status"] == DONE),
                     "failed": sum(1 for t in tasks if t["status"] == FAILED),
                     "skipped": sum(1 for t in tasks if t["status"] in (SKIPPED, INCOMPLETE)),
                     "measured": sum(t.get("measured", 0) for t in tasks), "points_failed": points_bad,
                     "seconds": d.get("seconds", 0.0), "reason": d.get("reason", "")})
    return rows


def run_farm(farm: Farm, instance: str | None = None, **kwargs: Any) -> FarmOutcome:
    """Run ``farm`` for ``instance`` (see :class:`FarmRunner` for the options)."""
    return FarmRunner(farm, instance, **kwargs).run()
