"""Activations, standalone (op ``activation``) and fused after conv2d / dwconv2d / fc."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx_harness import activation_ref, assert_close, build, conv2d_ref

from suite.ops.catalogue import ACTIVATION_FLOPS, ACTIVATIONS, ParamError, get_op


def _slope(b) -> np.ndarray | None:
    prelu = b.nodes("PRelu")
    return b.weights[prelu[0].input[1]] if prelu else None


@pytest.mark.parametrize("kind", ACTIVATIONS)
def test_activation_matches_numpy(kind: str) -> None:
    b = build("activation", {"activation": kind, "channels": 3, "resolution": 5, "batch": 2})
    onnx.checker.check_model(b.model, full_check=True)
    x = b.inputs()["input_0"] * 4  # reach the clipping regions of relu6 / hard_* too
    (out,) = b.run({"input_0": x})
    assert_close(out, activation_ref(x, kind, _slope(b)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ACTIVATIONS)
def test_activation_fp16_runs_close_to_fp32(kind: str) -> None:
    b = build("activation", {"activation": kind, "channels": 3, "resolution": 4}, "fp16")
    x = b.inputs()["input_0"]
    (out,) = b.run({"input_0": x})
    assert out.dtype == np.float16
    slope = _slope(b)
    assert_close(out, activation_ref(x.astype(np.float32), kind, slope), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("kind", ACTIVATIONS)
def test_activation_cost(kind: str) -> None:
    op = get_op("activation")
    p = op.normalize({"activation": kind, "channels": 4, "resolution": 3})
    c = op.cost(p, "fp32")
    assert c.macs == 0
    assert c.flops == ACTIVATION_FLOPS[kind] * 4 * 9
    b = build("activation", p)
    assert b.graph.param_count() == c.param_count == (4 if kind == "prelu" else 0)


@pytest.mark.parametrize("kind", ["relu6", "sigmoid", "gelu", "prelu", "leaky_relu"])
def test_fused_activation_on_conv2d(kind: str) -> None:
    b = build("conv2d", {"cin": 3, "cout": 4, "resolution": 5, "activation": kind})
    conv = b.nodes("Conv")[0]
    x = b.inputs()["input_0"]
    (out,) = b.run()
    ref = conv2d_ref(x, b.weights[conv.input[1]], b.weights[conv.input[2]], pad=1)
    assert_close(out, activation_ref(ref, kind, _slope(b)))


@pytest.mark.parametrize("op_name, params", [
    ("conv2d", {"cin": 3, "cout": 4}),
    ("dwconv2d", {"channels": 4}),
    ("fc", {"cin": 3, "cout": 4}),
])
@pytest.mark.parametrize("kind", ACTIVATIONS)
def test_every_fused_activation_builds_and_costs(op_name: str, params: dict, kind: str) -> None:
    b = build(op_name, {**params, "activation": kind, **({} if op_name == "fc" else {"resolution": 4})})
    (out,) = b.run()
    op = get_op(op_name)
    plain = op.cost(op.normalize({**params, **({} if op_name == "fc" else {"resolution": 4})}), "fp32")
    assert b.point.flops - plain.flops == ACTIVATION_FLOPS[kind] * out.size
    assert b.graph.param_count() == b.point.param_count


def test_unknown_activation_names_the_field() -> None:
    with pytest.raises(ParamError) as err:
        get_op("activation").normalize({"activation": "swishy"})
    assert err.value.field == "activation"
    assert "relu" in err.value.expected
