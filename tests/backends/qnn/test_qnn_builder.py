"""The QNN builder: the point's graph prepared and QDQ-quantized by onnxruntime's QNN helpers."""

from __future__ import annotations

import onnx
import pytest

from suite.backends.qnn.builder import QnnBuilder
from suite.backends.toolchain import resolve_settings
from suite.errors import ConfigError
from suite.models.cache import ArtifactCache
from suite.sweep.expand import load_sweep
from suite.testing.requirements import require_modules

SWEEP = """
name: q
op: conv2d
fixed: {cin: 8, cout: 8, resolution: 8, activation: %s}
dtypes: [fp32, fp16, int8]
"""


def build(tmp_path, activation: str = "none", **options):
    points = load_sweep("q.yaml", text=SWEEP % activation).points
    settings = resolve_settings("qnn", QnnBuilder.defaults, machine={"qnn": options} if options else {})
    builder = QnnBuilder(cache=ArtifactCache(tmp_path / "cache"), settings=settings)
    arts = {a.dtype: a for a in builder.build_many(points)}
    assert all(a.ok for a in arts.values()), [a.error for a in arts.values()]
    return arts


def zero_point_types(path: str) -> set[int]:
    model = onnx.load(path)
    inits = {i.name: i.data_type for i in model.graph.initializer}
    return {inits[n.input[2]] for n in model.graph.node if n.op_type == "QuantizeLinear" and len(n.input) > 2}


def test_int8_is_qdq_a8w8_by_default_and_float_points_keep_their_graph(tmp_path) -> None:
    arts = build(tmp_path)
    int8 = arts["int8"]
    assert int8.metadata["htp_dtype"] == "a8w8" and int8.metadata["quantize_linear_nodes"] > 0
    assert zero_point_types(int8.path) == {onnx.TensorProto.UINT8}
    assert int8.metadata["ops_in_graph"] == ["Conv"]
    fp16 = onnx.load(arts["fp16"].path)
    assert fp16.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert arts["fp32"].metadata["htp_dtype"].startswith("fp16")  # the HTP computes fp32 graphs in fp16
    assert {a.format for a in arts.values()} == {"qnn_onnx"}


def test_uint16_activations_make_a16w8_at_opset_21(tmp_path) -> None:
    int8 = build(tmp_path, int8_activations="uint16")["int8"]
    assert int8.metadata["htp_dtype"] == "a16w8" and int8.metadata["opset_out"] >= 21
    assert onnx.TensorProto.UINT16 in zero_point_types(int8.path)


def test_qnn_preprocessing_fuses_gelu_into_one_op_unless_turned_off(tmp_path) -> None:
    fused = build(tmp_path / "a", "gelu")
    for dtype in ("fp32", "int8"):
        assert fused[dtype].metadata["preprocessed"] is True
        assert "Gelu" in fused[dtype].metadata["ops_in_graph"] and "Erf" not in fused[dtype].metadata["ops_in_graph"]
    # onnxruntime's GELU fusion matches fp32 graphs only: the fp16 graph keeps its Erf (the HTP runs it in fp16)
    assert fused["fp16"].metadata["preprocessed"] is False and "Erf" in fused["fp16"].metadata["ops_in_graph"]
    raw = build(tmp_path / "b", "gelu", preprocess=False)
    assert all("Erf" in a.metadata["ops_in_graph"] for a in raw.values())


def test_options_change_the_cache_key(tmp_path) -> None:
    point = load_sweep("q.yaml", text=SWEEP % "none").points[2]
    keys = {QnnBuilder(cache=ArtifactCache(tmp_path), settings=resolve_settings(
        "qnn", QnnBuilder.defaults, machine={"qnn": opts})).key(point) for opts in ({}, {"int8_activations": "uint16"})}
    assert len(keys) == 2


def test_a_bad_option_in_a_device_file_is_a_located_config_error(tmp_path) -> None:
    from suite.devices.config import load_device

    device = load_device("d.yaml", text="name: d\nclass: dsp\nruntime: {name: qnn}\nformats: [qnn_onnx]\n"
                                        "toolchain:\n  qnn: {int8_activations: int4}\n")
    with pytest.raises(ConfigError, match="bad qnn toolchain option int8_activations") as exc:
        QnnBuilder(cache=ArtifactCache(tmp_path), device=device)
    assert exc.value.field == "toolchain.qnn.int8_activations" and exc.value.value == "int4"
    assert "uint8, uint16" in str(exc.value.expected)
    with pytest.raises(ConfigError, match="unknown qnn toolchain option 'bits'"):
        QnnBuilder(cache=ArtifactCache(tmp_path), device=load_device(
            "d.yaml", text="name: d\nclass: dsp\nruntime: {name: qnn}\nformats: [qnn_onnx]\ntoolchain: {qnn: {bits: 4}}\n"))


def test_toolchain_check_prepares_a_graph_on_the_htp_here() -> None:
    require_modules("onnxruntime_qnn", fix="pip install 'hwbehave[qnn]'")
    check = QnnBuilder.check()
    assert check.usable, check.detail
    assert check.version and "QNN SDK" in check.detail and "HTP-only" in check.detail and "emulat" in check.detail


def test_toolchain_check_says_why_without_the_extra(tmp_path, monkeypatch) -> None:
    shadow = tmp_path / "onnxruntime_qnn"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'onnxruntime_qnn'\")\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    check = QnnBuilder.check()
    assert not check.usable
    assert check.detail == "onnxruntime-qnn is not installed in this interpreter"
    assert check.fix and "hwbehave[qnn]" in check.fix
