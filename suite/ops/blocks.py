"""Blocks of mobile, residual and transformer networks, and the tracer they are written against.

Every block is one plain function (``build_mbv2(cg, x, ...)``) over a :class:`CostedGraph`.
The same function gives the analytic cost (``CostedGraph()`` with no graph: shapes and
arithmetic only, fast enough for large sweeps) and the ONNX graph (``CostedGraph(g)``), so
a block's cost and its graph cannot drift apart. Whole networks (``networks.py``) are
compositions of these functions.

Convolutions in blocks carry a bias: batch norm folded into the conv, as exported inference
graphs have it. Cost conventions are those of :mod:`suite.ops.layers`
(:data:`~suite.ops.layers.ELEMENTWISE_FLOPS`, :func:`~suite.ops.layers.conv_cost`).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import numpy as np

from suite.ops.catalogue import ACTIVATION_FLOPS, OpSpec, Param, ParamError, register_op
from suite.ops.layers import (
    ELEMENTWISE_FLOPS,
    NORM_EPSILON,
    channel_shuffle,
    conv_cost,
    conv_out,
    fc_cost,
    feature_activation,
)


class Tensor(NamedTuple):
    """A tensor as the tracer sees it: its graph name (``""`` when only counting) and shape."""

    name: str
    shape: tuple[int, ...]

    @property
    def elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


class CostedGraph:
    """Adds layers to an optional :class:`~suite.models.graph.GraphBuilder` and sums their cost.

    ``macs``, ``extra_flops`` and ``param_count`` follow :meth:`OpSpec.cost_parts`. With
    ``g=None`` nothing is built: each call only computes the output shape and adds its cost.
    """

    def __init__(self, g: Any = None) -> None:
        self.g = g
        self.macs = 0
        self.extra_flops = 0
        self.param_count = 0

    def _add(self, macs: int, extra: int, params: int) -> None:
        self.macs += macs
        self.extra_flops += extra
        self.param_count += params

    def _emit(self, build: Any) -> str:
        """Run ``build()`` (which adds nodes) only when there is a graph."""
        return build() if self.g is not None else ""

    # -- convolutions and linear layers ----------------------------------------------
    def conv(self, x: Tensor, cout: int, kernel: int, stride: int = 1, groups: int = 1,
             act: str = "none", bias: bool = True) -> Tensor:
        """Square conv with 'same' padding (odd kernels), bias and fused activation."""
        n, cin, h, _ = x.shape
        pad = (kernel - 1) // 2
        hw = conv_out(h, kernel, stride, 1, pad)
        self._add(*conv_cost(n, cin, cout, hw, kernel, groups, bias, act)[:3])

        def build() -> str:
            y = self.g.conv(x.name, cin, cout, kernel, stride, 1, groups, pad, bias=bias)
            return self.g.activation(y, act, cout)

        return Tensor(self._emit(build), (n, cout, hw, hw))

    def dwconv(self, x: Tensor, kernel: int, stride: int = 1, act: str = "none") -> Tensor:
        """Depthwise conv (``groups = channels``)."""
        return self.conv(x, x.shape[1], kernel, stride, groups=x.shape[1], act=act)

    def gemm(self, x: Tensor, cout: int, act: str = "none") -> Tensor:
        """Fully connected on ``(rows, cin)`` (``Gemm``, bias, fused activation)."""
        rows, cin = x.shape
        self._add(*fc_cost(rows, cin, cout, True, act)[:3])
        name = self._emit(lambda: feature_activation(self.g, self.g.gemm(x.name, cin, cout), act, cout))
        return Tensor(name, (rows, cout))

    def linear(self, x: Tensor, cout: int) -> Tensor:
        """Linear layer on the last axis (``MatMul`` + bias ``Add``), as transformers export it."""
        *lead, cin = x.shape
        rows = 1
        for d in lead:
            rows *= d
        self._add(*fc_cost(rows, cin, cout, True)[:3])
        return Tensor(self._emit(lambda: self.g.linear(x.name, cin, cout)), (*lead, cout))

    def matmul(self, a: Tensor, b: Tensor) -> Tensor:
        """Activation × activation ``MatMul`` of ``(..., m, k) @ (..., k, n)`` (same leading dims)."""
        shape = (*a.shape[:-1], b.shape[-1])
        out = Tensor("", shape).elements
        self._add(out * a.shape[-1], 0, 0)
        return Tensor(self._emit(lambda: self.g.node("MatMul", [a.name, b.name])), shape)

    # -- elementwise, pooling, normalisation ---------------------------------------
    def act(self, x: Tensor, kind: str) -> Tensor:
        """Standalone activation."""
        self._add(0, ACTIVATION_FLOPS[kind] * x.elements, x.shape[1] if kind == "prelu" else 0)
        return Tensor(self._emit(lambda: self.g.activation(x.name, kind, x.shape[1])), x.shape)

    def add(self, a: Tensor, b: Tensor) -> Tensor:
        """Elementwise sum (residual)."""
        self._add(0, ELEMENTWISE_FLOPS["add"] * a.elements, 0)
        return Tensor(self._emit(lambda: self.g.node("Add", [a.name, b.name])), a.shape)

    def mul(self, x: Tensor, gate: Tensor) -> Tensor:
        """``x * gate`` with ``gate`` broadcast to ``x`` (channel gating)."""
        self._add(0, ELEMENTWISE_FLOPS["mul"] * x.elements, 0)
        return Tensor(self._emit(lambda: self.g.node("Mul", [x.name, gate.name])), x.shape)

    def scale(self, x: Tensor, value: float) -> Tensor:
        """Multiply by a scalar constant."""
        self._add(0, ELEMENTWISE_FLOPS["scale"] * x.elements, 0)
        return Tensor(self._emit(lambda: self.g.node("Mul", [x.name, self.g.const(value, "scale")])), x.shape)

    def global_avgpool(self, x: Tensor) -> Tensor:
        """``GlobalAveragePool`` to ``(n, c, 1, 1)``."""
        self._add(0, x.elements, 0)
        return Tensor(self._emit(lambda: self.g.node("GlobalAveragePool", [x.name])), (*x.shape[:2], 1, 1))

    def maxpool(self, x: Tensor, kernel: int, stride: int, pad: int) -> Tensor:
        """``MaxPool`` (``kernel**2`` FLOPs per output element)."""
        n, c, h, _ = x.shape
        hw = conv_out(h, kernel, stride, 1, pad)
        self._add(0, n * c * hw * hw * kernel * kernel, 0)
        name = self._emit(lambda: self.g.node("MaxPool", [x.name], kernel_shape=[kernel, kernel],
                                              strides=[stride, stride], pads=[pad] * 4))
        return Tensor(name, (n, c, hw, hw))

    def layernorm(self, x: Tensor) -> Tensor:
        """``LayerNormalization`` over the last axis."""
        width = x.shape[-1]
        self._add(0, ELEMENTWISE_FLOPS["layernorm"] * x.elements, 2 * width)
        return Tensor(self._emit(lambda: self.g.layernorm(x.name, width, NORM_EPSILON)), x.shape)

    def softmax(self, x: Tensor) -> Tensor:
        """``Softmax`` over the last axis."""
        self._add(0, ELEMENTWISE_FLOPS["softmax"] * x.elements, 0)
        return Tensor(self._emit(lambda: self.g.node("Softmax", [x.name], axis=-1)), x.shape)

    # -- data movement (zero FLOPs) ----------------------------------------------------
    def reshape(self, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        """``Reshape`` to a static shape."""
        return Tensor(self._emit(lambda: self.g.node("Reshape", [x.name, self.g.const(np.array(shape, np.int64),
                                                                                           "shape")])), shape)

    def transpose(self, x: Tensor, perm: tuple[int, ...]) -> Tensor:
        """``Transpose`` by ``perm``."""
        shape = tuple(x.shape[i] for i in perm)
        return Tensor(self._emit(lambda: self.g.node("Transpose", [x.name], perm=list(perm))), shape)

    def flatten(self, x: Tensor) -> Tensor:
        """``Flatten`` to ``(n, rest)`` (before a classifier)."""
        n = x.shape[0]
        return Tensor(self._emit(lambda: self.g.node("Flatten", [x.name], axis=1)), (n, x.elements // n))

    def split_channels(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``Split`` an NCHW tensor into two equal channel halves."""
        n, c, h, w = x.shape
        shape = (n, c // 2, h, w)
        if self.g is None:
            return Tensor("", shape), Tensor("", shape)
        sizes = self.g.const(np.array([c // 2, c // 2], np.int64), "split")
        a, b = self.g.node("Split", [x.name, sizes], n_out=2, axis=1)
        return Tensor(a, shape), Tensor(b, shape)

    def concat_channels(self, a: Tensor, b: Tensor) -> Tensor:
        """``Concat`` along channels."""
        shape = (a.shape[0], a.shape[1] + b.shape[1], *a.shape[2:])
        return Tensor(self._emit(lambda: self.g.node("Concat", [a.name, b.name], axis=1)), shape)

    def channel_shuffle(self, x: Tensor, groups: int) -> Tensor:
        """ShuffleNet channel shuffle (see :func:`suite.ops.layers.channel_shuffle`)."""
        return Tensor(self._emit(lambda: channel_shuffle(self.g, x.name, x.shape, groups)), x.shape)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of ``divisor``, never below 90% of ``value`` (MobileNet rule)."""
    min_value = min_value or divisor
    out = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if out < 0.9 * value:
        out += divisor
    return out


# -- block functions -------------------------------------------------------------------
def build_mbv1(cg: CostedGraph, x: Tensor, cout: int, stride: int = 1, act: str = "relu") -> Tensor:
    """MobileNetV1 depthwise-separable block: dw 3×3 (+bias) + act, pw 1×1 (+bias) + act."""
    return cg.conv(cg.dwconv(x, 3, stride, act), cout, 1, act=act)


def build_se(cg: CostedGraph, x: Tensor, squeeze: int, gate: str = "hard_sigmoid") -> Tensor:
    """Squeeze-excite: global avgpool, 1×1 reduce + relu, 1×1 expand + gate, channel ``Mul``.

    The two FCs are 1×1 convs on ``(n, c, 1, 1)``, as torchvision's MobileNetV3 exports them.
    """
    s = cg.global_avgpool(x)
    s = cg.conv(s, squeeze, 1, act="relu")
    s = cg.conv(s, x.shape[1], 1, act=gate)
    return cg.mul(x, s)


def build_inverted_residual(cg: CostedGraph, x: Tensor, cout: int, hidden: int, kernel: int, stride: int,
                            act: str, se_squeeze: int = 0) -> Tensor:
    """MobileNetV2/V3 inverted residual: [pw expand + act], dw + act, [SE], pw project (linear).

    The expansion conv is left out when ``hidden == cin``; the residual ``Add`` is there when
    ``stride == 1`` and ``cin == cout``; ``se_squeeze > 0`` adds an SE block after the dw conv.
    """
    cin = x.shape[1]
    h = x if hidden == cin else cg.conv(x, hidden, 1, act=act)
    h = cg.dwconv(h, kernel, stride, act)
    if se_squeeze:
        h = build_se(cg, h, se_squeeze, "hard_sigmoid")
    y = cg.conv(h, cout, 1)
    return cg.add(y, x) if stride == 1 and cin == cout else y


def mbv2_hidden(cin: int, expand: float) -> int:
    """Expanded channels of a MobileNetV2 block (torchvision: ``round(cin * t)``)."""
    return int(round(cin * expand))


def mbv3_squeeze(hidden: int) -> int:
    """Squeeze channels of MobileNetV3's SE: a quarter of the expansion, multiple of 8."""
    return make_divisible(hidden // 4, 8)


def build_resnet_basic(cg: CostedGraph, x: Tensor, cout: int, stride: int = 1) -> Tensor:
    """ResNet basic block: 3×3 (stride) + relu, 3×3, shortcut (1×1 projection if needed), add, relu."""
    y = cg.conv(cg.conv(x, cout, 3, stride, act="relu"), cout, 3)
    return cg.act(cg.add(y, _shortcut(cg, x, cout, stride)), "relu")


def build_resnet_bottleneck(cg: CostedGraph, x: Tensor, cout: int, stride: int = 1, expansion: int = 4) -> Tensor:
    """ResNet v1.5 bottleneck: 1×1 reduce + relu, 3×3 (stride) + relu, 1×1 expand, shortcut, add, relu."""
    mid = cout // expansion
    y = cg.conv(x, mid, 1, act="relu")
    y = cg.conv(y, mid, 3, stride, act="relu")
    y = cg.conv(y, cout, 1)
    return cg.act(cg.add(y, _shortcut(cg, x, cout, stride)), "relu")


def _shortcut(cg: CostedGraph, x: Tensor, cout: int, stride: int) -> Tensor:
    """Identity, or a 1×1 projection conv when the stride or the channel count changes."""
    return x if stride == 1 and x.shape[1] == cout else cg.conv(x, cout, 1, stride)


def build_shufflenetv2(cg: CostedGraph, x: Tensor, cout: int, stride: int = 1) -> Tensor:
    """ShuffleNetV2 unit. Stride 1: split channels, branch (pw, dw, pw) on one half, concat, shuffle.

    Stride 2: both branches see the whole input (dw s2 + pw; pw + dw s2 + pw), concat, shuffle.
    """
    half = cout // 2
    if stride == 1:
        keep, x = cg.split_channels(x)
    else:
        keep = cg.conv(cg.dwconv(x, 3, stride), half, 1, act="relu")
    b = cg.conv(x, half, 1, act="relu")
    b = cg.conv(cg.dwconv(b, 3, stride), half, 1, act="relu")
    return cg.channel_shuffle(cg.concat_channels(keep, b), 2)


def build_transformer(cg: CostedGraph, x: Tensor, heads: int, mlp_ratio: float) -> Tensor:
    """Pre-norm transformer encoder block on ``(batch, seq, width)``.

    ``x + MHA(LN(x))`` then ``x + MLP(LN(x))``; MHA as exported graphs have it: Q/K/V
    linears, Reshape/Transpose to heads, MatMul, scale by 1/sqrt(d_head), Softmax, MatMul,
    Transpose/Reshape back, output linear; MLP: linear, gelu, linear.
    """
    b, seq, width = x.shape
    d_head = width // heads

    def heads_of(t: Tensor, perm: tuple[int, ...]) -> Tensor:
        return cg.transpose(cg.reshape(t, (b, seq, heads, d_head)), perm)

    h = cg.layernorm(x)
    q = heads_of(cg.linear(h, width), (0, 2, 1, 3))  # (b, heads, seq, d)
    k = heads_of(cg.linear(h, width), (0, 2, 3, 1))  # (b, heads, d, seq)
    v = heads_of(cg.linear(h, width), (0, 2, 1, 3))
    attn = cg.softmax(cg.scale(cg.matmul(q, k), 1.0 / math.sqrt(d_head)))
    o = cg.reshape(cg.transpose(cg.matmul(attn, v), (0, 2, 1, 3)), (b, seq, width))
    x = cg.add(x, cg.linear(o, width))
    h = cg.linear(cg.layernorm(x), mlp_hidden(width, mlp_ratio))
    h = cg.linear(cg.act(h, "gelu"), width)
    return cg.add(x, h)


def mlp_hidden(width: int, mlp_ratio: float) -> int:
    """Hidden features of a transformer MLP."""
    return int(round(width * mlp_ratio))


# -- catalogue entries -------------------------------------------------------------------
class TracedOp(OpSpec):
    """An op whose graph and cost both come from :meth:`trace` over a :class:`CostedGraph`."""

    kind = "block"

    def trace(self, cg: CostedGraph, xs: list[Tensor], p: dict[str, Any]) -> list[Tensor]:
        """Add the op to ``cg`` reading ``xs``; return its outputs."""
        raise NotImplementedError

    def cost_parts(self, p: dict[str, Any]) -> tuple[int, int, int, int]:
        # memoised: a sweep asks once per dtype for the same parameters
        return _traced_cost(self, tuple(p.items()))

    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        cg = CostedGraph(g)
        outs = self.trace(cg, [Tensor(n, s) for n, s in zip(inputs, self.input_shapes(p), strict=True)], p)
        return [o.name for o in outs]


@functools.lru_cache(maxsize=4096)
def _traced_cost(op: TracedOp, items: tuple[tuple[str, Any], ...]) -> tuple[int, int, int, int]:
    """Cost of ``op`` at parameters ``items`` by tracing it without a graph (10-30 µs a block)."""
    p = dict(items)
    cg = CostedGraph()
    outs = op.trace(cg, [Tensor("", s) for s in op.input_shapes(p)], p)
    return cg.macs, cg.extra_flops, cg.param_count, sum(o.elements for o in outs)


def _block_params(cin: int, cout: int, resolution: int) -> tuple[Param, ...]:
    return (
        Param("cin", int, cin, minimum=1, doc="input channels"),
        Param("cout", int, cout, minimum=1, doc="output channels"),
        Param("stride", int, 1, choices=(1, 2)),
        Param("resolution", int, resolution, minimum=1, doc="input height = width"),
        Param("batch", int, 1, minimum=1),
    )


def _check_odd_kernel(p: dict[str, Any]) -> None:
    if p["kernel"] % 2 == 0:
        raise ParamError("kernel", p["kernel"], "an odd integer (blocks use 'same' padding)", "even kernel")


class _ImageBlock(TracedOp):
    """A block on one NCHW input of ``cin`` channels."""

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [(p["batch"], p["cin"], p["resolution"], p["resolution"])]


@register_op
class Mbv1Block(_ImageBlock):
    """MobileNetV1 depthwise-separable block (dw 3×3 + relu, pw 1×1 + relu; BN folded)."""

    name = "mbv1_block"
    params = _block_params(32, 64, 56)

    def trace(self, cg: CostedGraph, xs: list[Tensor], p: dict[str, Any]) -> list[Tensor]:
        return [build_mbv1(cg, xs[0], p["cout"], p["stride"])]


@register_op
class Mbv2Block(_ImageBlock):
    """MobileNetV2 inverted residual (relu6; residual when stride 1 and cin == cout)."""

    name = "mbv2_block"
    params = (
        *_block_params(32, 32, 56),
        Param("expand", float, 6.0, minimum=1.0, doc="expansion ratio t"),
        Param("kernel", int, 3, minimum=1),
    )

    def check(self, p: dict[str, Any]) -> None:
        _check_odd_kernel(p)

    def trace(self, cg: CostedGraph, xs: list[Tensor], p: dict[str, Any]) -> list[Tensor]:
        hidden = mbv2_hidden(p["cin"], p["expand"])
        return [build_inverted_residual(cg, xs[0], p["cout"], hidden, p["kernel"], p["stride"], "relu6")]


@register_op
class Mbv3Block(_ImageBlock):
    """MobileNetV3 bottleneck: expansion, dw conv, optional SE (hard_sigmoid gate), projection."""

    name = "mbv3_block"
    params = (
        *_block_params(40, 40, 28),
        Param("expand", float, 3.0, minimum=1.0, doc="expansion ratio"),
        Param("kernel", int, 5, minimum=1),
        Param("se", bool, True, doc="squeeze-excite after the depthwise conv"),
        Param("activation", str, "hard_swish", choices=("hard_swish", "relu")),
    )

    def check(self, p: dict[str, Any]) -> None:
        _check_odd_kernel(p)

    def trace(self, cg: CostedGraph, xs: list[Tensor], p: dict[str, Any]) -> list[Tensor]:
        hidden = mbv2_hidden(p["cin"], p["expand"])
        squeeze = mbv3_squeeze(hidden) if p["se"] else 0
        return [build_inverted_residual(cg, xs[0], p["cout"], hidden, p["kernel"], p["stride"], p["activation"],
                                        squeeze)]


@register_op
class SeBlock(TracedOp):
    """Squeeze-excite on its own: ``channels // ratio`` squeeze channels, sigmoid-like gate."""

    name = "se_block"
    params = (
        Param("channels", int, 64, minimum=1),
        Param("ratio", int, 4, minimum=1, doc="channel reduction of the squeeze"),
        Param("gate", str, "hard_sigmoid", choices=("hard_sigmoid", "sigmoid")),
        Param("resolution", int, 28, minimum=1, doc="input height = width"),
        Param("batch", int, 1, minimum=1),
    )

    def check(self, p: dict[str, Any]) -> None:
        if p["ratio"] > p["channels"]:
            raise ParamError("ratio", p["ratio"], f"<= channels={p['channels']}", "squeeze to zero channels")

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [(p["batch"], p["channels"], p["resolution"], p["resolution"])]

    def trace(self, cg: CostedGraph, xs: list[Tensor], p: dict[str, Any]) -> list[Tensor]:
        return [build_se(cg, xs[0], p["channels"] // p["ratio"], p["gate"])]


@register_op
class ResnetBasic(_ImageBlock):
    """ResNet basic block (two 3×3 convs; 1×1 projection shortcut when stride > 1 or cin != cout)."""

    name = "resnet_basic"
    params = _block_params(64, 64, 56)

    def trace(self, cg: CostedGraph, xs: list[Tensor], p: dict[str, Any]) -> list[Tensor]:
        return [build_resnet_basic(cg, xs[0], p["cout"], p["stride"])]


@register_op
class ResnetBottleneck(_ImageBlock):
    """ResNet bottleneck (1×1, 3×3 with the stride, 1×1; ``cout / 4`` middle channels)."""

    name = "resnet_bottleneck"
    params = _block_params(256, 256, 56)

    def check(self, p: dict[str, Any]) -> None:
        if p["cout"] % 4:
            raise ParamError("cout", p["cout"], "a multiple of 4 (expansion 4)", "cout not divisible by 4")

    def trace(self, cg: CostedGraph, xs: list[Tensor], p: dict[str, Any]) -> list[Tensor]:
        return [build_resnet_bottleneck(cg, xs[0], p["cout"], p["stride"])]


@register_op
class ShuffleNetV2Unit(_ImageBlock):
    """ShuffleNetV2 unit (stride 1: channel split; stride 2: two branches, channels double)."""

    name = "shufflenetv2_unit"
    params = _block_params(116, 116, 28)

    def check(self, p: dict[str, Any]) -> None:
        if p["cout"] % 2:
            raise ParamError("cout", p["cout"], "an even number", "ShuffleNetV2 splits channels in halves")
        if p["stride"] == 1 and p["cin"] != p["cout"]:
            raise ParamError("cout", p["cout"], f"== cin={p['cin']} when stride is 1",
                             "stride-1 unit keeps the channel count")

    def trace(self, cg: CostedGraph, xs: list[Tensor], p: dict[str, Any]) -> list[Tensor]:
        return [build_shufflenetv2(cg, xs[0], p["cout"], p["stride"])]


@register_op
class TransformerBlock(TracedOp):
    """Pre-norm transformer encoder block (MHA + gelu MLP) on ``(batch, seq_len, width)``."""

    name = "transformer_block"
    params = (
        Param("seq_len", int, 128, minimum=1),
        Param("width", int, 192, minimum=1, doc="model dimension"),
        Param("heads", int, 3, minimum=1),
        Param("mlp_ratio", float, 4.0, minimum=0.01),
        Param("batch", int, 1, minimum=1),
    )

    def check(self, p: dict[str, Any]) -> None:
        if p["width"] % p["heads"]:
            raise ParamError("heads", p["heads"], f"a divisor of width={p['width']}", "heads must divide width")
        if mlp_hidden(p["width"], p["mlp_ratio"]) < 1:
            raise ParamError("mlp_ratio", p["mlp_ratio"], f">= {0.5 / p['width']:.3g} (at least one hidden unit)",
                             "empty MLP")

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [(p["batch"], p["seq_len"], p["width"])]

    def trace(self, cg: CostedGraph, xs: list[Tensor], p: dict[str, Any]) -> list[Tensor]:
        return [build_transformer(cg, xs[0], p["heads"], p["mlp_ratio"])]
