"""The backend unit: one :class:`Backend` record per backend, and the registry of them.

A backend is everything one accelerator stack needs on the host side: the artifact
``format`` it runs, the ``runtime`` name a device YAML gives, the builder that makes the
format (with its vendor ``toolchain``), and how the runtime reaches the device (an adapter
inside the agent bundle, or a host-driven runtime for tools that run without the agent).
Each built-in backend is a folder ``suite/backends/<name>/`` whose ``backend.py`` registers
its record; third-party backends register through the entry-point group
``hwbehave.backends`` (the entry point names the record).

This registry is the only list: the pipeline (which format a runtime runs, which builder
makes a format), ``hwbehave toolchains check``, device validation (runtime names,
transport pairings, ``toolchain:`` blocks), the agent bundle (which adapter files it
ships) and the controller's version probe all derive theirs from it. How to add a backend:
docs/architecture.md §4.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from typing import Any

from suite.errors import ConfigError
from suite.registry import Registry
from suite.results.schema import TIMING_KINDS  # how a backend's numbers were obtained: the results' one list

#: Where built-in on-device adapters live: ``suite/agent/runtimes/<runtime>.py``.
AGENT_RUNTIMES = "suite.agent.runtimes"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Backend:
    """One backend: what it builds and runs, and where each part of it lives.

    Parameters
    ----------
    name
        The backend's name: its folder ``suite/backends/<name>/``.
    format
        The artifact format its runtime executes (``onnx``, ``tflite``, ``edgetpu``, ...).
    runtime
        The device YAML's ``runtime.name``. Several backends may share one runtime (LiteRT
        runs ``tflite`` and ``edgetpu`` files); the device's ``formats`` list picks between them.
    builder
        ``"module:Class"`` of the builder that makes ``format``, or ``None`` when another
        backend's builder makes it (``benchmark_model`` runs the files of the ``litert`` builder).
    toolchain
        Name of its vendor toolchain: the key of the device YAML's ``toolchain:`` block and of
        ``toolchains.yaml``, a row of ``hwbehave toolchains check``. ``None``: nothing vendor-specific.
    agent_module
        Module of the on-device adapter (``suite.agent.runtimes.<runtime>``, standard library +
        numpy + the runtime only); it ships in the agent bundle as ``runtimes/<runtime>.py``.
    host_runtime
        ``"module:Class"`` of a host-driven runtime instead (the runtime's tool is run by the
        controller through the transport's commands: ``benchmark_model`` on a phone).
    version_modules
        ``(import name, distribution)`` of the packages whose versions the controller records.
    timing
        The timing kind of its results unless a result says otherwise (:data:`TIMING_KINDS`).
    description
        One line for listings.
    """

    name: str
    format: str
    runtime: str
    builder: str | None = None
    toolchain: str | None = None
    agent_module: str | None = None
    host_runtime: str | None = None
    version_modules: tuple[tuple[str, str], ...] = ()
    timing: str = "measured"
    description: str = ""

    def __post_init__(self) -> None:
        for field_name in ("name", "format", "runtime"):
            value = getattr(self, field_name)
            if not isinstance(value, str) or not _NAME.match(value):
                raise ValueError(f"Backend.{field_name} must be a lower-case identifier, got {value!r}")
        if self.toolchain is not None and not _NAME.match(self.toolchain):
            raise ValueError(f"Backend {self.name}: toolchain must be a lower-case identifier, got {self.toolchain!r}")
        for field_name in ("builder", "host_runtime"):
            value = getattr(self, field_name)
            if value is not None and not _TARGET.match(value):
                raise ValueError(f"Backend {self.name}: {field_name} must be 'module:Class', got {value!r}")
        if (self.agent_module is None) == (self.host_runtime is None):
            raise ValueError(f"Backend {self.name}: give exactly one of agent_module (an adapter in the agent) "
                             f"and host_runtime (a runtime the controller drives), got {self.agent_module!r} "
                             f"and {self.host_runtime!r}")
        if self.timing not in TIMING_KINDS:
            raise ValueError(f"Backend {self.name}: timing must be one of {', '.join(TIMING_KINDS)}, "
                             f"got {self.timing!r}")
        for pair in self.version_modules:
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
                raise ValueError(f"Backend {self.name}: version_modules holds (import name, distribution) "
                                 f"pairs, got {pair!r}")

    @property
    def in_agent(self) -> bool:
        """True when the runtime runs inside the agent (it needs Python on the device)."""
        return self.agent_module is not None

    def builder_class(self) -> Any:
        """The builder class of this backend's format (imported now; a missing extra is a ``ConfigError``)."""
        owner = self if self.builder else builder_backend(self.format)
        assert owner.builder is not None
        return _load(owner.builder, f"the {self.format} builder", field="formats", value=self.format)

    def host_runtime_class(self) -> Any:
        """The host-driven runtime class (``None`` for runtimes inside the agent)."""
        if self.host_runtime is None:
            return None
        return _load(self.host_runtime, f"the {self.runtime} runtime", field="runtime.name", value=self.runtime)


def _load(target: str, what: str, *, field: str, value: str) -> Any:
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise ConfigError(f"{what} cannot load: {exc}", field=field, value=value,
                          expected="the optional extra that provides it installed") from None


BACKENDS: Registry[Backend] = Registry("backend", entry_point_group="hwbehave.backends")
_builtin_loaded = False


def register_backend(backend: Backend) -> Backend:
    """Add ``backend`` to the registry (a second backend of the same name is an error)."""
    if not isinstance(backend, Backend):
        raise TypeError(f"register_backend takes a Backend record, got {type(backend).__name__}")
    BACKENDS.add(backend.name, backend)
    return backend


def load_builtin() -> None:
    """Import ``suite/backends/<name>/backend.py`` of every built-in backend folder (found, not listed)."""
    global _builtin_loaded
    if _builtin_loaded:
        return
    _builtin_loaded = True
    import suite.backends as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.ispkg:
            importlib.import_module(f"{package.__name__}.{info.name}.backend")


def all_backends() -> list[Backend]:
    """Every registered backend (built-in and from entry points), by name."""
    load_builtin()
    return [b for _, b in sorted(BACKENDS.items())]


def get_backend(name: str) -> Backend:
    """The backend called ``name``; a miss lists the valid names."""
    load_builtin()
    return BACKENDS.get(name, field="backend")


def runtime_names() -> list[str]:
    """Every runtime name a device YAML may give."""
    return sorted({b.runtime for b in all_backends()})


def backends_of_runtime(runtime: str) -> list[Backend]:
    """The backends whose runtime is ``runtime`` (``ConfigError`` listing the valid names if none)."""
    found = [b for b in all_backends() if b.runtime == runtime]
    if not found:
        raise ConfigError(f"unknown runtime {runtime!r}", field="runtime.name", value=runtime,
                          expected="one of " + ", ".join(runtime_names()))
    return found


def formats_of_runtime(runtime: str) -> tuple[str, ...]:
    """The artifact formats ``runtime`` executes."""
    return tuple(b.format for b in backends_of_runtime(runtime))


def backend_for(runtime: str, formats: list[str] | tuple[str, ...]) -> Backend:
    """The backend a device uses: its runtime, with the first of its ``formats`` that runtime runs."""
    by_format = {b.format: b for b in backends_of_runtime(runtime)}
    for fmt in formats:
        if fmt in by_format:
            return by_format[fmt]
    runs = ", ".join(by_format)
    raise ConfigError(f"runtime {runtime} runs {runs} but formats lists {', '.join(formats)}", field="formats",
                      value=list(formats), expected="a list containing one of " + runs)


def builder_backend(fmt: str) -> Backend:
    """The backend whose builder makes ``fmt``; a miss lists the formats that have one."""
    owners = {b.format: b for b in all_backends() if b.builder}
    if fmt not in owners:
        raise ConfigError(f"no builder makes format {fmt!r}", field="formats", value=fmt,
                          expected="one of " + ", ".join(sorted(owners)))
    return owners[fmt]


def builder_for(fmt: str) -> Any:
    """The builder class that makes ``fmt`` (imported now)."""
    return builder_backend(fmt).builder_class()


def toolchain_backends() -> list[Backend]:
    """The backends with a vendor toolchain, one per toolchain name."""
    return [b for b in all_backends() if b.toolchain]


def toolchain_names() -> list[str]:
    """Every toolchain name (keys of a device's ``toolchain:`` block and of ``toolchains.yaml``)."""
    return sorted({b.toolchain for b in toolchain_backends() if b.toolchain})


def version_modules() -> list[tuple[str, str]]:
    """``(import name, distribution)`` of every backend's packages, each once, plus numpy."""
    seen: dict[str, tuple[str, str]] = {"numpy": ("numpy", "numpy")}
    for b in all_backends():
        for module, dist in b.version_modules:
            seen.setdefault(dist, (module, dist))
    return list(seen.values())
