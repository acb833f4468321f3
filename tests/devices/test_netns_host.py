"""The SSH transport across a virtual network link: a real sshd in its own network namespace."""

from __future__ import annotations

import sys

import pytest

import suite.results as results
from suite.devices.config import load_device
from suite.pipeline import run_sweep
from suite.sweep.expand import load_sweep
from suite.testing.netns import TestNetns
from suite.testing.requirements import require
from suite.testing.sshd import TestSshd

SWEEP = """name: netns
op: conv2d
fixed: {cin: 8, resolution: 8}
axes: {cout: [4, 8, 12]}
measure: {warmup_runs: 2, warmup_s: 0.0, min_runs: 5, min_s: 0.01, max_s: 0.2}
"""


@pytest.fixture
def netns_host(tmp_path):
    require(TestNetns.why_unavailable(), "run as root on a machine that allows network namespaces")
    with TestNetns(subnet=9) as ns:
        server = TestSshd(tmp_path / "sshd", host=ns.ns_ip, netns=ns).start()
        try:
            yield server
        finally:
            server.stop()


def test_a_sweep_runs_on_a_host_in_another_network_namespace(netns_host, tmp_path):
    dev = tmp_path / "dev.yaml"
    dev.write_text(netns_host.device_yaml(name="netns-host", workdir=str(tmp_path / "remote"), python=sys.executable))
    device = load_device(dev)
    assert device.transport.host.startswith("10.231.")
    (tmp_path / "s.yaml").write_text(SWEEP)
    outcome = run_sweep(load_sweep(tmp_path / "s.yaml"), device, tmp_path / "run")
    assert outcome.complete
    df = results.load(tmp_path / "run")
    assert len(df) == 3 and set(df.status) == {"ok"} and df.point_id.is_unique
    assert not list((tmp_path / "remote").glob("*")), "the remote workdir is removed on exit"


def test_the_namespace_host_is_not_reachable_on_loopback(netns_host):
    import socket

    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", netns_host.port), timeout=1).close()
