"""labgrid: a real coordinator and exporter on loopback; exclusive places; SSH address from the place."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from suite.testing.requirements import require, require_modules  # noqa: E402

require_modules("labgrid", fix="pip install 'hwbehave[labgrid]'")

from suite.devices.config import load_device  # noqa: E402
from suite.farm.config import load_farm  # noqa: E402
from suite.farm.labgrid import LabgridClient, PlaceBusy, acquired_place, client_path  # noqa: E402
from suite.farm.runner import run_farm  # noqa: E402
from suite.testing.sshd import SSHD, TestSshd, free_port  # noqa: E402

BIN = Path(sys.executable).parent


def _wait_port(port: int, timeout_s: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@pytest.fixture(scope="module")
def sshd_server(tmp_path_factory):
    if not Path(SSHD).exists():
        yield None
        return
    with TestSshd(tmp_path_factory.mktemp("sshd")) as s:
        yield s


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory, sshd_server):
    """Coordinator + exporter; place ``board`` matches the exported NetworkService."""
    port = free_port()
    addr = f"127.0.0.1:{port}"
    work = tmp_path_factory.mktemp("lg")
    ssh_port = sshd_server.port if sshd_server else 2222
    user = sshd_server.user if sshd_server else "root"
    (work / "exporter.yaml").write_text(
        f"board:\n  NetworkService:\n    address: 127.0.0.1\n    username: {user}\n    port: {ssh_port}\n")
    procs = [subprocess.Popen([str(BIN / "labgrid-coordinator"), "-l", addr], cwd=work,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        _wait_port(port)
        procs.append(subprocess.Popen([str(BIN / "labgrid-exporter"), "-c", addr, "-n", "exp", "--hostname",
                                       "127.0.0.1", "exporter.yaml"], cwd=work, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        admin = LabgridClient(addr, env={"LG_USERNAME": "admin"})
        assert admin.call("board", "create")[0] == 0
        assert admin.call("board", "add-match", "exp/board/*")[0] == 0
        deadline = time.monotonic() + 10
        while "NetworkService" not in admin.call(None, "resources")[1]:
            assert time.monotonic() < deadline, "exporter did not register"
            time.sleep(0.1)
        yield addr
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(timeout=10)


def test_second_user_is_refused_while_first_holds(coordinator):
    assert Path(client_path()).exists()
    alice = LabgridClient(coordinator, env={"LG_USERNAME": "alice"})
    bob = LabgridClient(coordinator, env={"LG_USERNAME": "bob"})
    assert alice.acquire("board", wait=False) is True
    try:
        with pytest.raises(PlaceBusy, match="alice"):
            bob.acquire("board", wait=False)
        with pytest.raises(PlaceBusy, match="after waiting"):
            bob.acquire("board", wait=True, timeout_s=0.5, poll_s=0.1)
        assert alice.network_service("board").address == "127.0.0.1"
        assert alice.acquire("board", wait=False) is False  # our own stale hold is adopted
    finally:
        alice.release("board")
    assert bob.acquire("board", wait=False) is True
    bob.release("board")


def test_acquired_place_points_the_device_at_the_place_and_releases(coordinator, tmp_path, monkeypatch):
    monkeypatch.setenv("LG_USERNAME", "farm")
    (tmp_path / "d.yaml").write_text("name: lg\nclass: cpu\ntransport:\n  kind: ssh\n  host: unused.invalid\n"
                                     "  labgrid_place: board\n")
    device = load_device(tmp_path / "d.yaml")
    other = LabgridClient(coordinator, env={"LG_USERNAME": "other"})
    with acquired_place(device, coordinator, wait=False) as placed:
        assert placed.transport.host == "127.0.0.1" and placed.transport.port
        with pytest.raises(PlaceBusy):
            other.acquire("board", wait=False)
    assert other.acquire("board", wait=False) is True
    other.release("board")


def test_farm_measures_through_a_labgrid_place(coordinator, sshd_server, farm_dir, monkeypatch):
    require("sshd not installed" if sshd_server is None else None, "apt-get install -y openssh-server")
    monkeypatch.setenv("LG_USERNAME", "farm")
    farm_dir.sweep("s", [4, 8])
    text = sshd_server.device_yaml(name="lgdev", workdir=str(farm_dir.root / "remote"))
    text = text.replace(f"host: {sshd_server.host}", "host: unused.invalid").replace(
        f"port: {sshd_server.port}", "port: 1\n  labgrid_place: board")
    farm_dir.device("lgdev", text)
    path = farm_dir.farm(f"jobs:\n  - sweep: sweeps/s.yaml\n    devices: [lgdev]\nlabgrid: {{coordinator: "
                         f"'{coordinator}', wait: false}}\n")
    outcome = run_farm(load_farm(path), "lg")
    report = outcome.devices["lgdev"]
    assert outcome.exit_code == 0, report
    assert [e["event"] for e in report.labgrid["events"]] == ["labgrid_acquired", "labgrid_released"]
    # busy place: another user holds it, the farm refuses without waiting
    other = LabgridClient(coordinator, env={"LG_USERNAME": "other"})
    other.acquire("board", wait=False)
    try:
        busy = run_farm(load_farm(path), "lg2")
        assert busy.devices["lgdev"].status == "busy" and busy.exit_code == 75
    finally:
        other.release("board")


def test_hwbehave_run_acquires_the_place_of_a_place_only_device(coordinator, sshd_server, tmp_path, monkeypatch):
    import suite.results as results
    from suite.cli.main import main

    require("sshd not installed" if sshd_server is None else None, "apt-get install -y openssh-server")
    monkeypatch.setenv("LG_USERNAME", "cli")
    text = sshd_server.device_yaml(name="placed", workdir=str(tmp_path / "remote"))
    lines = [x for x in text.splitlines() if not x.strip().startswith(("host:", "port:"))]
    text = "\n".join(lines).replace("  kind: ssh", "  kind: ssh\n  labgrid_place: board") + "\n"
    (tmp_path / "d.yaml").write_text(text)
    assert load_device(tmp_path / "d.yaml").transport.host is None
    (tmp_path / "s.yaml").write_text("name: s\nop: conv2d\nfixed: {cin: 4, cout: 4, resolution: 8}\n"
                                     "measure: {warmup_runs: 1, warmup_s: 0, min_runs: 3, min_s: 0.01, max_s: 0.1}\n")
    rc = main(["run", str(tmp_path / "s.yaml"), "--device", str(tmp_path / "d.yaml"), "--out", str(tmp_path / "r"),
               "--labgrid", coordinator, "--quiet"])
    assert rc == 0
    assert set(results.load(tmp_path / "r").status) == {"ok"}
    other = LabgridClient(coordinator, env={"LG_USERNAME": "other"})
    assert other.acquire("board", wait=False) is True  # released after the run
    other.release("board")
