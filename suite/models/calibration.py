"""Seeded calibration data for post-training quantization, shared by every builder.

ONNX Runtime's static int8 quantization, the RKNN and nncase toolchains and the TFLite
full-integer converter all calibrate on :data:`CALIBRATION_SAMPLES` batches of
standard-normal inputs drawn from a generator seeded by the point (``seed ^ CALIBRATION_SEED``),
the distribution the agent feeds at run time. One reader, so every format of a point is
calibrated on the same values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Seeded calibration batches per point.
CALIBRATION_SAMPLES = 8
#: Mixed into the point seed so calibration inputs differ from the agent's timed inputs.
CALIBRATION_SEED = 0x5EED


def calibration_rng(seed: int) -> np.random.Generator:
    """The generator calibration batches of a point with ``seed`` are drawn from."""
    return np.random.default_rng(seed ^ CALIBRATION_SEED)


def input_shapes(model: Any) -> list[tuple[str, list[int]]]:
    """``(name, shape)`` of each input of an ONNX ``ModelProto`` (symbolic dims as 1)."""
    return [(inp.name, [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]) for inp in model.graph.input]


class CalibrationReader:
    """:data:`CALIBRATION_SAMPLES` seeded fp32 input batches of an ONNX model.

    ``batches`` holds them as ``{input name: array}``; :meth:`get_next` / :meth:`rewind`
    make it an ``onnxruntime.quantization.CalibrationDataReader`` (mix that class in).
    """

    def __init__(self, model: Any, seed: int) -> None:
        rng = calibration_rng(seed)
        shapes = input_shapes(model)
        self.batches: list[dict[str, np.ndarray]] = [
            {name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes}
            for _ in range(CALIBRATION_SAMPLES)]
        self._iter = iter(self.batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next batch, ``None`` after the last."""
        return next(self._iter, None)

    def rewind(self) -> None:
        """Start again from the first batch."""
        self._iter = iter(self.batches)
