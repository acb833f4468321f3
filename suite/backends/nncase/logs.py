"""Reading nncase output: ``ncc`` compile logs (K210, nncase 0.2 and 1.x) and K210 runtime debug lines.

Pure functions over text, tested on recorded logs (``tests/fixtures/nncase``,
``tests/fixtures/k210_runtime``). A parser miss is ``None``/empty, never 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class NccLog:
    """What an ncc compile log says.

    ``memory_bytes`` maps ``.input``, ``.output``, ``.data``, ``MODEL``, ``TOTAL`` (nncase
    1.x "MEMORY USAGES") or ``main``/``working`` (nncase 0.2 "Main/Working memory usage")
    to bytes. ``fallback_ops`` are ops the compiler left in float (nncase 0.2 "WARN: X
    Fallback to float conv2d"), ``fatal`` the "Fatal: ..." text, ``completed`` whether
    a SUMMARY was printed, ``last_step`` the last step seen (``4.2. Get activation ranges``,
    ``Run calibration``) (where a crash or
    stall happened).
    """

    version: str | None = None
    completed: bool = False
    fatal: str | None = None
    last_step: str | None = None
    memory_bytes: dict[str, int] = field(default_factory=dict)
    inputs: list[tuple[str, str]] = field(default_factory=list)
    outputs: list[tuple[str, str]] = field(default_factory=list)
    fallback_ops: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.fatal is not None or not self.completed


_STEP = re.compile(r"^\s*(?:(\d+(?:\.\d+)*)\.\s+)?([A-Z][^.]*?)\.{3}\s*$")
_MEM_TABLE = re.compile(r"^\s*(\.input|\.output|\.data|\.rdata|\.text|MODEL|TOTAL)\s+[\d.]+\s*[KMG]?B\s+\((\d+) B\)")
_MEM_LINE = re.compile(r"^\s*(Main|Working) memory usage:\s*(\d+)\s*B", re.I)
_IO_ROW = re.compile(r"^\s*\d+\s+(\S+)\s+(\S+)\s*$")


def parse_ncc_log(text: str) -> NccLog:
    """Parse one ncc compile log (any of the recorded 0.2 / 1.x layouts, tabs or spaces)."""
    version = None
    fatal = None
    last_step = None
    completed = False
    memory: dict[str, int] = {}
    inputs: list[tuple[str, str]] = []
    outputs: list[tuple[str, str]] = []
    fallback: list[str] = []
    warnings: list[str] = []
    section = None
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped:
            continue
        m = re.match(r"nncase Command Line Tools (\S+)", stripped)
        if m:
            version = m.group(1)
            continue
        if stripped.startswith("Fatal:"):
            fatal = stripped[len("Fatal:"):].strip()
            continue
        m = _STEP.match(line)
        if m:
            last_step = f"{m.group(1)}. {m.group(2)}" if m.group(1) else m.group(2)
            continue
        if stripped.startswith("WARN:"):
            msg = stripped[len("WARN:"):].strip()
            fb = re.match(r"(\S+) Fallback to float", msg)
            if fb and fb.group(1) not in fallback:
                fallback.append(fb.group(1))
            elif not fb and msg not in warnings:
                warnings.append(msg)
            continue
        m = _MEM_LINE.match(line)
        if m:
            memory[m.group(1).lower()] = int(m.group(2))
            continue
        m = _MEM_TABLE.match(line)
        if m:
            memory[m.group(1)] = int(m.group(2))
            continue
        if stripped in ("SUMMARY", "INPUTS", "OUTPUTS", "MEMORY USAGES"):
            section = stripped
            completed = completed or stripped == "SUMMARY"
            continue
        m = _IO_ROW.match(line)
        if m and section in ("INPUTS", "OUTPUTS"):
            (inputs if section == "INPUTS" else outputs).append((m.group(1), m.group(2)))
    return NccLog(version=version, completed=completed, fatal=fatal, last_step=last_step, memory_bytes=memory,
                  inputs=inputs, outputs=outputs, fallback_ops=fallback, warnings=warnings)


@dataclass(frozen=True)
class KpuTiming:
    """K210 runtime debug timings: per-layer (``layer N [Kind]`` or ``Kind:``) and totals, in ms."""

    layers: list[tuple[str, float]] = field(default_factory=list)
    totals_ms: dict[str, float] = field(default_factory=dict)

    @property
    def total_ms(self) -> float | None:
        """The model's total: ``Model:``, else ``Total:``, else ``run kmodel takes``."""
        for key in ("model", "total", "run"):
            if key in self.totals_ms:
                return self.totals_ms[key]
        return None


_LAYER = re.compile(r"^layer (\d+) \[([^\]]+)\]:\s*([\d.]+)\s*ms$")
_KIND = re.compile(r"^([A-Za-z][\w]*):\s*([\d.]+)\s*ms$")
_RUN = re.compile(r"^run kmodel takes ([\d.]+) ms\.?$")


def parse_kpu_debug(text: str) -> KpuTiming:
    """Parse K210 runtime debug output (kpu.c debug build, nncase 0.2 KPU_DEBUG, nncase 1.x NNCASE_DEBUG)."""
    layers: list[tuple[str, float]] = []
    totals: dict[str, float] = {}
    for raw in text.splitlines():
        line = raw.strip()
        m = _LAYER.match(line)
        if m:
            layers.append((f"{m.group(1)}:{m.group(2)}", float(m.group(3))))
            continue
        m = _RUN.match(line)
        if m:
            totals["run"] = float(m.group(1))
            continue
        m = _KIND.match(line)
        if m:
            kind, value = m.group(1), float(m.group(2))
            if kind in ("KPU", "CPU", "Model", "Total"):
                totals[kind.lower()] = value
            else:
                layers.append((kind, value))
    return KpuTiming(layers=layers, totals_ms=totals)

