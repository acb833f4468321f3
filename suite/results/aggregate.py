"""From rounds to results: a run's per-round records → ``rounds.parquet`` + ``measurements.parquet``.

A run's data is a set of **rounds** (one job measured once, keyed by ``(job_id, round, role,
slot)``) plus each job's **job columns** (what ran: op, parameters, cost, artifact, runtime
facts). It comes from the journal (:class:`~suite.results.records.Measurement` lines) and
from a run's earlier parquet files; :meth:`RunData.merge` unions them (the newer record of a
key wins), so finalising never loses what an earlier finalisation wrote (issue 12: a lost
journal). :func:`build` turns the rounds into the two tables: one row per round, and one row
per job with the estimates over its rounds (:mod:`suite.results.statistics`) and the run's
noise floor from its sentinel.

Raw samples live in the journal and in ``measurements.samples_ms`` (every timed round, in
round order; ``round_n`` splits them), so a point's rounds can be rebuilt from the parquet.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from suite import status as st
from suite.errors import ResultsError
from suite.results.records import Measurement
from suite.results.schema import (
    MEASURED,
    ROUND_COLUMNS,
    SCHEMA_VERSION,
    arrow_schema,
    param_arrow_type,
    round_schema,
)
from suite.results.statistics import (
    NOISE_FLOOR_METHOD,
    noise_floor,
    pooled_log_variance,
    round_estimate,
    summarize,
    within_half_log,
)

Key = tuple[str, int, str, int]

#: Columns that describe what ran (taken from a job's newest record), not how it timed.
JOB_FIELDS = ("run_id", "sweep", "device", "device_class", "runtime", "format", "point_id", "config_id", "op",
              "dtype", "params", "macs", "flops", "param_count", "bytes_in", "bytes_out", "bytes_weights",
              "artifact_bytes", "artifact_sha256", "build_s", "artifact_meta")
#: Runtime facts of a job, taken from its newest *timed* round when it has one.
RUNTIME_FIELDS = ("provider", "outputs", "info")

_STAT_KEYS = ("n", "median_ms", "mean_ms", "std_ms", "min_ms", "max_ms", "p10_ms", "p90_ms", "ci_low_ms",
              "ci_high_ms", "unstable")


@dataclass
class RoundData:
    """One round of one job: its ``rounds.parquet`` row and (when known) its raw samples."""

    row: dict[str, Any]
    samples: list[float] | None = None

    @property
    def key(self) -> Key:
        r = self.row
        return (str(r["job_id"]), int(r["round"]), str(r.get("role") or "point"), int(r.get("slot") or 0))

    @property
    def timed(self) -> bool:
        return self.row.get("status") in st.TIMED and self.row.get("median_ms") is not None


@dataclass
class RunData:
    """A run's rounds and job columns, mergeable (see the module docstring)."""

    rounds: dict[Key, RoundData] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- sources ------------------------------------------------------------------------
    @classmethod
    def from_records(cls, records: Iterable[Measurement]) -> RunData:
        """From journal records in journal order (a later record of a key replaces an earlier one)."""
        data = cls()
        for m in records:
            data.add(m)
        return data

    def add(self, m: Measurement) -> None:
        """Add one record (it replaces an earlier record of its key)."""
        stats = m.stats or {}
        row = {"schema_version": SCHEMA_VERSION, "run_id": m.run_id, "job_id": m.job_id, "point_id": m.point_id,
               "role": m.role, "round": m.round, "slot": m.slot, "order": m.order, "phase": m.phase,
               "status": m.status, "error": m.error, "timing": m.timing, "n": stats.get("n", 0), "loop_k": m.loop_k,
               **{k: stats.get(k) for k in _STAT_KEYS if k != "n"},
               "load_ms": m.load_ms, "first_ms": m.first_ms, "peak_rss_mb": m.peak_rss_mb, "wall_s": m.wall_s,
               "started_at": m.started_at}
        self.rounds[m.key] = RoundData(row, list(m.samples_ms) if m.status in st.TIMED else None)
        if m.role != "point":
            return
        job = self.jobs.setdefault(m.job_id, {})
        job.update({k: getattr(m, k) for k in JOB_FIELDS})
        if m.adaptive:
            job["adaptive"] = True
        if m.status in st.TIMED or not any(job.get(k) is not None for k in RUNTIME_FIELDS):
            job.update({k: getattr(m, k) for k in RUNTIME_FIELDS})

    @classmethod
    def from_tables(cls, measurements: pa.Table | None, rounds: pa.Table | None) -> RunData:
        """From a v2 run's ``measurements.parquet`` and ``rounds.parquet`` (either may be missing)."""
        data = cls()
        by_job: dict[str, list[RoundData]] = {}
        for row in (rounds.to_pylist() if rounds is not None else []):
            rd = RoundData(row)
            data.rounds[rd.key] = rd
            if rd.row.get("role") == "point":
                by_job.setdefault(rd.row["job_id"], []).append(rd)
        for row in (measurements.to_pylist() if measurements is not None else []):
            job_id = row["job_id"]
            data.jobs[job_id] = _job_from_row(row)
            samples = [float(x) for x in row.get("samples_ms") or []]
            sizes = [int(n) for n in row.get("round_n") or []]
            timed = sorted((rd for rd in by_job.get(job_id, []) if rd.timed), key=lambda rd: rd.row["round"])
            if rounds is None:  # rounds.parquet lost: rebuild the timed rounds from the samples
                timed = [_round_from_samples(row, i, n) for i, n in enumerate(sizes)]
                for rd in timed:
                    data.rounds[rd.key] = rd
            if sum(sizes) != len(samples) or len(sizes) != len(timed):
                raise ResultsError(f"job {job_id}: measurements.parquet holds {len(samples)} samples in "
                                   f"{len(sizes)} rounds, rounds.parquet {len(timed)} timed rounds; the run "
                                   "files are inconsistent")
            start = 0
            for rd, n in zip(timed, sizes):
                rd.samples = list(samples[start:start + n])
                start += n
        return data

    @classmethod
    def from_v1_frame(cls, df: Any) -> RunData:
        """From the rows of one schema-1 run (one row per job and round; pandas DataFrame)."""
        data = cls()
        for row in df.to_dict("records"):
            row = {k: (None if _missing(v) else v) for k, v in row.items()}
            raw = row.get("samples_ms")
            samples = [float(x) for x in raw] if raw is not None else []
            info = _loads(row.get("info_json"))
            timing = "summary" if isinstance(info, dict) and info.get("samples_kind") == "summary" else MEASURED
            rrow = {"schema_version": SCHEMA_VERSION, "run_id": row["run_id"], "job_id": row["job_id"],
                    "point_id": row["point_id"], "role": "point", "round": int(row.get("round") or 0), "slot": 0,
                    "order": int(row.get("order") or 0), "phase": "plan", "status": row["status"],
                    "error": row.get("error"), "timing": timing, "n": int(row.get("n") or 0),
                    "loop_k": row.get("loop_k"), **{k: row.get(k) for k in _STAT_KEYS if k != "n"},
                    "load_ms": row.get("load_ms"), "first_ms": row.get("first_ms"),
                    "peak_rss_mb": row.get("peak_rss_mb"), "wall_s": None, "started_at": row.get("started_at")}
            rd = RoundData(rrow, samples if row["status"] in st.TIMED else None)
            data.rounds[rd.key] = rd
            job = data.jobs.setdefault(row["job_id"], {})
            new = _job_from_row(row)
            if row["status"] in st.TIMED or not job:
                job.update(new)
            else:
                job.update({k: v for k, v in new.items() if k not in RUNTIME_FIELDS})
        return data

    def merge(self, newer: RunData) -> RunData:
        """The union of both runs' rounds and jobs; ``newer`` wins where both have a key."""
        jobs = {k: dict(v) for k, v in self.jobs.items()}
        for k, v in newer.jobs.items():
            job = jobs.setdefault(k, {})  # runtime facts of a timed round survive a newer failed one
            job.update({f: x for f, x in v.items() if f not in RUNTIME_FIELDS or x is not None or f not in job})
        return RunData(rounds={**self.rounds, **newer.rounds}, jobs=jobs)

    def point_rounds(self) -> int:
        """How many (job, round) measurements of points this holds."""
        return sum(1 for k in self.rounds if k[2] == "point")


@dataclass
class RunTables:
    """What :func:`build` makes: the two tables and the run's noise floor."""

    measurements: pa.Table
    rounds: pa.Table
    noise_floor: dict[str, Any]
    counts: dict[str, int]


def build(data: RunData, rounds_planned: int | None = None) -> RunTables:
    """One row per job (estimates over its rounds) and one per round; the noise floor.

    ``rounds_planned`` (the run's planned rounds, for the floor) defaults to the largest
    number of plan rounds any job has.
    """
    by_job: dict[str, list[RoundData]] = {}
    sentinel: list[RoundData] = []
    for rd in data.rounds.values():
        if rd.row.get("role") == "sentinel":
            sentinel.append(rd)
        else:
            by_job.setdefault(rd.row["job_id"], []).append(rd)
    for rds in by_job.values():
        rds.sort(key=lambda rd: (rd.row["round"], rd.row.get("slot") or 0))
    if rounds_planned is None:
        rounds_planned = max((len({rd.row["round"] for rd in rds if rd.row.get("phase") != "confirm"})
                              for rds in by_job.values()), default=1)
    timed_medians = {j: [float(rd.row["median_ms"]) for rd in rds if rd.timed] for j, rds in by_job.items()}
    pooled_var, _ = pooled_log_variance(timed_medians.values())
    sentinel.sort(key=lambda rd: (rd.row["round"], rd.row.get("slot") or 0))
    values = [float(rd.row["median_ms"]) for rd in sentinel if rd.timed]
    floor = noise_floor(values, max(1, int(rounds_planned)))
    floor_info = {"rel": None if math.isnan(floor) else floor, "method": NOISE_FLOOR_METHOD,
                  "values_ms": values, "measurements": len(values), "rounds": int(rounds_planned)}
    if not values:
        floor_info["method"] = "not measured (no timed sentinel measurement in this run)"

    rows: list[dict[str, Any]] = []
    params: list[dict[str, Any]] = []
    first_order: list[tuple[int, int, str]] = []
    for job_id, rds in by_job.items():
        job = data.jobs.get(job_id)
        if job is None:
            raise ResultsError(f"job {job_id} has rounds but no job columns (what ran); the run files are "
                               "inconsistent")
        rows.append(_job_row(job_id, job, rds, pooled_var, floor))
        params.append(job.get("params") or {})
        r0 = rds[0].row
        first_order.append((int(r0["round"]), int(r0.get("order") or 0), job_id))
    order = sorted(range(len(rows)), key=lambda i: first_order[i])
    rows, params = [rows[i] for i in order], [params[i] for i in order]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    round_rows = [dict(rd.row, schema_version=SCHEMA_VERSION, started_at=_timestamp(rd.row.get("started_at")))
                  for rd in sorted(data.rounds.values(), key=lambda rd: (rd.row["round"], rd.row.get("order") or 0,
                                                                         rd.row.get("role"), rd.row.get("slot") or 0))]
    rounds_table = pa.Table.from_pylist([{k: r.get(k) for k in ROUND_COLUMNS} for r in round_rows],
                                        schema=round_schema())
    return RunTables(measurements=_measurements_table(rows, params), rounds=_with_version(rounds_table),
                     noise_floor=floor_info, counts=counts)


def _job_row(job_id: str, job: dict[str, Any], rds: list[RoundData], pooled_var: float,
             floor: float) -> dict[str, Any]:
    """One ``measurements.parquet`` row from a job's rounds (see :mod:`suite.results.statistics`)."""
    timed = [rd for rd in rds if rd.timed]
    failed = [rd for rd in rds if not rd.timed]
    errors = [f"round {rd.row['round']}: {rd.row.get('error')}" for rd in failed if rd.row.get("error")]
    row: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "job_id": job_id,
        **{k: job.get(k) for k in JOB_FIELDS if k not in ("params", "artifact_meta")},
        "params_json": json.dumps(job.get("params") or {}, sort_keys=True),
        "bytes_total": sum(int(job.get(k) or 0) for k in ("bytes_in", "bytes_out", "bytes_weights")),
        "provider": job.get("provider"),
        "output_json": json.dumps(job["outputs"]) if job.get("outputs") is not None else None,
        "info_json": json.dumps(job["info"], sort_keys=True, default=str) if job.get("info") is not None else None,
        "artifact_json": json.dumps(job["artifact_meta"], sort_keys=True) if job.get("artifact_meta") else None,
        "rounds": len(timed), "rounds_failed": len(failed),
        "confirm_rounds": sum(1 for rd in timed if rd.row.get("phase") == "confirm"),
        "adaptive": bool(job.get("adaptive", False)),
        "noise_floor_rel": None if math.isnan(floor) else floor,
        "started_at": _timestamp(min((rd.row.get("started_at") for rd in rds), key=_sort_time)),
    }
    if not timed:
        last = rds[-1].row
        others = [f"round {rd.row['round']}: {rd.row.get('error')}" for rd in rds[:-1]
                  if rd.row.get("error") and rd.row.get("error") != last.get("error")]
        text = "; ".join([last.get("error") or f"{last['status']} in every round", *others])
        row.update(status=last["status"], error=text, n=0, loop_k=None,
                   samples_ms=[], round_median_ms=[], round_n=[], timing=last.get("timing") or MEASURED,
                   load_ms=last.get("load_ms"), first_ms=last.get("first_ms"), peak_rss_mb=last.get("peak_rss_mb"),
                   **{k: None for k in ("median_ms", "mean_ms", "std_ms", "min_ms", "max_ms", "p10_ms", "p90_ms",
                                        "ci_low_ms", "ci_high_ms", "unstable", "spread_rel")})
        return row
    fell_back = [rd for rd in timed if rd.row["status"] == st.FALLBACK]
    status = st.FALLBACK if fell_back else st.OK
    texts = ([fell_back[-1].row["error"]] if fell_back and fell_back[-1].row.get("error") else []) + errors
    pooled: list[float] = []
    sizes: list[int] = []
    for rd in timed:
        s = rd.samples if rd.samples is not None else []
        pooled.extend(s)
        sizes.append(len(s))
    medians = [float(rd.row["median_ms"]) for rd in timed]
    half = within_half_log(medians, [rd.row.get("ci_low_ms") or rd.row["median_ms"] for rd in timed],
                           [rd.row.get("ci_high_ms") or rd.row["median_ms"] for rd in timed])
    est = round_estimate(medians, half, pooled_var)
    dist = summarize(pooled) if pooled else {}
    row.update(status=status, error="; ".join(t for t in texts if t) or None, n=len(pooled),
               loop_k=timed[0].row.get("loop_k"), samples_ms=pooled, round_median_ms=medians, round_n=sizes,
               median_ms=est.median_ms, ci_low_ms=est.ci_low_ms, ci_high_ms=est.ci_high_ms,
               spread_rel=None if math.isnan(est.spread_rel) else est.spread_rel,
               mean_ms=dist.get("mean_ms"), std_ms=dist.get("std_ms"), min_ms=dist.get("min_ms"),
               max_ms=dist.get("max_ms"), p10_ms=dist.get("p10_ms"), p90_ms=dist.get("p90_ms"),
               unstable=dist.get("unstable"), timing=timed[0].row.get("timing") or MEASURED,
               load_ms=_median([rd.row.get("load_ms") for rd in timed]),
               first_ms=_median([rd.row.get("first_ms") for rd in timed]),
               peak_rss_mb=max((v for v in (rd.row.get("peak_rss_mb") for rd in timed) if v is not None),
                               default=None))
    return row


def _measurements_table(rows: list[dict[str, Any]], params: list[dict[str, Any]]) -> pa.Table:
    names: dict[str, list[Any]] = {}
    for p in params:
        for k, v in p.items():
            names.setdefault(k, []).append(v)
    types = {k: param_arrow_type(v) for k, v in names.items()}
    for p, row in zip(params, rows):
        for k, t in types.items():
            v = p.get(k)
            if v is not None and t == pa.string() and not isinstance(v, str):
                v = str(v)
            row[k] = v
    schema = arrow_schema(types)
    return _with_version(pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows],
                                              schema=schema))


def _with_version(table: pa.Table) -> pa.Table:
    return table.replace_schema_metadata({b"hwbehave_schema_version": str(SCHEMA_VERSION).encode()})


def _job_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """Job columns from a measurements row (v1 or v2)."""
    job = {k: row.get(k) for k in JOB_FIELDS if k not in ("params", "artifact_meta")}
    job["params"] = _loads(row.get("params_json")) or {}
    job["artifact_meta"] = _loads(row.get("artifact_json"))
    job["provider"] = row.get("provider")
    job["outputs"] = _loads(row.get("output_json"))
    job["info"] = _loads(row.get("info_json"))
    if row.get("adaptive"):
        job["adaptive"] = True
    return job


def _round_from_samples(row: dict[str, Any], i: int, size: int) -> RoundData:
    start = sum(int(n) for n in (row.get("round_n") or [])[:i])
    samples = [float(x) for x in (row.get("samples_ms") or [])[start:start + size]]
    stats = summarize(samples) if samples else {}
    return RoundData({"schema_version": SCHEMA_VERSION, "run_id": row.get("run_id"), "job_id": row["job_id"],
                      "point_id": row.get("point_id"), "role": "point", "round": i, "slot": 0, "order": 0,
                      "phase": "plan", "status": row.get("status") if row.get("status") in st.TIMED else st.OK,
                      "error": None, "timing": row.get("timing") or MEASURED, "loop_k": row.get("loop_k"),
                      **{k: stats.get(k) for k in _STAT_KEYS}, "load_ms": None, "first_ms": None,
                      "peak_rss_mb": None, "wall_s": None, "started_at": row.get("started_at")}, samples)


def _loads(text: Any) -> Any:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    try:
        import pandas as pd

        return bool(v is pd.NaT or v is pd.NA)
    except ImportError:  # pragma: no cover - pandas comes with the query layer
        return False


def _median(values: list[Any]) -> float | None:
    v = sorted(float(x) for x in values if x is not None and not (isinstance(x, float) and math.isnan(x)))
    if not v:
        return None
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2.0


def _timestamp(v: Any) -> datetime | None:
    if v is None or isinstance(v, datetime):
        return v
    if hasattr(v, "to_pydatetime"):
        return v.to_pydatetime()
    return datetime.fromisoformat(str(v))


def _sort_time(v: Any) -> str:
    t = _timestamp(v)
    return t.isoformat() if t is not None else "~"


# -- migrations -----------------------------------------------------------------------------------

def migrate_v1(df: Any) -> Any:
    """Schema 1 → 2 for a measurements DataFrame: group each run's (job, round) rows into one row
    per job (estimates over its rounds; no sentinel, so ``noise_floor_rel`` is NaN)."""
    import pandas as pd

    if df.empty:
        return df
    parts = [build(RunData.from_v1_frame(g)).measurements.to_pandas() for _, g in df.groupby("run_id", sort=False)]
    return pd.concat(parts, ignore_index=True)


def v1_round_table(df: Any) -> pa.Table:
    """The ``rounds.parquet`` table of a schema-1 run (its rows were rounds)."""
    return build(RunData.from_v1_frame(df)).rounds


#: Migrations of a measurements DataFrame from version N to N+1 (see :func:`suite.results.schema.migrate`).
MIGRATIONS: dict[int, Any] = {1: migrate_v1}
