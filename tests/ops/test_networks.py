"""Whole networks: published costs, small builds that run, width rounding, errors."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx_harness import build, graph_macs

from suite.models.cache import ArtifactCache
from suite.models.onnx_builder import OnnxBuilder
from suite.ops.catalogue import OPS, ParamError, get_op, load_catalogue
from suite.sweep.point import Point

#: Published MACs and parameters at width 1.0, 224×224, 1000 classes (papers / torchvision).
PUBLISHED: dict[str, tuple[float, float]] = {
    "mobilenet_v1": (569e6, 4.2e6),
    "mobilenet_v2": (300e6, 3.5e6),
    "mobilenet_v3_large": (217e6, 5.4e6),
    "mobilenet_v3_small": (56e6, 2.5e6),
    "resnet18": (1.8e9, 11.7e6),
}
NETWORKS = sorted(PUBLISHED)
#: Small builds for the graph tests: narrow, 32×32, 10 classes.
SMALL = {"width": 0.25, "resolution": 32, "num_classes": 10}


def test_every_network_is_covered() -> None:
    load_catalogue()
    assert {name for name, op in OPS.items() if op.kind == "model"} == set(NETWORKS)


@pytest.mark.parametrize("name", NETWORKS)
def test_cost_matches_published_numbers(name: str) -> None:
    op = get_op(name)
    c = op.cost(op.normalize({}), "fp32")
    macs, params = PUBLISHED[name]
    assert abs(c.macs - macs) <= 0.15 * macs, c.macs
    assert abs(c.param_count - params) <= 0.15 * params, c.param_count
    assert c.bytes_in == 3 * 224 * 224 * 4 and c.bytes_out == 1000 * 4


@pytest.mark.parametrize("name", NETWORKS)
def test_cost_scales_with_resolution_and_batch(name: str) -> None:
    op = get_op(name)
    base = op.cost(op.normalize({"resolution": 224}), "fp32")
    double = op.cost(op.normalize({"resolution": 224, "batch": 2}), "fp32")
    small = op.cost(op.normalize({"resolution": 112}), "fp32")
    assert double.macs == 2 * base.macs and double.param_count == base.param_count
    # convs dominate: ~1/4 (V3-small's 1.6M-MAC FC head does not shrink)
    assert 0.2 * base.macs < small.macs < 0.35 * base.macs


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
@pytest.mark.parametrize("name", NETWORKS)
def test_network_builds_checks_and_runs(name: str, dtype: str) -> None:
    b = build(name, SMALL, dtype)
    onnx.checker.check_model(b.model)
    (out,) = b.run()
    assert out.shape == (1, 10)
    assert np.isfinite(out.astype(np.float32)).all()


@pytest.mark.parametrize("name", NETWORKS)
def test_network_cost_matches_its_graph(name: str) -> None:
    b = build(name, SMALL)
    assert graph_macs(b.model) == b.point.macs
    assert b.graph.param_count() == b.point.param_count


@pytest.mark.parametrize("name", NETWORKS)
def test_width_channels_are_multiples_of_8(name: str) -> None:
    b = build(name, {**SMALL, "width": 0.35})
    w = b.weights
    for conv in b.nodes("Conv"):
        assert w[conv.input[1]].shape[0] % 8 == 0, conv.name


def test_mobilenet_v2_width_keeps_1280_head_below_one() -> None:
    b = build("mobilenet_v2", SMALL)
    gemm = b.nodes("Gemm")[-1]
    assert b.weights[gemm.input[1]].shape == (10, 1280)


def test_int8_network_build(tmp_path) -> None:
    op = get_op("mobilenet_v3_small")
    p = op.normalize(SMALL)
    artifact = OnnxBuilder(ArtifactCache(tmp_path)).build(Point.make(op.name, p, "int8", op.cost(p, "int8")))
    assert artifact.ok, artifact.error


@pytest.mark.parametrize("params, field", [
    ({"width": 0.0}, "width"),
    ({"width": -1.0}, "width"),
    ({"resolution": 16}, "resolution"),
    ({"num_classes": 0}, "num_classes"),
    ({"depth": 2}, "depth"),
])
@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet18"])
def test_bad_network_params_name_the_field(name: str, params: dict, field: str) -> None:
    with pytest.raises(ParamError) as err:
        get_op(name).normalize(params)
    assert err.value.field == field
