"""The agent's stream of lines, played on the controller for a host-driven runtime.

For a backend whose runtime is driven from the controller (:class:`suite.backends.runtime.HostRuntime`,
e.g. ``benchmark_model`` on a phone), :class:`HostRuntimeStream` yields exactly what the
agent would print (``hello``, ``env`` at start, one ``result`` per job, ``env`` at end,
``bye``), so :class:`~suite.devices.session.DeviceSession` reads both kinds of runtime the
same way. If the device goes away (a ``DeviceError`` or a broken connection) the stream
ends early and the session reports the job in flight as lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from suite.backends.runtime import HostRuntime
from suite.devices.transports.base import AgentStream
from suite.errors import DeviceError


class HostRuntimeStream(AgentStream):
    """The agent protocol's lines for ``jobs`` (wire form), produced by ``runtime`` on the controller."""

    def __init__(self, runtime: HostRuntime, jobs: list[dict[str, Any]], workdir: str, env: dict[str, str]) -> None:
        self.runtime = runtime
        self.jobs = jobs
        self.workdir = workdir
        self.env = env
        self._status: int | None = None
        self._stderr = ""

    def lines(self, idle_timeout_s: float) -> Iterator[str]:
        """One JSON line per message; each job is bounded by its own protocol ``timeout_s``."""
        r = self.runtime
        try:
            yield json.dumps(r.hello())
            yield json.dumps({"type": "env", "when": "start", "env": r.probe_environment()})
            for job in self.jobs:
                if self._status is not None:  # killed
                    return
                yield json.dumps(r.run_job(job, self.workdir, self.env))
            yield json.dumps({"type": "env", "when": "end", "env": r.probe_environment()})
            yield json.dumps({"type": "bye", "jobs": len(self.jobs)})
            self._status = 0
        except (DeviceError, OSError, EOFError) as exc:
            # the device or its connection went away: end the stream; the session reports DeviceLost
            self._stderr += f"{r.name}: {type(exc).__name__}: {exc}\n"
            self._status = 255

    def stderr_tail(self) -> str:
        return self._stderr[-2000:]

    def exit_status(self) -> int | None:
        return self._status

    def kill(self) -> None:
        self._status = self._status if self._status is not None else -9
