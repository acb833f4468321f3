"""TFLite builder: real conversion of every layer type, cross-checked against ONNX Runtime.

Tolerance of the fp32 cross-check: ``max|tflite - onnx| <= 1e-4 * max|onnx| + 1e-5`` on the
same seeded input (the ONNX input transposed to the TFLite layout); observed errors are
below 3e-6 relative. Conversions run in the builder's process pool, one module-scoped
build of all points, so TensorFlow starts once per worker.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from suite import status as st
from suite.models.cache import ArtifactCache
from suite.models.onnx_builder import build_onnx_model
from suite.ops.catalogue import get_op
from suite.sweep.point import Point
from suite.testing.requirements import require_modules

ROOT = Path(__file__).resolve().parents[3]


def require_tflite_extra() -> None:
    """TensorFlow and LiteRT: skipped where missing locally, a failure in CI."""
    require_modules("tensorflow", "ai_edge_litert", fix="pip install 'hwbehave[tflite]'")


require_tflite_extra()

from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from suite.backends.litert.builder import TfliteBuilder, fusion_report, tflite_variant  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5


def point(op: str, dtype: str = "fp32", **params: object) -> Point:
    spec = get_op(op)
    p = spec.normalize(params)
    return Point.make(op, p, dtype, spec.cost(p, dtype))


#: One point per layer type and variant that changes the translation (small shapes: fast).
IMG = {"resolution": 14}
LAYER_POINTS = {
    "conv2d": point("conv2d", cin=8, cout=16, **IMG),
    "conv2d-s2": point("conv2d", cin=8, cout=16, stride=2, **IMG),
    "conv2d-groups": point("conv2d", cin=8, cout=16, groups=4, **IMG),
    "conv2d-dilated-s2": point("conv2d", cin=8, cout=8, kernel=3, dilation=2, stride=2, **IMG),
    "conv2d-valid-nobias": point("conv2d", cin=8, cout=8, kernel=5, padding="valid", bias=False, **IMG),
    "dwconv2d": point("dwconv2d", channels=16, **IMG),
    "dwconv2d-s2": point("dwconv2d", channels=16, stride=2, **IMG),
    "fc": point("fc", cin=32, cout=16),
    "fc-prelu": point("fc", cin=32, cout=16, activation="prelu"),
    "matmul": point("matmul", rows=16, depth=32, cols=8),
    "maxpool": point("maxpool", channels=8, **IMG),
    "maxpool-pad": point("maxpool", kernel=3, stride=2, padding=1, channels=8, **IMG),
    "avgpool": point("avgpool", channels=8, **IMG),
    "avgpool-pad": point("avgpool", kernel=3, stride=2, padding=1, channels=8, **IMG),
    "global_avgpool": point("global_avgpool", channels=16, resolution=7),
    "add": point("add", channels=8, **IMG),
    "mul": point("mul", channels=8, **IMG),
    "concat": point("concat", c1=8, c2=16, **IMG),
    "channel_shuffle": point("channel_shuffle", channels=16, **IMG),
    "batchnorm": point("batchnorm", channels=8, **IMG),
    "layernorm": point("layernorm", seq_len=16, width=32),
    "softmax-channels": point("softmax", channels=8, axis="channels", **IMG),
    "softmax-last": point("softmax", channels=8, axis="last", **IMG),
    "resize-nearest": point("resize", channels=8, mode="nearest", resolution=7),
    "resize-bilinear": point("resize", channels=8, mode="bilinear", resolution=7),
    "pad-constant": point("pad", channels=8, **IMG),
    "pad-reflect": point("pad", channels=8, mode="reflect", **IMG),
    "mbv1_block": point("mbv1_block", cin=8, cout=16, stride=2, **IMG),
    "mbv2_block": point("mbv2_block", cin=16, cout=16, **IMG),
    "mbv3_block": point("mbv3_block", cin=16, cout=16, **IMG),
    "se_block": point("se_block", channels=16, **IMG),
    "resnet_basic": point("resnet_basic", cin=8, cout=16, stride=2, **IMG),
    "resnet_bottleneck": point("resnet_bottleneck", cin=16, cout=16, **IMG),
    "shufflenetv2_unit": point("shufflenetv2_unit", cin=16, cout=16, **IMG),
    "transformer_block": point("transformer_block", seq_len=16, width=32, heads=2),
    "mobilenet_v3_small": point("mobilenet_v3_small", resolution=64, width=0.5, num_classes=10),
}
for _act in ("none", "relu", "relu6", "leaky_relu", "prelu", "sigmoid", "tanh", "hard_sigmoid", "hard_swish",
             "swish", "silu", "gelu", "mish"):
    LAYER_POINTS[f"activation-{_act}"] = point("activation", activation=_act, channels=8, **IMG)
    LAYER_POINTS[f"conv2d+{_act}"] = point("conv2d", cin=8, cout=8, activation=_act, **IMG)

QUANT_KEYS = ("conv2d+relu", "conv2d+hard_swish", "mbv2_block", "transformer_block", "softmax-channels",
              "resize-bilinear", "fc")
QUANT_POINTS = {f"{k}/{d}": point(LAYER_POINTS[k].op, d, **LAYER_POINTS[k].params)
                for k in QUANT_KEYS for d in ("fp16", "int8")}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> ArtifactCache:
    return ArtifactCache(tmp_path_factory.mktemp("tflite-cache"))


@pytest.fixture(scope="module")
def built(cache: ArtifactCache) -> dict[str, object]:
    """Every test point converted once, through one builder (one pool)."""
    points = {**LAYER_POINTS, **QUANT_POINTS}
    with TfliteBuilder(cache=cache, workers=2) as builder:
        arts = builder.build_many(list(points.values()))
    return dict(zip(points, arts, strict=True))


def run_tflite(path: str, feeds_nchw: list[np.ndarray], layout: dict) -> list[np.ndarray]:
    """Run a .tflite on ONNX-layout inputs; return outputs in ONNX layout (dequantized)."""
    it = Interpreter(model_path=path, num_threads=1)
    it.allocate_tensors()
    details = {int(re.search(r"input_(\d+)", d["name"]).group(1)): d for d in it.get_input_details()}
    for k, (arr, info) in enumerate(zip(feeds_nchw, layout["inputs"], strict=True)):
        d = details[k]
        x = np.transpose(arr, info["perm"])
        scale, zero = d["quantization"]
        if d["dtype"] == np.int8:
            x = np.clip(np.round(x / scale) + zero, -128, 127)
        it.set_tensor(d["index"], x.astype(d["dtype"]))
    it.invoke()
    outs = []
    for d, info in zip(it.get_output_details(), layout["outputs"], strict=True):
        y = it.get_tensor(d["index"])
        scale, zero = d["quantization"]
        if d["dtype"] == np.int8:
            y = (y.astype(np.float32) - zero) * scale
        outs.append(np.transpose(y, np.argsort(info["perm"])))
    return outs


def run_onnx(p: Point) -> tuple[list[np.ndarray], list[np.ndarray]]:
    model = build_onnx_model(p)
    rng = np.random.default_rng(0)
    feeds = {i.name: rng.standard_normal([d.dim_value for d in i.type.tensor_type.shape.dim]).astype(np.float32)
             for i in model.graph.input}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return list(feeds.values()), sess.run(None, feeds)


@pytest.mark.parametrize("name", sorted(LAYER_POINTS))
def test_fp32_matches_onnxruntime(built: dict, name: str) -> None:
    art = built[name]
    assert art.status == st.OK, art.error
    feeds, ref = run_onnx(LAYER_POINTS[name])
    outs = run_tflite(art.path, feeds, art.metadata["io_layout"])
    for got, want in zip(outs, ref, strict=True):
        assert got.shape == want.shape
        err = float(np.max(np.abs(got - want))) if want.size else 0.0
        assert err <= RTOL * float(np.max(np.abs(want))) + ATOL, f"{name}: max abs error {err}"


@pytest.mark.parametrize("name", sorted(QUANT_POINTS))
def test_fp16_and_full_int8_run_and_track_fp32(built: dict, name: str) -> None:
    art = built[name]
    assert art.status == st.OK, art.error
    base = name.split("/")[0]
    feeds, ref = run_onnx(LAYER_POINTS[base])
    outs = run_tflite(art.path, feeds, art.metadata["io_layout"])
    got, want = outs[0].ravel(), ref[0].ravel()
    if art.dtype == "fp16":
        assert art.metadata["variant"] == "fp16"
        assert np.max(np.abs(got - want)) <= 2e-2 * np.max(np.abs(want)) + 1e-3
    else:
        assert art.metadata["variant"] == "int8_full"
        io = art.metadata["inputs"] + art.metadata["outputs"]
        assert all(t["dtype"] == "int8" and "scale" in t for t in io)
        # int8 is an approximation: it must track fp32 closely, not equal it
        assert np.corrcoef(got, want)[0, 1] > 0.97, name


def test_fusion_metadata_records_conv_relu_as_one_op(built: dict) -> None:
    meta = built["conv2d+relu"].metadata
    assert meta["onnx_ops"] == {"Conv": 1, "Relu": 1}
    assert meta["tflite_ops"] == {"CONV_2D": 1}
    assert meta["fusion"]["fused_activations"] == {"CONV_2D+RELU": 1}
    assert meta["fusion"]["absorbed"] == {"Relu": 1}
    gelu = built["conv2d+gelu"].metadata
    assert gelu["fusion"]["translator"] == {"GELU": 1} and "GELU" in gelu["tflite_ops"]
    mbv2 = built["mbv2_block"].metadata["fusion"]
    assert mbv2["fused_activations"].get("CONV_2D+RELU6") and mbv2["absorbed"]["Clip"] >= 2
    assert built["conv2d-s2"].metadata["fusion"]["inserted"] == {"PAD": 1}  # ONNX symmetric pad ≠ TF SAME


def test_shuffle_keeps_nhwc_with_one_transpose(built: dict) -> None:
    meta = built["channel_shuffle"].metadata
    assert meta["tflite_ops"] == {"RESHAPE": 2, "TRANSPOSE": 1}
    assert meta["io_layout"]["inputs"][0]["perm"] == [0, 2, 3, 1]


def test_cache_hit_and_key_has_tensorflow_version(built: dict, cache: ArtifactCache, monkeypatch) -> None:
    import suite.backends.litert.builder as tb

    builder = TfliteBuilder(cache=cache, workers=1)
    p = LAYER_POINTS["conv2d"]
    art = builder.build(p)  # no pool needed: a hit
    assert art.metadata["cache"] == "hit" and art.sha256 == built["conv2d"].sha256
    assert builder._pool is None
    key = builder.key(p)
    monkeypatch.setattr(tb, "tensorflow_version", lambda: "0.0-other")
    assert builder.key(p) != key
    builder.close()


def test_missing_tensorflow_is_a_build_error_saying_what_to_install(tmp_path: Path, monkeypatch) -> None:
    import suite.backends.litert.builder as tb

    monkeypatch.setattr(tb, "tensorflow_version", lambda: None)
    art = TfliteBuilder(cache=ArtifactCache(tmp_path), workers=1).build(point("conv2d", cin=4, cout=4))
    assert art.status == st.BUILD_ERROR
    assert art.error.startswith("tflite-builder:") and "hwbehave[tflite]" in art.error


def test_untranslatable_op_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A point whose graph has an op without translation fails as data, naming the op."""
    from suite.backends.litert.builder import convert_job
    from suite.ops.catalogue import OPS, OpSpec, load_catalogue, register_op

    class CosOp(OpSpec):
        name = "test_cos_only"
        params = ()

        def input_shapes(self, p):
            return [(1, 4, 4, 4)]

        def cost_parts(self, p):
            return 0, 64, 0, 64

        def build(self, g, inputs, p):
            return [g.node("Cos", inputs[:1])]

    load_catalogue()
    monkeypatch.setattr(OPS, "_items", dict(OPS._items))  # the planted op leaves with this test
    register_op(CosOp)
    res = convert_job(point("test_cos_only"), "fp32", "/nonexistent/x.tflite")
    assert res["error"].startswith("tflite-builder: cannot translate to TensorFlow: ONNX op Cos")


def test_variant_mapping_and_dynamic_range_option(tmp_path: Path) -> None:
    from suite.devices.config import load_device
    from suite.errors import ConfigError

    assert [tflite_variant(d) for d in ("fp32", "fp16", "int8")] == ["fp32", "fp16", "int8_full"]
    assert tflite_variant("int8", "dynamic") == "int8_dynamic"
    with pytest.raises(ConfigError, match="int8"):
        tflite_variant("int8", "half")
    text = (ROOT / "devices/local-litert.yaml").read_text().replace("int8: full", "int8: dynamic")
    device = load_device(tmp_path / "d.yaml", text=text)
    builder = TfliteBuilder(cache=ArtifactCache(tmp_path / "c"), device=device, workers=1)
    p = point("conv2d", "int8", cin=8, cout=8, **IMG)
    assert builder.variant(p) == "int8_dynamic" and builder.variant(LAYER_POINTS["conv2d"]) == "fp32"
    # the conversion itself in this process (a second pool would cost a TensorFlow start-up)
    from suite.backends.litert.builder import convert_point

    meta = convert_point(p, builder.variant(p), str(tmp_path / "m.tflite"))
    assert meta["variant"] == "int8_dynamic" and meta["inputs"][0]["dtype"] == "float32"  # float I/O
    feeds, ref = run_onnx(point("conv2d", cin=8, cout=8, **IMG))
    out = run_tflite(str(tmp_path / "m.tflite"), feeds, meta["io_layout"])[0]
    assert np.corrcoef(out.ravel(), ref[0].ravel())[0, 1] > 0.99


def test_fusion_report_counts() -> None:
    import collections

    rep = fusion_report(collections.Counter({"Conv": 2, "Relu": 2, "Pad": 0}),
                        [("PAD", "NONE"), ("CONV_2D", "RELU"), ("CONV_2D", "NONE"), ("RELU", "NONE")])
    assert rep["absorbed"] == {"Relu": 1}
    assert rep["inserted"] == {"PAD": 1}
    assert rep["fused_activations"] == {"CONV_2D+RELU": 1}


def test_run_sweep_on_local_litert_measures_all_dtypes(tmp_path: Path, cache: ArtifactCache, built: dict) -> None:
    """The sweep's six points are among ``built`` (same params), so the run hits the cache."""
    import pandas as pd

    from suite.devices.config import load_device
    from suite.pipeline import run_sweep
    from suite.sweep.expand import load_sweep

    sweep = load_sweep(tmp_path / "s.yaml", text="""
name: tflite-e2e
fixed: {cin: 8, cout: 8, resolution: 14}
measure: {warmup_runs: 1, warmup_s: 0.01, min_runs: 3, min_s: 0.01, max_s: 0.2}
parts:
  - name: conv
    op: conv2d
    axes: {activation: [relu, hard_swish]}
    dtypes: [fp32, fp16, int8]
""")
    device = load_device(ROOT / "devices/local-litert.yaml")
    outcome = run_sweep(sweep, device, tmp_path / "run", cache=cache)
    assert outcome.complete and outcome.counts == {"ok": 6}, outcome
    df = pd.read_parquet(outcome.out_dir / "measurements.parquet")
    assert set(df["dtype"]) == {"fp32", "fp16", "int8"}
    assert (df["format"] == "tflite").all() and (df["median_ms"] > 0).all()
    assert set(df["provider"]) == {"xnnpack"}
