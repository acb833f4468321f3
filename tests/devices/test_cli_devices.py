"""``hwbehave devices list`` / ``check`` against the shipped files, the test sshd and a dead port."""

from __future__ import annotations

from pathlib import Path

import pytest

from suite.cli.main import main as hwbehave
from suite.testing.sshd import TestSshd, free_port


def test_list_shows_every_device(capsys: pytest.CaptureFixture[str]) -> None:
    devices = Path(__file__).parent.parent.parent / "devices"
    assert hwbehave(["devices", "--dir", str(devices), "list"]) == 0
    out = capsys.readouterr().out
    assert "pixel-dsp" in out and "adb" in out and "benchmark_model" in out
    line = next(x for x in out.splitlines() if x.startswith("rk3588-npu"))
    assert "npu" in line and "ssh" in line and "rknnlite" in line and "example" in line


def test_check_reports_reachable_and_unreachable(sshd: TestSshd, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.yaml").write_text(sshd.device_yaml(name="good", workdir=str(tmp_path / "w")))
    (tmp_path / "dead.yaml").write_text(sshd.device_yaml(name="dead", workdir=str(tmp_path / "w"), port=free_port(),
                                                         extra="timeouts: {connect_s: 2}"))
    assert hwbehave(["devices", "--dir", str(tmp_path), "check", "good"]) == 0
    good = capsys.readouterr().out
    assert "good" in good and " OK " in good and "python 3." in good and "onnxruntime" in good and "free " in good
    assert hwbehave(["devices", "--dir", str(tmp_path), "check", "good", "dead"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(x.startswith("dead") and "FAIL" in x and "Connection refused" in x for x in lines)


def test_check_a_phone_through_fake_adb(fake_adb, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "phone.yaml").write_text(
        f"name: phone\nclass: cpu\ntransport: {{kind: adb, serial: FAKE0001, adb_port: {fake_adb.port}}}\n"
        "runtime: {name: benchmark_model}\nformats: [tflite]\n")
    assert hwbehave(["devices", "--dir", str(tmp_path), "check", "phone"]) == 0
    out = capsys.readouterr().out
    assert "Android 14" in out and "benchmark_model /data/local/tmp/benchmark_model" in out
