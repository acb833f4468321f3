"""Run directories: ``manifest.json`` + ``measurements.parquet`` (+ ``journal.jsonl``).

During a run every measurement is appended to the journal and flushed to disk before
the next point starts, so ``kill -9`` loses at most the point in flight. Finalising
turns the journal into parquet, keeping the newest record of each (job, round). A
rerun into the same directory reads the journal and measures only what is missing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from suite import status as st
from suite.errors import ResultsError
from suite.results import damage
from suite.results.records import Measurement
from suite.results.schema import SCHEMA_VERSION, arrow_schema, check_version, param_arrow_type

MANIFEST = "manifest.json"
MEASUREMENTS = "measurements.parquet"
JOURNAL = "journal.jsonl"

#: Manifest fields that must match for a rerun to resume into an existing directory.
RESUME_KEYS = ("sweep_sha256", "device_name", "protocol", "seed", "repeat")


def utc_now() -> str:
    """Now, UTC, ISO 8601 with microseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass
class JournalRead:
    """What a journal holds: newest measurement per key, and lines that were unreadable."""

    measurements: dict[tuple[str, int], Measurement] = field(default_factory=dict)
    bad_lines: list[tuple[int, str]] = field(default_factory=list)


def read_journal(path: Path) -> JournalRead:
    """Parse a journal; a truncated or corrupt line is reported, the rest recovered."""
    out = JournalRead()
    if not path.exists():
        return out
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                damage.check_record(record, Measurement)  # wrong field types are bad lines too
                m = Measurement.from_dict(record)
            except (ValueError, TypeError) as exc:
                out.bad_lines.append((lineno, f"{type(exc).__name__}: {exc}"[:200]))
                continue
            out.measurements[m.key] = m
    return out


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file and rename."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
        os.replace(tmp, path)
    except BaseException:  # a full disk: leave no half-written temporary file behind
        tmp.unlink(missing_ok=True)
        raise


class RunWriter:
    """Owns one run directory while a run writes to it (one writer per directory)."""

    def __init__(self, out_dir: str | Path, manifest: dict[str, Any]) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.manifest_path = self.dir / MANIFEST
        self.journal_path = self.dir / JOURNAL
        existing = self._existing_manifest()
        if existing is not None:
            for key in RESUME_KEYS:
                if existing.get(key) != manifest.get(key):
                    raise ResultsError(
                        f"{self.dir} holds a run that differs in {key} "
                        f"({existing.get(key)!r} there, {manifest.get(key)!r} now); "
                        "use another --out directory to start a new run")
            manifest = {**existing, "resumed_at": [*existing.get("resumed_at", []), utc_now()],
                        "environment": {**existing.get("environment", {}), **manifest.get("environment", {})}}
        self.manifest = manifest
        self.manifest["status"] = "running"
        write_json_atomic(self.manifest_path, self.manifest)
        self.previous = read_journal(self.journal_path)
        self.done_from_parquet = self._previous_parquet()
        self._journal = open(self.journal_path, "a+b")  # noqa: SIM115 - closed in close()
        self._repair_tail()

    # -- resume -----------------------------------------------------------------------
    def _existing_manifest(self) -> dict[str, Any] | None:
        if not self.manifest_path.exists():
            return None
        try:
            data = json.loads(self.manifest_path.read_text())
        except ValueError as exc:
            raise ResultsError(f"{self.manifest_path}: unreadable manifest ({exc})") from None
        problem = damage.manifest_problem(data, self.manifest_path)
        if problem:
            raise ResultsError(problem + "; move it away (the journal keeps the measurements) or use another --out")
        check_version(data.get("schema_version"), str(self.manifest_path))
        return data

    def _previous_parquet(self) -> set[tuple[str, int]]:
        """Keys of a finalised run whose journal is gone: they still count as done."""
        if self.previous.measurements or not (self.dir / MEASUREMENTS).exists():
            return set()
        problem = damage.parquet_problem(self.dir / MEASUREMENTS)
        if problem:  # keep the bytes, measure again what they held
            damage.warn(f"{problem}; set aside as {damage.set_aside(self.dir / MEASUREMENTS).name}")
            return set()
        table = pq.read_table(self.dir / MEASUREMENTS, columns=["job_id", "round", "status"])
        rows = zip(*(table.column(c).to_pylist() for c in ("job_id", "round", "status")))
        return {(j, r) for j, r, s in rows if s not in st.RETRY_ON_RESUME}

    def _repair_tail(self) -> None:
        # a kill -9 can leave a partial last line: start the next record on a new line
        self._journal.seek(0, os.SEEK_END)
        if self._journal.tell() > 0:
            self._journal.seek(-1, os.SEEK_END)
            if self._journal.read(1) != b"\n":
                self._journal.write(b"\n")
                self._journal.flush()

    def done_keys(self) -> set[tuple[str, int]]:
        """Keys already measured (a ``device_lost`` point is measured again)."""
        keys = {k for k, m in self.previous.measurements.items() if m.status not in st.RETRY_ON_RESUME}
        return keys | self.done_from_parquet

    # -- writing ----------------------------------------------------------------------
    def append(self, m: Measurement) -> None:
        """Append one measurement and force it to disk before returning."""
        self._journal.write((m.to_json() + "\n").encode())
        self._journal.flush()
        os.fsync(self._journal.fileno())

    def update_manifest(self, **fields: Any) -> None:
        self.manifest.update(fields)
        write_json_atomic(self.manifest_path, self.manifest)

    def finalize(self, status: str = "complete") -> dict[str, Any]:
        """Write ``measurements.parquet`` from the journal and close the manifest."""
        self._journal.flush()
        journal = read_journal(self.journal_path)
        rows = list(journal.measurements.values())
        if not rows and (self.dir / MEASUREMENTS).exists():
            counts = self.manifest.get("counts", {})
        else:
            write_parquet(self.dir / MEASUREMENTS, rows)
            counts = {}
            for m in rows:
                counts[m.status] = counts.get(m.status, 0) + 1
        self.update_manifest(status=status, finished_at=utc_now(), counts=counts,
                             journal_bad_lines=[f"line {n}: {e}" for n, e in journal.bad_lines])
        return self.manifest

    def close(self) -> None:
        self._journal.close()


def measurements_table(rows: list[Measurement]) -> pa.Table:
    """Measurements as an Arrow table with the contract schema (params as typed columns)."""
    rows = sorted(rows, key=lambda m: (m.round, m.order, m.job_id))
    flat = [m.to_row() for m in rows]
    names: dict[str, list[Any]] = {}
    for m in rows:
        for k, v in m.params.items():
            names.setdefault(k, []).append(v)
    types = {k: param_arrow_type(v) for k, v in names.items()}
    for m, row in zip(rows, flat):
        for k, t in types.items():
            v = m.params.get(k)
            if v is not None and t == pa.string() and not isinstance(v, str):
                v = str(v)
            row[k] = v
    schema = arrow_schema(types)
    for row in flat:
        row["started_at"] = datetime.fromisoformat(row["started_at"])
    table = pa.Table.from_pylist(flat, schema=schema)
    meta = {b"hwbehave_schema_version": str(SCHEMA_VERSION).encode()}
    return table.replace_schema_metadata(meta)


def write_parquet(path: Path, rows: list[Measurement]) -> None:
    """Write measurements with the contract schema, atomically."""
    table = measurements_table(rows)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:  # a full disk: the journal still holds every row; drop the partial file
        tmp.unlink(missing_ok=True)
        raise


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The manifest of a run directory (schema version checked)."""
    path = Path(run_dir) / MANIFEST
    try:
        data = json.loads(path.read_text())
    except OSError:
        raise ResultsError(f"{run_dir}: not a run directory (no {MANIFEST})") from None
    except ValueError as exc:
        raise ResultsError(f"{path}: unreadable manifest ({exc})") from None
    problem = damage.manifest_problem(data, path)
    if problem:
        raise ResultsError(problem)
    check_version(data.get("schema_version"), str(path))
    return data
