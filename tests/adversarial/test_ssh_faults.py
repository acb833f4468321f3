"""SSH faults over a real OpenSSH sshd: workdirs that must not be deleted, relative workdirs,
a frozen host, and hostile (but valid) values that must reach the remote shell quoted.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shlex
import uuid
from pathlib import Path

import paramiko
import pytest

import suite.results as results
from suite.devices.check import check_device
from suite.devices.config import load_device
from suite.devices.transports.ssh import PID_FILE, SESSION_MARKER, SshTransport
from suite.pipeline import run_sweep
from suite.sweep.expand import load_sweep
from suite.testing.sshd import TestSshd

from .conftest import SLOW, assert_clean_exit, have_sshd, hwbehave, journal_lines, spawn, sweep_text, wait_for

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory):
    have_sshd()
    server = TestSshd(tmp_path_factory.mktemp("adv-sshd")).start()
    yield server
    server.stop()


def device_file(server: TestSshd, tmp_path: Path, workdir: str, extra: str = "") -> Path:
    path = tmp_path / f"dev-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(server.device_yaml(workdir=workdir, extra=extra))
    return path


# ---- item 1: a newline in workdir deleted the parent directory ----------------------------------

def test_newline_workdir_is_refused_at_load_and_the_directory_survives(sshd, tmp_path):
    precious = tmp_path / "bench"
    precious.mkdir()
    (precious / "keep.txt").write_text("data that is not the suite's")
    dev = device_file(sshd, tmp_path, "|\n  " + str(precious))  # a YAML block scalar: "…/bench\n"
    p = hwbehave("devices", "check", str(dev))
    assert "control character" in p.stdout + p.stderr
    assert (precious / "keep.txt").exists()


def test_even_an_unvalidated_newline_workdir_never_deletes_what_the_suite_did_not_create(sshd, tmp_path):
    precious = tmp_path / "bench"
    precious.mkdir()
    (precious / "keep.txt").write_text("data that is not the suite's")
    device = load_device(device_file(sshd, tmp_path, str(tmp_path / "x")))
    device = device.model_copy(update={"workdir": str(precious) + "\n"})  # model_copy skips validation
    result = check_device(device)
    assert not result.ok and "absolute path" in (result.error or "")
    assert (precious / "keep.txt").exists()
    # and the directory it did create below the odd name is gone again
    odd = Path(str(precious) + "\n")
    assert not odd.exists() or not any(odd.iterdir())


def test_remove_deletes_only_a_session_directory_that_still_holds_its_token(sshd, tmp_path):
    t = SshTransport(load_device(device_file(sshd, tmp_path, str(tmp_path / "w"))))
    t.connect()
    try:
        kept = Path(t.make_workdir())
        assert kept.parent == tmp_path / "w" and (kept / SESSION_MARKER).exists()
        (kept / SESSION_MARKER).write_text("someone else's\n")
        t.remove_workdir(str(kept))
        assert kept.exists(), "a directory whose marker does not match must be kept"
        gone = Path(t.make_workdir())
        t.remove_workdir(str(gone))
        assert not gone.exists()
        t.remove_workdir(str(tmp_path / "w"))  # never made by this transport: nothing happens
        assert (tmp_path / "w").exists()
    finally:
        t.close()


def test_relative_workdir_works_and_is_cleaned(sshd, tmp_path):
    rel = f"hwbehave-test-{uuid.uuid4().hex[:8]}/bench"
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)  # the ssh user is this user: its login directory
    base = home / rel
    try:
        sweep = tmp_path / "s.yaml"
        sweep.write_text(sweep_text(couts=(4, 8)))
        out = tmp_path / "run"
        outcome = run_sweep(load_sweep(sweep), load_device(device_file(sshd, tmp_path, rel)), out)
        assert outcome.complete, outcome.error
        assert set(results.load(out).status) == {"ok"}
        assert base.is_dir() and not any(base.iterdir())  # the session directory went, the base stayed
        assert check_device(load_device(device_file(sshd, tmp_path, rel))).ok
    finally:
        import shutil

        shutil.rmtree(home / rel.split("/")[0], ignore_errors=True)


# ---- a frozen host (sshd stopped with SIGSTOP) ----------------------------------------------------

def test_frozen_host_ends_in_bounded_time_with_device_lost_and_resumes(tmp_path):
    have_sshd()
    server = TestSshd(tmp_path / "sshd").start()
    try:
        dev = device_file(server, tmp_path, str(tmp_path / "remote"),
                          extra="timeouts: {connect_s: 2, command_s: 10}\n")
        text = dev.read_text().replace("  allow_agent: false", "  allow_agent: false\n  keepalive_s: 1")
        dev.write_text(text)
        sweep = tmp_path / "s.yaml"
        sweep.write_text(sweep_text(couts=(4, 8, 12, 16, 20, 24), measure=SLOW))
        out = tmp_path / "run"
        proc = spawn("run", str(sweep), "--device", str(dev), "--out", str(out), "--quiet")
        wait_for(lambda: journal_lines(out) >= 1, what="the first result")
        server.freeze()
        _, err = proc.communicate(timeout=60)  # bounded: keepalive 1 s + reply timeout 2 s + cleanup
        assert_clean_exit((proc.returncode, err), 3)
        assert "resume with: hwbehave run" in err and str(out) in err
        assert "stopped answering" in err
        df = results.load(out)
        assert "device_lost" in set(df.status), df[["point_id", "status"]]
        assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
        server.thaw()
        server.restart()
        p = hwbehave("run", str(sweep), "--device", str(dev), "--out", str(out), "--quiet")
        assert_clean_exit(p, 0)
        df = results.load(out)
        assert df.point_id.nunique() == 6 and set(df.status) == {"ok"}
    finally:
        server.stop()


# ---- shell injection: hostile values reach the remote shell as single words ---------------------

HOSTILE = "a b;$(touch {m});`touch {m}`;'q'\"d\" & | > < * ? ~ # {{x,y}} !"


def test_hostile_workdir_and_env_are_quoted_in_every_remote_command(sshd, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    base = str(tmp_path / "remote" / HOSTILE.format(m=marker))
    env_value = HOSTILE.format(m=marker)
    commands: list[str] = []
    real = paramiko.Channel.exec_command

    def record(self, command):
        commands.append(command.decode() if isinstance(command, bytes) else command)
        return real(self, command)

    monkeypatch.setattr(paramiko.Channel, "exec_command", record)
    dev = device_file(sshd, tmp_path, json.dumps(base), extra=f"env: {{HOSTILE_VALUE: {json.dumps(env_value)}}}\n")
    device = load_device(dev)
    assert device.workdir == base
    check = check_device(device)
    assert check.ok, check.error
    sweep = tmp_path / "s.yaml"
    sweep.write_text(sweep_text(couts=(4,)))
    outcome = run_sweep(load_sweep(sweep), device, tmp_path / "run")
    assert outcome.complete, outcome.error
    assert not marker.exists(), "a hostile value was executed by the remote shell"
    assert commands
    # every occurrence of the hostile text is one shlex-quoted word: a path below the workdir or the env pair
    roots = {f"{base}/{name}" for c in commands for name in re.findall(r"hwbehave-[0-9a-f]{12}", c)}
    quoted = [base, *roots] + [f"{r}/{leaf}" for r in roots for leaf in (SESSION_MARKER, PID_FILE, "agent.pyz")]
    for command in commands:
        rest = command.replace(shlex.quote(f"HOSTILE_VALUE={env_value}"), "")
        for path in sorted(quoted, key=len, reverse=True):
            rest = rest.replace(shlex.quote(path), "")
        assert "touch" not in rest, f"hostile text outside a quoted word in: {command}"
    assert any(shlex.quote(f"HOSTILE_VALUE={env_value}") in c for c in commands)


def test_a_silent_but_healthy_host_passes_its_keepalives(sshd, tmp_path, monkeypatch):
    probes: list[bool] = []
    real = SshTransport.responsive

    def counted(self, timeout_s):
        probes.append(real(self, timeout_s))
        return probes[-1]

    monkeypatch.setattr(SshTransport, "responsive", counted)
    dev = device_file(sshd, tmp_path, str(tmp_path / "remote"))
    dev.write_text(dev.read_text().replace("  allow_agent: false", "  allow_agent: false\n  keepalive_s: 1"))
    sweep = tmp_path / "s.yaml"  # each point measures ~2.5 s in silence
    sweep.write_text(sweep_text(couts=(4,), measure="measure: {warmup_runs: 1, warmup_s: 0, min_runs: 3, "
                                                    "max_runs: 10000000, min_s: 2.5, max_s: 3}\n"))
    outcome = run_sweep(load_sweep(sweep), load_device(dev), tmp_path / "run")
    assert outcome.complete, outcome.error
    assert probes and all(probes)
