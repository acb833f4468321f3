"""The run pipeline: plan → build → measure → store, for one sweep on one device.

Stages stay separate (a builder never touches a device, a runner never builds); this
module only sequences them and turns agent results into ``Measurement`` records.
"""

from __future__ import annotations

import getpass
import json
import platform
import subprocess
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
from suite.agent.protocol import ProtocolSettings
from suite.backends.backend import version_modules
from suite.devices.config import Device
from suite.devices.session import DeviceLost, DeviceSession, Job
from suite.errors import DeviceError
from suite.models.artifact import Artifact, Builder
from suite.models.cache import ArtifactCache
from suite.results.records import Measurement
from suite.results.schema import SCHEMA_VERSION
from suite.results.statistics import summarize
from suite.results.store import RunWriter, utc_now
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
    """Protocol defaults < the device's ``timeouts.point_s`` < the sweep's ``measure:`` block."""
    settings = ProtocolSettings().to_dict()
    if device.timeouts.point_s:
        settings["timeout_s"] = device.timeouts.point_s
    settings.update(sweep.measure)
    return ProtocolSettings.from_dict(settings)


def execution_order(points: list[Point], seed: int, repeat: int) -> list[tuple[int, int, Point]]:
    """``(round, order, point)`` triples: each round a fresh permutation from ``(seed, round)``."""
    out: list[tuple[int, int, Point]] = []
    for r in range(repeat):
        perm = np.random.default_rng([seed, r]).permutation(len(points))
        out.extend((r, i, points[j]) for i, j in enumerate(perm))
    return out


def default_out_dir(root: Path, sweep: Sweep, device: Device) -> Path:
    """``<root>/<sweep>--<device>--<UTC time>``: a fresh run directory name."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return root / f"{sweep.name}--{device.name}--{stamp}"


def latest_incomplete(root: Path, sweep: Sweep, device: Device) -> Path | None:
    """The newest run under ``root`` of this sweep and device that did not complete."""
    best = None
    for manifest in sorted(root.glob("*/manifest.json")):
        try:
            m = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(m, dict):  # a damaged manifest is not a run to resume
            continue
        if (m.get("sweep_sha256") == sweep.sha256 and m.get("device_name") == device.name
                and m.get("status") != "complete"):
            best = manifest.parent
    return best


def run_sweep(sweep: Sweep, device: Device, out_dir: Path, *, seed: int = 0, repeat: int | None = None,
              cache: ArtifactCache | None = None, observer: Observer = _noop,
              device_path: str | None = None, drift: Any = None) -> RunOutcome:
    """Measure every point of ``sweep`` on ``device`` into ``out_dir`` (resuming if it exists).

    ``drift`` (optional, a :class:`suite.farm.drift.DriftControl`) wraps the device session so a
    sentinel point is re-measured every N jobs; its log goes into the manifest under ``drift``.
    """
    repeat = repeat or sweep.repeat
    protocol = protocol_for(sweep, device)
    backend = device.backend
    fmt = backend.format
    builder = backend.builder_class()(cache=cache or ArtifactCache(), device=device)
    run_id = uuid.uuid4().hex[:12]
    manifest = {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "created_at": utc_now(),
        "suite_version": suite.__version__, "git_commit": git_commit(),
        "sweep_sha256": sweep.sha256, "device_name": device.name, "seed": seed, "repeat": repeat,
        "protocol": protocol.to_dict(),
        "sweep": {"name": sweep.name, "file": sweep.file, "description": sweep.description,
                  "points": len(sweep.points), "text": sweep.text},
        "device": {"name": device.name, "class": device.device_class, "file": device_path,
                   "definition": json.loads(device.model_dump_json(by_alias=True))},
        "format": fmt, "runtime": device.runtime.name,
        "environment": {"controller": {**probe_environment(version_modules()), "user": getpass.getuser(),
                                       "python_implementation": platform.python_implementation()}},
    }
    writer = RunWriter(out_dir, manifest)
    try:
        return _run(sweep, device, writer, builder, protocol, fmt, seed, repeat, observer, drift)
    except BaseException as exc:  # Ctrl-C, SIGTERM, a full disk: the directory stays resumable; say so in it
        try:
            writer.update_manifest(status="interrupted", error=f"{type(exc).__name__}: {exc}"[:500])
        except OSError:
            pass  # the disk that is full cannot take the note either; the journal is what counts
        raise
    finally:
        writer.close()
        builder.close()


def _run(sweep: Sweep, device: Device, writer: RunWriter, builder: Builder, protocol: ProtocolSettings, fmt: str,
         seed: int, repeat: int, observer: Observer, drift: Any = None) -> RunOutcome:
    run_id = writer.manifest["run_id"]
    order = execution_order(list(sweep.points), seed, repeat)
    done = writer.done_keys()

    def job_id(point: Point) -> str:
        return f"{point.id}-{fmt}"

    todo = [(r, i, p) for r, i, p in order if (job_id(p), r) not in done]
    observer("plan", total=len(order), pending=len(todo), out_dir=str(writer.dir), run_id=run_id)
    measured = 0

    def record(m: Measurement) -> None:
        nonlocal measured
        writer.append(m)
        measured += 1
        observer("measured", measurement=m)

    def base(point: Point, r: int, i: int, artifact: Artifact | None) -> dict[str, Any]:
        return dict(run_id=run_id, job_id=job_id(point), sweep=sweep.name, device=device.name,
                    device_class=device.device_class, runtime=device.runtime.name, format=fmt,
                    point_id=point.id, config_id=point.config_id, op=point.op, dtype=point.dtype,
                    params=point.params, macs=point.macs, flops=point.flops, param_count=point.param_count,
                    bytes_in=point.bytes_in, bytes_out=point.bytes_out, bytes_weights=point.bytes_weights,
                    round=r, order=i,
                    artifact_bytes=artifact.size_bytes if artifact else None,
                    artifact_sha256=artifact.sha256 if artifact else None,
                    build_s=artifact.build_s if artifact else None,
                    artifact_meta=(artifact.metadata if artifact else None))

    # build: each distinct point once, whatever the number of rounds
    artifacts: dict[str, Artifact] = {}
    distinct = list({p.id: p for _, _, p in todo}.values())
    for k in range(0, len(distinct), builder.chunk):  # a parallel builder converts one chunk at once
        chunk = distinct[k:k + builder.chunk]
        observer("build", index=k, total=len(distinct), point=chunk[0])
        artifacts.update(zip((p.id for p in chunk), builder.build_many(chunk), strict=True))
    observer("built", total=len(distinct))

    # failures of the build stage are measurements with a status; the rest become jobs
    by_job: dict[tuple[str, int], tuple[int, Point]] = {}
    jobs_by_round: dict[int, list[Job]] = {}
    options, settings = device.runtime.adapter_options(), protocol.to_dict()
    for r, i, point in todo:
        art = artifacts[point.id]
        if not art.ok:
            record(Measurement(**base(point, r, i, art), status=art.status, error=art.error,
                               started_at=utc_now()))
            continue
        by_job[(job_id(point), r)] = (i, point)
        jobs_by_round.setdefault(r, []).append(Job(
            job_id=job_id(point), model_path=str(art.path), format=fmt, dtype=point.dtype,
            runtime=device.runtime.name, runtime_options=options, protocol=settings, input_seed=point.seed,
            model_sha256=str(art.sha256)))

    session: Any = DeviceSession(device)
    if drift is not None:  # farm drift control: sentinel-checked chunks (suite/farm/drift.py)
        session = drift.wrap(session, record=lambda log: writer.update_manifest(drift=log))
    env_log: dict[str, Any] = writer.manifest.setdefault("environment", {})
    outcome_error = None
    complete = True
    for r, round_jobs in sorted(jobs_by_round.items()):

        def on_result(msg: dict[str, Any], r: int = r) -> None:
            i, point = by_job[(msg["job"], r)]
            record(_measurement(msg, base(point, r, i, artifacts[point.id]), msg.get("started_at") or utc_now()))

        def on_env(when: str, env: dict[str, Any], r: int = r) -> None:
            env_log.setdefault("device", {}).setdefault(f"round{r}", {})[when] = env
            writer.update_manifest(environment=env_log)

        def on_hello(msg: dict[str, Any]) -> None:
            env_log["agent"] = msg
            writer.update_manifest(environment=env_log)

        observer("measure", total=len(round_jobs), round=r)
        try:
            session.run_batch(round_jobs, on_result=on_result, on_env=on_env, on_hello=on_hello)
        except DeviceLost as exc:
            complete = False
            outcome_error = str(exc)
            if exc.in_flight:
                i, point = by_job[(exc.in_flight, r)]
                record(Measurement(**base(point, r, i, artifacts[point.id]), status=st.DEVICE_LOST,
                                   error=f"transport: {exc.reason}"[:4000], started_at=utc_now()))
            observer("device_lost", error=str(exc), pending=len(exc.pending))
            break
        except DeviceError as exc:
            complete = False
            outcome_error = str(exc)
            observer("device_error", error=str(exc))
            break
    manifest = writer.finalize(status="complete" if complete else "interrupted")
    if outcome_error:
        writer.update_manifest(error=outcome_error)
    return RunOutcome(out_dir=writer.dir, run_id=run_id, total=len(order), measured=measured,
                      skipped_done=len(order) - len(todo), counts=manifest.get("counts", {}), complete=complete,
                      error=outcome_error)


def _measurement(msg: dict[str, Any], base: dict[str, Any], started_at: str) -> Measurement:
    """Turn one agent ``result`` message into a ``Measurement`` (a missing timing is a failure)."""
    status = msg.get("status", st.RUNTIME_ERROR)
    error = msg.get("error")
    samples = [float(x) for x in (msg.get("samples_ms") or [])]
    if status not in st.ALL:
        status, error = st.RUNTIME_ERROR, f"agent: unknown status {status!r}: {error}"
    if status in st.TIMED and not samples:
        status, error = st.RUNTIME_ERROR, "agent: result carried no timing samples"
    if status not in st.TIMED:
        samples = []
        error = error or f"agent: status {status} without an error text"
    if samples and any(not np.isfinite(s) or s < 0 for s in samples):
        status, error, samples = st.RUNTIME_ERROR, "agent: non-finite or negative timing samples", []
    info = msg.get("info")
    return Measurement(**base, status=status, error=error, started_at=started_at, samples_ms=samples,
                       loop_k=msg.get("loop_k"), stats=summarize(samples) if samples else {},
                       load_ms=msg.get("load_ms"), first_ms=msg.get("first_ms"),
                       peak_rss_mb=msg.get("peak_rss_mb"),
                       provider=(info or {}).get("provider"), outputs=msg.get("outputs"), info=info)
