"""Run directories: ``manifest.json`` + ``measurements.parquet`` + ``rounds.parquet`` (+ ``journal.jsonl``).

During a run every measurement (one job in one round) is written to the journal and flushed
to the kernel before the next result is read, so ``kill -9`` loses at most the job in flight;
a background thread (:class:`JournalSync`) fsyncs it right after, so a power cut or kernel crash
loses at most the measurements of the last few milliseconds (one fsync, 2-7 ms on this disk,
which the host no longer waits for between two results). Finalising
merges what the run's parquet files already hold with the journal (newest record per key
wins; :mod:`suite.results.aggregate`) and never writes fewer measurements than it read, so a
lost journal loses nothing that was finalised before. A rerun into the same directory
measures only what is missing. One process writes a run directory at a time: the writer
holds ``run.lock`` (:class:`suite.locks.RunDirLock`) from open to close.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from suite import status as st
from suite.errors import ResultsError
from suite.locks import RunDirLock
from suite.results import damage
from suite.results.aggregate import RunData, RunTables, build
from suite.results.records import Measurement
from suite.results.schema import SCHEMA_VERSION, check_version

MANIFEST = "manifest.json"
MEASUREMENTS = "measurements.parquet"
ROUNDS = "rounds.parquet"
JOURNAL = "journal.jsonl"

#: Manifest fields that must match for a rerun to resume into an existing directory.
RESUME_KEYS = ("sweep_sha256", "device_name", "protocol", "seed", "rounds", "sentinel_every", "adaptive")


def utc_now() -> str:
    """Now, UTC, ISO 8601 with microseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass
class JournalRead:
    """What a journal holds: newest measurement per key, and lines that were unreadable."""

    measurements: dict[tuple[str, int, str, int], Measurement] = field(default_factory=dict)
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


def read_run_files(run_dir: Path) -> RunData:
    """What a run directory's parquet files hold (empty if it was never finalised)."""
    meas, rounds = run_dir / MEASUREMENTS, run_dir / ROUNDS
    if not meas.exists():
        return RunData()
    try:
        m_table = pq.read_table(meas)
        r_table = pq.read_table(rounds) if rounds.exists() else None
    except (OSError, pa.ArrowException) as exc:
        raise ResultsError(f"{run_dir}: unreadable results file ({exc})") from None
    version = parquet_version(m_table)
    if version < 2:
        raise ResultsError(f"{meas}: written by schema_version {version}; it is read (migrated) for analysis, "
                           "but a run is only continued by the version that started it; use another --out")
    return RunData.from_tables(m_table, r_table)


def parquet_version(table: pa.Table) -> int:
    """The schema version a measurements table was written with."""
    meta = table.schema.metadata or {}
    raw = meta.get(b"hwbehave_schema_version")
    if raw is None and "schema_version" in table.column_names and table.num_rows:
        raw = table.column("schema_version")[0].as_py()
    return check_version(raw.decode() if isinstance(raw, bytes) else (raw if raw is not None else 1),
                         "measurements.parquet")


def parquet_file_version(path: Path) -> int:
    """The schema version of a measurements parquet file (from its metadata, else its column)."""
    try:
        meta = pq.read_schema(path).metadata or {}
        if b"hwbehave_schema_version" in meta:
            return check_version(meta[b"hwbehave_schema_version"].decode(), str(path))
        return parquet_version(pq.read_table(path, columns=["schema_version"]))
    except (OSError, pa.ArrowException) as exc:
        raise ResultsError(f"{path}: unreadable results file ({exc})") from None


#: What :meth:`JournalSync.close` puts on the queue to end the thread.
_STOP = object()


class JournalSync:
    """fsyncs a file in a background thread after it was written, so the writer does not wait.

    :meth:`written` (after a write that was flushed) returns at once; the requests that queue
    while one fsync runs are covered by the next. :meth:`close` waits for the last one. An fsync
    error ends the thread and is raised by every later :meth:`written`, and by :meth:`close` if
    no :meth:`written` raised it yet. The writer's side takes no lock (a ``SimpleQueue`` put), so
    a signal arriving there (Ctrl-C) cannot leave the thread waiting on a lock forever.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._requests: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._error: OSError | None = None
        self._raised = False
        self._thread = threading.Thread(target=self._run, name="hwbehave-journal-fsync", daemon=True)
        self._thread.start()

    def written(self) -> None:
        """Ask for an fsync of what was written so far (raises an earlier fsync's error)."""
        if self._error is not None:
            self._raised = True
            raise self._error
        self._requests.put(True)

    def close(self) -> None:
        """fsync what is left, stop the thread, raise its error if it had one."""
        self._requests.put(_STOP)
        self._thread.join()
        if self._error is not None and not self._raised:
            self._raised = True
            raise self._error

    def _run(self) -> None:
        while True:
            stop = self._requests.get() is _STOP
            while not self._requests.empty():  # one fsync covers every write asked for before it starts
                stop = self._requests.get() is _STOP or stop
            try:
                os.fsync(self.fd)
            except OSError as exc:
                self._error = exc
                return
            if stop:
                return


class RunWriter:
    """Owns one run directory while a run writes to it (one writer per directory: ``run.lock``).

    Raises :class:`suite.locks.RunDirBusy` when another process holds the directory.
    """

    def __init__(self, out_dir: str | Path, manifest: dict[str, Any]) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lock = RunDirLock(self.dir, {"command": "run", "run_id": manifest.get("run_id")})
        self.lock.acquire(wait=False)
        try:
            self._open(manifest)
        except BaseException:
            self.lock.release()
            raise

    def _open(self, manifest: dict[str, Any]) -> None:
        self.manifest_path = self.dir / MANIFEST
        self.journal_path = self.dir / JOURNAL
        existing = self._existing_manifest()
        if existing is not None:
            if int(existing.get("schema_version") or 1) < SCHEMA_VERSION:
                raise ResultsError(f"{self.dir} holds a run written by schema_version {existing.get('schema_version')}"
                                   f" (this hwbehave writes {SCHEMA_VERSION}); it can be read and analysed, not "
                                   "continued: use another --out directory")
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
        self._set_aside_damaged()
        self.from_files = read_run_files(self.dir)
        self.records: dict[tuple[str, int, str, int], Measurement] = dict(self.previous.measurements)
        self._journal = open(self.journal_path, "a+b")  # noqa: SIM115 - closed in close()
        self._repair_tail()
        self._sync = JournalSync(self._journal.fileno())

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

    def _set_aside_damaged(self) -> None:
        """A parquet file that does not read is renamed beside itself (no byte destroyed); what it held
        is measured again unless the journal has it."""
        for name in (MEASUREMENTS, ROUNDS):
            path = self.dir / name
            problem = damage.parquet_problem(path) if path.exists() else None
            if problem:
                damage.warn(f"{problem}; set aside as {damage.set_aside(path).name}")

    def _repair_tail(self) -> None:
        # a kill -9 can leave a partial last line: start the next record on a new line
        self._journal.seek(0, os.SEEK_END)
        if self._journal.tell() > 0:
            self._journal.seek(-1, os.SEEK_END)
            if self._journal.read(1) != b"\n":
                self._journal.write(b"\n")
                self._journal.flush()

    def done_keys(self) -> set[tuple[str, int, str, int]]:
        """Keys already measured, from the journal and the parquet files (a ``device_lost`` one
        is measured again)."""
        keys = {k for k, m in self.records.items() if m.status not in st.RETRY_ON_RESUME}
        keys |= {k for k, rd in self.from_files.rounds.items() if rd.row.get("status") not in st.RETRY_ON_RESUME
                 and k not in self.records}
        return keys

    # -- writing ----------------------------------------------------------------------
    def append(self, m: Measurement) -> None:
        """Append one measurement: in the kernel when this returns (a ``kill -9`` of this process
        cannot lose it), on disk one background fsync later."""
        self._journal.write((m.to_json() + "\n").encode())
        self._journal.flush()
        self._sync.written()
        self.records[m.key] = m

    def update_manifest(self, **fields: Any) -> None:
        """Set manifest fields and rewrite it atomically."""
        self.manifest.update(fields)
        write_json_atomic(self.manifest_path, self.manifest)

    def data(self) -> RunData:
        """Everything this run holds now: the parquet files it started from, then the journal."""
        return self.from_files.merge(RunData.from_records(self.records.values()))

    def tables(self) -> RunTables:
        """The run's tables as they stand (nothing written)."""
        return build(self.data(), self.manifest.get("rounds"))

    def finalize(self, status: str = "complete") -> dict[str, Any]:
        """Write ``rounds.parquet`` and ``measurements.parquet`` from files + journal; close the manifest.

        Refuses (``ResultsError``, files untouched) to write fewer jobs or rounds than the
        directory's parquet files held.
        """
        self._journal.flush()
        data = self.data()
        had_jobs, had_rounds = len(self.from_files.jobs), len(self.from_files.rounds)
        if data.rounds:
            tables = build(data, self.manifest.get("rounds"))
            if tables.measurements.num_rows < had_jobs or tables.rounds.num_rows < had_rounds:
                raise ResultsError(f"{self.dir}: finalising would write {tables.measurements.num_rows} jobs and "
                                   f"{tables.rounds.num_rows} rounds where the files held {had_jobs} and "
                                   f"{had_rounds}; nothing was written")
            write_parquet(self.dir / ROUNDS, tables.rounds)
            write_parquet(self.dir / MEASUREMENTS, tables.measurements)
            counts = tables.counts
            floor = {**self.manifest.get("noise_floor", {}), **tables.noise_floor}
        else:
            counts = self.manifest.get("counts", {})
            floor = self.manifest.get("noise_floor", {})
        self.update_manifest(status=status, finished_at=utc_now(), counts=counts, noise_floor=floor,
                             journal_bad_lines=[f"line {n}: {e}" for n, e in self.previous.bad_lines])
        return self.manifest

    def close(self) -> None:
        """fsync and close the journal, release the run directory."""
        try:
            try:
                self._sync.close()
            finally:
                self._journal.close()
        finally:
            self.lock.release()


def measurements_table(rows: list[Measurement], rounds_planned: int | None = None) -> pa.Table:
    """Journal records as the measurements table of the contract (one row per job)."""
    return build(RunData.from_records(rows), rounds_planned).measurements


def write_parquet(path: Path, table: pa.Table) -> None:
    """Write a table atomically (temporary file, fsync, rename)."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
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
