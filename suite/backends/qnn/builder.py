"""QNN builder: the point's ONNX graph, prepared and quantized the way the QNN EP expects.

Each point's canonical graph (:func:`suite.models.onnx_builder.build_onnx_model`) goes through
onnxruntime's QNN helpers (``onnxruntime.quantization.execution_providers.qnn``):

1. ``qnn_preprocess_model`` (option ``preprocess``, default on): fuses what the HTP has one
   op for (the Erf sequence of GELU into ``Gelu``, ReduceL2 into ``LpNormalization``);
2. for int8 points, ``get_qnn_qdq_config`` + ``quantize``: QDQ with QNN's rules (activations
   ``int8_activations``, weights ``int8_weights``, tensor-wise unless ``per_channel``), calibrated
   on the suite's seeded reader. 16-bit activations need opset 21: the helper raises the opset.

The sweep's dtypes map to the HTP like this (the artifact's ``metadata['htp_dtype']`` says it):

===== =================================================== ===============================
dtype artifact                                            on the HTP
===== =================================================== ===============================
fp32  fp32 graph                                          fp16 arithmetic (the EP's
                                                          ``enable_htp_fp16_precision``,
                                                          on with a ``soc_model``)
fp16  fp16 graph                                          fp16
int8  QDQ, uint8 activations / uint8 weights (``a8w8``)  8-bit fixed point
int8  with ``int8_activations: uint16``: ``a16w8``        16-bit activations, 8-bit weights
int8  with ``int8_activations: int8``: ``sa8w8``          signed 8-bit activations (what
                                                          ORT's default quantizer and TFLite
                                                          make; the HTP rejects some ops)
===== =================================================== ===============================

Settings (``toolchain.qnn`` of the device, or ``toolchains.yaml``): ``int8_activations``
(``uint8`` | ``uint16`` | ``int8``), ``int8_weights`` (``uint8`` | ``int8``), ``per_channel`` (bool),
``preprocess`` (bool). The build runs in this interpreter; the QNN EP is needed only to run.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import onnx

from suite.backends.qnn.backend import BACKEND
from suite.backends.toolchain import ToolchainCheck, ToolchainSettings, probe_python, resolve_settings
from suite.errors import ConfigError
from suite.models import model_source
from suite.models.builder import CachedBuilder, Made
from suite.models.cache import ArtifactCache, cache_key
from suite.models.calibration import CALIBRATION_SAMPLES, CalibrationReader
from suite.models.graph import OPSET
from suite.models.onnx_builder import build_onnx_model
from suite.sweep.point import Point

#: Bump when the files made for the same point change (invalidates cached files).
BUILDER_VERSION = 1
INSTALL_HINT = "pip install 'hwbehave[qnn]' (onnxruntime-qnn: the QNN EP with libQnnHtp.so and libHtpPrepare.so)"

#: Allowed values of each setting (the first is the default).
CHOICES: dict[str, tuple[Any, ...]] = {
    "int8_activations": ("uint8", "uint16", "int8"),
    "int8_weights": ("uint8", "int8"),
    "per_channel": (False, True),
    "preprocess": (True, False),
}
_QUANT_TYPES = {"uint8": "QUInt8", "uint16": "QUInt16", "int8": "QInt8"}

#: The probe ``toolchains check`` runs in a child interpreter: register the EP, then prepare
#: and run a one-node graph on the HTP with CPU fallback off (a crash cannot take the CLI down).
_PROBE = r"""
import json, os, numpy as np, onnx, onnxruntime as ort
from onnx import helper, TensorProto
import onnxruntime_qnn as q
from onnxruntime.quantization.execution_providers.qnn import get_qnn_qdq_config  # noqa: F401
out = {"onnxruntime": ort.__version__, "version": q.__version__,
       "qnn_sdk": getattr(q.build_and_package_info, "qnn_version", None)}
lib_dir = os.path.dirname(q.get_qnn_htp_path())
out["libraries"] = sorted(n for n in os.listdir(lib_dir) if n.startswith(("libQnn", "libHtp")))
ort.register_execution_provider_library("QNNExecutionProvider", q.get_library_path())
devs = [d for d in ort.get_ep_devices() if d.ep_name == "QNNExecutionProvider"]
out["devices"] = [str(d.device.type).split(".")[-1] for d in devs]
g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])])
so = ort.SessionOptions()
so.log_severity_level = 3
so.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
so.add_provider_for_devices(devs, {"backend_path": q.get_qnn_htp_path()})
s = ort.InferenceSession(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(), so)
y = s.run(None, {"x": np.linspace(-1, 1, 8, dtype=np.float32).reshape(1, 8)})[0]
out["htp_ok"] = bool(np.allclose(y, np.maximum(np.linspace(-1, 1, 8), 0), atol=1e-2))
print(json.dumps(out))
"""


def validated_options(settings: ToolchainSettings) -> dict[str, Any]:
    """The build options, each checked against :data:`CHOICES` (a located ``ConfigError`` if not)."""
    options = dict(settings.options)
    for key, allowed in CHOICES.items():
        value = options.get(key, allowed[0])
        if value not in allowed or type(value) is not type(allowed[0]):
            raise ConfigError(f"bad qnn toolchain option {key} ({', '.join(settings.sources)})",
                              field=f"toolchain.qnn.{key}", value=value,
                              expected="one of " + ", ".join(map(str, allowed)))
        options[key] = value
    return options


def quant_scheme(options: dict[str, Any]) -> str:
    """Short name of the int8 scheme: ``a8w8``, ``a16w8``, ``sa8w8`` (signed activations; bits of each)."""
    bits = {"uint8": 8, "int8": 8, "uint16": 16}
    sign = "s" if options["int8_activations"] == "int8" else ""
    return f"{sign}a{bits[options['int8_activations']]}w{bits[options['int8_weights']]}"


class QnnBuilder(CachedBuilder):
    """Builds QNN-ready ONNX artifacts (format ``qnn_onnx``) through the content cache."""

    format = BACKEND.format
    toolchain = BACKEND.toolchain or ""
    component = "qnn-builder"
    filename = "model.onnx"
    defaults: dict[str, Any] = {key: allowed[0] for key, allowed in CHOICES.items()}

    def __init__(self, cache: ArtifactCache | None = None, device: Any = None,
                 settings: ToolchainSettings | None = None) -> None:
        super().__init__(cache=cache, device=device)
        self.settings = settings or resolve_settings(self.toolchain, self.defaults, device=device)
        self.options = validated_options(self.settings)

    @classmethod
    def check(cls, settings: ToolchainSettings | None = None) -> ToolchainCheck:
        """Usable when the QNN EP registers and prepares and runs a one-node graph on the HTP here."""
        rc, out, err = probe_python(sys.executable, _PROBE, timeout_s=120.0)
        if rc != 0:
            text = (err or out).strip()
            if "No module named 'onnxruntime_qnn'" in text:
                detail = "onnxruntime-qnn is not installed in this interpreter"
            elif "execution_providers.qnn" in text or "execution_providers'" in text:
                detail = "this onnxruntime has no QNN quantization helpers (onnxruntime.quantization." \
                         "execution_providers.qnn)"
            else:
                detail = "the QNN EP probe failed: " + " ".join(text.split())[-400:]
            return ToolchainCheck(cls.toolchain, False, interpreter=sys.executable, detail=detail, fix=INSTALL_HINT)
        facts = json.loads(out.strip().splitlines()[-1])
        emulated = "libHtpPrepare.so" in facts["libraries"] and "CPU" in facts["devices"]
        where = "Qualcomm's HTP emulation on this host (libHtpPrepare.so): emulated timings" if emulated else \
            "the HTP of this device"
        if not facts["htp_ok"]:
            return ToolchainCheck(cls.toolchain, False, version=facts["version"], interpreter=sys.executable,
                                  detail="the HTP ran a probe Relu graph with wrong results", fix=INSTALL_HINT)
        return ToolchainCheck(cls.toolchain, True, version=facts["version"], interpreter=sys.executable,
                              detail=f"QNN SDK {facts['qnn_sdk']}, onnxruntime {facts['onnxruntime']}; QDQ by "
                                     f"onnxruntime's QNN helpers; a probe graph ran HTP-only on {where}")

    def refuse(self, point: Point) -> str | None:
        """A user's model file QNN cannot start from (a .tflite or IR, or a variant it lacks); catalogue points: none."""
        return model_source.refusal(point, "onnx") if model_source.is_model(point) else None

    def key(self, point: Point, work: Path | None = None) -> str:
        """Cache key: point, dtype, builder version, ONNX, opset, ORT (its QNN helpers) and the options."""
        import onnxruntime

        return cache_key({"point": point.id, "format": self.format, "dtype": point.dtype, "builder": BUILDER_VERSION,
                          "onnx": onnx.__version__, "opset": OPSET, "onnxruntime": onnxruntime.__version__,
                          "options": self.options})

    def make(self, point: Point, work: Path) -> Made:
        """The point's graph, QNN-preprocessed, and QDQ-quantized with QNN's config for int8."""
        from onnxruntime.quantization.execution_providers.qnn import qnn_preprocess_model

        model = build_onnx_model(point)
        path = work / "model.fp.onnx"
        onnx.save(model, str(path))
        metadata: dict[str, Any] = {"opset": OPSET, "options": self.options}
        if self.options["preprocess"]:
            pre = work / "model.pre.onnx"
            changed = bool(qnn_preprocess_model(str(path), str(pre)))
            metadata["preprocessed"] = changed
            if changed:
                path = pre
        if point.dtype == "int8":
            out = work / "model.qdq.onnx"
            metadata.update(self.quantize(path, out, model, point.seed))
            path = out
        else:
            metadata["htp_dtype"] = "fp16 (fp32 graph; the HTP computes it in fp16)" if point.dtype == "fp32" \
                else "fp16"
        final = onnx.load(str(path))
        ops = [n.op_type for n in final.graph.node]
        metadata["opset_out"] = next((o.version for o in final.opset_import if o.domain in ("", "ai.onnx")), None)
        metadata["ops_in_graph"] = sorted(set(ops) - {"QuantizeLinear", "DequantizeLinear"})
        metadata["nodes"] = len(ops)
        return Made(path=path, metadata=metadata)

    def quantize(self, src: Path, out: Path, model: onnx.ModelProto, seed: int) -> dict[str, Any]:
        """QDQ-quantize ``src`` with ``get_qnn_qdq_config`` (calibrated on the seeded reader)."""
        from onnxruntime.quantization import CalibrationDataReader, QuantType, quantize
        from onnxruntime.quantization.execution_providers.qnn import get_qnn_qdq_config

        class Reader(CalibrationReader, CalibrationDataReader):
            pass

        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # ORT logs a pre-processing hint and the opset upgrade on every call
        try:
            config = get_qnn_qdq_config(str(src), Reader(model, seed),
                                        activation_type=getattr(QuantType, _QUANT_TYPES[self.options["int8_activations"]]),
                                        weight_type=getattr(QuantType, _QUANT_TYPES[self.options["int8_weights"]]),
                                        per_channel=self.options["per_channel"])
            quantize(str(src), str(out), config)
        finally:
            root.setLevel(level)
        ops = [n.op_type for n in onnx.load(str(out)).graph.node]
        scheme = quant_scheme(self.options)
        return {"quantize": f"onnxruntime get_qnn_qdq_config + quantize, QDQ {scheme} "
                            f"({self.options['int8_activations']} activations, {self.options['int8_weights']} weights, "
                            f"{'per-channel' if self.options['per_channel'] else 'per-tensor'})",
                "htp_dtype": scheme, "quantize_linear_nodes": ops.count("QuantizeLinear"),
                "dequantize_linear_nodes": ops.count("DequantizeLinear"), "calibration_samples": CALIBRATION_SAMPLES}
