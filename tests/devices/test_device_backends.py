"""A device file no backend can serve is a located ConfigError when it loads (names from the registry)."""

from __future__ import annotations

from pathlib import Path

import pytest

from suite.backends.backend import all_backends, get_backend, runtime_names, toolchain_names
from suite.devices.config import load_device
from suite.errors import ConfigError

DEVICES = Path(__file__).resolve().parents[2] / "devices"


# the valid names in the messages come from the backend registry (a new backend adds its own)
RUNTIMES = ", ".join(runtime_names())
TOOLCHAINS = ", ".join(toolchain_names())
DRIVEN = ", ".join(sorted({b.runtime for b in all_backends() if not b.in_agent}))


@pytest.mark.parametrize("text, line, field, expected", [
    ("name: d\nclass: cpu\nruntime:\n  threads: 1\n  name: tensorrt\n", 5, "runtime.name", "one of " + RUNTIMES),
    ("name: d\nclass: cpu\ntransport: {kind: adb}\nruntime:\n  name: onnxruntime\n", 5, "runtime.name",
     "a runtime the controller drives: " + DRIVEN),
    ("name: d\nclass: cpu\nruntime: {name: litert}\nformats: [onnx, openvino]\n", 4, "formats",
     "a list containing one of edgetpu, tflite"),
    ("name: d\nclass: npu\nruntime: {name: rknnlite}\nformats: [rknn]\ntoolchain:\n  target_platform: rk3588\n",
     6, "toolchain.target_platform", "one of " + TOOLCHAINS),
])
def test_unservable_devices_are_refused_at_load(text: str, line: int, field: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_device("d.yaml", text=text)
    e = err.value
    assert (e.file, e.line, e.field, e.expected) == ("d.yaml", line, field, expected)


def test_a_runtime_is_not_tied_to_a_transport() -> None:
    """benchmark_model (driven from the controller) loads on every transport; agent runtimes not on adb."""
    for transport in ("{kind: local}", "{kind: ssh, host: board}", "{kind: adb}"):
        d = load_device("d.yaml", text=f"name: d\nclass: cpu\ntransport: {transport}\n"
                                       "runtime: {name: benchmark_model}\nformats: [tflite]\n")
        assert d.backend is get_backend("benchmark_model")


@pytest.mark.parametrize("path", sorted(DEVICES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_device_has_a_backend_with_its_toolchain_blocks(path: Path) -> None:
    device = load_device(path)
    backend = device.backend
    assert backend.runtime == device.runtime.name and backend.format in device.formats
    for name in device.toolchain:  # a block for the backend's own toolchain (or its TFLite step)
        assert name in {backend.toolchain, "tflite"}
