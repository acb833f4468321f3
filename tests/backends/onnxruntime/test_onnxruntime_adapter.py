"""The onnxruntime agent adapter's provider handling."""

from __future__ import annotations

import pytest

from suite.agent.runtimes import Unsupported
from suite.agent.runtimes.onnxruntime import OnnxRuntimeAdapter, fallback_nodes, provider_list


def test_provider_list_accepts_short_names_and_stringifies_options():
    names, opts = provider_list([["tensorrt", {"trt_fp16_enable": True, "device_id": 0}], "cpu"])
    assert names == ["TensorrtExecutionProvider", "CPUExecutionProvider"]
    assert opts == [{"trt_fp16_enable": "1", "device_id": "0"}, {}]


def test_fallback_ignores_copy_nodes_and_cpu_only_sessions():
    placement = {"CPUExecutionProvider": ["MemcpyToHost (m)", "Gather (g)"], "CUDAExecutionProvider": ["Conv (c)"]}
    assert fallback_nodes(placement, "CUDAExecutionProvider") == ["Gather (g)"]
    assert fallback_nodes(placement, "CPUExecutionProvider") == []


def test_missing_provider_is_unsupported_before_any_session():
    with pytest.raises(Unsupported, match="CoreMLExecutionProvider not available"):
        OnnxRuntimeAdapter({"providers": ["coreml"]}).load("unused.onnx")


def test_profile_comes_from_a_second_session_after_timing(tmp_path):
    import numpy as np
    import onnx

    from suite.models.onnx_builder import build_onnx_model
    from suite.sweep.expand import load_sweep

    point = load_sweep(tmp_path / "s.yaml", text="name: p\nop: conv2d\nfixed: {cin: 8, cout: 16, resolution: 16, "
                       "activation: relu}\n").points[0]
    path = tmp_path / "m.onnx"
    onnx.save(build_onnx_model(point), str(path))
    a = OnnxRuntimeAdapter({"threads": 1, "profile": True})
    a.load(str(path))
    (name, shape, _), = a.input_specs()
    a.bind({name: np.zeros(shape, np.float32)})()
    assert a.session.get_session_options().enable_profiling is False  # the timed session
    profile = a.info()["op_profile"]
    assert profile["runs"] == 10 and profile["total_us"] > 0
    conv = next(op for op in profile["ops"] if op["type"] in ("Conv", "FusedConv"))
    assert conv["time_us"] > 0 and conv["calls"] == 10 and conv["provider"] == "CPUExecutionProvider"
    assert profile["ops"] == sorted(profile["ops"], key=lambda op: -op["time_us"])
