"""One writer per device: the farm takes :class:`~suite.locks.DeviceLock` per worker.

The flock mechanism lives in :mod:`suite.locks` (below the pipeline and the store, which
lock run directories with it, and shared with a plain ``hwbehave run``); this module keeps
the farm's names.
"""

from __future__ import annotations

from suite.locks import DeviceBusy, DeviceLock, FileLock

__all__ = ["DeviceBusy", "DeviceLock", "FileLock"]
