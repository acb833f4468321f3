"""Read what the host can tell about itself: CPU/SoC, OS, governor, clocks, temperatures.

Every reader is best-effort: a value that cannot be read is ``None``, never a guess.
"""

from __future__ import annotations

import os
import platform
import socket
import sys

#: Versioned wherever the agent runs (every adapter binds numpy arrays).
BASE_MODULES = (("numpy", "numpy"),)


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def cpu_model():
    """CPU model name, or the SoC/board model on ARM boards."""
    text = _read("/proc/cpuinfo") or ""
    for key in ("model name", "Hardware", "Model", "cpu model", "uarch"):
        for line in text.splitlines():
            if line.startswith(key) and ":" in line:
                return line.split(":", 1)[1].strip()
    board = _read("/proc/device-tree/model")
    if board:
        return board.strip("\x00")
    return platform.processor() or None


def governors():
    """Distinct cpufreq governors across CPUs (``None`` where cpufreq is absent)."""
    found = set()
    base = "/sys/devices/system/cpu"
    try:
        names = os.listdir(base)
    except OSError:
        return None
    for name in names:
        if name.startswith("cpu") and name[3:].isdigit():
            gov = _read(os.path.join(base, name, "cpufreq", "scaling_governor"))
            if gov:
                found.add(gov)
    return ",".join(sorted(found)) if found else None


def cpu_freq_mhz():
    """Current frequency of cpu0 in MHz from cpufreq or /proc/cpuinfo."""
    khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    if khz and khz.isdigit():
        return int(khz) / 1000.0
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.startswith("cpu MHz") and ":" in line:
            try:
                return float(line.split(":", 1)[1])
            except ValueError:
                return None
    return None


def temperatures_c():
    """Thermal zone temperatures in °C keyed by zone type (empty where none is readable)."""
    out = {}
    base = "/sys/class/thermal"
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return out
    for name in names:
        if not name.startswith("thermal_zone"):
            continue
        raw = _read(os.path.join(base, name, "temp"))
        kind = _read(os.path.join(base, name, "type")) or name
        if raw and raw.lstrip("-").isdigit():
            value = int(raw)
            out["%s/%s" % (name, kind)] = value / 1000.0 if abs(value) > 1000 else float(value)
    return out


#: ``(module, dist)`` -> version: packages do not change while an agent runs, and each metadata
#: lookup scans ``sys.path`` (the agent asks for the same ones at hello and both probes).
_VERSIONS = {}


def package_version(module, dist):
    """Version of an installed package without importing it (``None`` if absent)."""
    key = (module, dist)
    if key not in _VERSIONS:
        _VERSIONS[key] = _package_version(module, dist)
    return _VERSIONS[key]


def _package_version(module, dist):
    import importlib.util

    try:
        if importlib.util.find_spec(module) is None:
            return None
    except (ImportError, ValueError):
        return None
    try:
        from importlib import metadata
    except ImportError:  # Python 3.7
        return "unknown"
    try:
        return metadata.version(dist)
    except Exception:  # noqa: BLE001 - any metadata problem means "unknown version"
        return "unknown"


def probe_environment(modules=None):
    """One dict describing this host now (called at batch start and end).

    ``versions`` covers ``modules`` (``(import name, distribution)`` pairs); by default numpy
    and the runtime of every adapter in the bundle. The controller passes the backend
    registry's list instead (toolchains included).
    """
    if modules is None:
        from .runtimes import runtime_modules

        modules = list(BASE_MODULES) + runtime_modules()
    uname = platform.uname()
    mem = None
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) // 1024
    versions = {}
    for module, dist in modules:
        v = package_version(module, dist)
        if v:
            versions[dist] = v
    return {
        "hostname": socket.gethostname(),
        "os": uname.system,
        "kernel": uname.release,
        "arch": uname.machine,
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "governor": governors(),
        "cpu_freq_mhz": cpu_freq_mhz(),
        "temperatures_c": temperatures_c(),
        "mem_total_mb": mem,
        "versions": versions,
    }
