"""Ethos-U builder: the point's TFLite model from the ``litert`` builder, then Vela.

Step one is :class:`~suite.backends.litert.builder.TfliteBuilder` with int8 always
full-integer (int8 weights and activations, int8 input and output: what Vela takes). Step two
runs Vela (:mod:`.vela`) for the device's accelerator, system config and memory mode; up to
``workers`` compilations run at once (each is a subprocess, ~0.5 s, mostly start-up).

The artifact is ``model_vela.tflite``, the file one flashes to a board (the NPU part is one
``ethos-u`` custom op that TFLite Micro or the Linux driver stack hands to the NPU). Beside
it, in the same cache entry, lie Vela's summary CSV, per-layer CSV and console output
(:mod:`.reports`): the estimate runtime (:mod:`.runtime`) reads them, so rounds reuse one
compilation instead of repeating an identical deterministic one.

Placement decides the status (support data, finding F7): every operator on the NPU → ``ok``;
some left on the CPU → ``ok`` here, with the CPU operators and Vela's reasons in
``metadata['vela']['placement']`` (the runtime reports the point as ``fallback``); none on
the NPU → ``unsupported`` with Vela's reasons (fp32 and fp16 models end here: Vela places no
float tensor on the NPU, "Operation has tensor with unsupported DataType Float32"). Vela
failing is ``build_error`` with its exception text; running past ``timeout_s`` is ``timeout``.

Settings: the device's ``toolchain: {vela: ...}`` block (or ``toolchains.yaml``), keys in
:data:`~suite.backends.ethos_u.vela.DEFAULTS`: ``accelerator_config``, ``config``,
``system_config``, ``memory_mode``, ``optimise``, ``args`` (extra ``--flags``), ``workers``,
and where Vela runs (``python``, ``executable``, ``timeout_s``, ``env``).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import shutil
from pathlib import Path
from typing import Any

from suite import status as st
from suite.backends.ethos_u.backend import BACKEND
from suite.backends.ethos_u.reports import (
    COMPONENT,
    LAYERS_FILE,
    LOG_FILE,
    SUMMARY_FILE,
    parse_log,
    parse_per_layer_csv,
    parse_summary_csv,
    placement,
)
from suite.backends.ethos_u.vela import (
    DEFAULTS,
    INSTALL_HINT,
    VelaCompiler,
    VelaOutput,
    accelerator_label,
    config_from,
)
from suite.backends.litert.builder import INSTALL_HINT as TFLITE_HINT
from suite.backends.litert.builder import TfliteBuilder, tensorflow_version
from suite.backends.toolchain import ToolchainCheck, ToolchainSettings, resolve_settings
from suite.models.artifact import Artifact
from suite.models.builder import BuildJob, CachedBuilder, Made
from suite.models.cache import ArtifactCache, cache_key, file_sha256
from suite.sweep.point import Point

#: Bump when compiled files change for the same input model and settings.
BUILDER_VERSION = 1


class EthosUBuilder(CachedBuilder):
    """Builds Ethos-U models: TFLite (full-integer for int8), then Vela. See the module docstring."""

    format = BACKEND.format
    toolchain = BACKEND.toolchain or ""
    component = COMPONENT
    filename = "model_vela.tflite"
    chunk = TfliteBuilder.chunk
    defaults: dict[str, Any] = DEFAULTS

    def __init__(self, cache: ArtifactCache | None = None, device: Any = None, workers: int | None = None,
                 settings: ToolchainSettings | None = None) -> None:
        super().__init__(cache=cache, device=device)
        self.settings = settings or resolve_settings(self.toolchain, self.defaults, device=device)
        self.config = config_from(self.settings)  # bad names: one ConfigError now, not a failure per point
        self.compiler = VelaCompiler(self.config, self.settings)
        self.workers = int(workers or self.settings.options.get("workers") or min(4, os.cpu_count() or 1))
        self.tflite = TfliteBuilder(cache=self.cache, device=device, workers=workers)
        self.tflite.int8 = "full"  # Vela takes only full-integer models
        self._version: str | None = None

    @classmethod
    def check(cls, settings: ToolchainSettings | None = None) -> ToolchainCheck:
        """Usable when Vela runs and TensorFlow (the TFLite step) is installed."""
        settings = settings or resolve_settings(cls.toolchain, cls.defaults)
        try:
            config = config_from(settings)
        except Exception as exc:  # noqa: BLE001 - a check never raises: a bad setting is its answer
            return ToolchainCheck("vela", False, detail=f"bad vela settings: {exc}",
                                  fix="fix the toolchain: {vela: ...} block")
        compiler = VelaCompiler(config, settings)
        version = compiler.version() if compiler.available() else None
        if version is None:
            return ToolchainCheck("vela", False, detail=f"ethos-u-vela cannot run ({compiler.describe()})",
                                  fix=INSTALL_HINT)
        if tensorflow_version() is None:
            return ToolchainCheck("vela", False, version=version, interpreter=compiler.launcher()[0],
                                  detail="TensorFlow (the int8 TFLite step before Vela) is not installed",
                                  fix=TFLITE_HINT)
        return ToolchainCheck("vela", True, version=version, interpreter=compiler.launcher()[0],
                              detail=f"full-int8 TFLite → Vela for {config.accelerator} ({config.system_config}, "
                                     f"{config.memory_mode}): placement per operator and Vela's performance estimate")

    def refuse(self, point: Point) -> str | None:
        """Every point when Vela cannot run here (said before any TFLite step)."""
        if self._vela_version() is None:
            return f"ethos-u-vela cannot run ({self.compiler.describe()}); {INSTALL_HINT}"
        return None

    def _vela_version(self) -> str | None:
        if self._version is None:
            self._version = (self.compiler.version() if self.compiler.available() else None) or ""
        return self._version or None

    def key(self, point: Point, work: Path | None = None) -> str:
        """The TFLite step's key, Vela's version and every setting that reaches its command line."""
        parts: dict[str, Any] = {"tflite": self.tflite.key(point), "format": self.format, "builder": BUILDER_VERSION,
                                 "vela": self._vela_version(), "config": self.config.to_dict()}
        if Path(self.config.config).is_file():  # a user .ini: its content, not its name
            parts["config_sha256"] = file_sha256(Path(self.config.config))
        return cache_key(parts)

    def make_many(self, jobs: list[BuildJob]) -> dict[str, Artifact]:
        """TFLite conversion of every miss (the litert pool), then up to ``workers`` Vela runs at once."""
        bases = self.tflite.build_many([job.point for job in jobs])
        out: dict[str, Artifact] = {}
        todo = []
        for job, base in zip(jobs, bases, strict=True):
            if not base.ok:  # the TFLite step's failure, as this format's
                out[job.point.id] = Artifact(**{**base.__dict__, "format": self.format})
                continue
            job.work.mkdir(parents=True, exist_ok=True)
            todo.append((job, base))
        with cf.ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(todo) or 1))) as pool:
            futures = {pool.submit(self.guarded, job.point, job.start,
                                   lambda job=job, base=base: self.finish(job, self.compiled(job, base))): job
                       for job, base in todo}
            for fut in cf.as_completed(futures):
                out[futures[fut].point.id] = fut.result()
        return out

    def compiled(self, job: BuildJob, base: Artifact) -> Made | Artifact:
        """Run Vela on ``base`` in the job's work folder and read what it wrote."""
        point = job.point
        src = job.work / "model.tflite"
        shutil.copyfile(str(base.path), src)
        result = self.compiler.compile(src, job.work / "vela")
        log_path = job.work / LOG_FILE
        log_path.write_text(result.log)
        meta: dict[str, Any] = {"tflite": base.metadata, "tflite_sha256": base.sha256,
                                "vela": {"version": self._vela_version(), **self.config.to_dict(),
                                         "command": result.command}}
        if result.failure:
            status = st.TIMEOUT if result.returncode is None and "ran past" in result.failure else st.BUILD_ERROR
            return self.fail(point, status, result.failure, log=result.log, start=job.start, metadata=meta)
        try:
            made = self._read(result, base, meta, log_path)
        except ValueError as exc:
            return self.fail(point, st.BUILD_ERROR, f"cannot read Vela's output: {exc}", log=result.log,
                             start=job.start, metadata=meta)
        if isinstance(made, str):
            return self.fail(point, st.UNSUPPORTED, made, log=result.log, start=job.start, metadata=meta)
        return made

    def _read(self, result: VelaOutput, base: Artifact, meta: dict[str, Any], log_path: Path) -> Made | str:
        """The artifact of a finished compilation, or the ``unsupported`` text when nothing is on the NPU."""
        assert result.model is not None and result.summary_csv is not None
        if result.per_layer_csv is None:
            raise ValueError("no per-layer CSV (was --verbose-performance dropped?)")
        network = parse_summary_csv(result.summary_csv.read_text())
        layers = parse_per_layer_csv(result.per_layer_csv.read_text())
        log = parse_log(result.log)
        ops = sum((base.metadata.get("tflite_ops") or {}).values()) or None
        where = placement(layers, log, accelerator=accelerator_label(self.config.accelerator), tflite_ops=ops)
        meta["vela"].update(placement=where.to_dict(), core_clock_hz=network.core_clock_hz,
                            default_config_warnings=list(log.default_config_warnings))
        if where.status == st.UNSUPPORTED:
            return where.error or f"{COMPONENT}: no operator runs on the NPU"
        return Made(path=result.model, metadata=meta, log=result.log,
                    files={SUMMARY_FILE: result.summary_csv, LAYERS_FILE: result.per_layer_csv, LOG_FILE: log_path})

    def close(self) -> None:
        """Stop the TFLite step's worker pool."""
        self.tflite.close()
