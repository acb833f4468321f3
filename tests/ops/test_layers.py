"""Single layers of the catalogue: build, run, numerics against numpy, cost, parameter errors."""

from __future__ import annotations

import time

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx_harness import (
    activation_ref,
    assert_close,
    build,
    conv2d_ref,
    graph_macs,
    layernorm_ref,
    pool_ref,
    softmax_ref,
)

from suite.models.cache import ArtifactCache
from suite.models.onnx_builder import OnnxBuilder
from suite.ops.catalogue import OPS, ParamError, get_op, load_catalogue
from suite.sweep.point import Point

#: Small parameters of every layer op (the layer catalogue must be covered: see test below).
LAYER_CASES: dict[str, dict] = {
    "conv2d": {"cin": 4, "cout": 8, "resolution": 9, "stride": 2, "activation": "relu"},
    "dwconv2d": {"channels": 6, "resolution": 8, "kernel": 5, "activation": "prelu"},
    "fc": {"cin": 12, "cout": 5, "batch": 2, "activation": "relu6"},
    "matmul": {"rows": 6, "depth": 10, "cols": 7, "batch": 2},
    "maxpool": {"channels": 3, "resolution": 9, "kernel": 3, "stride": 2, "padding": 1},
    "avgpool": {"channels": 3, "resolution": 9, "kernel": 3, "stride": 2, "padding": 1},
    "global_avgpool": {"channels": 5, "resolution": 6},
    "add": {"channels": 4, "resolution": 6},
    "mul": {"channels": 4, "resolution": 6},
    "concat": {"c1": 3, "c2": 5, "resolution": 6},
    "channel_shuffle": {"channels": 12, "groups": 3, "resolution": 5},
    "batchnorm": {"channels": 6, "resolution": 5},
    "layernorm": {"seq_len": 5, "width": 16, "batch": 2},
    "softmax": {"channels": 7, "resolution": 4},
    "resize": {"channels": 3, "resolution": 5, "mode": "bilinear"},
    "pad": {"channels": 3, "resolution": 6, "mode": "reflect", "pad": 2},
}


def test_every_layer_op_has_a_case() -> None:
    load_catalogue()
    layers = {name for name, op in OPS.items() if op.kind == "layer"}
    assert layers == set(LAYER_CASES)


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
@pytest.mark.parametrize("op_name", sorted(LAYER_CASES))
def test_layer_builds_checks_and_runs(op_name: str, dtype: str) -> None:
    b = build(op_name, LAYER_CASES[op_name], dtype)
    onnx.checker.check_model(b.model, full_check=True)
    (out,) = b.run()
    assert out.dtype == (np.float16 if dtype == "fp16" else np.float32)
    assert np.isfinite(out.astype(np.float32)).all()
    assert out.size == b.op.cost_parts(b.params)[3]
    assert b.point.bytes_out == out.nbytes


@pytest.mark.parametrize("op_name", sorted(LAYER_CASES))
def test_layer_param_count_is_its_weights(op_name: str) -> None:
    """Convention: parameters are the initializers made by ``GraphBuilder.weight``; the rest
    (int64 shapes/pads, float32 resize scales, scalar activation constants) are constants."""
    b = build(op_name, LAYER_CASES[op_name])
    assert [t.name for t in b.model.graph.initializer] == [t.name for t in b.graph.initializers]
    assert b.graph.param_count() == b.point.param_count
    weights = set(b.graph.weight_names)
    for t in b.model.graph.initializer:
        if t.name not in weights:
            assert t.data_type == onnx.TensorProto.INT64 or int(np.prod(t.dims)) <= 4, t.name


@pytest.mark.parametrize("op_name", sorted(LAYER_CASES))
def test_layer_macs_match_the_graph(op_name: str) -> None:
    b = build(op_name, LAYER_CASES[op_name])
    assert graph_macs(b.model) == b.point.macs
    assert b.point.flops >= 2 * b.point.macs


def test_conv2d_cost_numbers() -> None:
    op = get_op("conv2d")
    p = op.normalize({"cin": 16, "cout": 32, "resolution": 8, "activation": "relu"})
    c = op.cost(p, "fp16")
    out = 32 * 8 * 8
    assert c.macs == out * 16 * 9
    assert c.flops == 2 * c.macs + out + out  # bias add + relu, one FLOP each per output
    assert c.param_count == 32 * 16 * 9 + 32
    assert (c.bytes_in, c.bytes_out, c.bytes_weights) == (16 * 64 * 2, out * 2, c.param_count * 2)


# -- numerics --------------------------------------------------------------------------------
def _conv_weights(b, node):
    w = b.weights
    bias = w[node.input[2]] if len(node.input) > 2 else None
    return w[node.input[1]], bias


@pytest.mark.parametrize("params, stride, pad, dilation, groups", [
    ({"cin": 4, "cout": 6, "resolution": 7}, 1, 1, 1, 1),
    ({"cin": 4, "cout": 6, "resolution": 9, "stride": 2, "padding": "valid"}, 2, 0, 1, 1),
    ({"cin": 6, "cout": 4, "resolution": 9, "dilation": 2, "kernel": 3}, 1, 2, 2, 1),
    ({"cin": 8, "cout": 4, "resolution": 8, "groups": 2, "kernel": 1, "bias": False}, 1, 0, 1, 2),
    ({"cin": 4, "cout": 8, "resolution": 10, "groups": 4, "stride": 3, "kernel": 5, "padding": 1}, 3, 1, 1, 4),
])
def test_conv2d_matches_numpy(params, stride, pad, dilation, groups) -> None:
    b = build("conv2d", params)
    (conv,) = b.nodes("Conv")
    w, bias = _conv_weights(b, conv)
    assert (bias is None) == (not b.params["bias"])
    feeds = b.inputs()
    (out,) = b.run(feeds)
    assert_close(out, conv2d_ref(feeds["input_0"], w, bias, stride, pad, dilation, groups))


@pytest.mark.parametrize("activation", ["none", "relu", "hard_swish", "prelu"])
def test_dwconv2d_matches_numpy(activation: str) -> None:
    b = build("dwconv2d", {"channels": 5, "resolution": 8, "stride": 2, "activation": activation})
    w, bias = _conv_weights(b, b.nodes("Conv")[0])
    assert w.shape == (5, 1, 3, 3)
    slope = b.weights[b.nodes("PRelu")[0].input[1]] if activation == "prelu" else None
    feeds = b.inputs()
    (out,) = b.run(feeds)
    ref = conv2d_ref(feeds["input_0"], w, bias, stride=2, pad=1, groups=5)
    assert_close(out, activation_ref(ref, activation, slope))


@pytest.mark.parametrize("activation, bias", [("none", True), ("prelu", True), ("gelu", False)])
def test_fc_matches_numpy(activation: str, bias: bool) -> None:
    b = build("fc", {"cin": 10, "cout": 6, "batch": 3, "bias": bias, "activation": activation})
    (gemm,) = b.nodes("Gemm")
    w = b.weights[gemm.input[1]]
    assert w.shape == (6, 10)
    ref = b.inputs()["input_0"].astype(np.float64) @ w.T
    if bias:
        ref = ref + b.weights[gemm.input[2]]
    slope = b.weights[b.nodes("PRelu")[0].input[1]] if activation == "prelu" else None
    (out,) = b.run()
    assert_close(out, activation_ref(ref, activation, slope))


def test_matmul_matches_numpy() -> None:
    b = build("matmul", {"rows": 5, "depth": 7, "cols": 3, "batch": 2})
    w = b.weights[b.nodes("MatMul")[0].input[1]]
    x = b.inputs()["input_0"]
    (out,) = b.run()
    assert_close(out, x.astype(np.float64) @ w)


@pytest.mark.parametrize("op_name, kind", [("maxpool", "max"), ("avgpool", "avg")])
@pytest.mark.parametrize("kernel, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_pools_match_numpy(op_name, kind, kernel, stride, padding) -> None:
    b = build(op_name, {"channels": 3, "resolution": 7, "kernel": kernel, "stride": stride, "padding": padding})
    x = b.inputs()["input_0"]
    (out,) = b.run()
    assert_close(out, pool_ref(x, kernel, stride, padding, kind))


def test_global_avgpool_matches_numpy() -> None:
    b = build("global_avgpool", {"channels": 4, "resolution": 5})
    x = b.inputs()["input_0"]
    (out,) = b.run()
    assert_close(out, x.astype(np.float64).mean(axis=(2, 3), keepdims=True))


@pytest.mark.parametrize("op_name, fn", [("add", np.add), ("mul", np.multiply)])
def test_binary_ops_match_numpy(op_name, fn) -> None:
    b = build(op_name, {"channels": 3, "resolution": 4, "batch": 2})
    feeds = b.inputs()
    (out,) = b.run(feeds)
    assert_close(out, fn(feeds["input_0"].astype(np.float64), feeds["input_1"]))


def test_concat_matches_numpy() -> None:
    b = build("concat", {"c1": 2, "c2": 5, "resolution": 3})
    feeds = b.inputs()
    (out,) = b.run(feeds)
    assert_close(out, np.concatenate([feeds["input_0"], feeds["input_1"]], axis=1).astype(np.float64))


def test_channel_shuffle_matches_numpy() -> None:
    b = build("channel_shuffle", {"channels": 6, "groups": 3, "resolution": 2, "batch": 2})
    x = b.inputs()["input_0"]
    (out,) = b.run()
    ref = x.reshape(2, 3, 2, 2, 2).transpose(0, 2, 1, 3, 4).reshape(x.shape)
    np.testing.assert_array_equal(out, ref)
    # channel j of a group goes next to channel j of the other groups
    np.testing.assert_array_equal(out[:, 1], x[:, 2])


def test_batchnorm_matches_numpy() -> None:
    b = build("batchnorm", {"channels": 4, "resolution": 3})
    (bn,) = b.nodes("BatchNormalization")
    scale, bias, mean, var = (b.weights[n].reshape(1, -1, 1, 1) for n in bn.input[1:])
    x = b.inputs()["input_0"].astype(np.float64)
    (out,) = b.run()
    assert_close(out, scale * (x - mean) / np.sqrt(var + 1e-5) + bias)


def test_layernorm_matches_numpy() -> None:
    b = build("layernorm", {"seq_len": 4, "width": 12, "batch": 2})
    (ln,) = b.nodes("LayerNormalization")
    scale, bias = (b.weights[n] for n in ln.input[1:])
    x = b.inputs()["input_0"]
    (out,) = b.run()
    assert_close(out, layernorm_ref(x, scale, bias))


@pytest.mark.parametrize("axis, np_axis", [("channels", 1), ("last", -1)])
def test_softmax_matches_numpy(axis: str, np_axis: int) -> None:
    b = build("softmax", {"axis": axis, "channels": 5, "resolution": 3})
    x = b.inputs()["input_0"].astype(np.float64)
    (out,) = b.run()
    assert_close(out, softmax_ref(x, np_axis))


@pytest.mark.parametrize("scale", [2, 3])
def test_resize_nearest_matches_numpy(scale: int) -> None:
    b = build("resize", {"mode": "nearest", "scale": scale, "channels": 2, "resolution": 4})
    x = b.inputs()["input_0"]
    (out,) = b.run()
    np.testing.assert_array_equal(out, x.repeat(scale, axis=2).repeat(scale, axis=3))


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_resize_scales_stay_float32(dtype: str) -> None:
    b = build("resize", {"mode": "bilinear", "channels": 2, "resolution": 4}, dtype)
    scales = b.weights[b.nodes("Resize")[0].input[2]]
    init = {t.name: t for t in b.model.graph.initializer}[b.nodes("Resize")[0].input[2]]
    assert init.data_type == onnx.TensorProto.FLOAT
    np.testing.assert_array_equal(scales, [1, 1, 2, 2])


@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_pad_matches_numpy(mode: str) -> None:
    b = build("pad", {"mode": mode, "pad": 2, "channels": 2, "resolution": 4})
    x = b.inputs()["input_0"]
    (out,) = b.run()
    np.testing.assert_array_equal(out, np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode=mode))


# -- parameter errors ------------------------------------------------------------------------
@pytest.mark.parametrize("op_name, params, field", [
    ("conv2d", {"cin": 0, "cout": 8}, "cin"),
    ("conv2d", {"cin": 6, "cout": 8, "groups": 4}, "groups"),
    ("conv2d", {"cin": 4, "cout": 8, "kernel": 9, "resolution": 4, "padding": "valid"}, "kernel"),
    ("conv2d", {"cin": 4, "cout": 8, "activation": "swishy"}, "activation"),
    ("conv2d", {"cin": 4, "cout": 8, "padding": "full"}, "padding"),
    ("dwconv2d", {"channels": 0}, "channels"),
    ("dwconv2d", {"kernel": 7, "resolution": 4, "padding": 0}, "kernel"),
    ("dwconv2d", {"activation": "nope"}, "activation"),
    ("fc", {"cin": 0, "cout": 4}, "cin"),
    ("fc", {"cin": 4, "cout": 4, "activation": "relu7"}, "activation"),
    ("fc", {"cout": 4}, "cin"),
    ("matmul", {"depth": 0}, "depth"),
    ("maxpool", {"kernel": 5, "resolution": 3}, "kernel"),
    ("avgpool", {"kernel": 2, "padding": 2}, "padding"),
    ("global_avgpool", {"channels": 0}, "channels"),
    ("add", {"resolution": 0}, "resolution"),
    ("concat", {"c2": 0}, "c2"),
    ("channel_shuffle", {"channels": 10, "groups": 4}, "groups"),
    ("layernorm", {"width": 0}, "width"),
    ("softmax", {"axis": "spatial"}, "axis"),
    ("resize", {"mode": "bicubic"}, "mode"),
    ("resize", {"scale": 0}, "scale"),
    ("pad", {"mode": "reflect", "pad": 4, "resolution": 4}, "pad"),
    ("pad", {"mode": "edge"}, "mode"),
    ("batchnorm", {"channel": 4}, "channel"),
])
def test_bad_params_raise_param_error_naming_the_field(op_name: str, params: dict, field: str) -> None:
    with pytest.raises(ParamError) as err:
        get_op(op_name).normalize(params)
    assert err.value.field == field
    assert f"field: {field}" in str(err.value)


# -- int8 and planning speed -------------------------------------------------------------------
@pytest.mark.parametrize("op_name, params", [
    ("conv2d", {"cin": 8, "cout": 16, "resolution": 8, "activation": "relu"}),
    ("dwconv2d", {"channels": 8, "resolution": 8}),
    ("fc", {"cin": 32, "cout": 16}),
    ("matmul", {"rows": 8, "depth": 16, "cols": 8}),
])
def test_int8_build_through_onnx_builder(tmp_path, op_name: str, params: dict) -> None:
    op = get_op(op_name)
    p = op.normalize(params)
    point = Point.make(op_name, p, "int8", op.cost(p, "int8"))
    artifact = OnnxBuilder(ArtifactCache(tmp_path)).build(point)
    assert artifact.ok, artifact.error
    assert artifact.metadata["quantize_linear_nodes"] > 0
    sess = ort.InferenceSession(artifact.path, providers=["CPUExecutionProvider"])
    feed = {i.name: np.zeros(i.shape, np.float32) for i in sess.get_inputs()}
    (out,) = sess.run(None, feed)
    assert out.size == op.cost_parts(p)[3]


def test_layer_cost_is_arithmetic_fast() -> None:
    """Cost without building anything: 20k conv points well inside the 100k-in-2-s plan budget."""
    op = get_op("conv2d")
    start = time.perf_counter()
    for i in range(20_000):
        p = op.normalize({"cin": 8 + i % 64, "cout": 16 + i % 128, "kernel": 1 + 2 * (i % 3)})
        op.cost(p, "fp32")
    assert time.perf_counter() - start < 1.0
