"""Shared helpers of the catalogue tests: build a point's model, run it in ONNX Runtime,
read its weights back, count its MACs from the graph's shapes, and numpy references."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from suite.models.graph import GraphBuilder
from suite.models.onnx_builder import build_onnx_model
from suite.ops.catalogue import OpSpec, get_op
from suite.sweep.point import Point


@dataclass
class Built:
    """One op built for tests: the op, its normalised params, point, model and graph builder."""

    op: OpSpec
    params: dict[str, Any]
    point: Point
    model: onnx.ModelProto
    graph: GraphBuilder

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """All initializers by name, as fp32 arrays (int64 constants stay int64)."""
        out = {}
        for t in self.model.graph.initializer:
            arr = numpy_helper.to_array(t)
            out[t.name] = arr.astype(np.float32) if arr.dtype.kind == "f" else arr
        return out

    def nodes(self, op_type: str) -> list[onnx.NodeProto]:
        return [n for n in self.model.graph.node if n.op_type == op_type]

    def inputs(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Seeded standard-normal inputs in the model's float type."""
        rng = np.random.default_rng(seed)
        dtype = np.float16 if self.point.dtype == "fp16" else np.float32
        return {name: rng.standard_normal(shape).astype(dtype)
                for name, shape in zip(self.input_names, self.op.input_shapes(self.params), strict=True)}

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.model.graph.input]

    def run(self, feeds: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
        """Run on ONNX Runtime's CPU provider (one thread: tests run side by side)."""
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(self.model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        return sess.run(None, feeds if feeds is not None else self.inputs())


def build(op_name: str, params: dict[str, Any], dtype: str = "fp32") -> Built:
    """Normalise ``params``, make the point and build its model with :func:`build_onnx_model`.

    The graph builder is rebuilt the same way beside it, to read which initializers are
    weights (``GraphBuilder.weight_names``); the test checks both give the same initializers.
    """
    op = get_op(op_name)
    p = op.normalize(params)
    point = Point.make(op_name, p, dtype, op.cost(p, dtype))
    model = build_onnx_model(point)
    g = GraphBuilder("twin", point.seed, np.float16 if dtype == "fp16" else np.float32)
    names = [g.input(f"input_{i}", s) for i, s in enumerate(op.input_shapes(p))]
    op.build(g, names, p)
    return Built(op, p, point, model, g)


def _prod(dims: Any) -> int:
    return int(np.prod(list(dims), dtype=np.int64)) if len(dims) else 1


def graph_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Static shapes of every named tensor (inputs, inferred intermediates, outputs, initializers)."""
    shapes = {t.name: tuple(t.dims) for t in model.graph.initializer}
    for vi in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = tuple(d.dim_value for d in dims)
    return shapes


def graph_macs(model: onnx.ModelProto) -> int:
    """MACs counted from the ONNX graph alone: Conv, Gemm and MatMul from their shapes.

    An independent count to hold the catalogue's analytic (traced) cost against.
    """
    shapes = graph_shapes(model)
    macs = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            w = shapes[node.input[1]]
            macs += _prod(shapes[node.output[0]]) * w[1] * w[2] * w[3]
        elif node.op_type == "Gemm":
            macs += _prod(shapes[node.output[0]]) * shapes[node.input[0]][-1]
        elif node.op_type == "MatMul":
            macs += _prod(shapes[node.output[0]]) * shapes[node.input[0]][-1]
    return macs


# -- numpy references ---------------------------------------------------------------------
def conv2d_ref(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int = 1, pad: int = 0,
               dilation: int = 1, groups: int = 1) -> np.ndarray:
    """Direct grouped, strided, dilated 2-D convolution (NCHW, OIHW), float64 accumulation."""
    x = x.astype(np.float64)
    n, _, h, wd = x.shape
    cout, cpg, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho = (h + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    wo = (wd + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    out = np.zeros((n, cout, ho, wo))
    opg = cout // groups
    for gi in range(groups):
        xs = xp[:, gi * cpg:(gi + 1) * cpg]
        ws = w[gi * opg:(gi + 1) * opg].astype(np.float64)
        for i in range(k):
            for j in range(k):
                patch = xs[:, :, i * dilation:i * dilation + stride * (ho - 1) + 1:stride,
                           j * dilation:j * dilation + stride * (wo - 1) + 1:stride]
                out[:, gi * opg:(gi + 1) * opg] += np.einsum("nchw,oc->nohw", patch, ws[:, :, i, j])
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def pool_ref(x: np.ndarray, kernel: int, stride: int, pad: int, kind: str) -> np.ndarray:
    """Max pool (padding never wins) or average pool excluding padded pixels."""
    x = x.astype(np.float64)
    n, c, h, _ = x.shape
    ho = (h + 2 * pad - kernel) // stride + 1
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)
    ones = np.pad(np.ones((h, h)), pad)
    out = np.full((n, c, ho, ho), -np.inf) if kind == "max" else np.zeros((n, c, ho, ho))
    count = np.zeros((ho, ho))
    for i in range(kernel):
        for j in range(kernel):
            patch = xp[:, :, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (ho - 1) + 1:stride]
            if kind == "max":
                out = np.maximum(out, patch)
            else:
                out += patch
                count += ones[i:i + stride * (ho - 1) + 1:stride, j:j + stride * (ho - 1) + 1:stride]
    return out if kind == "max" else out / count


def softmax_ref(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def layernorm_ref(x: np.ndarray, scale: np.ndarray, bias: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    x = x.astype(np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * scale + bias


_erf = np.vectorize(math.erf)


def activation_ref(x: np.ndarray, kind: str, slope: np.ndarray | None = None) -> np.ndarray:
    """Numpy definition of each catalogue activation (``slope`` for PReLU, broadcastable)."""
    x = x.astype(np.float64)
    sig = 1.0 / (1.0 + np.exp(-x))
    hsig = np.clip(x / 6.0 + 0.5, 0.0, 1.0)
    refs = {
        "none": lambda: x,
        "relu": lambda: np.maximum(x, 0.0),
        "relu6": lambda: np.clip(x, 0.0, 6.0),
        "leaky_relu": lambda: np.where(x > 0, x, 0.1 * x),
        "prelu": lambda: np.where(x > 0, x, slope * x),
        "sigmoid": lambda: sig,
        "tanh": lambda: np.tanh(x),
        "hard_sigmoid": lambda: hsig,
        "hard_swish": lambda: x * hsig,
        "swish": lambda: x * sig,
        "silu": lambda: x * sig,
        "gelu": lambda: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
        "mish": lambda: x * np.tanh(np.log1p(np.exp(x))),
    }
    return refs[kind]()


def assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-4, atol: float = 1e-4) -> None:
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual.astype(np.float64), expected, rtol=rtol, atol=atol)
