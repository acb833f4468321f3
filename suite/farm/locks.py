"""One writer per device: ``fcntl.flock`` on ``<lock_dir>/<device>.lock``.

The kernel drops a flock when its holder dies (even by ``kill -9``), so a crashed farm
never leaves a device locked on this controller. Across controllers the exclusion is
labgrid's place reservation (:mod:`suite.farm.labgrid`). The lock file holds a line
naming its holder (pid, host, farm, since) so a refused caller can say who has it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from suite.errors import HwbehaveError


class DeviceBusy(HwbehaveError):
    """The device is held by another process (``holder`` says which, when known)."""

    def __init__(self, device: str, holder: dict[str, Any] | None, waited_s: float = 0.0) -> None:
        self.device = device
        self.holder = holder or {}
        who = ", ".join(f"{k} {v}" for k, v in self.holder.items()) or "unknown holder"
        extra = f" after waiting {waited_s:.0f} s" if waited_s else ""
        super().__init__(f"device {device} is busy ({who}){extra}")


class DeviceLock:
    """An exclusive, process-wide lock on one device name.

    Parameters
    ----------
    lock_dir : Path
        Folder of lock files, shared by every farm on this controller.
    device : str
        Device name (the lock file is ``<device>.lock``).
    owner : dict
        Facts written into the lock file for other callers' messages.
    """

    def __init__(self, lock_dir: Path, device: str, owner: dict[str, Any] | None = None) -> None:
        self.path = Path(lock_dir) / f"{device}.lock"
        self.device = device
        self.owner = {"pid": os.getpid(), "host": socket.gethostname(), **(owner or {})}
        self._fd: int | None = None

    def holder(self) -> dict[str, Any] | None:
        """Who wrote the lock file last (the holder, while it is held)."""
        try:
            return json.loads(self.path.read_text() or "null")
        except (OSError, ValueError):
            return None

    def acquire(self, wait: bool = True, timeout_s: float | None = None, poll_s: float = 0.2) -> None:
        """Take the lock; raise :class:`DeviceBusy` if ``wait`` is false or ``timeout_s`` passes."""
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
                        raise DeviceBusy(self.device, self.holder(), waited if wait else 0.0) from None
                    time.sleep(poll_s)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps({**self.owner, "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
                       + "\n").encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays: deleting it would race with a waiter)."""
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> DeviceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
