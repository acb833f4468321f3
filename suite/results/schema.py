"""The public results contract (docs/architecture.md §7): column names, types, version, migrations.

``measurements.parquet`` holds one row per job (point × format): :data:`CONTRACT_COLUMNS`
(documented, stable), then :data:`EXTRA_COLUMNS` (documented, may grow), then one column per
op parameter (null where a point's op lacks that parameter). ``rounds.parquet`` holds one row
per measured (job, round), the sentinel's measurements included: :data:`ROUND_COLUMNS`.

Version 2 (rounds are the unit of replication): the statistics columns of a measurement row
are estimates over its rounds (:mod:`suite.results.statistics`); ``round``/``order`` moved to
``rounds.parquet``. Version 1 rows (one per job and round) migrate on load
(:mod:`suite.results.aggregate`).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from suite.errors import ResultsError

#: Version of the run-directory format. Newer files are refused; older ones migrate.
SCHEMA_VERSION = 2

#: How a latency was obtained (DESIGN.md §2 "Timing kinds"); a finding never mixes them.
#: ``measured``: wall clock on the device; ``summary``: a tool's own average (benchmark_model);
#: ``emulated``: an accelerator emulated on the host; ``estimated``: a vendor's performance model.
TIMING_KINDS = ("measured", "summary", "emulated", "estimated")
MEASURED = "measured"

#: ``role`` of a round row: a point of the sweep, or the run's noise-floor sentinel.
ROLES = ("point", "sentinel")
#: ``phase`` of a round: the planned rounds, or extra rounds of adaptive confirmation.
PHASES = ("plan", "confirm")

CONTRACT_COLUMNS: dict[str, pa.DataType] = {
    "schema_version": pa.int32(),
    "run_id": pa.string(),
    "sweep": pa.string(),
    "device": pa.string(),
    "device_class": pa.string(),
    "runtime": pa.string(),
    "format": pa.string(),
    "point_id": pa.string(),
    "op": pa.string(),
    "dtype": pa.string(),
    "params_json": pa.string(),
    "macs": pa.int64(),
    "flops": pa.int64(),
    "param_count": pa.int64(),
    "bytes_total": pa.int64(),
    "status": pa.string(),
    "error": pa.string(),
    "n": pa.int64(),
    "loop_k": pa.int64(),
    "median_ms": pa.float64(),
    "mean_ms": pa.float64(),
    "std_ms": pa.float64(),
    "min_ms": pa.float64(),
    "p10_ms": pa.float64(),
    "p90_ms": pa.float64(),
    "ci_low_ms": pa.float64(),
    "ci_high_ms": pa.float64(),
    "samples_ms": pa.list_(pa.float64()),
    "started_at": pa.timestamp("us", tz="UTC"),
}

EXTRA_COLUMNS: dict[str, pa.DataType] = {
    "job_id": pa.string(),
    "config_id": pa.string(),       # joins the dtype variants of one configuration
    "rounds": pa.int32(),           # timed rounds (plan + confirm)
    "rounds_failed": pa.int32(),    # rounds that ended in a failure status
    "round_median_ms": pa.list_(pa.float64()),  # each timed round's median, round order
    "round_n": pa.list_(pa.int64()),            # samples per timed round (splits samples_ms)
    "spread_rel": pa.float64(),     # (max - min) / median_ms of the round medians
    "noise_floor_rel": pa.float64(),  # the run's noise floor (sentinel), same on every row; NaN if none
    "timing": pa.string(),          # measured | summary | emulated | estimated
    "confirm_rounds": pa.int32(),   # timed rounds from adaptive confirmation
    "adaptive": pa.bool_(),         # point chosen by an adaptive sweep (issue 14); false otherwise
    "max_ms": pa.float64(),
    "unstable": pa.bool_(),         # pyperf's rule on the pooled samples, see suite.results.statistics
    "bytes_in": pa.int64(),
    "bytes_out": pa.int64(),
    "bytes_weights": pa.int64(),
    "artifact_bytes": pa.int64(),
    "artifact_sha256": pa.string(),
    "build_s": pa.float64(),
    "load_ms": pa.float64(),
    "first_ms": pa.float64(),
    "peak_rss_mb": pa.float64(),
    "provider": pa.string(),        # execution provider / delegate / device actually used
    "output_json": pa.string(),     # output digest, moments and a sample (quantization error)
    "info_json": pa.string(),       # runtime facts: providers, fallback ops, precision, profile
    "artifact_json": pa.string(),   # builder metadata (quantized nodes, fp16 notes, fused ops)
}

ALL_FIXED = {**CONTRACT_COLUMNS, **EXTRA_COLUMNS}

#: ``rounds.parquet``: one row per measured (job, round), sentinel measurements included.
ROUND_COLUMNS: dict[str, pa.DataType] = {
    "schema_version": pa.int32(),
    "run_id": pa.string(),
    "job_id": pa.string(),
    "point_id": pa.string(),
    "role": pa.string(),            # point | sentinel
    "round": pa.int32(),            # 0-based; plan rounds first, then confirm rounds
    "slot": pa.int32(),             # the sentinel's n-th measurement in this round (0 for points)
    "order": pa.int64(),            # position in the round's shuffled execution order
    "phase": pa.string(),           # plan | confirm
    "status": pa.string(),
    "error": pa.string(),
    "timing": pa.string(),
    "n": pa.int64(),
    "loop_k": pa.int64(),
    "median_ms": pa.float64(),
    "mean_ms": pa.float64(),
    "std_ms": pa.float64(),
    "min_ms": pa.float64(),
    "max_ms": pa.float64(),
    "p10_ms": pa.float64(),
    "p90_ms": pa.float64(),
    "ci_low_ms": pa.float64(),      # within-burst 95% CI of this round's median
    "ci_high_ms": pa.float64(),
    "unstable": pa.bool_(),
    "load_ms": pa.float64(),
    "first_ms": pa.float64(),
    "peak_rss_mb": pa.float64(),
    "wall_s": pa.float64(),         # host seconds for this job in its batch (load, warm-up, samples)
    "started_at": pa.timestamp("us", tz="UTC"),
}

#: Names a sweep parameter may not take (they would shadow a result column).
RESERVED = frozenset(ALL_FIXED) | frozenset(ROUND_COLUMNS)


def arrow_schema(param_types: dict[str, pa.DataType]) -> pa.Schema:
    """Schema of one run's parquet: fixed columns then the run's parameter columns."""
    clash = RESERVED.intersection(param_types)
    if clash:
        raise ResultsError(f"sweep parameter names clash with result columns: {', '.join(sorted(clash))}")
    return pa.schema([pa.field(k, v) for k, v in ALL_FIXED.items()] +
                     [pa.field(k, v) for k, v in sorted(param_types.items())])


def param_arrow_type(values: list[Any]) -> pa.DataType:
    """Arrow type for one parameter column from its non-null values."""
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {bool}:
        return pa.bool_()
    if kinds <= {int}:
        return pa.int64()
    if kinds <= {int, float}:
        return pa.float64()
    return pa.string()


def check_version(version: Any, source: str) -> int:
    """Refuse files from a newer schema; return the version of an acceptable one."""
    try:
        v = int(version)
    except (TypeError, ValueError):
        raise ResultsError(f"{source}: schema_version {version!r} is not an integer") from None
    if v > SCHEMA_VERSION:
        raise ResultsError(
            f"{source}: written by schema_version {v}, this hwbehave reads up to {SCHEMA_VERSION}; "
            "upgrade hwbehave to read it")
    return v


def round_schema() -> pa.Schema:
    """Schema of ``rounds.parquet``."""
    return pa.schema([pa.field(k, v) for k, v in ROUND_COLUMNS.items()])


def migrate(df: Any, version: int) -> Any:
    """Bring a measurements DataFrame written by an older schema up to :data:`SCHEMA_VERSION`.

    The migrations live in :data:`suite.results.aggregate.MIGRATIONS` (version N → N+1).
    """
    from suite.results.aggregate import MIGRATIONS

    while version < SCHEMA_VERSION:
        df = MIGRATIONS[version](df)
        version += 1
    df["schema_version"] = SCHEMA_VERSION
    return df
