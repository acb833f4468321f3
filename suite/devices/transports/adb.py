"""adb transport: files and commands on Android devices, through an adb server.

Why adbutils and not the ``adb`` binary: adbutils speaks the adb server's socket protocol
directly, so a push is one sync stream and a shell is one socket (no process per
command, no parsing of ``adb`` CLI text whose wording changes across platform-tools
releases), errors arrive as exceptions with the server's message, and the same code talks
to any server address (``adb_host``/``adb_port``: a lab machine's server, or the fake in
:mod:`suite.testing.fake_adb`). It needs no ``adb`` binary on the controller, only an adb
server reachable on the network. One trap: adbutils starts ``adb start-server`` itself
when the port is closed; :meth:`AdbTransport.connect` probes the port first so an
unreachable server is a clear ``DeviceError`` rather than a surprise daemon.

The transport only moves files and runs commands. Android phones run no Python agent, so
the runtime of an adb device is a host-driven one (the backend's ``host_runtime``:
``benchmark_model``, :mod:`suite.backends.benchmark_model.runtime`), which times each job
through :meth:`AdbTransport.execute`; a device file pairing adb with a runtime that needs
the agent is refused when it loads.
"""

from __future__ import annotations

import shlex
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import adbutils

from suite.devices.config import Device
from suite.devices.transports.base import TRANSPORTS, AgentStream, Transport
from suite.errors import DeviceError

#: Where batches go on the phone (world-writable for the shell user, exec allowed).
ANDROID_WORKDIR = "/data/local/tmp/hwbehave"
EXIT_MARKER = "__HWBEHAVE_EXIT__"


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
        self._free_bytes: dict[str, int] = {}

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

    def execute(self, argv: list[str], timeout_s: float) -> tuple[int, str, str]:
        """Run ``argv`` on the phone (quoted); stdout and stderr come merged as stdout; 124 on timeout."""
        status, text = self.shell(shlex.join(argv), timeout_s)
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
        """Push ``(local, relative remote)`` files with the sync protocol, checking free space first."""
        if self.adb is None:
            raise self._error("not connected")
        todo = list(files)
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

    # ---- 4. agent ----------------------------------------------------------------------------
    def start_agent(self, argv: list[str], workdir: str, env: dict[str, str], stdin: bytes = b"") -> AgentStream:
        """Refused: Android has no Python for the agent (device files with such a runtime do not load)."""
        raise self._error(f"the adb transport cannot start the Python agent ({shlex.join(argv)}): Android has no "
                          "Python; use a host-driven runtime such as benchmark_model")

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
