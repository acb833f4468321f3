"""The ``model`` op: a model file the user brings (``.onnx``, ``.tflite``, OpenVINO ``.xml``).

Parameters: ``file`` (the path; in a sweep file relative paths resolve against the sweep
file's folder) and ``sha256`` (filled in: the first 16 hex digits of the file's content hash;
given explicitly it must match). The point id hashes the **content**, never the path
(:meth:`ModelOp.identity`), so the same file measured from another folder or machine gets
the same id, and a changed file a new one.

The plan stage reads the file once (:func:`read_model_file`) for what the catalogue ops
compute from their parameters: input and output shapes, the parameter count (elements of the
weight tensors), the native precision of the file, and the analytic cost where the graph
gives it. MACs count Conv, ConvTranspose, Gemm and MatMul (and their quantized forms), as the
catalogue does; when a shape is unknown (a symbolic dimension the shape inference cannot
resolve, or a ``.tflite`` file without the ``tflite`` extra to read it), ``macs``/``flops``
are ``None`` and :attr:`ModelFile.cost_note` says why, never 0. Symbolic input dimensions
are taken as 1 (as the runtimes' adapters bind them).

Builders (``suite/models/model_source.py``) derive dtype variants where the format allows.
"""

from __future__ import annotations

import hashlib
import os
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from suite.ops.catalogue import DTYPE_BYTES, Cost, OpSpec, Param, ParamError, register_op

#: File suffix → source format (an OpenVINO IR ``.xml`` needs its ``.bin`` beside it).
SOURCE_FORMATS = {".onnx": "onnx", ".tflite": "tflite", ".xml": "openvino"}
#: Digits of the content hash kept in the ``sha256`` parameter (as point ids keep 16).
SHA_DIGITS = 16


@dataclass(frozen=True)
class ModelFile:
    """What the plan stage reads from a model file: format, hash, shapes, weights, cost."""

    path: str
    format: str
    sha256: str
    native_dtype: str
    inputs: tuple[tuple[str, tuple[int, ...]], ...]
    outputs: tuple[tuple[str, tuple[int, ...]], ...]
    param_count: int
    macs: int | None
    ops: dict[str, int] = field(default_factory=dict)
    cost_note: str | None = None

    def __post_init__(self) -> None:
        if self.format not in SOURCE_FORMATS.values():
            raise ValueError(f"ModelFile.format {self.format!r} is not one of {', '.join(SOURCE_FORMATS.values())}")
        if self.native_dtype not in DTYPE_BYTES:
            raise ValueError(f"ModelFile.native_dtype {self.native_dtype!r} is not one of {', '.join(DTYPE_BYTES)}")
        if self.macs is not None and self.macs < 0:
            raise ValueError(f"ModelFile.macs must be >= 0, got {self.macs}")

    def cost(self, dtype: str) -> Cost:
        """Dtype-aware cost (the catalogue's convention: elements × bytes of ``dtype``)."""
        nbytes = DTYPE_BYTES[dtype]
        in_elems = sum(_prod(s) for _, s in self.inputs)
        out_elems = sum(_prod(s) for _, s in self.outputs)
        return Cost(macs=self.macs, flops=None if self.macs is None else 2 * self.macs,
                    param_count=self.param_count, bytes_in=in_elems * nbytes, bytes_out=out_elems * nbytes,
                    bytes_weights=self.param_count * nbytes)


def file_sha256(path: str | Path, extra: tuple[str | Path, ...] = ()) -> str:
    """Hex SHA-256 of a file's bytes (and of ``extra`` files after it: an IR's ``.bin``)."""
    h = hashlib.sha256()
    for p in (path, *extra):
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def source_format(path: str | Path) -> str:
    """``onnx``, ``tflite`` or ``openvino`` from the suffix; ``ParamError`` otherwise."""
    fmt = SOURCE_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ParamError("file", str(path), "a .onnx, .tflite or OpenVINO .xml file", "unknown model file type")
    return fmt


def companion_files(path: str | Path) -> tuple[Path, ...]:
    """Files a model needs beside it: the ``.bin`` of an IR ``.xml``."""
    p = Path(path)
    return (p.with_suffix(".bin"),) if source_format(p) == "openvino" else ()


def read_model_file(path: str | Path) -> ModelFile:
    """Read ``path`` once per content (cached on path, size and modification time)."""
    p = Path(path)
    try:
        st = p.stat()
        extra = tuple(os.stat(c).st_mtime_ns for c in companion_files(p))
    except OSError as exc:
        raise ParamError("file", str(path), "a readable model file", f"cannot read model file: {exc.strerror}") from None
    return _read_cached(str(p), st.st_size, st.st_mtime_ns, extra)


@lru_cache(maxsize=64)
def _read_cached(path: str, size: int, mtime_ns: int, extra: tuple[int, ...]) -> ModelFile:
    fmt = source_format(path)
    companions = companion_files(path)
    for c in companions:
        if not c.is_file():
            raise ParamError("file", path, f"an OpenVINO IR with its weights beside it ({c.name})",
                             "missing .bin of the IR")
    sha = file_sha256(path, companions)[:SHA_DIGITS]
    try:
        facts = {"onnx": _read_onnx, "tflite": _read_tflite, "openvino": _read_openvino_ir}[fmt](path)
    except ParamError:
        raise
    except Exception as exc:  # noqa: BLE001 - a file the reader cannot parse is bad input, located
        raise ParamError("file", path, f"a valid {fmt} model", f"cannot read the model: {type(exc).__name__}: "
                         f"{str(exc)[:300]}") from None
    return ModelFile(path=path, format=fmt, sha256=sha, **facts)


def _prod(shape: tuple[int, ...] | list[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


# -- ONNX -----------------------------------------------------------------------------------------
#: ONNX op → (input index of the data, of the weight) for MAC counting.
_ONNX_CONV = {"Conv": (0, 1), "ConvInteger": (0, 1), "QLinearConv": (0, 3), "ConvTranspose": (0, 1)}
_ONNX_MATMUL = {"MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3), "Gemm": (0, 1)}
_ONNX_QUANT = ("QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger",
               "MatMulInteger", "DynamicQuantizeLinear")


def _read_onnx(path: str) -> dict[str, Any]:
    import onnx
    from onnx import TensorProto, shape_inference

    model = onnx.load(path, load_external_data=False)
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - inference fails on some custom domains: shapes stay partial
        inferred = model
    graph = inferred.graph
    inits = {t.name: t for t in graph.initializer}
    shapes: dict[str, list[int] | None] = {}

    def dims(vi: Any) -> list[int] | None:
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            return None
        out = [d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim]
        return out

    for vi in [*graph.input, *graph.value_info, *graph.output]:
        shapes[vi.name] = dims(vi)
    for name, t in inits.items():
        shapes[name] = list(t.dims)

    def io(values: Any) -> tuple[tuple[str, tuple[int, ...]], ...]:
        return tuple((v.name, tuple(d if d > 0 else 1 for d in (dims(v) or []))) for v in values if v.name not in inits)

    macs = 0
    unknown: list[str] = []
    ops: dict[str, int] = {}
    for node in graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
        if node.op_type in _ONNX_CONV or node.op_type in _ONNX_MATMUL:
            data_i, weight_i = (_ONNX_CONV.get(node.op_type) or _ONNX_MATMUL[node.op_type])
            x = shapes.get(node.input[data_i]) if len(node.input) > data_i else None
            w = shapes.get(node.input[weight_i]) if len(node.input) > weight_i else None
            y = shapes.get(node.output[0])
            n = _onnx_node_macs(node, x, w, y)
            if n is None:
                unknown.append(f"{node.op_type} {node.name or node.output[0]}")
            else:
                macs += n
    float_types = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE}
    param_count = sum(_prod(t.dims) for t in graph.initializer if t.data_type in float_types
                      or t.data_type in (TensorProto.INT8, TensorProto.UINT8)) if graph.initializer else 0
    if any(op in ops for op in _ONNX_QUANT):
        native = "int8"
    elif any(t.data_type == TensorProto.FLOAT16 for t in graph.initializer) or any(
            v.type.tensor_type.elem_type == TensorProto.FLOAT16 for v in graph.input):
        native = "fp16"
    else:
        native = "fp32"
    note = None
    if unknown:
        note = (f"MACs unknown: no static shape for {len(unknown)} node(s) ({', '.join(unknown[:3])}"
                f"{', …' if len(unknown) > 3 else ''}) after ONNX shape inference")
    return {"native_dtype": native, "inputs": io(graph.input), "outputs": io(graph.output),
            "param_count": int(param_count), "macs": None if unknown else int(macs), "ops": ops, "cost_note": note}


def _onnx_node_macs(node: Any, x: list[int] | None, w: list[int] | None, y: list[int] | None) -> int | None:
    """MACs of one conv/matmul-like node from its static shapes, ``None`` if one is missing."""
    def static(s: list[int] | None) -> bool:
        return s is not None and len(s) > 0 and all(d > 0 for d in s)

    attrs = {a.name: a for a in node.attribute}
    if node.op_type in _ONNX_CONV:
        if not static(w):
            return None
        assert w is not None
        if node.op_type == "ConvTranspose":  # each input element scatters into Cout/group × kernel outputs
            if not static(x):
                return None
            assert x is not None
            return _prod(x) * (w[1]) * _prod(w[2:])
        if not static(y):
            return None
        assert y is not None
        # the weight's second dimension is already Cin/group
        return _prod(y) * _prod(w[1:])
    # Gemm / MatMul: output elements × the reduced dimension
    if not static(y) or not static(x):
        return None
    assert x is not None and y is not None
    if node.op_type == "Gemm":
        trans_a = attrs["transA"].i if "transA" in attrs else 0
        k = x[0] if trans_a else x[-1]
    else:
        k = x[-1]
    return _prod(y) * k


# -- TFLite -----------------------------------------------------------------------------------------
def tflite_schema() -> Any:
    """The TFLite flatbuffer schema module (LiteRT's, else TensorFlow's); ``ImportError`` if neither."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        from tensorflow.lite.python import schema_py_generated as schema  # type: ignore[no-redef]
    return schema


_TFLITE_CONV = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "CONV_3D")
_TFLITE_MATMUL = ("FULLY_CONNECTED", "BATCH_MATMUL")


def _read_tflite(path: str) -> dict[str, Any]:
    try:
        schema = tflite_schema()
    except ImportError:
        return {"native_dtype": "fp32", "inputs": (), "outputs": (), "param_count": 0, "macs": None, "ops": {},
                "cost_note": "cannot read .tflite graphs without the tflite extra (pip install 'hwbehave[tflite]'): "
                             "shapes, weights and MACs unknown; the native precision is taken as fp32"}
    data = Path(path).read_bytes()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    graph = model.subgraphs[0]
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    tensors = graph.tensors or []

    def shape(i: int) -> list[int]:
        t = tensors[i]
        sig = t.shapeSignature if t.shapeSignature is not None else t.shape
        return [int(d) if d > 0 else 1 for d in (sig if sig is not None else [])]

    def name(i: int) -> str:
        n = tensors[i].name
        return n.decode() if isinstance(n, bytes) else str(n)

    buffers = model.buffers or []
    constant = {i for i, t in enumerate(tensors) if t.buffer and t.buffer < len(buffers)
                and buffers[t.buffer].data is not None and len(buffers[t.buffer].data)}
    macs = 0
    ops: dict[str, int] = {}
    for op in graph.operators or []:
        code = model.operatorCodes[op.opcodeIndex]
        kind = op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        ops[kind] = ops.get(kind, 0) + 1
        ins = [i for i in (op.inputs if op.inputs is not None else []) if i >= 0]
        outs = list(op.outputs if op.outputs is not None else [])
        if kind in _TFLITE_CONV and len(ins) >= 2 and outs:
            w = shape(ins[1])
            y = shape(outs[0])
            if kind == "DEPTHWISE_CONV_2D":  # weight [1, kh, kw, Cout]: one input channel per output
                macs += _prod(y) * w[1] * w[2]
            elif kind == "TRANSPOSE_CONV":  # weight [Cout, kh, kw, Cin]; input is ins[2]
                macs += _prod(shape(ins[2])) * w[0] * w[1] * w[2] if len(ins) > 2 else 0
            else:  # weight [Cout, kh, kw, Cin] (NHWC)
                macs += _prod(y) * _prod(w[1:])
        elif kind in _TFLITE_MATMUL and len(ins) >= 2 and outs:
            x = shape(ins[0])
            macs += _prod(shape(outs[0])) * (x[-1] if x else 0)
    types = {type_names.get(tensors[i].type, "") for i in constant}
    native = "int8" if types & {"int8", "uint8"} else "fp16" if "float16" in types else "fp32"
    param_count = sum(_prod(shape(i)) for i in constant if type_names.get(tensors[i].type) in
                      ("float32", "float16", "int8", "uint8"))
    return {"native_dtype": native, "inputs": tuple((name(i), tuple(shape(i))) for i in graph.inputs),
            "outputs": tuple((name(i), tuple(shape(i))) for i in graph.outputs), "param_count": int(param_count),
            "macs": int(macs), "ops": ops, "cost_note": None}


# -- OpenVINO IR ------------------------------------------------------------------------------------
def _read_openvino_ir(path: str) -> dict[str, Any]:
    root = ElementTree.parse(path).getroot()
    layers = {layer.get("id"): layer for layer in root.iter("layer")}

    def port_dims(port: Any) -> list[int]:
        return [int(d.text) if d.text and d.text.strip().lstrip("-").isdigit() and int(d.text) > 0 else 1
                for d in port.findall("dim")]

    def ports(layer: Any, side: str) -> list[list[int]]:
        node = layer.find(side)
        return [port_dims(p) for p in node.findall("port")] if node is not None else []

    macs = 0
    ops: dict[str, int] = {}
    param_count = 0
    const_types: set[str] = set()
    inputs, outputs = [], []
    for layer in layers.values():
        kind = layer.get("type", "")
        ops[kind] = ops.get(kind, 0) + 1
        data = layer.find("data")
        attrs = data.attrib if data is not None else {}
        if kind == "Parameter":
            shape = [int(x) if x.strip().lstrip("-").isdigit() and int(x) > 0 else 1
                     for x in attrs.get("shape", "").split(",") if x.strip()]
            inputs.append((layer.get("name", ""), tuple(shape)))
        elif kind == "Result":
            dims = ports(layer, "input")
            outputs.append((layer.get("name", ""), tuple(dims[0] if dims else ())))
        elif kind == "Const":
            etype = attrs.get("element_type", "")
            const_types.add(etype)
            if etype in ("f32", "f16", "bf16", "i8", "u8"):
                param_count += _prod([int(x) for x in attrs.get("shape", "").split(",") if x.strip()] or [1])
        elif kind in ("Convolution", "GroupConvolution", "ConvolutionBackpropData", "MatMul"):
            ins, outs = ports(layer, "input"), ports(layer, "output")
            if len(ins) < 2 or not outs:
                continue
            x, w, y = ins[0], ins[1], outs[0]
            if kind == "Convolution":  # weights [Cout, Cin, kh, kw]
                macs += _prod(y) * _prod(w[1:])
            elif kind == "GroupConvolution":  # weights [G, Cout/G, Cin/G, kh, kw]
                macs += _prod(y) * _prod(w[2:])
            elif kind == "ConvolutionBackpropData":  # weights [Cin, Cout, kh, kw]
                macs += _prod(x) * _prod(w[1:])
            else:
                transpose_a = attrs.get("transpose_a", "false") == "true"
                k = (x[-2] if len(x) > 1 else x[0]) if transpose_a else x[-1]
                macs += _prod(y) * k
    native = "int8" if "FakeQuantize" in ops or const_types & {"i8", "u8"} else "fp32"
    return {"native_dtype": native, "inputs": tuple(inputs), "outputs": tuple(outputs),
            "param_count": int(param_count), "macs": int(macs), "ops": ops, "cost_note": None}


# -- the op -------------------------------------------------------------------------------------------
class PathParam(Param):
    """A file path parameter: in a sweep file a relative path resolves against the file's folder."""

    is_path = True


@register_op
class ModelOp(OpSpec):
    """A model file the user brings; shapes, weights and cost come from the file itself."""

    name = "model"
    kind = "file"
    params = (
        PathParam("file", str, doc="path of a .onnx, .tflite or OpenVINO .xml file (relative: to the sweep file)"),
        Param("sha256", str, "", doc="content hash (first 16 hex digits); filled in, checked when given"),
    )
    doc = "bring your own model: measure a model file with the same protocol and records"

    def normalize(self, given: dict[str, Any]) -> dict[str, Any]:
        params = super().normalize(given)
        path = Path(params["file"]).expanduser()
        source_format(path)
        if not path.is_file():
            raise ParamError("file", str(path), "an existing model file", "model file not found")
        facts = read_model_file(path.resolve())
        if params["sha256"] and params["sha256"] != facts.sha256[: len(params["sha256"])]:
            raise ParamError("sha256", params["sha256"], f"{facts.sha256} (the file's content hash)",
                             "model file changed: its content hash differs")
        return {"file": str(path.resolve()), "sha256": facts.sha256}

    def identity(self, p: dict[str, Any]) -> dict[str, Any]:
        """The content hash, not the path: a moved or copied file is the same point."""
        return {"sha256": p["sha256"]}

    def describe_params(self, p: dict[str, Any]) -> dict[str, Any]:
        """``file=mobilenet.onnx``: the file's name is what a reader needs in a label."""
        return {"file": Path(p["file"]).name}

    def native_dtype(self, p: dict[str, Any]) -> str:
        return read_model_file(p["file"]).native_dtype

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [s for _, s in read_model_file(p["file"]).inputs]

    def cost(self, p: dict[str, Any], dtype: str) -> Cost:
        return read_model_file(p["file"]).cost(dtype)

    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        raise NotImplementedError("a model point is built from its file (suite/models/model_source.py), "
                                  "not traced into a graph")
