"""The transport interface and its registry.

A transport moves files to a device and runs commands there: short ones (:meth:`Transport.execute`,
:meth:`Transport.run`) and one long-running one whose stdout lines stream back
(:meth:`Transport.start_agent`, the agent). It never builds models, never runs a runtime
itself and never interprets results: the session does, with the device's backend
(an adapter inside the agent, or a host-driven runtime that calls ``execute``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

from suite.devices.config import Device
from suite.errors import DeviceError
from suite.registry import Registry


class AgentStream(ABC):
    """A running agent: its stdout lines as they arrive, and a way to stop it."""

    @abstractmethod
    def lines(self, idle_timeout_s: float) -> Iterator[str]:
        """Yield stdout lines; raise ``TimeoutError`` after ``idle_timeout_s`` of silence.

        Ends when the agent's stdout closes (check :meth:`exit_status`).
        """

    @abstractmethod
    def stderr_tail(self) -> str:
        """The last part of the agent's stderr."""

    @abstractmethod
    def exit_status(self) -> int | None:
        """Exit status once ended, else ``None``."""

    @abstractmethod
    def kill(self) -> None:
        """Stop the agent (and its worker)."""


class Transport(ABC):
    """One connection to one device for the duration of a batch."""

    def __init__(self, device: Device) -> None:
        self.device = device

    @abstractmethod
    def connect(self) -> None:
        """Open the connection (``DeviceError`` within the connect timeout on failure)."""

    @abstractmethod
    def make_workdir(self) -> str:
        """Create and return a fresh remote working directory for this batch."""

    @abstractmethod
    def push(self, files: list[tuple[str, str]], workdir: str) -> None:
        """Copy ``(local_path, relative_remote_path)`` pairs into ``workdir``."""

    @abstractmethod
    def start_agent(self, argv: list[str], workdir: str, env: dict[str, str], stdin: bytes = b"") -> AgentStream:
        """Start ``argv`` (the agent command, already split) in ``workdir``; write ``stdin`` to its
        standard input (the job list), then close it."""

    @abstractmethod
    def execute(self, argv: list[str], timeout_s: float) -> tuple[int, str, str]:
        """Run a short command; ``(exit status, stdout, stderr)``, status 124 after ``timeout_s``.

        Exit statuses follow the shell's convention (killed by signal N: 128 + N).

        A lost connection raises ``DeviceError`` (a host-driven runtime turns it into
        ``device_lost``); every argument is quoted for the remote shell.
        """

    def run(self, argv: list[str], timeout_s: float) -> tuple[int, str, str]:
        """:meth:`execute`, best effort: a lost connection is status 255 with the reason as stderr."""
        try:
            return self.execute(argv, timeout_s)
        except DeviceError as exc:
            return 255, "", str(exc)

    @abstractmethod
    def remove_workdir(self, workdir: str) -> None:
        """Delete ``workdir`` (called in ``finally`` unless the device keeps it)."""

    def close(self) -> None:  # noqa: B027 - optional hook: the local transport has nothing to close
        """Close the connection."""

    def describe(self) -> dict[str, Any]:
        """Facts about the connection for the manifest (no secrets)."""
        return {"kind": self.device.transport.kind}


TRANSPORTS: Registry[type[Transport]] = Registry("transport", entry_point_group="hwbehave.transports")


def transport_for(device: Device) -> Transport:
    """Instantiate the registered transport of ``device.transport.kind``."""
    import importlib

    from suite.devices.transports import local  # noqa: F401 - registers itself

    kind = device.transport.kind
    if kind in ("ssh", "adb") and kind not in TRANSPORTS:
        try:
            importlib.import_module(f"suite.devices.transports.{kind}")
        except ImportError as exc:
            from suite.errors import ConfigError

            raise ConfigError(f"the {kind} transport needs the [remote] extra: {exc}", field="transport.kind",
                              value=kind, expected="pip install 'hwbehave[remote]'") from None
    return TRANSPORTS.get(kind, field="transport.kind")(device)
