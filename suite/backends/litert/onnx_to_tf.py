"""Translate a float ONNX graph of the catalogue into TensorFlow ops, node by node.

Used by the TFLite builder (:mod:`suite.backends.litert.builder`) inside its worker
processes: the ONNX graph from :func:`suite.models.onnx_builder.build_onnx_model` is the
one description of a point, and its initializers are the weights, so the ``.tflite`` file
computes the same function as the ``.onnx`` file without a second copy of the catalogue.

Layout. ONNX image tensors are NCHW; TFLite kernels are NHWC. Every translated tensor
carries a permutation ``perm`` such that ``tf_tensor == np.transpose(onnx_tensor, perm)``.
4-D graph inputs that feed image ops are NHWC (``perm = (0, 2, 3, 1)``); layout-sensitive
ops (Conv, pools, Resize) ask for NHWC, layout-free ops (elementwise, activations) keep
the layout they get, axis ops (Concat, Split, Softmax, ReduceMean, Pad, BatchNorm) map
their axes through ``perm``, ``Transpose`` only changes ``perm`` (no TF op), and
``Reshape`` is done in the current layout when its axis groups allow it, else after one
transpose (a channel shuffle becomes RESHAPE, TRANSPOSE, RESHAPE, as a TF model has it).
Graph outputs stay NHWC when 4-D and NHWC, else they are returned in ONNX order.

Only the ONNX op types the catalogue emits need a translation; any other raises
:class:`UntranslatableOp` naming the op, so the builder records a ``build_error``.
TensorFlow is imported by the caller and passed in, so importing this module is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

NHWC = (0, 2, 3, 1)


class UntranslatableOp(Exception):
    """An ONNX node (op type or attribute) with no TensorFlow translation here."""


def _identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


@dataclass
class Value:
    """A translated tensor: a TF tensor (or numpy constant) and its layout permutation."""

    data: Any
    perm: tuple[int, ...]
    const: bool = False

    @property
    def rank(self) -> int:
        return len(self.perm)


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _prefers_plain(node: onnx.NodeProto) -> bool:
    """Whether a consumer of a 4-D graph input is better served by ONNX (NCHW) order."""
    if node.op_type in ("MatMul", "Gemm", "LayerNormalization", "Transpose"):
        return True
    if node.op_type == "Softmax":
        axis = next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), -1)
        return axis in (-1, 3)
    return False


def _same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (begin, end) for one spatial axis."""
    extent = dilation * (kernel - 1) + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2


class OnnxToTf:
    """Translator of one ONNX model; call :meth:`run` inside a ``tf.function``.

    ``tf`` is the imported ``tensorflow`` module. The model must be fp32 with static
    shapes (the catalogue's graphs are).
    """

    #: ONNX op types with a translation (for error messages and docs).
    SUPPORTED: tuple[str, ...] = ()

    def __init__(self, model: onnx.ModelProto, tf: Any) -> None:
        self.model = model
        self.tf = tf
        self.consts: dict[str, np.ndarray] = {}
        for t in model.graph.initializer:
            arr = numpy_helper.to_array(t)
            self.consts[t.name] = arr.astype(np.float32) if arr.dtype.kind == "f" else arr
        init_names = set(self.consts)
        self.graph_inputs = [i for i in model.graph.input if i.name not in init_names]
        consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in model.graph.node:
            for name in node.input:
                consumers.setdefault(name, []).append(node)
        self.consumers = consumers
        self.fused: dict[str, str] = {}  # node name -> what it was fused into
        self.gelu_at: dict[str, str] = {}  # name of the last node of a GELU pattern -> its input tensor
        self._find_gelu()
        self.input_perms: list[tuple[int, ...]] = []
        self.input_shapes: list[tuple[int, ...]] = []
        for inp in self.graph_inputs:
            shape = tuple(int(d.dim_value or 1) for d in inp.type.tensor_type.shape.dim)
            if inp.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
                raise UntranslatableOp(f"input {inp.name} is not float32 (translate the fp32 graph)")
            image = len(shape) == 4 and not all(_prefers_plain(n) for n in consumers.get(inp.name, []))
            self.input_perms.append(NHWC if image else _identity(len(shape)))
            self.input_shapes.append(shape)
        self.output_perms: list[tuple[int, ...]] = []

    # -- signature ----------------------------------------------------------------------
    def input_signature(self) -> list[Any]:
        """``tf.TensorSpec`` of each graph input in its TF layout."""
        tf = self.tf
        return [tf.TensorSpec([shape[i] for i in perm], tf.float32, name=f"input_{k}")
                for k, (shape, perm) in enumerate(zip(self.input_shapes, self.input_perms, strict=True))]

    def io_layout(self) -> dict[str, Any]:
        """Per input/output: ONNX shape and the permutation from ONNX to TFLite order."""
        return {"inputs": [{"onnx_name": i.name, "onnx_shape": list(s), "perm": list(p)}
                           for i, s, p in zip(self.graph_inputs, self.input_shapes, self.input_perms, strict=True)],
                "outputs": [{"onnx_name": o.name, "perm": list(p)}
                            for o, p in zip(self.model.graph.output, self.output_perms, strict=False)]}

    # -- running ------------------------------------------------------------------------
    def run(self, *tensors: Any) -> list[Any]:
        """Translate the graph on ``tensors`` (TF layout); return outputs in TF layout."""
        env: dict[str, Value] = {}
        for inp, perm, t in zip(self.graph_inputs, self.input_perms, tensors, strict=True):
            env[inp.name] = Value(t, perm)
        for node in self.model.graph.node:
            if node.name in self.fused:
                continue
            if node.name in self.gelu_at:
                x = self._value(self.gelu_at[node.name], env)
                env[node.output[0]] = Value(self.tf.nn.gelu(self.tensor(x), approximate=False), x.perm)
                continue
            handler = getattr(self, "op_" + node.op_type, None)
            if handler is None:
                raise UntranslatableOp(f"ONNX op {node.op_type} (node {node.name}) has no TFLite translation; "
                                       f"translated ops: {', '.join(self.SUPPORTED)}")
            ins = [self._value(name, env) if name else None for name in node.input]
            outs = handler(node, ins, _attrs(node))
            if not isinstance(outs, list):
                outs = [outs]
            for name, value in zip(node.output, outs, strict=False):
                env[name] = value
        results = []
        self.output_perms = []
        for out in self.model.graph.output:
            v = env[out.name]
            if v.rank != 4 or v.perm != NHWC:
                v = self.to_perm(v, _identity(v.rank))
            self.output_perms.append(v.perm)
            results.append(self.tensor(v))
        return results

    def pattern_counts(self) -> dict[str, int]:
        """Multi-node ONNX patterns the translation emitted as one TF op (``{'GELU': n}``)."""
        return {"GELU": len(self.gelu_at)} if self.gelu_at else {}

    def _find_gelu(self) -> None:
        """Find ``0.5 * x * (1 + erf(x / sqrt(2)))`` (torch's GELU export) to emit one GELU op.

        TFLite has no ERF builtin, so the erf form cannot convert node by node; the converter
        keeps GELU as one op, which is what a TF-authored model would contain.
        """
        producer = {o: n for n in self.model.graph.node for o in n.output}

        def const_value(name: str) -> float | None:
            arr = self.consts.get(name)
            return float(arr) if arr is not None and arr.size == 1 else None

        def sole_user(node: onnx.NodeProto) -> onnx.NodeProto | None:
            users = self.consumers.get(node.output[0], [])
            return users[0] if len(users) == 1 else None

        for erf in self.model.graph.node:
            if erf.op_type != "Erf" or erf.input[0] not in producer:
                continue
            div = producer[erf.input[0]]
            if div.op_type == "Div" and abs((const_value(div.input[1]) or 0) - np.sqrt(2)) < 1e-5:
                x = div.input[0]
            elif div.op_type == "Mul" and abs((const_value(div.input[1]) or 0) - 1 / np.sqrt(2)) < 1e-5:
                x = div.input[0]
            else:
                continue
            add = sole_user(erf)
            if add is None or add.op_type != "Add" or const_value(
                    add.input[1] if add.input[0] == erf.output[0] else add.input[0]) != 1.0:
                continue
            mul1 = sole_user(add)
            if mul1 is None or mul1.op_type != "Mul" or x not in mul1.input:
                continue
            mul2 = sole_user(mul1)
            if mul2 is None or mul2.op_type != "Mul":
                continue
            other = mul2.input[1] if mul2.input[0] == mul1.output[0] else mul2.input[0]
            if const_value(other) != 0.5 or len(self.consumers.get(div.output[0], [])) != 1:
                continue
            for n in (div, erf, add, mul1):
                self.fused[n.name] = "GELU"
            self.gelu_at[mul2.name] = x

    def _value(self, name: str, env: dict[str, Value]) -> Value:
        if name in env:
            return env[name]
        if name in self.consts:
            arr = self.consts[name]
            return Value(arr, _identity(arr.ndim), const=True)
        raise UntranslatableOp(f"tensor {name} is neither an input, an initializer nor produced before use")

    # -- layout helpers -------------------------------------------------------------------
    def tensor(self, v: Value) -> Any:
        """The TF tensor of ``v`` (constants become ``tf.constant``)."""
        return self.tf.constant(v.data) if v.const else v.data

    def onnx_shape(self, v: Value) -> tuple[int, ...]:
        """ONNX-order static shape of ``v``."""
        tf_shape = tuple(v.data.shape) if v.const else tuple(int(d) for d in v.data.shape)
        inv = _inverse(v.perm)
        return tuple(tf_shape[inv[k]] for k in range(v.rank))

    def to_perm(self, v: Value, perm: tuple[int, ...]) -> Value:
        """``v`` in layout ``perm`` (one TRANSPOSE unless it is already there)."""
        if v.perm == perm:
            return v
        inv = _inverse(v.perm)
        rel = tuple(inv[p] for p in perm)
        if v.const:
            return Value(np.transpose(v.data, rel), perm, const=True)
        shape = self.onnx_shape(v)
        if [p for p in perm if shape[p] != 1] == [p for p in v.perm if shape[p] != 1]:
            # only size-1 axes move: a reshape, not a data movement
            return Value(self.tf.reshape(v.data, [shape[p] for p in perm]), perm)
        return Value(self.tf.transpose(v.data, rel), perm)

    def expand(self, v: Value, rank: int) -> Value:
        """Broadcast-align ``v`` to ``rank`` by prepending size-1 axes (ONNX broadcasting)."""
        if v.rank >= rank:
            return v
        extra = rank - v.rank
        plain = self.to_perm(v, _identity(v.rank))
        shape = (1,) * extra + self.onnx_shape(plain)
        if v.const:
            return Value(plain.data.reshape(shape), _identity(rank), const=True)
        return Value(self.tf.reshape(plain.data, shape), _identity(rank))

    def common(self, values: list[Value]) -> tuple[list[Value], tuple[int, ...]]:
        """Bring elementwise operands to one rank and layout (that of the widest tensor)."""
        rank = max(v.rank for v in values)
        vs = [self.expand(v, rank) for v in values]
        target = next((v.perm for v in vs if not v.const and v.perm != _identity(rank)), _identity(rank))
        return [self.to_perm(v, target) for v in vs], target

    def axis(self, v: Value, onnx_axis: int) -> int:
        """TF axis of ONNX axis ``onnx_axis`` of ``v``."""
        return v.perm.index(onnx_axis % v.rank)

    # -- elementwise ---------------------------------------------------------------------
    def _binary(self, ins: list[Value | None], fn: Any, np_fn: Any) -> Value:
        vals = [v for v in ins if v is not None]
        if all(v.const for v in vals):
            return Value(np_fn(vals[0].data, vals[1].data), _identity(max(v.rank for v in vals)), const=True)
        vs, perm = self.common(vals)
        a, b = (v.data for v in vs)
        return Value(fn(a, b), perm)

    def op_Add(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        return self._binary(ins, self.tf.add, np.add)

    def op_Sub(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        return self._binary(ins, self.tf.subtract, np.subtract)

    def op_Mul(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        return self._binary(ins, self.tf.multiply, np.multiply)

    def op_Div(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        a, b = ins
        if b.const and not a.const:  # x / c as x * (1/c): TFLite has no fused DIV into conv
            return self._binary([a, Value((1.0 / b.data).astype(np.float32), b.perm, True)],
                                self.tf.multiply, np.multiply)
        return self._binary(ins, self.tf.divide, np.divide)

    def op_Pow(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        return self._binary(ins, self.tf.pow, np.power)

    def _unary(self, v: Value, fn: Any) -> Value:
        return Value(fn(self.tensor(v)), v.perm)

    def op_Relu(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        return self._unary(ins[0], self.tf.nn.relu)

    def op_Sigmoid(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        return self._unary(ins[0], self.tf.sigmoid)

    def op_Tanh(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        return self._unary(ins[0], self.tf.tanh)

    def op_Erf(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        raise UntranslatableOp(f"Erf (node {node.name}) outside the GELU pattern: TFLite has no ERF builtin")

    def op_Exp(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        return self._unary(ins[0], self.tf.exp)

    def op_Sqrt(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        return self._unary(ins[0], self.tf.sqrt)

    def op_Neg(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        return self._unary(ins[0], self.tf.negative)

    def op_Softplus(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        # log(1 + exp(x)) written out: LOG/EXP/ADD are builtins everywhere, SOFTPLUS is not
        tf = self.tf
        return self._unary(ins[0], lambda x: tf.math.log(tf.exp(x) + 1.0))

    def op_LeakyRelu(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        alpha = float(at.get("alpha", 0.01))
        return self._unary(ins[0], lambda x: self.tf.nn.leaky_relu(x, alpha=alpha))

    def op_HardSigmoid(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        alpha, beta = float(at.get("alpha", 0.2)), float(at.get("beta", 0.5))
        tf = self.tf
        if abs(alpha - 1.0 / 6.0) < 1e-7 and beta == 0.5:  # relu6(x + 3) / 6, as Keras writes it
            return self._unary(ins[0], lambda x: tf.nn.relu6(x + 3.0) * (1.0 / 6.0))
        return self._unary(ins[0], lambda x: tf.clip_by_value(x * alpha + beta, 0.0, 1.0))

    def op_HardSwish(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        tf = self.tf
        # the pattern the TFLite converter fuses into HARD_SWISH
        return self._unary(ins[0], lambda x: x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0))

    def op_Clip(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        lo = float(ins[1].data) if len(ins) > 1 and ins[1] is not None else at.get("min", -np.inf)
        hi = float(ins[2].data) if len(ins) > 2 and ins[2] is not None else at.get("max", np.inf)
        if len(ins) > 1 and ins[1] is not None and not ins[1].const:
            raise UntranslatableOp("Clip with a non-constant min")
        tf = self.tf
        if lo == 0.0 and hi == 6.0:
            return self._unary(ins[0], tf.nn.relu6)
        if lo == 0.0 and hi == np.inf:
            return self._unary(ins[0], tf.nn.relu)
        return self._unary(ins[0], lambda x: tf.clip_by_value(x, lo, hi))

    def op_PRelu(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        x, slope = ins
        (xv, sv), perm = self.common([x, slope])
        tf = self.tf
        xt = self.tensor(xv)
        # Keras' PReLU form, which the converter turns into one PRELU op
        alpha = sv.data.reshape(sv.data.shape[1:]) if sv.const and sv.data.shape[0] == 1 else sv.data
        return Value(tf.nn.relu(xt) + tf.nn.relu(-xt) * (-alpha), perm)

    def op_Identity(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        return ins[0]

    op_Dropout = op_Identity

    # -- convolution and dense -------------------------------------------------------------
    def op_Conv(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        tf = self.tf
        x, w = ins[0], ins[1]
        if not w.const or (len(ins) > 2 and ins[2] is not None and not ins[2].const):
            raise UntranslatableOp("Conv with non-constant weights")
        if x.rank != 4:
            raise UntranslatableOp(f"Conv on a rank-{x.rank} tensor (only 2-D convolutions)")
        x = self.to_perm(x, NHWC)
        weight = w.data
        cout, cin_g, kh, kw = weight.shape
        group = int(at.get("group", 1))
        strides = list(at.get("strides", [1, 1]))
        dil = list(at.get("dilations", [1, 1]))
        pads = list(at.get("pads", [0, 0, 0, 0]))
        if at.get("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET"):
            raise UntranslatableOp("Conv auto_pad is not translated (the catalogue gives explicit pads)")
        data, padding = self._spatial_padding(x.data, (kh, kw), strides, dil, pads, "CONSTANT")
        cin = cin_g * group
        if group == 1:
            y = tf.nn.conv2d(data, np.transpose(weight, (2, 3, 1, 0)), strides=strides, padding=padding,
                             dilations=dil)
        elif group == cin and cout % cin == 0:
            mult = cout // cin
            filt = np.transpose(weight.reshape(cin, mult, kh, kw), (2, 3, 0, 1))
            if max(strides) > 1 and max(dil) > 1:  # TF refuses stride and dilation together
                y = tf.nn.depthwise_conv2d(data, filt, [1, 1, 1, 1], padding, dilations=dil)
                y = y[:, ::strides[0], ::strides[1], :]
            else:
                y = tf.nn.depthwise_conv2d(data, filt, [1, strides[0], strides[1], 1], padding, dilations=dil)
        else:  # grouped: split, one CONV_2D per group, concatenate (portable across delegates)
            parts = tf.split(data, group, axis=3)
            per = cout // group
            ys = [tf.nn.conv2d(p, np.transpose(weight[g * per:(g + 1) * per], (2, 3, 1, 0)), strides=strides,
                               padding=padding, dilations=dil) for g, p in enumerate(parts)]
            y = tf.concat(ys, axis=3)
        if len(ins) > 2 and ins[2] is not None:
            y = tf.nn.bias_add(y, ins[2].data)
        return Value(y, NHWC)

    def _spatial_padding(self, x: Any, kernel: tuple[int, int], strides: list[int], dil: list[int],
                         pads: list[int], mode: str) -> tuple[Any, str]:
        """``(input, 'SAME'|'VALID')``: ONNX symmetric pads as TF SAME when equal, else an explicit pad."""
        if not any(pads):
            return x, "VALID"
        h, w = int(x.shape[1]), int(x.shape[2])
        same = _same_pads(h, kernel[0], strides[0], dil[0]) + _same_pads(w, kernel[1], strides[1], dil[1])
        onnx_pads = (pads[0], pads[2], pads[1], pads[3])
        if same == onnx_pads:
            return x, "SAME"
        paddings = [[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]]
        return self.tf.pad(x, paddings, mode=mode), "VALID"

    def op_Gemm(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        tf = self.tf
        a, b = ins[0], ins[1]
        c = ins[2] if len(ins) > 2 else None
        alpha, beta = float(at.get("alpha", 1.0)), float(at.get("beta", 1.0))
        a_t = self.tensor(self.to_perm(a, (0, 1)))
        if at.get("transA", 0):
            a_t = tf.transpose(a_t)
        if b.const:
            weight = b.data.T if at.get("transB", 0) else b.data
            y = tf.matmul(a_t, weight * alpha if alpha != 1.0 else weight)
        else:
            y = tf.matmul(a_t, self.tensor(self.to_perm(b, (0, 1))), transpose_b=bool(at.get("transB", 0)))
            if alpha != 1.0:
                y = y * alpha
        if c is not None:
            if c.const:
                y = y + (c.data * beta if beta != 1.0 else c.data)
            else:
                y = y + self.tensor(self.to_perm(c, _identity(c.rank))) * beta
        return Value(y, (0, 1))

    def op_MatMul(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        tf = self.tf
        a, b = ins
        a_t = self.tensor(self.to_perm(a, _identity(a.rank)))
        if b.const:
            if b.rank == 2 and a.rank > 2:  # (…, k) @ (k, n): a FULLY_CONNECTED keeping dims
                return Value(tf.tensordot(a_t, b.data, axes=1), _identity(a.rank))
            return Value(tf.matmul(a_t, b.data), _identity(max(a.rank, b.rank)))
        swapped = _identity(b.rank)[:-2] + (b.rank - 1, b.rank - 2)
        if b.rank >= 2 and b.perm == swapped:  # a lazily transposed operand: use adj_y
            return Value(tf.matmul(a_t, b.data, transpose_b=True), _identity(max(a.rank, b.rank)))
        b_t = self.tensor(self.to_perm(b, _identity(b.rank)))
        return Value(tf.matmul(a_t, b_t), _identity(max(a.rank, b.rank)))

    # -- pooling -----------------------------------------------------------------------
    def op_MaxPool(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        return self._pool(ins[0], at, "max")

    def op_AveragePool(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        return self._pool(ins[0], at, "avg")

    def _pool(self, x: Value, at: dict[str, Any], kind: str) -> Value:
        tf = self.tf
        if at.get("ceil_mode", 0):
            raise UntranslatableOp("pooling with ceil_mode=1")
        if x.rank != 4:
            raise UntranslatableOp("pooling on a non-4-D tensor")
        x = self.to_perm(x, NHWC)
        k = list(at["kernel_shape"])
        s = list(at.get("strides", [1, 1]))
        pads = list(at.get("pads", [0, 0, 0, 0]))
        if list(at.get("dilations", [1, 1])) != [1, 1]:
            raise UntranslatableOp("dilated pooling")
        count_pad = bool(at.get("count_include_pad", 0))
        if kind == "max":
            # mirror padding gives the max of zero-padding-free windows exactly when pad <= kernel // 2
            data, padding = self._spatial_padding(x.data, (k[0], k[1]), s, [1, 1], pads, "SYMMETRIC")
            return Value(tf.nn.max_pool2d(data, k, s, padding), NHWC)
        if count_pad:
            data, padding = self._spatial_padding(x.data, (k[0], k[1]), s, [1, 1], pads, "CONSTANT")
            if padding == "SAME":  # TF SAME excludes the pad from the count; pad explicitly instead
                data = tf.pad(x.data, [[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]])
                padding = "VALID"
            return Value(tf.nn.avg_pool2d(data, k, s, padding), NHWC)
        data, padding = self._spatial_padding(x.data, (k[0], k[1]), s, [1, 1], pads, "CONSTANT")
        y = tf.nn.avg_pool2d(data, k, s, padding)
        if padding == "VALID" and any(pads):
            # zero-padded mean times kernel area / valid pixels per window: count_include_pad=0 exactly
            h, w = int(x.data.shape[1]), int(x.data.shape[2])
            ones = np.pad(np.ones((h, w), np.float32), ((pads[0], pads[2]), (pads[1], pads[3])))
            oh, ow = int(y.shape[1]), int(y.shape[2])
            count = np.array([[ones[i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]].sum()
                               for j in range(ow)] for i in range(oh)], np.float32)
            y = y * (k[0] * k[1] / count)[None, :, :, None]
        return Value(y, NHWC)

    def op_GlobalAveragePool(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        x = self.to_perm(ins[0], NHWC)
        return Value(self.tf.reduce_mean(x.data, axis=[1, 2], keepdims=True), NHWC)

    def op_GlobalMaxPool(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        x = self.to_perm(ins[0], NHWC)
        return Value(self.tf.reduce_max(x.data, axis=[1, 2], keepdims=True), NHWC)

    def op_ReduceMean(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        x = ins[0]
        axes = at.get("axes")
        if axes is None and len(ins) > 1 and ins[1] is not None:
            axes = [int(a) for a in ins[1].data]
        axes = sorted(a % x.rank for a in (axes if axes is not None else range(x.rank)))
        keep = bool(at.get("keepdims", 1))
        y = self.tf.reduce_mean(self.tensor(x), axis=[x.perm.index(a) for a in axes], keepdims=keep)
        if keep:
            return Value(y, x.perm)
        kept = [a for a in x.perm if a not in axes]
        renum = {a: i for i, a in enumerate(sorted(kept))}
        return Value(y, tuple(renum[a] for a in kept))

    # -- normalisation --------------------------------------------------------------------
    def op_BatchNormalization(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        x, scale, bias, mean, var = ins[:5]
        if not all(v.const for v in (scale, bias, mean, var)):
            raise UntranslatableOp("BatchNormalization with non-constant statistics")
        eps = float(at.get("epsilon", 1e-5))
        k = scale.data / np.sqrt(var.data + eps)
        b = bias.data - mean.data * k
        shape = [1] * x.rank
        ch = self.axis(x, 1)
        shape[ch] = -1
        # inference BN is a per-channel scale and shift (MUL, ADD; folded into a preceding conv)
        return Value(self.tensor(x) * k.reshape(shape).astype(np.float32) + b.reshape(shape).astype(np.float32),
                     x.perm)

    def op_LayerNormalization(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        tf = self.tf
        x, scale = ins[0], ins[1]
        bias = ins[2] if len(ins) > 2 else None
        axis = int(at.get("axis", -1)) % x.rank
        eps = float(at.get("epsilon", 1e-5))
        x = self.to_perm(x, _identity(x.rank))
        axes = list(range(axis, x.rank))
        t = self.tensor(x)
        mean = tf.reduce_mean(t, axis=axes, keepdims=True)
        centered = t - mean
        var = tf.reduce_mean(tf.square(centered), axis=axes, keepdims=True)
        y = centered * tf.math.rsqrt(var + eps) * self.tensor(scale)
        if bias is not None:
            y = y + self.tensor(bias)
        return Value(y, x.perm)

    def op_Softmax(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        x = ins[0]
        axis = self.axis(x, int(at.get("axis", -1)))
        if axis != x.rank - 1:  # SOFTMAX works on the last axis: move the axis there in the layout
            order = [a for a in x.perm if a != x.perm[axis]] + [x.perm[axis]]
            x = self.to_perm(x, tuple(order))
            axis = x.rank - 1
        return Value(self.tf.nn.softmax(self.tensor(x), axis=-1), x.perm)

    # -- data movement ----------------------------------------------------------------------
    def op_Concat(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        vs, perm = self.common([v for v in ins if v is not None])
        axis = perm.index(int(at["axis"]) % len(perm))
        return Value(self.tf.concat([self.tensor(v) for v in vs], axis=axis), perm)

    def op_Split(self, node: Any, ins: list[Any], at: dict[str, Any]) -> list[Value]:
        x = ins[0]
        axis = self.axis(x, int(at.get("axis", 0)))
        if len(ins) > 1 and ins[1] is not None:
            sizes = [int(s) for s in ins[1].data]
        elif "split" in at:
            sizes = [int(s) for s in at["split"]]
        else:
            n = len(node.output)
            sizes = [int(self.onnx_shape(x)[x.perm[axis]]) // n] * n
        parts = self.tf.split(self.tensor(x), sizes, axis=axis)
        return [Value(p, x.perm) for p in parts]

    def op_Transpose(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        x = ins[0]
        p = tuple(at.get("perm", tuple(reversed(range(x.rank)))))
        pinv = _inverse(p)
        if x.const:
            return Value(np.transpose(x.data, p), _identity(x.rank), const=True)
        # no TF op: only the layout bookkeeping changes (materialised when a consumer needs it)
        return Value(x.data, tuple(pinv[q] for q in x.perm))

    def op_Reshape(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        x, shape = ins
        if not shape.const:
            raise UntranslatableOp("Reshape with a non-constant shape")
        src = self.onnx_shape(x)
        target = [int(d) for d in shape.data]
        for i, d in enumerate(target):
            if d == 0 and not at.get("allowzero", 0):
                target[i] = src[i]
        if -1 in target:
            known = int(np.prod([d for d in target if d != -1]))
            target[target.index(-1)] = int(np.prod(src)) // known
        return self.reshape(x, tuple(target))

    def op_Flatten(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        x = ins[0]
        src = self.onnx_shape(x)
        axis = int(at.get("axis", 1)) % (x.rank + 1) if x.rank else 0
        return self.reshape(x, (int(np.prod(src[:axis])), int(np.prod(src[axis:]))))

    def op_Squeeze(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        x = ins[0]
        src = self.onnx_shape(x)
        axes = [int(a) for a in ins[1].data] if len(ins) > 1 and ins[1] is not None else [
            i for i, d in enumerate(src) if d == 1]
        axes = [a % x.rank for a in axes]
        return self.reshape(x, tuple(d for i, d in enumerate(src) if i not in axes))

    def op_Unsqueeze(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        x = ins[0]
        out = list(self.onnx_shape(x))
        rank = len(out) + len(ins[1].data)
        for a in sorted(int(a) % rank for a in ins[1].data):
            out.insert(a, 1)
        return self.reshape(x, tuple(out))

    def reshape(self, x: Value, target: tuple[int, ...]) -> Value:
        """Reshape ``x`` to ONNX shape ``target``, in its current layout when the axis groups allow."""
        if x.const:
            plain = self.to_perm(x, _identity(x.rank))
            return Value(plain.data.reshape(target), _identity(len(target)), const=True)
        src = self.onnx_shape(x)
        groups = _reshape_groups(src, target)
        perm = x.perm
        if groups is not None and not _groups_ordered(groups, perm, src):
            x = self.to_perm(x, _reorder(groups, perm, src))
            perm = x.perm
        if groups is None:
            x = self.to_perm(x, _identity(x.rank))
            out_perm = _identity(len(target))
        else:
            out_perm = _output_perm(groups, perm, src, target)
        return Value(self.tf.reshape(x.data, [target[q] for q in out_perm]), out_perm)

    def op_Pad(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        x = ins[0]
        pads = [int(p) for p in (ins[1].data if len(ins) > 1 and ins[1] is not None else at.get("pads"))]
        if len(ins) > 3 and ins[3] is not None:
            raise UntranslatableOp("Pad with an axes input")
        value = float(ins[2].data) if len(ins) > 2 and ins[2] is not None else 0.0
        mode = at.get("mode", "constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        tf_mode = {"constant": "CONSTANT", "reflect": "REFLECT"}.get(mode)
        if tf_mode is None:
            raise UntranslatableOp(f"Pad mode {mode!r} (constant and reflect are translated)")
        r = x.rank
        paddings = [[pads[a], pads[r + a]] for a in x.perm]
        return Value(self.tf.pad(self.tensor(x), paddings, mode=tf_mode, constant_values=value), x.perm)

    def op_Resize(self, node: Any, ins: list[Any], at: dict[str, Any]) -> Value:
        tf = self.tf
        x = self.to_perm(ins[0], NHWC)
        src = self.onnx_shape(x)
        if len(ins) > 3 and ins[3] is not None and ins[3].data.size:
            size = [int(s) for s in ins[3].data[2:]]
        elif len(ins) > 2 and ins[2] is not None and ins[2].data.size:
            scales = [float(s) for s in ins[2].data]
            if scales[:2] != [1.0, 1.0]:
                raise UntranslatableOp("Resize over batch or channel axes")
            size = [int(np.floor(src[2] * scales[2])), int(np.floor(src[3] * scales[3]))]
        else:
            raise UntranslatableOp("Resize without scales or sizes")
        mode = at.get("mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        ctm = at.get("coordinate_transformation_mode", b"half_pixel")
        ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
        nearest = at.get("nearest_mode", b"round_prefer_floor")
        nearest = nearest.decode() if isinstance(nearest, bytes) else nearest
        if mode == "nearest" and ctm == "asymmetric" and nearest == "floor":
            y = tf.raw_ops.ResizeNearestNeighbor(images=x.data, size=size, align_corners=False,
                                                 half_pixel_centers=False)
        elif mode == "linear" and ctm in ("half_pixel", "pytorch_half_pixel") and min(size) > 1:
            y = tf.raw_ops.ResizeBilinear(images=x.data, size=size, align_corners=False, half_pixel_centers=True)
        elif mode == "linear" and ctm == "align_corners":
            y = tf.raw_ops.ResizeBilinear(images=x.data, size=size, align_corners=True, half_pixel_centers=False)
        elif mode == "linear" and ctm == "asymmetric":
            y = tf.raw_ops.ResizeBilinear(images=x.data, size=size, align_corners=False, half_pixel_centers=False)
        else:
            raise UntranslatableOp(f"Resize mode={mode} coordinate_transformation_mode={ctm} nearest_mode={nearest}")
        return Value(y, NHWC)


def _reshape_groups(src: tuple[int, ...], dst: tuple[int, ...]) -> list[tuple[list[int], list[int]]] | None:
    """Pair contiguous runs of non-1 source axes with runs of target axes of equal product."""
    si = [i for i, d in enumerate(src) if d != 1]
    di = [i for i, d in enumerate(dst) if d != 1]
    groups: list[tuple[list[int], list[int]]] = []
    i = j = 0
    while i < len(si) and j < len(di):
        ga, gb = [si[i]], [di[j]]
        pa, pb = src[si[i]], dst[di[j]]
        i += 1
        j += 1
        while pa != pb:
            if pa < pb:
                if i >= len(si):
                    return None
                pa *= src[si[i]]
                ga.append(si[i])
                i += 1
            else:
                if j >= len(di):
                    return None
                pb *= dst[di[j]]
                gb.append(di[j])
                j += 1
        groups.append((ga, gb))
    if i != len(si) or j != len(di):
        return None
    return groups


def _nonunit_order(perm: tuple[int, ...], src: tuple[int, ...]) -> list[int]:
    return [a for a in perm if src[a] != 1]


def _groups_ordered(groups: list[tuple[list[int], list[int]]], perm: tuple[int, ...], src: tuple[int, ...]) -> bool:
    """Whether each group's source axes sit together, in ONNX order, in the memory order of ``perm``."""
    order = _nonunit_order(perm, src)
    for ga, _ in groups:
        start = order.index(ga[0])
        if order[start:start + len(ga)] != ga:
            return False
    return True


def _reorder(groups: list[tuple[list[int], list[int]]], perm: tuple[int, ...], src: tuple[int, ...]) -> tuple[int, ...]:
    """The layout closest to ``perm`` in which every group is contiguous and ordered."""
    order = _nonunit_order(perm, src)
    owner = {a: k for k, (ga, _) in enumerate(groups) for a in ga}
    out: list[int] = []
    seen: set[int] = set()
    for a in order:
        k = owner[a]
        if k not in seen:
            seen.add(k)
            out.extend(groups[k][0])
    return _with_units(out, src)


def _output_perm(groups: list[tuple[list[int], list[int]]], perm: tuple[int, ...], src: tuple[int, ...],
                 dst: tuple[int, ...]) -> tuple[int, ...]:
    """Layout of the reshaped tensor: the groups' target axes in the memory order of the source."""
    owner = {a: k for k, (ga, _) in enumerate(groups) for a in ga}
    out: list[int] = []
    seen: set[int] = set()
    for a in _nonunit_order(perm, src):
        k = owner[a]
        if k not in seen:
            seen.add(k)
            out.extend(groups[k][1])
    return _with_units(out, dst)


def _with_units(order: list[int], shape: tuple[int, ...]) -> tuple[int, ...]:
    """Insert the size-1 axes of ``shape`` into ``order``, each after its nearest lower axis."""
    out = list(order)
    for a in range(len(shape)):
        if shape[a] != 1:
            continue
        lower = [i for i, b in enumerate(out) if b < a]
        out.insert(max(lower) + 1 if lower else 0, a)
    return tuple(out)


OnnxToTf.SUPPORTED = tuple(sorted(name[3:] for name in dir(OnnxToTf) if name.startswith("op_")))
