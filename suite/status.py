"""Status names of measurements and artifacts (docs/architecture.md §6): the single source of truth.

Failures are data: every non-``ok`` status carries an error text prefixed by the
component that produced it (``"onnxruntime: ..."``, ``"onnx-builder: ..."``).
"""

from __future__ import annotations

OK = "ok"
UNSUPPORTED = "unsupported"
FALLBACK = "fallback"
BUILD_ERROR = "build_error"
RUNTIME_ERROR = "runtime_error"
TIMEOUT = "timeout"
CRASHED = "crashed"
DEVICE_LOST = "device_lost"
SKIPPED = "skipped"

ALL = (OK, UNSUPPORTED, FALLBACK, BUILD_ERROR, RUNTIME_ERROR, TIMEOUT, CRASHED, DEVICE_LOST, SKIPPED)

#: Statuses that carry timings (``fallback`` ran, just not all on the accelerator).
TIMED = frozenset({OK, FALLBACK})

#: Statuses a resumed run measures again (the device went away, nothing was learned).
RETRY_ON_RESUME = frozenset({DEVICE_LOST})


def check(status: str) -> str:
    """Return ``status`` if it is a known status name, else raise ``ValueError`` listing them."""
    if status not in ALL:
        raise ValueError(f"unknown status {status!r}; expected one of {', '.join(ALL)}")
    return status
