"""OpenVINO adapter: compile for a device with an explicit precision, infer on a pre-set request.

Options (device YAML ``runtime``): ``threads`` → ``INFERENCE_NUM_THREADS``; ``options.device``
(CPU, GPU, NPU, MYRIAD, ... default CPU); ``options.precision`` → ``INFERENCE_PRECISION_HINT``
(``f32``, ``f16``, ``bf16``; leave it out only to measure the plug-in's default);
``options.hint`` → ``PERFORMANCE_HINT`` (default ``LATENCY``); ``options.config`` extra
compile properties; ``options.profile`` (alias ``perf_counters``) adds per-layer timings:
after timing, a **second** compiled model with ``PERF_COUNT`` runs ``PROFILE_RUNS`` times and
``get_profiling_info()`` gives each layer's time, type and exec type (``info()['op_profile']``).
The timed model never has ``PERF_COUNT`` on (it adds bookkeeping to every inference).

``info()`` records the precision the plug-in actually chose
(``compiled.get_property("INFERENCE_PRECISION_HINT")``) and, from the runtime model,
each layer's execution type (``brgconv_avx512_bf16``…) and runtime precision, so a layer
that ran at another precision than asked is listed in ``precision_mismatch``.

Artifacts: ``.ovir`` (IR xml + bin in one uncompressed zip, written by
``suite.backends.openvino.worker``), ``.xml`` or ``.onnx`` (OpenVINO reads both).
"""

from __future__ import annotations

import os
import zipfile

from ..profiling import PROFILE_RUNS, op_profile
from . import RuntimeAdapter, Unsupported, register_runtime

IR_XML = "model.xml"
IR_BIN = "model.bin"

_UNSUPPORTED_MARKERS = ("not supported", "Unsupported", "Cannot create", "No conversion rule",
                        "doesn't support", "is not implemented")
#: Layers that only move data at the graph boundary (their precision says nothing about compute).
_BOUNDARY = ("Input", "Output", "Parameter", "Result", "Const", "Constant")


def unpack_ir(path):
    """Path of ``model.xml`` for an ``.ovir`` zip (unpacked once next to it), else ``path``."""
    if not zipfile.is_zipfile(path):
        return path
    target = path + ".d"
    xml = os.path.join(target, IR_XML)
    if not os.path.exists(xml):
        tmp = f"{target}.tmp{os.getpid()}"
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if not {IR_XML, IR_BIN} <= names:
                raise ValueError(f"openvino: {path} holds {sorted(names)}, expected {IR_XML} and {IR_BIN}")
            zf.extractall(tmp, members=[IR_XML, IR_BIN])
        try:
            os.rename(tmp, target)
        except OSError:  # another worker unpacked it first
            pass
    return xml


def _openvino():
    """The OpenVINO API module: ``openvino`` (2023.1+) or ``openvino.runtime`` (older, e.g. 2022.3 for MYRIAD)."""
    import openvino

    if hasattr(openvino, "Core"):
        return openvino
    import openvino.runtime as runtime

    return runtime


def _type_name(value):
    """``ov.Type`` / property value → short string (``f32``, ``bf16``)."""
    to_string = getattr(value, "to_string", None)
    return to_string() if callable(to_string) else str(value)


def layer_report(runtime_model):
    """Per-layer facts of a compiled model's runtime graph (no profiling needed).

    Returns a list of ``{"name", "layer_type", "exec_type", "precision", "original"}`` for
    layers that compute (graph inputs, outputs and constants left out).
    """
    layers = []
    for op in runtime_model.get_ordered_ops():
        rt = op.get_rt_info()

        def get(key, rt=rt):
            try:
                return rt[key].astype(str)
            except (KeyError, RuntimeError, AttributeError):
                return None

        layer_type = get("layerType")
        if layer_type in _BOUNDARY:
            continue
        layers.append({"name": op.get_friendly_name(), "layer_type": layer_type,
                       "exec_type": get("primitiveType"), "precision": get("runtimePrecision"),
                       "original": get("originalLayersNames")})
    return layers


def precision_mismatch(layers, precision):
    """Compute layers whose runtime precision differs from ``precision`` (reorders ignored).

    int8 layers are not mismatches of an f32/bf16 request: a quantized graph runs its
    quantized layers in integer arithmetic whatever the hint says.
    """
    out = []
    for layer in layers:
        p = layer.get("precision")
        if not p or not precision or layer.get("layer_type") == "Reorder":
            continue
        if p != precision and p not in ("i8", "u8", "i32"):
            out.append("{} ({}: {}, {})".format(layer["name"], layer.get("layer_type"), p, layer.get("exec_type")))
    return out


@register_runtime("openvino")
class OpenVinoAdapter(RuntimeAdapter):
    """Runs ``.ovir``/``.xml``/``.onnx`` artifacts with ``openvino.Core``."""

    modules = (("openvino", "openvino"),)

    @classmethod
    def version(cls):
        try:
            ov = _openvino()
        except ImportError:
            return None
        return getattr(ov, "__version__", None) or ov.get_version()

    def _config(self):
        opts = self.options
        config = {"PERFORMANCE_HINT": str(opts.get("hint", "LATENCY"))}
        if opts.get("threads"):
            config["INFERENCE_NUM_THREADS"] = int(opts["threads"])
        if opts.get("precision"):
            config["INFERENCE_PRECISION_HINT"] = str(opts["precision"])
        config.update(opts.get("config") or {})
        return config

    def load(self, path):
        ov = _openvino()
        self.core = ov.Core()
        self.device = str(self.options.get("device", "CPU"))
        base = self.device.split(":")[0].split(".")[0]
        available = self.core.available_devices
        if base not in ("AUTO", "HETERO", "MULTI", "BATCH") and not any(d.split(".")[0] == base for d in available):
            raise Unsupported("openvino: device {} not available here (available: {})".format(self.device, ", ".join(available) or "none"))
        self.config = self._config()
        try:
            model = self.core.read_model(unpack_ir(path))
            self.model = model
            self.compiled = self.core.compile_model(model, self.device, self.config)
        except RuntimeError as exc:
            text = str(exc)
            if any(m in text for m in _UNSUPPORTED_MARKERS):
                raise Unsupported("openvino: " + text[:2000]) from None
            raise
        self.request = self.compiled.create_infer_request()

    def input_specs(self):
        out = []
        for port in self.compiled.inputs:
            shape = [d.get_length() if d.is_static else 1 for d in port.get_partial_shape()]
            out.append((port.get_any_name(), shape, str(port.get_element_type().to_dtype())))
        return out

    def bind(self, inputs):
        ov = _openvino()
        self.inputs = inputs
        self._keep = []
        for i, port in enumerate(self.compiled.inputs):
            tensor = ov.Tensor(inputs[port.get_any_name()], shared_memory=True)
            self._keep.append(tensor)
            self.request.set_input_tensor(i, tensor)
        request = self.request
        # infer() copies every output into numpy unless told to share it: on a 1.6 MB output
        # that copy is ~40 us, which benchmark_app does not pay. OpenVINO < 2023.1 lacks the
        # keyword (and copies less): fall back to the plain call there.
        try:
            request.infer(share_outputs=True)
        except TypeError:
            def infer():
                request.infer()
        else:
            def infer():
                request.infer(share_outputs=True)

        return infer

    def outputs(self):
        return [self.request.get_output_tensor(i).data.copy() for i in range(len(self.compiled.outputs))]

    def info(self):
        def prop(name):
            try:
                return self.compiled.get_property(name)
            except RuntimeError:
                return None

        used = prop("INFERENCE_PRECISION_HINT")
        used = _type_name(used) if used is not None else None
        layers = layer_report(self.compiled.get_runtime_model())
        out = {"provider": "openvino:" + self.device, "device": self.device,
               "precision_requested": self.options.get("precision"), "precision": used,
               "threads": prop("INFERENCE_NUM_THREADS"), "performance_hint": str(prop("PERFORMANCE_HINT")),
               "layers": layers[:200],
               "exec_types": sorted({layer["exec_type"] for layer in layers if layer.get("exec_type")}),
               "precision_mismatch": precision_mismatch(layers, used)}
        try:
            out["device_name"] = self.core.get_property(self.device.split(":")[0], "FULL_DEVICE_NAME")
        except RuntimeError:
            pass
        if (self.options.get("profile") or self.options.get("perf_counters")) and getattr(self, "inputs", None):
            out["op_profile"] = self.profile(PROFILE_RUNS)
        return out

    def profile(self, runs):
        """Per-layer times from a second compiled model with ``PERF_COUNT`` (never the timed one).

        One untimed inference, then ``runs`` inferences, each read with ``get_profiling_info()``;
        layers that did not execute (optimized out, not run) are left out.
        """
        ov = _openvino()
        config = dict(self.config, PERF_COUNT=True)
        compiled = self.core.compile_model(self.model, self.device, config)
        request = compiled.create_infer_request()
        keep = []
        for i, port in enumerate(compiled.inputs):
            tensor = ov.Tensor(self.inputs[port.get_any_name()], shared_memory=True)
            keep.append(tensor)
            request.set_input_tensor(i, tensor)
        request.infer()
        per = {}
        for _ in range(runs):
            request.infer()
            for p in request.get_profiling_info():
                if "EXECUTED" not in str(p.status):
                    continue
                row = per.setdefault(p.node_name, {"name": p.node_name, "type": p.node_type,
                                                   "exec_type": p.exec_type, "time_us": 0.0, "cpu_us": 0.0})
                row["time_us"] += p.real_time.total_seconds() * 1e6 / runs
                row["cpu_us"] += p.cpu_time.total_seconds() * 1e6 / runs
        del keep
        return op_profile(list(per.values()), "openvino PERF_COUNT (a second compiled model after timing)", runs,
                          note="get_profiling_info() real time per layer; the timed model runs without PERF_COUNT")

    def close(self):
        self.request = None
        self.compiled = None
        self._keep = []
