"""A test host in its own network namespace: a veth pair from this machine into it.

Needs root and iproute2 (``ip netns``). Used to run a real ``sshd`` at an address other
than loopback, so the SSH transport is tested across a (virtual) network link.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

IP = shutil.which("ip") or "/usr/sbin/ip"


def _ip(*args: str, netns: str | None = None) -> None:
    argv = [IP, "netns", "exec", netns, IP, *args] if netns else [IP, *args]
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=10)


class TestNetns:
    """A namespace ``hwb-<id>`` reachable at ``ns_ip`` from ``host_ip`` (a /30 link)."""

    __test__ = False

    def __init__(self, subnet: int = 7) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.name = f"hwb-{suffix}"
        self.veth_host = f"hwbh{suffix}"
        self.veth_ns = f"hwbn{suffix}"
        # a private /30 per test host: 10.231.<subnet>.0/30
        self.host_ip = f"10.231.{subnet}.1"
        self.ns_ip = f"10.231.{subnet}.2"
        self.created = False

    @staticmethod
    def why_unavailable() -> str | None:
        """``None`` if namespaces can be made here, else the reason."""
        if os.geteuid() != 0:
            return "network namespaces need root"
        if not os.path.exists(IP):
            return "iproute2 (ip) is not installed"
        probe = f"hwb-probe-{uuid.uuid4().hex[:6]}"
        p = subprocess.run([IP, "netns", "add", probe], capture_output=True, text=True)
        if p.returncode != 0:
            return f"ip netns add failed: {p.stderr.strip()}"
        subprocess.run([IP, "netns", "del", probe], capture_output=True)
        return None

    def create(self) -> TestNetns:
        _ip("netns", "add", self.name)
        self.created = True
        _ip("link", "add", self.veth_host, "type", "veth", "peer", "name", self.veth_ns)
        _ip("link", "set", self.veth_ns, "netns", self.name)
        _ip("addr", "add", f"{self.host_ip}/30", "dev", self.veth_host)
        _ip("link", "set", self.veth_host, "up")
        _ip("addr", "add", f"{self.ns_ip}/30", "dev", self.veth_ns, netns=self.name)
        _ip("link", "set", self.veth_ns, "up", netns=self.name)
        _ip("link", "set", "lo", "up", netns=self.name)
        return self

    def exec_prefix(self) -> list[str]:
        """Prefix that runs a command inside the namespace."""
        return [IP, "netns", "exec", self.name]

    def destroy(self) -> None:
        if self.created:
            subprocess.run([IP, "netns", "del", self.name], capture_output=True, timeout=10)
            subprocess.run([IP, "link", "del", self.veth_host], capture_output=True, timeout=10)
            self.created = False

    def __enter__(self) -> TestNetns:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.destroy()
