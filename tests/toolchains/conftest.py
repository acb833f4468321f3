"""Toolchain tests: the ``rknn`` marker (helpers live in ``toolchain_harness.py``)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rknn: builds or uses the rknn-toolkit2 venv (~/.cache/hwbehave/venvs/rknn)")
