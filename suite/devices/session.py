"""A device session: push a batch to a device, run the agent once, stream results back.

Remote work is written as numbered steps with cleanup in ``finally`` (TVM runner style):

1. connect (transport, within ``timeouts.connect_s``);
2. make a fresh workdir;
3. push one batch: the agent bundle (when the runtime runs in the agent) and each distinct
   model file once (a session kept open pushes only what its workdir lacks);
4. start the agent (``serve``) once, the job list on its stdin, or, for a host-driven runtime
   (the backend's ``host_runtime``, e.g. ``benchmark_model``), its stream on the controller
   (:mod:`suite.devices.host_runtime`);
5. stream JSON lines: ``hello`` (protocol checked), ``env``, one ``result`` per job, ``bye``;
6. clean up: stop the agent if still running, remove the workdir (unless kept), close.

Every batch is a fresh agent (its own supervisor and worker processes: the rounds of a sweep are
replicated across processes). A session made with ``keep_open=True`` (the pipeline's) keeps
the connection and the workdir from one batch to the next until :meth:`DeviceSession.close`,
so steps 1, 2 and 6 happen once per run and step 3 copies only files new to the workdir
(usually none): over SSH a batch is one remote command where it was a connection and four. A
batch that fails closes them; the next one starts over from step 1.

If the stream ends or goes silent before ``bye``, the job in flight is reported lost
(:class:`DeviceLost`); results already streamed were handed to the caller and stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite.agent.protocol import PROTOCOL_VERSION
from suite.devices.agent_bundle import agent_bundle
from suite.devices.config import Device
from suite.devices.host_runtime import HostRuntimeStream
from suite.devices.transports.base import AgentStream, Transport, transport_for
from suite.errors import AgentProtocolError, DeviceError

#: Host-side grace on top of the per-point timeout before the device counts as lost.
IDLE_GRACE_S = 60.0


@dataclass(frozen=True)
class Job:
    """One artifact to time on the device (crosses the host/agent boundary as JSON)."""

    job_id: str
    model_path: str
    format: str
    dtype: str
    runtime: str
    runtime_options: dict[str, Any]
    protocol: dict[str, Any]
    input_seed: int
    model_sha256: str

    def wire(self, remote_model: str) -> dict[str, Any]:
        return {"job": self.job_id, "model": remote_model, "format": self.format, "dtype": self.dtype,
                "runtime": self.runtime, "runtime_options": self.runtime_options, "protocol": self.protocol,
                "input_seed": self.input_seed}


class DeviceLost(DeviceError):
    """The agent stream ended or went silent before the batch finished.

    ``in_flight`` is the job being measured when it happened; ``pending`` every job
    without a result (in flight first).
    """

    def __init__(self, reason: str, in_flight: str | None = None, pending: list[str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.in_flight = in_flight
        self.pending = list(pending or [])


def agent_argv(python: str) -> list[str]:
    """The command that starts the agent in the batch workdir with ``python`` (jobs on its stdin)."""
    return [python, "agent.pyz", "serve", "--jobs", "-", "--base", "."]


class DeviceSession:
    """Runs batches of jobs on one device through its transport (see the module docstring)."""

    def __init__(self, device: Device, transport: Transport | None = None, keep_open: bool = False) -> None:
        self.device = device
        self.backend = device.backend
        self.transport = transport or transport_for(device)
        self.hello: dict[str, Any] | None = None
        self.keep_open = keep_open
        self._workdir: str | None = None
        self._pushed: set[tuple[str, str]] = set()  # (local, remote) pairs the workdir holds

    def run_batch(self, jobs: list[Job], on_result: Callable[[dict[str, Any]], None],
                  on_env: Callable[[str, dict[str, Any]], None] | None = None,
                  on_hello: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Run ``jobs``; call ``on_result`` per result as it arrives. Raises ``DeviceLost``."""
        if not jobs:
            return
        t = self.transport
        stream: AgentStream | None = None
        host_runtime = self.backend.host_runtime_class()
        finished = False
        try:
            runtime = host_runtime(t, self.device) if host_runtime else None
            if runtime is not None:
                runtime.check_options()  # bad options: one ConfigError now, not a failure per job
            if self._workdir is None:
                t.connect()                                                # 1
                self._workdir = t.make_workdir()                           # 2
                self._pushed = set()
            workdir = self._workdir
            files, wire = self._batch_files(jobs, agent=runtime is None)
            new = [f for f in files if f not in self._pushed]
            t.push(new, workdir)                                           # 3
            self._pushed.update(new)
            env = dict(self.device.env)
            if runtime is None:                                            # 4
                jobs_text = "".join(json.dumps(w) + "\n" for w in wire).encode()
                stream = t.start_agent(agent_argv(self._python()), workdir, env, stdin=jobs_text)
            else:
                # a host-driven runtime runs on the controller: it may read what the build left
                # beside the artifact (a vendor's estimate reports), so it gets the local path too
                host_wire = [dict(w, artifact=j.model_path) for w, j in zip(wire, jobs, strict=True)]
                stream = HostRuntimeStream(runtime, host_wire, workdir, env)
            self._stream(stream, jobs, on_result, on_env, on_hello)        # 5
            finished = True
        finally:
            if stream is not None and stream.exit_status() is None:       # 6
                try:
                    stream.kill()
                except (OSError, DeviceError):
                    pass
            if not (finished and self.keep_open):
                self.close()

    def close(self) -> None:
        """Remove the workdir (unless the device keeps it) and close the connection (step 6)."""
        workdir, self._workdir, self._pushed = self._workdir, None, set()
        if workdir is not None and not self.device.keep_workdir:
            try:
                self.transport.remove_workdir(workdir)
            except (OSError, DeviceError):
                pass
        self.transport.close()

    def _python(self) -> str:
        return "{python}" if self.device.transport.kind == "local" else self.device.python

    def _batch_files(self, jobs: list[Job], agent: bool = True) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
        """``(local, remote)`` pairs (the agent if ``agent``, each distinct model once) and the
        jobs in wire form."""
        files: list[tuple[str, str]] = [(str(agent_bundle()), "agent.pyz")] if agent else []
        seen: dict[str, str] = {}
        wire = []
        for job in jobs:
            remote = seen.get(job.model_sha256)
            if remote is None:
                remote = f"models/{job.model_sha256[:20]}{Path(job.model_path).suffix}"
                seen[job.model_sha256] = remote
                files.append((job.model_path, remote))
            wire.append(job.wire(remote))
        return files, wire

    def _stream(self, stream: Any, jobs: list[Job], on_result: Callable[[dict[str, Any]], None],
                on_env: Callable[[str, dict[str, Any]], None] | None,
                on_hello: Callable[[dict[str, Any]], None] | None) -> None:
        pending = [j.job_id for j in jobs]
        idle = max(float(j.protocol.get("timeout_s", 120.0)) for j in jobs) + IDLE_GRACE_S
        got_bye = False
        try:
            for line in stream.lines(idle):
                line = line.strip()
                if not line:
                    continue
                try:
                    msg = json.loads(line)
                except ValueError:
                    raise AgentProtocolError(f"agent sent a line that is not JSON: {line[:200]!r}",
                                             device=self.device.name) from None
                kind = msg.get("type")
                if kind == "hello":
                    if msg.get("protocol") != PROTOCOL_VERSION:
                        raise AgentProtocolError(
                            f"agent speaks protocol {msg.get('protocol')}, host expects {PROTOCOL_VERSION}; "
                            "the pushed agent and this hwbehave are out of step", device=self.device.name)
                    self.hello = msg
                    if on_hello:
                        on_hello(msg)
                elif kind == "env":
                    if on_env:
                        on_env(msg.get("when", "?"), msg.get("env", {}))
                elif kind == "result":
                    if msg.get("job") in pending:
                        pending.remove(msg["job"])
                    on_result(msg)
                elif kind == "bye":
                    got_bye = True
        except TimeoutError as exc:
            try:  # a frozen host cannot run the kill either: the loss is what to report
                stream.kill()
            except (OSError, DeviceError):
                pass
            raise DeviceLost(reason=f"device {self.device.name}: {exc}", in_flight=pending[0] if pending else None,
                             pending=pending) from None
        if not got_bye:
            tail = stream.stderr_tail().strip()
            raise DeviceLost(
                reason=f"device {self.device.name}: agent stream ended before the batch finished "
                       f"(exit status {stream.exit_status()}); stderr tail: {tail[-800:]}",
                in_flight=pending[0] if pending else None, pending=pending)
