"""Read runs for analysis: DuckDB views over any number of run directories, or pandas.

``open(paths)`` returns a DuckDB connection with three views:

* ``measurements`` — every row of every run's ``measurements.parquet`` (one per job;
  columns unioned by name, so runs of different sweeps combine); a run still in progress
  contributes its parquet files merged with its journal; a schema-1 run is migrated;
* ``rounds`` — every run's ``rounds.parquet`` (one row per job and round, sentinel included);
* ``runs`` — one row per run from its manifest (run_id, sweep, device, device_class,
  status, created_at, suite_version, git_commit, seed, rounds, noise_floor_rel, manifest_json).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from suite.errors import ResultsError
from suite.results import damage
from suite.results.aggregate import RunData, build, v1_round_table
from suite.results.schema import SCHEMA_VERSION, check_version, migrate
from suite.results.store import (
    JOURNAL,
    MANIFEST,
    MEASUREMENTS,
    ROUNDS,
    parquet_file_version,
    read_journal,
    read_manifest,
)


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories under ``paths`` (each path is a run directory or a folder of them)."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if (p / MANIFEST).exists():
            found.append(p)
            continue
        if not p.exists():
            raise ResultsError(f"{p}: no such file or directory")
        subs = sorted(m.parent for m in p.rglob(MANIFEST))
        if not subs:
            raise ResultsError(f"{p}: no run directories (no {MANIFEST} found)")
        found.extend(subs)
    unique: dict[Path, None] = {}
    for r in found:
        unique.setdefault(r.resolve(), None)
    return list(unique)


def _run_sources(run: Path) -> tuple[Path | pa.Table | None, Path | pa.Table | None]:
    """A run's measurements and rounds: its parquet files, or (in progress, or schema 1) tables."""
    journal = run / JOURNAL
    final, rounds = run / MEASUREMENTS, run / ROUNDS
    problems = {p: damage.parquet_problem(p) for p in (final, rounds) if p.exists()}
    for p, problem in problems.items():
        if problem:
            damage.warn(problem + ("; using its journal" if journal.exists() else "; rebuilt from what else reads"
                                   if p == rounds else "; its rows are left out"))
    usable = final.exists() and not problems.get(final)
    rounds_ok = usable and rounds.exists() and not problems.get(rounds)
    if usable:
        version = parquet_file_version(final)
        if version < 2:  # schema 1: its rows were rounds
            df = pq.read_table(final).to_pandas()
            return pa.Table.from_pandas(migrate(df, version), preserve_index=False), v1_round_table(df)
        if (not journal.exists() or final.stat().st_mtime >= journal.stat().st_mtime) and rounds_ok:
            return final, rounds
    files = RunData.from_tables(pq.read_table(final) if usable else None,
                                pq.read_table(rounds) if rounds_ok else None)
    data = files.merge(RunData.from_records(read_journal(journal).measurements.values()))
    if not data.rounds:
        return None, None
    tables = build(data, read_manifest(run).get("rounds"))
    return tables.measurements, tables.rounds


def _readable(runs: list[Path]) -> list[Path]:
    """The runs whose manifest reads; the others are left out with a warning (a newer schema still refuses)."""
    out = []
    for r in runs:
        path = r / MANIFEST
        try:
            problem = damage.manifest_problem(json.loads(path.read_text()), path)
        except (OSError, ValueError) as exc:
            problem = f"{path}: unreadable manifest ({exc})"
        if problem:
            damage.warn(f"{problem}; run left out")
            continue
        out.append(r)
    if runs and not out:
        raise ResultsError("no readable run: " + ", ".join(map(str, runs)))
    return out


def _runs_table(runs: list[Path]) -> pa.Table:
    records = []
    for r in runs:
        m = read_manifest(r)
        records.append({
            "run_id": m.get("run_id"), "run_dir": str(r), "sweep": m.get("sweep", {}).get("name"),
            "device": m.get("device_name"), "device_class": m.get("device", {}).get("class"),
            "status": m.get("status"), "created_at": m.get("created_at"), "finished_at": m.get("finished_at"),
            "suite_version": m.get("suite_version"), "git_commit": m.get("git_commit"), "seed": m.get("seed"),
            "schema_version": m.get("schema_version"), "rounds": m.get("rounds", m.get("repeat")),
            "noise_floor_rel": (m.get("noise_floor") or {}).get("rel"),
            "manifest_json": json.dumps(m, sort_keys=True),
        })
    return pa.Table.from_pylist(records)


def open(paths: Iterable[str | Path] | str | Path) -> duckdb.DuckDBPyConnection:  # noqa: A001
    """A DuckDB connection with ``runs``, ``measurements`` and ``rounds`` views over ``paths``."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    runs = _readable(find_runs(paths))
    con = duckdb.connect()
    views: dict[str, tuple[list[str], list[str]]] = {"measurements": ([], []), "rounds": ([], [])}
    for r in runs:
        for view, source in zip(views, _run_sources(r)):
            files, parts = views[view]
            if isinstance(source, pa.Table):  # in progress or migrated: in memory
                name = f"_{view}_{len(parts)}"
                con.register(name, source)
                parts.append(f"SELECT * FROM {name}")
            elif source is not None:
                files.append(str(source))
    con.register("_runs_arrow", _runs_table(runs))
    con.execute("CREATE VIEW runs AS SELECT * FROM _runs_arrow")
    for view, (files, parts) in views.items():
        if files:
            listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            parts.insert(0, f"SELECT * FROM read_parquet([{listing}], union_by_name=true)")
        body = " UNION ALL BY NAME ".join(parts) or "SELECT NULL::VARCHAR AS run_id WHERE false"
        con.execute(f"CREATE VIEW {view} AS {body}")
    return con


def load(paths: Iterable[str | Path] | str | Path, where: str | None = None) -> pd.DataFrame:
    """All measurements of ``paths`` as a pandas DataFrame (migrated to the current schema)."""
    con = open(paths)
    query = "SELECT * FROM measurements" + (f" WHERE {where}" if where else "")
    df = con.sql(query).df()
    if "schema_version" in df.columns and len(df):
        versions = {int(v) for v in df["schema_version"].dropna().unique()}
        for v in versions:
            check_version(v, "measurements")
        if versions and min(versions) < SCHEMA_VERSION:
            df = migrate(df, min(versions))
    return df


def load_rounds(paths: Iterable[str | Path] | str | Path, where: str | None = None) -> pd.DataFrame:
    """Every measured (job, round) of ``paths`` (``rounds.parquet``; the sentinel's rows included)."""
    con = open(paths)
    return con.sql("SELECT * FROM rounds" + (f" WHERE {where}" if where else "")).df()


def manifests(paths: Iterable[str | Path] | str | Path) -> list[dict[str, Any]]:
    """Manifests of every run under ``paths``."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return [read_manifest(r) for r in _readable(find_runs(paths))]
