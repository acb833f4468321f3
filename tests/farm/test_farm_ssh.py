"""A farm of loopback SSH devices (distinct real sshd instances) plus the local CPU, in parallel."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from suite.farm.config import EXIT_FAILED, load_farm
from suite.farm.runner import run_farm
from suite.testing import sshd  # noqa: E402
from suite.testing.requirements import require, require_modules  # noqa: E402

require_modules("paramiko", fix="pip install 'hwbehave[remote]'")
require(None if Path(sshd.SSHD).exists() else "sshd not installed", "apt-get install -y openssh-server")

SLOW = ("measure: {warmup_runs: 1, warmup_s: 0.01, min_runs: 3, min_s: 0.15, max_s: 0.3, rounds: 1, "
        "sentinel_every: 0, confirm_s: 0}")


@pytest.fixture
def servers(tmp_path):
    started = []
    for i in range(2):
        s = sshd.TestSshd(tmp_path / f"sshd{i}")
        s.start()
        started.append(s)
    yield started
    for s in started:
        s.stop()


def test_ssh_devices_and_local_cpu_run_in_parallel(farm_dir, servers):
    farm_dir.sweep("s", [4, 8, 12])
    farm_dir.device("local")
    for i, s in enumerate(servers):
        farm_dir.device(f"ssh{i}", s.device_yaml(name=f"ssh{i}", workdir=str(farm_dir.root / f"remote{i}")))
    path = farm_dir.farm("jobs:\n  - sweep: sweeps/s.yaml\n    devices: [local, ssh0, ssh1]\n")
    t0 = time.monotonic()
    outcome = run_farm(load_farm(path), "p")
    wall = time.monotonic() - t0
    assert outcome.exit_code == 0, {d: r.reason for d, r in outcome.devices.items()}
    per_device = [r.seconds for r in outcome.devices.values()]
    assert all(r.tasks[0].measured == 3 for r in outcome.devices.values())
    assert wall < 0.8 * sum(per_device)  # overlapped, not one after another


def test_sshd_killed_mid_run_quarantines_that_device_only(farm_dir, servers):
    farm_dir.sweep("s", [4, 8, 12, 16, 20, 24, 28, 32], SLOW)
    farm_dir.device("local")
    victim = servers[0]
    farm_dir.device("ssh0", victim.device_yaml(name="ssh0", workdir=str(farm_dir.root / "remote0")))
    path = farm_dir.farm("""\
        jobs:
          - sweep: sweeps/s.yaml
            devices: [local, ssh0]
        retry: {attempts: 3, backoff_s: 0.05}
        quarantine_after: 2
        """)
    journal = farm_dir.root / "results/k/ssh0/s/journal.jsonl"

    def killer() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if journal.exists() and journal.read_text().count("\n") >= 1:
                victim.stop()
                return
            time.sleep(0.02)

    t = threading.Thread(target=killer)
    t.start()
    outcome = run_farm(load_farm(path), "k")
    t.join()
    assert outcome.exit_code == EXIT_FAILED
    assert outcome.devices["local"].status == "done" and outcome.devices["local"].tasks[0].measured == 8
    bad = outcome.devices["ssh0"]
    assert bad.status == "quarantined", bad
    import json

    manifest = json.loads((farm_dir.root / "results/k/ssh0/s/manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    statuses = [json.loads(line)["status"] for line in journal.read_text().splitlines() if line.strip()]
    assert "ok" in statuses and "device_lost" in statuses
