"""The test session's device locks are isolated before any fixture runs a measurement."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from suite.locks import default_lock_dir


@pytest.fixture(scope="module")
def lock_dir_seen_by_a_module_fixture() -> Path:
    return default_lock_dir()


def test_module_scoped_fixtures_take_locks_in_the_sessions_folder(lock_dir_seen_by_a_module_fixture: Path,
                                                                  tmp_path_factory: pytest.TempPathFactory):
    expected = tmp_path_factory.getbasetemp() / "device-locks"
    assert Path(os.environ["HWBEHAVE_LOCK_DIR"]) == expected
    assert lock_dir_seen_by_a_module_fixture == expected
