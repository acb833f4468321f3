"""OpenVINO builder: ONNX artifact → OpenVINO IR (``.ovir``: xml + bin in one zip).

The source is the point's ONNX artifact from :class:`~suite.models.onnx_builder.OnnxBuilder`
(fp32 or fp16 graph; for int8 the ORT QDQ graph, which OpenVINO reads and runs with
int8 kernels). Conversion runs in-process when this interpreter has the ``openvino``
extra and ``toolchains.yaml`` names no other ``python``.

Precision is a *runtime* decision in OpenVINO (``INFERENCE_PRECISION_HINT``): the device
YAML states it in ``runtime.options.precision`` and the agent records the precision the
plug-in actually chose. On CPUs with AVX-512 BF16/AMX the default is bf16, not f32.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from suite.backends.openvino import worker as openvino_worker
from suite.backends.openvino.backend import BACKEND
from suite.backends.toolchain import (
    ToolchainBuilder,
    ToolchainCheck,
    ToolchainSettings,
    distribution_version,
    probe_python,
    resolve_settings,
)
from suite.models import model_source
from suite.models.artifact import Artifact
from suite.models.builder import passed_on
from suite.models.onnx_builder import OnnxBuilder
from suite.sweep.point import Point

INSTALL_HINT = "pip install 'hwbehave[openvino]'  (or: pip install openvino)"


class OpenVinoBuilder(ToolchainBuilder):
    """Builds ``.ovir`` artifacts (OpenVINO IR) from the point's ONNX artifact."""

    format = BACKEND.format
    toolchain = BACKEND.toolchain or ""
    suffix = ".ovir"
    worker = "suite.backends.openvino.worker"
    defaults: dict[str, Any] = {"compress_to_fp16": False}

    @classmethod
    def check(cls, settings: ToolchainSettings | None = None) -> ToolchainCheck:
        settings = settings or resolve_settings(cls.toolchain, cls.defaults)
        if settings.python:
            rc, out, err = probe_python(settings.python, "import openvino as ov; print(ov.__version__); "
                                        "print(','.join(ov.Core().available_devices))")
            if rc != 0:
                return ToolchainCheck(cls.toolchain, False, interpreter=settings.python,
                                      detail=f"openvino does not import in {settings.python}: {err.strip()[-300:]}",
                                      fix=INSTALL_HINT)
            lines = out.strip().splitlines() + ["", ""]
            return ToolchainCheck(cls.toolchain, True, version=lines[0], interpreter=settings.python,
                                  detail=f"devices: {lines[1] or 'none'}")
        if importlib.util.find_spec("openvino") is None:
            return ToolchainCheck(cls.toolchain, False, interpreter="in-process",
                                  detail="the openvino package is not installed in this interpreter",
                                  fix=INSTALL_HINT)
        import openvino as ov

        return ToolchainCheck(cls.toolchain, True, version=ov.__version__, interpreter="in-process",
                              detail="devices: " + ", ".join(ov.Core().available_devices))

    def toolchain_version(self) -> str | None:
        if self.settings.python:
            return distribution_version(self.settings.python, "openvino")
        try:
            return openvino_worker.version()
        except ImportError:
            return None

    def refuse(self, point: Point) -> str | None:
        """A model file OpenVINO IR cannot be made of at the point's dtype (catalogue points: none)."""
        return model_source.refusal(point, self.format) if model_source.is_model(point) else None

    def source(self, point: Point, work: Path) -> tuple[Path, dict[str, Any]] | Artifact:
        if model_source.is_model(point) and model_source.facts(point).format != "onnx":
            # an IR or a .tflite file goes to OpenVINO as it is (the worker reads either)
            return Path(point.params["file"]), model_source.build_metadata(point)
        onnx_art = OnnxBuilder(cache=self.cache).build(point)
        if not onnx_art.ok:
            return passed_on(self, point, onnx_art, "source ONNX")
        meta = {"source_format": "onnx", "source_sha256": onnx_art.sha256,
                **{k: v for k, v in onnx_art.metadata.items() if k in ("quantize", "note", "opset")}}
        return Path(str(onnx_art.path)), meta

    def convert_in_process(self, onnx_path: Path, out_dir: Path, options: dict[str, Any]) -> dict[str, Any] | None:
        if self.settings.python:
            return None  # the configured interpreter runs the worker
        if importlib.util.find_spec("openvino") is None:
            return {"status": "build_error", "error": "openvino is not installed in this interpreter and "
                    f"toolchains.yaml names no other python for it; {INSTALL_HINT}"}
        result = openvino_worker.convert(str(onnx_path), str(out_dir), options)
        return {**result, "toolchain_version": openvino_worker.version()}
