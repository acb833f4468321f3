"""Fixtures for the adversarial suite: the real CLI as a subprocess, a small tmpfs, a tiny sweep.

Every fault here is produced for real: signals to a real ``hwbehave`` process, a real
``ENOSPC`` from a size-limited tmpfs, a real sshd stopped with SIGSTOP.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from suite.testing.requirements import require
from suite.testing.signals import ctrl_c_default

#: A protocol short enough for tests, long enough that a run can be interrupted mid-way; one round, no
#: sentinel, no confirmation (test_lost_journal.py and test_concurrent_runs.py run the default rounds).
FAST = ("measure: {warmup_runs: 1, warmup_s: 0.0, min_runs: 3, min_s: 0.0, max_s: 0.05, timeout_s: 30, rounds: 1, "
        "sentinel_every: 0, confirm_s: 0}\n")
SLOW = ("measure: {warmup_runs: 1, warmup_s: 0.0, min_runs: 3, min_s: 0.3, max_s: 0.5, timeout_s: 30, rounds: 1, "
        "sentinel_every: 0, confirm_s: 0}\n")


def sweep_text(name: str = "adv", couts: tuple[int, ...] = (4, 8, 12), measure: str = FAST) -> str:
    """A conv2d sweep over output channels (one point per value, fp32)."""
    return (f"name: {name}\nop: conv2d\nfixed: {{cin: 4, resolution: 8}}\naxes:\n  cout: {list(couts)}\n"
            + measure)


def hwbehave(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
             cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI (``python -m suite``) and capture its output."""
    return subprocess.run([sys.executable, "-m", "suite", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def spawn(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start the real CLI in the background (its own session, so signals reach only it)."""
    return subprocess.Popen([sys.executable, "-m", "suite", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True,
                            preexec_fn=ctrl_c_default)


def wait_for(predicate, timeout_s: float = 120.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true; fail the test (not hang) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def journal_lines(run_dir: Path) -> int:
    journal = run_dir / "journal.jsonl"
    return journal.read_text().count("\n") if journal.exists() else 0


def assert_clean_exit(p: subprocess.CompletedProcess[str] | tuple[int, str], code: int) -> None:
    """The exit status is ``code`` and nothing printed a traceback."""
    rc, err = (p.returncode, p.stderr) if isinstance(p, subprocess.CompletedProcess) else p
    assert rc == code, f"exit {rc}, expected {code}; stderr:\n{err[-3000:]}"
    assert "Traceback" not in err, err[-3000:]


class Tmpfs:
    """A size-limited tmpfs mounted at ``path`` (root only); ``fill()`` takes every free byte."""

    def __init__(self, path: Path, size_kb: int) -> None:
        self.path = path
        self.size_kb = size_kb
        self.filler = path / "filler"

    def mount(self) -> Tmpfs:
        self.path.mkdir(parents=True, exist_ok=True)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_kb}k", "tmpfs", str(self.path)],
                           capture_output=True, text=True)
        require(None if p.returncode == 0 else f"cannot mount a tmpfs ({p.stderr.strip()})",
                "run the tests as root (CI does), which can mount a small tmpfs")
        return self

    def fill(self) -> None:
        """Write a file until the filesystem says ENOSPC."""
        with open(self.filler, "ab", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def grow(self, size_kb: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size_kb}k", str(self.path)], check=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Tmpfs]:
    """A 256 KB tmpfs under tmp_path (grow or fill it in the test)."""
    fs = Tmpfs(tmp_path / "disk", 256).mount()
    try:
        yield fs
    finally:
        fs.unmount()


@pytest.fixture
def fresh_tmpdir(tmp_path: Path) -> Path:
    """A TMPDIR of its own, to check that a run leaves no temporary directory behind."""
    d = tmp_path / "tmpdir"
    d.mkdir()
    return d


def leftovers(tmpdir: Path) -> list[str]:
    """Per-run temporary entries hwbehave made under ``tmpdir`` (the agent bundle cache is meant to stay)."""
    return sorted(p.name for p in tmpdir.iterdir() if p.name.startswith("hwbehave") and p.name != "hwbehave-agent")


def have_sshd() -> None:
    require(None if Path("/usr/sbin/sshd").exists() else "/usr/sbin/sshd not found", "apt-get install openssh-server")

