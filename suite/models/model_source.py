"""Building points of the ``model`` op: the user's file, and the dtype variants its format allows.

A model point (``suite/ops/model.py``) names a file; each builder asks :func:`refusal` whether
it can make its format at the point's dtype from that file, and :func:`load_onnx` for the ONNX
graph when it starts from ONNX. What is derived, and how:

==============  ===========================================================================
source file     variants
==============  ===========================================================================
fp32 ``.onnx``  fp32 as is; fp16 with ``onnxconverter_common.float16`` (fp16 weights,
                activations and I/O, as the catalogue's fp16 graphs); int8 with our ORT
                static QDQ quantizer (seeded calibration, :mod:`suite.models.onnx_builder`);
                TFLite through our ONNX → TensorFlow translator (where every node translates;
                else a ``build_error`` naming the node) and OpenVINO IR through
                ``openvino.convert_model``; the vendor toolchains start from the ONNX too
fp16/int8 ONNX  its own dtype only (there is no fp32 graph to quantize or convert from)
``.tflite``     its own dtype, on a TFLite runtime (copied) or OpenVINO (``convert_model``
                reads TFLite); no TFLite → ONNX converter here
OpenVINO IR     its own dtype, on OpenVINO only
==============  ===========================================================================

Every refusal is ``unsupported`` with the reason (the builder prefixes its component name).
"""

from __future__ import annotations

from typing import Any

from suite.ops.model import ModelFile, read_model_file
from suite.sweep.point import Point

MODEL_OP = "model"
#: Derived ONNX variants of an fp32 ONNX file.
ONNX_VARIANTS = ("fp32", "fp16", "int8")
#: Source formats a target format can start from (target → sources).
ROUTES = {
    "onnx": ("onnx",),
    "tflite": ("tflite", "onnx"),
    "openvino": ("openvino", "onnx", "tflite"),
}
#: Bump when a derived variant changes for the same file (invalidates cached artifacts).
MODEL_SOURCE_VERSION = 1


def is_model(point: Point) -> bool:
    """Whether ``point`` is a user's model file (the ``model`` op)."""
    return point.op == MODEL_OP


def facts(point: Point) -> ModelFile:
    """What the plan stage read from the point's file (cached)."""
    return read_model_file(point.params["file"])


def refusal(point: Point, target: str) -> str | None:
    """Why ``target`` cannot be made from the point's file at its dtype, or ``None``.

    ``target`` is a builder's format; formats without a row in :data:`ROUTES` (vendor
    toolchains) start from the ONNX route.
    """
    f = facts(point)
    sources = ROUTES.get(target, ("onnx",))
    name = point.params["file"].rsplit("/", 1)[-1]
    if f.format not in sources:
        return (f"cannot make {target} from a {f.format} file ({name}): hwbehave converts "
                + ", ".join(f"{s} → {t}" for t, ss in ROUTES.items() for s in ss if s != t)
                + "; give a file of a format this device runs")
    if point.dtype == f.native_dtype:
        return None
    if f.format == "onnx" and f.native_dtype == "fp32" and point.dtype in ONNX_VARIANTS:
        return None
    why = ("there is no fp32 graph to derive it from" if f.native_dtype != "fp32"
           else f"{f.format} files are measured as they are (variants are derived from ONNX files only)")
    return f"{name} is {f.native_dtype}; no {point.dtype} variant can be made from it: {why}"


def load_onnx(point: Point, float_dtype: str | None = None) -> Any:
    """The ONNX graph of a model point: the file, or its fp16 conversion for fp16 points.

    ``float_dtype`` as in :func:`suite.models.onnx_builder.build_onnx_model` (int8 points get
    the fp32 graph, quantized by the builder afterwards).
    """
    import onnx

    f = facts(point)
    model = onnx.load(point.params["file"])
    dtype = float_dtype or ("fp16" if point.dtype == "fp16" else "fp32")
    if dtype == "fp16" and f.native_dtype == "fp32":
        from onnxconverter_common import float16

        model = float16.convert_float_to_float16(model, keep_io_types=False)
    onnx.checker.check_model(model)
    return model


def build_metadata(point: Point) -> dict[str, Any]:
    """Artifact metadata of a model point: the source file and what the plan read from it."""
    f = facts(point)
    meta: dict[str, Any] = {"source_file": point.params["file"], "source_format": f.format,
                            "source_sha256": f.sha256, "native_dtype": f.native_dtype,
                            "source_ops": dict(sorted(f.ops.items()))}
    if f.cost_note:
        meta["cost_note"] = f.cost_note
    if point.dtype != f.native_dtype:
        meta["derived"] = f"{f.native_dtype} → {point.dtype}"
    return meta
