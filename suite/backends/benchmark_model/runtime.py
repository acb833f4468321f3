"""The ``benchmark_model`` runtime: TFLite's benchmark tool, driven from the controller.

Android phones run no Python agent, so this runtime runs on the controller
(:class:`~suite.backends.runtime.HostRuntime`) and uses only the transport's
``execute``: for each job it runs the tool on the device (flags from the protocol and the
device's runtime options, :mod:`.flags`), parses its output (:mod:`.parser`) and answers
the agent's ``result`` message. Any transport that runs commands carries it: ``adb`` for
phones, ``ssh`` for a Linux board with a ``benchmark_model`` build, ``local`` for this
machine.

Each run is ``sh -c 'cd WORKDIR && echo $$ > .bm.pid && exec "$@" 2>&1'``: the shell
records its PID and becomes the tool, so a run past the protocol's ``timeout_s`` can be
killed (``kill -9`` of that PID) and the batch goes on. ``runtime.affinity`` becomes a
``taskset`` mask; the device's ``env`` is set with ``env K=V``.

The tool prints summaries, not raw samples: results carry the run average as their one
sample, ``timing: summary`` and the tool's own statistics in ``info``.

Op profiling (``options.op_profiling`` or ``profile``) is a **second run** after the timed
one (the tool profiles every run it times, so the timed run stays unprofiled):
``--enable_op_profiling=true --profiling_output_csv_file=WORKDIR/<job>.profile.csv`` with
``PROFILE_RUNS`` runs; the CSV is read back through the transport and parsed
(:func:`.parser.parse_profile_csv`) into ``info["op_profile"]``, and with a delegate its node
types decide ``fallback``.

Device YAML (see ``devices/pixel-*.yaml``)::

    transport: {kind: adb, serial: 1A2B3C}
    runtime:
      name: benchmark_model
      threads: 4
      affinity: "4-7"                 # taskset mask, e.g. the big cores
      options:
        binary: /data/local/tmp/benchmark_model
        gpu: true                     # flags: suite.backends.benchmark_model.flags
"""

from __future__ import annotations

from typing import Any

from suite.agent.profiling import PROFILE_RUNS
from suite.agent.protocol import AGENT_VERSION, PROTOCOL_VERSION, ProtocolSettings
from suite.agent.worker import parse_cpu_list
from suite.backends.benchmark_model.flags import benchmark_model_args
from suite.backends.benchmark_model.parser import (
    op_profile_from_tables,
    output_tail,
    parse_profile_csv,
    result_from_output,
)
from suite.backends.runtime import HostRuntime
from suite.results.store import utc_now

DEFAULT_BINARY = "/data/local/tmp/benchmark_model"
#: Options that put (part of) the graph on an accelerator delegate: ops outside it are fallback.
DELEGATE_OPTIONS = ("gpu", "nnapi", "nnapi_accelerator_name", "hexagon", "external_delegate_path")
#: The tool's own average, not wall-clock samples (docs/architecture.md §5, timing kinds).
TIMING = "summary"
PID_FILE = ".bm.pid"
#: One run in the batch workdir: the shell writes its PID, then becomes the tool.
RUN_SCRIPT = f'cd "$1" && echo $$ > {PID_FILE} && shift && exec "$@" 2>&1'
KILL_SCRIPT = f'kill -9 $(cat "$1"/{PID_FILE} 2>/dev/null) 2>/dev/null; true'

#: Facts read from the device for the environment record (a constant script: nothing from YAML
#: in it). ``getprop`` answers on Android; elsewhere those lines stay empty and uname speaks.
ENV_SCRIPT = "; ".join([
    *(f'echo "{key}=$(getprop {prop} 2>/dev/null)"' for key, prop in (
        ("model", "ro.product.model"), ("manufacturer", "ro.product.manufacturer"),
        ("platform", "ro.board.platform"), ("soc", "ro.soc.model"), ("android", "ro.build.version.release"),
        ("sdk", "ro.build.version.sdk"), ("abi", "ro.product.cpu.abi"), ("fingerprint", "ro.build.fingerprint"))),
    'echo "kernel=$(uname -r)"', 'echo "arch=$(uname -m)"', 'echo "os=$(uname -s)"', 'echo "hostname=$(uname -n)"',
    'echo "governor=$(cat /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor 2>/dev/null | sort -u | '
    'tr "\\n" "," )"',
    'echo "cpu_freq_khz=$(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq 2>/dev/null)"',
    'echo "cpu_count=$(ls -d /sys/devices/system/cpu/cpu[0-9]* 2>/dev/null | wc -l)"',
    'for z in /sys/class/thermal/thermal_zone*; do [ -r "$z/temp" ] && '
    'echo "temp=$(cat $z/type 2>/dev/null)=$(cat $z/temp 2>/dev/null)"; done',
    "true",
])


def cpu_mask(spec: str | list[int]) -> str:
    """A taskset hex mask from ``[4, 5]``, ``"4-7"`` or an existing mask ``"0xf0"``."""
    cpus = parse_cpu_list(spec)
    if not cpus:
        raise ValueError(f"runtime.affinity {spec!r} names no CPU")
    return format(sum(1 << c for c in cpus), "x")


def parse_environment(text: str, hostname: str | None = None) -> dict[str, Any]:
    """The agent-shaped environment dict from the output of :data:`ENV_SCRIPT`."""
    facts: dict[str, str] = {}
    temps: dict[str, float] = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "temp":
            zone, _, raw = value.rpartition("=")
            if raw.strip().lstrip("-").isdigit():
                v = int(raw)
                temps[zone or f"zone{len(temps)}"] = v / 1000.0 if abs(v) > 1000 else float(v)
        elif key:
            facts[key] = value.strip()
    khz = facts.get("cpu_freq_khz", "")
    android = facts.get("android")
    return {
        "hostname": hostname or facts.get("hostname") or None,
        "os": f"Android {android}" if android else (facts.get("os") or None),
        "kernel": facts.get("kernel") or None, "arch": facts.get("arch") or None,
        "python": None, "python_executable": None,
        "cpu_model": facts.get("soc") or facts.get("platform") or None, "device_model": facts.get("model") or None,
        "manufacturer": facts.get("manufacturer") or None, "sdk": facts.get("sdk") or None,
        "abi": facts.get("abi") or None, "build_fingerprint": facts.get("fingerprint") or None,
        "cpu_count": int(facts["cpu_count"]) if facts.get("cpu_count", "").isdigit() else None,
        "governor": facts.get("governor", "").strip(",") or None,
        "cpu_freq_mhz": int(khz) / 1000.0 if khz.isdigit() else None,
        "temperatures_c": temps, "versions": {},
    }


class BenchmarkModelRuntime(HostRuntime):
    """``benchmark_model`` on the device, one run per job (see the module docstring)."""

    name = "benchmark_model"

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.device.runtime.adapter_options())

    @property
    def binary(self) -> str:
        return str(self.device.runtime.options.get("binary") or DEFAULT_BINARY)

    @property
    def command_timeout_s(self) -> float:
        return float(self.device.timeouts.command_s)

    def check_options(self) -> None:
        """Unknown or conflicting options are a ``ConfigError`` before the first job."""
        benchmark_model_args("model.tflite", ProtocolSettings(), self.options, binary=DEFAULT_BINARY)
        if self.options.get("affinity") is not None:
            cpu_mask(self.options["affinity"])

    def version(self) -> str | None:
        """The binary's path and size (benchmark_model prints no version), or ``None`` if absent."""
        status, out, _ = self.transport.execute(["ls", "-l", self.binary], self.command_timeout_s)
        return f"{self.binary} ({out.split()[4]} bytes)" if status == 0 and len(out.split()) > 4 else None

    def probe_environment(self) -> dict[str, Any]:
        """Device facts (getprop where there is one, uname, governor, clock, thermal zones)."""
        _, out, _ = self.transport.execute(["sh", "-c", ENV_SCRIPT], self.command_timeout_s)
        described = self.transport.describe()
        return parse_environment(out, hostname=described.get("serial") or described.get("host"))

    def hello(self) -> dict[str, Any]:
        """The handshake the agent would send, from the device's facts and the binary."""
        env = self.probe_environment()
        version = self.version()
        return {"type": "hello", "protocol": PROTOCOL_VERSION, "agent_version": f"{AGENT_VERSION}+{self.name}",
                "python": None, "runtimes": {self.name: version or "missing"}, "cpu_model": env["cpu_model"],
                "arch": env["arch"], "os": env["os"], "hostname": env["hostname"],
                "device_model": env["device_model"]}

    def run_job(self, job: dict[str, Any], workdir: str, env: dict[str, str]) -> dict[str, Any]:
        """One tool run of ``job``: ``ok``/``fallback`` with the average, or a failure status."""
        options = dict(job.get("runtime_options") or {})
        profile = bool(options.pop("op_profiling", False)) | bool(options.pop("profile", False))
        protocol = dict(job.get("protocol") or {})
        settings = ProtocolSettings.from_dict(protocol)
        timeout_s = float(protocol.get("timeout_s", 120.0))
        started = utc_now()
        status, output = self._tool(benchmark_model_args(job["model"], settings, options, binary=DEFAULT_BINARY),
                                    options, workdir, env, timeout_s)
        if status == 124:
            return {"type": "result", "job": job["job"], "status": "timeout", "started_at": started,
                    "timing": TIMING, "error": f"benchmark_model: no result within {timeout_s:g} s; killed. "
                                               f"output tail: {output_tail(output, 800)}"}
        expect_delegate = any(options.get(k) for k in DELEGATE_OPTIONS)
        tables = None
        profile_error = None
        if profile and status == 0:
            tables, profile_error = self._profile(job, options, workdir, env, timeout_s)
        result = result_from_output(job["job"], output, exit_code=status, started_at=started,
                                    expect_delegate=expect_delegate, profile_tables=tables)
        result["timing"] = TIMING
        result.setdefault("info", {})
        if result["info"] is not None:
            result["info"].update(command=self._argv(benchmark_model_args(job["model"], settings, options,
                                                                          binary=DEFAULT_BINARY), options, env),
                                  affinity=parse_cpu_list(options["affinity"])
                                  if options.get("affinity") is not None else None)
            if tables:
                result["info"]["op_profile"] = op_profile_from_tables(
                    tables, PROFILE_RUNS, "benchmark_model --profiling_output_csv_file (a second run after timing)")
            elif profile_error:
                result["info"]["op_profile_error"] = profile_error
        return result

    def _argv(self, tool: list[str], options: dict[str, Any], env: dict[str, str]) -> list[str]:
        argv = list(tool)
        if options.get("affinity") is not None:
            argv = ["taskset", cpu_mask(options["affinity"]), *argv]
        if env:
            argv = ["env", *(f"{k}={v}" for k, v in env.items()), *argv]
        return argv

    def _tool(self, tool: list[str], options: dict[str, Any], workdir: str, env: dict[str, str],
              timeout_s: float) -> tuple[int, str]:
        """One tool run in the batch workdir; a run past ``timeout_s`` is killed (status 124)."""
        status, output, _ = self.transport.execute(["sh", "-c", RUN_SCRIPT, "sh", workdir,
                                                    *self._argv(tool, options, env)], timeout_s)
        if status == 124:
            self.transport.execute(["sh", "-c", KILL_SCRIPT, "sh", workdir], self.command_timeout_s)
        return status, output

    def _profile(self, job: dict[str, Any], options: dict[str, Any], workdir: str, env: dict[str, str],
                 timeout_s: float) -> tuple[list[Any] | None, str | None]:
        """The op-profiling tables of a second, short run (its CSV file read back), or why there are none."""
        csv = f"{workdir}/{job['job']}.profile.csv"
        short = ProtocolSettings(warmup_runs=1, warmup_s=0.0, min_runs=PROFILE_RUNS, min_s=0.0,
                                 max_runs=max(PROFILE_RUNS, 1), max_s=max(1.0, timeout_s / 2), timeout_s=timeout_s)
        tool = benchmark_model_args(job["model"], short, {**options, "op_profiling": True}, binary=DEFAULT_BINARY)
        status, output = self._tool([*tool, f"--profiling_output_csv_file={csv}"], options, workdir, env, timeout_s)
        if status != 0:
            return None, f"benchmark_model: the profiling run failed (exit {status}): {output_tail(output, 400)}"
        status, text, err = self.transport.execute(["cat", csv], self.command_timeout_s)
        tables = parse_profile_csv(text) if status == 0 else []
        if not tables:
            return None, f"benchmark_model: no profile in {csv} ({(err or text).strip()[:200] or 'empty'})"
        return tables, None

