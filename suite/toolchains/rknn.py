"""RKNN toolchain: ONNX → ``.rknn`` for a Rockchip NPU target, in the rknn-toolkit2 venv.

rknn-toolkit2 2.5 pins numpy <= 1.26.4, onnx <= 1.18, protobuf <= 4.25.4 and torch <= 2.4,
so it lives in its own venv (``hwbehave toolchains install rknn``, default
``~/.cache/hwbehave/venvs/rknn``) and the build runs ``suite.toolchains.rknn_worker`` there.

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

import glob
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from suite import status as st
from suite.backends.toolchain import (
    ToolchainBuilder,
    ToolchainCheck,
    ToolchainSettings,
    distribution_version,
    probe_python,
    resolve_settings,
)
from suite.errors import ToolchainError
from suite.models.artifact import Artifact
from suite.models.calibration import CALIBRATION_SAMPLES, CalibrationReader
from suite.models.onnx_builder import build_onnx_model
from suite.sweep.point import Point

TOOLKIT_VERSION = "2.5.0"
#: The toolkit's pins, resolved once on this kind of machine (x86_64, CPython 3.11) and
#: kept exact so every machine builds the same venv. The toolkit itself goes in with
#: ``--no-deps`` (its torch pin <= 2.4 is not needed for ONNX conversion; see TORCH_*).
REQUIREMENTS = (
    "numpy==1.26.4", "onnx==1.18.0", "protobuf==4.25.4", "onnxruntime==1.22.1",
    "setuptools>=77,<81",  # the toolkit imports pkg_resources, removed in setuptools 81
    "psutil>=5.9", "ruamel.yaml>=0.17.21", "scipy>=1.9.3", "tqdm>=4.64.1",
    "opencv-python-headless>=4.5.5.64",  # the headless build: the toolkit's opencv-python needs libGL
    "fast-histogram>=0.11",
    # torch's own dependencies (torch is installed with --no-deps from a local wheel)
    "filelock", "typing-extensions>=4.10", "sympy>=1.13.3", "networkx>=2.5.1", "jinja2", "fsspec>=0.8.5",
)
#: torch is imported by the toolkit; a local CPU wheel avoids PyPI's multi-GB CUDA build.
TORCH_WHEEL_GLOBS = ("/opt/wheels/torch-*cp{}{}*.whl",)
#: Without a local wheel: the same version by name (pip's find-links may still resolve it
#: locally), always --no-deps so a CUDA build's multi-GB dependencies are never pulled.
TORCH_FALLBACK = "torch==2.13.0"
INSTALL_HINT = "hwbehave toolchains install rknn  (creates ~/.cache/hwbehave/venvs/rknn)"
#: Written into the venv when it is complete; a venv without it (or with another recipe) is rebuilt.
MARKER = "hwbehave-toolchain.json"


def default_venv() -> Path:
    """``$HWBEHAVE_VENVS/rknn`` or ``$XDG_CACHE_HOME/hwbehave/venvs/rknn`` (``~/.cache/...``).

    Independent of ``$HWBEHAVE_CACHE`` (the artifact cache), so a run with a scratch
    artifact cache still finds the venv that took a minute and a half to build.
    """
    env = os.environ.get("HWBEHAVE_VENVS")
    if env:
        return Path(env).expanduser() / "rknn"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hwbehave" / "venvs" / "rknn"


def venv_python(venv: Path) -> Path:
    """The python executable of a venv."""
    return venv / "bin" / "python"


def recipe() -> dict[str, Any]:
    """What the venv is made of (compared with the marker to decide reuse)."""
    return {"toolkit": TOOLKIT_VERSION, "requirements": list(REQUIREMENTS),
            "python": "{}.{}".format(*sys.version_info[:2])}


def venv_ready(venv: Path) -> bool:
    """True when ``venv`` was completed by :func:`install_venv` with today's recipe."""
    try:
        marker = json.loads((venv / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("recipe") == recipe() and venv_python(venv).exists()


def find_torch_wheel() -> str | None:
    """A local CPU torch wheel for this Python, if one is on disk."""
    for pattern in TORCH_WHEEL_GLOBS:
        found = sorted(glob.glob(pattern.format(*sys.version_info[:2])))
        if found:
            return found[-1]
    return None


def install_venv(venv: Path | None = None, *, torch_wheel: str | None = None, force: bool = False,
                 log: Callable[[str], None] = print, timeout_s: float = 1800.0) -> Path:
    """Create (or reuse) the rknn-toolkit2 venv; returns its python. Raises ``ToolchainError``.

    Steps: 1. ``python -m venv``; 2. the pinned requirements; 3. torch from a local wheel
    or ``torch==2.13.0`` by name (always ``--no-deps``); 4. ``rknn-toolkit2==2.5.0 --no-deps``;
    5. import check; 6. the marker file (last, so an interrupted install is redone).
    """
    venv = Path(venv or default_venv()).expanduser()
    if venv_ready(venv) and not force:
        log(f"rknn venv ready at {venv} (reused)")
        return venv_python(venv)
    py = str(venv_python(venv))

    def step(title: str, argv: list[str]) -> None:
        log(f"rknn venv: {title}: {' '.join(argv)}")
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ToolchainError(f"rknn venv: {title} failed: {exc}") from None
        if proc.returncode != 0:
            raise ToolchainError(f"rknn venv: {title} failed (exit {proc.returncode}): "
                                 f"{(proc.stderr or proc.stdout).strip()[-1500:]}")

    (venv / MARKER).unlink(missing_ok=True)
    step("1. create", [sys.executable, "-m", "venv", "--clear", str(venv)])
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    step("2. pinned dependencies", pip + list(REQUIREMENTS))
    wheel = torch_wheel or find_torch_wheel()
    step("3. torch", pip + ["--no-deps", wheel or TORCH_FALLBACK])
    step("4. rknn-toolkit2", pip + ["--no-deps", f"rknn-toolkit2=={TOOLKIT_VERSION}"])
    step("5. import check", [py, "-c", "from rknn.api import RKNN"])
    (venv / MARKER).write_text(json.dumps({"recipe": recipe(), "torch": wheel or TORCH_FALLBACK}, indent=1))
    log(f"rknn venv ready at {venv}")
    return Path(py)


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

    format = "rknn"
    toolchain = "rknn"
    suffix = ".rknn"
    worker = "suite.toolchains.rknn_worker"
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

