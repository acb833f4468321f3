"""Running Vela, Arm's Ethos-U compiler (``ethos-u-vela``), on one int8 TFLite model.

Command (``python -m ethosu.vela`` of this interpreter unless the ``vela`` toolchain settings
name another ``python`` or a ``vela`` ``executable``)::

    vela M.tflite --accelerator-config ethos-u55-128 --config Arm/vela.ini
         --system-config Ethos_U55_High_End_Embedded --memory-mode Shared_Sram
         --optimise Performance --verbose-performance --output-dir D

Every setting that decides the estimate is explicit: without ``--config``/``--system-config``/
``--memory-mode`` Vela warns and silently picks a clock (500 MHz for U55). The defaults per
accelerator family (:data:`FAMILY_DEFAULTS`) are the ones Vela would pick, from its built-in
``Arm/vela.ini``, written out so the manifest and every row record them:

=========  ============================  ======================  ==========
family     system config                 memory mode             core clock
=========  ============================  ======================  ==========
U55        Ethos_U55_High_End_Embedded   Shared_Sram             500 MHz
U65        Ethos_U65_Client_Server       Dedicated_Sram_384KB    1 GHz
U85        Ethos_U85_SYS_DRAM_Mid        Dedicated_Sram_384KB    1 GHz
=========  ============================  ======================  ==========

Vela writes ``<name>_vela.tflite`` (the model one flashes to a board: NPU parts become one
``ethos-u`` custom op), ``<name>_summary_<system>.csv``, ``<name>_per-layer.csv`` and its
console output; :class:`VelaCompiler.compile` returns their paths and the log (parsing is
:mod:`.reports`). A failing or hung Vela is a result with ``failure`` set, never an exception.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite.backends.toolchain import ToolchainSettings, distribution_version
from suite.errors import ConfigError

DISTRIBUTION = "ethos-u-vela"
INSTALL_HINT = "pip install 'hwbehave[vela]' (ethos-u-vela, Arm's Ethos-U compiler, from PyPI)"
#: ``--accelerator-config`` values of Vela 5.2.
ACCELERATORS = ("ethos-u55-32", "ethos-u55-64", "ethos-u55-128", "ethos-u55-256", "ethos-u65-256",
                "ethos-u65-512", "ethos-u85-128", "ethos-u85-256", "ethos-u85-512", "ethos-u85-1024",
                "ethos-u85-2048")
#: The built-in configuration file of the ``ethos-u-vela`` package (resolved by Vela itself).
BUILTIN_CONFIG = "Arm/vela.ini"
#: Vela's own defaults for each family, made explicit (see the module docstring).
FAMILY_DEFAULTS = {
    "ethos-u55": ("Ethos_U55_High_End_Embedded", "Shared_Sram"),
    "ethos-u65": ("Ethos_U65_Client_Server", "Dedicated_Sram_384KB"),
    "ethos-u85": ("Ethos_U85_SYS_DRAM_Mid", "Dedicated_Sram_384KB"),
}
OPTIMISE = ("Performance", "Size")
DEFAULT_TIMEOUT_S = 300.0
#: Options of the device's ``toolchain: {vela: ...}`` block and their defaults (``None``: by family).
DEFAULTS: dict[str, Any] = {"accelerator_config": "ethos-u55-128", "config": BUILTIN_CONFIG,
                            "system_config": None, "memory_mode": None, "optimise": "Performance",
                            "args": [], "workers": 0}


def family(accelerator: str) -> str:
    """``ethos-u55`` of ``ethos-u55-128``."""
    return accelerator.rsplit("-", 1)[0]


def accelerator_label(accelerator: str) -> str:
    """``Ethos-U55-128`` of ``ethos-u55-128`` (for messages)."""
    return accelerator.replace("ethos-u", "Ethos-U")


@dataclass(frozen=True)
class VelaConfig:
    """Everything that decides what Vela compiles and estimates for one device."""

    accelerator: str
    config: str
    system_config: str
    memory_mode: str
    optimise: str = "Performance"
    extra_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.accelerator not in ACCELERATORS:
            raise ConfigError("unknown Ethos-U accelerator configuration", field="toolchain.vela.accelerator_config",
                              value=self.accelerator, expected="one of " + ", ".join(ACCELERATORS))
        if self.optimise not in OPTIMISE:
            raise ConfigError("unknown Vela optimisation strategy", field="toolchain.vela.optimise",
                              value=self.optimise, expected="one of " + ", ".join(OPTIMISE))
        for arg in self.extra_args:
            if not arg.startswith("--") or arg.split("=")[0] in _OWNED_FLAGS:
                raise ConfigError("extra Vela arguments are --flags this backend does not set itself",
                                  field="toolchain.vela.args", value=arg,
                                  expected="--name[=value], not one of " + ", ".join(sorted(_OWNED_FLAGS)))

    def args(self) -> list[str]:
        """Vela's command-line arguments for these settings (without model and output folder)."""
        return ["--accelerator-config", self.accelerator, "--config", self.config,
                "--system-config", self.system_config, "--memory-mode", self.memory_mode,
                "--optimise", self.optimise, *self.extra_args]

    def to_dict(self) -> dict[str, Any]:
        return {"accelerator_config": self.accelerator, "config": self.config, "system_config": self.system_config,
                "memory_mode": self.memory_mode, "optimise": self.optimise, "args": list(self.extra_args)}


_OWNED_FLAGS = frozenset({"--accelerator-config", "--config", "--system-config", "--memory-mode", "--optimise",
                          "--output-dir", "--output-format", "--verbose-performance"})


def config_from(settings: ToolchainSettings) -> VelaConfig:
    """The :class:`VelaConfig` of resolved ``vela`` settings (family defaults filled in, names checked)."""
    o = settings.options
    accelerator = str(o.get("accelerator_config") or DEFAULTS["accelerator_config"])
    system_default, memory_default = FAMILY_DEFAULTS.get(family(accelerator), (None, None))
    config = str(o.get("config") or BUILTIN_CONFIG)
    if config != BUILTIN_CONFIG:
        config = str(Path(config).expanduser().resolve())
    cfg = VelaConfig(accelerator=accelerator, config=config,
                     system_config=str(o.get("system_config") or system_default),
                     memory_mode=str(o.get("memory_mode") or memory_default),
                     optimise=str(o.get("optimise") or "Performance"),
                     extra_args=tuple(str(a) for a in o.get("args") or ()))
    check_sections(cfg, ini_path(cfg.config, settings))
    return cfg


def core_clock_hz(cfg: VelaConfig, settings: ToolchainSettings) -> float | None:
    """The NPU clock the system config sets (``core_clock`` of its ``.ini`` section), where readable."""
    ini = ini_path(cfg.config, settings)
    if ini is None or not ini.is_file():
        return None
    parser = configparser.ConfigParser()
    parser.read(ini)
    section = f"System_Config.{cfg.system_config}"
    try:
        return float(parser.get(section, "core_clock"))
    except (configparser.Error, ValueError):
        return None


def ini_path(config: str, settings: ToolchainSettings) -> Path | None:
    """The ``.ini`` file ``config`` names, where this process can read it (``None``: Vela will resolve it)."""
    if config != BUILTIN_CONFIG:
        return Path(config)
    if settings.python or settings.executable:
        return None  # another interpreter's package: Vela itself says if a section is missing
    spec = importlib.util.find_spec("ethosu")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "config_files" / BUILTIN_CONFIG


def check_sections(cfg: VelaConfig, ini: Path | None) -> None:
    """A system config or memory mode the ``.ini`` file lacks is a ``ConfigError`` listing the ones it has."""
    if ini is None:
        return
    if not ini.is_file():
        raise ConfigError("Vela configuration file not found", field="toolchain.vela.config", value=str(ini),
                          expected=f"an existing .ini file or {BUILTIN_CONFIG!r} (Vela's built-in one)")
    parser = configparser.ConfigParser()
    parser.read(ini)
    for kind, key, value in (("System_Config", "system_config", cfg.system_config),
                             ("Memory_Mode", "memory_mode", cfg.memory_mode)):
        names = sorted(s.split(".", 1)[1] for s in parser.sections() if s.startswith(kind + "."))
        if value not in names:
            raise ConfigError(f"{ini.name} has no [{kind}.{value}]", field=f"toolchain.vela.{key}", value=value,
                              expected="one of " + ", ".join(names))


@dataclass(frozen=True)
class VelaOutput:
    """One Vela run: the output files it wrote (``None`` where missing), its log and a failure."""

    model: Path | None
    summary_csv: Path | None
    per_layer_csv: Path | None
    log: str
    returncode: int | None
    failure: str | None = None
    command: list[str] = field(default_factory=list)


class VelaCompiler:
    """Runs Vela as a subprocess (crash-isolated; several may run at once)."""

    def __init__(self, config: VelaConfig, settings: ToolchainSettings) -> None:
        self.config = config
        self.settings = settings
        explicit = settings.timeout_s != 600.0  # resolve_settings' fill-in when no layer sets one
        self.timeout_s = settings.timeout_s if explicit else DEFAULT_TIMEOUT_S

    def launcher(self) -> list[str]:
        """How Vela is started: ``[python, -m, ethosu.vela]`` or ``[executable]``."""
        if self.settings.executable:
            return [self.settings.executable]
        return [self.settings.python or sys.executable, "-m", "ethosu.vela"]

    def available(self) -> bool:
        if self.settings.executable:
            return os.access(self.settings.executable, os.X_OK)
        if self.settings.python is None:
            return importlib.util.find_spec("ethosu") is not None and _has_vela()
        return self.version() is not None

    def version(self) -> str | None:
        """The ``ethos-u-vela`` version that will run (``None`` if it cannot run)."""
        if self.settings.executable:
            try:
                proc = subprocess.run([self.settings.executable, "--version"], capture_output=True, text=True,
                                      timeout=60, stdin=subprocess.DEVNULL)
            except (OSError, subprocess.TimeoutExpired):
                return None
            m = re.search(r"\d+\.\d+\.\d+\S*", proc.stdout + proc.stderr)
            return m.group(0) if proc.returncode == 0 and m else None
        if self.settings.python is None:
            from importlib import metadata

            try:
                return metadata.version(DISTRIBUTION)
            except metadata.PackageNotFoundError:
                return None
        return distribution_version(self.settings.python, DISTRIBUTION)

    def command(self, model: Path, out_dir: Path) -> list[str]:
        return [*self.launcher(), str(model), *self.config.args(), "--verbose-performance", "--output-dir",
                str(out_dir)]

    def compile(self, model: Path, out_dir: Path) -> VelaOutput:
        """Compile ``model`` into ``out_dir`` (created); a failure is ``VelaOutput.failure``."""
        from suite.backends.ethos_u.reports import parse_log

        out_dir.mkdir(parents=True, exist_ok=True)
        cmd = self.command(model, out_dir)
        env = {**os.environ, **self.settings.env}
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s, env=env,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            log = _text(exc.stdout) + _text(exc.stderr)
            return VelaOutput(None, None, None, log, None, f"vela ran past {self.timeout_s:g} s", cmd)
        except OSError as exc:
            return VelaOutput(None, None, None, "", None, f"vela cannot start: {exc}", cmd)
        log = proc.stdout + proc.stderr
        stem = model.stem
        found = {
            "model": out_dir / f"{stem}_vela.tflite",
            "summary": out_dir / f"{stem}_summary_{self.config.system_config}.csv",
            "layers": out_dir / f"{stem}_per-layer.csv",
        }
        paths = {k: (p if p.is_file() else None) for k, p in found.items()}
        failure = None
        if proc.returncode != 0:
            parsed = parse_log(log).failure
            tail = (log.strip().splitlines() or [""])[-1]
            failure = parsed or f"vela exited with status {proc.returncode}: {tail[:300]}"
        elif paths["model"] is None or paths["summary"] is None:
            failure = f"vela wrote no {'model' if paths['model'] is None else 'summary CSV'} in {out_dir}"
        return VelaOutput(paths["model"], paths["summary"], paths["layers"], log, proc.returncode, failure, cmd)

    def describe(self) -> str:
        return shlex.join([*self.launcher(), "M.tflite", *self.config.args()])


def _has_vela() -> bool:
    try:
        return importlib.util.find_spec("ethosu.vela") is not None
    except ImportError:
        return False


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
