"""Edge TPU builder: the point's full-integer TFLite model, then ``edgetpu_compiler``.

The first step is the ``litert`` backend's :class:`~suite.backends.litert.builder.TfliteBuilder`
(always full-integer int8: the Edge TPU has no float path); the second runs the compiler
(:mod:`.compiler`) and keeps its placement in ``metadata['edgetpu']``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from suite import status as st
from suite.backends.edgetpu.backend import BACKEND
from suite.backends.edgetpu.compiler import COMPILER_INSTALL_HINT, ToolchainMissing, compiler_from
from suite.backends.litert.builder import TfliteBuilder
from suite.backends.toolchain import ToolchainCheck, ToolchainSettings, resolve_settings
from suite.models.artifact import Artifact
from suite.models.builder import BuildJob, CachedBuilder, Made
from suite.models.cache import ArtifactCache, cache_key
from suite.sweep.point import Point

#: Bump when compiled files change for the same input model (2: keyed on the TFLite step's key).
BUILDER_VERSION = 2


class EdgeTpuBuilder(CachedBuilder):
    """Builds Edge TPU models: the point's full-integer TFLite model, then ``edgetpu_compiler``.

    Only int8 points compile (the Edge TPU has no float path): fp32/fp16 points are
    ``unsupported``. Settings (``toolchain.edgetpu`` of the device, or ``toolchains.yaml``):
    ``executable`` (compiler path, default ``edgetpu_compiler`` on ``PATH``), ``timeout_s``
    (default 180), ``args`` (extra compiler arguments); ``toolchain.tflite`` applies to the
    first step, except that int8 is always full-integer.
    An op the compiler leaves on the CPU keeps the artifact ``ok`` (it runs) with the
    placement in ``metadata['edgetpu']``; the LiteRT adapter reports the run as ``fallback``.
    """

    format = BACKEND.format
    toolchain = BACKEND.toolchain or ""
    component = "edgetpu-compiler"
    filename = "model_edgetpu.tflite"
    chunk = TfliteBuilder.chunk
    defaults: dict[str, Any] = {"args": []}

    def __init__(self, cache: ArtifactCache | None = None, device: Any = None, workers: int | None = None,
                 settings: ToolchainSettings | None = None) -> None:
        super().__init__(cache=cache, device=device)
        self.settings = settings or resolve_settings(self.toolchain, self.defaults, device=device)
        self.tflite = TfliteBuilder(cache=self.cache, device=device, workers=workers)
        self.tflite.int8 = "full"  # the compiler takes only full-integer models
        self.compiler = compiler_from(self.settings)
        self._compiler_version: str | None = None

    @classmethod
    def check(cls, settings: ToolchainSettings | None = None) -> ToolchainCheck:
        """Usable when the compiler runs here (the TFLite step needs TensorFlow too)."""
        compiler = compiler_from(settings or resolve_settings(cls.toolchain, cls.defaults))
        if not compiler.available():
            return ToolchainCheck("edgetpu", False, detail=f"{compiler.path!r} not found", fix=COMPILER_INSTALL_HINT)
        return ToolchainCheck("edgetpu", True, version=compiler.version(), interpreter=compiler.executable(),
                              detail="full-int8 TFLite → edgetpu_compiler (placement parsed from its log)")

    def refuse(self, point: Point) -> str | None:
        """Float points, and every point when the compiler is missing (said before any TFLite step)."""
        if point.dtype != "int8":
            return f"dtype {point.dtype} is not supported: the Edge TPU runs only full-integer int8 models"
        if not self.compiler.available():
            return f"{self.compiler.path!r} not found; {COMPILER_INSTALL_HINT}"
        return None

    def key(self, point: Point, work: Path | None = None) -> str:
        """The TFLite step's key, the compiler version and its arguments."""
        if self._compiler_version is None:
            self._compiler_version = (self.compiler.version() if self.compiler.available() else None) or "unknown"
        return cache_key({"tflite": self.tflite.key(point), "format": self.format, "builder": BUILDER_VERSION,
                          "compiler": self._compiler_version, "args": self.compiler.extra_args})

    def make_many(self, jobs: list[BuildJob]) -> dict[str, Artifact]:
        """TFLite conversion of every miss in parallel, then compilation one by one."""
        bases = self.tflite.build_many([job.point for job in jobs])
        out = {}
        for job, base in zip(jobs, bases, strict=True):
            if not base.ok:  # the TFLite step's failure, as this format's
                out[job.point.id] = Artifact(**{**base.__dict__, "format": self.format})
                continue
            job.work.mkdir(parents=True, exist_ok=True)
            out[job.point.id] = self.guarded(job.point, job.start,
                                             lambda job=job, base=base: self.finish(job, self.compiled(job, base)))
        return out

    def compile(self, point: Point, base: Artifact) -> Artifact:
        """Compile one full-integer TFLite artifact of ``point`` (through the cache)."""
        key = self.key(point)
        hit = self.cache.lookup(key)
        if hit is not None:
            return self.hit(hit)
        with tempfile.TemporaryDirectory(prefix="hwbehave-edgetpu-") as tmp:
            job = BuildJob(point, key, Path(tmp), time.perf_counter())
            return self.guarded(point, job.start, lambda: self.finish(job, self.compiled(job, base)))

    def compiled(self, job: BuildJob, base: Artifact) -> Made | Artifact:
        """Run the compiler on ``base`` in the job's work folder."""
        point = job.point
        src = job.work / "model.tflite"
        shutil.copyfile(str(base.path), src)
        try:
            report, compiled, log = self.compiler.compile(src, job.work)
        except ToolchainMissing as exc:
            return self.fail(point, st.UNSUPPORTED, str(exc), start=job.start)
        status, error = report.placement_status()
        meta = {"tflite": base.metadata, "tflite_sha256": base.sha256, "edgetpu": report.to_dict()}
        if status == st.UNSUPPORTED or compiled is None:
            return self.fail(point, st.UNSUPPORTED, error or "no output model", log=log[-4000:], start=job.start,
                             metadata=meta)
        return Made(path=compiled, metadata=meta, log=log[-4000:])

    def close(self) -> None:
        """Stop the TFLite step's worker pool."""
        self.tflite.close()
