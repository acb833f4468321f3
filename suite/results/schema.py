"""The public results contract (docs/architecture.md §7): column names, types, version, migrations.

``measurements.parquet`` holds :data:`CONTRACT_COLUMNS` (documented, stable), then
:data:`EXTRA_COLUMNS` (documented, may grow), then one column per op parameter
(null where a point's op lacks that parameter).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from suite.errors import ResultsError

#: Version of the run-directory format. Newer files are refused; older ones migrate.
SCHEMA_VERSION = 1

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
    "round": pa.int32(),            # repeat round (0-based), each round re-shuffled
    "order": pa.int64(),            # position in the shuffled execution order
    "max_ms": pa.float64(),
    "unstable": pa.bool_(),         # pyperf's rule, see suite.results.statistics
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

#: Names a sweep parameter may not take (they would shadow a contract column).
RESERVED = frozenset(ALL_FIXED)


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


#: Migrations from version N to N+1, applied to a pandas DataFrame in order.
MIGRATIONS: dict[int, Any] = {}


def migrate(df: Any, version: int) -> Any:
    """Bring a DataFrame written by an older schema up to :data:`SCHEMA_VERSION`."""
    while version < SCHEMA_VERSION:
        df = MIGRATIONS[version](df)
        version += 1
    df["schema_version"] = SCHEMA_VERSION
    return df
