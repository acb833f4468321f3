"""A protocol-level fake adb server on loopback, for testing the adb transport without a phone.

It speaks the adb *server* protocol that adb clients (``adb -H/-P``, adbutils) use:
4-hex-digit length + request, answered ``OKAY`` or ``FAIL`` + length + message.

Requests understood:

* ``host:version`` (reports 41), ``host:devices``, ``host:devices-l``, ``host:features``;
* ``host:transport:SERIAL``, ``host:transport-any``, ``host:tport:serial:SERIAL``,
  ``host:tport:any`` (switch the connection to the device), ``host-serial:SERIAL:get-state``;
* on the device: ``shell:CMD`` (v1: stdout and stderr merged, no exit status) and
  ``sync:`` with ``STAT``, ``LIST``, ``SEND`` (``DATA``/``DONE``), ``RECV``, ``QUIT``.

The "device" is a sandbox directory: device paths under ``mapped`` prefixes
(``/data/local/tmp`` and ``/sdcard`` by default) live under ``root``. A shell command has
those prefixes rewritten to the sandbox and runs with ``sh -c`` in ``root``, with
``bin_dir`` first on ``PATH`` (put fake ``getprop``/``benchmark_model`` scripts there).
Every request is appended to :attr:`FakeAdbServer.requests` for assertions.
"""

from __future__ import annotations

import os
import signal
import socket
import socketserver
import stat
import struct
import subprocess
import threading
import time
from pathlib import Path

ADB_SERVER_VERSION = 41
DEFAULT_PROPS = {
    "ro.product.model": "Fake Pixel",
    "ro.product.manufacturer": "hwbehave",
    "ro.board.platform": "fakesoc",
    "ro.soc.model": "FAKE8000",
    "ro.build.version.release": "14",
    "ro.build.version.sdk": "34",
    "ro.product.cpu.abi": "arm64-v8a",
    "ro.build.fingerprint": "hwbehave/fake/fake:14/FAKE/1:user/release-keys",
}


def _block(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return b"%04x" % len(data) + data


class FakeAdbServer:
    """``with FakeAdbServer(tmp) as adb: adb.port`` — one fake device called ``serial``."""

    def __init__(self, root: str | Path, serial: str = "FAKE0001", state: str = "device",
                 mapped: tuple[str, ...] = ("/data/local/tmp", "/sdcard"),
                 props: dict[str, str] | None = None) -> None:
        self.root = Path(root)
        self.serial = serial
        self.state = state
        self.mapped = mapped
        self.props = {**DEFAULT_PROPS, **(props or {})}
        self.bin_dir = self.root / "_bin"
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None
        for prefix in mapped:
            (self.root / prefix.lstrip("/")).mkdir(parents=True, exist_ok=True)
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        self._write_getprop()

    # ---- the sandbox --------------------------------------------------------------------------
    def _write_getprop(self) -> None:
        lines = ["#!/bin/sh", 'case "$1" in']
        for k, v in self.props.items():
            lines.append(f"  {k}) echo '{v}' ;;")
        lines += ['  "") ' + " ; ".join(f"echo '[{k}]: [{v}]'" for k, v in self.props.items()) + " ;;",
                  "  *) echo '' ;;", "esac", ""]
        path = self.bin_dir / "getprop"
        path.write_text("\n".join(lines))
        path.chmod(0o755)

    def host_path(self, device_path: str) -> Path | None:
        """Where a device path lives in the sandbox (``None`` outside the mapped prefixes)."""
        for prefix in self.mapped:
            if device_path == prefix or device_path.startswith(prefix + "/"):
                return self.root / device_path.lstrip("/")
        return None

    def rewrite(self, command: str) -> str:
        """A shell command with mapped device paths pointed into the sandbox."""
        for prefix in self.mapped:
            command = command.replace(prefix, str(self.root) + prefix)
        return command

    # ---- server lifecycle ---------------------------------------------------------------------
    def start(self) -> FakeAdbServer:
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                fake._handle(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-adb", daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the server first"
        return int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeAdbServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- protocol -----------------------------------------------------------------------------
    @staticmethod
    def _recv_exact(sock: socket.socket, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _request(self, sock: socket.socket) -> str:
        size = int(self._recv_exact(sock, 4), 16)
        req = self._recv_exact(sock, size).decode()
        with self._lock:
            self.requests.append(req)
        return req

    def _device_line(self, long: bool) -> str:
        if long:
            return (f"{self.serial}       {self.state} product:fake model:Fake_Pixel device:fake "
                    "transport_id:1\n")
        return f"{self.serial}\t{self.state}\n"

    def _handle(self, sock: socket.socket) -> None:
        try:
            on_device = False
            while True:
                req = self._request(sock)
                if not on_device:
                    if req == "host:version":
                        sock.sendall(b"OKAY" + _block(b"%04x" % ADB_SERVER_VERSION))
                        return
                    if req in ("host:devices", "host:devices-l"):
                        sock.sendall(b"OKAY" + _block(self._device_line(req.endswith("-l"))))
                        return
                    if req in ("host:features", f"host-serial:{self.serial}:features"):
                        sock.sendall(b"OKAY" + _block("cmd,stat_v2"))
                        return
                    if req == f"host-serial:{self.serial}:get-state":
                        sock.sendall(b"OKAY" + _block(self.state))
                        return
                    target = None
                    for prefix in ("host:transport:", "host:tport:serial:"):
                        if req.startswith(prefix):
                            target = req[len(prefix):]
                    if req in ("host:transport-any", "host:tport:any"):
                        target = self.serial
                    if target is None:
                        sock.sendall(b"FAIL" + _block(f"unknown host service {req!r}"))
                        return
                    if target != self.serial:
                        sock.sendall(b"FAIL" + _block(f"device '{target}' not found"))
                        return
                    if self.state != "device":
                        sock.sendall(b"FAIL" + _block(f"device {self.state}"))
                        return
                    sock.sendall(b"OKAY" + (struct.pack("<Q", 1) if req.startswith("host:tport:") else b""))
                    on_device = True
                    continue
                if req.startswith("shell:"):
                    sock.sendall(b"OKAY")
                    self._shell(sock, req[len("shell:"):])
                    return
                if req == "sync:":
                    sock.sendall(b"OKAY")
                    self._sync(sock)
                    return
                sock.sendall(b"FAIL" + _block(f"unknown device service {req!r}"))
                return
        except (EOFError, ConnectionError, OSError):
            return
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def _shell(self, sock: socket.socket, command: str) -> None:
        env = {**os.environ, "PATH": f"{self.bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
               "ANDROID_SERIAL": self.serial}
        proc = subprocess.Popen(["sh", "-c", self.rewrite(command)], cwd=self.root, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        assert proc.stdout is not None
        try:
            while True:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                sock.sendall(chunk)
        except OSError:  # the client went away: adbd hangs up the command too
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        finally:
            proc.stdout.close()
            proc.wait()

    def _sync(self, sock: socket.socket) -> None:
        while True:
            head = self._recv_exact(sock, 8)
            cmd, size = head[:4].decode(), struct.unpack("<I", head[4:])[0]
            if cmd == "QUIT":
                return
            arg = self._recv_exact(sock, size).decode()
            with self._lock:
                self.requests.append(f"sync:{cmd} {arg}")
            if cmd == "STAT":
                path = self.host_path(arg) or Path(arg)
                try:
                    st = path.stat()
                    sock.sendall(b"STAT" + struct.pack("<III", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime)))
                except OSError:
                    sock.sendall(b"STAT" + struct.pack("<III", 0, 0, 0))
            elif cmd == "LIST":
                path = self.host_path(arg) or Path(arg)
                try:
                    for entry in sorted(os.listdir(path)):
                        st = (path / entry).lstat()
                        name = entry.encode()
                        sock.sendall(b"DENT" + struct.pack("<IIII", st.st_mode, st.st_size & 0xFFFFFFFF,
                                                           int(st.st_mtime), len(name)) + name)
                except OSError:
                    pass
                sock.sendall(b"DONE" + struct.pack("<IIII", 0, 0, 0, 0))
            elif cmd == "SEND":
                self._sync_send(sock, arg)
            elif cmd == "RECV":
                path = self.host_path(arg) or Path(arg)
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    msg = f"remote object '{arg}' does not exist" if not path.exists() else str(exc)
                    sock.sendall(b"FAIL" + struct.pack("<I", len(msg)) + msg.encode())
                    continue
                for i in range(0, len(data), 64 * 1024):
                    part = data[i:i + 64 * 1024]
                    sock.sendall(b"DATA" + struct.pack("<I", len(part)) + part)
                sock.sendall(b"DONE" + struct.pack("<I", 0))
            else:
                msg = f"unknown sync command {cmd!r}"
                sock.sendall(b"FAIL" + struct.pack("<I", len(msg)) + msg.encode())
                return

    def _sync_send(self, sock: socket.socket, arg: str) -> None:
        device_path, _, mode_text = arg.rpartition(",")
        data = bytearray()
        while True:
            head = self._recv_exact(sock, 8)
            kind, size = head[:4], struct.unpack("<I", head[4:])[0]
            if kind == b"DATA":
                data += self._recv_exact(sock, size)
            elif kind == b"DONE":
                break
            else:
                raise EOFError(f"unexpected sync packet {kind!r}")
        path = self.host_path(device_path)
        try:
            if path is None:
                raise PermissionError(f"couldn't create file: Permission denied ({device_path})")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes(data))
            if mode_text.isdigit():
                path.chmod(stat.S_IMODE(int(mode_text)))
            os.utime(path, (time.time(), time.time()))
        except OSError as exc:
            msg = f"secure_mkdirs failed: {exc}" if isinstance(exc, FileNotFoundError) else str(exc)
            sock.sendall(b"FAIL" + struct.pack("<I", len(msg)) + msg.encode())
            return
        sock.sendall(b"OKAY" + struct.pack("<I", 0))
