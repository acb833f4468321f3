"""Device definitions: pure data from ``devices/*.yaml``, validated at load.

A device names its class (cpu, gpu, dsp, vpu, edgetpu, kpu, npu), how to reach it
(``transport``), what runs the models (``runtime``), which artifact ``formats`` it
accepts, and host-side details (workdir, python, env, timeouts, prepare commands).
Unknown keys are errors with file and line, and so is a device no backend can serve:
an unknown runtime, ``formats`` its runtime does not run, a runtime that needs the agent
on a transport that cannot start it (adb), a ``toolchain:`` block of no toolchain (the
names come from the backend registry, :mod:`suite.backends.backend`).

The models here are ``*Settings``: what a YAML file says. The classes that act on them
have the plain names (:class:`suite.devices.transports.ssh.SshTransport` connects with an
:class:`SshTransportSettings`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from suite.backends.backend import Backend, all_backends, backend_for, backends_of_runtime, toolchain_names
from suite.errors import ConfigError
from suite.paths import PathText
from suite.yamlfile import load_yaml, validation_error

DEVICE_CLASSES = ("cpu", "gpu", "dsp", "vpu", "edgetpu", "kpu", "npu")


# ---- checks of values that crash later if accepted (issue 12) -----------------------------------
#: Highest CPU number accepted in ``runtime.affinity`` (Linux's NR_CPUS maximum).
MAX_CPU = 8191


def _cpu_list(spec: str | list[int]) -> str | list[int]:
    """``affinity``: a list of CPU numbers, ``"0-3,6"`` or a taskset mask ``"0x5"``, naming at least one CPU."""
    import re

    if isinstance(spec, list):
        cpus = spec
    elif re.fullmatch(r"0[xX][0-9a-fA-F]{1,2048}", spec.strip()):
        mask = int(spec.strip(), 16)
        cpus = [mask.bit_length() - 1] if mask else []
    elif re.fullmatch(r"\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*", spec.strip()):
        cpus = []
        for part in spec.strip().split(","):
            a, _, b = part.partition("-")
            if b and int(b) < int(a):
                raise ValueError(f"affinity range {part!r} runs backwards")
            cpus.append(int(b or a))
    else:
        raise ValueError(f"affinity {spec!r} is not a CPU list: expected e.g. [0, 1], \"0-3,6\" or a mask \"0xf0\"")
    if not cpus:
        raise ValueError(f"affinity {spec!r} names no CPU")
    if any(c < 0 or c > MAX_CPU for c in cpus):
        raise ValueError(f"affinity {spec!r} names a CPU outside 0-{MAX_CPU}")
    return spec


def _env_names(env: dict[str, str]) -> dict[str, str]:
    """Environment variable names are shell identifiers (they reach ``env NAME=value`` on the device)."""
    import re

    from suite.paths import no_control_characters

    for key, value in env.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValueError(f"environment variable name {key!r} is not an identifier (letters, digits, _)")
        no_control_characters(value)
    return env


def _workdir(path: str) -> str:
    if not path.strip() or path.strip() in ("/", "~", "."):
        raise ValueError(f"workdir {path!r} would put session directories at the top of a filesystem or home; "
                         "name a folder such as /tmp/hwbehave")
    return path


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalTransportSettings(_Data):
    """Run the agent on this machine (a child process, so a crash cannot kill the run)."""

    #: Whether the transport can start the Python agent on the device.
    runs_agent: ClassVar[bool] = True
    kind: Literal["local"] = "local"


class SshTransportSettings(_Data):
    """Reach a Linux host over SSH (paramiko). ``host`` may be a ``~/.ssh/config`` alias."""

    runs_agent: ClassVar[bool] = True
    kind: Literal["ssh"] = "ssh"
    host: PathText | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    user: PathText | None = None
    key_file: PathText | None = None
    ssh_config: PathText | None = "~/.ssh/config"
    known_hosts: PathText | None = "~/.ssh/known_hosts"
    host_key_policy: Literal["strict", "accept-new"] = "strict"
    proxy_jump: PathText | None = None
    allow_agent: bool = True
    keepalive_s: float = Field(default=15.0, ge=0)
    labgrid_place: str | None = None

    @model_validator(mode="after")
    def _host_or_place(self) -> SshTransportSettings:
        if not self.host and not self.labgrid_place:
            raise ValueError("an ssh transport needs host (an address or ~/.ssh/config alias) or labgrid_place "
                             "(the address then comes from the place's NetworkService)")
        return self


class AdbTransportSettings(_Data):
    """Reach an Android device through the adb server (no Python there: host-driven runtimes only)."""

    runs_agent: ClassVar[bool] = False
    kind: Literal["adb"] = "adb"
    serial: str | None = None
    adb_host: str = "127.0.0.1"
    adb_port: int = Field(default=5037, ge=1, le=65535)


TransportSettings = Annotated[LocalTransportSettings | SshTransportSettings | AdbTransportSettings,
                              Field(discriminator="kind")]


class RuntimeSettings(_Data):
    """Which runtime runs the models (a backend's ``runtime``), with its common and specific options."""

    name: str = "onnxruntime"
    threads: int | None = Field(default=None, ge=1, le=MAX_CPU + 1)
    affinity: Annotated[str | list[int], AfterValidator(_cpu_list)] | None = None
    providers: list[str | list[Any]] | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        backends_of_runtime(name)  # ConfigError listing the runtimes of the registry
        return name

    def adapter_options(self) -> dict[str, Any]:
        """Options passed to the agent's adapter (common fields merged over ``options``)."""
        out = dict(self.options)
        for key in ("threads", "affinity", "providers"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class TimeoutSettings(_Data):
    """Host-side limits: connecting, one remote command, one point (overrides the protocol's)."""
    connect_s: float = Field(default=10.0, gt=0)
    command_s: float = Field(default=60.0, gt=0)
    point_s: float | None = Field(default=None, gt=0)


class PeakSettings(_Data):
    """Device peaks for roofline efficiency (optional; else measured by a calibration sweep)."""

    gflops: float | None = Field(default=None, gt=0)
    gbps: float | None = Field(default=None, gt=0)


class Device(_Data):
    """One device definition."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    class_: Literal["cpu", "gpu", "dsp", "vpu", "edgetpu", "kpu", "npu"] = Field(alias="class")
    description: str = ""
    example: bool = False
    tags: list[str] = Field(default_factory=list)
    transport: TransportSettings = Field(default_factory=LocalTransportSettings)
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    formats: list[str] = Field(default_factory=lambda: ["onnx"], min_length=1)
    workdir: Annotated[PathText, AfterValidator(_workdir)] = "/tmp/hwbehave"
    keep_workdir: bool = False
    python: PathText = "python3"
    env: Annotated[dict[str, str], AfterValidator(_env_names)] = Field(default_factory=dict)
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)
    prepare: list[str] = Field(default_factory=list)
    stop_services: list[str] = Field(default_factory=list)
    peaks: PeakSettings = Field(default_factory=PeakSettings)
    toolchain: dict[str, Any] = Field(default_factory=dict)
    #: Protocol and round settings this device needs, applied over the sweep's ``measure:`` block (the
    #: command line still wins): an emulated accelerator, whose timings are no latency, needs few samples.
    measure: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _served_by_a_backend(self) -> Device:
        """The runtime runs one of ``formats``, over a transport that can start it; toolchain keys exist."""
        backend = backend_for(self.runtime.name, self.formats)  # ConfigError at formats
        if backend.in_agent and not self.transport.runs_agent:
            driven = sorted({b.runtime for b in all_backends() if not b.in_agent})
            raise ConfigError(f"runtime {self.runtime.name} runs inside the hwbehave agent (Python on the device), "
                              f"which the {self.transport.kind} transport cannot start", field="runtime.name",
                              value=self.runtime.name, expected="a runtime the controller drives: " + ", ".join(driven))
        check_threads_fit(self.runtime.threads, self.runtime.affinity, field="runtime.threads")
        known = toolchain_names()
        for key in self.toolchain:
            if key not in known:
                raise ConfigError("unknown toolchain in the toolchain: block", field=f"toolchain.{key}", value=key,
                                  expected="one of " + ", ".join(known))
        _check_measure(self.measure)
        return self

    @property
    def device_class(self) -> str:
        return self.class_

    @property
    def backend(self) -> Backend:
        """The backend that serves this device (its runtime with the first format it runs)."""
        return backend_for(self.runtime.name, self.formats)


def check_threads_fit(threads: int | None, affinity: str | list[int] | None, *, field: str,
                      where: str = "runtime.affinity") -> None:
    """``threads`` inference threads must fit the CPUs ``affinity`` pins the runtime to.

    Two threads on one pinned core measure time slicing, not two-thread behaviour: a
    ``ConfigError`` at ``field`` (an affinity the agent cannot parse is left to the agent).
    """
    if not threads or affinity is None:
        return
    from suite.agent.worker import parse_cpu_list

    try:
        cpus = parse_cpu_list(affinity)
    except ValueError:
        return
    if cpus and threads > len(cpus):
        raise ConfigError(f"{threads} threads cannot run on the {len(cpus)} CPU(s) {where} pins the runtime to "
                          f"({affinity!r})", field=field, value=threads,
                          expected=f"at most {len(cpus)} thread(s), or an affinity with {threads} CPUs")


def _check_measure(measure: dict[str, Any]) -> None:
    """Keys of a device's ``measure:`` block are protocol or round settings, with valid values."""
    from dataclasses import fields

    from suite.agent.protocol import ProtocolSettings, RoundSettings

    for cls in (ProtocolSettings, RoundSettings):
        names = [f.name for f in fields(cls)]
        given = {k: v for k, v in measure.items() if k in names}
        try:
            cls(**{**cls().to_dict(), **given})
        except (TypeError, ValueError) as exc:
            bad = next((k for k in given if k in str(exc)), None)
            raise ConfigError(f"bad measure: setting: {exc}", field=f"measure.{bad}" if bad else "measure",
                              value=given.get(bad) if bad else given) from None
    known = [f.name for cls in (ProtocolSettings, RoundSettings) for f in fields(cls)]
    for key in measure:
        if key not in known:
            raise ConfigError("unknown key in the measure: block", field=f"measure.{key}", value=key,
                              expected="one of " + ", ".join(known))


def load_device(path: str | Path, *, text: str | None = None) -> Device:
    """Read and validate a device YAML file (located ``ConfigError`` on any problem)."""
    doc = load_yaml(path, text=text)
    try:
        return Device.model_validate(doc.data)
    except ValidationError as exc:
        raise validation_error(doc, exc, Device, owner_of=lambda loc: _transport_model(doc, loc),
                               drop=tuple(TRANSPORT_MODELS)) from None
    except ConfigError as exc:  # from the backend checks: place it at its field's line
        if exc.file:
            raise
        where = tuple(exc.field.split(".")) if exc.field else ()
        raise doc.error(exc.reason, where, field=exc.field, value=exc.value, expected=exc.expected) from None


#: Transport kind → its settings model (the discriminated union's members).
TRANSPORT_MODELS = {"local": LocalTransportSettings, "ssh": SshTransportSettings, "adb": AdbTransportSettings}


def _transport_model(doc: Any, loc: tuple[Any, ...]) -> Any:
    """The transport model an unknown ``transport.*`` key belongs to (by the file's ``kind``)."""
    if loc[:1] != ("transport",) or not isinstance(doc.data.get("transport"), dict):
        return None
    return TRANSPORT_MODELS.get(doc.data["transport"].get("kind", "local"))


def devices_dir() -> Path:
    """``$HWBEHAVE_DEVICES`` or ``devices/`` in the current directory (the first place names are looked up)."""
    from suite.locations import working_dir

    return working_dir("devices")


def resolve_device(name_or_path: str) -> Device:
    """A device by file path, or by name: working directory, user folder, then the bundled devices
    (:mod:`suite.locations`; a miss lists the names each place offers)."""
    from suite.locations import locate

    return load_device(locate("devices", name_or_path, field="--device").path)
