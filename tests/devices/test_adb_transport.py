"""The adb transport against the protocol-level fake adb server (and a real phone on request)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from backends.benchmark_model.fakes import use_fake_tflite

import suite.results as results
from suite.backends.benchmark_model.runtime import BenchmarkModelRuntime
from suite.devices.config import load_device
from suite.devices.transports.adb import AdbTransport
from suite.errors import DeviceError
from suite.pipeline import run_sweep
from suite.sweep.expand import load_sweep
from suite.testing.fake_adb import FakeAdbServer


def adb_yaml(tmp_path: Path, port: int, serial: str | None = "FAKE0001", extra: str = "") -> Path:
    path = tmp_path / "phone.yaml"
    path.write_text("\n".join([
        "name: fake-phone", "class: cpu", "transport:", "  kind: adb",
        f"  serial: {serial}" if serial else "", "  adb_host: 127.0.0.1", f"  adb_port: {port}",
        "runtime:", "  name: benchmark_model", "  threads: 2", '  affinity: "0-1"',
        "  options:", "    binary: /data/local/tmp/benchmark_model", "formats: [tflite]",
        "timeouts: {connect_s: 3, command_s: 10, point_s: 3}", extra, ""]))
    return path


@pytest.fixture
def fake_tflite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The ``tflite`` format built by a placeholder builder (no TensorFlow)."""
    use_fake_tflite(monkeypatch, tmp_path / "fake-tflite-cache")


def test_push_shell_pull_and_workdir(fake_adb: FakeAdbServer, tmp_path: Path) -> None:
    t = AdbTransport(load_device(adb_yaml(tmp_path, fake_adb.port)))
    t.connect()
    work = t.make_workdir()
    assert work.startswith("/data/local/tmp/hwbehave/")
    src = tmp_path / "m.tflite"
    src.write_bytes(b"\x00model\xff" * 1000)
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("")
    t.push([(str(src), "models/m.tflite"), (str(jobs), "jobs.jsonl")], work)
    local = fake_adb.host_path(work + "/models/m.tflite")
    assert local is not None and local.read_bytes() == src.read_bytes()
    assert fake_adb.host_path(work + "/jobs.jsonl").exists()  # type: ignore[union-attr]
    status, out, _ = t.run(["sh", "-c", "echo 'it''s'; exit 3"], 5)
    assert (status, out.strip()) == (3, "its")
    back = tmp_path / "back.bin"
    assert t.pull(work + "/models/m.tflite", str(back)) == back.stat().st_size == src.stat().st_size
    env = BenchmarkModelRuntime(t, t.device).probe_environment()
    assert env["device_model"] == "Fake Pixel" and env["os"] == "Android 14" and env["hostname"] == "FAKE0001"
    with pytest.raises(DeviceError, match="cannot start the Python agent.*benchmark_model"):
        t.start_agent(["python3", "agent.pyz", "serve"], work, {})
    t.remove_workdir(work)
    assert not fake_adb.host_path(work).exists()  # type: ignore[union-attr]
    t.close()


def test_unreachable_server_and_unknown_serial(fake_adb: FakeAdbServer, tmp_path: Path) -> None:
    from suite.testing.sshd import free_port

    with pytest.raises(DeviceError, match=r"no adb server at 127\.0\.0\.1:\d+.*adb start-server"):
        AdbTransport(load_device(adb_yaml(tmp_path, free_port()))).connect()
    with pytest.raises(DeviceError, match="device NOPE is not attached.*FAKE0001 device"):
        AdbTransport(load_device(adb_yaml(tmp_path, fake_adb.port, serial="NOPE"))).connect()
    t = AdbTransport(load_device(adb_yaml(tmp_path, fake_adb.port, serial=None)))
    t.connect()  # the only attached device is chosen
    assert t.serial == "FAKE0001"


def test_unauthorized_device_is_explained(tmp_path: Path) -> None:
    with FakeAdbServer(tmp_path / "p2", state="unauthorized") as server:
        with pytest.raises(DeviceError, match="unauthorized.*USB debugging"):
            AdbTransport(load_device(adb_yaml(tmp_path, server.port))).connect()


def test_bad_runtime_option_is_a_config_error_before_any_job(fake_adb: FakeAdbServer, fake_tflite: None,
                                                              sweep_file, tmp_path: Path) -> None:
    from suite.errors import ConfigError

    device = load_device(adb_yaml(tmp_path, fake_adb.port, extra=""))
    bad = device.model_copy(update={"runtime": device.runtime.model_copy(update={"options": {"use_gpu": True}})})
    with pytest.raises(ConfigError, match="unknown benchmark_model option 'use_gpu'"):
        run_sweep(load_sweep(sweep_file(couts=[8])), bad, tmp_path / "out")


def test_run_sweep_through_fake_adb(fake_adb: FakeAdbServer, fake_tflite: None, sweep_file, tmp_path: Path) -> None:
    tmp = fake_adb.host_path("/data/local/tmp")
    assert tmp is not None
    (tmp / "fake_benchmark_model.mode").write_text("2:segv 3:fail")
    sweep = load_sweep(sweep_file(couts=[8, 16, 32, 64]))
    device = load_device(adb_yaml(tmp_path, fake_adb.port))
    outcome = run_sweep(sweep, device, tmp_path / "out", seed=1)
    assert outcome.complete, outcome.error
    df = results.load(tmp_path / "out").sort_values("started_at")  # one round: execution order
    assert list(df["status"]) == ["ok", "crashed", "runtime_error", "ok"]
    ok = df[df["status"] == "ok"].iloc[0]
    assert ok["median_ms"] == pytest.approx(1240.27) and ok["n"] == 1      # the run average, as printed
    assert ok["timing"] == "summary"                                       # the tool's own average
    info = json.loads(ok["info_json"])
    assert info["samples_kind"] == "summary" and info["bm_count"] == 50
    assert info["bm_median_ms"] == pytest.approx(1239.807) and info["affinity"] == [0, 1]
    assert ok["load_ms"] == pytest.approx(5.579) and ok["first_ms"] == pytest.approx(1357.602)
    crashed = df[df["status"] == "crashed"].iloc[0]
    assert "signal 11" in crashed["error"] and "STARTING" in crashed["error"]
    failed = df[df["status"] == "runtime_error"].iloc[0]
    assert failed["error"].startswith("benchmark_model: ") and "Benchmarking failed" in failed["error"]
    assert failed["median_ms"] != failed["median_ms"]  # NaN: never 0 ms
    calls = [json.loads(x) for x in (tmp / "fake_benchmark_model.argv").read_text().splitlines()]
    assert len(calls) == 4
    assert {"--num_threads=2", "--num_runs=10", "--min_secs=0.05", "--max_secs=0.3"} <= set(calls[0]["argv"])
    assert all(c["cwd"].startswith(str(tmp / "hwbehave")) for c in calls)
    assert "taskset" in " ".join(r for r in fake_adb.requests if r.startswith("shell:") and "benchmark_model" in r)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["environment"]["agent"]["runtimes"]["benchmark_model"].startswith("/data/local/tmp/benchmark_model")
    assert not list((tmp / "hwbehave").iterdir())  # workdir removed
    assert not any("agent.pyz" in r for r in fake_adb.requests)  # a host-driven runtime: no agent pushed


def test_hang_is_a_timeout_and_the_batch_goes_on(fake_adb: FakeAdbServer, fake_tflite: None, sweep_file, tmp_path: Path) -> None:
    tmp = fake_adb.host_path("/data/local/tmp")
    assert tmp is not None
    (tmp / "fake_benchmark_model.mode").write_text("1:hang")
    sweep = load_sweep(sweep_file(couts=[8, 16]))
    device = load_device(adb_yaml(tmp_path, fake_adb.port).with_name("phone.yaml"))
    device = device.model_copy(update={"timeouts": device.timeouts.model_copy(update={"point_s": 1.0})})
    outcome = run_sweep(sweep, device, tmp_path / "out")
    df = results.load(tmp_path / "out").sort_values("started_at")  # one round: execution order
    assert outcome.complete and list(df["status"]) == ["timeout", "ok"]


def test_phone_lost_mid_batch_is_device_lost(fake_adb: FakeAdbServer, fake_tflite: None, sweep_file, tmp_path: Path) -> None:
    sweep = load_sweep(sweep_file(couts=[8, 16, 32]))
    device = load_device(adb_yaml(tmp_path, fake_adb.port))
    seen = []

    def observer(event: str, **data: object) -> None:
        if event == "measured":
            seen.append(data)
            if len(seen) == 1:
                fake_adb.stop()   # the adb server (phone) goes away
    outcome = run_sweep(sweep, device, tmp_path / "out", observer=observer)
    assert not outcome.complete
    df = results.load(tmp_path / "out")
    assert sorted(df["status"]) == ["device_lost", "ok"]


@pytest.mark.adb_device
def test_real_phone(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Runs only with ``--adb-serial SERIAL`` (and benchmark_model at /data/local/tmp on the phone)."""
    try:
        serial = request.config.getoption("--adb-serial")
    except ValueError:
        serial = None
    if not serial:
        pytest.skip("needs --adb-serial SERIAL and a phone")
    path = tmp_path / "phone.yaml"
    path.write_text(f"name: real-phone\nclass: cpu\ntransport: {{kind: adb, serial: {serial}}}\n"
                    "runtime: {name: benchmark_model, threads: 1}\nformats: [tflite]\n")
    t = AdbTransport(load_device(path))
    t.connect()
    hello = BenchmarkModelRuntime(t, t.device).hello()
    assert hello["os"].startswith("Android")
    work = t.make_workdir()
    try:
        assert t.run(["ls", work], 10)[0] == 0
    finally:
        t.remove_workdir(work)
        t.close()
    assert shutil.which("true")
