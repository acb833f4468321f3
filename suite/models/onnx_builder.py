"""ONNX builder: the canonical IR. fp32 and fp16 graphs built directly, int8 by ORT QDQ.

* fp32: the catalogue entry's graph with seeded weights.
* fp16: the same graph built with float16 tensors. ONNX Runtime's CPU provider runs
  many fp16 ops by casting back to fp32 (Cast → fp32 kernel → Cast); the artifact
  metadata says so, because an fp16 "speedup" on a CPU may be no fp16 compute at all.
* int8: the fp32 model quantized with ``onnxruntime.quantization.quantize_static``
  (QDQ format, per-channel weights, int8 activations and weights) calibrated on
  seeded random inputs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx

from suite.models import model_source
from suite.models.builder import CachedBuilder, Made
from suite.models.cache import cache_key
from suite.models.calibration import CALIBRATION_SAMPLES, CalibrationReader
from suite.models.graph import OPSET, GraphBuilder
from suite.ops.catalogue import get_op
from suite.sweep.point import Point

#: Bump when generated graphs change for the same point (invalidates cached files).
BUILDER_VERSION = 1

FP16_NOTE = ("fp16 graph; ONNX Runtime's CPU provider may insert Casts and compute in fp32, "
             "so CPU fp16 timings are not fp16 arithmetic")


def build_onnx_model(point: Point, float_dtype: str | None = None) -> onnx.ModelProto:
    """The ONNX graph of ``point`` in fp32 or fp16 (int8 points get their fp32 graph).

    A ``model`` point's graph is the user's file (:mod:`suite.models.model_source`).
    """
    if model_source.is_model(point):
        return model_source.load_onnx(point, float_dtype)
    dtype = float_dtype or ("fp16" if point.dtype == "fp16" else "fp32")
    op = get_op(point.op)
    g = GraphBuilder(f"{point.op}_{point.id}", point.seed, np.float16 if dtype == "fp16" else np.float32)
    inputs = [g.input(f"input_{i}", shape) for i, shape in enumerate(op.input_shapes(point.params))]
    outputs = op.build(g, inputs, point.params)
    model = g.model(outputs)
    onnx.checker.check_model(model)
    return model


def quantize_int8(fp32_path: Path, out_path: Path, seed: int, model: onnx.ModelProto) -> dict[str, object]:
    """Static QDQ int8 quantization; returns metadata on what was quantized."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationReader, CalibrationDataReader):
        pass

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # ORT logs a pre-processing hint on every call
    try:
        quantize_static(str(fp32_path), str(out_path), Reader(model, seed), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    q = onnx.load(str(out_path))
    ops = [n.op_type for n in q.graph.node]
    float_ops = sorted({n.op_type for n in model.graph.node} - {"Conv", "Gemm", "MatMul"})
    return {"quantize": "onnxruntime quantize_static QDQ per-channel s8s8",
            "quantize_linear_nodes": ops.count("QuantizeLinear"),
            "dequantize_linear_nodes": ops.count("DequantizeLinear"),
            "calibration_samples": CALIBRATION_SAMPLES,
            "ops_in_graph": float_ops}


class OnnxBuilder(CachedBuilder):
    """Builds ``.onnx`` artifacts for points, through the content cache."""

    format = "onnx"
    component = "onnx-builder"
    filename = "model.onnx"

    def refuse(self, point: Point) -> str | None:
        """A model file this builder cannot make ONNX of at the point's dtype (catalogue points: none)."""
        return model_source.refusal(point, self.format) if model_source.is_model(point) else None

    def key(self, point: Point, work: Path | None = None) -> str:
        """Cache key: point, dtype, builder version, ONNX version and opset (and ORT's for int8)."""
        import onnxruntime

        parts = {"point": point.id, "format": self.format, "dtype": point.dtype, "builder": BUILDER_VERSION,
                 "onnx": onnx.__version__, "opset": OPSET}
        if model_source.is_model(point):
            parts["model_source"] = model_source.MODEL_SOURCE_VERSION
        if point.dtype == "int8":
            parts["onnxruntime"] = onnxruntime.__version__
        return cache_key(parts)

    def make(self, point: Point, work: Path) -> Made:
        """The fp32/fp16 graph of ``point``, quantized to QDQ int8 for int8 points."""
        model = build_onnx_model(point)
        path = work / "model.onnx"
        onnx.save(model, str(path))
        metadata: dict[str, object] = {"opset": OPSET, "nodes": len(model.graph.node)}
        native = None
        if model_source.is_model(point):
            metadata.update(model_source.build_metadata(point))
            metadata["opset"] = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None)
            native = model_source.facts(point).native_dtype
        if point.dtype == "fp16":
            metadata["note"] = FP16_NOTE
        if point.dtype == "int8" and native != "int8":
            qpath = work / "model.int8.onnx"
            metadata.update(quantize_int8(path, qpath, point.seed, model))
            path = qpath
        return Made(path=path, metadata=metadata)
