"""Device preparation before measuring: small ops with ``available() / show() / apply()``.

Modelled on pyperf's ``system tune``: each op says whether it applies to this device
(``available``, with a reason when not), what the state is now (``show``), and changes it
(``apply``), remembering the old state so :meth:`PrepareOp.restore` can put it back when
the farm is done with the device. A failed op (say, no permission to write sysfs) is
recorded, not raised: the run goes on and the summary says what could not be set.

Ops read and write through a :class:`Host`: :class:`LocalHost` for local devices (with a
``root`` prefix, so tests point it at a fake sysfs tree) and :class:`TransportHost` for
remote ones (every command through the transport's ``run()``, every argument quoted).
"""

from __future__ import annotations

import shlex
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite.devices.config import Device
from suite.farm.config import CooldownSpec, PrepareSpec

CPU_DIR = "sys/devices/system/cpu"
THERMAL_DIR = "sys/class/thermal"
IRQ_DIR = "proc/irq"


# -- where ops act --------------------------------------------------------------------------
class Host(ABC):
    """File and command access to the device (paths are absolute, from its ``/``)."""

    @abstractmethod
    def read(self, path: str) -> str | None:
        """File content stripped, or ``None`` when unreadable."""

    @abstractmethod
    def write(self, path: str, value: str) -> None:
        """Write ``value``; raise ``PermissionError``/``OSError`` on failure."""

    @abstractmethod
    def listdir(self, path: str) -> list[str]:
        """Names in a folder (empty when it does not exist)."""

    @abstractmethod
    def run(self, argv: list[str], timeout_s: float = 60.0) -> tuple[int, str, str]:
        """Run a command; ``(exit status, stdout, stderr)``."""


class LocalHost(Host):
    """This machine, with every path under ``root`` (``/`` normally; a temp dir in tests)."""

    def __init__(self, root: str | Path = "/", runner: Callable[..., tuple[int, str, str]] | None = None) -> None:
        self.root = Path(root)
        self._runner = runner

    def _p(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def read(self, path: str) -> str | None:
        try:
            return self._p(path).read_text().strip()
        except (OSError, UnicodeDecodeError):
            return None

    def write(self, path: str, value: str) -> None:
        target = self._p(path)
        if not target.exists():
            raise FileNotFoundError(f"{path}: no such file")
        with open(target, "w") as f:
            f.write(value)

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(p.name for p in self._p(path).iterdir())
        except OSError:
            return []

    def run(self, argv: list[str], timeout_s: float = 60.0) -> tuple[int, str, str]:
        if self._runner is not None:
            return self._runner(argv, timeout_s)
        import subprocess

        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return 124, "", f"timed out after {timeout_s} s"
        except OSError as exc:
            return 127, "", str(exc)
        return p.returncode, p.stdout, p.stderr


class TransportHost(Host):
    """A remote device through its transport's ``run()`` (``cat``, ``ls``, ``sh -c 'printf > f'``)."""

    def __init__(self, transport: Any, timeout_s: float = 30.0) -> None:
        self.transport = transport
        self.timeout_s = timeout_s

    def read(self, path: str) -> str | None:
        rc, out, _ = self.transport.run(["cat", path], self.timeout_s)
        return out.strip() if rc == 0 else None

    def write(self, path: str, value: str) -> None:
        script = f"printf %s {shlex.quote(value)} > {shlex.quote(path)}"
        rc, _, err = self.transport.run(["sh", "-c", script], self.timeout_s)
        if rc != 0:
            raise PermissionError(f"{path}: {err.strip() or f'exit status {rc}'}")

    def listdir(self, path: str) -> list[str]:
        rc, out, _ = self.transport.run(["ls", "-1", path], self.timeout_s)
        return sorted(out.split()) if rc == 0 else []

    def run(self, argv: list[str], timeout_s: float = 60.0) -> tuple[int, str, str]:
        return self.transport.run(argv, timeout_s)


# -- ops ------------------------------------------------------------------------------------
@dataclass
class OpResult:
    """What one op found and did (plain data for the farm summary)."""

    op: str
    available: bool
    reason: str = ""
    before: Any = None
    after: Any = None
    applied: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}


class PrepareOp(ABC):
    """One preparation step."""

    name = "op"

    def __init__(self, host: Host) -> None:
        self.host = host

    @abstractmethod
    def available(self) -> tuple[bool, str]:
        """Whether the op applies here, and why not when it does not."""

    @abstractmethod
    def show(self) -> Any:
        """The current state (JSON-able)."""

    @abstractmethod
    def apply(self) -> None:
        """Change the state (raise ``OSError`` when not permitted)."""

    def restore(self) -> None:
        """Put back what :meth:`apply` changed (default: nothing to undo)."""
        return None


def cpu_ids(host: Host) -> list[int]:
    """CPU numbers present under ``<root>/sys/devices/system/cpu``."""
    return sorted(int(n[3:]) for n in host.listdir(CPU_DIR) if n.startswith("cpu") and n[3:].isdigit())


def parse_cpu_list(spec: str | list[int] | None) -> list[int] | None:
    """CPUs of a runtime ``affinity``: a list, ``"0-3,6"``, or a taskset mask ``"0x5"``."""
    if spec is None:
        return None
    if isinstance(spec, list):
        return sorted({int(c) for c in spec})
    text = str(spec).strip()
    if text.lower().startswith("0x"):
        mask = int(text, 16)
        return [i for i in range(mask.bit_length()) if mask >> i & 1]
    out: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            out.update(range(int(a), int(b) + 1))
        elif part.strip():
            out.add(int(part))
    return sorted(out)


class _PerCpuFile(PrepareOp):
    """An op that sets one cpufreq file on each benchmark CPU."""

    def __init__(self, host: Host, cpus: list[int] | None) -> None:
        super().__init__(host)
        self.cpus = cpus
        self._saved: dict[str, str] = {}

    def _cpus(self) -> list[int]:
        present = cpu_ids(self.host)
        return [c for c in present if self.cpus is None or c in self.cpus]

    def _path(self, cpu: int, leaf: str) -> str:
        return f"/{CPU_DIR}/cpu{cpu}/cpufreq/{leaf}"

    def _write_saving(self, path: str, value: str) -> None:
        old = self.host.read(path)
        if old is not None and path not in self._saved:
            self._saved[path] = old
        self.host.write(path, value)

    def restore(self) -> None:
        for path, value in reversed(list(self._saved.items())):
            try:
                self.host.write(path, value)
            except OSError:
                pass
        self._saved.clear()


class CpuGovernor(_PerCpuFile):
    """Set the cpufreq governor (``performance``: no ramp-up delay inside a measurement)."""

    name = "cpu_governor"

    def __init__(self, host: Host, governor: str, cpus: list[int] | None = None) -> None:
        super().__init__(host, cpus)
        self.governor = governor

    def available(self) -> tuple[bool, str]:
        cpus = [c for c in self._cpus() if self.host.read(self._path(c, "scaling_governor")) is not None]
        if not cpus:
            return False, "no cpufreq scaling_governor (VM or cpufreq disabled)"
        offered = (self.host.read(self._path(cpus[0], "scaling_available_governors")) or "").split()
        if offered and self.governor not in offered:
            return False, f"governor {self.governor} not offered (available: {' '.join(offered)})"
        return True, ""

    def show(self) -> dict[str, str | None]:
        return {f"cpu{c}": self.host.read(self._path(c, "scaling_governor")) for c in self._cpus()}

    def apply(self) -> None:
        for c in self._cpus():
            self._write_saving(self._path(c, "scaling_governor"), self.governor)


class CpuFrequency(_PerCpuFile):
    """Pin the frequency: ``scaling_min_freq = scaling_max_freq`` (``max``, ``min`` or MHz).

    Writes min and max in the order that never makes ``min > max`` on the way.
    """

    name = "cpu_frequency"

    def __init__(self, host: Host, target: str | int, cpus: list[int] | None = None) -> None:
        super().__init__(host, cpus)
        self.target = target

    def _target_khz(self, cpu: int) -> int | None:
        if isinstance(self.target, int):
            return self.target * 1000
        raw = self.host.read(self._path(cpu, f"cpuinfo_{self.target}_freq"))
        return int(raw) if raw and raw.isdigit() else None

    def available(self) -> tuple[bool, str]:
        cpus = [c for c in self._cpus() if self.host.read(self._path(c, "scaling_max_freq")) is not None]
        if not cpus:
            return False, "no cpufreq scaling_max_freq"
        if self._target_khz(cpus[0]) is None:
            return False, f"cannot read cpuinfo_{self.target}_freq"
        return True, ""

    def show(self) -> dict[str, Any]:
        return {f"cpu{c}": {"min_khz": self.host.read(self._path(c, "scaling_min_freq")),
                            "max_khz": self.host.read(self._path(c, "scaling_max_freq")),
                            "cur_khz": self.host.read(self._path(c, "scaling_cur_freq"))} for c in self._cpus()}

    def apply(self) -> None:
        for c in self._cpus():
            khz = self._target_khz(c)
            if khz is None:
                continue
            cur_max = int(self.host.read(self._path(c, "scaling_max_freq")) or 0)
            order = ("scaling_max_freq", "scaling_min_freq") if khz >= cur_max else \
                ("scaling_min_freq", "scaling_max_freq")
            for leaf in order:
                self._write_saving(self._path(c, leaf), str(khz))


class IrqAffinity(PrepareOp):
    """Move interrupts off the benchmark CPUs (the runtime's ``affinity``) onto the others."""

    name = "irq_affinity"

    def __init__(self, host: Host, bench_cpus: list[int] | None) -> None:
        super().__init__(host)
        self.bench_cpus = bench_cpus
        self._saved: dict[str, str] = {}

    def _others(self) -> list[int]:
        return [c for c in cpu_ids(self.host) if c not in (self.bench_cpus or [])]

    def _irqs(self) -> list[str]:
        return [n for n in self.host.listdir(f"/{IRQ_DIR}") if n.isdigit()]

    def available(self) -> tuple[bool, str]:
        if not self.bench_cpus:
            return False, "the device runtime sets no affinity: no CPUs to keep free of interrupts"
        if not self._others():
            return False, "every CPU is a benchmark CPU"
        if not self._irqs():
            return False, f"no /{IRQ_DIR}"
        return True, ""

    def show(self) -> dict[str, str | None]:
        return {irq: self.host.read(f"/{IRQ_DIR}/{irq}/smp_affinity_list") for irq in self._irqs()}

    def apply(self) -> None:
        others = ",".join(map(str, self._others()))
        failed = []
        for irq in self._irqs():
            path = f"/{IRQ_DIR}/{irq}/smp_affinity_list"
            old = self.host.read(path)
            try:
                self.host.write(path, others)
                if old is not None:
                    self._saved[path] = old
            except OSError:
                failed.append(irq)  # per-CPU timer IRQs refuse; that is expected
        if failed and len(failed) == len(self._irqs()):
            raise PermissionError("no IRQ affinity could be changed")

    def restore(self) -> None:
        for path, value in self._saved.items():
            try:
                self.host.write(path, value)
            except OSError:
                pass
        self._saved.clear()


class StopServices(PrepareOp):
    """Stop background services (``systemctl stop``) that steal CPU time or reset clocks."""

    name = "stop_services"

    def __init__(self, host: Host, services: list[str]) -> None:
        super().__init__(host)
        self.services = services
        self._stopped: list[str] = []

    def available(self) -> tuple[bool, str]:
        if not self.services:
            return False, "no services listed"
        rc, _, _ = self.host.run(["systemctl", "--version"], 10)
        return (True, "") if rc == 0 else (False, "no systemctl on the device")

    def _active(self, service: str) -> bool:
        rc, out, _ = self.host.run(["systemctl", "is-active", service], 10)
        return rc == 0 and out.strip() == "active"

    def show(self) -> dict[str, bool]:
        return {s: self._active(s) for s in self.services}

    def apply(self) -> None:
        errors = []
        for s in self.services:
            if not self._active(s):
                continue
            rc, _, err = self.host.run(["systemctl", "stop", s], 60)
            if rc == 0:
                self._stopped.append(s)
            else:
                errors.append(f"{s}: {err.strip() or rc}")
        if errors:
            raise PermissionError("; ".join(errors))

    def restore(self) -> None:
        for s in reversed(self._stopped):
            self.host.run(["systemctl", "start", s], 60)
        self._stopped.clear()


class DeviceCommands(PrepareOp):
    """The device YAML's ``prepare:`` commands, each run by ``sh -c`` as one quoted argument."""

    name = "device_commands"

    def __init__(self, host: Host, commands: list[str]) -> None:
        super().__init__(host)
        self.commands = commands

    def available(self) -> tuple[bool, str]:
        return (True, "") if self.commands else (False, "the device lists no prepare commands")

    def show(self) -> list[str]:
        return list(self.commands)

    def apply(self) -> None:
        for cmd in self.commands:
            rc, _, err = self.host.run(["sh", "-c", cmd], 120)
            if rc != 0:
                raise OSError(f"prepare command {cmd!r} failed ({rc}): {err.strip()[-300:]}")


def max_temperature_c(host: Host) -> float | None:
    """Hottest thermal zone in °C (millidegrees converted), ``None`` when none is readable."""
    temps = []
    for zone in host.listdir(f"/{THERMAL_DIR}"):
        if zone.startswith("thermal_zone"):
            raw = host.read(f"/{THERMAL_DIR}/{zone}/temp")
            if raw and raw.lstrip("-").isdigit():
                v = int(raw)
                temps.append(v / 1000.0 if abs(v) > 1000 else float(v))
    return max(temps) if temps else None


class Cooldown(PrepareOp):
    """Wait until the hottest thermal zone is below ``below_c`` (bounded), then pause ``pause_s``."""

    name = "cooldown"

    def __init__(self, host: Host, spec: CooldownSpec, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(host)
        self.spec = spec
        self.sleep = sleep
        self.clock = clock
        self.waited_s = 0.0

    def available(self) -> tuple[bool, str]:
        if self.spec.below_c is None and not self.spec.pause_s:
            return False, "no threshold and no pause set"
        if self.spec.below_c is not None and max_temperature_c(self.host) is None and not self.spec.pause_s:
            return False, "no readable thermal zone"
        return True, ""

    def show(self) -> dict[str, Any]:
        return {"max_temperature_c": max_temperature_c(self.host)}

    def apply(self) -> None:
        start = self.clock()
        if self.spec.below_c is not None:
            while True:
                t = max_temperature_c(self.host)
                if t is None or t < self.spec.below_c:
                    break
                if self.clock() - start >= self.spec.max_wait_s:
                    self.waited_s = self.clock() - start
                    raise TimeoutError(f"still {t:.1f} °C after {self.spec.max_wait_s:.0f} s "
                                       f"(threshold {self.spec.below_c:.1f} °C)")
                self.sleep(self.spec.poll_s)
        if self.spec.pause_s:
            self.sleep(self.spec.pause_s)
        self.waited_s = self.clock() - start


# -- the ordered list -----------------------------------------------------------------------
def prepare_ops(device: Device, spec: PrepareSpec, host: Host, *,
                sleep: Callable[[float], None] = time.sleep) -> list[PrepareOp]:
    """The ops for ``device`` in the order they must run.

    The order matters:

    1. the device's own ``prepare:`` commands first — they may load modules or mount what
       the later ops read;
    2. stop services before touching clocks: daemons such as power-profiles-daemon,
       thermald or ondemand scripts reset the governor after we set it;
    3. governor before frequency: the min/max limits are interpreted by the governor, and
       ``performance`` alone already pins to max on most boards;
    4. IRQ affinity after clocks, so nothing later moves interrupts back;
    5. cooldown last, right before the first batch: every step above takes time or heats
       the device, and the cool state is what the measurement must start from.
    """
    cpus = parse_cpu_list(device.runtime.affinity)
    ops: list[PrepareOp] = []
    if spec.run_device_commands and device.prepare:
        ops.append(DeviceCommands(host, list(device.prepare)))
    services = list(spec.stop_services) + list(getattr(device, "stop_services", None) or [])
    if services:
        ops.append(StopServices(host, services))
    if spec.governor:
        ops.append(CpuGovernor(host, spec.governor, cpus))
    if spec.frequency is not None:
        ops.append(CpuFrequency(host, spec.frequency, cpus))
    if spec.irq_affinity:
        ops.append(IrqAffinity(host, cpus))
    if spec.cooldown.below_c is not None or spec.cooldown.pause_s:
        ops.append(Cooldown(host, spec.cooldown, sleep=sleep))
    return ops


@dataclass
class Preparation:
    """Ops applied to one device; :meth:`restore` undoes them in reverse order."""

    ops: list[PrepareOp]
    results: list[OpResult] = field(default_factory=list)

    def apply(self) -> list[OpResult]:
        for op in self.ops:
            ok, reason = op.available()
            res = OpResult(op=op.name, available=ok, reason=reason)
            if ok:
                res.before = _safe_show(op)
                try:
                    op.apply()
                    res.applied = True
                except (OSError, TimeoutError) as exc:
                    res.error = f"{type(exc).__name__}: {exc}"
                res.after = _safe_show(op)
            self.results.append(res)
        return self.results

    def restore(self) -> None:
        for op in reversed(self.ops):
            try:
                op.restore()
            except OSError:
                pass


def _safe_show(op: PrepareOp) -> Any:
    try:
        return op.show()
    except OSError as exc:
        return f"unreadable: {exc}"
