"""ONNX Runtime node placement from recorded logs and profiles, and fallback through a real session."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from backends.backend_harness import fixture_text, tiny_sweep
from suite import status as st
from suite.backends.onnxruntime.placement import log_fallback, parse_placement_log, placement_from_profile
from suite.devices.config import load_device
from suite.models.cache import ArtifactCache
from suite.pipeline import run_sweep

REPO = Path(__file__).resolve().parents[3]
MIXED_LOG = "ort_logs/recorded-verbose-openvino-ep-mixed-placement-ort1.24.1.txt"
MIXED_PROFILE = "ort_logs/recorded-profile-openvino-ep-mixed-placement-ort1.24.1.json"


def test_recorded_mixed_placement_log_gives_the_cpu_node_as_fallback():
    log = parse_placement_log(fixture_text(MIXED_LOG))
    assert list(log.providers) == ["OpenVINOExecutionProvider", "CPUExecutionProvider"]
    assert log.providers["CPUExecutionProvider"].nodes == ["Inverse (odd_0)"]
    assert log.providers["OpenVINOExecutionProvider"].count == 2 and log.providers["OpenVINOExecutionProvider"].complete
    assert log_fallback(log, "OpenVINOExecutionProvider") == ["Inverse (odd_0)"]
    assert log_fallback(log, "CPUExecutionProvider") == []


def test_recorded_profile_agrees_with_the_log():
    placement = placement_from_profile(json.loads(fixture_text(MIXED_PROFILE)))
    assert placement["CPUExecutionProvider"] == ["Inverse (odd_0)"]
    assert len(placement["OpenVINOExecutionProvider"]) == 2


def test_counts_only_log_reports_how_many_nodes_fell_back():
    log = parse_placement_log(fixture_text("ort_logs/verbose-node-placements-mixed-cpu-cuda-sherpa-onnx.txt"))
    assert {p: v.count for p, v in log.providers.items()} == {"CPUExecutionProvider": 875,
                                                              "CUDAExecutionProvider": 2426}
    assert log_fallback(log, "CUDAExecutionProvider") == [
        "875 node(s) on CPUExecutionProvider (not listed in the log)"]


def test_legacy_and_warning_only_logs():
    legacy = parse_placement_log(fixture_text("ort_logs/verbose-legacy-all-nodes-have-been-placed-cpu-ort2019.txt"))
    assert legacy.all_on == "CPUExecutionProvider"
    for name in ("warning-some-nodes-not-assigned-cuda-linux-sherpa-onnx.txt",
                 "warning-some-nodes-not-assigned-dml-windows-nodejs.txt",
                 "app-log-with-ort-warnings-tensorrt-cuda-ecosystem-webui.txt"):
        log = parse_placement_log(fixture_text("ort_logs/" + name))
        assert log.unassigned_warning and not log.providers, name


def _local(path: str, **runtime):
    """An example device YAML with its transport replaced by the local one (to reach the boundary here)."""
    device = load_device(REPO / "devices" / path)
    return device.model_copy(update={"transport": load_device("x.yaml", text="name: x\nclass: cpu\n").transport,
                                     "prepare": []})


def _measure(tmp_path, device):
    run_sweep(tiny_sweep("[fp32]"), device, tmp_path / "run", cache=ArtifactCache(tmp_path / "cache"))
    return pd.read_parquet(tmp_path / "run" / "measurements.parquet").iloc[0]


def test_tensorrt_device_is_unsupported_where_the_provider_is_missing(tmp_path):
    row = _measure(tmp_path, _local("jetson-tensorrt.yaml"))
    assert row["status"] == st.UNSUPPORTED
    assert "TensorrtExecutionProvider" in row["error"] and "not available in this build" in row["error"]


def test_qnn_device_is_unsupported_where_the_provider_is_missing(tmp_path):
    row = _measure(tmp_path, _local("snapdragon-qnn.yaml"))
    assert row["status"] == st.UNSUPPORTED and "QNNExecutionProvider" in row["error"]


def test_nodes_left_on_the_cpu_make_a_real_run_a_fallback_with_the_node_list(tmp_path):
    # The Azure EP ships in every ORT wheel and claims no nodes: all of them land on the CPU.
    device = load_device("d.yaml", text="name: azure-first\nclass: npu\nruntime:\n  name: onnxruntime\n"
                                        "  threads: 1\n  providers: [AzureExecutionProvider, cpu]\n")
    row = _measure(tmp_path, device)
    info = json.loads(row["info_json"])
    assert row["status"] == st.FALLBACK and row["median_ms"] > 0
    assert info["fallback_ops"] and all("(" in n for n in info["fallback_ops"])
    assert row["error"].startswith(f"onnxruntime: {len(info['fallback_ops'])} op(s) left the accelerator")
    assert set(info["placement"]) == {"CPUExecutionProvider"}

