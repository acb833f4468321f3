"""Farm plans: which sweeps run on which devices, and how the farm behaves when things fail.

A farm YAML is validated at load like a sweep (pydantic, unknown keys are errors with file
and line). Paths in it are relative to the farm file. Example::

    name: nightly
    results: ../results/farm        # root: <results>/<instance>/<device>/<job>/
    devices_dir: ../devices         # where device selectors are resolved
    jobs:
      - sweep: ../sweeps/quickstart.yaml
        devices: [local-cpu, "class:npu", "tag:rpi"]   # name, class:C, tag:T or "*"
        rounds: 3
    budget_min: 120                 # stop starting new work after this
    concurrency: 1                  # jobs at once per device (or {device: n, default: n})
    retry: {attempts: 3, backoff_s: 10, backoff_factor: 2, max_backoff_s: 600}
    quarantine_after: 3             # consecutive failures before a device is benched
    prepare: {governor: performance, cooldown: {below_c: 65, max_wait_s: 300}}
    drift: {every: 20, tolerance: 0.05, retries: 1}
    labgrid: {coordinator: 127.0.0.1:20408, wait: true, timeout_s: 600}

Loading resolves every (job, device) pair into a :class:`FarmTask` with its sweep and
device already loaded, so a run starts only from a plan that is entirely valid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from suite.devices.config import DEVICE_CLASSES, Device, load_device
from suite.errors import EXIT_BUSY as ERRORS_EXIT_BUSY
from suite.errors import ConfigError
from suite.locks import default_lock_dir
from suite.paths import MAX_SEED, SafeName
from suite.sweep.expand import Sweep, load_sweep
from suite.sweep.schema import MAX_ROUNDS
from suite.yamlfile import YamlDocument, load_yaml, validation_error

#: Exit codes of ``hwbehave farm run`` (a scheduler can act on them; docs/farm.md).
EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_INCOMPLETE = 3
EXIT_BUSY = ERRORS_EXIT_BUSY  # 75, EX_TEMPFAIL from sysexits.h: "try again later" (as a busy `hwbehave run`)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrySpec(_Spec):
    """Retries of one job after a transient failure (device lost, connect refused)."""

    attempts: int = Field(default=3, ge=1)
    backoff_s: float = Field(default=10.0, ge=0)
    backoff_factor: float = Field(default=2.0, ge=1)
    max_backoff_s: float = Field(default=600.0, ge=0)

    def delay_s(self, failure: int) -> float:
        """Pause before retry number ``failure`` (1-based): exponential, capped."""
        return min(self.max_backoff_s, self.backoff_s * self.backoff_factor ** max(0, failure - 1))


class CooldownSpec(_Spec):
    """Wait until every thermal zone reads below ``below_c`` (at most ``max_wait_s``), then ``pause_s``."""

    below_c: float | None = Field(default=None, gt=0)
    max_wait_s: float = Field(default=300.0, ge=0)
    pause_s: float = Field(default=0.0, ge=0)
    poll_s: float = Field(default=2.0, gt=0)


class PrepareOverride(_Spec):
    """Per-device changes to :class:`PrepareSpec` (unset fields keep the farm's value)."""

    governor: str | None = None
    frequency: Literal["max", "min"] | int | None = None
    irq_affinity: bool | None = None
    stop_services: list[str] | None = None
    cooldown: CooldownSpec | None = None


class PrepareSpec(_Spec):
    """Device preparation (see :mod:`suite.farm.prepare`); every op is off unless set."""

    governor: str | None = None
    frequency: Literal["max", "min"] | int | None = None
    irq_affinity: bool = False
    stop_services: list[str] = Field(default_factory=list)
    run_device_commands: bool = True
    cooldown: CooldownSpec = Field(default_factory=CooldownSpec)
    sysfs_root: str = "/"
    per_device: dict[str, PrepareOverride] = Field(default_factory=dict)


class DriftSpec(_Spec):
    """Sentinel re-measurement: one point re-measured every ``every`` points."""

    every: int = Field(ge=1)
    tolerance: float = Field(default=0.05, ge=0)
    retries: int = Field(default=1, ge=0)
    cooldown: CooldownSpec = Field(default_factory=lambda: CooldownSpec(pause_s=5.0))


class LabgridSpec(_Spec):
    """The labgrid coordinator for devices whose ssh transport names a ``labgrid_place``."""

    coordinator: str = "127.0.0.1:20408"
    wait: bool = True
    timeout_s: float = Field(default=600.0, gt=0)
    poll_s: float = Field(default=5.0, gt=0)


class JobSpec(_Spec):
    """Sweeps × device selectors."""

    name: SafeName | None = None  # a run directory: <results>/<instance>/<device>/<job>
    sweep: str | None = None
    sweeps: list[str] | None = None
    devices: list[str] = Field(min_length=1)
    rounds: int | None = Field(default=None, ge=1, le=MAX_ROUNDS)
    repeat: Any = None  # renamed to ``rounds``: a located error at load
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)


class FarmSpec(_Spec):
    """The top level of a farm file."""

    name: SafeName
    description: str = ""
    results: str = "results/farm"
    devices_dir: str = "devices"
    lock_dir: str | None = None
    cache: str | None = None
    jobs: list[JobSpec] = Field(min_length=1)
    budget_min: float | None = Field(default=None, gt=0)
    concurrency: int | dict[str, int] = 1  # each at least 1 (checked in load_farm, where the line is known)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    quarantine_after: int = Field(default=3, ge=1)
    prepare: PrepareSpec = Field(default_factory=PrepareSpec)
    drift: DriftSpec | None = None
    labgrid: LabgridSpec = Field(default_factory=LabgridSpec)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)



@dataclass(frozen=True)
class FarmTask:
    """One (job, device) pair: one run directory per instance."""

    job: str
    sweep: Sweep
    sweep_path: str
    device: Device
    device_path: str
    rounds: int | None
    seed: int

    @property
    def key(self) -> str:
        return f"{self.device.name}/{self.job}"


@dataclass(frozen=True)
class Farm:
    """A validated farm: settings plus every task, grouped per device in file order."""

    name: str
    file: str
    spec: FarmSpec
    results_root: Path
    lock_dir: Path
    cache_dir: Path | None
    tasks: tuple[FarmTask, ...]
    devices: dict[str, Device] = field(default_factory=dict)

    def tasks_for(self, device: str) -> list[FarmTask]:
        return [t for t in self.tasks if t.device.name == device]

    def concurrency_for(self, device: str) -> int:
        c = self.spec.concurrency
        if isinstance(c, int):
            return max(1, c)
        return max(1, c.get(device, c.get("default", 1)))

    def prepare_for(self, device: str) -> PrepareSpec:
        """The farm's prepare settings with the device's overrides applied."""
        base = self.spec.prepare
        over = base.per_device.get(device)
        if over is None:
            return base
        changes = {k: v for k, v in over.model_dump(exclude_unset=True).items() if v is not None}
        if "cooldown" in changes:
            changes["cooldown"] = CooldownSpec(**changes["cooldown"])
        return base.model_copy(update=changes)


def _is_file(path: Path) -> bool:
    try:  # a name too long for the filesystem raises instead of answering False
        return path.is_file()
    except OSError:
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _rel(base: Path, p: str) -> Path:
    path = Path(os.path.expanduser(p))
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def load_farm(path: str | Path, *, text: str | None = None) -> Farm:
    """Read, validate and resolve a farm file (every sweep and device loaded)."""
    doc = load_yaml(path, text=text)
    try:
        spec = FarmSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise validation_error(doc, exc, FarmSpec) from None
    base = Path(path).resolve().parent
    devices_dir = _rel(base, spec.devices_dir)
    catalogue = _device_catalogue(doc, devices_dir)
    tasks: list[FarmTask] = []
    used_names: set[tuple[str, str]] = set()
    sweeps_cache: dict[Path, Sweep] = {}
    for ji, job in enumerate(spec.jobs):
        if job.repeat is not None:
            raise doc.error("repeat is now rounds (rounds are the unit of replication: each is a fresh, "
                            "re-shuffled session)", ("jobs", ji, "repeat"), field=f"jobs.{ji}.repeat",
                            value=job.repeat, expected=f"rounds: {job.repeat}")
        sweep_files = ([job.sweep] if job.sweep else []) + list(job.sweeps or [])
        if not sweep_files:
            raise doc.error("a job needs sweep or sweeps", ("jobs", ji), field=f"jobs.{ji}",
                            expected="sweep: FILE or sweeps: [FILE, ...]")
        if job.sweep and job.sweeps:
            raise doc.error("a job has either sweep or sweeps, not both", ("jobs", ji, "sweeps"),
                            field=f"jobs.{ji}", expected="one of them")
        devices = _select(doc, ji, job.devices, catalogue)
        for si, sweep_file in enumerate(sweep_files):
            sp = _rel(base, sweep_file)
            key_path = ("jobs", ji, "sweep") if job.sweep else ("jobs", ji, "sweeps", si)
            if sp not in sweeps_cache:
                if not _is_file(sp):
                    raise doc.error("sweep file not found", key_path, field=".".join(map(str, key_path)),
                                    value=sweep_file, expected=f"a file relative to {base}")
                sweeps_cache[sp] = load_sweep(sp)
            sweep = sweeps_cache[sp]
            job_name = job.name or sweep.name
            if len(sweep_files) > 1 and job.name:
                job_name = f"{job.name}-{sweep.name}"
            for dev, dev_path in devices:
                if (dev.name, job_name) in used_names:
                    raise doc.error("two jobs give the same run directory on one device", key_path,
                                    field=f"jobs.{ji}.name", value=job_name,
                                    expected="a distinct name: for each job that repeats a sweep")
                used_names.add((dev.name, job_name))
                tasks.append(FarmTask(job=job_name, sweep=sweep, sweep_path=str(sp), device=dev,
                                      device_path=dev_path, rounds=job.rounds,
                                      seed=job.seed if job.seed is not None else (sweep.seed or spec.seed)))
    all_devices = {t.device.name: t.device for t in tasks}
    for name in spec.prepare.per_device:
        if name not in all_devices:
            raise doc.error("prepare override for a device that no job uses", ("prepare", "per_device", name),
                            field="prepare.per_device", value=name,
                            expected="one of " + ", ".join(sorted(all_devices)))
    if isinstance(spec.concurrency, int) and spec.concurrency < 1:
        raise doc.error("concurrency must be at least 1", ("concurrency",), field="concurrency",
                        value=spec.concurrency, expected=">= 1")
    if isinstance(spec.concurrency, dict):
        for name, n in spec.concurrency.items():
            if name != "default" and name not in all_devices:
                raise doc.error("concurrency for a device that no job uses", ("concurrency", name),
                                field="concurrency", value=name,
                                expected="default or one of " + ", ".join(sorted(all_devices)))
            if n < 1:
                raise doc.error("concurrency must be at least 1", ("concurrency", name), field=f"concurrency.{name}",
                                value=n, expected=">= 1")
    return Farm(name=spec.name, file=str(path), spec=spec, results_root=_rel(base, spec.results),
                lock_dir=_rel(base, spec.lock_dir) if spec.lock_dir else default_lock_dir(),
                cache_dir=_rel(base, spec.cache) if spec.cache else None, tasks=tuple(tasks),
                devices=all_devices)


def _device_catalogue(doc: YamlDocument, devices_dir: Path) -> dict[str, tuple[Device, str]]:
    if not _is_dir(devices_dir):
        raise doc.error("devices folder not found", ("devices_dir",), field="devices_dir", value=str(devices_dir),
                        expected="a folder of device YAML files")
    out: dict[str, tuple[Device, str]] = {}
    for f in sorted(devices_dir.glob("*.y*ml")):
        dev = load_device(f)
        if dev.name in out:
            raise ConfigError("two device files define the same name", file=str(f), field="name", value=dev.name,
                              expected=f"a name other than the one in {out[dev.name][1]}")
        out[dev.name] = (dev, str(f))
    return out


def _select(doc: YamlDocument, ji: int, selectors: list[str],
            catalogue: dict[str, tuple[Device, str]]) -> list[tuple[Device, str]]:
    """Devices matched by ``name``, ``class:C``, ``tag:T`` or ``*``; example devices only by name."""
    picked: dict[str, tuple[Device, str]] = {}
    for i, sel in enumerate(selectors):
        path = ("jobs", ji, "devices", i)
        if sel == "*":
            found = [v for v in catalogue.values() if not v[0].example]
        elif sel.startswith("class:"):
            cls = sel.split(":", 1)[1]
            if cls not in DEVICE_CLASSES:
                raise doc.error("unknown device class", path, field=f"jobs.{ji}.devices", value=sel,
                                expected="class: followed by one of " + ", ".join(DEVICE_CLASSES))
            found = [v for v in catalogue.values() if v[0].device_class == cls and not v[0].example]
        elif sel.startswith("tag:"):
            tag = sel.split(":", 1)[1]
            found = [v for v in catalogue.values() if tag in v[0].tags and not v[0].example]
        else:
            if sel not in catalogue:
                raise doc.error("unknown device", path, field=f"jobs.{ji}.devices", value=sel,
                                expected="a device name (" + (", ".join(sorted(catalogue)) or "none found")
                                + "), class:C, tag:T or *")
            found = [catalogue[sel]]
        if not found:
            raise doc.error("device selector matches no device", path, field=f"jobs.{ji}.devices", value=sel,
                            expected="a selector matching at least one non-example device")
        for dev, p in found:
            picked.setdefault(dev.name, (dev, p))
    return list(picked.values())


def describe(farm: Farm) -> dict[str, Any]:
    """A plain summary of the plan (for ``farm plan`` and the summary file)."""
    return {"name": farm.name, "file": farm.file, "results": str(farm.results_root),
            "devices": {d: [t.job for t in farm.tasks_for(d)] for d in farm.devices}}
