"""The ``Measurement`` record: one job (point × format) measured (or failed) in one round.

It is the journal's unit (one line each, raw samples included) and one row of
``rounds.parquet``. ``measurements.parquet`` holds one row per job, aggregated over its
rounds by :mod:`suite.results.aggregate`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from suite import status as st
from suite.results.schema import PHASES, ROLES, TIMING_KINDS


@dataclass(frozen=True)
class Measurement:
    """One job in one round: raw samples, their statistics, status and what ran.

    ``role`` is ``point`` (a point of the sweep) or ``sentinel`` (the run's noise-floor point,
    measured several times per round: ``slot`` 0, 1, … numbers those measurements; 0 for
    points). ``phase`` is ``plan`` (the planned rounds) or ``confirm`` (extra rounds of points
    chosen for confirmation). ``adaptive`` marks a point of an adaptive sweep's series (issue 14:
    chosen by the coarse grid or the refinement rather than measured as part of a dense grid).
    ``order`` is the position in the round's execution order
    (sentinels included), ``wall_s`` the host's seconds for this job in its batch.
    """

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
    role: str = "point"
    slot: int = 0
    phase: str = "plan"
    timing: str = "measured"
    wall_s: float | None = None
    adaptive: bool = False

    def __post_init__(self) -> None:
        st.check(self.status)
        for name, allowed in (("role", ROLES), ("phase", PHASES), ("timing", TIMING_KINDS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"Measurement {self.job_id}: {name} {getattr(self, name)!r} is not one of "
                                 f"{', '.join(allowed)}")
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
    def key(self) -> tuple[str, int, str, int]:
        """Identity inside a run: a job in one round (sentinels also by their slot)."""
        return (self.job_id, self.round, self.role, self.slot)

    def to_json(self) -> str:
        """One journal line."""
        # the fields themselves, not asdict(): that deep-copies every sample list and nested dict
        # first (two thirds of the host's time per result); the JSON text is the same
        return json.dumps({f.name: getattr(self, f.name) for f in _FIELDS}, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        """The record of one journal line (``TypeError``/``ValueError`` on a bad one)."""
        if not isinstance(data, dict):
            raise TypeError(f"a journal line must be an object, got {type(data).__name__}")
        return cls(**data)


_FIELDS = fields(Measurement)
