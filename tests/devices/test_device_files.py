"""Device YAML validation and the shipped device definitions."""

from __future__ import annotations

from pathlib import Path

import pytest

from suite.devices.config import load_device
from suite.errors import ConfigError

DEVICES = Path(__file__).parent.parent.parent / "devices"
MINE = ["jetson-orin-gpu", "pixel-cpu", "pixel-gpu", "pixel-dsp", "rk3588-npu", "coral-edgetpu", "k230-kpu",
        "intel-npu"]


@pytest.mark.parametrize("path", sorted(DEVICES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_device_file_loads(path: Path) -> None:
    device = load_device(path)
    assert device.name == path.stem


@pytest.mark.parametrize("name", MINE)
def test_examples_are_marked(name: str) -> None:
    path = DEVICES / f"{name}.yaml"
    assert load_device(path).example
    assert "EXAMPLE to copy: this device does not exist here" in path.read_text().splitlines()[0]


def test_unknown_transport_key_has_file_line_and_choices(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("name: d\nclass: cpu\ntransport:\n  kind: ssh\n  host: h\n  hostname: typo\n")
    with pytest.raises(ConfigError) as err:
        load_device(path)
    msg = str(err.value)
    assert f"{path}:6" in msg and "unknown key" in msg and "hostname" in msg and "known_hosts" in msg


def test_bad_class_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("name: d\nclass: tpu\n")
    with pytest.raises(ConfigError, match=rf"{path}:2.*class.*tpu"):
        load_device(path)


def test_bad_host_key_policy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("name: d\nclass: cpu\ntransport: {kind: ssh, host: h, host_key_policy: yolo}\n")
    with pytest.raises(ConfigError, match="host_key_policy"):
        load_device(path)


def test_an_ssh_device_needs_a_host_or_a_labgrid_place(tmp_path):
    import pytest

    from suite.devices.config import load_device
    from suite.errors import ConfigError

    ok = tmp_path / "place.yaml"
    ok.write_text("name: board\nclass: npu\ntransport: {kind: ssh, labgrid_place: rk3588-1}\n")
    assert load_device(ok).transport.host is None
    bad = tmp_path / "none.yaml"
    bad.write_text("name: board\nclass: npu\ntransport:\n  kind: ssh\n  user: root\n")
    with pytest.raises(ConfigError, match="host .* or labgrid_place") as info:
        load_device(bad)
    assert info.value.line == 3
