"""adb transport: Android devices measured with TFLite's ``benchmark_model`` binary.

Why adbutils and not the ``adb`` binary: adbutils speaks the adb server's socket protocol
directly, so a push is one sync stream and a shell is one socket (no process per
command, no parsing of ``adb`` CLI text whose wording changes across platform-tools
releases), errors arrive as exceptions with the server's message, and the same code talks
to any server address (``adb_host``/``adb_port``: a lab machine's server, or the fake in
:mod:`suite.testing.fake_adb`). It needs no ``adb`` binary on the controller, only an adb
server reachable on the network. One trap: adbutils starts ``adb start-server`` itself
when the port is closed; :meth:`AdbTransport.connect` probes the port first so an
unreachable server is a clear ``DeviceError`` rather than a surprise daemon.

Android phones do not run the Python agent. :meth:`AdbTransport.start_agent` returns a
:class:`BenchmarkModelStream`, a host-side emulation of the agent: it yields the same
JSON lines (``hello``, ``env``, one ``result`` per job, ``env``, ``bye``), producing each
result by running ``benchmark_model`` for the job on the device and parsing its output
(:mod:`suite.devices.benchmark_model`). :class:`~suite.devices.session.DeviceSession` and
the pipeline are unchanged; ``push`` skips the agent bundle and keeps the job list.

Device YAML (see ``devices/pixel-*.yaml``)::

    transport: {kind: adb, serial: 1A2B3C}
    runtime:
      name: benchmark_model
      threads: 4
      affinity: "4-7"                 # taskset mask, e.g. the big cores
      options:
        binary: /data/local/tmp/benchmark_model
        gpu: true                     # flags: suite.devices.benchmark_model_flags
"""

from __future__ import annotations

import json
import shlex
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbutils

from suite.agent.protocol import AGENT_VERSION, PROTOCOL_VERSION, ProtocolSettings
from suite.agent.worker import parse_cpu_list
from suite.devices.benchmark_model import output_tail, result_from_output
from suite.devices.benchmark_model_flags import benchmark_model_args
from suite.devices.config import Device
from suite.devices.transports.base import TRANSPORTS, AgentStream, Transport
from suite.errors import DeviceError
from suite.results.store import utc_now

#: Where batches go on the phone (world-writable for the shell user, exec allowed).
ANDROID_WORKDIR = "/data/local/tmp/hwbehave"
DEFAULT_BINARY = "/data/local/tmp/benchmark_model"
EXIT_MARKER = "__HWBEHAVE_EXIT__"
#: Options that put (part of) the graph on an accelerator delegate: ops outside it are fallback.
DELEGATE_OPTIONS = ("gpu", "nnapi", "nnapi_accelerator_name", "hexagon", "external_delegate_path")

#: Facts read from the phone for the environment record (a constant script: no YAML in it).
ENV_SCRIPT = "; ".join([
    *(f'echo "{key}=$(getprop {prop})"' for key, prop in (
        ("model", "ro.product.model"), ("manufacturer", "ro.product.manufacturer"),
        ("platform", "ro.board.platform"), ("soc", "ro.soc.model"), ("android", "ro.build.version.release"),
        ("sdk", "ro.build.version.sdk"), ("abi", "ro.product.cpu.abi"), ("fingerprint", "ro.build.fingerprint"))),
    'echo "kernel=$(uname -r)"', 'echo "arch=$(uname -m)"',
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


class BenchmarkModelStream(AgentStream):
    """Host-side emulation of the agent for Android: runs ``benchmark_model`` per job."""

    def __init__(self, transport: AdbTransport, workdir: str, jobs: list[dict[str, Any]], env: dict[str, str]) -> None:
        self.transport = transport
        self.workdir = workdir
        self.jobs = jobs
        self.env = env
        self._status: int | None = None
        self._stderr = ""

    def _emit(self, obj: dict[str, Any]) -> str:
        return json.dumps(obj)

    def lines(self, idle_timeout_s: float) -> Iterator[str]:
        t = self.transport
        try:
            yield self._emit(t.hello())
            yield self._emit({"type": "env", "when": "start", "env": t.probe_environment()})
            for job in self.jobs:
                yield self._emit(self._run_job(job))
            yield self._emit({"type": "env", "when": "end", "env": t.probe_environment()})
            yield self._emit({"type": "bye", "jobs": len(self.jobs)})
            self._status = 0
        except (DeviceError, adbutils.AdbError, OSError, EOFError) as exc:
            # the phone or the adb server went away: end the stream, the session reports DeviceLost
            self._stderr += f"adb: {type(exc).__name__}: {exc}\n"
            self._status = 255

    def _run_job(self, job: dict[str, Any]) -> dict[str, Any]:
        t = self.transport
        options = dict(job.get("runtime_options") or {})
        protocol = dict(job.get("protocol") or {})
        argv = benchmark_model_args(job["model"], ProtocolSettings.from_dict(protocol), options,
                                    binary=DEFAULT_BINARY)
        if options.get("affinity") is not None:
            argv = ["taskset", cpu_mask(options["affinity"]), *argv]
        if self.env:
            argv = ["env", *(f"{k}={v}" for k, v in self.env.items()), *argv]
        timeout_s = float(protocol.get("timeout_s", 120.0))
        pid_file = f"{self.workdir}/.bm.pid"
        # the inner sh records its PID then becomes the command, so a timeout can kill it
        command = (f"cd {shlex.quote(self.workdir)} && sh -c 'echo $$ > \"$0\"; exec \"$@\"' "
                   f"{shlex.quote(pid_file)} {shlex.join(argv)} 2>&1; echo {EXIT_MARKER}$?")
        started = utc_now()
        output, status, timed_out = t.shell_stream(command, timeout_s)
        expect_delegate = any(options.get(k) for k in DELEGATE_OPTIONS)
        if timed_out:
            t.shell(f"kill -9 $(cat {shlex.quote(pid_file)} 2>/dev/null) 2>/dev/null; true", t.command_timeout_s)
            return {"type": "result", "job": job["job"], "status": "timeout", "started_at": started,
                    "error": f"benchmark_model: no result within {timeout_s:g} s; killed. output tail: "
                             f"{output_tail(output, 800)}"}
        result = result_from_output(job["job"], output, exit_code=status, started_at=started,
                                    expect_delegate=expect_delegate)
        result.setdefault("info", {})
        if result["info"] is not None:
            result["info"].update(command=argv, affinity=parse_cpu_list(options["affinity"])
                                  if options.get("affinity") is not None else None)
        return result

    def stderr_tail(self) -> str:
        return self._stderr[-2000:]

    def exit_status(self) -> int | None:
        return self._status

    def kill(self) -> None:
        self._status = self._status if self._status is not None else -9


class _NoAutostartClient(adbutils.AdbClient):
    """adbutils' client, except that a closed server port is an error, never ``adb start-server``."""

    def __init__(self, host: str, port: int, socket_timeout: float) -> None:
        super().__init__(host=host, port=port, socket_timeout=socket_timeout)
        self.address = (host, port)
        self.probe_timeout_s = socket_timeout

    def make_connection(self, timeout: float | None = None) -> adbutils.AdbConnection:
        try:
            socket.create_connection(self.address, timeout=self.probe_timeout_s).close()
        except OSError as exc:
            raise adbutils.AdbError(f"adb server at {self.address[0]}:{self.address[1]} is gone: {exc}") from None
        return super().make_connection(timeout)


@TRANSPORTS.register("adb")
class AdbTransport(Transport):
    """One Android device through an adb server (see the module docstring)."""

    def __init__(self, device: Device) -> None:
        super().__init__(device)
        self.cfg = device.transport
        self.client: _NoAutostartClient | None = None
        self.adb: adbutils.AdbDevice | None = None
        self.serial: str | None = None
        self._jobs_file: str | None = None
        self._free_bytes: dict[str, int] = {}
        self._hello: dict[str, Any] | None = None

    @property
    def command_timeout_s(self) -> float:
        return self.device.timeouts.command_s

    @property
    def server(self) -> str:
        return f"{self.cfg.adb_host}:{self.cfg.adb_port}"  # type: ignore[union-attr]

    def _error(self, message: str) -> DeviceError:
        return DeviceError(message, device=self.device.name, host=self.serial or self.server)

    # ---- 1. connect ---------------------------------------------------------------------------
    def connect(self) -> None:
        """Find the adb server and the device (by serial, or the only one attached)."""
        timeout = self.device.timeouts.connect_s
        try:
            socket.create_connection((self.cfg.adb_host, self.cfg.adb_port), timeout=timeout).close()  # type: ignore[union-attr]
        except OSError as exc:
            raise self._error(f"no adb server at {self.server} ({exc}); start one with `adb start-server` "
                              "(or set transport.adb_host/adb_port)") from None
        self.client = _NoAutostartClient(self.cfg.adb_host, self.cfg.adb_port, timeout)  # type: ignore[union-attr]
        try:
            listed = {d.serial: d.state for d in self.client.list()}
        except (adbutils.AdbError, OSError) as exc:
            raise self._error(f"adb server at {self.server} did not list devices: {exc}") from None
        wanted = self.cfg.serial  # type: ignore[union-attr]
        if wanted is None:
            ready = [s for s, state in listed.items() if state == "device"]
            if len(ready) != 1:
                raise self._error(f"transport.serial is not set and the adb server at {self.server} has "
                                  f"{len(ready)} ready devices ({', '.join(listed) or 'none'}): set the serial")
            wanted = ready[0]
        elif wanted not in listed:
            raise self._error(f"device {wanted} is not attached to the adb server at {self.server} "
                              f"(it lists: {', '.join(f'{s} {st}' for s, st in listed.items()) or 'nothing'})")
        elif listed[wanted] != "device":
            hint = " (accept the USB debugging prompt on the phone)" if listed[wanted] == "unauthorized" else ""
            raise self._error(f"device {wanted} is {listed[wanted]}{hint}")
        self.serial = wanted
        self.adb = self.client.device(serial=wanted)

    # ---- shell --------------------------------------------------------------------------------
    def shell_stream(self, command: str, timeout_s: float) -> tuple[str, int | None, bool]:
        """Run ``command`` (ending in ``echo EXIT_MARKER$?``): ``(output, exit status, timed out)``."""
        if self.adb is None:
            raise self._error("not connected")
        try:
            return self._shell_stream(command, timeout_s)
        except (adbutils.AdbError, OSError, EOFError) as exc:
            raise self._error(f"adb shell on {self.serial} failed (device or adb server gone?): "
                              f"{type(exc).__name__}: {exc}") from None

    def _shell_stream(self, command: str, timeout_s: float) -> tuple[str, int | None, bool]:
        assert self.adb is not None
        conn = self.adb.open_shell(command)
        conn.conn.settimeout(0.5)
        data = b""
        deadline = time.monotonic() + timeout_s
        timed_out = False
        try:
            while True:
                try:
                    chunk = conn.conn.recv(65536)
                except TimeoutError:
                    if time.monotonic() > deadline:
                        timed_out = True
                        break
                    continue
                if not chunk:
                    break
                data += chunk
        finally:
            conn.close()
        text = data.decode(errors="replace")
        status = None
        idx = text.rfind(EXIT_MARKER)
        if idx >= 0:
            try:
                status = int(text[idx + len(EXIT_MARKER):].split()[0])
            except (ValueError, IndexError):
                status = None
            text = text[:idx]
        elif not timed_out:
            raise EOFError(f"adb shell on {self.serial} ended without an exit status (device gone?)")
        return text, status, timed_out

    def shell(self, command: str, timeout_s: float) -> tuple[int, str]:
        """Run a shell command line (already quoted); ``(status, merged output)``; 124 on timeout."""
        text, status, timed_out = self.shell_stream(f"{command}; echo {EXIT_MARKER}$?", timeout_s)
        if timed_out:
            return 124, text
        return (status if status is not None else 255), text

    def run(self, argv: list[str], timeout_s: float) -> tuple[int, str, str]:
        """Run ``argv`` on the phone (quoted); stdout and stderr come merged as stdout."""
        try:
            status, text = self.shell(shlex.join(argv), timeout_s)
        except DeviceError as exc:
            return 255, "", str(exc)
        return status, text, ""

    # ---- 2. workdir ---------------------------------------------------------------------------
    def base_dir(self) -> str:
        """``device.workdir`` unless it is the Linux default, then ``/data/local/tmp/hwbehave``."""
        return ANDROID_WORKDIR if self.device.workdir == "/tmp/hwbehave" else self.device.workdir.rstrip("/")

    def make_workdir(self) -> str:
        path = f"{self.base_dir()}/{uuid.uuid4().hex[:12]}"
        q = shlex.quote(path)
        status, out = self.shell(f"mkdir -p {q} && cd {q} && : > .probe && rm -f .probe && df -k . | tail -n 1",
                                 self.command_timeout_s)
        if status != 0:
            raise self._error(f"workdir {self.serial}:{path} cannot be created or is not writable: "
                              f"{out.strip()[-400:]}")
        try:
            self._free_bytes[path] = int(out.split()[3]) * 1024
        except (IndexError, ValueError):
            pass
        return path

    # ---- 3. push ------------------------------------------------------------------------------
    def push(self, files: list[tuple[str, str]], workdir: str) -> None:
        """Push models (sync protocol); the agent bundle is skipped, the job list kept host-side."""
        if self.adb is None:
            raise self._error("not connected")
        todo = []
        for src, rel in files:
            if rel == "agent.pyz":
                continue  # no Python on the phone: BenchmarkModelStream plays the agent
            if rel == "jobs.jsonl":
                self._jobs_file = src
                continue
            todo.append((src, rel))
        need = sum(Path(src).stat().st_size for src, _ in todo)
        free = self._free_bytes.get(workdir)
        if free is not None and need > free:
            raise self._error(f"device disk full: {self.serial}:{workdir} has {free / 2**20:.1f} MiB free, the "
                              f"batch needs {need / 2**20:.1f} MiB")
        dirs = sorted({str(Path(rel).parent) for _, rel in todo} - {"."})
        if dirs:
            status, out = self.shell(f"cd {shlex.quote(workdir)} && mkdir -p " + shlex.join(dirs),
                                     self.command_timeout_s)
            if status != 0:
                raise self._error(f"mkdir in {self.serial}:{workdir} failed: {out.strip()[-300:]}")
        sync = self.adb.sync
        for src, rel in todo:
            remote = f"{workdir}/{rel}"
            try:
                sync.push(src, remote, mode=0o644)
            except (adbutils.AdbError, OSError) as exc:
                raise self._error(f"pushing {src} to {self.serial}:{remote} failed: {exc} "
                                  "(device storage full or path not writable?)") from None

    def pull(self, remote: str, local: str) -> int:
        """Copy a file from the phone (e.g. an op-profiling CSV); bytes copied."""
        if self.adb is None:
            raise self._error("not connected")
        return int(self.adb.sync.pull(remote, local))

    # ---- 4. "agent" ---------------------------------------------------------------------------
    def start_agent(self, argv: list[str], workdir: str, env: dict[str, str]) -> AgentStream:
        """Return the host-side agent emulation over the pushed job list (``argv`` is not run)."""
        if self._jobs_file is None:
            raise self._error("start_agent before push: no job list")
        # bad runtime options are a ConfigError now, not one failure per job
        benchmark_model_args("model.tflite", ProtocolSettings(), self.device.runtime.adapter_options())
        with open(self._jobs_file) as f:
            jobs = [json.loads(line) for line in f if line.strip()]
        return BenchmarkModelStream(self, workdir, jobs, env)

    def probe_environment(self) -> dict[str, Any]:
        """Phone facts (getprop, uname, governor, clock, thermal zones) in the agent's env shape."""
        status, out = self.shell(ENV_SCRIPT, self.command_timeout_s)
        facts: dict[str, str] = {}
        temps: dict[str, float] = {}
        for line in out.splitlines():
            key, _, value = line.partition("=")
            if key == "temp":
                zone, _, raw = value.rpartition("=")
                if raw.strip().lstrip("-").isdigit():
                    v = int(raw)
                    temps[zone or f"zone{len(temps)}"] = v / 1000.0 if abs(v) > 1000 else float(v)
            elif key:
                facts[key] = value.strip()
        khz = facts.get("cpu_freq_khz", "")
        return {
            "hostname": self.serial, "os": f"Android {facts.get('android', '?')}", "kernel": facts.get("kernel"),
            "arch": facts.get("arch"), "python": None, "python_executable": None,
            "cpu_model": facts.get("soc") or facts.get("platform"), "device_model": facts.get("model"),
            "manufacturer": facts.get("manufacturer"), "sdk": facts.get("sdk"), "abi": facts.get("abi"),
            "build_fingerprint": facts.get("fingerprint"),
            "cpu_count": int(facts["cpu_count"]) if facts.get("cpu_count", "").isdigit() else None,
            "governor": facts.get("governor", "").strip(",") or None,
            "cpu_freq_mhz": int(khz) / 1000.0 if khz.isdigit() else None,
            "temperatures_c": temps, "versions": {},
        }

    def benchmark_model_version(self) -> str | None:
        """The binary's path and size (benchmark_model prints no version), or ``None`` if absent."""
        binary = str(self.device.runtime.options.get("binary") or DEFAULT_BINARY)
        status, out = self.shell(f"ls -l {shlex.quote(binary)}", self.command_timeout_s)
        return f"{binary} ({out.split()[4]} bytes)" if status == 0 and len(out.split()) > 4 else None

    def hello(self) -> dict[str, Any]:
        """The handshake the agent would send, built from the phone's properties."""
        if self._hello is None:
            env = self.probe_environment()
            version = self.benchmark_model_version()
            self._hello = {"type": "hello", "protocol": PROTOCOL_VERSION, "agent_version": AGENT_VERSION + "+adb",
                           "python": None, "runtimes": {"benchmark_model": version or "missing"},
                           "cpu_model": env["cpu_model"], "arch": env["arch"], "os": env["os"],
                           "hostname": self.serial, "device_model": env["device_model"]}
        return self._hello

    # ---- 5. cleanup ---------------------------------------------------------------------------
    def remove_workdir(self, workdir: str) -> None:
        if self.adb is None or not workdir.startswith(self.base_dir() + "/"):
            return
        self.shell(f"rm -rf {shlex.quote(workdir)}", self.command_timeout_s)

    def close(self) -> None:
        self.adb = None
        self.client = None

    def describe(self) -> dict[str, Any]:
        return {"kind": "adb", "server": self.server, "serial": self.serial}
