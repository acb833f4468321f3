"""The supervisor: starts a worker, feeds it jobs, enforces timeouts, survives crashes.

Output is JSON lines on stdout: ``hello``, ``env`` (start), one ``result`` per job,
``env`` (end), ``bye``. The host stores results as they arrive, so a dropped
connection loses only the points in flight.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time

from .lines import LineReader

# .environment and .protocol are imported where used, after the worker started: their imports
# (platform, socket, dataclasses) came before the spawn and so before everything the batch waits for.

STDERR_TAIL_CHARS = 2000


def hello(import_runtimes=True):
    """The handshake line: versions, runtimes available, CPU/SoC.

    With ``import_runtimes`` (the ``hello`` command behind ``hwbehave devices check``) each
    adapter's ``version()`` imports its runtime: the check that it imports. ``serve`` passes
    ``False``: the versions come from the package metadata of the modules each adapter declares,
    nothing is imported (importing every runtime cost each batch about 0.6 s and the supervisor's
    exit as much again; the worker imports the one runtime it runs anyway, and a runtime that does
    not import is that job's status). An adapter that declares no modules is asked.
    """
    from .environment import probe_environment
    from .protocol import AGENT_VERSION, PROTOCOL_VERSION
    from .runtimes import load_all

    runtimes = {}
    for name, cls in sorted(load_all().items()):
        try:
            runtimes[name] = cls.version() if import_runtimes or not cls.modules else declared_version(cls)
        except Exception as exc:  # noqa: BLE001 - report, do not fail the handshake
            runtimes[name] = "error: %s" % exc
    env = probe_environment()
    return {"type": "hello", "protocol": PROTOCOL_VERSION, "agent_version": AGENT_VERSION,
            "python": env["python"], "runtimes": runtimes, "cpu_model": env["cpu_model"],
            "arch": env["arch"], "os": env["os"], "hostname": env["hostname"]}


def declared_version(cls):
    """Versions of the packages an adapter declares (``modules``), from their metadata: the one
    version when it declares one package, else ``"dist version, ..."`` of those installed (``None``:
    none is)."""
    from .environment import package_version

    found = [(dist, package_version(module, dist)) for module, dist in cls.modules]
    found = [(dist, version) for dist, version in found if version]
    if len(cls.modules) == 1:
        return found[0][1] if found else None
    return ", ".join("%s %s" % pair for pair in found) or None


class Worker(object):
    """A worker child process with a line reader that honours deadlines."""

    def __init__(self, launch, base_dir, preload=None, env=None):
        self.stderr = tempfile.TemporaryFile()
        argv = launch + ["worker", "--base", base_dir] + (["--preload", preload] if preload else [])
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env)
        self.reader = LineReader(self.proc.stdout.fileno())

    def send(self, job):
        self.proc.stdin.write((json.dumps(job) + "\n").encode())
        self.proc.stdin.flush()

    def read_line(self, timeout_s):
        """Next stdout line, ``None`` at EOF, or raise ``TimeoutError``."""
        return self.reader.read_line(timeout_s)

    def stderr_tail(self):
        try:
            self.stderr.seek(0)
            data = self.stderr.read()
        except (OSError, ValueError):
            return ""
        return data.decode(errors="replace")[-STDERR_TAIL_CHARS:]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        return self.proc.returncode

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
        self.reader.close()
        self.stderr.close()


def _signal_name(returncode):
    if returncode is not None and returncode < 0:
        try:
            return "signal %d (%s)" % (-returncode, signal.Signals(-returncode).name)
        except ValueError:
            return "signal %d" % -returncode
    return "exit code %s" % returncode


def serve(jobs_path, base_dir, launch, out=None):
    """Run every job of ``jobs_path`` (JSON lines; ``-``: stdin) and stream results to ``out``.

    The first worker starts before the handshake, told which runtime to import, so its
    interpreter start and runtime import overlap the ``hello`` and the environment probe
    instead of delaying the first job. A worker's result line is passed on as it came
    (it is one JSON object: re-encoding it cost a parse and a dump per job).
    """
    out = out or sys.stdout

    def emit_line(text):
        out.write(text + "\n")
        out.flush()

    def emit(obj):
        emit_line(json.dumps(obj))

    if jobs_path == "-":  # the host sends the job list on stdin (no file to push first)
        jobs = [json.loads(line) for line in sys.stdin if line.strip()]
    else:
        with open(jobs_path) as f:
            jobs = [json.loads(line) for line in f if line.strip()]
    worker = Worker(launch, base_dir, preload=jobs[0].get("runtime")) if jobs else None
    from .environment import probe_environment

    emit(hello(import_runtimes=False))
    emit({"type": "env", "when": "start", "env": probe_environment()})
    for job in jobs:
        if worker is None:
            worker = Worker(launch, base_dir, preload=job.get("runtime"))
        timeout_s = float((job.get("protocol") or {}).get("timeout_s", 120.0))
        started = time.time()
        worker.send(job)
        try:
            line = worker.read_line(timeout_s)
        except TimeoutError:
            worker.kill()
            emit({"type": "result", "job": job["job"], "status": "timeout",
                  "error": "agent: no result within %.1f s; runtime process killed. stderr tail: %s"
                  % (timeout_s, worker.stderr_tail()[-500:])})
            worker.close()
            worker = None
            continue
        if line is None:
            code = worker.kill()
            emit({"type": "result", "job": job["job"], "status": "crashed",
                  "error": "agent: runtime process died (%s) after %.1f s. stderr tail: %s"
                  % (_signal_name(code), time.time() - started, worker.stderr_tail())})
            worker.close()
            worker = None
            continue
        emit_line(line)
    if worker is not None:
        worker.close()
    emit({"type": "env", "when": "end", "env": probe_environment()})
    emit({"type": "bye", "jobs": len(jobs)})
    return 0
