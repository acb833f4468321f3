"""Sustained mode: one point measured for minutes, to see latency vs time (thermal throttling).

The point is built once and timed in back-to-back *windows* of ``window_s`` seconds; a
batch of windows lasts about ``chunk_s`` seconds, and every batch's agent reports the
device environment (temperatures, frequency) at its start and end, so the curve comes
with a temperature trace. Every raw sample is kept with its time since the start:

    t_s = window start + cumulative sum of the window's samples (each × loop_k)

where the window start is the job's ``started_at`` plus its timed load, first inference
and warm-up (``warmup_n`` × median sample). Offsets inside a window are exact; the start is
accurate to the warm-up estimate (milliseconds).

Output directory: ``sustain.json`` (what, where, settings, environment per batch,
per-window stats) and ``samples.parquet`` (``window, batch, t_s, latency_ms, loop_k``).
The names differ from a run directory's on purpose: a sustained curve is not a sweep.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from suite.agent.protocol import ProtocolSettings
from suite.devices.config import Device
from suite.devices.session import DeviceSession, Job
from suite.errors import ConfigError
from suite.models.cache import ArtifactCache
from suite.results.statistics import summarize
from suite.results.store import write_json_atomic
from suite.sweep.expand import load_sweep
from suite.sweep.point import Point

SUSTAIN_JSON = "sustain.json"
SAMPLES = "samples.parquet"


@dataclass(frozen=True)
class SustainOutcome:
    """Where the curve went and its headline numbers."""

    out_dir: Path
    windows: int
    samples: int
    first_median_ms: float | None
    last_median_ms: float | None
    seconds: float


def point_for(op: str, params: dict[str, Any], dtype: str = "fp32") -> Point:
    """The one point of ``op`` with ``params`` (validated like a sweep: same ids)."""
    text = yaml.safe_dump({"name": "sustain", "op": op, "fixed": params, "dtypes": [dtype]})
    sweep = load_sweep("<sustain>", text=text)
    if len(sweep.points) != 1:
        raise ConfigError("sustained mode needs exactly one point", field="--param", value=params,
                          expected="fixed values, not axes")
    return sweep.points[0]


def run_sustain(device: Device, point: Point, out_dir: Path, *, minutes: float, window_s: float = 1.0,
                chunk_s: float = 30.0, cache: ArtifactCache | None = None,
                observer: Callable[..., None] | None = None) -> SustainOutcome:
    """Time ``point`` on ``device`` for ``minutes``; write the curve into ``out_dir``."""
    if minutes <= 0 or window_s <= 0 or chunk_s < window_s:
        raise ConfigError("sustained mode needs minutes > 0 and 0 < window_s <= chunk_s", field="--minutes",
                          value={"minutes": minutes, "window_s": window_s, "chunk_s": chunk_s})
    emit = observer or (lambda event, **data: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    backend = device.backend
    fmt = backend.format
    with backend.builder_class()(cache=cache or ArtifactCache(), device=device) as builder:
        artifact = builder.build(point)
    if not artifact.ok:
        raise ConfigError(f"cannot build the point: {artifact.error}", field="--op", value=point.label())
    total_s = minutes * 60.0
    per_batch = max(1, int(chunk_s // window_s))
    protocol = ProtocolSettings(warmup_runs=5, warmup_s=0.02, min_runs=1, min_s=window_s, max_runs=10 ** 6,
                                max_s=window_s, timeout_s=max(60.0, window_s * 10 + 30.0)).to_dict()
    session = DeviceSession(device)
    record: dict[str, Any] = {
        "kind": "sustain", "created_at": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        "device": device.name, "device_class": device.device_class, "runtime": device.runtime.name,
        "format": fmt, "point": {"id": point.id, "op": point.op, "dtype": point.dtype, "params": point.params,
                                 "label": point.label()},
        "settings": {"minutes": minutes, "window_s": window_s, "chunk_s": chunk_s, "protocol": protocol},
        "batches": [], "windows": [], "status": "running"}
    rows: dict[str, list[Any]] = {"window": [], "batch": [], "t_s": [], "latency_ms": [], "loop_k": []}
    t_start = time.time()
    mono0 = time.monotonic()
    window = 0
    batch_no = 0
    try:
        while time.monotonic() - mono0 < total_s:
            left = total_s - (time.monotonic() - mono0)
            n = max(1, min(per_batch, int(np.ceil(left / window_s))))
            jobs = [Job(job_id=f"w{window + i:06d}", model_path=str(artifact.path), format=fmt, dtype=point.dtype,
                        runtime=device.runtime.name, runtime_options=device.runtime.adapter_options(),
                        protocol=protocol, input_seed=point.seed, model_sha256=str(artifact.sha256))
                    for i in range(n)]
            env: dict[str, Any] = {"batch": batch_no}

            def on_env(when: str, data: dict[str, Any], env: dict[str, Any] = env) -> None:
                env[when] = {"t_s": time.time() - t_start, "temperatures_c": data.get("temperatures_c"),
                             "cpu_freq_mhz": data.get("cpu_freq_mhz"), "governor": data.get("governor")}

            def on_result(msg: dict[str, Any], b: int = batch_no) -> None:
                _window_rows(msg, b, t_start, rows, record)

            session.run_batch(jobs, on_result=on_result, on_env=on_env)
            record["batches"].append(env)
            window += n
            batch_no += 1
            emit("batch", batch=batch_no, windows=window, elapsed_s=time.monotonic() - mono0)
        record["status"] = "complete"
    finally:
        record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        _write_samples(out_dir / SAMPLES, rows)
        write_json_atomic(out_dir / SUSTAIN_JSON, record)
    medians = [w["median_ms"] for w in record["windows"] if w.get("median_ms") is not None]
    return SustainOutcome(out_dir=out_dir, windows=len(record["windows"]), samples=len(rows["t_s"]),
                          first_median_ms=medians[0] if medians else None,
                          last_median_ms=medians[-1] if medians else None, seconds=time.monotonic() - mono0)


def _window_rows(msg: dict[str, Any], batch: int, t_start: float, rows: dict[str, list[Any]],
                 record: dict[str, Any]) -> None:
    samples = [float(s) for s in msg.get("samples_ms") or []]
    win = int(str(msg.get("job", "w0"))[1:] or 0)
    if msg.get("status") != "ok" or not samples:
        record["windows"].append({"window": win, "batch": batch, "status": msg.get("status"),
                                  "error": str(msg.get("error"))[:500]})
        return
    k = int(msg.get("loop_k") or 1)
    try:
        started = datetime.fromisoformat(str(msg.get("started_at"))).timestamp()
    except ValueError:
        started = time.time()
    med = float(np.median(samples))
    lead_ms = float(msg.get("load_ms") or 0) + float(msg.get("first_ms") or 0) + int(msg.get("warmup_n") or 0) * med
    start_s = started - t_start + lead_ms / 1000.0
    times = start_s + np.cumsum(np.asarray(samples) * k) / 1000.0
    rows["window"].extend([win] * len(samples))
    rows["batch"].extend([batch] * len(samples))
    rows["t_s"].extend(times.tolist())
    rows["latency_ms"].extend(samples)
    rows["loop_k"].extend([k] * len(samples))
    stats = summarize(samples)
    record["windows"].append({"window": win, "batch": batch, "status": "ok", "t_start_s": start_s,
                              "t_end_s": float(times[-1]), "loop_k": k,
                              **{key: stats[key] for key in ("n", "median_ms", "ci_low_ms", "ci_high_ms", "p90_ms")}})


def _write_samples(path: Path, rows: dict[str, list[Any]]) -> None:
    table = pa.table({"window": pa.array(rows["window"], pa.int32()), "batch": pa.array(rows["batch"], pa.int32()),
                      "t_s": pa.array(rows["t_s"], pa.float64()),
                      "latency_ms": pa.array(rows["latency_ms"], pa.float64()),
                      "loop_k": pa.array(rows["loop_k"], pa.int32())})
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)


def read_sustain(out_dir: Path) -> tuple[dict[str, Any], Any]:
    """``(sustain.json dict, samples DataFrame)`` of a sustained run directory."""
    meta = json.loads((out_dir / SUSTAIN_JSON).read_text())
    df = pq.read_table(out_dir / SAMPLES).to_pandas() if (out_dir / SAMPLES).exists() else None
    return meta, df
