"""Whole small networks composed from the block functions of :mod:`suite.ops.blocks`.

Layer tables follow the papers and torchvision's definitions; the ``width`` multiplier
scales every channel count and rounds it to a multiple of 8 (``make_divisible``, as the
MobileNet papers do; applied to ResNet-18 too for one rule). Batch norm is folded into
conv biases. Costs come from the same trace as the graph; at width 1.0 and 224×224 they
are close to the published counts (MobileNetV1 569M MACs, V2 300M, V3-large 217M,
V3-small 56M, ResNet-18 1.8G).
"""

from __future__ import annotations

from typing import Any

from suite.ops.blocks import (
    CostedGraph,
    Tensor,
    TracedOp,
    build_inverted_residual,
    build_mbv1,
    build_resnet_basic,
    make_divisible,
    mbv2_hidden,
    mbv3_squeeze,
)
from suite.ops.catalogue import Param, ParamError, register_op

#: The networks downsample by 32: a smaller input leaves nothing to pool.
MIN_RESOLUTION = 32


def classifier(cg: CostedGraph, x: Tensor, num_classes: int, hidden: int = 0, act: str = "none") -> Tensor:
    """Global average pool, flatten, [FC ``hidden`` + act], FC to logits (``Gemm``, as exported)."""
    y = cg.flatten(cg.global_avgpool(x))
    if hidden:
        y = cg.gemm(y, hidden, act)
    return cg.gemm(y, num_classes)


#: MobileNetV1 depthwise-separable layers after the stem: (output channels, stride).
MOBILENET_V1_LAYERS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)


def build_mobilenet_v1(cg: CostedGraph, x: Tensor, width: float, num_classes: int) -> Tensor:
    """MobileNetV1 (Howard et al. 2017): 3×3 s2 stem, 13 separable blocks, classifier."""
    x = cg.conv(x, make_divisible(32 * width), 3, 2, act="relu")
    for cout, stride in MOBILENET_V1_LAYERS:
        x = build_mbv1(cg, x, make_divisible(cout * width), stride)
    return classifier(cg, x, num_classes)


#: MobileNetV2 stages: (expansion t, output channels c, repeats n, first stride s).
MOBILENET_V2_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)


def build_mobilenet_v2(cg: CostedGraph, x: Tensor, width: float, num_classes: int) -> Tensor:
    """MobileNetV2 (Sandler et al. 2018): stem, 17 inverted residuals, 1×1 to 1280, classifier."""
    x = cg.conv(x, make_divisible(32 * width), 3, 2, act="relu6")
    for t, c, n, s in MOBILENET_V2_STAGES:
        cout = make_divisible(c * width)
        for i in range(n):
            x = build_inverted_residual(cg, x, cout, mbv2_hidden(x.shape[1], t), 3, s if i == 0 else 1, "relu6")
    x = cg.conv(x, make_divisible(1280 * max(1.0, width)), 1, act="relu6")
    return classifier(cg, x, num_classes)


#: MobileNetV3 bottlenecks: (kernel, expanded channels, output channels, SE, activation, stride).
MOBILENET_V3_LARGE: tuple[tuple[int, int, int, bool, str, int], ...] = (
    (3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2), (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", 2), (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hard_swish", 2), (3, 200, 80, False, "hard_swish", 1),
    (3, 184, 80, False, "hard_swish", 1), (3, 184, 80, False, "hard_swish", 1),
    (3, 480, 112, True, "hard_swish", 1), (3, 672, 112, True, "hard_swish", 1),
    (5, 672, 160, True, "hard_swish", 2), (5, 960, 160, True, "hard_swish", 1),
    (5, 960, 160, True, "hard_swish", 1),
)
MOBILENET_V3_SMALL: tuple[tuple[int, int, int, bool, str, int], ...] = (
    (3, 16, 16, True, "relu", 2), (3, 72, 24, False, "relu", 2), (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hard_swish", 2), (5, 240, 40, True, "hard_swish", 1), (5, 240, 40, True, "hard_swish", 1),
    (5, 120, 48, True, "hard_swish", 1), (5, 144, 48, True, "hard_swish", 1),
    (5, 288, 96, True, "hard_swish", 2), (5, 576, 96, True, "hard_swish", 1), (5, 576, 96, True, "hard_swish", 1),
)


def build_mobilenet_v3(cg: CostedGraph, x: Tensor, width: float, num_classes: int,
                       layers: tuple[tuple[int, int, int, bool, str, int], ...], head: int) -> Tensor:
    """MobileNetV3 (Howard et al. 2019): hard_swish stem, bottlenecks, 1×1 to 6×last, FC ``head`` + classifier."""
    x = cg.conv(x, make_divisible(16 * width), 3, 2, act="hard_swish")
    for kernel, expanded, cout, se, act, stride in layers:
        hidden = make_divisible(expanded * width)
        x = build_inverted_residual(cg, x, make_divisible(cout * width), hidden, kernel, stride, act,
                                    mbv3_squeeze(hidden) if se else 0)
    x = cg.conv(x, 6 * x.shape[1], 1, act="hard_swish")
    return classifier(cg, x, num_classes, make_divisible(head * width), "hard_swish")


#: ResNet-18 basic blocks after the stem: (output channels, stride).
RESNET18_LAYERS: tuple[tuple[int, int], ...] = (
    (64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1),
)


def build_resnet18(cg: CostedGraph, x: Tensor, width: float, num_classes: int) -> Tensor:
    """ResNet-18 (He et al. 2016): 7×7 s2 stem, 3×3 s2 max pool, 8 basic blocks, classifier."""
    x = cg.maxpool(cg.conv(x, make_divisible(64 * width), 7, 2, act="relu"), 3, 2, 1)
    for cout, stride in RESNET18_LAYERS:
        x = build_resnet_basic(cg, x, make_divisible(cout * width), stride)
    return classifier(cg, x, num_classes)


class _Network(TracedOp):
    """A whole image classifier on ``(batch, 3, resolution, resolution)`` giving logits."""

    kind = "model"
    params = (
        Param("width", float, 1.0, doc="channel multiplier (channels rounded to multiples of 8)"),
        Param("resolution", int, 224, minimum=1, doc="input height = width"),
        Param("num_classes", int, 1000, minimum=1),
        Param("batch", int, 1, minimum=1),
    )

    def check(self, p: dict[str, Any]) -> None:
        if p["width"] <= 0:
            raise ParamError("width", p["width"], "a positive multiplier", "out of range")
        if p["resolution"] < MIN_RESOLUTION:
            raise ParamError("resolution", p["resolution"], f">= {MIN_RESOLUTION} (the network downsamples by 32)",
                             "input too small")

    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        return [(p["batch"], 3, p["resolution"], p["resolution"])]

    def network(self, cg: CostedGraph, x: Tensor, width: float, num_classes: int) -> Tensor:
        raise NotImplementedError

    def trace(self, cg: CostedGraph, xs: list[Tensor], p: dict[str, Any]) -> list[Tensor]:
        return [self.network(cg, xs[0], p["width"], p["num_classes"])]


@register_op
class MobileNetV1(_Network):
    """MobileNetV1 (569M MACs at width 1.0, 224×224)."""

    name = "mobilenet_v1"

    def network(self, cg: CostedGraph, x: Tensor, width: float, num_classes: int) -> Tensor:
        return build_mobilenet_v1(cg, x, width, num_classes)


@register_op
class MobileNetV2(_Network):
    """MobileNetV2 (300M MACs at width 1.0, 224×224)."""

    name = "mobilenet_v2"

    def network(self, cg: CostedGraph, x: Tensor, width: float, num_classes: int) -> Tensor:
        return build_mobilenet_v2(cg, x, width, num_classes)


@register_op
class MobileNetV3Small(_Network):
    """MobileNetV3-Small (56M MACs at width 1.0, 224×224)."""

    name = "mobilenet_v3_small"

    def network(self, cg: CostedGraph, x: Tensor, width: float, num_classes: int) -> Tensor:
        return build_mobilenet_v3(cg, x, width, num_classes, MOBILENET_V3_SMALL, 1024)


@register_op
class MobileNetV3Large(_Network):
    """MobileNetV3-Large (217M MACs at width 1.0, 224×224)."""

    name = "mobilenet_v3_large"

    def network(self, cg: CostedGraph, x: Tensor, width: float, num_classes: int) -> Tensor:
        return build_mobilenet_v3(cg, x, width, num_classes, MOBILENET_V3_LARGE, 1280)


@register_op
class ResNet18(_Network):
    """ResNet-18 (1.8G MACs at width 1.0, 224×224)."""

    name = "resnet18"

    def network(self, cg: CostedGraph, x: Tensor, width: float, num_classes: int) -> Tensor:
        return build_resnet18(cg, x, width, num_classes)
