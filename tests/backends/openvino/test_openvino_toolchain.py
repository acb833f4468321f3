"""OpenVINO: real ONNX → IR conversion and CPU runs end to end through ``run_sweep``."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from backends.backend_harness import require_openvino, tiny_sweep
from suite import status as st
from suite.devices.config import load_device
from suite.models.cache import ArtifactCache
from suite.pipeline import run_sweep

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _openvino():
    require_openvino()


def test_builder_writes_ir_with_weights_in_the_point_dtype(tmp_path):
    from suite.backends.openvino.builder import OpenVinoBuilder

    builder = OpenVinoBuilder(cache=ArtifactCache(tmp_path))
    arts = {p.dtype: builder.build(p) for p in tiny_sweep().points}
    assert {d: a.status for d, a in arts.items()} == {"fp32": "ok", "fp16": "ok", "int8": "ok"}
    for art in arts.values():
        assert art.path.endswith(".ovir")
        assert sorted(zipfile.ZipFile(art.path).namelist()) == ["model.bin", "model.xml"]
        assert art.metadata["compress_to_fp16"] is False and art.metadata["toolchain_version"]
    assert "f32" in arts["fp32"].metadata["ir_weight_types"] and "f16" not in arts["fp32"].metadata["ir_weight_types"]
    assert "f16" in arts["fp16"].metadata["ir_weight_types"]
    assert "FakeQuantize" in arts["int8"].metadata["ir_op_types"]  # OpenVINO read the QDQ graph as int8
    again = builder.build(tiny_sweep("[fp32]").points[0])
    assert again.metadata["cache"] == "hit" and again.path == arts["fp32"].path


def _run(tmp_path, device_text=None, dtypes="[fp32, fp16, int8]"):
    if device_text is None:
        device = load_device(REPO / "devices" / "local-openvino.yaml")
    else:
        device = load_device("d.yaml", text=device_text)
    out = tmp_path / "run"
    outcome = run_sweep(tiny_sweep(dtypes), device, out, cache=ArtifactCache(tmp_path / "cache"))
    df = pd.read_parquet(out / "measurements.parquet")
    return outcome, df


def test_local_openvino_device_runs_fp32_fp16_int8_and_records_precision(tmp_path):
    outcome, df = _run(tmp_path)
    assert outcome.complete
    assert sorted(df["status"]) == ["ok", "ok", "ok"], df[["dtype", "status", "error"]].to_dict("records")
    for _, row in df.iterrows():
        info = json.loads(row["info_json"])
        assert info["precision_requested"] == "f32" and info["precision"] == "f32"
        assert info["threads"] == 1 and info["performance_hint"] == "LATENCY"
        assert row["provider"] == "openvino:CPU" and row["median_ms"] > 0
        convs = [x for x in info["layers"] if x["layer_type"] == "Convolution"]
        assert convs, info["layers"]
        if row["dtype"] == "int8":
            assert any("I8" in c["exec_type"] or c["precision"] == "i8" for c in convs), convs
        else:
            assert all(c["precision"] == "f32" for c in convs), convs


BF16_DEVICE = """
name: ov-bf16
class: cpu
runtime: {name: openvino, threads: 1, options: {device: CPU, precision: bf16}}
formats: [openvino]
"""


def test_bf16_request_is_recorded_with_the_layer_exec_types(tmp_path):
    import openvino as ov

    caps = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    _, df = _run(tmp_path, BF16_DEVICE, dtypes="[fp32]")
    info = json.loads(df.iloc[0]["info_json"])
    assert df.iloc[0]["status"] == "ok"
    if "BF16" in caps:  # e.g. AVX-512 BF16 / AMX: the plug-in really computes bf16
        assert info["precision"] == "bf16"
        assert any(t.endswith("bf16") for t in info["exec_types"]), info["exec_types"]
    else:  # no bf16 ISA: the plug-in falls back to f32 and the record says so
        assert info["precision"] == "f32"


def test_a_device_that_is_not_here_is_unsupported(tmp_path):
    text = BF16_DEVICE.replace("device: CPU, precision: bf16", "device: MYRIAD").replace("ov-bf16", "ov-myriad")
    _, df = _run(tmp_path, text, dtypes="[fp32]")
    assert df.iloc[0]["status"] == st.UNSUPPORTED
    assert df.iloc[0]["error"].startswith("openvino: device MYRIAD not available here")
