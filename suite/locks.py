"""Exclusive locks between processes on this controller: ``fcntl.flock`` on a lock file.

Two things are held this way: a **device** (``<lock_dir>/<device>.lock``; a farm worker and a
plain ``hwbehave run`` both take it, so nothing measures one device twice at once) and a
**run directory** (``<run>/run.lock``, taken by the store's writer, so two runs never write
into one ``--out``). The kernel drops a flock when its holder dies (even by ``kill -9``), so a
crash never leaves anything locked. Across controllers the exclusion is labgrid's place
reservation (:mod:`suite.farm.labgrid`). The lock file holds a line naming its holder (pid,
host, what it runs, since) so a refused caller can say who has it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from suite.errors import Busy


class DeviceBusy(Busy):
    """The device is held by another process (``holder`` says which, when known)."""

    def __init__(self, device: str, holder: dict[str, Any] | None, waited_s: float = 0.0) -> None:
        self.device = device
        super().__init__(f"device {device}", holder, waited_s)


class RunDirBusy(Busy):
    """The run directory is being written by another process."""

    def __init__(self, run_dir: str, holder: dict[str, Any] | None, waited_s: float = 0.0) -> None:
        self.run_dir = run_dir
        super().__init__(f"run directory {run_dir}", holder, waited_s,
                         hint="wait for it to finish, or use another --out")


class FileLock:
    """An exclusive, process-wide lock on one file.

    Parameters
    ----------
    path : Path
        The lock file (created if missing; never deleted: deleting it would race with a waiter).
    owner : dict
        Facts written into the lock file for other callers' messages.
    """

    def __init__(self, path: str | Path, owner: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.owner = {"pid": os.getpid(), "host": socket.gethostname(), **(owner or {})}
        self._fd: int | None = None

    def busy(self, holder: dict[str, Any] | None, waited_s: float) -> Busy:
        """The error raised when the lock is held elsewhere (subclasses name what is held)."""
        return Busy(str(self.path), holder, waited_s)

    def holder(self) -> dict[str, Any] | None:
        """Who wrote the lock file last (the holder, while it is held)."""
        try:
            data = json.loads(self.path.read_text() or "null")
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def acquire(self, wait: bool = True, timeout_s: float | None = None, poll_s: float = 0.2) -> None:
        """Take the lock; raise :meth:`busy` if ``wait`` is false or ``timeout_s`` passes."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        start = time.monotonic()
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    waited = time.monotonic() - start
                    if not wait or (timeout_s is not None and waited >= timeout_s):
                        raise self.busy(self.holder(), waited if wait else 0.0) from None
                    time.sleep(poll_s)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        try:  # who holds it, for others' messages; best effort (a full disk must not leave the lock held)
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps({**self.owner, "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
                           + "\n").encode(), 0)
        except OSError:
            pass

    def release(self) -> None:
        """Drop the lock (the file stays)."""
        if self._fd is not None:
            try:
                try:
                    os.ftruncate(self._fd, 0)
                except OSError:
                    pass
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class DeviceLock(FileLock):
    """The lock on one device name: ``<lock_dir>/<device>.lock``."""

    def __init__(self, lock_dir: str | Path, device: str, owner: dict[str, Any] | None = None) -> None:
        super().__init__(Path(lock_dir) / f"{device}.lock", owner)
        self.device = device

    def busy(self, holder: dict[str, Any] | None, waited_s: float) -> Busy:
        return DeviceBusy(self.device, holder, waited_s)


class RunDirLock(FileLock):
    """The lock on one run directory: ``<run>/run.lock``."""

    FILE = "run.lock"

    def __init__(self, run_dir: str | Path, owner: dict[str, Any] | None = None) -> None:
        super().__init__(Path(run_dir) / self.FILE, owner)
        self.run_dir = str(run_dir)

    def busy(self, holder: dict[str, Any] | None, waited_s: float) -> Busy:
        return RunDirBusy(self.run_dir, holder, waited_s)


def default_lock_dir() -> Path:
    """``$HWBEHAVE_LOCK_DIR``, else one folder per user under the system temp dir.

    Device locks must be shared by every farm and run on this controller, whatever its
    results root, so the default does not depend on any file.
    """
    env = os.environ.get("HWBEHAVE_LOCK_DIR")
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / f"hwbehave-locks-{os.getuid()}"
