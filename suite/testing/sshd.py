"""A real OpenSSH ``sshd`` on loopback for tests: own host key, user key, config and known_hosts.

Needs Debian's ``openssh-server`` (``/usr/sbin/sshd``) and ``ssh-keygen``. Nothing is
installed or changed outside the given directory except ``/run/sshd`` (privilege
separation directory that sshd insists on; created if missing).

>>> with TestSshd(tmp_path) as server:          # doctest: +SKIP
...     server.device_yaml(workdir=str(tmp_path / "remote"))
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class TestSshd:
    """``sshd -D`` on ``host:<free port>`` with ed25519 keys generated under ``root``.

    ``host`` defaults to 127.0.0.1; with ``netns`` (a :class:`suite.testing.netns.TestNetns`)
    sshd runs inside that namespace and ``host`` should be its address.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, root: str | Path, port: int | None = None, user: str | None = None,
                 host: str = "127.0.0.1", netns: Any = None) -> None:
        if not Path(SSHD).exists():
            raise RuntimeError(f"{SSHD} not found: install Debian's openssh-server (apt-get install openssh-server)")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = host
        self.netns = netns  # a suite.testing.netns.TestNetns: run sshd inside it
        self.user = user or getpass.getuser()
        self.host_key = self.root / "ssh_host_ed25519_key"
        self.user_key = self.root / "id_ed25519"
        self.authorized_keys = self.root / "authorized_keys"
        self.known_hosts = self.root / "known_hosts"
        self.config = self.root / "sshd_config"
        self.pid_file = self.root / "sshd.pid"
        self.log_file = self.root / "sshd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._frozen: list[int] = []
        self._write_files()

    def _write_files(self) -> None:
        keygen = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
        for key in (self.host_key, self.user_key):
            if not key.exists():
                subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "hwbehave-test", "-f", str(key)],
                               check=True, capture_output=True)
        self.authorized_keys.write_text(Path(str(self.user_key) + ".pub").read_text())
        host_pub = Path(str(self.host_key) + ".pub").read_text().split()
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        self.config.write_text("\n".join([
            f"Port {self.port}",
            f"ListenAddress {self.host}",
            f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            f"PidFile {self.pid_file}",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin yes",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "Subsystem sftp internal-sftp",
            "MaxSessions 50",
            "MaxStartups 50:30:100",
            "LogLevel ERROR",
            "",
        ]))

    @property
    def host_public_key_line(self) -> str:
        """``ssh-ed25519 AAAA…`` of the server."""
        return " ".join(Path(str(self.host_key) + ".pub").read_text().split()[:2])

    def start(self, timeout_s: float = 10.0) -> TestSshd:
        """Start sshd and wait until the port accepts connections."""
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        log = open(self.log_file, "ab")
        prefix = self.netns.exec_prefix() if self.netns is not None else []
        self.proc = subprocess.Popen([*prefix, SSHD, "-D", "-e", "-f", str(self.config)], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: {self.log_file.read_text()[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                    s.settimeout(1.0)
                    if s.recv(4) == b"SSH-":
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sshd did not accept connections on {self.host}:{self.port} within {timeout_s} s")

    def stop(self, drop_connections: bool = True) -> None:
        """Stop the listener and (by default) every live connection it forked: clients see a drop."""
        if self.proc is None:
            return
        self.thaw()
        pids = _descendants(self.proc.pid) if drop_connections else []
        for pid in [self.proc.pid, *pids]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.proc = None

    def sshd_pids(self) -> list[int]:
        """The listener and every sshd process it forked (sessions), not the users' programs."""
        if self.proc is None:
            return []
        out = [self.proc.pid]
        for pid in _descendants(self.proc.pid):
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip().startswith("sshd"):
                        out.append(pid)
            except OSError:
                continue
        return out

    def freeze(self) -> list[int]:
        """SIGSTOP the listener and its sessions: the host stops answering while TCP stays up."""
        pids = self.sshd_pids()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        self._frozen = pids
        return pids

    def thaw(self) -> None:
        """SIGCONT what :meth:`freeze` stopped."""
        for pid in self._frozen:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self._frozen = []

    def restart(self) -> TestSshd:
        """Stop (dropping connections) and start again on the same port with the same keys."""
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def device_yaml(self, *, name: str = "test-ssh", workdir: str, python: str | None = None,
                    extra: str = "", known_hosts: str | None = None, host_key_policy: str = "strict",
                    port: int | None = None) -> str:
        """A device YAML that reaches this server with its key and known_hosts (no agent, no config)."""
        import sys

        kh = known_hosts if known_hosts is not None else str(self.known_hosts)
        return "\n".join([
            f"name: {name}",
            "class: cpu",
            "transport:",
            "  kind: ssh",
            f"  host: {self.host}",
            f"  port: {port or self.port}",
            f"  user: {self.user}",
            f"  key_file: {self.user_key}",
            f"  known_hosts: {kh}",
            f"  host_key_policy: {host_key_policy}",
            "  ssh_config: null",
            "  allow_agent: false",
            "runtime:",
            "  name: onnxruntime",
            "  threads: 1",
            "formats: [onnx]",
            f"workdir: {workdir}",
            f"python: {python or sys.executable}",
            extra,
        ]) + "\n"

    def __enter__(self) -> TestSshd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
