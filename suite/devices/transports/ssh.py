"""SSH transport (paramiko): one connection per batch, files pushed as one tar over SFTP.

Steps for a batch (called by :class:`suite.devices.session.DeviceSession`):

1. ``connect``: resolve ``host`` through ``~/.ssh/config`` (HostName, User, Port,
   IdentityFile, ProxyJump), open the jump hosts' ``direct-tcpip`` channels if any, and
   authenticate with the key file and/or the ssh-agent. Host keys are checked against
   ``known_hosts`` with paramiko's ``RejectPolicy``; ``host_key_policy: accept-new`` adds
   (and saves) keys of hosts never seen before, and a *changed* key is always refused.
2. ``make_workdir``: ``mkdir <workdir>/hwbehave-<random>`` (the parent with ``-p``), a marker
   file with a random token (which doubles as the write probe) and ``df -Pk`` in one command
   (free space remembered for step 3). Only a directory still holding its token is ever removed.
3. ``push``: every file in one uncompressed tar written straight into ``tar -xf -`` on
   one exec channel (``PUSH_MODE = "tar"``). On loopback, 100 models of 3 KB took about
   the same with all three modes (median 243 ms tar stream, 310 ms tar over SFTP, 236 ms
   100 SFTP puts, 8 rounds each on a loaded 2-core machine): each is dominated by one
   session start. Over a real link the puts cost ≥ 3 round trips per file (open, write,
   close/stat), the tar stream one exec, so tar wins as soon as latency is not ~0.
   ``"tar-sftp"`` (one SFTP put + remote ``tar -xf``) and ``"sftp"`` (one put per file)
   remain selectable; SFTP write errors become ``DeviceError`` naming host and path.
4. ``start_agent``: one ``exec`` channel; the job list goes in on its stdin, the agent's
   stdout is streamed line by line.
   The remote shell writes its PID first so ``kill`` can end the agent's process group.
5. ``remove_workdir``/``close`` in the session's ``finally``: ``rm -rf`` of the session
   directory after its marker token is checked, never of ``workdir`` itself.

Every remote argument goes through :func:`shlex.quote`. A dropped connection makes the
channel report end-of-file, which the session turns into ``DeviceLost``; a host that stops
answering while TCP stays up (frozen, SIGSTOPped sshd) is found by a keepalive that needs a
reply, sent after ``keepalive_s`` of silence and answered within ``timeouts.connect_s``.
"""

from __future__ import annotations

import getpass
import os
import shlex
import socket
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import paramiko

from suite.devices.config import Device
from suite.devices.transports.base import TRANSPORTS, AgentStream, Transport
from suite.errors import DeviceError

#: How a batch is copied: "tar" (tar streamed into ``tar -xf -``), "tar-sftp" (one archive put over
#: SFTP, then extracted) or "sftp" (one SFTP put per file). See the module docstring for the measurement.
PUSH_MODE = "tar"
#: Free space kept in reserve on the device when checking that a batch fits (bytes).
DISK_RESERVE_BYTES = 16 * 1024 * 1024
STDERR_TAIL_CHARS = 4000
PID_FILE = ".agent.pid"
#: Marker file in each session directory; its token must match before the directory is deleted.
SESSION_MARKER = ".hwbehave-session"


def quote_path(path: str) -> str:
    """Shell-quote a remote path, keeping a leading ``~/`` expandable as ``"$HOME"/``."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


@dataclass(frozen=True)
class SshTarget:
    """Where to connect after resolving ``~/.ssh/config`` (pure data)."""

    alias: str
    hostname: str
    port: int
    user: str
    key_files: list[str] = field(default_factory=list)
    proxy_jump: str | None = None

    @property
    def address(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"


def _load_ssh_config(path: str | None) -> paramiko.SSHConfig | None:
    if not path:
        return None
    p = Path(path).expanduser()
    if not p.exists():
        return None
    return paramiko.SSHConfig.from_path(str(p))


def resolve_target(host: str, *, port: int | None = None, user: str | None = None, key_file: str | None = None,
                   proxy_jump: str | None = None, ssh_config: str | None = None) -> SshTarget:
    """Apply ``~/.ssh/config`` to ``host``; explicit YAML values win over the config file."""
    looked: dict[str, Any] = {}
    cfg = _load_ssh_config(ssh_config)
    if cfg is not None:
        looked = dict(cfg.lookup(host))
    hostname = looked.get("hostname", host)
    keys = [key_file] if key_file else list(looked.get("identityfile") or [])
    jump = proxy_jump if proxy_jump is not None else looked.get("proxyjump")
    if jump and jump.lower() == "none":
        jump = None
    return SshTarget(alias=host, hostname=hostname, port=int(port or looked.get("port") or 22),
                     user=user or looked.get("user") or getpass.getuser(),
                     key_files=[str(Path(k).expanduser()) for k in keys], proxy_jump=jump)


def parse_jump(spec: str) -> tuple[str, str | None, int | None]:
    """``[user@]host[:port]`` of one ProxyJump hop → ``(host, user, port)``."""
    user = None
    if "@" in spec:
        user, spec = spec.rsplit("@", 1)
    port = None
    if spec.startswith("["):  # [ipv6]:port
        host, _, rest = spec[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else None
    elif spec.count(":") == 1:
        host, p = spec.split(":")
        port = int(p)
    else:
        host = spec
    return host, user, port


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style ``SHA256:…`` fingerprint of a host key."""
    return key.fingerprint if hasattr(key, "fingerprint") else key.get_base64()[:20]


class _UnknownHostKey(paramiko.SSHException):
    def __init__(self, hostname: str, key: paramiko.PKey) -> None:
        super().__init__(f"host key of {hostname} is not in known_hosts")
        self.hostname = hostname
        self.key = key


class _StrictPolicy(paramiko.MissingHostKeyPolicy):
    """RejectPolicy that remembers the offered key, for a helpful message."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise _UnknownHostKey(hostname, key)


class _AcceptNewPolicy(paramiko.MissingHostKeyPolicy):
    """OpenSSH ``StrictHostKeyChecking=accept-new``: trust and save a key never seen before."""

    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        with open(self.known_hosts, "a") as f:
            f.write(paramiko.hostkeys.HostKeyEntry([hostname], key).to_line())


class SshAgentStream(AgentStream):
    """The agent's stdout over one exec channel; stderr kept as a tail."""

    def __init__(self, transport: SshTransport, channel: paramiko.Channel, workdir: str) -> None:
        self.transport = transport
        self.channel = channel
        self.workdir = workdir
        self._stderr = b""

    def _drain_stderr(self) -> None:
        while self.channel.recv_stderr_ready():
            self._stderr = (self._stderr + self.channel.recv_stderr(65536))[-STDERR_TAIL_CHARS:]

    def lines(self, idle_timeout_s: float) -> Iterator[str]:
        chan = self.channel
        chan.settimeout(min(0.5, idle_timeout_s))
        buf = b""
        last = probed = time.monotonic()
        alive_every_s = self.transport.cfg.keepalive_s  # type: ignore[union-attr]
        while True:
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                yield line.decode(errors="replace")
            try:
                chunk = chan.recv(65536)
            except TimeoutError:
                self._drain_stderr()
                now = time.monotonic()
                if now - last >= idle_timeout_s:
                    raise TimeoutError(f"agent silent for {idle_timeout_s:.0f} s") from None
                # a silent agent may be busy measuring; a silent *sshd* is a frozen host or a dead link
                if alive_every_s and now - max(last, probed) >= alive_every_s:
                    reply_s = self.transport.device.timeouts.connect_s
                    if not self.transport.responsive(reply_s):
                        raise TimeoutError(f"{self.transport.target.hostname} stopped answering: no reply to an "
                                           f"SSH keepalive within {reply_s:g} s (host frozen or link down)") from None
                    probed = time.monotonic()
                continue
            except (OSError, EOFError, paramiko.SSHException):
                chunk = b""
            self._drain_stderr()
            if not chunk:
                if buf:
                    yield buf.decode(errors="replace")
                # the exit status follows EOF closely: wait for it so the session need not kill
                chan.status_event.wait(2.0)
                return
            last = time.monotonic()
            buf += chunk
            self.transport.quick_ack()

    def stderr_tail(self) -> str:
        try:
            self._drain_stderr()
        except (OSError, EOFError):
            pass
        return self._stderr.decode(errors="replace")

    def exit_status(self) -> int | None:
        if self.channel.exit_status_ready():
            return self.channel.recv_exit_status()
        if self.channel.closed or not self.transport.connected:
            return -1  # connection gone: no status will ever come
        return None

    def kill(self) -> None:
        if self.transport.connected and not self.transport.unresponsive:
            pid = f"$(cat {quote_path(self.workdir + '/' + PID_FILE)} 2>/dev/null)"
            self.transport.exec(f'p={pid}; [ -n "$p" ] && {{ kill -9 -- -"$p" 2>/dev/null || kill -9 "$p"; }}; true',
                                timeout_s=self.transport.device.timeouts.connect_s)
        self.channel.close()


@TRANSPORTS.register("ssh")
class SshTransport(Transport):
    """A Linux host over SSH (see the module docstring for the steps)."""

    def __init__(self, device: Device, push_mode: str = PUSH_MODE) -> None:
        super().__init__(device)
        cfg = device.transport
        self.cfg = cfg
        self.target = resolve_target(cfg.host, port=cfg.port, user=cfg.user, key_file=cfg.key_file,  # type: ignore[union-attr]
                                     proxy_jump=cfg.proxy_jump, ssh_config=cfg.ssh_config)  # type: ignore[union-attr]
        self.push_mode = push_mode
        self.client: paramiko.SSHClient | None = None
        self._jumps: list[paramiko.SSHClient] = []
        self._free_bytes: dict[str, int] = {}
        self._tokens: dict[str, str] = {}  # session directory → the token in its marker file
        self.unresponsive = False  # set when sshd stops answering keepalives (see responsive())
        self.host_key_fingerprint: str | None = None
        self._sock: socket.socket | None = None

    # ---- 1. connect -------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        t = self.client.get_transport() if self.client else None
        return bool(t and t.is_active())

    def _known_hosts(self) -> Path | None:
        kh = self.cfg.known_hosts  # type: ignore[union-attr]
        return Path(kh).expanduser() if kh else None

    def _error(self, message: str) -> DeviceError:
        return DeviceError(message, device=self.device.name, host=self.target.hostname)

    def _client_for(self, target: SshTarget, sock: Any = None) -> paramiko.SSHClient:
        timeout = self.device.timeouts.connect_s
        client = paramiko.SSHClient()
        kh = self._known_hosts()
        if kh is not None and kh.exists():
            client.load_host_keys(str(kh))
        if self.cfg.host_key_policy == "accept-new" and kh is not None:  # type: ignore[union-attr]
            client.set_missing_host_key_policy(_AcceptNewPolicy(kh))
        else:
            client.set_missing_host_key_policy(_StrictPolicy())
        where = f"{target.hostname}:{target.port}" + (f" (alias {target.alias})" if target.alias != target.hostname
                                                      else "")
        try:
            if sock is None:
                # our own socket: TCP_NODELAY saves a 40 ms delayed-ACK stall on every channel open
                sock = socket.create_connection((target.hostname, target.port), timeout=timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if not self._jumps:
                    self._sock = sock
            client.connect(target.hostname, port=target.port, username=target.user,
                           key_filename=target.key_files or None, look_for_keys=not target.key_files,
                           allow_agent=self.cfg.allow_agent, timeout=timeout, banner_timeout=timeout,  # type: ignore[union-attr]
                           auth_timeout=timeout, channel_timeout=timeout, sock=sock)
        except _UnknownHostKey as exc:
            client.close()
            host = f"[{target.hostname}]:{target.port}" if target.port != 22 else target.hostname
            port_flag = f"-p {target.port} " if target.port != 22 else ""
            raise self._error(
                f"host key of {host} ({exc.key.get_name()} {fingerprint(exc.key)}) is not in "
                f"{kh or 'known_hosts (none configured)'}; refusing to connect. If this is the right host, trust it "
                f"with: ssh-keyscan {port_flag}{target.hostname} >> {kh or '~/.ssh/known_hosts'}  "
                "(check the fingerprint), or set transport.host_key_policy: accept-new in the device YAML") from None
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise self._error(
                f"host key of {where} CHANGED (got {fingerprint(exc.key)}, known_hosts has "
                f"{fingerprint(exc.expected_key)}): refusing to connect; if the host was reinstalled, remove the "
                f"old line with: ssh-keygen -R '[{target.hostname}]:{target.port}' -f {kh}") from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise self._error(f"authentication refused by {target.user}@{where}: {exc} (keys tried: "
                              f"{', '.join(target.key_files) or 'default ~/.ssh/id_*'}"
                              f"{', ssh-agent' if self.cfg.allow_agent else ''})") from None  # type: ignore[union-attr]
        except TimeoutError as exc:
            client.close()
            raise self._error(f"cannot reach {where} within {timeout:g} s (timeouts.connect_s): "
                              f"{exc or 'timed out'}") from None
        except (OSError, paramiko.SSHException, EOFError) as exc:
            client.close()
            raise self._error(f"cannot connect to {where}: {type(exc).__name__}: {exc}") from None
        return client

    def connect(self) -> None:
        """Open the connection (through the ProxyJump chain if any) within ``timeouts.connect_s``."""
        if self.connected:
            return
        sock = None
        if self.target.proxy_jump:
            # a chain "a,b": connect to a, tunnel to b through a, tunnel to the target through b
            hops = [resolve_target(h, port=p, user=u, ssh_config=self.cfg.ssh_config,  # type: ignore[union-attr]
                                   key_file=self.cfg.key_file, proxy_jump="none")  # type: ignore[union-attr]
                    for h, u, p in (parse_jump(x.strip()) for x in self.target.proxy_jump.split(","))]
            # a hop without its own IdentityFile uses the target's keys (OpenSSH would try the defaults)
            hops = [h if h.key_files else replace(h, key_files=list(self.target.key_files)) for h in hops]
            for k, hop in enumerate(hops):
                nxt = hops[k + 1] if k + 1 < len(hops) else self.target
                try:
                    jump = self._client_for(hop, sock=sock)
                except DeviceError as exc:
                    self.close()
                    raise self._error(f"jump host {hop.address}: {str(exc).split(': ', 1)[-1]}") from None
                self._jumps.append(jump)
                transport = jump.get_transport()
                assert transport is not None
                try:
                    sock = transport.open_channel("direct-tcpip", (nxt.hostname, nxt.port), ("127.0.0.1", 0),
                                                  timeout=self.device.timeouts.connect_s)
                except (paramiko.SSHException, OSError) as exc:
                    self.close()
                    raise self._error(f"jump host {hop.address} cannot open a channel to "
                                      f"{nxt.hostname}:{nxt.port}: {exc}") from None
        try:
            self.client = self._client_for(self.target, sock=sock)
        except DeviceError:
            self.close()
            raise
        self.unresponsive = False
        transport = self.client.get_transport()
        assert transport is not None
        if self.cfg.keepalive_s:  # type: ignore[union-attr]
            transport.set_keepalive(max(1, int(self.cfg.keepalive_s)))  # type: ignore[union-attr]
        key = transport.get_remote_server_key()
        self.host_key_fingerprint = fingerprint(key)

    def quick_ack(self) -> None:
        """Ask Linux to ACK at once (TCP_QUICKACK does not stick, so call it after each read).

        sshd leaves Nagle on for sessions without a pty; with our delayed ACKs each small
        result line would then wait up to 40 ms for the previous one to be acknowledged.
        """
        if self._sock is not None and hasattr(socket, "TCP_QUICKACK"):
            try:
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            except OSError:
                pass

    def responsive(self, timeout_s: float) -> bool:
        """Does sshd answer a global request within ``timeout_s``? (OpenSSH's ServerAliveInterval.)

        paramiko's own keepalive asks for no reply, so it cannot notice a host that stopped
        (SIGSTOP, a hung kernel) while TCP stays up. The request waits in a thread so the
        wait is bounded; a host that fails the check is marked :attr:`unresponsive` and no
        further remote command is attempted on this connection.
        """
        transport = self.client.get_transport() if self.client else None
        if transport is None or not transport.is_active():
            return False
        answered = threading.Event()

        def ask() -> None:
            try:
                transport.global_request("keepalive@openssh.com", wait=True)
            except (paramiko.SSHException, OSError, EOFError):
                pass
            finally:
                answered.set()

        threading.Thread(target=ask, name="ssh-keepalive", daemon=True).start()
        ok = answered.wait(timeout_s) and transport.is_active()
        if not ok:
            self.unresponsive = True
        return ok

    # ---- remote commands ----------------------------------------------------------------------
    def exec(self, command: str, timeout_s: float | None = None) -> tuple[int, str, str]:
        """Run one shell command line (already quoted); ``(status, stdout, stderr)``; 124 on timeout."""
        if self.client is None:
            raise self._error("not connected")
        if self.unresponsive:
            raise self._error(f"{self.target.hostname} stopped answering SSH keepalives; not running {command[:60]!r}")
        timeout_s = timeout_s or self.device.timeouts.command_s
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise self._error(f"connection to {self.target.hostname} is closed")
        try:
            chan = transport.open_session(timeout=self.device.timeouts.connect_s)
            chan.settimeout(0.2)
            chan.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise self._error(f"cannot run a command on {self.target.hostname}: {exc}") from None
        out, err = b"", b""
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    chunk = chan.recv(65536)
                except TimeoutError:
                    chunk = None
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                if chunk:
                    out += chunk
                elif chunk == b"":
                    break
                if time.monotonic() > deadline:
                    return 124, out.decode(errors="replace"), f"timed out after {timeout_s:g} s"
            status = chan.recv_exit_status()
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
        finally:
            chan.close()
        return status, out.decode(errors="replace"), err.decode(errors="replace")

    def execute(self, argv: list[str], timeout_s: float) -> tuple[int, str, str]:
        """Run ``argv`` (each element quoted) and return ``(status, stdout, stderr)``."""
        return self.exec(shlex.join(argv), timeout_s)

    # ---- 2. workdir ----------------------------------------------------------------------------
    def make_workdir(self) -> str:
        """A fresh session directory ``<device.workdir>/hwbehave-<id>``, marked, writable and measured.

        The session directory is made with a plain ``mkdir`` (never ``-p``), so it is one this
        batch created; a marker file holding a random token goes in first, and
        :meth:`remove_workdir` deletes only a directory that still holds that token. A relative
        ``workdir`` is relative to the login directory; the absolute path is returned.
        """
        session = f"hwbehave-{uuid.uuid4().hex[:12]}"
        token = uuid.uuid4().hex
        base = self.device.workdir.rstrip("/") or "/"
        path = f"{base}/{session}"
        q = quote_path(path)
        status, out, err = self.exec(f"mkdir -p -- {quote_path(base)} && mkdir -- {q} && cd -- {q} "
                                     f"&& printf '%s\\n' {token} > {SESSION_MARKER} && pwd -P && df -Pk .")
        if status != 0:
            raise self._error(f"workdir {self.target.hostname}:{path} cannot be created or is not writable "
                              f"(exit {status}): {(err or out).strip()[-500:]}; set `workdir:` in the device YAML "
                              "to a writable directory")
        lines = out.strip().splitlines()
        absolute = lines[0].strip() if lines else ""
        if not absolute.startswith("/") or not absolute.endswith("/" + session):
            # never go on with (or later delete) a path we cannot name exactly
            self._remove_marked(path, token)
            raise self._error(f"workdir {self.target.hostname}:{path}: the remote shell reported {absolute!r} "
                              "as its absolute path; set `workdir:` to a plain absolute directory")
        self._tokens[absolute] = token
        try:
            self._free_bytes[absolute] = int(lines[-1].split()[3]) * 1024
        except (IndexError, ValueError):
            pass
        return absolute

    def free_bytes(self, workdir: str) -> int | None:
        """Free space in ``workdir`` as measured when it was made (``None`` if unknown)."""
        return self._free_bytes.get(workdir)

    # ---- 3. push -------------------------------------------------------------------------------
    def push(self, files: list[tuple[str, str]], workdir: str) -> None:
        """Copy the batch into ``workdir`` (one tar over SFTP, or one put per file)."""
        if self.client is None:
            raise self._error("not connected")
        need = sum(os.path.getsize(src) for src, _ in files)
        free = self._free_bytes.get(workdir)
        if free is not None and need + DISK_RESERVE_BYTES > free:
            raise self._error(f"remote disk full: {self.target.hostname}:{workdir} has {free / 2**20:.1f} MiB free, "
                              f"the batch needs {need / 2**20:.1f} MiB (+{DISK_RESERVE_BYTES / 2**20:.0f} MiB "
                              "reserve); free space or point `workdir:` elsewhere")
        if self.push_mode == "sftp":
            self._push_sftp(files, workdir)
        elif self.push_mode == "tar-sftp":
            self._push_tar(files, workdir)
        else:
            self._push_tar_stream(files, workdir)

    def _sftp_error(self, exc: Exception, path: str) -> DeviceError:
        return self._error(f"writing {self.target.hostname}:{path} failed: {exc or type(exc).__name__} "
                           "(remote disk full or workdir not writable?)")

    def _push_tar(self, files: list[tuple[str, str]], workdir: str) -> None:
        assert self.client is not None
        with tempfile.NamedTemporaryFile(prefix="hwbehave-batch-", suffix=".tar") as tmp:
            with tarfile.open(fileobj=tmp, mode="w", format=tarfile.GNU_FORMAT) as tar:
                for src, rel in files:
                    tar.add(os.path.realpath(src), arcname=rel, recursive=False)
            tmp.flush()
            remote = f"{workdir}/.batch.tar"
            try:
                with self.client.open_sftp() as sftp:
                    sftp.put(tmp.name, remote, confirm=True)
            except (OSError, paramiko.SSHException) as exc:
                raise self._sftp_error(exc, remote) from None
        status, out, err = self.exec(f"cd -- {quote_path(workdir)} && tar -xf .batch.tar && rm -f .batch.tar")
        if status != 0:
            raise self._error(f"unpacking the batch in {self.target.hostname}:{workdir} failed (exit {status}): "
                              f"{(err or out).strip()[-500:]}")

    def _push_tar_stream(self, files: list[tuple[str, str]], workdir: str) -> None:
        """The tar written straight into ``tar -xf -`` on one exec channel (no SFTP session)."""
        assert self.client is not None
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise self._error(f"connection to {self.target.hostname} is closed")
        err = b""
        try:
            chan = transport.open_session(timeout=self.device.timeouts.connect_s)
            chan.settimeout(self.device.timeouts.command_s)
            chan.exec_command(f"cd -- {quote_path(workdir)} && tar -xf -")

            class _ChannelWriter:
                def write(self, data: bytes) -> int:
                    chan.sendall(data)
                    return len(data)

            with tarfile.open(fileobj=_ChannelWriter(), mode="w|", format=tarfile.GNU_FORMAT) as tar:  # type: ignore[call-overload]
                for src, rel in files:
                    tar.add(os.path.realpath(src), arcname=rel, recursive=False)
            chan.shutdown_write()
            status = chan.recv_exit_status()
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            chan.close()
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise self._error(f"pushing the batch to {self.target.hostname}:{workdir} failed: {exc or type(exc).__name__}"
                              f" {err.decode(errors='replace')[-300:]} (remote disk full or workdir not writable?)") from None
        if status != 0:
            raise self._error(f"unpacking the batch in {self.target.hostname}:{workdir} failed (exit {status}): "
                              f"{err.decode(errors='replace').strip()[-500:]} (remote disk full or workdir not writable?)")

    def _push_sftp(self, files: list[tuple[str, str]], workdir: str) -> None:
        assert self.client is not None
        dirs = sorted({str(Path(rel).parent) for _, rel in files} - {"."})
        if dirs:
            status, out, err = self.exec("cd -- " + quote_path(workdir) + " && mkdir -p -- " +
                                         shlex.join(dirs))
            if status != 0:
                raise self._error(f"mkdir in {self.target.hostname}:{workdir} failed: {(err or out).strip()}")
        try:
            with self.client.open_sftp() as sftp:
                for src, rel in files:
                    remote = f"{workdir}/{rel}"
                    try:
                        sftp.put(src, remote, confirm=True)
                    except OSError as exc:
                        raise self._sftp_error(exc, remote) from None
        except paramiko.SSHException as exc:
            raise self._sftp_error(exc, workdir) from None

    # ---- 4. agent ------------------------------------------------------------------------------
    def start_agent(self, argv: list[str], workdir: str, env: dict[str, str], stdin: bytes = b"") -> AgentStream:
        """``cd workdir; echo $$ > .agent.pid; exec env K=V … argv`` on one channel, ``stdin`` sent on it."""
        if self.client is None:
            raise self._error("not connected")
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise self._error(f"connection to {self.target.hostname} is closed")
        env_part = shlex.join(f"{k}={v}" for k, v in env.items())
        command = (f"cd -- {quote_path(workdir)} && echo $$ > {PID_FILE} && exec env {env_part} "
                   f"{shlex.join(argv)}")
        try:
            chan = transport.open_session(timeout=self.device.timeouts.connect_s)
            chan.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise self._error(f"cannot start the agent on {self.target.hostname}: {exc}") from None
        try:
            chan.settimeout(self.device.timeouts.command_s)
            chan.sendall(stdin)
            chan.shutdown_write()
        except (paramiko.SSHException, OSError, EOFError):
            pass  # the agent ended before it read: its stream ends and the session reports why
        return SshAgentStream(self, chan, workdir)

    # ---- 5. cleanup ----------------------------------------------------------------------------
    def remove_workdir(self, workdir: str) -> None:
        """``rm -rf`` a session directory this transport made, only while it still holds its marker token."""
        token = self._tokens.pop(workdir, None)
        if token is None or not self.connected:
            return
        self._remove_marked(workdir, token)

    def _remove_marked(self, path: str, token: str) -> None:
        q = quote_path(path)
        marker = quote_path(f"{path}/{SESSION_MARKER}")
        self.exec(f'[ "$(cat -- {marker} 2>/dev/null)" = {token} ] && rm -rf -- {q}; true',
                  timeout_s=self.device.timeouts.command_s)

    def close(self) -> None:
        """Close the connection and any jump-host connections."""
        if self.client is not None:
            self.client.close()
            self.client = None
        for jump in reversed(self._jumps):
            jump.close()
        self._jumps = []

    def describe(self) -> dict[str, Any]:
        """Host, port, user, jump chain and the host key's fingerprint (no secrets)."""
        return {"kind": "ssh", "alias": self.target.alias, "host": self.target.hostname, "port": self.target.port,
                "user": self.target.user, "proxy_jump": self.target.proxy_jump, "push": self.push_mode,
                "host_key": self.host_key_fingerprint}
