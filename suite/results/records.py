"""The ``Measurement`` record: one point measured (or failed) on one device, one round."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from suite import status as st
from suite.results.schema import SCHEMA_VERSION


@dataclass(frozen=True)
class Measurement:
    """One row of ``measurements.parquet`` before flattening ``params`` into columns."""

    run_id: str
    job_id: str
    sweep: str
    device: str
    device_class: str
    runtime: str
    format: str
    point_id: str
    config_id: str
    op: str
    dtype: str
    params: dict[str, Any]
    macs: int
    flops: int
    param_count: int
    bytes_in: int
    bytes_out: int
    bytes_weights: int
    status: str
    started_at: str
    round: int = 0
    order: int = 0
    error: str | None = None
    samples_ms: list[float] = field(default_factory=list)
    loop_k: int | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    artifact_bytes: int | None = None
    artifact_sha256: str | None = None
    build_s: float | None = None
    load_ms: float | None = None
    first_ms: float | None = None
    peak_rss_mb: float | None = None
    provider: str | None = None
    outputs: dict[str, Any] | None = None
    info: dict[str, Any] | None = None
    artifact_meta: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        st.check(self.status)
        if self.status in st.TIMED:
            if not self.samples_ms:
                raise ValueError(f"Measurement {self.job_id}: status {self.status} without samples "
                                 "(a missing timing is a failure, not 0 ms)")
            if self.stats.get("n") != len(self.samples_ms):
                raise ValueError(f"Measurement {self.job_id}: stats.n={self.stats.get('n')} "
                                 f"but {len(self.samples_ms)} samples")
        elif not self.error:
            raise ValueError(f"Measurement {self.job_id}: status {self.status} needs an error text")
        if self.status not in st.TIMED and self.samples_ms:
            raise ValueError(f"Measurement {self.job_id}: status {self.status} must not carry samples")

    @property
    def key(self) -> tuple[str, int]:
        """Identity inside a run: a job (point × format) in one round."""
        return (self.job_id, self.round)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        return cls(**data)

    def to_row(self) -> dict[str, Any]:
        """Flat row for parquet (contract + extra columns; params added by the writer)."""
        s = self.stats
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id, "sweep": self.sweep, "device": self.device, "device_class": self.device_class,
            "runtime": self.runtime, "format": self.format, "point_id": self.point_id, "op": self.op,
            "dtype": self.dtype, "params_json": json.dumps(self.params, sort_keys=True), "macs": self.macs,
            "flops": self.flops, "param_count": self.param_count,
            "bytes_total": self.bytes_in + self.bytes_out + self.bytes_weights,
            "status": self.status, "error": self.error, "n": s.get("n", 0), "loop_k": self.loop_k,
            "median_ms": s.get("median_ms"), "mean_ms": s.get("mean_ms"), "std_ms": s.get("std_ms"),
            "min_ms": s.get("min_ms"), "p10_ms": s.get("p10_ms"), "p90_ms": s.get("p90_ms"),
            "ci_low_ms": s.get("ci_low_ms"), "ci_high_ms": s.get("ci_high_ms"),
            "samples_ms": list(self.samples_ms), "started_at": self.started_at,
            "job_id": self.job_id, "config_id": self.config_id, "round": self.round, "order": self.order,
            "max_ms": s.get("max_ms"), "unstable": s.get("unstable"), "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out, "bytes_weights": self.bytes_weights,
            "artifact_bytes": self.artifact_bytes, "artifact_sha256": self.artifact_sha256,
            "build_s": self.build_s, "load_ms": self.load_ms, "first_ms": self.first_ms,
            "peak_rss_mb": self.peak_rss_mb, "provider": self.provider,
            "output_json": json.dumps(self.outputs) if self.outputs is not None else None,
            "info_json": json.dumps(self.info, sort_keys=True, default=str) if self.info is not None else None,
            "artifact_json": json.dumps(self.artifact_meta, sort_keys=True) if self.artifact_meta else None,
        }
