"""RKNN builder: ONNX → ``.rknn`` for a Rockchip NPU target, in the rknn-toolkit2 venv.

rknn-toolkit2 2.5 pins numpy <= 1.26.4, onnx <= 1.18, protobuf <= 4.25.4 and torch <= 2.4,
so it lives in its own venv (:mod:`.venv`: ``hwbehave toolchains install rknn``, default
``~/.cache/hwbehave/venvs/rknn``) and the build runs :mod:`.worker` there.

Device YAML::

    toolchain:
      rknn: {target_platform: rk3588}     # rk3566, rk3568, rk3562, rv1106, rv1103, rk3576, ...

* fp16 points → float build (the NPU computes fp16);
* int8 points → quantized build (w8a8) calibrated on seeded inputs written as ``.npy``
  files plus ``dataset.txt`` — the same seeded batches ORT's int8 calibration uses;
* fp32 points → ``unsupported`` (the NPU has no fp32), unless ``fp32_as_fp16: true``.

Every build is checked on the toolkit's simulator (``verify: true``): it runs the model
on a seeded input and records the error against ONNX Runtime. The simulator gives no
timing; on boards the agent's ``rknnlite`` adapter measures.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from suite import status as st
from suite.backends.rknn.backend import BACKEND
from suite.backends.rknn.venv import INSTALL_HINT, default_venv, venv_python, venv_ready
from suite.backends.toolchain import (
    ToolchainBuilder,
    ToolchainCheck,
    ToolchainSettings,
    distribution_version,
    probe_python,
    resolve_settings,
)
from suite.models.artifact import Artifact
from suite.models.calibration import CALIBRATION_SAMPLES, CalibrationReader
from suite.models.onnx_builder import build_onnx_model
from suite.sweep.point import Point


def calibration_dataset(model: onnx.ModelProto, seed: int, work: Path) -> Path:
    """Seeded calibration inputs as ``.npy`` files + ``dataset.txt`` (one line per sample)."""
    lines = []
    for i, feed in enumerate(CalibrationReader(model, seed).batches):
        names = []
        for j, arr in enumerate(feed.values()):
            path = work / f"calib_{i}_{j}.npy"
            np.save(path, arr)
            names.append(str(path))
        lines.append(" ".join(names))  # multi-input models: one line holds every input's file
    dataset = work / "dataset.txt"
    dataset.write_text("\n".join(lines) + "\n")
    return dataset


class RknnBuilder(ToolchainBuilder):
    """Builds ``.rknn`` artifacts with rknn-toolkit2 in its own venv."""

    format = BACKEND.format
    toolchain = BACKEND.toolchain or ""
    suffix = ".rknn"
    worker = "suite.backends.rknn.worker"
    defaults: dict[str, Any] = {"target_platform": "rk3588", "quantized_dtype": None,
                                "quantized_algorithm": "normal", "optimization_level": 3,
                                "verify": True, "fp32_as_fp16": False, "verbose": False}

    def __init__(self, cache: Any = None, device: Any = None, settings: ToolchainSettings | None = None) -> None:
        super().__init__(cache=cache, device=device, settings=settings)
        if not self.settings.python and venv_ready(default_venv()):
            from dataclasses import replace

            self.settings = replace(self.settings, python=str(venv_python(default_venv())))

    @classmethod
    def check(cls, settings: ToolchainSettings | None = None) -> ToolchainCheck:
        settings = settings or resolve_settings(cls.toolchain, cls.defaults)
        python = settings.python or (str(venv_python(default_venv())) if venv_ready(default_venv()) else None)
        if python is None:
            return ToolchainCheck(cls.toolchain, False, detail=f"no rknn venv at {default_venv()} and "
                                  "toolchains.yaml names no python for rknn", fix=INSTALL_HINT)
        rc, out, err = probe_python(python, "from rknn.api import RKNN; import importlib.metadata as m; "
                                    "print(m.version('rknn-toolkit2'))", timeout_s=120)
        if rc != 0:
            return ToolchainCheck(cls.toolchain, False, interpreter=python,
                                  detail=f"rknn.api does not import: {err.strip()[-400:]}", fix=INSTALL_HINT)
        return ToolchainCheck(cls.toolchain, True, version=out.strip().splitlines()[-1], interpreter=python,
                              detail="ONNX → .rknn build and simulator check (no board timing)")

    def toolchain_version(self) -> str | None:
        return distribution_version(self.settings.python or sys.executable, "rknn-toolkit2")

    def refuse(self, point: Point) -> str | None:
        if point.dtype == "fp32" and not self.settings.options.get("fp32_as_fp16"):
            return ("the RKNN NPU computes fp16 or int8, not fp32; set toolchain.rknn.fp32_as_fp16: true "
                    "to build fp32 points as fp16")
        if point.dtype not in ("fp32", "fp16", "int8"):
            return f"no RKNN build for dtype {point.dtype} (fp16 and int8 are built)"
        return None

    def source(self, point: Point, work: Path) -> tuple[Path, dict[str, Any]] | Artifact:
        model = build_onnx_model(point, float_dtype="fp32")
        path = work / "model.onnx"
        onnx.save(model, str(path))
        return path, {"source_format": "onnx fp32 graph (the toolkit chooses fp16/int8)",
                      "calibration_samples": CALIBRATION_SAMPLES if point.dtype == "int8" else 0}

    def worker_options(self, point: Point, onnx_path: Path, work: Path) -> dict[str, Any]:
        model = onnx.load(str(onnx_path))
        opts = dict(self.settings.options)
        opts.pop("fp32_as_fp16", None)
        opts["dtype"] = "int8" if point.dtype == "int8" else "fp16"
        if point.dtype == "int8":
            opts["dataset"] = str(calibration_dataset(model, point.seed, work))
        if opts.get("verify"):
            rng = np.random.default_rng(point.seed)  # the agent's input seed: same values on the board
            files = []
            for j, inp in enumerate(model.graph.input):
                shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
                f = work / f"verify_{j}.npy"
                np.save(f, rng.standard_normal(size=shape).astype("float32"))
                files.append(str(f))
            opts["verify_inputs"] = files
        return opts

    def convert_in_process(self, onnx_path: Path, out_dir: Path, options: dict[str, Any]) -> dict[str, Any] | None:
        if self.settings.python:
            return None
        if distribution_version(sys.executable, "rknn-toolkit2") is None:
            return {"status": st.BUILD_ERROR, "error": f"rknn-toolkit2 is not installed; {INSTALL_HINT}"}
        return None  # this interpreter has the toolkit: run the worker with it

