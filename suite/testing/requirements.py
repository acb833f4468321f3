"""What a test needs: skipped where it is missing locally, a failure in CI.

CI (environment variable ``CI`` set) installs every extra and system package, so there a
missing piece means the install step broke and must not pass as a skip.
"""

from __future__ import annotations

import importlib.util
import os

import pytest


def require(missing: str | None, fix: str) -> None:
    """Skip (locally) or fail (in CI) when ``missing`` names something absent; ``fix`` says how to get it."""
    if missing is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{missing} (required in CI): {fix}")
    pytest.skip(f"{missing}: {fix}", allow_module_level=True)


def require_modules(*modules: str, fix: str) -> None:
    """:func:`require` for importable Python modules."""
    absent = [m for m in modules if importlib.util.find_spec(m) is None]
    require(f"{', '.join(absent)} not installed" if absent else None, fix)
