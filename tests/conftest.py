"""Shared pytest options and fixtures.

Tests that need hardware run only when asked: ``--gpu`` (an NVIDIA GPU with
onnxruntime-gpu) and ``--adb-serial SERIAL`` (a real Android device). Everything else
runs by default and in CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--gpu", action="store_true", default=False, help="run tests that need an NVIDIA GPU")
    parser.addoption("--adb-serial", default=None, help="run tests against this real Android device")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_gpu = pytest.mark.skip(reason="needs --gpu (an NVIDIA GPU)")
    skip_adb = pytest.mark.skip(reason="needs --adb-serial SERIAL (a real Android device)")
    for item in items:
        if "gpu" in item.keywords and not config.getoption("--gpu"):
            item.add_marker(skip_gpu)
        if "adb_device" in item.keywords and not config.getoption("--adb-serial"):
            item.add_marker(skip_adb)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test session builds into its own artifact cache, never ~/.cache."""
    cache = tmp_path_factory.getbasetemp() / "artifact-cache"
    monkeypatch.setenv("HWBEHAVE_CACHE", str(cache))


@pytest.fixture(autouse=True, scope="session")
def _isolated_locks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Device locks of this test session stay apart from real runs and other sessions on this host.

    Session-scoped, so module- and class-scoped fixtures that run the CLI (set up before any
    function-scoped fixture) take their locks here too, not in the user's lock folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HWBEHAVE_LOCK_DIR", str(tmp_path_factory.getbasetemp() / "device-locks"))
        yield


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def write_yaml(tmp_path: Path):
    """Write YAML text to a file in tmp_path and return its path."""

    def write(text: str, name: str = "sweep.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
