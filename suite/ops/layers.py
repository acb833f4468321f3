"""Single layers: convolutions, fully connected, pooling, elementwise, norms, resize, pad.

Cost conventions of the whole catalogue (blocks and networks reuse these functions):

* ``macs``: multiply-accumulates of Conv, Gemm and MatMul only.
* ``flops = 2 * macs + extra``; ``extra`` is the per-element work in
  :data:`ELEMENTWISE_FLOPS` and :data:`~suite.ops.catalogue.ACTIVATION_FLOPS`.
* ``param_count``: elements of the learned tensors (``GraphBuilder.weight``: conv/FC
  weights and biases, norm scales/shifts, BN mean and variance, PReLU slopes). Constants
  (int64 shapes and pads, float32 resize scales, scalar activation constants) are not
  parameters (:meth:`suite.models.graph.GraphBuilder.param_count`).
* output elements: of the op's graph outputs, batch included.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from suite.ops.catalogue import (
    ACTIVATION_FLOPS,
    ACTIVATIONS,
    OpSpec,
    Param,
    ParamColumns,
    ParamError,
    register_op,
)

#: FLOPs per output element of the non-MAC work of each layer kind: the cost model's
#: conventions, in one place. Pools count ``kernel**2`` per output element (compares or
#: adds plus the divide), a global average pool one per input element; data movement
#: (concat, shuffle, reshape, transpose, pad, nearest resize) counts zero.
ELEMENTWISE_FLOPS: dict[str, int] = {
    "bias": 1,  # one add per output element
    "add": 1,
    "mul": 1,
    "scale": 1,  # multiply by a constant (attention's 1/sqrt(d))
    "batchnorm": 2,  # inference BN is a per-channel scale and shift
    "layernorm": 8,  # mean, subtract, square, variance, rsqrt (amortised), normalise, scale, shift
    "softmax": 5,  # max, subtract, exp, sum, divide
    "bilinear": 7,  # 4 weighted taps: 4 multiplies + 3 adds
}


def conv_out(size: int, kernel: int, stride: int, dilation: int, pad: int) -> int:
    """Output spatial size of a convolution/pooling window."""
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def resolve_padding(padding: str, kernel: int, dilation: int) -> int:
    """Symmetric padding in pixels for ``same``/``valid`` or an explicit integer string."""
    if padding == "same":
        return dilation * (kernel - 1) // 2
    if padding == "valid":
        return 0
    return int(padding)


def check_window(p: dict[str, Any], kernel: int, dilation: int = 1, pad: int = 0) -> None:
    """Reject windows larger than the input, the classic sweep mistake.

    The (dilated) window must fit the unpadded input: padding can make a larger window
    computable, but such a point measures mostly padding, not the layer.
    """
    extent = dilation * (kernel - 1) + 1
    if extent > p["resolution"]:
        raise ParamError("kernel", kernel, f"a window (dilation*(kernel-1)+1 = {extent}) <= input size "
                         f"{p['resolution']}", "kernel larger than input")


PADDING_DOC = "same | valid | a non-negative integer (pixels on each side)"


def _check_padding(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ParamError("padding", value, PADDING_DOC, "out of range")
        return str(value)
    if value in ("same", "valid") or (isinstance(value, str) and value.isdigit()):
        return value
    raise ParamError("padding", value, PADDING_DOC)


def conv_cost(batch: int, cin: int, cout: int, out_hw: int, kernel: int, groups: int = 1, bias: bool = True,
              activation: str = "none") -> tuple[int, int, int, int]:
    """``(macs, extra_flops, param_count, output_elements)`` of a square-kernel 2-D convolution.

    MACs are ``output_elements * (cin / groups) * kernel**2``; extra FLOPs are the bias add
    and the fused activation per output element; parameters are weights, bias and a PReLU slope.
    """
    out = batch * cout * out_hw * out_hw
    per_out = (cin // groups) * kernel * kernel
    extra = ACTIVATION_FLOPS[activation] * out + (ELEMENTWISE_FLOPS["bias"] * out if bias else 0)
    n_params = cout * per_out + (cout if bias else 0) + (cout if activation == "prelu" else 0)
    return out * per_out, extra, n_params, out


def fc_cost(rows: int, cin: int, cout: int, bias: bool = True, activation: str = "none") -> tuple[int, int, int, int]:
    """``(macs, extra_flops, param_count, output_elements)`` of ``rows`` vectors times a ``cin x cout`` weight."""
    out = rows * cout
    extra = ACTIVATION_FLOPS[activation] * out + (ELEMENTWISE_FLOPS["bias"] * out if bias else 0)
    n_params = cin * cout + (cout if bias else 0) + (cout if activation == "prelu" else 0)
    return rows * cin * cout, extra, n_params, out


def conv_cost_columns(c: ParamColumns, cin: Any, cout: Any, groups: Any, out_hw: Any) -> tuple[Any, Any, Any, Any, Any]:
    """:func:`conv_cost` over columns (:meth:`OpSpec.cost_columns`), with the NCHW input elements."""
    batch, kernel, bias = c["batch"], c["kernel"], c["bias"]
    out = batch * cout * out_hw * out_hw
    per_out = (cin // groups) * kernel * kernel
    act = c.map("activation", ACTIVATION_FLOPS.__getitem__)
    prelu = c.map("activation", lambda a: a == "prelu")
    extra = act * out + np.where(bias, ELEMENTWISE_FLOPS["bias"] * out, 0)
    n_params = cout * per_out + np.where(bias, cout, 0) + np.where(prelu, cout, 0)
    return out * per_out, extra, n_params, out, batch * cin * c["resolution"] * c["resolution"]


def fc_cost_columns(c: ParamColumns, rows: Any, cin: Any, cout: Any, bias: Any, activation: str | None
                    ) -> tuple[Any, Any, Any, Any, Any]:
    """:func:`fc_cost` over columns (``activation``: the parameter holding it, ``None`` for none),
    with the input elements ``rows * cin``."""
    out = rows * cout
    act = c.map(activation, ACTIVATION_FLOPS.__getitem__) if activation else 0
    prelu = c.map(activation, lambda a: a == "prelu") if activation else False
    extra = act * out + np.where(bias, ELEMENTWISE_FLOPS["bias"] * out, 0)
    n_params = cin * cout + np.where(bias, cout, 0) + np.where(prelu, cout, 0)
    return rows * cin * cout, extra, n_params, out, rows * cin


def window_columns(c: ParamColumns) -> tuple[Any, Any]:
    """``(pad, fits)`` of a dilated window over columns: :func:`resolve_padding` and
    :func:`check_window`'s condition (the window fits the unpadded input)."""
    kernel, dilation = c["kernel"], c["dilation"]
    same = c.map("padding", lambda v: v == "same")
    explicit = c.map("padding", lambda v: 0 if v in ("same", "valid") else int(v))
    pad = np.where(same, dilation * (kernel - 1) // 2, explicit)
    return pad, dilation * (kernel - 1) + 1 <= c["resolution"]


def conv_out_columns(c: ParamColumns, pad: Any) -> Any:
    """:func:`conv_out` over columns."""
    return (c["resolution"] + 2 * pad - c["dilation"] * (c["kernel"] - 1) - 1) // c["stride"] + 1


class PaddingParam(Param):
    """``padding`` accepts words or pixel counts; stored as a string for a stable id."""

    def coerce(self, value: Any) -> Any:
        return _check_padding(value)


@register_op
class Conv2d(OpSpec):
    """2-D convolution (NCHW, square kernel), optional bias and fused activation."""

    name = "conv2d"
    params = (
        Param("cin", int, minimum=1, doc="input channels"),
        Param("cout", int, minimum=1, doc="output channels"),
        Param("kernel", int, 3, minimum=1),
        Param("stride", int, 1, minimum=1),
        Param("dilation", int, 1, minimum=1),
        Param("groups", int, 1, minimum=1),
        PaddingParam("padding", str, "same", doc=PADDING_DOC),
        Param("resolution", int, 56, minimum=1, doc="input height = width"),
        Param("batch", int, 1, minimum=1),
        Param("bias", bool, True),
        Param("activation", str, "none", choices=ACTIVATIONS, doc="fused activation"),
    )

    def check(self, p: dict[str, Any]) -> None:
        for ch in ("cin", "cout"):
            if p[ch] % p["groups"]:
                raise ParamError("groups", p["groups"], f"a divisor of {ch}={p[ch]}", "groups must divide channels")
        check_window(p, p["kernel"], p["dilation"], resolve_padding(p["padding"], p["kernel"], p["dilation"]))

    def out_hw(self, p: dict[str, Any]) -> int:
        pad = resolve_padding(p["padding"], p["kernel"], p["dilation"])
        return conv_out(p["resolution"], p["kernel"], p["stride"], p["dilation"], pad)

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [(p["batch"], p["cin"], p["resolution"], p["resolution"])]

    def cost_parts(self, p: dict[str, Any]) -> tuple[int, int, int, int]:
        return conv_cost(p["batch"], p["cin"], p["cout"], self.out_hw(p), p["kernel"], p["groups"], p["bias"],
                         p["activation"])

    def check_columns(self, c: ParamColumns) -> Any:
        groups = c["groups"]
        return (c["cin"] % groups == 0) & (c["cout"] % groups == 0) & window_columns(c)[1]

    def cost_columns(self, c: ParamColumns) -> tuple[Any, Any, Any, Any, Any]:
        out_hw = conv_out_columns(c, window_columns(c)[0])
        return conv_cost_columns(c, c["cin"], c["cout"], c["groups"], out_hw)

    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        pad = resolve_padding(p["padding"], p["kernel"], p["dilation"])
        y = g.conv(inputs[0], p["cin"], p["cout"], p["kernel"], p["stride"], p["dilation"], p["groups"],
                   pad, bias=p["bias"])
        return [g.activation(y, p["activation"], p["cout"])]


def image_params(channels: int = 32, resolution: int = 56) -> tuple[Param, ...]:
    """The ``channels``, ``resolution`` and ``batch`` parameters of an NCHW op, with defaults."""
    return (
        Param("channels", int, channels, minimum=1),
        Param("resolution", int, resolution, minimum=1, doc="input height = width"),
        Param("batch", int, 1, minimum=1),
    )


def image_shape(p: dict[str, Any], channels: int | None = None) -> tuple[int, int, int, int]:
    """NCHW shape from ``batch``, ``channels`` (or the given count) and ``resolution``."""
    c = p["channels"] if channels is None else channels
    return (p["batch"], c, p["resolution"], p["resolution"])


def feature_activation(g: Any, x: str, kind: str, features: int) -> str:
    """A fused activation on a tensor whose last axis holds ``features`` (FC/MatMul outputs).

    Differs from :meth:`GraphBuilder.activation` only for PReLU, whose slope must have
    shape ``(features,)`` to broadcast along the last axis instead of ``(C, 1, 1)``.
    """
    if kind == "prelu":
        return g.node("PRelu", [x, g.weight("prelu_slope", (features,), init="small")])
    return g.activation(x, kind)


def _elements(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


@register_op
class DwConv2d(OpSpec):
    """Depthwise 2-D convolution (``groups = channels``), optional bias and fused activation."""

    name = "dwconv2d"
    params = (
        Param("kernel", int, 3, minimum=1),
        Param("stride", int, 1, minimum=1),
        Param("dilation", int, 1, minimum=1),
        PaddingParam("padding", str, "same", doc=PADDING_DOC),
        *image_params(32, 56),
        Param("bias", bool, True),
        Param("activation", str, "none", choices=ACTIVATIONS, doc="fused activation"),
    )

    def check(self, p: dict[str, Any]) -> None:
        check_window(p, p["kernel"], p["dilation"], resolve_padding(p["padding"], p["kernel"], p["dilation"]))

    def out_hw(self, p: dict[str, Any]) -> int:
        pad = resolve_padding(p["padding"], p["kernel"], p["dilation"])
        return conv_out(p["resolution"], p["kernel"], p["stride"], p["dilation"], pad)

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [image_shape(p)]

    def cost_parts(self, p: dict[str, Any]) -> tuple[int, int, int, int]:
        c = p["channels"]
        return conv_cost(p["batch"], c, c, self.out_hw(p), p["kernel"], c, p["bias"], p["activation"])

    def check_columns(self, c: ParamColumns) -> Any:
        return window_columns(c)[1]

    def cost_columns(self, c: ParamColumns) -> tuple[Any, Any, Any, Any, Any]:
        channels = c["channels"]
        return conv_cost_columns(c, channels, channels, channels, conv_out_columns(c, window_columns(c)[0]))

    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        c = p["channels"]
        pad = resolve_padding(p["padding"], p["kernel"], p["dilation"])
        y = g.conv(inputs[0], c, c, p["kernel"], p["stride"], p["dilation"], c, pad, bias=p["bias"])
        return [g.activation(y, p["activation"], c)]


@register_op
class FullyConnected(OpSpec):
    """Fully connected layer on a ``(batch, cin)`` input: ``Gemm`` with ``transB=1`` as exporters emit.

    The weight is stored ``(cout, cin)`` (PyTorch layout); the bias is the Gemm's ``C`` input.
    """

    name = "fc"
    params = (
        Param("cin", int, minimum=1, doc="input features"),
        Param("cout", int, minimum=1, doc="output features"),
        Param("batch", int, 1, minimum=1),
        Param("bias", bool, True),
        Param("activation", str, "none", choices=ACTIVATIONS, doc="fused activation"),
    )

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [(p["batch"], p["cin"])]

    def cost_parts(self, p: dict[str, Any]) -> tuple[int, int, int, int]:
        return fc_cost(p["batch"], p["cin"], p["cout"], p["bias"], p["activation"])

    def cost_columns(self, c: ParamColumns) -> tuple[Any, Any, Any, Any, Any]:
        return fc_cost_columns(c, c["batch"], c["cin"], c["cout"], c["bias"], "activation")

    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        y = g.gemm(inputs[0], p["cin"], p["cout"], bias=p["bias"])
        return [feature_activation(g, y, p["activation"], p["cout"])]


@register_op
class MatMul(OpSpec):
    """``(batch, rows, depth) @ (depth, cols)``: an activation times a weight matrix (``MatMul`` node, no bias)."""

    name = "matmul"
    params = (
        Param("rows", int, 128, minimum=1, doc="rows of the input (M)"),
        Param("depth", int, 128, minimum=1, doc="inner dimension (K)"),
        Param("cols", int, 128, minimum=1, doc="columns of the weight (N)"),
        Param("batch", int, 1, minimum=1),
    )

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [(p["batch"], p["rows"], p["depth"])]

    def cost_parts(self, p: dict[str, Any]) -> tuple[int, int, int, int]:
        return fc_cost(p["batch"] * p["rows"], p["depth"], p["cols"], bias=False)

    def cost_columns(self, c: ParamColumns) -> tuple[Any, Any, Any, Any, Any]:
        return fc_cost_columns(c, c["batch"] * c["rows"], c["depth"], c["cols"], False, None)

    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        w = g.weight("matmul_w", (p["depth"], p["cols"]), fan_in=p["depth"])
        return [g.node("MatMul", [inputs[0], w], name="matmul")]


class _Pool(OpSpec):
    """Shared parameters, checks and cost of the windowed pools (``kernel**2`` FLOPs per output)."""

    onnx_op: str = ""
    params = (
        Param("kernel", int, 2, minimum=1),
        Param("stride", int, 2, minimum=1),
        Param("padding", int, 0, minimum=0, doc="pixels on each side"),
        *image_params(32, 56),
    )

    def check(self, p: dict[str, Any]) -> None:
        if p["padding"] > p["kernel"] // 2:
            raise ParamError("padding", p["padding"], f"<= kernel // 2 = {p['kernel'] // 2}",
                             "pool padding larger than half the kernel")
        check_window(p, p["kernel"], 1, p["padding"])

    def out_hw(self, p: dict[str, Any]) -> int:
        return conv_out(p["resolution"], p["kernel"], p["stride"], 1, p["padding"])

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [image_shape(p)]

    def cost_parts(self, p: dict[str, Any]) -> tuple[int, int, int, int]:
        out = p["batch"] * p["channels"] * self.out_hw(p) ** 2
        return 0, out * p["kernel"] ** 2, 0, out

    def attrs(self, p: dict[str, Any]) -> dict[str, Any]:
        k, s, pad = p["kernel"], p["stride"], p["padding"]
        return {"kernel_shape": [k, k], "strides": [s, s], "pads": [pad] * 4}

    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        return [g.node(self.onnx_op, inputs[:1], **self.attrs(p))]


@register_op
class MaxPool(_Pool):
    """Max pooling (square window, symmetric padding, floor output size)."""

    name = "maxpool"
    onnx_op = "MaxPool"


@register_op
class AvgPool(_Pool):
    """Average pooling; padded pixels are excluded from the mean (``count_include_pad=0``)."""

    name = "avgpool"
    onnx_op = "AveragePool"

    def attrs(self, p: dict[str, Any]) -> dict[str, Any]:
        return {**super().attrs(p), "count_include_pad": 0}


@register_op
class GlobalAvgPool(OpSpec):
    """Global average pooling to ``(batch, channels, 1, 1)``: one FLOP per input element."""

    name = "global_avgpool"
    params = image_params(256, 7)

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [image_shape(p)]

    def cost_parts(self, p: dict[str, Any]) -> tuple[int, int, int, int]:
        return 0, _elements(image_shape(p)), 0, p["batch"] * p["channels"]

    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        return [g.node("GlobalAveragePool", inputs[:1])]


class _Binary(OpSpec):
    """Elementwise op of two same-shape NCHW inputs (one FLOP per output element)."""

    onnx_op: str = ""
    params = image_params(32, 56)

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [image_shape(p), image_shape(p)]

    def cost_parts(self, p: dict[str, Any]) -> tuple[int, int, int, int]:
        out = _elements(image_shape(p))
        return 0, ELEMENTWISE_FLOPS[self.name] * out, 0, out

    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        return [g.node(self.onnx_op, inputs[:2])]


@register_op
class Add(_Binary):
    """Elementwise sum of two tensors (residual connections)."""

    name = "add"
    onnx_op = "Add"


@register_op
class Mul(_Binary):
    """Elementwise product of two tensors (gating)."""

    name = "mul"
    onnx_op = "Mul"


@register_op
class Concat(OpSpec):
    """Concatenation of two NCHW inputs along channels (pure data movement: zero FLOPs)."""

    name = "concat"
    params = (
        Param("c1", int, 32, minimum=1, doc="channels of the first input"),
        Param("c2", int, 32, minimum=1, doc="channels of the second input"),
        Param("resolution", int, 56, minimum=1, doc="input height = width"),
        Param("batch", int, 1, minimum=1),
    )

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [image_shape(p, p["c1"]), image_shape(p, p["c2"])]

    def cost_parts(self, p: dict[str, Any]) -> tuple[int, int, int, int]:
        return 0, 0, 0, _elements(image_shape(p, p["c1"] + p["c2"]))

    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        return [g.node("Concat", inputs[:2], axis=1)]


def channel_shuffle(g: Any, x: str, shape: tuple[int, ...], groups: int) -> str:
    """ShuffleNet channel shuffle: Reshape ``(N, g, C/g, H, W)`` → Transpose → Reshape back."""
    n, c, h, w = shape
    grouped = g.node("Reshape", [x, g.const(np.array([n, groups, c // groups, h, w], np.int64), "shape")])
    swapped = g.node("Transpose", [grouped], perm=[0, 2, 1, 3, 4])
    return g.node("Reshape", [swapped, g.const(np.array(shape, np.int64), "shape")], name="channel_shuffle")


@register_op
class ChannelShuffle(OpSpec):
    """Channel shuffle of ShuffleNet (zero FLOPs; two reshapes around a 5-D transpose)."""

    name = "channel_shuffle"
    params = (Param("groups", int, 2, minimum=1), *image_params(32, 56))

    def check(self, p: dict[str, Any]) -> None:
        if p["channels"] % p["groups"]:
            raise ParamError("groups", p["groups"], f"a divisor of channels={p['channels']}",
                             "groups must divide channels")

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [image_shape(p)]

    def cost_parts(self, p: dict[str, Any]) -> tuple[int, int, int, int]:
        return 0, 0, 0, _elements(image_shape(p))

    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        return [channel_shuffle(g, inputs[0], image_shape(p), p["groups"])]


#: Epsilon of the generated normalisation layers (PyTorch's default).
NORM_EPSILON = 1e-5


@register_op
class BatchNorm(OpSpec):
    """Inference batch normalisation (not folded): ``scale * (x - mean) / sqrt(var + eps) + bias``.

    All four per-channel vectors count as parameters (``4 * channels``): they are loaded
    like weights, although training frameworks call mean and variance buffers.
    """

    name = "batchnorm"
    params = image_params(32, 56)

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [image_shape(p)]

    def cost_parts(self, p: dict[str, Any]) -> tuple[int, int, int, int]:
        out = _elements(image_shape(p))
        return 0, ELEMENTWISE_FLOPS["batchnorm"] * out, 4 * p["channels"], out

    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        c = p["channels"]
        ins = [inputs[0], g.weight("bn_scale", (c,), init="positive"), g.weight("bn_bias", (c,), init="small"),
               g.weight("bn_mean", (c,), init="small"), g.weight("bn_var", (c,), init="positive")]
        return [g.node("BatchNormalization", ins, name="batchnorm", epsilon=NORM_EPSILON)]


@register_op
class LayerNorm(OpSpec):
    """Layer normalisation over the last axis of ``(batch, seq_len, width)`` (ONNX opset 17)."""

    name = "layernorm"
    params = (
        Param("seq_len", int, 128, minimum=1),
        Param("width", int, 192, minimum=1, doc="features per token (normalised axis)"),
        Param("batch", int, 1, minimum=1),
    )

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [(p["batch"], p["seq_len"], p["width"])]

    def cost_parts(self, p: dict[str, Any]) -> tuple[int, int, int, int]:
        out = p["batch"] * p["seq_len"] * p["width"]
        return 0, ELEMENTWISE_FLOPS["layernorm"] * out, 2 * p["width"], out

    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        return [g.layernorm(inputs[0], p["width"], NORM_EPSILON)]


@register_op
class Softmax(OpSpec):
    """Softmax of an NCHW tensor over channels (axis 1) or over the last axis (width)."""

    name = "softmax"
    params = (Param("axis", str, "channels", choices=("channels", "last")), *image_params(32, 56))

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [image_shape(p)]

    def cost_parts(self, p: dict[str, Any]) -> tuple[int, int, int, int]:
        out = _elements(image_shape(p))
        return 0, ELEMENTWISE_FLOPS["softmax"] * out, 0, out

    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        return [g.node("Softmax", inputs[:1], axis=1 if p["axis"] == "channels" else -1)]


@register_op
class Resize(OpSpec):
    """Upsampling by an integer ``scale``: nearest (as ``nn.Upsample`` exports) or bilinear.

    Nearest uses ``asymmetric`` coordinates with ``floor`` rounding (each pixel repeated
    ``scale`` times); bilinear uses ``half_pixel`` (``align_corners=False``). The scales
    input stays float32 in fp16 models, as the ONNX spec requires, and is not a parameter.
    """

    name = "resize"
    params = (
        Param("mode", str, "nearest", choices=("nearest", "bilinear")),
        Param("scale", int, 2, minimum=1, doc="upsampling factor"),
        *image_params(32, 28),
    )

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [image_shape(p)]

    def cost_parts(self, p: dict[str, Any]) -> tuple[int, int, int, int]:
        out = p["batch"] * p["channels"] * (p["resolution"] * p["scale"]) ** 2
        return 0, (ELEMENTWISE_FLOPS["bilinear"] * out if p["mode"] == "bilinear" else 0), 0, out

    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        s = float(p["scale"])
        scales = g.const(np.array([1.0, 1.0, s, s]), "scales", dtype=np.float32)
        if p["mode"] == "nearest":
            attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
        else:
            attrs = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
        return [g.node("Resize", [inputs[0], "", scales], name="resize", **attrs)]


@register_op
class Pad(OpSpec):
    """Spatial padding by ``pad`` pixels on each side, constant (zeros) or reflect."""

    name = "pad"
    params = (
        Param("mode", str, "constant", choices=("constant", "reflect")),
        Param("pad", int, 1, minimum=0, doc="pixels on each side"),
        *image_params(32, 56),
    )

    def check(self, p: dict[str, Any]) -> None:
        if p["mode"] == "reflect" and p["pad"] >= p["resolution"]:
            raise ParamError("pad", p["pad"], f"< resolution {p['resolution']} for reflect",
                             "reflect padding larger than the input")

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [image_shape(p)]

    def cost_parts(self, p: dict[str, Any]) -> tuple[int, int, int, int]:
        return 0, 0, 0, p["batch"] * p["channels"] * (p["resolution"] + 2 * p["pad"]) ** 2

    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        k = p["pad"]
        pads = g.const(np.array([0, 0, k, k, 0, 0, k, k], np.int64), "pads")
        return [g.node("Pad", [inputs[0], pads], name="pad", mode=p["mode"])]
