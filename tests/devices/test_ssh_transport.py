"""The SSH transport against a real OpenSSH sshd on loopback, end to end through the pipeline."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

import suite.results as results
from suite.cli.main import main as hwbehave
from suite.devices.config import load_device
from suite.devices.session import DeviceSession, Job
from suite.devices.transports.ssh import SshTransport, resolve_target
from suite.errors import DeviceError
from suite.pipeline import run_sweep
from suite.sweep.expand import load_sweep
from suite.testing.sshd import TestSshd, free_port

CONTRACT = ["schema_version", "run_id", "sweep", "device", "device_class", "runtime", "format", "point_id", "op",
            "dtype", "params_json", "macs", "flops", "param_count", "bytes_total", "status", "error", "n", "loop_k",
            "median_ms", "mean_ms", "std_ms", "min_ms", "p10_ms", "p90_ms", "ci_low_ms", "ci_high_ms", "samples_ms",
            "started_at"]


def cli(*args: str) -> int:
    return hwbehave(list(args))


def test_ssh_run_matches_local_run(ssh_device_file, sweep_file, artifact_cache: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    sweep = sweep_file(couts=[8, 16, 32])
    local_yaml = tmp_path / "local.yaml"
    local_yaml.write_text("name: local-test\nclass: cpu\ntransport: {kind: local}\n"
                          "runtime: {name: onnxruntime, threads: 1}\nformats: [onnx]\n")
    assert cli("run", str(sweep), "--device", str(local_yaml), "--out", str(tmp_path / "local"),
               "--cache", str(artifact_cache), "--quiet", "--seed", "3") == 0
    ssh_yaml = ssh_device_file()
    assert cli("run", str(sweep), "--device", str(ssh_yaml), "--out", str(tmp_path / "ssh"),
               "--cache", str(artifact_cache), "--quiet", "--seed", "3") == 0
    local = results.load(tmp_path / "local").set_index("point_id").sort_index()
    remote = results.load(tmp_path / "ssh").set_index("point_id").sort_index()
    assert set(CONTRACT) - {"point_id"} <= set(remote.columns)
    assert sorted(local.columns) == sorted(remote.columns)
    assert list(local.index) == list(remote.index) and (remote["status"] == "ok").all()
    ratio = remote["median_ms"] / local["median_ms"]
    assert ((ratio > 1 / 4) & (ratio < 4)).all(), ratio   # same machine: each point within generous noise
    assert 2 / 3 < ratio.median() < 3 / 2, ratio           # and no systematic offset from the transport
    manifest = json.loads((tmp_path / "ssh" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["environment"]["agent"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert not any((tmp_path / "remote").iterdir())  # batch workdir removed


def test_unknown_host_key_is_refused_with_a_fix(sshd: TestSshd, ssh_device_file, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts_empty"
    empty.write_text("")
    t = SshTransport(load_device(ssh_device_file(known_hosts=str(empty))))
    with pytest.raises(DeviceError) as err:
        t.connect()
    msg = str(err.value)
    assert f"[127.0.0.1]:{sshd.port}" in msg and "not in" in msg
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {empty}" in msg and "accept-new" in msg
    assert empty.read_text() == ""  # nothing trusted behind the user's back


def test_accept_new_trusts_and_saves_when_opted_in(sshd: TestSshd, ssh_device_file, tmp_path: Path) -> None:
    kh = tmp_path / "sub" / "known_hosts"
    t = SshTransport(load_device(ssh_device_file(known_hosts=str(kh), host_key_policy="accept-new")))
    t.connect()
    t.close()
    saved = kh.read_text()
    assert f"[127.0.0.1]:{sshd.port}" in saved and sshd.host_public_key_line.split()[1] in saved
    # now a strict device with that file connects
    strict = SshTransport(load_device(ssh_device_file(known_hosts=str(kh))))
    strict.connect()
    assert strict.describe()["host_key"].startswith("SHA256:")
    strict.close()


def test_changed_host_key_is_refused_even_with_accept_new(sshd: TestSshd, ssh_device_file, tmp_path: Path) -> None:
    other = TestSshd(tmp_path / "other")  # only for its (different) host key
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{sshd.port} {other.host_public_key_line}\n")
    t = SshTransport(load_device(ssh_device_file(known_hosts=str(kh), host_key_policy="accept-new")))
    with pytest.raises(DeviceError, match="CHANGED"):
        t.connect()


def test_unreachable_host_fails_fast_and_records_nothing(ssh_device_file, sweep_file, artifact_cache: Path,
                                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    yaml = ssh_device_file(port=port, extra="timeouts: {connect_s: 2}")
    start = time.monotonic()
    code = cli("run", str(sweep_file(couts=[8])), "--device", str(yaml), "--out", str(tmp_path / "out"),
               "--cache", str(artifact_cache), "--quiet")
    assert time.monotonic() - start < 30
    err = capsys.readouterr().err
    assert code == 3
    assert f"cannot connect to 127.0.0.1:{port}" in err and "Connection refused" in err
    assert f"--out {tmp_path / 'out'}" in err.replace("\n", "")  # resume hint
    assert results.load(tmp_path / "out").empty


def test_refused_auth_is_clear(sshd: TestSshd, ssh_device_file, tmp_path: Path) -> None:
    stranger = TestSshd(tmp_path / "stranger")  # a key the server does not know
    yaml = ssh_device_file(extra="")
    text = yaml.read_text().replace(str(sshd.user_key), str(stranger.user_key))
    yaml.write_text(text)
    with pytest.raises(DeviceError, match=r"authentication refused by .*@127\.0\.0\.1"):
        SshTransport(load_device(yaml)).connect()


def test_workdir_not_writable_names_host_and_path(ssh_device_file, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    device = load_device(ssh_device_file()).model_copy(update={"workdir": str(blocker / "work")})
    t = SshTransport(device)
    t.connect()
    with pytest.raises(DeviceError, match=rf"workdir 127\.0\.0\.1:{blocker}/work/hwbehave-\w+ cannot be created"):
        t.make_workdir()
    t.close()


def test_disk_full_is_caught_before_the_push(ssh_device_file, tmp_path: Path) -> None:
    t = SshTransport(load_device(ssh_device_file()))
    t.connect()
    work = t.make_workdir()
    assert (t.free_bytes(work) or 0) > 0
    t._free_bytes[work] = 1024  # pretend the device has 1 KiB left
    src = tmp_path / "m.onnx"
    src.write_bytes(b"0" * 4096)
    with pytest.raises(DeviceError, match=rf"remote disk full: 127\.0\.0\.1:{work} has 0\.0 MiB free"):
        t.push([(str(src), "models/m.onnx")], work)
    t.remove_workdir(work)
    t.close()


@pytest.mark.parametrize("mode", ["tar", "tar-sftp", "sftp"])
def test_push_modes_copy_every_file(ssh_device_file, tmp_path: Path, mode: str) -> None:
    t = SshTransport(load_device(ssh_device_file()), push_mode=mode)
    t.connect()
    work = t.make_workdir()
    files = []
    for i in range(5):
        p = tmp_path / f"f{i}.bin"
        p.write_bytes(bytes([i]) * (100 + i))
        files.append((str(p), f"models/sub/f{i}.bin" if i % 2 else f"f{i}.bin"))
    t.push(files, work)
    for src, rel in files:
        assert (Path(work) / rel).read_bytes() == Path(src).read_bytes()
    status, out, _ = t.run(["printf", "%s", "it's $HOME; `x`"], 5)   # quoting: nothing expands
    assert (status, out) == (0, "it's $HOME; `x`")
    t.remove_workdir(work)
    assert not Path(work).exists()
    t.close()


def test_ssh_config_alias_and_proxy_jump(sshd: TestSshd, tmp_path: Path) -> None:
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host board\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {sshd.user}\n"
                   f"  IdentityFile {sshd.user_key}\n  ProxyJump {sshd.user}@127.0.0.1:{sshd.port}\n")
    target = resolve_target("board", ssh_config=str(cfg))
    assert (target.hostname, target.port, target.proxy_jump) == ("127.0.0.1", sshd.port,
                                                                 f"{sshd.user}@127.0.0.1:{sshd.port}")
    yaml = tmp_path / "board.yaml"
    yaml.write_text(f"name: board\nclass: cpu\ntransport:\n  kind: ssh\n  host: board\n  ssh_config: {cfg}\n"
                    f"  known_hosts: {sshd.known_hosts}\n  allow_agent: false\nworkdir: {tmp_path / 'w'}\n")
    t = SshTransport(load_device(yaml))
    t.connect()
    assert len(t._jumps) == 1 and t.run(["echo", "via jump"], 5)[1].strip() == "via jump"
    t.close()


def _job_ids(sweep_path: Path) -> list[str]:
    return [f"{p.id}-onnx" for p in load_sweep(sweep_path).points]


def test_crash_and_hang_are_statuses_and_the_batch_goes_on(sshd: TestSshd, ssh_device_file, sweep_file,
                                                           artifact_cache: Path, tmp_path: Path) -> None:
    from suite.models.cache import ArtifactCache

    sweep_path = sweep_file(couts=[8, 16, 32, 64])
    ids = _job_ids(sweep_path)
    fault = f"segv:{ids[1]},hang:{ids[2]}"
    yaml = ssh_device_file(extra=f"env: {{HWBEHAVE_AGENT_TEST_FAULT: '{fault}'}}\ntimeouts: {{point_s: 2}}")
    outcome = run_sweep(load_sweep(sweep_path), load_device(yaml), tmp_path / "out",
                        cache=ArtifactCache(artifact_cache))
    assert outcome.complete
    df = results.load(tmp_path / "out").set_index("job_id")
    assert df.loc[ids[1], "status"] == "crashed"
    assert "SIGSEGV" in df.loc[ids[1], "error"] and "test fault" in df.loc[ids[1], "error"]  # stderr tail
    assert df.loc[ids[2], "status"] == "timeout"
    assert df.loc[ids[0], "status"] == df.loc[ids[3], "status"] == "ok"


def test_dropped_connection_then_resume_measures_each_point_once(sweep_file, artifact_cache: Path,
                                                                 tmp_path: Path) -> None:
    from suite.models.cache import ArtifactCache

    server = TestSshd(tmp_path / "sshd").start()
    try:
        yaml = tmp_path / "dev.yaml"
        yaml.write_text(server.device_yaml(workdir=str(tmp_path / "remote"), extra="keep_workdir: false"))
        sweep = load_sweep(sweep_file(couts=[8, 12, 16, 20, 24]))
        measured = []

        def observer(event: str, **data: object) -> None:
            if event == "measured":
                measured.append(data)
                if len(measured) == 2:
                    server.stop()  # the listener and every live connection: a dropped link
        out = tmp_path / "out"
        first = run_sweep(sweep, load_device(yaml), out, cache=ArtifactCache(artifact_cache), observer=observer)
        assert not first.complete and "ended before the batch finished" in (first.error or "")
        df = results.load(out)
        assert sorted(df["status"]) == ["device_lost", "ok", "ok"]
        server.start()
        second = run_sweep(sweep, load_device(yaml), out, cache=ArtifactCache(artifact_cache))
        assert second.complete and second.skipped_done == 2
        df = results.load(out)
        final = df.sort_values("started_at").groupby("point_id").tail(1)
        assert sorted(final["point_id"]) == sorted(p.id for p in sweep.points)
        assert (final["status"] == "ok").all()
        assert (df[df["status"] == "ok"].groupby("point_id").size() == 1).all()  # each point measured once
    finally:
        server.stop()


def test_session_streams_results_as_they_arrive(ssh_device_file, tmp_path: Path) -> None:
    """The session API is unchanged: a batch over SSH calls back per result."""
    import onnx
    from onnx import TensorProto, helper

    model = helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])]), opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "relu.onnx"
    onnx.save(model, str(path))
    protocol = {"warmup_runs": 1, "warmup_s": 0.0, "min_runs": 3, "min_s": 0.0, "max_runs": 10, "max_s": 0.1,
                "loop_threshold_us": 0.0, "timeout_s": 10.0}
    jobs = [Job(job_id=f"j{i}", model_path=str(path), format="onnx", dtype="fp32", runtime="onnxruntime",
                runtime_options={"threads": 1}, protocol=protocol, input_seed=i, model_sha256="a" * 64)
            for i in range(3)]
    got: list[str] = []
    session = DeviceSession(load_device(ssh_device_file()))
    session.run_batch(jobs, on_result=lambda m: got.append(m["job"]))
    assert got == ["j0", "j1", "j2"] and session.hello and session.hello["protocol"] == 1
