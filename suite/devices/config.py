"""Device definitions: pure data from ``devices/*.yaml``, validated at load.

A device names its class (cpu, gpu, dsp, vpu, edgetpu, kpu, npu), how to reach it
(``transport``), what runs the models (``runtime``), which artifact ``formats`` it
accepts, and host-side details (workdir, python, env, timeouts, prepare commands).
Unknown keys are errors with file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from suite.errors import ConfigError
from suite.yamlfile import load_yaml

DEVICE_CLASSES = ("cpu", "gpu", "dsp", "vpu", "edgetpu", "kpu", "npu")


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalTransport(_Data):
    """Run the agent on this machine (a child process, so a crash cannot kill the run)."""

    kind: Literal["local"] = "local"


class SshTransport(_Data):
    """Reach a Linux host over SSH (paramiko). ``host`` may be a ``~/.ssh/config`` alias."""

    kind: Literal["ssh"] = "ssh"
    host: str
    port: int | None = Field(default=None, ge=1, le=65535)
    user: str | None = None
    key_file: str | None = None
    ssh_config: str | None = "~/.ssh/config"
    known_hosts: str | None = "~/.ssh/known_hosts"
    host_key_policy: Literal["strict", "accept-new"] = "strict"
    proxy_jump: str | None = None
    allow_agent: bool = True
    keepalive_s: float = Field(default=15.0, ge=0)
    labgrid_place: str | None = None


class AdbTransport(_Data):
    """Reach an Android device through the adb server."""

    kind: Literal["adb"] = "adb"
    serial: str | None = None
    adb_host: str = "127.0.0.1"
    adb_port: int = Field(default=5037, ge=1, le=65535)


Transport = Annotated[LocalTransport | SshTransport | AdbTransport, Field(discriminator="kind")]


class RuntimeConfig(_Data):
    """Which runtime adapter runs the models, with its common and specific options."""

    name: str = "onnxruntime"
    threads: int | None = Field(default=None, ge=1)
    affinity: str | list[int] | None = None
    providers: list[str | list[Any]] | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    def adapter_options(self) -> dict[str, Any]:
        """Options passed to the agent's adapter (common fields merged over ``options``)."""
        out = dict(self.options)
        for key in ("threads", "affinity", "providers"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class Timeouts(_Data):
    connect_s: float = Field(default=10.0, gt=0)
    command_s: float = Field(default=60.0, gt=0)
    point_s: float | None = Field(default=None, gt=0)


class Peaks(_Data):
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
    transport: Transport = Field(default_factory=LocalTransport)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    formats: list[str] = Field(default_factory=lambda: ["onnx"], min_length=1)
    workdir: str = "/tmp/hwbehave"
    keep_workdir: bool = False
    python: str = "python3"
    env: dict[str, str] = Field(default_factory=dict)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    prepare: list[str] = Field(default_factory=list)
    stop_services: list[str] = Field(default_factory=list)
    peaks: Peaks = Field(default_factory=Peaks)
    toolchain: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def device_class(self) -> str:
        return self.class_


def load_device(path: str | Path, *, text: str | None = None) -> Device:
    """Read and validate a device YAML file (located ``ConfigError`` on any problem)."""
    from suite.sweep.expand import _model_at

    doc = load_yaml(path, text=text)
    try:
        return Device.model_validate(doc.data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x in ("local", "ssh", "adb")))
        field_name = ".".join(map(str, loc))
        if err["type"] == "extra_forbidden":
            owner = _model_at(Device, loc)
            if loc[:1] == ("transport",):
                kind = doc.data.get("transport", {}).get("kind", "local")
                owner = {"local": LocalTransport, "ssh": SshTransport, "adb": AdbTransport}.get(kind, owner)
            allowed = sorted(f.alias or n for n, f in owner.model_fields.items()) if owner else None
            raise doc.error("unknown key", loc, field=field_name, value=loc[-1],
                            expected="one of " + ", ".join(allowed) if allowed else None) from None
        if err["type"] == "missing":
            raise doc.error("missing required key", loc[:-1], field=field_name,
                            expected=f"a value for {loc[-1]}") from None
        if err["type"] in ("union_tag_invalid", "literal_error"):
            ctx = err.get("ctx") or {}
            raise doc.error(err["msg"], loc, field=field_name, value=err.get("input") if not isinstance(
                err.get("input"), dict) else (err.get("input") or {}).get("kind"),
                expected=str(ctx.get("expected_tags") or ctx.get("expected"))) from None
        value = err.get("input")
        raise doc.error(err["msg"], loc, field=field_name,
                        value=value if not isinstance(value, (dict, list)) else None) from None


def devices_dir() -> Path:
    """``$HWBEHAVE_DEVICES`` or ``devices/`` in the current directory."""
    import os

    return Path(os.environ.get("HWBEHAVE_DEVICES", "devices"))


def resolve_device(name_or_path: str) -> Device:
    """A device by file path, or by name from ``devices/<name>.yaml``."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return load_device(p)
    candidate = devices_dir() / f"{name_or_path}.yaml"
    if candidate.exists():
        return load_device(candidate)
    known = sorted(f.stem for f in devices_dir().glob("*.yaml")) if devices_dir().exists() else []
    raise ConfigError(f"unknown device {name_or_path!r}", field="--device", value=name_or_path,
                      expected="a device YAML path or one of " + (", ".join(known) or "(no devices/ folder here)"))
