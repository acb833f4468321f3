"""The worker contract (both sides, real subprocesses) and toolchain settings resolution."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from suite.backends import contract
from suite.backends.toolchain import resolve_settings
from suite.devices.config import load_device
from suite.errors import ConfigError


def test_parse_result_takes_the_last_contract_line_among_vendor_noise():
    out = 'I rknn building ...\n{"not": "ours"}\n{"contract": 1, "status": "ok", "artifact": "m"}\ntrailing\n'
    assert contract.parse_result(out)["artifact"] == "m"
    assert contract.parse_result("no json here\n") is None


def test_worker_refuses_another_contract_version(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "suite.backends.openvino.worker", "--contract", "2", "--in",
                           "x.onnx", "--out", str(tmp_path), "--options", "{}"], capture_output=True, text=True,
                          env={"PYTHONPATH": contract.suite_root()}, timeout=60)
    result = contract.parse_result(proc.stdout)
    assert result["status"] == "build_error"
    assert "contract 1, caller asked for 2" in result["error"]


def test_worker_that_dies_without_a_result_line_is_a_build_error(tmp_path):
    r = contract.call_worker(sys.executable, "suite.backends.no_such.worker", tmp_path / "m.onnx", tmp_path, {})
    assert r["status"] == "build_error"
    assert "without a result line" in r["error"] and "No module named" in r["error"]


def test_missing_interpreter_is_a_build_error(tmp_path):
    r = contract.call_worker("/nonexistent/python", "suite.backends.openvino.worker", tmp_path / "m.onnx",
                             tmp_path, {})
    assert r["status"] == "build_error" and "not found" in r["error"]


def test_worker_argv_is_the_documented_command_line():
    argv = contract.worker_argv("py", "suite.backends.rknn.worker", "m.onnx", "out", {"b": 1, "a": 2})
    assert argv == ["py", "-m", "suite.backends.rknn.worker", "--contract", "1", "--in", "m.onnx", "--out", "out",
                    "--options", json.dumps({"a": 2, "b": 1})]


def _device(toolchain_yaml: str):
    return load_device("d.yaml", text="name: d\nclass: npu\nformats: [rknn]\nruntime: {name: rknnlite}\n"
                                      + toolchain_yaml)


def test_settings_merge_defaults_machine_file_and_device(tmp_path, monkeypatch):
    machine = tmp_path / "toolchains.yaml"
    machine.write_text("toolchains:\n  rknn: {python: ~/venvs/rknn/bin/python, target_platform: rk3566, "
                       "timeout_s: 30}\n")
    monkeypatch.setenv("HWBEHAVE_TOOLCHAINS", str(machine))
    device = _device("toolchain:\n  rknn: {target_platform: rk3588, verify: false}\n")
    s = resolve_settings("rknn", {"target_platform": "rk3588", "verify": True, "dtype_note": None}, device=device)
    assert s.python.endswith("venvs/rknn/bin/python") and "~" not in s.python
    assert s.timeout_s == 30
    assert s.options == {"target_platform": "rk3588", "verify": False, "dtype_note": None}  # device wins
    assert s.sources == ("defaults", str(machine), "device d")


def test_unknown_toolchain_option_names_the_valid_ones(monkeypatch, tmp_path):
    monkeypatch.setenv("HWBEHAVE_TOOLCHAINS", str(tmp_path / "none.yaml"))
    device = _device("toolchain:\n  rknn: {target_platfrom: rk3588}\n")
    with pytest.raises(ConfigError) as err:
        resolve_settings("rknn", {"target_platform": "rk3588"}, device=device)
    assert "target_platfrom" in str(err.value) and "target_platform" in str(err.value)


def test_machine_file_with_an_unknown_top_level_key_is_located(tmp_path, monkeypatch):
    machine = tmp_path / "toolchains.yaml"
    machine.write_text("toolchain:\n  rknn: {}\n")
    monkeypatch.setenv("HWBEHAVE_TOOLCHAINS", str(machine))
    with pytest.raises(ConfigError) as err:
        resolve_settings("rknn", {})
    assert str(machine) in str(err.value) and ":1" in str(err.value)
