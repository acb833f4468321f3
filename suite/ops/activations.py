"""Activations, standalone (op ``activation``) and fused after conv-like layers."""

from __future__ import annotations

from typing import Any

from suite.ops.catalogue import ACTIVATION_FLOPS, ACTIVATIONS, OpSpec, Param, register_op


def apply_activation(g: Any, x: str, kind: str, channels: int | None = None) -> str:
    """Add activation ``kind`` to graph ``g`` after tensor ``x``; ``none`` returns ``x``.

    Each activation uses the ONNX op a converter would emit for it where one exists
    (HardSwish, Gelu-as-erf pattern, Mish as x*tanh(softplus(x))), so runtimes see the
    same graph shapes as in exported networks.
    """
    if kind == "none":
        return x
    if kind == "relu":
        return g.node("Relu", [x])
    if kind == "relu6":
        return g.node("Clip", [x, g.const(0.0, "min"), g.const(6.0, "max")], name="relu6")
    if kind == "leaky_relu":
        return g.node("LeakyRelu", [x], alpha=0.1)
    if kind == "prelu":
        if channels is None:
            raise ValueError("prelu needs the channel count")
        slope = g.weight("prelu_slope", (channels, 1, 1), init="small")
        return g.node("PRelu", [x, slope])
    if kind == "sigmoid":
        return g.node("Sigmoid", [x])
    if kind == "tanh":
        return g.node("Tanh", [x])
    if kind == "hard_sigmoid":
        return g.node("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
    if kind == "hard_swish":
        return g.node("HardSwish", [x])
    if kind in ("swish", "silu"):
        return g.node("Mul", [x, g.node("Sigmoid", [x])], name=kind)
    if kind == "gelu":
        # erf form, as torch.onnx exports nn.GELU() below opset 20
        scaled = g.node("Div", [x, g.const(1.4142135623730951, "sqrt2")])
        erf = g.node("Erf", [scaled])
        one_plus = g.node("Add", [erf, g.const(1.0, "one")])
        return g.node("Mul", [g.node("Mul", [x, one_plus]), g.const(0.5, "half")], name="gelu")
    if kind == "mish":
        return g.node("Mul", [x, g.node("Tanh", [g.node("Softplus", [x])])], name="mish")
    raise ValueError(f"unknown activation {kind!r}; expected one of {', '.join(ACTIVATIONS)}")


@register_op
class Activation(OpSpec):
    """A standalone activation over an NCHW tensor."""

    name = "activation"
    kind = "activation"
    params = (
        Param("activation", str, choices=ACTIVATIONS, doc="which activation"),
        Param("channels", int, 32, minimum=1),
        Param("resolution", int, 56, minimum=1),
        Param("batch", int, 1, minimum=1),
    )

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [(p["batch"], p["channels"], p["resolution"], p["resolution"])]

    def cost_parts(self, p: dict[str, Any]) -> tuple[int, int, int, int]:
        n = p["batch"] * p["channels"] * p["resolution"] ** 2
        params = p["channels"] if p["activation"] == "prelu" else 0
        return 0, ACTIVATION_FLOPS[p["activation"]] * n, params, n

    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        return [apply_activation(g, inputs[0], p["activation"], p["channels"])]
