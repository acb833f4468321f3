"""Edge TPU compiler: run ``edgetpu_compiler`` and parse its placement (the builder is :mod:`.builder`).

The compiler (x86-64 Linux, Debian package ``edgetpu-compiler``) maps each op of an int8
model to the Edge TPU or leaves it on the CPU and says so in a table::

    Operator                       Count      Status
    CONV_2D                        1          Mapped to Edge TPU
    LEAKY_RELU                     11         Operation not supported

with "Number of operations that will run on Edge TPU: N" / "... on CPU: M" above it (the
table is printed with ``-s``, and always written to the ``*_edgetpu.log`` operation log).
:func:`parse_compiler_log` reads either; :meth:`EdgeTpuReport.placement_status` turns it into
our statuses: every op mapped → ``ok``; some on the CPU → ``fallback`` with the op list;
none mapped, or the compiler refused the model ("Model not quantized", "Internal compiler
error") → ``unsupported``. The runtime (LiteRT with the ``libedgetpu.so.1`` delegate) sees
the same split at run time and reports ``fallback`` with the CPU ops.

A missing compiler is ``unsupported`` with what to install, never a crash.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite import status as st
from suite.backends.toolchain import ToolchainSettings

DEFAULT_COMPILER = "edgetpu_compiler"
DEFAULT_TIMEOUT_S = 180.0
MAPPED = "Mapped to Edge TPU"
COMPILER_INSTALL_HINT = (
    "install the Edge TPU compiler (x86-64 Linux: apt-get install edgetpu-compiler from the Coral package "
    "repository, https://coral.ai/docs/edgetpu/compiler/) or set toolchain.edgetpu_compiler in the device YAML "
    "to its path")
DELEGATE_INSTALL_HINT = (
    "install the Edge TPU runtime (apt-get install libedgetpu1-std from https://coral.ai/software/) and connect "
    "the Coral device")

_VERSION = re.compile(r"Edge TPU Compiler version\s+(\S+)")
_ON_TPU = re.compile(r"Number of operations that will run on Edge TPU:\s*(\d+)")
_ON_CPU = re.compile(r"Number of operations that will run on CPU:\s*(\d+)")
_TOTAL = re.compile(r"Total number of operations:\s*(\d+)")
_SUBGRAPHS = re.compile(r"Number of Edge TPU subgraphs:\s*(\d+)")
_OPLOG = re.compile(r"Operation log:\s*(\S+)")
_ROW = re.compile(r"^([A-Z][A-Z0-9_]*)\s+(\d+)\s+(\S.*?)\s*$")
#: Compiler failure lines (as printed by versions 2.1 to 16) → our description.
_FAILURES = (
    ("Model not quantized", "model not quantized (the Edge TPU runs only full-integer int8 models)"),
    ("Internal compiler error", "internal compiler error"),
    ("Invalid model", "invalid model"),
    ("Compilation failed", "compilation failed"),
    ("not supported by the Edge TPU", "model not supported by the Edge TPU"),
)


@dataclass(frozen=True)
class OpPlacement:
    """One row of the compiler's operation table."""

    operator: str
    count: int
    status: str

    @property
    def mapped(self) -> bool:
        return self.status == MAPPED


@dataclass(frozen=True)
class EdgeTpuReport:
    """What ``edgetpu_compiler`` said about one model."""

    compiler_version: str | None = None
    compiled: bool = False
    ops_on_tpu: int | None = None
    ops_on_cpu: int | None = None
    total_ops: int | None = None
    subgraphs: int | None = None
    table: tuple[OpPlacement, ...] = ()
    failure: str | None = None
    operation_log: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def cpu_ops(self) -> list[str]:
        """Ops left on the CPU as ``"OPERATOR xCOUNT (reason)"``, from the table."""
        return [f"{r.operator} x{r.count} ({r.status})" for r in self.table if not r.mapped]

    def placement_status(self) -> tuple[str, str | None]:
        """``(status, error)``: ok, fallback with the CPU ops, or unsupported with the reason."""
        if self.failure:
            return st.UNSUPPORTED, f"edgetpu-compiler: {self.failure}"
        on_tpu = self.ops_on_tpu
        if on_tpu is None and self.table:
            on_tpu = sum(r.count for r in self.table if r.mapped)
        on_cpu = self.ops_on_cpu
        if on_cpu is None and self.table:
            on_cpu = sum(r.count for r in self.table if not r.mapped)
        if on_tpu is None:
            return st.UNSUPPORTED, "edgetpu-compiler: output has no operation counts (unrecognised log)"
        if on_tpu == 0:
            detail = "; ".join(self.cpu_ops) or f"{on_cpu} op(s)"
            return st.UNSUPPORTED, f"edgetpu-compiler: no operation maps to the Edge TPU: {detail}"
        if on_cpu:
            detail = "; ".join(self.cpu_ops) if self.table else "see the operation log"
            return st.FALLBACK, f"edgetpu-compiler: {on_cpu} of {on_tpu + on_cpu} op(s) stay on the CPU: {detail}"
        return st.OK, None

    def to_dict(self) -> dict[str, Any]:
        status, error = self.placement_status()
        return {"compiler_version": self.compiler_version, "compiled": self.compiled,
                "ops_on_tpu": self.ops_on_tpu, "ops_on_cpu": self.ops_on_cpu, "total_ops": self.total_ops,
                "subgraphs": self.subgraphs, "cpu_ops": self.cpu_ops,
                "table": [[r.operator, r.count, r.status] for r in self.table],
                "failure": self.failure, "placement": status, "placement_error": error}


def parse_compiler_log(text: str, operation_log: str | None = None) -> EdgeTpuReport:
    """Parse compiler console output (and, if given, the ``*_edgetpu.log`` operation log).

    The operation table of the log file is used when the console output has none
    (compiled without ``-s``: "See the operation log file for individual operation details").
    """
    def first(rx: re.Pattern[str], src: str) -> str | None:
        m = rx.search(src)
        return m.group(1) if m else None

    def number(rx: re.Pattern[str]) -> int | None:
        v = first(rx, text)
        return int(v) if v is not None else None

    failure = None
    for marker, description in _FAILURES:
        if marker in text:
            failure = description
            break
    table = _table(text) or (_table(operation_log) if operation_log else ())
    compiled = ("compiled successfully" in text or "Compilation succeeded" in text) and failure is None
    notes = []
    if "See the operation log file" in text and not _table(text):
        notes.append("console output has no operation table" + ("; read the operation log" if operation_log else ""))
    version = first(_VERSION, text) or (first(_VERSION, operation_log) if operation_log else None)
    return EdgeTpuReport(compiler_version=version, compiled=compiled or (failure is None and bool(table)),
                         ops_on_tpu=number(_ON_TPU), ops_on_cpu=number(_ON_CPU), total_ops=number(_TOTAL),
                         subgraphs=number(_SUBGRAPHS), table=table, failure=failure,
                         operation_log=first(_OPLOG, text), notes=tuple(notes))


def _table(text: str) -> tuple[OpPlacement, ...]:
    """Rows after the ``Operator  Count  Status`` header."""
    rows: list[OpPlacement] = []
    in_table = False
    for line in text.splitlines():
        if re.match(r"^\s*Operator\s+Count\s+Status\s*$", line):
            in_table = True
            continue
        if not in_table:
            continue
        m = _ROW.match(line.strip())
        if m:
            rows.append(OpPlacement(m.group(1), int(m.group(2)), m.group(3)))
        elif line.strip() and rows:
            in_table = False  # a line after the table ("Compilation succeeded!")
    return tuple(rows)


class ToolchainMissing(Exception):
    """The compiler is not installed where the configuration says."""


class EdgeTpuCompiler:
    """Runs ``edgetpu_compiler`` as a subprocess (its path from the device ``toolchain``)."""

    def __init__(self, path: str = DEFAULT_COMPILER, timeout_s: float = DEFAULT_TIMEOUT_S,
                 extra_args: list[str] | None = None) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self.extra_args = list(extra_args or [])

    def executable(self) -> str | None:
        """Absolute path of the compiler, or ``None`` when it is not installed."""
        if os.sep in self.path:
            return self.path if os.access(self.path, os.X_OK) else None
        return shutil.which(self.path)

    def available(self) -> bool:
        return self.executable() is not None

    def version(self) -> str | None:
        exe = self.executable()
        if exe is None:
            return None
        try:
            proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        m = _VERSION.search(proc.stdout + proc.stderr)
        return m.group(1) if m else (proc.stdout.strip() or None)

    def command(self, model: Path, out_dir: Path) -> list[str]:
        """The argument vector: ``-s`` prints the op table, ``-o`` sets the output folder."""
        exe = self.executable() or self.path
        return [exe, "-s", "-o", str(out_dir), *self.extra_args, str(model)]

    def compile(self, model: Path, out_dir: Path) -> tuple[EdgeTpuReport, Path | None, str]:
        """Compile ``model`` into ``out_dir``; return the report, the output model and the log.

        Raises :class:`ToolchainMissing` when the compiler is absent; a failing or hung
        compilation is a report with ``failure`` set.
        """
        if not self.available():
            raise ToolchainMissing(f"edgetpu-compiler: {self.path!r} not found; {COMPILER_INSTALL_HINT}")
        cmd = self.command(model, out_dir)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            return (EdgeTpuReport(failure=f"compiler timed out after {self.timeout_s:.0f} s"), None,
                    shlex.join(cmd))
        log = proc.stdout + proc.stderr
        out_model = out_dir / (model.stem + "_edgetpu.tflite")
        oplog_path = out_dir / (model.stem + "_edgetpu.log")
        oplog = oplog_path.read_text(errors="replace") if oplog_path.exists() else None
        report = parse_compiler_log(log, oplog)
        if proc.returncode != 0 and report.failure is None:
            tail = log.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
            report = EdgeTpuReport(compiler_version=report.compiler_version, table=report.table,
                                   failure=f"compiler exited with code {proc.returncode}: {tail[0]}")
        return report, (out_model if out_model.exists() and report.failure is None else None), log


def compiler_from(settings: ToolchainSettings) -> EdgeTpuCompiler:
    """The compiler runner of resolved ``edgetpu`` settings (timeout 180 s unless set)."""
    timeout = settings.timeout_s if "timeout_s" in _explicit(settings) else DEFAULT_TIMEOUT_S
    return EdgeTpuCompiler(settings.executable or DEFAULT_COMPILER, timeout,
                           [str(a) for a in settings.options.get("args") or []])


def _explicit(settings: ToolchainSettings) -> set[str]:
    # resolve_settings fills timeout_s with 600 when no layer sets it; only a set value overrides ours
    return {"timeout_s"} if settings.timeout_s != 600.0 else set()
