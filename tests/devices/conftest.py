"""Fixtures for the device tests: a real sshd on loopback, a fake adb server, inline sweeps."""

from __future__ import annotations

from pathlib import Path

import pytest
from backends.benchmark_model.fakes import install_fake_tool

from suite.testing.fake_adb import FakeAdbServer
from suite.testing.sshd import TestSshd

#: A sweep small enough for seconds, big enough that a kernel takes more than the timer floor. One round, no
#: sentinel, no confirmation: device tests are about transports (tests/test_pipeline.py covers the rounds).
TINY_SWEEP = """\
name: tiny-remote
measure: {warmup_runs: 2, warmup_s: 0.01, min_runs: 10, min_s: 0.05, max_s: 0.3, rounds: 1, sentinel_every: 0, confirm_s: 0}
parts:
  - name: channels
    op: conv2d
    fixed: {cin: 16, resolution: 16}
    axes: {cout: COUTS}
    dtypes: [fp32]
"""


def write_sweep(path: Path, couts: list[int] = (8, 16, 32), measure: str | None = None) -> Path:
    """Write the tiny sweep with the given output channels (and protocol line) to ``path``."""
    text = TINY_SWEEP.replace("COUTS", str(list(couts)))
    if measure:
        text = text.replace(text.splitlines()[1], measure)
    path.write_text(text)
    return path


@pytest.fixture
def sweep_file(tmp_path: Path):
    """``sweep_file(couts=[..], measure=None)`` writes the tiny sweep into tmp and returns its path."""

    def make(couts: list[int] = (8, 16, 32), measure: str | None = None) -> Path:  # type: ignore[assignment]
        return write_sweep(tmp_path / f"sweep-{len(list(tmp_path.glob('sweep-*')))}.yaml", couts, measure)

    return make


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory):
    """One sshd for the session (tests that kill it start their own)."""
    server = TestSshd(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def artifact_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifact-cache")


@pytest.fixture
def ssh_device_file(sshd: TestSshd, tmp_path: Path):
    """Write a device YAML for the session sshd; extra YAML lines may be passed."""

    def make(extra: str = "", **kw: object) -> Path:
        path = tmp_path / f"ssh-device-{len(list(tmp_path.glob('ssh-device-*')))}.yaml"
        path.write_text(sshd.device_yaml(workdir=str(tmp_path / "remote"), extra=extra, **kw))  # type: ignore[arg-type]
        return path

    return make


@pytest.fixture
def fake_adb(tmp_path: Path):
    """A fake adb server whose /data/local/tmp holds a fake ``benchmark_model`` printing a fixture."""
    server = FakeAdbServer(tmp_path / "phone").start()
    tmp = server.host_path("/data/local/tmp")
    assert tmp is not None
    install_fake_tool(tmp)
    yield server
    server.stop()
