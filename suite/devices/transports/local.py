"""Local transport: the agent runs as a child process on this machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from suite.agent.lines import LineReader
from suite.devices.transports.base import TRANSPORTS, AgentStream, Transport


class LocalAgentStream(AgentStream):
    """The stdout lines and stderr file of a local agent child process."""
    def __init__(self, proc: subprocess.Popen[bytes], stderr_file: Path) -> None:
        self.proc = proc
        self.stderr_file = stderr_file

    def lines(self, idle_timeout_s: float) -> Iterator[str]:
        assert self.proc.stdout is not None
        reader = LineReader(self.proc.stdout.fileno())
        try:
            while True:
                try:
                    line = reader.read_line(idle_timeout_s)
                except TimeoutError:
                    raise TimeoutError(f"agent silent for {idle_timeout_s:.0f} s") from None
                if line is None:
                    if reader.buffer:
                        yield reader.buffer.decode(errors="replace")
                    self.proc.wait()
                    return
                yield line
        finally:
            reader.close()

    def stderr_tail(self) -> str:
        try:
            return self.stderr_file.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def exit_status(self) -> int | None:
        return self.proc.poll()

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        self.proc.wait()


@TRANSPORTS.register("local")
class LocalTransport(Transport):
    """Files are symlinked into a temporary workdir; the agent is a child process group."""

    def connect(self) -> None:
        pass

    def make_workdir(self) -> str:
        return tempfile.mkdtemp(prefix="hwbehave-local-")

    def push(self, files: list[tuple[str, str]], workdir: str) -> None:
        """Symlink each file into ``workdir``, replacing what the name held (as a copy would)."""
        for src, rel in files:
            dst = Path(workdir) / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.is_symlink() or dst.exists():
                dst.unlink()
            os.symlink(os.path.abspath(src), dst)

    def _python(self) -> str:
        # the device YAML's python, unless it is the generic default: then this interpreter
        return sys.executable if self.device.python in ("python3", "python") else self.device.python

    def start_agent(self, argv: list[str], workdir: str, env: dict[str, str], stdin: bytes = b"") -> AgentStream:
        stderr_file = Path(workdir) / "agent.stderr"
        argv = [self._python() if a == "{python}" else a for a in argv]
        with open(stderr_file, "wb") as err:
            proc = subprocess.Popen(argv, cwd=workdir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=err, env={**os.environ, **env}, start_new_session=True)
        assert proc.stdin is not None
        try:
            proc.stdin.write(stdin)
            proc.stdin.close()
        except BrokenPipeError:  # the agent died before it read: its stream ends, the session reports it
            pass
        return LocalAgentStream(proc, stderr_file)

    def execute(self, argv: list[str], timeout_s: float) -> tuple[int, str, str]:
        """Run ``argv`` here (``{python}`` is this interpreter); 124 on timeout, 127 if it cannot start."""
        argv = [self._python() if a == "{python}" else a for a in argv]
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                               env={**os.environ, **self.device.env})
        except subprocess.TimeoutExpired:
            return 124, "", f"timed out after {timeout_s} s"
        except OSError as exc:
            return 127, "", str(exc)
        # a shell's convention, as remote transports report it: killed by signal N is 128 + N
        return (128 - p.returncode if p.returncode < 0 else p.returncode), p.stdout, p.stderr

    def remove_workdir(self, workdir: str) -> None:
        shutil.rmtree(workdir, ignore_errors=True)
