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
