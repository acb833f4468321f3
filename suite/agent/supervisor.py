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

from .environment import probe_environment
from .lines import LineReader
from .protocol import AGENT_VERSION, PROTOCOL_VERSION

STDERR_TAIL_CHARS = 2000


def hello():
    """The handshake line: versions, runtimes available, CPU/SoC."""
    from .runtimes import load_all

    runtimes = {}
    for name, cls in sorted(load_all().items()):
        try:
            runtimes[name] = cls.version()
        except Exception as exc:  # noqa: BLE001 - report, do not fail the handshake
            runtimes[name] = "error: %s" % exc
    env = probe_environment()
    return {"type": "hello", "protocol": PROTOCOL_VERSION, "agent_version": AGENT_VERSION,
            "python": env["python"], "runtimes": runtimes, "cpu_model": env["cpu_model"],
            "arch": env["arch"], "os": env["os"], "hostname": env["hostname"]}


class Worker(object):
    """A worker child process with a line reader that honours deadlines."""

    def __init__(self, launch, base_dir, env=None):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(launch + ["worker", "--base", base_dir], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, env=env)
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
    """Run every job of ``jobs_path`` (JSON lines) and stream results to ``out``."""
    out = out or sys.stdout

    def emit(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    emit(hello())
    emit({"type": "env", "when": "start", "env": probe_environment()})
    worker = None
    with open(jobs_path) as f:
        jobs = [json.loads(line) for line in f if line.strip()]
    for job in jobs:
        if worker is None:
            worker = Worker(launch, base_dir)
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
        emit(json.loads(line))
    if worker is not None:
        worker.close()
    emit({"type": "env", "when": "end", "env": probe_environment()})
    emit({"type": "bye", "jobs": len(jobs)})
    return 0
