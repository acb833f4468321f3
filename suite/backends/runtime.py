"""Host-driven runtimes: runtimes the controller runs through a transport's commands.

Most runtimes run inside the agent on the device (``suite/agent/runtimes/<name>.py``). A
device without Python (an Android phone), or a tool that is itself the measurement
(TFLite's ``benchmark_model``, later a vendor's performance estimator), is driven from the
controller instead: a :class:`HostRuntime` answers what the agent would (``hello``, the
environment, one ``result`` message per job, in the agent's own JSON shapes), using only
:class:`CommandRunner`'s two calls. The session (:mod:`suite.devices.host_runtime`) turns
those answers into the same stream of lines the agent sends, so the pipeline cannot tell
the two apart. A backend names its host runtime in :attr:`suite.backends.backend.Backend.host_runtime`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol


class CommandRunner(Protocol):
    """What a host-driven runtime may ask of a transport."""

    def execute(self, argv: list[str], timeout_s: float) -> tuple[int, str, str]:
        """Run one command (arguments quoted for the remote shell); 124 on timeout; lost: ``DeviceError``."""
        ...

    def describe(self) -> dict[str, Any]:
        """Facts about the connection (``kind``, ``serial`` or ``host``, ...)."""
        ...


class HostRuntime(ABC):
    """A runtime run from the controller: one instance per batch, over one connected transport.

    ``device`` is the :class:`suite.devices.config.Device` (its ``runtime`` options, ``env``
    and ``timeouts``). Per-job failures are result messages with a status, never exceptions;
    a ``DeviceError`` (the device went away) ends the batch as ``device_lost``.
    """

    #: The runtime name (a backend's ``runtime``).
    name: ClassVar[str] = ""

    def __init__(self, transport: CommandRunner, device: Any) -> None:
        self.transport = transport
        self.device = device

    def check_options(self) -> None:  # noqa: B027 - optional hook: a runtime without options has nothing to check
        """Raise ``ConfigError`` for runtime options this runtime cannot use (before any job)."""

    @abstractmethod
    def hello(self) -> dict[str, Any]:
        """The handshake the agent would send (``type: hello``, ``protocol``, ``runtimes``, ...)."""

    @abstractmethod
    def probe_environment(self) -> dict[str, Any]:
        """The device environment in the agent's ``env`` shape (hostname, os, governor, temperatures, ...)."""

    @abstractmethod
    def run_job(self, job: dict[str, Any], workdir: str, env: dict[str, str]) -> dict[str, Any]:
        """Time one job (the agent's wire form; its ``model`` is relative to ``workdir``): a ``result`` message.

        ``job["artifact"]`` is the artifact's path on the controller, for a runtime that reads
        what the build left beside it (Vela's estimate reports, :mod:`suite.backends.ethos_u.runtime`).
        """
