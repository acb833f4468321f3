"""``hwbehave devices check``: can each device be used right now, and what is it?

A check connects through the device's transport, makes a workdir, runs the agent's
``hello`` there (a host-driven runtime such as ``benchmark_model`` answers it from the
device's properties instead), reads free
disk, governor and temperatures where readable, and cleans up. Failures are a
:class:`DeviceCheck` with ``ok=False`` and the error text, never an exception.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from suite.devices.agent_bundle import agent_bundle
from suite.devices.config import Device
from suite.devices.transports.base import Transport, transport_for
from suite.errors import HwbehaveError

#: Read with ``cat`` on Linux hosts (best effort; missing files are simply not reported).
GOVERNOR_FILE = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"
THERMAL_GLOB = "/sys/class/thermal/thermal_zone*/temp"


@dataclass(frozen=True)
class DeviceCheck:
    """The outcome of checking one device."""

    device: str
    ok: bool
    transport: str
    seconds: float
    error: str | None = None
    os: str | None = None
    arch: str | None = None
    python: str | None = None
    runtimes: dict[str, Any] = field(default_factory=dict)
    free_mb: float | None = None
    governor: str | None = None
    max_temp_c: float | None = None

    def line(self) -> str:
        """One human line: ``name  OK  Linux x86_64 python 3.11 onnxruntime 1.2 …``."""
        if not self.ok:
            return f"{self.device:<20} FAIL  {self.transport:<5} {self.error}"
        runtimes = ", ".join(f"{k} {v}" for k, v in sorted(self.runtimes.items()) if v) or "no runtime"
        parts = [f"{self.device:<20} OK    {self.transport:<5}", f"{self.os} {self.arch}",
                 f"python {self.python}" if self.python else "no python", runtimes,
                 f"free {self.free_mb:.0f} MB" if self.free_mb is not None else "free ?",
                 f"governor {self.governor}" if self.governor else "governor ?",
                 f"max temp {self.max_temp_c:.1f} C" if self.max_temp_c is not None else "temp ?",
                 f"({self.seconds:.1f} s)"]
        return " | ".join(parts)


def _free_mb(t: Transport, workdir: str, timeout_s: float) -> float | None:
    status, out, _ = t.run(["df", "-Pk", workdir], timeout_s)
    if status == 0 and out.strip():
        try:
            return int(out.strip().splitlines()[-1].split()[3]) / 1024.0
        except (IndexError, ValueError):
            pass
    return None


def _linux_facts(t: Transport, workdir: str, timeout_s: float) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    free = _free_mb(t, workdir, timeout_s)
    if free is not None:
        facts["free_mb"] = free
    status, out, _ = t.run(["cat", GOVERNOR_FILE], timeout_s)
    if status == 0 and out.strip():
        facts["governor"] = out.strip()
    status, out, _ = t.run(["sh", "-c", f"cat {THERMAL_GLOB} 2>/dev/null; true"], timeout_s)
    temps = [int(x) / (1000.0 if abs(int(x)) > 1000 else 1.0) for x in out.split() if x.lstrip("-").isdigit()]
    if temps:
        facts["max_temp_c"] = max(temps)
    return facts


def check_device(device: Device, transport: Transport | None = None) -> DeviceCheck:
    """Connect, say hello, read disk/governor/temperature; never raises for a device problem."""
    start = time.monotonic()
    t = transport or transport_for(device)
    kind = device.transport.kind
    workdir = None
    try:
        t.connect()
        workdir = t.make_workdir()
        timeout_s = device.timeouts.command_s
        host_runtime = device.backend.host_runtime_class()
        if host_runtime is not None:  # no agent on the device: the runtime answers from the controller
            runtime = host_runtime(t, device)
            hello = runtime.hello()
            env = runtime.probe_environment()
            temps = env.get("temperatures_c") or {}
            facts = {"free_mb": _free_mb(t, workdir, timeout_s), "governor": env.get("governor"),
                     "max_temp_c": max(temps.values()) if temps else None}
        else:
            t.push([(str(agent_bundle()), "agent.pyz")], workdir)
            python = device.python if kind != "local" else "{python}"
            status, out, err = t.run([python, f"{workdir}/agent.pyz", "hello"], timeout_s)
            if status != 0:
                raise HwbehaveError(f"agent hello failed (exit {status}) with python {device.python!r}: "
                                    f"{(err or out).strip()[-300:]}")
            hello = json.loads(out.strip().splitlines()[-1])
            facts = _linux_facts(t, workdir, timeout_s)
        return DeviceCheck(device=device.name, ok=True, transport=kind, seconds=time.monotonic() - start,
                           os=hello.get("os"), arch=hello.get("arch"), python=hello.get("python"),
                           runtimes=dict(hello.get("runtimes") or {}), **facts)
    except (HwbehaveError, OSError, ValueError) as exc:
        return DeviceCheck(device=device.name, ok=False, transport=kind, seconds=time.monotonic() - start,
                           error=str(exc))
    finally:
        if workdir is not None and not device.keep_workdir:
            try:
                t.remove_workdir(workdir)
            except (HwbehaveError, OSError):
                pass
        t.close()
