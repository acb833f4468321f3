"""Blocks: build and run, cost equal to the graph's own count, structure, numerics, errors."""

from __future__ import annotations

import math
import time

import numpy as np
import onnx
import pytest
from onnx_harness import (
    activation_ref,
    assert_close,
    build,
    conv2d_ref,
    graph_macs,
    layernorm_ref,
    softmax_ref,
)

from suite.models.cache import ArtifactCache
from suite.models.onnx_builder import OnnxBuilder
from suite.ops.blocks import make_divisible
from suite.ops.catalogue import OPS, ParamError, get_op, load_catalogue
from suite.sweep.point import Point

#: Small cases of every block op; several per op to cover strides, shortcuts and options.
BLOCK_CASES: list[tuple[str, dict]] = [
    ("mbv1_block", {"cin": 8, "cout": 16, "resolution": 8}),
    ("mbv1_block", {"cin": 8, "cout": 16, "resolution": 9, "stride": 2}),
    ("mbv2_block", {"cin": 8, "cout": 8, "resolution": 8}),
    ("mbv2_block", {"cin": 8, "cout": 16, "resolution": 8, "stride": 2, "kernel": 5}),
    ("mbv2_block", {"cin": 16, "cout": 8, "resolution": 6, "expand": 1}),
    ("mbv3_block", {"cin": 16, "cout": 16, "resolution": 8}),
    ("mbv3_block", {"cin": 16, "cout": 24, "resolution": 8, "se": False, "activation": "relu", "stride": 2,
                    "kernel": 3, "expand": 4.5}),
    ("se_block", {"channels": 16, "resolution": 6}),
    ("se_block", {"channels": 12, "ratio": 3, "gate": "sigmoid", "resolution": 5}),
    ("resnet_basic", {"cin": 8, "cout": 8, "resolution": 8}),
    ("resnet_basic", {"cin": 8, "cout": 16, "resolution": 8, "stride": 2}),
    ("resnet_bottleneck", {"cin": 16, "cout": 16, "resolution": 6}),
    ("resnet_bottleneck", {"cin": 16, "cout": 32, "resolution": 7, "stride": 2}),
    ("shufflenetv2_unit", {"cin": 16, "cout": 16, "resolution": 6}),
    ("shufflenetv2_unit", {"cin": 16, "cout": 32, "resolution": 6, "stride": 2}),
    ("transformer_block", {"seq_len": 6, "width": 16, "heads": 2}),
    ("transformer_block", {"seq_len": 5, "width": 24, "heads": 3, "mlp_ratio": 2.0, "batch": 2}),
]
IDS = [f"{op}-{i}" for i, (op, _) in enumerate(BLOCK_CASES)]


def test_every_block_op_has_a_case() -> None:
    load_catalogue()
    assert {name for name, op in OPS.items() if op.kind == "block"} == {op for op, _ in BLOCK_CASES}


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
@pytest.mark.parametrize("op_name, params", BLOCK_CASES, ids=IDS)
def test_block_builds_checks_and_runs(op_name: str, params: dict, dtype: str) -> None:
    b = build(op_name, params, dtype)
    onnx.checker.check_model(b.model, full_check=True)
    (out,) = b.run()
    assert np.isfinite(out.astype(np.float32)).all()
    assert out.size == b.op.cost_parts(b.params)[3]
    assert b.point.bytes_out == out.nbytes


@pytest.mark.parametrize("op_name, params", BLOCK_CASES, ids=IDS)
def test_block_cost_matches_its_graph(op_name: str, params: dict) -> None:
    """The traced cost equals MACs counted from the ONNX graph and its weight elements."""
    b = build(op_name, params)
    assert graph_macs(b.model) == b.point.macs
    assert b.graph.param_count() == b.point.param_count
    assert [t.name for t in b.model.graph.initializer] == [t.name for t in b.graph.initializers]
    assert b.point.flops > 2 * b.point.macs


def test_mbv1_block_cost_by_hand() -> None:
    op = get_op("mbv1_block")
    c = op.cost(op.normalize({"cin": 8, "cout": 16, "resolution": 8}), "fp32")
    assert c.macs == 8 * 64 * 9 + 16 * 64 * 8
    assert c.flops == 2 * c.macs + 2 * 8 * 64 + 2 * 16 * 64  # bias + relu after each conv
    assert c.param_count == (8 * 9 + 8) + (16 * 8 + 16)


# -- structure ---------------------------------------------------------------------------------
def _count(b, op_type: str) -> int:
    return len(b.nodes(op_type))


@pytest.mark.parametrize("params, residual, convs", [
    ({"cin": 8, "cout": 8}, True, 3),
    ({"cin": 8, "cout": 8, "stride": 2}, False, 3),
    ({"cin": 8, "cout": 16}, False, 3),
    ({"cin": 8, "cout": 8, "expand": 1}, True, 2),
])
def test_mbv2_residual_and_expansion(params: dict, residual: bool, convs: int) -> None:
    b = build("mbv2_block", {**params, "resolution": 6})
    assert _count(b, "Add") == int(residual)
    assert _count(b, "Conv") == convs
    assert _count(b, "Clip") == convs - 1  # relu6 after expand and dw, projection is linear


def test_mbv3_se_and_activation() -> None:
    on = build("mbv3_block", {"cin": 16, "cout": 16, "resolution": 6})
    assert _count(on, "GlobalAveragePool") == 1 and _count(on, "HardSigmoid") == 1
    assert _count(on, "HardSwish") == 2 and _count(on, "Add") == 1
    squeeze = on.weights[on.nodes("Conv")[2].input[1]].shape[0]
    assert squeeze == make_divisible(48 // 4, 8)
    off = build("mbv3_block", {"cin": 16, "cout": 16, "resolution": 6, "se": False, "activation": "relu"})
    assert _count(off, "GlobalAveragePool") == 0 and _count(off, "HardSwish") == 0
    assert _count(off, "Relu") == 2


@pytest.mark.parametrize("op_name", ["resnet_basic", "resnet_bottleneck"])
@pytest.mark.parametrize("cin, cout, stride, projection", [
    (16, 16, 1, False), (16, 16, 2, True), (16, 32, 1, True),
])
def test_resnet_projection_shortcut(op_name, cin, cout, stride, projection) -> None:
    b = build(op_name, {"cin": cin, "cout": cout, "stride": stride, "resolution": 6})
    main_convs = 2 if op_name == "resnet_basic" else 3
    assert _count(b, "Conv") == main_convs + int(projection)


def test_shufflenet_unit_shapes() -> None:
    s1 = build("shufflenetv2_unit", {"cin": 8, "cout": 8, "resolution": 6})
    assert _count(s1, "Split") == 1 and _count(s1, "Conv") == 3
    s2 = build("shufflenetv2_unit", {"cin": 8, "cout": 16, "resolution": 6, "stride": 2})
    assert _count(s2, "Split") == 0 and _count(s2, "Conv") == 5
    (out,) = s2.run()
    assert out.shape == (1, 16, 3, 3)


# -- numerics ----------------------------------------------------------------------------------
def _convs(b):
    return [(b.weights[n.input[1]], b.weights[n.input[2]]) for n in b.nodes("Conv")]


def test_mbv1_block_matches_numpy() -> None:
    b = build("mbv1_block", {"cin": 4, "cout": 6, "resolution": 7, "stride": 2})
    (dw_w, dw_b), (pw_w, pw_b) = _convs(b)
    x = b.inputs()["input_0"]
    h = np.maximum(conv2d_ref(x, dw_w, dw_b, stride=2, pad=1, groups=4), 0)
    (out,) = b.run()
    assert_close(out, np.maximum(conv2d_ref(h, pw_w, pw_b), 0))


def test_se_block_matches_numpy() -> None:
    b = build("se_block", {"channels": 8, "ratio": 4, "resolution": 4, "batch": 2})
    (w1, b1), (w2, b2) = _convs(b)
    assert w1.shape == (2, 8, 1, 1)
    x = b.inputs()["input_0"].astype(np.float64)
    s = x.mean(axis=(2, 3), keepdims=True)
    s = np.maximum(conv2d_ref(s, w1, b1), 0)
    s = activation_ref(conv2d_ref(s, w2, b2), "hard_sigmoid")
    (out,) = b.run()
    assert_close(out, x * s)


def test_resnet_basic_with_projection_matches_numpy() -> None:
    b = build("resnet_basic", {"cin": 4, "cout": 8, "resolution": 6, "stride": 2})
    (w1, b1), (w2, b2), (ws, bs) = _convs(b)
    x = b.inputs()["input_0"]
    y = conv2d_ref(np.maximum(conv2d_ref(x, w1, b1, stride=2, pad=1), 0), w2, b2, pad=1)
    (out,) = b.run()
    assert_close(out, np.maximum(y + conv2d_ref(x, ws, bs, stride=2), 0))


def test_transformer_block_matches_numpy() -> None:
    b = build("transformer_block", {"seq_len": 5, "width": 8, "heads": 2, "mlp_ratio": 2.0, "batch": 2})
    w = b.weights
    lns = [(w[n.input[1]], w[n.input[2]]) for n in b.nodes("LayerNormalization")]
    adds = {n.input[0]: n for n in b.nodes("Add")}
    linears = []
    for n in b.nodes("MatMul"):
        if n.input[1] in w:  # a weight matmul: a linear layer, its bias Add follows
            linears.append((w[n.input[1]], w[adds[n.output[0]].input[1]]))
    (q_w, q_b), (k_w, k_b), (v_w, v_b), (o_w, o_b), (m1_w, m1_b), (m2_w, m2_b) = linears
    x = b.inputs()["input_0"].astype(np.float64)

    def heads(t):  # (b, seq, width) -> (b, heads, seq, d)
        return t.reshape(2, 5, 2, 4).transpose(0, 2, 1, 3)

    h = layernorm_ref(x, *lns[0])
    q, k, v = heads(h @ q_w + q_b), heads(h @ k_w + k_b), heads(h @ v_w + v_b)
    attn = softmax_ref(q @ k.transpose(0, 1, 3, 2) / math.sqrt(4), -1)
    o = (attn @ v).transpose(0, 2, 1, 3).reshape(2, 5, 8)
    x = x + o @ o_w + o_b
    y = activation_ref(layernorm_ref(x, *lns[1]) @ m1_w + m1_b, "gelu") @ m2_w + m2_b
    (out,) = b.run()
    assert_close(out, x + y)


# -- errors, int8, speed -------------------------------------------------------------------------
@pytest.mark.parametrize("op_name, params, field", [
    ("mbv1_block", {"cin": 0}, "cin"),
    ("mbv1_block", {"stride": 3}, "stride"),
    ("mbv2_block", {"kernel": 4}, "kernel"),
    ("mbv2_block", {"expand": 0.5}, "expand"),
    ("mbv3_block", {"activation": "gelu"}, "activation"),
    ("se_block", {"channels": 4, "ratio": 8}, "ratio"),
    ("se_block", {"gate": "tanh"}, "gate"),
    ("resnet_bottleneck", {"cout": 30}, "cout"),
    ("shufflenetv2_unit", {"cin": 16, "cout": 32}, "cout"),
    ("shufflenetv2_unit", {"cin": 16, "cout": 15, "stride": 2}, "cout"),
    ("transformer_block", {"width": 16, "heads": 3}, "heads"),
    ("transformer_block", {"width": 4, "heads": 1, "mlp_ratio": 0.05}, "mlp_ratio"),
])
def test_bad_block_params_name_the_field(op_name: str, params: dict, field: str) -> None:
    with pytest.raises(ParamError) as err:
        get_op(op_name).normalize(params)
    assert err.value.field == field


@pytest.mark.parametrize("op_name, params", [
    ("mbv2_block", {"cin": 8, "cout": 8, "resolution": 8}),
    ("resnet_basic", {"cin": 8, "cout": 16, "stride": 2, "resolution": 8}),
    ("mbv3_block", {"cin": 16, "cout": 16, "resolution": 6}),
])
def test_block_int8_build(tmp_path, op_name: str, params: dict) -> None:
    op = get_op(op_name)
    p = op.normalize(params)
    artifact = OnnxBuilder(ArtifactCache(tmp_path)).build(Point.make(op_name, p, "int8", op.cost(p, "int8")))
    assert artifact.ok, artifact.error
    assert artifact.metadata["quantize_linear_nodes"] > 0


def test_block_cost_needs_no_graph() -> None:
    """Blocks trace shapes only: 5k distinct points of the biggest block stay well under a second."""
    op = get_op("transformer_block")
    start = time.perf_counter()
    for i in range(5_000):
        op.cost(op.normalize({"seq_len": 16 + i, "width": 64, "heads": 4}), "fp32")
    assert time.perf_counter() - start < 1.0
