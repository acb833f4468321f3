"""The run pipeline: plan → build → measure → store, for one sweep on one device.

Stages stay separate (a builder never touches a device, a runner never builds); this
module only sequences them and turns agent results into ``Measurement`` records.
"""

from __future__ import annotations

import getpass
import json
import platform
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

import suite
from suite import status as st
from suite.agent.environment import probe_environment
from suite.agent.protocol import ProtocolSettings, RoundSettings
from suite.backends.backend import version_modules
from suite.devices.config import Device
from suite.devices.session import DeviceLost, DeviceSession, Job
from suite.errors import DeviceError
from suite.models.artifact import Artifact, Builder
from suite.models.cache import ArtifactCache
from suite.results.aggregate import RunTables
from suite.results.records import Measurement
from suite.results.schema import MEASURED, SCHEMA_VERSION, TIMING_KINDS
from suite.results.statistics import summarize
from suite.results.store import RunWriter, utc_now
from suite.sweep import adaptive as adapt
from suite.sweep.expand import Sweep
from suite.sweep.point import Point

Observer = Callable[..., None]


def _noop(event: str, **data: Any) -> None:
    pass


@dataclass
class RunOutcome:
    """What a run did: where it wrote, counts by status, and whether it finished."""

    out_dir: Path
    run_id: str
    total: int
    measured: int
    skipped_done: int
    counts: dict[str, int] = field(default_factory=dict)
    complete: bool = True
    error: str | None = None
    noise_floor_rel: float | None = None
    confirm_rounds: int = 0


def git_commit() -> str | None:
    """Commit of the hwbehave checkout (``+dirty`` if modified), or ``None`` outside git."""
    root = Path(suite.__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def protocol_for(sweep: Sweep, device: Device) -> ProtocolSettings:
    """Protocol defaults < the device's ``timeouts.point_s`` < the sweep's ``measure:`` < the device's ``measure:``."""
    settings = ProtocolSettings().to_dict()
    if device.timeouts.point_s:
        settings["timeout_s"] = device.timeouts.point_s
    settings.update(sweep.measure)
    settings.update((k, v) for k, v in device.measure.items() if k in settings)
    return ProtocolSettings.from_dict(settings)


def execution_order(points: list[Point], seed: int, rounds: int, first: int = 0) -> list[tuple[int, int, Point]]:
    """``(round, index, point)`` triples for rounds ``first … first + rounds - 1``: each round a
    fresh permutation drawn from ``(seed, round)``."""
    out: list[tuple[int, int, Point]] = []
    for r in range(first, first + rounds):
        perm = np.random.default_rng([seed, r]).permutation(len(points))
        out.extend((r, i, points[j]) for i, j in enumerate(perm))
    return out


def choose_sentinel(points: list[Point]) -> list[Point]:
    """Sentinel candidates, best first: the mid-cost point of the sweep, then its cost neighbours.

    Cost order is ``(macs, flops, bytes_total, id)``; the first choice is the lower median, the
    next ones alternate outward from it. Deterministic: the same sweep gets the same sentinel.
    """
    ranked = sorted(points, key=lambda p: (p.macs, p.flops, p.bytes_total, p.id))
    if not ranked:
        return []
    mid = (len(ranked) - 1) // 2
    order = sorted(range(len(ranked)), key=lambda i: (abs(i - mid), i < mid))
    return [ranked[i] for i in order]


@dataclass(frozen=True)
class Slot:
    """One place in a round's execution order: a point, or the ``n``-th sentinel measurement."""

    role: str
    point: Point
    sentinel_slot: int = 0


def round_slots(points: list[Point], sentinel: Point | None, every: int) -> list[Slot]:
    """A round's execution order: the sentinel first, after every ``every`` points, and last.

    ``points`` are already shuffled. No sentinel (``None`` or ``every == 0``): the points alone.
    """
    out: list[Slot] = []
    if sentinel is None or every <= 0 or not points:
        return [Slot("point", p) for p in points]
    k = 0

    def add_sentinel() -> None:
        nonlocal k
        out.append(Slot("sentinel", sentinel, k))
        k += 1

    add_sentinel()
    for i, p in enumerate(points):
        out.append(Slot("point", p))
        if (i + 1) % every == 0 and i + 1 < len(points):
            add_sentinel()
    add_sentinel()
    return out


def default_out_dir(root: Path, sweep: Sweep, device: Device) -> Path:
    """``<root>/<sweep>--<device>--<UTC time>``: a fresh run directory name."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return root / f"{sweep.name}--{device.name}--{stamp}"


def latest_incomplete(root: Path, sweep: Sweep, device: Device, settings: dict[str, Any] | None = None
                      ) -> Path | None:
    """The newest run under ``root`` of this sweep and device that did not complete.

    With ``settings`` (``{"seed", "rounds", "sentinel_every", "protocol", "overrides", "runtime"}``), only a run whose
    manifest records the same values: a rerun with other settings starts a new run.
    """
    best = None
    for manifest in sorted(root.glob("*/manifest.json")):
        try:
            m = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(m, dict):  # a damaged manifest is not a run to resume
            continue
        if (m.get("sweep_sha256") == sweep.sha256 and m.get("device_name") == device.name
                and m.get("status") != "complete" and (settings is None or _same_settings(m, settings))):
            best = manifest.parent
    return best


def _same_settings(manifest: dict[str, Any], settings: dict[str, Any]) -> bool:
    """Whether a run's manifest records ``settings`` (keys it lacks count as different)."""
    definition = (manifest.get("device") or {}).get("definition") or {}
    recorded = {"seed": manifest.get("seed"), "rounds": manifest.get("rounds", manifest.get("repeat")),
                "adaptive": manifest.get("adaptive"),
                "sentinel_every": manifest.get("sentinel_every"), "protocol": manifest.get("protocol"),
                "overrides": manifest.get("overrides", {}), "runtime": definition.get("runtime")}
    return all(recorded.get(k) == v for k, v in settings.items())


def run_sweep(sweep: Sweep, device: Device, out_dir: Path, *, seed: int = 0, rounds: int | None = None,
              confirm_s: float | None = None, cache: ArtifactCache | None = None, observer: Observer = _noop,
              device_path: str | None = None, drift: Any = None,
              overrides: dict[str, Any] | None = None, adaptive: adapt.AdaptivePlan | None = None) -> RunOutcome:
    """Measure every point of ``sweep`` on ``device`` into ``out_dir`` (resuming if it exists).

    ``rounds`` planned rounds (default: the sweep's ``measure.rounds``, else
    :class:`~suite.agent.protocol.RoundSettings`), each a fresh agent session with a sentinel
    point at its start, every ``sentinel_every`` points and its end; then extra rounds, within
    ``confirm_s`` seconds, of the points :func:`suite.analysis.confirm.points_to_confirm` picks.
    ``drift`` (optional, a :class:`suite.farm.drift.DriftControl`) wraps the device session so a
    sentinel point is re-measured every N jobs; its log goes into the manifest under ``drift``.
    ``overrides`` (the command line's ``--threads``, ``--min-runs``, …, already applied to
    ``sweep`` and ``device``) is recorded in the manifest as given. ``adaptive`` (default: the
    sweep's own ``adaptive:`` axis, :func:`suite.sweep.adaptive.plan_from_sweep`) makes the run
    measure a coarse grid and then refine it (:meth:`_SweepRun.refine`) before confirmation.
    Raises :class:`suite.locks.RunDirBusy` when another process writes ``out_dir``.
    """
    # rounds: defaults < the sweep's measure: < the device's measure: < the arguments (command line)
    own = device.measure
    settings = sweep.round_settings(rounds=rounds if rounds is not None else own.get("rounds"),
                                    confirm_s=confirm_s if confirm_s is not None else own.get("confirm_s"),
                                    sentinel_every=own.get("sentinel_every"))
    protocol = protocol_for(sweep, device)
    adaptive = adaptive if adaptive is not None else adapt.plan_from_sweep(sweep)
    backend = device.backend
    fmt = backend.format
    builder = backend.builder_class()(cache=cache or ArtifactCache(), device=device)
    run_id = uuid.uuid4().hex[:12]
    manifest = {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "created_at": utc_now(),
        "suite_version": suite.__version__, "git_commit": git_commit(),
        "sweep_sha256": sweep.sha256, "device_name": device.name, "seed": seed,
        "rounds": settings.rounds, "sentinel_every": settings.sentinel_every,
        "protocol": protocol.to_dict(),
        "sweep": {"name": sweep.name, "file": sweep.file, "description": sweep.description,
                  "points": len(sweep.points), "text": sweep.text},
        "device": {"name": device.name, "class": device.device_class, "file": device_path,
                   "definition": json.loads(device.model_dump_json(by_alias=True))},
        "format": fmt, "runtime": device.runtime.name, "overrides": dict(overrides or {}),
        "adaptive": adaptive.to_dict() if adaptive is not None else None,
        "environment": {"controller": {**probe_environment(version_modules()), "user": getpass.getuser(),
                                       "python_implementation": platform.python_implementation()}},
    }
    writer = RunWriter(out_dir, manifest)
    try:
        return _SweepRun(sweep, device, writer, builder, protocol, fmt, seed, settings, observer, drift,
                         adaptive).run()
    except BaseException as exc:  # Ctrl-C, SIGTERM, a full disk: the directory stays resumable; say so in it
        try:
            writer.update_manifest(status="interrupted", error=f"{type(exc).__name__}: {exc}"[:500])
        except OSError:
            pass  # the disk that is full cannot take the note either; the journal is what counts
        raise
    finally:
        writer.close()
        builder.close()


#: Wire job ids of sentinel measurements: ``floor~<slot>~<job id>`` (the same point can also be
#: a regular job of the batch; the farm's drift control uses its own ``sentinel~`` prefix).
SENTINEL_WIRE = "floor~"
#: Extra rounds of confirmation at most, whatever the budget.
MAX_CONFIRM_ROUNDS = 10
#: Seconds a batch is assumed to cost beyond its jobs (connect, push, agent start) before one was timed.
DEFAULT_BATCH_OVERHEAD_S = 1.0


class _SweepRun:
    """One run of a sweep: build, planned rounds, confirmation rounds, finalise (state in one place)."""

    def __init__(self, sweep: Sweep, device: Device, writer: RunWriter, builder: Builder, protocol: ProtocolSettings,
                 fmt: str, seed: int, settings: RoundSettings, observer: Observer, drift: Any,
                 adaptive: adapt.AdaptivePlan | None = None) -> None:
        self.sweep, self.device, self.writer, self.builder = sweep, device, writer, builder
        self.protocol, self.fmt, self.seed, self.settings = protocol, fmt, seed, settings
        self.observer, self.drift, self.adaptive = observer, drift, adaptive
        self.adaptive_ids: set[str] = set()
        self.next_round = settings.rounds  # the first round number after the planned rounds
        self.run_id = writer.manifest["run_id"]
        self.artifacts: dict[str, Artifact] = {}
        self.measured = 0
        self.options, self.protocol_dict = device.runtime.adapter_options(), protocol.to_dict()
        self.batch_overheads: list[float] = []
        self.session: Any = None

    def job_id(self, point: Point) -> str:
        return f"{point.id}-{self.fmt}"

    # -- records --------------------------------------------------------------------
    def record(self, m: Measurement) -> None:
        self.writer.append(m)
        self.measured += 1
        self.observer("measured", measurement=m)

    def base(self, slot: Slot, r: int, order: int, phase: str) -> dict[str, Any]:
        point = slot.point
        artifact = self.artifacts.get(point.id)
        return dict(run_id=self.run_id, job_id=self.job_id(point), sweep=self.sweep.name, device=self.device.name,
                    device_class=self.device.device_class, runtime=self.device.runtime.name, format=self.fmt,
                    point_id=point.id, config_id=point.config_id, op=point.op, dtype=point.dtype,
                    params=point.params, macs=point.macs, flops=point.flops, param_count=point.param_count,
                    bytes_in=point.bytes_in, bytes_out=point.bytes_out, bytes_weights=point.bytes_weights,
                    round=r, order=order, role=slot.role, slot=slot.sentinel_slot, phase=phase,
                    adaptive=slot.role == "point" and point.id in self.adaptive_ids,
                    artifact_bytes=artifact.size_bytes if artifact else None,
                    artifact_sha256=artifact.sha256 if artifact else None,
                    build_s=artifact.build_s if artifact else None,
                    artifact_meta=(artifact.metadata if artifact else None))

    def key(self, slot: Slot, r: int) -> tuple[str, int, str, int]:
        return (self.job_id(slot.point), r, slot.role, slot.sentinel_slot)

    # -- build ----------------------------------------------------------------------
    def build(self, points: list[Point]) -> None:
        """Build each distinct point once (whatever the number of rounds), with progress."""
        distinct = [p for p in {p.id: p for p in points}.values() if p.id not in self.artifacts]
        if not distinct:
            return
        for k in range(0, len(distinct), self.builder.chunk):  # a parallel builder converts one chunk at once
            chunk = distinct[k:k + self.builder.chunk]
            self.observer("build", index=k, total=len(distinct), point=chunk[0])
            self.artifacts.update(zip((p.id for p in chunk), self.builder.build_many(chunk), strict=True))

    def pick_sentinel(self) -> Point | None:
        """The run's sentinel: the manifest's (a resumed run keeps it), else the first candidate that builds."""
        if self.settings.sentinel_every <= 0:
            return None
        by_id = {p.id: p for p in self.sweep.points}
        known = (self.writer.manifest.get("noise_floor") or {}).get("sentinel") or {}
        candidates = choose_sentinel(list(self.sweep.points))
        if known.get("point_id") in by_id:
            candidates = [by_id[known["point_id"]]]
        for point in candidates[:8]:
            self.build([point])
            if self.artifacts[point.id].ok:
                self.writer.update_manifest(noise_floor={
                    **(self.writer.manifest.get("noise_floor") or {}),
                    "sentinel": {"point_id": point.id, "job_id": self.job_id(point), "label": point.label(),
                                 "every": self.settings.sentinel_every}})
                return point
        return None

    # -- rounds ---------------------------------------------------------------------
    def run(self) -> RunOutcome:
        points = list(self.sweep.points)
        if self.adaptive is not None:  # the coarse grid first; refine() picks the rest
            series, _ = adapt.series_of(points, self.adaptive.axis)
            self.adaptive_ids = {p.id for s in series for p in s.points}
            points = adapt.coarse_points(points, self.adaptive)
        done = self.writer.done_keys()
        plan = execution_order(points, self.seed, self.settings.rounds)
        by_round: dict[int, list[Point]] = {}
        for r, _, p in plan:
            by_round.setdefault(r, []).append(p)
        total = len(plan)
        pending_points = [p for r, _, p in plan if (self.job_id(p), r, "point", 0) not in done]
        self.observer("plan", total=total, pending=len(pending_points), out_dir=str(self.writer.dir),
                      run_id=self.run_id, rounds=self.settings.rounds)
        sentinel = self.pick_sentinel()
        self.build(pending_points)
        self.observer("built", total=len({p.id for p in pending_points}))
        # one connection and workdir for the run's batches (each batch is still a fresh agent)
        device_session = DeviceSession(self.device, keep_open=True)
        session: Any = device_session
        if self.drift is not None:  # farm drift control: sentinel-checked chunks (suite/farm/drift.py)
            session = self.drift.wrap(session, record=lambda log: self.writer.update_manifest(drift=log))
        self.session = session
        error = None
        try:
            for r in sorted(by_round):
                self.run_round(r, round_slots(by_round[r], sentinel, self.settings.sentinel_every), "plan", done)
            if self.adaptive is not None:
                self.refine(sentinel, done)
            self.confirm(sentinel, done)
        except DeviceLost as exc:
            error = str(exc)
            self.observer("device_lost", error=error, pending=len(exc.pending))
        except DeviceError as exc:
            error = str(exc)
            self.observer("device_error", error=error)
        finally:
            device_session.close()
        complete = error is None
        manifest = self.writer.finalize(status="complete" if complete else "interrupted")
        if error:
            self.writer.update_manifest(error=error)
        confirm = manifest.get("confirm") or {}
        return RunOutcome(out_dir=self.writer.dir, run_id=self.run_id, total=total, measured=self.measured,
                          skipped_done=total - len(pending_points), counts=manifest.get("counts", {}),
                          complete=complete, error=error, noise_floor_rel=(manifest.get("noise_floor") or {}).get("rel"),
                          confirm_rounds=int(confirm.get("rounds") or 0))

    def run_round(self, r: int, slots: list[Slot], phase: str, done: set[tuple[str, int, str, int]]) -> float:
        """Measure a round's slots that are not done yet in one batch (a fresh agent session);
        returns the batch's wall seconds. Raises ``DeviceLost``/``DeviceError``."""
        todo = [(i, s) for i, s in enumerate(slots) if self.key(s, r) not in done]
        if not todo:
            return 0.0
        by_wire: dict[str, tuple[int, Slot]] = {}
        jobs: list[Job] = []
        for order, slot in todo:
            art = self.artifacts[slot.point.id]
            if not art.ok:
                if slot.role == "point":
                    self.record(Measurement(**self.base(slot, r, order, phase), status=art.status, error=art.error,
                                            started_at=utc_now(), timing=self.device.backend.timing))
                continue
            wire = self.job_id(slot.point) if slot.role == "point" else \
                f"{SENTINEL_WIRE}{slot.sentinel_slot}~{self.job_id(slot.point)}"
            by_wire[wire] = (order, slot)
            jobs.append(Job(job_id=wire, model_path=str(art.path), format=self.fmt, dtype=slot.point.dtype,
                            runtime=self.device.runtime.name, runtime_options=self.options,
                            protocol=self.protocol_dict, input_seed=slot.point.seed, model_sha256=str(art.sha256)))
        if not jobs:
            return 0.0
        env_log: dict[str, Any] = self.writer.manifest.setdefault("environment", {})
        t0 = time.monotonic()
        last = [t0]
        job_walls: list[float] = []

        def on_result(msg: dict[str, Any]) -> None:
            now = time.monotonic()
            order, slot = by_wire[msg["job"]]
            wall = now - last[0]
            last[0] = now
            job_walls.append(wall)
            self.record(_measurement(msg, self.base(slot, r, order, phase), msg.get("started_at") or utc_now(),
                                     wall_s=wall, default_timing=self.device.backend.timing))

        def on_env(when: str, env: dict[str, Any]) -> None:
            env_log.setdefault("device", {}).setdefault(f"round{r}", {})[when] = env
            self.writer.update_manifest(environment=env_log)

        def on_hello(msg: dict[str, Any]) -> None:
            env_log["agent"] = msg
            self.writer.update_manifest(environment=env_log)

        self.observer("measure", total=len(jobs), round=r, phase=phase)
        try:
            self.session.run_batch(jobs, on_result=on_result, on_env=on_env, on_hello=on_hello)
        except DeviceLost as exc:
            if exc.in_flight and exc.in_flight in by_wire:
                order, slot = by_wire[exc.in_flight]
                self.record(Measurement(**self.base(slot, r, order, phase), status=st.DEVICE_LOST,
                                        error=f"transport: {exc.reason}"[:4000], started_at=utc_now(),
                                        timing=self.device.backend.timing))
            raise
        wall = time.monotonic() - t0
        if job_walls:  # connect, push, agent start and teardown: what the batch cost beyond typical jobs
            self.batch_overheads.append(max(0.0, wall - len(job_walls) * float(np.median(job_walls))))
        return wall

    # -- adaptive refinement ----------------------------------------------------------
    def refine(self, sentinel: Point | None, done: set[tuple[str, int, str, int]]) -> None:
        """Refine the adaptive axis where measured neighbours differ (:mod:`suite.sweep.adaptive`).

        Each *generation* (:func:`suite.sweep.adaptive.refine`: a point inside every gap whose ends
        differ, widest gap first) is measured like the planned rounds: ``rounds`` interleaved,
        re-shuffled rounds, each a fresh session with the sentinel, so a refined point's headline
        and interval mean what a coarse point's do. "Differ" is by more than
        :func:`suite.sweep.adaptive.threshold` of the run's noise floor (recomputed from every
        sentinel measurement so far) and ``min_rel`` (default :func:`default_min_rel`). A generation's plan goes into the manifest (``refinement.generations``) before it
        is measured: a resumed run finishes it as planned, then asks again. It ends when no gap is
        left (every change located to one grid unit), or when the next generation does not fit the
        budget (``budget_s``; the prefix that fits is measured first).
        """
        plan = self.adaptive
        assert plan is not None
        state = {"generations": [], "spent_s": 0.0, "points": 0, "stopped": None,
                 **(self.writer.manifest.get("refinement") or {})}
        series, _ = adapt.series_of(list(self.sweep.points), plan.axis)
        by_job = {self.job_id(p): p for s in series for p in s.points}
        R = self.settings.rounds
        min_rel = plan.min_rel if plan.min_rel is not None else default_min_rel()
        state["series"] = len(series)
        state["max_points"] = len(by_job)
        state["coarse_points"] = sum(len(adapt.coarse_indices(len(s.points), plan.coarse)) for s in series)

        def save() -> None:
            state["points"] = len({j for g in state["generations"] for j in g["jobs"]})
            self.writer.update_manifest(refinement=state)

        def measure(gen: dict[str, Any]) -> None:
            points = [by_job[j] for j in gen["jobs"] if j in by_job]
            for r in gen["rounds"]:
                self._extra_round(r, points, sentinel, done, state, save, "plan")
            self.next_round = max(self.next_round, max(gen["rounds"]) + 1)

        for gen in state["generations"]:  # a resumed run: finish the planned generations
            measure(gen)
        if state.get("stopped"):
            save()
            return
        while True:
            tables = self.writer.tables()
            floor = tables.noise_floor.get("rel")
            limit = adapt.threshold(floor, min_rel)
            estimates = point_estimates(tables.measurements.to_pandas())
            planned = {j for g in state["generations"] for j in g["jobs"]}
            # a planned point always leaves a record (a failure is one); one that did not is not asked for again
            picks = [p for p in adapt.refine(series, estimates, limit, plan.axis) if self.job_id(p) not in planned]
            if not picks:
                state["stopped"] = "located: no unmeasured point left between neighbours that differ (every change to one grid unit)"
                break
            jobs = [self.job_id(p) for p in picks]
            estimate = 0.0
            if plan.budget_s is not None:
                left = plan.budget_s - state["spent_s"]
                fit, per_round = self._fit_budget(jobs, left / R, sentinel, tables)
                if not fit:
                    state["stopped"] = (f"budget: {max(0.0, left):.1f} s left, {R} round(s) of the next "
                                        f"{len(jobs)} point(s) need more")
                    break
                jobs, estimate = fit, per_round * R
            gen = {"generation": len(state["generations"]), "rounds": list(range(self.next_round, self.next_round + R)),
                   "jobs": jobs, "candidates": len(picks), "noise_floor_rel": floor, "threshold_rel": limit,
                   "estimated_s": round(estimate, 3)}
            state["generations"].append(gen)
            save()
            self.observer("refine", generation=gen["generation"], points=len(jobs), candidates=len(picks),
                          rounds=R, floor=floor, threshold=limit)
            measure(gen)
        save()

    # -- confirmation ---------------------------------------------------------------
    def confirm(self, sentinel: Point | None, done: set[tuple[str, int, str, int]]) -> None:
        """Extra interleaved, re-shuffled rounds of the points the confirmation rule picks, within budget.

        Each round's plan goes into the manifest (``confirm.plan``) before it is measured, so a
        resumed run finishes that round as planned; the rule is asked again after each round.
        """
        from suite.analysis.confirm import points_to_confirm

        state = {"budget_s": float(self.settings.confirm_s), "spent_s": 0.0, "points": [], "rounds": 0,
                 "plan": [], "stopped": None, **(self.writer.manifest.get("confirm") or {})}
        state["budget_s"] = float(self.settings.confirm_s)
        by_job = {self.job_id(p): p for p in self.sweep.points}
        next_round = self.next_round + len(state["plan"])

        def save() -> None:
            state["points"] = sorted({j for entry in state["plan"] for j in entry["jobs"]})
            state["rounds"] = len(state["plan"])
            self.writer.update_manifest(confirm=state)

        for entry in state["plan"]:  # a resumed run: finish the planned confirmation rounds
            points = [by_job[j] for j in entry["jobs"] if j in by_job]
            self._extra_round(int(entry["round"]), points, sentinel, done, state, save, "confirm")
        if state.get("stopped"):  # this run's confirmation already ended (a rerun of a finished run)
            save()
            return
        while state["budget_s"] > 0 and len(state["plan"]) < MAX_CONFIRM_ROUNDS:
            tables = self.writer.tables()
            picks = [j for j in points_to_confirm(tables.measurements.to_pandas()) if j in by_job]
            self.build([by_job[j] for j in picks])
            picks = [j for j in picks if self.artifacts[by_job[j].id].ok]
            if not picks:
                state["stopped"] = "no point left to confirm"
                break
            left = state["budget_s"] - state["spent_s"]
            fit, estimate = self._fit_budget(picks, left, sentinel, tables)
            if not fit:
                state["stopped"] = (f"budget: {max(0.0, state['budget_s'] - state['spent_s']):.1f} s left, a "
                                    f"round of {len(picks)} point(s) needs more")
                break
            state["plan"].append({"round": next_round, "jobs": fit, "estimated_s": round(estimate, 3),
                                  "budget_left_s": round(left, 3)})
            save()
            self.observer("confirm", round=next_round, points=len(fit), candidates=len(picks),
                          budget_left_s=state["budget_s"] - state["spent_s"])
            self._extra_round(next_round, [by_job[j] for j in fit], sentinel, done, state, save, "confirm")
            next_round += 1
        else:
            state["stopped"] = (f"at most {MAX_CONFIRM_ROUNDS} confirmation rounds" if state["budget_s"] > 0
                                else "no budget (confirm_s 0)")
        save()

    def _extra_round(self, r: int, points: list[Point], sentinel: Point | None, done: set[tuple[str, int, str, int]],
                     state: dict[str, Any], save: Callable[[], None], phase: str) -> None:
        """Round ``r`` of ``points`` beyond the planned ones (an adaptive generation's or a
        confirmation's), its time added to ``state["spent_s"]``."""
        self.build(points)
        shuffled = [p for _, _, p in execution_order(points, self.seed, 1, first=r)]
        wall = self.run_round(r, round_slots(shuffled, sentinel, self.settings.sentinel_every), phase, done)
        state["spent_s"] = round(state["spent_s"] + wall, 3)
        save()

    def _fit_budget(self, picks: list[str], left_s: float, sentinel: Point | None,
                    tables: RunTables) -> tuple[list[str], float]:
        """The longest prefix of ``picks`` whose estimated round (jobs, sentinels, batch overhead) fits
        ``left_s``, and that estimate (seconds); ``tables``: the run's as they stand.

        A job's cost is the median host time (``wall_s``) of its earlier rounds; the overhead is the
        median of what this run's batches cost beyond their jobs.
        """
        rounds = tables.rounds.to_pandas()
        cost = rounds[rounds["wall_s"].notna()].groupby("job_id")["wall_s"].median().to_dict()
        typical = float(np.median(list(cost.values()))) if cost else 1.0
        overhead = float(np.median(self.batch_overheads)) if self.batch_overheads else DEFAULT_BATCH_OVERHEAD_S
        sentinel_cost = cost.get(self.job_id(sentinel), typical) if sentinel is not None else 0.0
        every = self.settings.sentinel_every
        out: list[str] = []
        spent, estimate = overhead, 0.0
        for job in picks:
            n = len(out) + 1
            sentinels = 0 if sentinel is None or every <= 0 else 2 + (n - 1) // every
            need = spent + cost.get(job, typical) + sentinels * sentinel_cost
            if need > left_s:
                break
            spent += cost.get(job, typical)
            estimate = need
            out.append(job)
        return out, estimate


def default_min_rel() -> float:
    """The smallest neighbour difference an adaptive run refines by default: the smallest step or
    dip the detectors claim (:class:`suite.analysis.thresholds.Thresholds`); refining below it
    cannot change a finding."""
    from suite.analysis.thresholds import DEFAULT_THRESHOLDS

    return min(DEFAULT_THRESHOLDS.step_min_rel, DEFAULT_THRESHOLDS.dip_min_rel)


def point_estimates(frame: Any) -> dict[str, adapt.Estimate]:
    """What each measured point says (point id → headline and interval, or its failure status)."""
    out: dict[str, adapt.Estimate] = {}
    if frame.empty:
        return out
    for row in frame[["point_id", "status", "median_ms", "ci_low_ms", "ci_high_ms"]].itertuples(index=False):
        def num(v: Any) -> float | None:
            return None if v is None or (isinstance(v, float) and not np.isfinite(v)) else float(v)
        out[str(row.point_id)] = adapt.Estimate(status=str(row.status), median_ms=num(row.median_ms),
                                                ci_low_ms=num(row.ci_low_ms), ci_high_ms=num(row.ci_high_ms))
    return out


def _measurement(msg: dict[str, Any], base: dict[str, Any], started_at: str, wall_s: float | None = None,
                 default_timing: str = MEASURED) -> Measurement:
    """Turn one agent ``result`` message into a ``Measurement`` (a missing timing is a failure).

    ``timing`` (DESIGN.md §2 "Timing kinds") is the message's, else the backend's
    (``default_timing``).
    """
    status = msg.get("status", st.RUNTIME_ERROR)
    error = msg.get("error")
    samples = [float(x) for x in (msg.get("samples_ms") or [])]
    info = msg.get("info")
    timing = msg.get("timing") or default_timing
    if status not in st.ALL:
        status, error = st.RUNTIME_ERROR, f"agent: unknown status {status!r}: {error}"
    if timing not in TIMING_KINDS:
        status, error = st.RUNTIME_ERROR, f"agent: unknown timing kind {timing!r}; expected one of " + \
            ", ".join(TIMING_KINDS)
        timing = MEASURED
    if status in st.TIMED and not samples:
        status, error = st.RUNTIME_ERROR, "agent: result carried no timing samples"
    if status not in st.TIMED:
        samples = []
        error = error or f"agent: status {status} without an error text"
    if samples and any(not np.isfinite(s) or s < 0 for s in samples):
        status, error, samples = st.RUNTIME_ERROR, "agent: non-finite or negative timing samples", []
    return Measurement(**base, status=status, error=error, started_at=started_at, samples_ms=samples,
                       timing=timing, wall_s=wall_s,
                       loop_k=msg.get("loop_k"), stats=summarize(samples) if samples else {},
                       load_ms=msg.get("load_ms"), first_ms=msg.get("first_ms"),
                       peak_rss_mb=msg.get("peak_rss_mb"),
                       provider=(info or {}).get("provider"), outputs=msg.get("outputs"), info=info)
