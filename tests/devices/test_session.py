"""A device session kept open across batches: one connection and workdir per run, a fresh agent per batch."""

from __future__ import annotations

from pathlib import Path

import pytest

import suite.results as results
from suite.devices.config import load_device
from suite.devices.session import DeviceLost, DeviceSession, Job
from suite.devices.transports.ssh import SshTransport
from suite.pipeline import run_sweep
from suite.sweep.expand import load_sweep
from suite.testing import tiny

PROTOCOL = {"warmup_runs": 1, "warmup_s": 0.0, "min_runs": 3, "min_s": 0.0, "max_runs": 3, "timeout_s": 20.0}


def relu_jobs(tmp_path: Path, n: int) -> list[Job]:
    return tiny.relu_jobs(tiny.relu_models(tmp_path, n), PROTOCOL)


class Counting:
    """Counts a transport's connects, workdirs and pushed files (wrapping the real methods)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cls: type) -> None:
        self.connects = self.workdirs = self.removed = 0
        self.pushed: list[str] = []
        real_connect, real_make, real_push, real_remove = cls.connect, cls.make_workdir, cls.push, cls.remove_workdir

        def connect(t):  # type: ignore[no-untyped-def]
            self.connects += 1
            return real_connect(t)

        def make_workdir(t):  # type: ignore[no-untyped-def]
            self.workdirs += 1
            self.workdir = real_make(t)
            return self.workdir

        def push(t, files, workdir):  # type: ignore[no-untyped-def]
            self.pushed += [rel for _, rel in files]
            return real_push(t, files, workdir)

        def remove_workdir(t, workdir):  # type: ignore[no-untyped-def]
            self.removed += 1
            return real_remove(t, workdir)

        for name, fn in (("connect", connect), ("make_workdir", make_workdir), ("push", push),
                         ("remove_workdir", remove_workdir)):
            monkeypatch.setattr(cls, name, fn)


def test_a_kept_session_reuses_its_workdir_and_pushes_each_file_once(tmp_path, monkeypatch):
    from suite.devices.transports.local import LocalTransport

    count = Counting(monkeypatch, LocalTransport)
    jobs = relu_jobs(tmp_path, 3)
    session = DeviceSession(load_device("devices/local-cpu.yaml"), keep_open=True)
    hellos = []
    for batch in (jobs, jobs[::-1], jobs[:1]):
        got: list[str] = []
        session.run_batch(batch, on_result=lambda m, got=got: got.append(m["status"]),
                          on_hello=lambda h: hellos.append(h))
        assert got == ["ok"] * len(batch)
    assert count.connects == count.workdirs == 1 and count.removed == 0 and Path(count.workdir).is_dir()
    assert sorted(count.pushed).count("agent.pyz") == 1 and len(count.pushed) == 4  # the bundle and 3 models, once
    assert len(hellos) == 3  # each batch is a fresh agent
    session.close()
    assert count.removed == 1 and not Path(count.workdir).exists()


def test_a_failed_batch_closes_the_kept_session_and_the_next_starts_over(tmp_path, monkeypatch):
    from suite.devices.transports.local import LocalTransport

    count = Counting(monkeypatch, LocalTransport)
    jobs = relu_jobs(tmp_path, 2)
    session = DeviceSession(load_device("devices/local-cpu.yaml"), keep_open=True)
    session.run_batch(jobs, on_result=lambda m: None)
    first = count.workdir

    def lose(msg):  # the stream breaks off mid-batch, as a dropped link would
        raise DeviceLost("link gone", in_flight=msg["job"])

    with pytest.raises(DeviceLost):
        session.run_batch(jobs, on_result=lose)
    assert count.removed == 1 and not Path(first).exists()
    session.run_batch(jobs, on_result=lambda m: None)
    assert count.connects == count.workdirs == 2 and count.workdir != first
    session.close()


def test_an_ssh_run_connects_once_for_all_its_rounds_and_cleans_up(sshd, ssh_device_file, sweep_file,
                                                                  artifact_cache, tmp_path, monkeypatch):
    from suite.models.cache import ArtifactCache

    count = Counting(monkeypatch, SshTransport)
    measure = ("measure: {warmup_runs: 1, warmup_s: 0.0, min_runs: 3, min_s: 0.0, max_s: 0.1, rounds: 3, "
               "sentinel_every: 2, confirm_s: 0}")
    sweep = load_sweep(sweep_file(couts=[8, 16, 32], measure=measure))
    outcome = run_sweep(sweep, load_device(ssh_device_file()), tmp_path / "out", cache=ArtifactCache(artifact_cache))
    assert outcome.complete
    rounds = results.load_rounds(tmp_path / "out")
    assert sorted(rounds["round"].unique()) == [0, 1, 2] and set(rounds.status) == {"ok"}
    assert count.connects == count.workdirs == count.removed == 1  # one connection and workdir for three batches
    assert count.pushed.count("agent.pyz") == 1 and len(count.pushed) == 1 + 3  # bundle + models, pushed once
    assert list((tmp_path / "remote").iterdir()) == []  # the session directory is gone
    env = results.manifests(tmp_path / "out")[0]["environment"]["device"]
    assert sorted(env) == ["round0", "round1", "round2"]  # a fresh agent (its own probes) per round
