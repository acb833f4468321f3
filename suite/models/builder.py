"""The one cache-and-failure path every builder shares (build stage, docs/architecture.md §1).

A builder turns points into artifacts of one format. :class:`CachedBuilder` does what
all of them must do the same way, so each builder writes only what differs:

1. **refuse** a point it cannot build (a dtype the target lacks): ``unsupported``, nothing run;
2. **key** the point: a content hash of everything the file depends on (it may first write
   an input, e.g. the source ONNX, into the point's work folder and hash it: the folder is
   created on demand, so a cache hit costs no file system work);
3. **look up** the key in the :class:`~suite.models.cache.ArtifactCache`: a hit is returned
   with ``metadata['cache'] == 'hit'``;
4. **make** the misses (:meth:`CachedBuilder.make_many`: one by one by default; a builder
   with a process pool converts them in parallel), each into its own work folder;
5. **store** what was made in the cache (``metadata['cache'] == 'miss'``).

Any exception of one point in steps 2 and 4 becomes a ``build_error`` artifact whose error
text starts with the builder's ``component`` name; a :class:`~suite.errors.ConfigError`
(bad settings) still stops the run. A builder never touches a device.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from suite import status as st
from suite.errors import ConfigError
from suite.models.artifact import Artifact
from suite.models.cache import ArtifactCache, file_sha256
from suite.sweep.point import Point

#: How much of a build log an artifact keeps.
LOG_TAIL_CHARS = 20000
#: How much of an error text an artifact keeps.
ERROR_CHARS = 4000


@dataclass(frozen=True)
class Made:
    """What a builder made for one point: the file (in the point's work folder), facts, log.

    ``build_s`` is the time spent in the converter itself when the builder knows it (a
    pool's queueing and imports excluded); else the wall time since the point started.
    ``files`` are further files kept beside the artifact in its cache entry, by name (a
    compiler's reports that a runtime reads: Vela's estimate CSVs).
    """

    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    log: str = ""
    build_s: float | None = None
    files: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class BuildJob:
    """One cache miss to make: the point, its cache key, its work folder and start time."""

    point: Point
    key: str
    work: Path
    start: float


class CachedBuilder:
    """Base of every builder: the shared cache lookup, store and failure handling.

    Subclasses set ``format``, ``component`` (prefix of error texts) and ``filename`` (the
    artifact's name inside its cache entry), and implement :meth:`key` and :meth:`make`
    (or :meth:`make_many`); :meth:`refuse` is optional.
    """

    format: ClassVar[str] = ""
    component: ClassVar[str] = ""
    filename: ClassVar[str] = ""
    #: Points the pipeline hands :meth:`build_many` at once (a pool builder converts them in parallel).
    chunk: ClassVar[int] = 1

    def __init__(self, cache: ArtifactCache | None = None, device: Any = None) -> None:
        self.cache = cache or ArtifactCache()
        self.device = device

    # -- to override -----------------------------------------------------------------------
    def refuse(self, point: Point) -> str | None:
        """A reason this point cannot be built at all (→ ``unsupported``), or ``None``."""
        return None

    def key(self, point: Point, work: Path) -> str | Artifact:
        """The cache key of ``point``, or a failed artifact.

        ``work`` (the point's work folder) does not exist yet: a key that needs a file
        written first creates it (``work.mkdir(parents=True, exist_ok=True)``).
        """
        raise NotImplementedError

    def make(self, point: Point, work: Path) -> Made | Artifact:
        """Make the artifact of one cache miss in ``work``; a failure is an ``Artifact``."""
        raise NotImplementedError

    def make_many(self, jobs: list[BuildJob]) -> dict[str, Artifact]:
        """Artifacts of the cache misses by point id (default: :meth:`make` one by one)."""
        return {job.point.id: self.make_one(job) for job in jobs}

    def close(self) -> None:
        """Release what the builder holds (process pools, helper builders)."""

    # -- the shared path ---------------------------------------------------------------------
    def build(self, point: Point) -> Artifact:
        """Build (or fetch) the artifact of one point: ``build_many([point])[0]``."""
        return self.build_many([point])[0]

    def build_many(self, points: list[Point]) -> list[Artifact]:
        """Artifacts of ``points`` in order; a point listed twice is built once.

        Failures are artifacts with a status (``unsupported``, ``build_error``, ``timeout``),
        never exceptions (a ``ConfigError`` excepted).
        """
        results: dict[str, Artifact] = {}
        todo: list[BuildJob] = []
        queued: set[str] = set()
        # named, not made: folders appear only when a builder writes (see ``key``)
        batch = Path(tempfile.gettempdir()) / f"hwbehave-{self.format}-{uuid.uuid4().hex[:12]}"
        try:
            for point in points:
                if point.id in results or point.id in queued:
                    continue
                start = time.perf_counter()
                reason = self.refuse(point)
                if reason:
                    results[point.id] = self.fail(point, st.UNSUPPORTED, reason, start=start)
                    continue
                work = batch / point.id
                key = self.guarded(point, start, lambda point=point, work=work: self.key(point, work))
                if isinstance(key, Artifact):
                    results[point.id] = key
                    continue
                hit = self.cache.lookup(key)
                if hit is not None:
                    results[point.id] = self.hit(hit)
                else:
                    todo.append(BuildJob(point, key, work, start))
                    queued.add(point.id)
            if todo:
                results.update(self.make_many(todo))
        finally:
            shutil.rmtree(batch, ignore_errors=True)
        return [results[p.id] for p in points]

    def make_one(self, job: BuildJob) -> Artifact:
        """:meth:`make` one miss in its (now created) work folder and store it, failures as data."""
        job.work.mkdir(parents=True, exist_ok=True)
        return self.guarded(job.point, job.start, lambda: self.finish(job, self.make(job.point, job.work)))

    def guarded(self, point: Point, start: float, step: Any) -> Any:
        """Run ``step()``; an exception becomes a ``build_error`` artifact of ``point``."""
        try:
            return step()
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - boundary: a point that fails to build is data
            return self.fail(point, st.BUILD_ERROR, f"{type(exc).__name__}: {exc}", start=start)

    def finish(self, job: BuildJob, made: Made | Artifact) -> Artifact:
        """Store what :meth:`make` returned (a failure passes through)."""
        if isinstance(made, Artifact):
            return made if made.build_s is not None else replace(made, build_s=time.perf_counter() - job.start)
        return self.store(job, made)

    def store(self, job: BuildJob, made: Made) -> Artifact:
        """Put ``made`` into the cache under ``job.key``; the artifact says ``cache: miss``."""
        point = job.point
        record = {"point_id": point.id, "format": self.format, "dtype": point.dtype, "status": st.OK,
                  "sha256": file_sha256(made.path), "size_bytes": made.path.stat().st_size,
                  "build_s": made.build_s if made.build_s is not None else time.perf_counter() - job.start,
                  "error": None, "log": made.log[-LOG_TAIL_CHARS:], "metadata": made.metadata}
        stored = self.cache.store(job.key, {self.filename: made.path, **made.files}, record)
        return Artifact(**{**stored, "metadata": {**stored["metadata"], "cache": "miss"}})

    @staticmethod
    def hit(record: dict[str, Any]) -> Artifact:
        """The artifact of a cache record (``cache: hit``)."""
        return Artifact(**{**record, "metadata": {**record.get("metadata", {}), "cache": "hit"}})

    def fail(self, point: Point, status: str, error: str, *, log: str = "", start: float | None = None,
             metadata: dict[str, Any] | None = None, build_s: float | None = None) -> Artifact:
        """A failed artifact of ``point``; the error text is prefixed with ``component``."""
        prefix = f"{self.component}: "
        if build_s is None and start is not None:
            build_s = time.perf_counter() - start
        return Artifact(point_id=point.id, format=self.format, dtype=point.dtype, status=status,
                        error=(error if error.startswith(prefix) else prefix + error)[:ERROR_CHARS],
                        log=log[-LOG_TAIL_CHARS:], build_s=build_s, metadata=metadata or {})

    def __enter__(self) -> CachedBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def passed_on(builder: CachedBuilder, point: Point, source: Artifact, what: str | None = None) -> Artifact:
    """A failed source artifact (e.g. the ONNX a converter starts from) as ``builder``'s failure.

    Same status and log; the error says which step failed (``"<component>: source onnx failed: ..."``).
    """
    return builder.fail(point, source.status, f"{what or 'source ' + source.format} failed: {source.error}",
                        log=source.log)
