"""LiteRT adapter: real models converted here, run through the adapter and the worker."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from suite.agent.runtimes import Unsupported, get_runtime
from suite.agent.runtimes.litert import LiteRtRuntime, cpu_nodes, delegate_entries, delegate_hint
from suite.agent.worker import execute_job
from suite.ops.catalogue import get_op
from suite.sweep.point import Point
from suite.testing.requirements import require_modules

ADAPTER_SOURCE = Path(__file__).resolve().parents[3] / "suite/agent/runtimes/litert.py"
FAST = {"warmup_runs": 1, "warmup_s": 0.0, "min_runs": 3, "min_s": 0.0, "max_s": 0.2}


def require_tflite_extra() -> None:
    """TensorFlow and LiteRT: skipped where missing locally, a failure in CI."""
    require_modules("tensorflow", "ai_edge_litert", fix="pip install 'hwbehave[tflite]'")


def point(dtype: str) -> Point:
    spec = get_op("conv2d")
    p = spec.normalize({"cin": 8, "cout": 16, "resolution": 12, "activation": "relu"})
    return Point.make("conv2d", p, dtype, spec.cost(p, dtype))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """fp32 and full-int8 models of one conv point, converted in this process."""
    require_tflite_extra()
    from suite.backends.litert.builder import convert_point

    out = tmp_path_factory.mktemp("litert")
    paths = {}
    for dtype, variant in (("fp32", "fp32"), ("int8", "int8_full")):
        paths[dtype] = out / f"{dtype}.tflite"
        convert_point(point(dtype), variant, str(paths[dtype]))
    return paths


def run(path: Path, **options: object) -> tuple[LiteRtRuntime, list[np.ndarray]]:
    adapter = get_runtime("litert")(dict(options))
    adapter.load(str(path))
    rng = np.random.default_rng(3)
    inputs = {name: rng.standard_normal(shape).astype(dtype) for name, shape, dtype in adapter.input_specs()}
    infer = adapter.bind(inputs)
    infer()
    return adapter, adapter.outputs()


def test_adapter_source_is_python37_syntax() -> None:
    ast.parse(ADAPTER_SOURCE.read_text(), feature_version=(3, 7))


def test_fp32_runs_with_and_without_xnnpack(models: dict[str, Path]) -> None:
    adapter, out = run(models["fp32"], threads=1)
    info = adapter.info()
    assert info["provider"] == "xnnpack" and info["ops"] == 1 and info["partitions"] == 1
    assert adapter.input_specs()[0][1:] == ([1, 12, 12, 8], "float32")
    plain, out_plain = run(models["fp32"], threads=1, xnnpack=False)
    assert plain.info()["provider"] == "builtin" and plain.info()["partitions"] == 0
    np.testing.assert_allclose(out[0], out_plain[0], rtol=1e-4, atol=1e-4)
    assert (out[0] >= 0).all()  # the fused relu ran


def test_full_int8_quantizes_inputs_and_dequantizes_outputs(models: dict[str, Path]) -> None:
    adapter, out = run(models["int8"], threads=1)
    assert adapter.input_specs()[0][2] == "float32"  # int8 tensor, float interface
    assert adapter.in_details[0]["dtype"] == np.int8
    assert out[0].dtype == np.float32
    _, ref = run(models["fp32"], threads=1)
    assert np.corrcoef(out[0].ravel(), ref[0].ravel())[0, 1] > 0.98
    assert abs(float(out[0].mean()) - float(ref[0].mean())) < 0.05 * float(np.abs(ref[0]).max())
    quant = adapter.info()["io_quantization"]
    assert [q["dtype"] for q in quant] == ["int8", "int8"] and all(q["scale"] > 0 for q in quant)


def test_missing_delegate_is_unsupported_with_what_to_install(models: dict[str, Path]) -> None:
    adapter = get_runtime("litert")({"delegate": "libedgetpu.so.1"})
    with pytest.raises(Unsupported, match=r"litert: delegate libedgetpu.so.1 cannot be loaded .*libedgetpu1-std"):
        adapter.load(str(models["int8"]))


def test_worker_job_results(models: dict[str, Path]) -> None:
    base = str(models["int8"].parent)
    ok = execute_job({"job": "j1", "runtime": "litert", "model": "int8.tflite", "protocol": FAST,
                      "runtime_options": {"threads": 1}, "input_seed": 7}, base)
    assert ok["status"] == "ok", ok["error"]
    assert ok["info"]["provider"] == "xnnpack" and ok["outputs"]["size"] == 12 * 12 * 16
    lost = execute_job({"job": "j2", "runtime": "litert", "model": "int8.tflite", "protocol": FAST,
                        "runtime_options": {"delegates": [{"path": "/nonexistent/libgpu_delegate.so"}]}}, base)
    assert lost["status"] == "unsupported"
    assert lost["error"].startswith("litert: delegate /nonexistent/libgpu_delegate.so cannot be loaded")


def test_delegate_options_forms() -> None:
    assert delegate_entries({"delegate": "libedgetpu.so.1", "delegate_options": {"device": "usb"}}) == [
        ("libedgetpu.so.1", {"device": "usb"})]
    assert delegate_entries({"delegates": ["a.so", {"path": "b.so", "options": {"x": 1}}]}) == [
        ("a.so", {}), ("b.so", {"x": "1"})]
    assert "QNN" in delegate_hint("/data/local/tmp/libQnnTFLiteDelegate.so")


def _op(index: int, name: str, ins: list[int], outs: list[int]) -> dict:
    return {"index": index, "op_name": name, "inputs": ins, "outputs": outs}


def test_cpu_nodes_after_partial_delegation() -> None:
    # t0 -QUANTIZE-> t1 -CONV-> t2 -CONV-> t3 -LEAKY_RELU-> t4 -DEQUANTIZE-> t5 (graph output)
    # the delegate took both CONVs (reads t1, writes t3)
    ops = [_op(0, "QUANTIZE", [0], [1]), _op(1, "CONV_2D", [1, 10], [2]), _op(2, "CONV_2D", [2, 11], [3]),
           _op(3, "LEAKY_RELU", [3], [4]), _op(4, "DEQUANTIZE", [4], [5]), _op(5, "DELEGATE", [1, 10, 11], [3])]
    assert cpu_nodes(ops, [5]) == [0, 3, 4]
    # nothing delegated: every node on the CPU
    assert cpu_nodes(ops[:5], [5]) == [0, 1, 2, 3, 4]


def test_cpu_ops_with_a_delegate_become_fallback_ops() -> None:
    adapter = LiteRtRuntime({})
    adapter.delegate_paths = ["libedgetpu.so.1"]
    adapter.xnnpack, adapter.package, adapter.in_details, adapter.out_details = True, "ai_edge_litert", [], []
    adapter.placement = {"ops": 3, "partitions": 1, "cpu_ops": ["QUANTIZE#0"], "delegated_ops": 2}
    info = adapter.info()
    assert info["provider"] == "libedgetpu.so.1" and info["fallback_ops"] == ["QUANTIZE#0"]
    adapter.placement = {"ops": None, "cpu_ops": "unknown"}
    assert "fallback_ops" not in adapter.info() and adapter.info()["cpu_ops"] == "unknown"
