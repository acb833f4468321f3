"""Vendor toolchains: per-machine settings, the check record and the builder base.

A toolchain turns the canonical artifact (ONNX, from :class:`OnnxBuilder`) into a
vendor format. Where it runs is per machine; what it builds is per device:

* **where** (``toolchains.yaml``): ``$HWBEHAVE_TOOLCHAINS`` or
  ``$XDG_CONFIG_HOME/hwbehave/toolchains.yaml`` (default ``~/.config/...``)::

      toolchains:
        rknn:   {python: ~/.cache/hwbehave/venvs/rknn/bin/python}
        nncase: {python: /opt/nncase/bin/python, executable: /opt/ncc/bin/ncc, timeout_s: 900}

* **what** (the device YAML's ``toolchain:`` block, keyed by toolchain name)::

      toolchain:
        rknn: {target_platform: rk3588}

Device values win over machine values, which win over the toolchain's defaults.
A toolchain with no ``python`` runs in this interpreter (in-process when it can).
The subprocess contract is in :mod:`suite.backends.contract`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from suite import status as st
from suite.backends import contract
from suite.errors import ConfigError
from suite.models.artifact import Artifact
from suite.models.builder import CachedBuilder, Made
from suite.models.cache import ArtifactCache, cache_key, file_sha256
from suite.sweep.point import Point

#: Keys of a toolchain entry that say *where* it runs; every other key is a build option.
PLACEMENT_KEYS = ("python", "executable", "timeout_s", "env")

def toolchains_file() -> Path:
    """``$HWBEHAVE_TOOLCHAINS`` or ``$XDG_CONFIG_HOME/hwbehave/toolchains.yaml``."""
    env = os.environ.get("HWBEHAVE_TOOLCHAINS")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "hwbehave" / "toolchains.yaml"


def load_machine_config(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The ``toolchains:`` mapping of this machine's file (empty when there is no file)."""
    from suite.yamlfile import load_yaml

    path = path or toolchains_file()
    if not path.exists():
        return {}
    doc = load_yaml(path)
    unknown = sorted(set(doc.data) - {"toolchains"})
    if unknown:
        raise doc.error("unknown key", (unknown[0],), field=unknown[0], expected="toolchains")
    entries = doc.data.get("toolchains") or {}
    if not isinstance(entries, dict):
        raise doc.error("toolchains must be a mapping of name -> settings", ("toolchains",), field="toolchains")
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise doc.error(f"toolchain {name!r} must be a mapping", ("toolchains", name), field=f"toolchains.{name}")
    return {str(k): dict(v) for k, v in entries.items()}


@dataclass(frozen=True)
class ToolchainSettings:
    """Where a toolchain runs and the options it builds with (merged from all sources)."""

    name: str
    python: str | None = None
    executable: str | None = None
    timeout_s: float = 600.0
    env: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ValueError(f"toolchain {self.name}: timeout_s must be > 0, got {self.timeout_s!r}")


def resolve_settings(name: str, defaults: dict[str, Any], *, device: Any = None,
                     machine: dict[str, dict[str, Any]] | None = None) -> ToolchainSettings:
    """Merge ``defaults`` < machine file < device ``toolchain.<name>``; unknown options are errors."""
    merged: dict[str, Any] = {}
    sources = ["defaults"]
    machine = load_machine_config() if machine is None else machine
    layers = [(str(toolchains_file()), machine.get(name) or {})]
    if device is not None:
        block = (getattr(device, "toolchain", None) or {}).get(name) or {}
        if not isinstance(block, dict):
            raise ConfigError(f"device {device.name}: toolchain.{name} must be a mapping",
                              field=f"toolchain.{name}", value=block)
        layers.append((f"device {device.name}", block))
    for source, layer in layers:
        if layer:
            sources.append(source)
        for key, value in layer.items():
            if key not in PLACEMENT_KEYS and key not in defaults:
                raise ConfigError(f"unknown {name} toolchain option {key!r} ({source})", field=f"toolchain.{name}.{key}",
                                  value=key, expected="one of " + ", ".join(sorted((*PLACEMENT_KEYS, *defaults))))
            merged[key] = value
    options = {k: merged.get(k, v) for k, v in defaults.items()}
    python = merged.get("python")
    executable = merged.get("executable")
    return ToolchainSettings(name=name, python=str(Path(python).expanduser()) if python else None,
                             executable=str(Path(executable).expanduser()) if executable else None,
                             timeout_s=float(merged.get("timeout_s", 600.0)),
                             env={str(k): str(v) for k, v in (merged.get("env") or {}).items()},
                             options=options, sources=tuple(sources))


@dataclass(frozen=True)
class ToolchainCheck:
    """Whether a toolchain is usable on this machine, and if not, why and what to install."""

    name: str
    usable: bool
    version: str | None = None
    interpreter: str | None = None
    detail: str = ""
    fix: str | None = None

    def __post_init__(self) -> None:
        if not self.usable and not self.detail:
            raise ValueError(f"ToolchainCheck {self.name}: an unusable toolchain needs a detail saying why")


def probe_python(python: str, code: str, timeout_s: float = 60.0) -> tuple[int, str, str]:
    """Run ``python -c code``; returns ``(returncode, stdout, stderr)`` (127 if it is missing)."""
    import subprocess

    try:
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return 127, "", f"{python}: not found"
    except subprocess.TimeoutExpired:
        return 124, "", f"{python} -c ... ran past {timeout_s:.0f} s"
    return proc.returncode, proc.stdout, proc.stderr


def distribution_version(python: str, dist: str) -> str | None:
    """Version of distribution ``dist`` installed for ``python`` (metadata only: no import)."""
    rc, out, _ = probe_python(python, f"import importlib.metadata as m; print(m.version({dist!r}))")
    return out.strip() or None if rc == 0 else None


class ToolchainBuilder(CachedBuilder):
    """Builder base of a vendor format: ONNX → the toolchain's worker → cached vendor artifact.

    Subclasses set ``format``, ``toolchain``, ``suffix``, ``worker`` (module name of the
    contract worker), ``defaults`` (options) and implement :meth:`source` (the ONNX to
    convert), :meth:`worker_options` and optionally :meth:`refuse` (a dtype/target the
    toolchain cannot build, returned as ``unsupported`` without running it). Cache lookup,
    storing and failures are :class:`~suite.models.builder.CachedBuilder`'s; error texts
    start with the toolchain name.
    """

    toolchain: ClassVar[str] = ""
    suffix: ClassVar[str] = ""
    worker: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    #: Bump when what a builder hands the toolchain changes (invalidates cached files).
    builder_version: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.component = cls.toolchain
        cls.filename = f"model{cls.suffix}"

    def __init__(self, cache: ArtifactCache | None = None, device: Any = None,
                 settings: ToolchainSettings | None = None) -> None:
        super().__init__(cache=cache, device=device)
        self.settings = settings or resolve_settings(self.toolchain, self.defaults, device=device)
        self._version: str | None = None
        self._sources: dict[str, tuple[Path, dict[str, Any]]] = {}

    # -- to override -------------------------------------------------------------------
    @classmethod
    def check(cls, settings: ToolchainSettings | None = None) -> ToolchainCheck:
        """Is the toolchain usable here? (never raises)"""
        raise NotImplementedError

    def toolchain_version(self) -> str | None:
        """Version of the vendor toolchain that will run (part of the cache key)."""
        return None

    def source(self, point: Point, work: Path) -> tuple[Path, dict[str, Any]] | Artifact:
        """The ONNX file to convert and facts about it, or a failed ``Artifact``."""
        raise NotImplementedError

    def worker_options(self, point: Point, onnx_path: Path, work: Path) -> dict[str, Any]:
        """The ``--options`` JSON of the worker call for ``point``."""
        return dict(self.settings.options)

    def convert_in_process(self, onnx_path: Path, out_dir: Path, options: dict[str, Any]) -> dict[str, Any] | None:
        """Convert without a subprocess when possible (return ``None`` to use the worker)."""
        return None

    # -- the build ----------------------------------------------------------------------
    def key(self, point: Point, work: Path) -> str | Artifact:
        """Cache key from the source ONNX's bytes, the toolchain version and the options."""
        work.mkdir(parents=True, exist_ok=True)
        src = self.source(point, work)
        if isinstance(src, Artifact):
            return src
        self._sources[point.id] = src
        return cache_key({"point": point.id, "format": self.format, "dtype": point.dtype,
                          "builder": self.builder_version, "contract": contract.CONTRACT_VERSION,
                          "source": file_sha256(src[0]), "toolchain": self.version_cached(),
                          "options": self.settings.options})

    def version_cached(self) -> str | None:
        """:meth:`toolchain_version`, asked once per builder."""
        if self._version is None:
            self._version = self.toolchain_version() or "unknown"
        return self._version

    def make(self, point: Point, work: Path) -> Made | Artifact:
        """Run the conversion (in process or the worker) on the source :meth:`key` wrote."""
        onnx_path, source_meta = self._sources.pop(point.id)
        out_dir = work / "out"
        out_dir.mkdir()
        options = self.worker_options(point, onnx_path, work)
        result = self.convert_in_process(onnx_path, out_dir, options)
        if result is None:
            result = contract.call_worker(self.settings.python or sys.executable, self.worker, onnx_path,
                                          out_dir, options, timeout_s=self.settings.timeout_s, env=self.settings.env)
        log = str(result.get("log") or "")
        build_log = out_dir / "build.log"
        if build_log.exists():
            log = build_log.read_text(errors="replace") + ("\n" + log if log else "")
        metadata = {**source_meta, **(result.get("metadata") or {}),
                    "toolchain": self.toolchain, "toolchain_version": result.get("toolchain_version")
                    or self.version_cached(), "interpreter": self.settings.python or "in-process"}
        status = result.get("status", st.BUILD_ERROR)
        if status != st.OK:
            return self.fail(point, status if status in st.ALL else st.BUILD_ERROR,
                             str(result.get("error") or f"status {status} without an error text"),
                             log=log, start=None, metadata=metadata)
        artifact = out_dir / str(result.get("artifact") or "")
        if not result.get("artifact") or not artifact.is_file():
            return self.fail(point, st.BUILD_ERROR, f"worker reported ok but wrote no artifact "
                             f"({result.get('artifact')!r})", log=log, metadata=metadata)
        return Made(path=artifact, metadata=metadata, log=log)
