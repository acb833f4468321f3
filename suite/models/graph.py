"""A small ONNX graph builder used by every catalogue entry (``onnx.helper`` underneath).

Weights are drawn from a generator seeded by ``(point seed, weight name)``, so a weight's
values do not depend on the order in which a builder creates them, and every format of
one point (ONNX, TFLite, vendor IRs converted from ONNX) computes the same function.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: ONNX opset of every generated model (LayerNormalization needs 17).
OPSET = 17

_ELEM = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float16): TensorProto.FLOAT16,
         np.dtype(np.int64): TensorProto.INT64, np.dtype(np.int32): TensorProto.INT32}


def weight_seed(point_seed: int, name: str) -> int:
    """Seed of one named weight of a point: stable across runs, machines and formats."""
    digest = hashlib.sha256(f"{point_seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


class GraphBuilder:
    """Accumulates nodes, initializers and I/O of one ONNX graph.

    ``float_dtype`` is the element type of activations and float weights (fp32 or fp16);
    int8 models are built in fp32 and quantized afterwards.
    """

    def __init__(self, name: str, seed: int, float_dtype: Any = np.float32) -> None:
        self.name = name
        self.seed = seed
        self.float_dtype = np.dtype(float_dtype)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        #: Names of the initializers made by :meth:`weight`: the model's parameters.
        self.weight_names: list[str] = []
        self._counter = 0

    # -- names and tensors ----------------------------------------------------------
    def fresh(self, prefix: str) -> str:
        """A new unique tensor/node name starting with ``prefix``."""
        self._counter += 1
        return f"{prefix}_{self._counter}"

    @property
    def elem_type(self) -> int:
        return _ELEM[self.float_dtype]

    def input(self, name: str, shape: tuple[int, ...]) -> str:
        """Declare a float graph input."""
        self.inputs.append(helper.make_tensor_value_info(name, self.elem_type, list(shape)))
        return name

    def output(self, name: str, shape: tuple[int, ...] | None = None) -> str:
        """Declare a float graph output (shape left symbolic when not given)."""
        self.outputs.append(helper.make_tensor_value_info(name, self.elem_type, list(shape) if shape else None))
        return name

    def weight(self, name: str, shape: tuple[int, ...], fan_in: int | None = None,
               init: str = "he", value: float | None = None) -> str:
        """A float initializer: He-normal (``init='he'``), uniform(-1,1) or a constant."""
        tensor_name = self.fresh(name)
        if value is not None:
            arr = np.full(shape, value, dtype=np.float32)
        else:
            rng = np.random.default_rng(weight_seed(self.seed, tensor_name))
            if init == "he":
                fan = fan_in if fan_in else int(np.prod(shape[1:])) or 1
                arr = rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan))
            elif init == "small":
                arr = rng.uniform(-0.1, 0.1, size=shape).astype(np.float32)
            elif init == "positive":
                arr = rng.uniform(0.5, 1.5, size=shape).astype(np.float32)
            else:
                raise ValueError(f"unknown init {init!r}")
        self.initializers.append(numpy_helper.from_array(arr.astype(self.float_dtype), tensor_name))
        self.weight_names.append(tensor_name)
        return tensor_name

    def param_count(self) -> int:
        """Elements of all weights so far: the catalogue's ``param_count`` convention.

        Constants made by :meth:`const` (int64 shapes and pads, float32 resize scales,
        scalar activation/attention constants) are not parameters.
        """
        names = set(self.weight_names)
        return sum(int(np.prod(t.dims)) for t in self.initializers if t.name in names)

    def const(self, array: Any, name: str = "const", dtype: Any = None) -> str:
        """An initializer holding ``array`` as given (int64 shapes, fp32 scales, ...).

        Float arrays follow ``float_dtype`` unless ``dtype`` is given.
        """
        arr = np.asarray(array)
        if dtype is not None:
            arr = arr.astype(dtype)
        elif arr.dtype.kind == "f":
            arr = arr.astype(self.float_dtype)
        tensor_name = self.fresh(name)
        self.initializers.append(numpy_helper.from_array(arr, tensor_name))
        return tensor_name

    def node(self, op_type: str, inputs: list[str], n_out: int = 1, name: str | None = None,
             **attrs: Any) -> Any:
        """Add a node; return its output name (or a list when ``n_out > 1``)."""
        base = name or op_type.lower()
        outs = [self.fresh(base) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.fresh(base + "_node"), **attrs))
        return outs[0] if n_out == 1 else outs

    # -- common layers ----------------------------------------------------------------
    def conv(self, x: str, cin: int, cout: int, kernel: int, stride: int = 1, dilation: int = 1,
             groups: int = 1, pad: int | None = None, bias: bool = True) -> str:
        """Conv2d with symmetric padding (``pad=None`` means 'same' for odd kernels)."""
        if pad is None:
            pad = dilation * (kernel - 1) // 2
        w = self.weight("conv_w", (cout, cin // groups, kernel, kernel), fan_in=(cin // groups) * kernel * kernel)
        ins = [x, w]
        if bias:
            ins.append(self.weight("conv_b", (cout,), init="small"))
        return self.node("Conv", ins, name="conv", kernel_shape=[kernel, kernel], strides=[stride, stride],
                         dilations=[dilation, dilation], group=groups, pads=[pad, pad, pad, pad])

    def gemm(self, x: str, cin: int, cout: int, bias: bool = True) -> str:
        """Fully connected on ``(rows, cin)``: ``Gemm`` with a ``(cout, cin)`` weight and ``transB=1``."""
        w = self.weight("fc_w", (cout, cin), fan_in=cin)
        ins = [x, w] + ([self.weight("fc_b", (cout,), init="small")] if bias else [])
        return self.node("Gemm", ins, name="fc", transB=1)

    def linear(self, x: str, cin: int, cout: int, bias: bool = True) -> str:
        """Linear layer on the last axis of an N-D tensor: ``MatMul`` by ``(cin, cout)`` then ``Add`` bias."""
        y = self.node("MatMul", [x, self.weight("linear_w", (cin, cout), fan_in=cin)], name="linear")
        if bias:
            y = self.node("Add", [y, self.weight("linear_b", (cout,), init="small")], name="linear_bias")
        return y

    def layernorm(self, x: str, width: int, epsilon: float) -> str:
        """``LayerNormalization`` over the last axis (opset 17) with learned scale and bias."""
        scale = self.weight("ln_scale", (width,), init="positive")
        bias = self.weight("ln_bias", (width,), init="small")
        return self.node("LayerNormalization", [x, scale, bias], name="layernorm", axis=-1, epsilon=epsilon)

    def activation(self, x: str, kind: str, channels: int | None = None) -> str:
        """Apply a named activation (see ``suite.ops.catalogue.ACTIVATIONS``)."""
        from suite.ops.activations import apply_activation

        return apply_activation(self, x, kind, channels)

    # -- finish -----------------------------------------------------------------------
    def model(self, outputs: list[str]) -> onnx.ModelProto:
        """Build the ``ModelProto`` with ``outputs`` as graph outputs and infer shapes.

        An output that is a graph input (an identity op, e.g. activation ``none``) is
        passed through an ``Identity`` node: ONNX requires outputs to be produced by nodes.
        """
        input_names = {i.name for i in self.inputs}
        outputs = [self.node("Identity", [o]) if o in input_names else o for o in outputs]
        if not self.outputs:
            for out in outputs:
                self.output(out)
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="hwbehave")
        model.ir_version = 8  # readable by onnxruntime >= 1.10 and older converters
        return onnx.shape_inference.infer_shapes(model)
