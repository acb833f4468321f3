"""LiteRT (TFLite) adapter: ``ai_edge_litert``, else ``tflite_runtime``, else ``tensorflow.lite``.

Options (from the device YAML ``runtime:``):

* ``threads``: interpreter threads.
* ``xnnpack`` (default true): false selects ``BUILTIN_WITHOUT_DEFAULT_DELEGATES`` so the
  reference/optimized builtin kernels run without the default XNNPACK delegate.
* ``delegate``: a delegate library path (``libedgetpu.so.1``), or ``{path, options}``;
  ``delegates``: a list of those; ``delegate_options``: options of a single ``delegate``.
  Loaded with ``load_delegate(path, options)``; one that cannot load makes the job
  ``unsupported`` with what to install.

Full-integer models with int8/uint8 inputs: ``input_specs`` reports float32, ``bind``
quantizes the float input with the input tensor's scale and zero point, and ``outputs``
dequantizes, so output statistics compare with the fp32 model's. Inputs are set once;
``invoke`` is the timed function.

With an external delegate, ``info()['cpu_ops']`` lists the ops left on the CPU (from the
interpreter's node list) and they become ``fallback_ops``, so the job's status is
``fallback``; a delegate that takes no op at all makes the job ``unsupported``. Where the
interpreter does not expose its nodes the placement is reported as ``unknown``.

Python 3.7 syntax; the runtime is imported lazily.
"""

from __future__ import annotations

import ctypes
import os

from . import RuntimeAdapter, Unsupported, register_runtime

#: Delegate library name fragments → what to install when it cannot load.
DELEGATE_HINTS = (
    ("edgetpu", "install the Edge TPU runtime (Debian package libedgetpu1-std or libedgetpu1-max from "
                "https://coral.ai/software/) and connect the Coral device"),
    ("gpu", "build or download the TFLite GPU delegate (libtensorflowlite_gpu_delegate.so) for this platform"),
    ("hexagon", "push libhexagon_interface.so and the Hexagon nn skel libraries to the device"),
    ("qnn", "install the Qualcomm QNN TFLite delegate (libQnnTFLiteDelegate.so) and its backend libraries"),
    ("nnapi", "NNAPI is an Android system API: use an Android device"),
)

_UNSUPPORTED_MARKERS = (
    "unresolved custom op",
    "Didn't find op for builtin opcode",
    "is not supported",
    "Unsupported",
    "not supported by",
)


def _import_interpreter():
    """``(module, package name)`` of the first importable TFLite interpreter."""
    try:
        from ai_edge_litert import interpreter as mod

        return mod, "ai_edge_litert"
    except ImportError:
        pass
    try:
        from tflite_runtime import interpreter as mod

        return mod, "tflite_runtime"
    except ImportError:
        pass
    try:
        import tensorflow as tf

        return tf.lite, "tensorflow"
    except ImportError:
        raise Unsupported("litert: no TFLite interpreter installed: pip install ai-edge-litert "
                          "(or tflite-runtime, or tensorflow)") from None


def delegate_hint(path):
    """What to install for a delegate library that cannot load."""
    name = os.path.basename(str(path)).lower()
    for fragment, hint in DELEGATE_HINTS:
        if fragment in name:
            return hint
    return "install the delegate library and check that the path is right (absolute, or on LD_LIBRARY_PATH)"


def delegate_entries(options):
    """``[(path, options dict)]`` from the ``delegate``/``delegates`` options."""
    raw = []
    if options.get("delegate"):
        single = options["delegate"]
        if isinstance(single, dict):
            raw.append(single)
        else:
            raw.append({"path": single, "options": options.get("delegate_options") or {}})
    for entry in options.get("delegates") or []:
        raw.append(entry if isinstance(entry, dict) else {"path": entry})
    out = []
    for entry in raw:
        if not entry.get("path"):
            raise ValueError(f"litert: a delegate entry needs a path: {entry!r}")
        opts = dict((str(k), str(v)) for k, v in (entry.get("options") or {}).items())
        out.append((str(entry["path"]), opts))
    return out


def cpu_nodes(ops, output_tensors):
    """Indices of the non-delegate nodes that run on the CPU after delegation.

    ``ops`` is the interpreter's node list (``_get_ops_details()``): it keeps the nodes a
    delegate replaced and adds one ``DELEGATE`` node per delegated partition. A node is
    delegated when it produces a delegate partition's output, or when every consumer of
    its outputs is delegated and no partition reads them; nodes are in topological order,
    so one pass from the end decides each node after its consumers.
    """
    delegate_outs = set()
    delegate_ins = set()
    for op in ops:
        if op["op_name"] == "DELEGATE":
            delegate_outs.update(int(t) for t in op["outputs"])
            delegate_ins.update(int(t) for t in op["inputs"])
    consumers = {}
    for op in ops:
        if op["op_name"] == "DELEGATE":
            continue
        for t in op["inputs"]:
            consumers.setdefault(int(t), []).append(op["index"])
    outputs = set(int(t) for t in output_tensors)
    on_cpu = {}
    for op in reversed([o for o in ops if o["op_name"] != "DELEGATE"]):
        outs = [int(t) for t in op["outputs"]]
        if any(t in delegate_outs for t in outs):
            on_cpu[op["index"]] = False
        elif any(t in delegate_ins or t in outputs for t in outs):
            on_cpu[op["index"]] = True
        else:
            users = [u for t in outs for u in consumers.get(t, [])]
            on_cpu[op["index"]] = any(on_cpu.get(u, True) for u in users) if users else True
    return sorted(i for i, cpu in on_cpu.items() if cpu)


@register_runtime("litert")
class LiteRtRuntime(RuntimeAdapter):
    """Runs ``.tflite`` artifacts with the LiteRT interpreter (see the module docstring)."""

    modules = (("ai_edge_litert", "ai-edge-litert"), ("tflite_runtime", "tflite-runtime"), ("tensorflow", "tensorflow"))

    @classmethod
    def version(cls):
        try:
            mod, package = _import_interpreter()
        except Unsupported:
            return None
        if package == "tensorflow":
            import tensorflow as tf

            return "tensorflow " + tf.__version__
        top = __import__(package)
        return f"{package} {getattr(top, '__version__', 'unknown')}"

    def load(self, path):
        mod, package = _import_interpreter()
        self.package = package
        self.delegate_paths = []
        delegates = []
        for dpath, dopts in delegate_entries(self.options):
            try:
                # open the library first: LiteRT's load_delegate leaves a half-built object
                # behind when dlopen fails (its __del__ then raises)
                ctypes.CDLL(dpath)
                delegates.append(mod.load_delegate(dpath, dopts))
            except (ValueError, OSError, RuntimeError) as exc:
                reason = str(exc).strip() or type(exc).__name__
                raise Unsupported(f"litert: delegate {dpath} cannot be loaded ({reason}); "
                                  f"{delegate_hint(dpath)}") from None
            self.delegate_paths.append(dpath)
        self.xnnpack = bool(self.options.get("xnnpack", True))
        kwargs = {"model_path": path, "experimental_delegates": delegates or None}
        threads = self.options.get("threads")
        if threads:
            kwargs["num_threads"] = int(threads)
        resolver = getattr(mod, "OpResolverType", None)
        if resolver is not None:
            kwargs["experimental_op_resolver_type"] = (resolver.AUTO if self.xnnpack
                                                       else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        elif not self.xnnpack:
            raise Unsupported(f"litert: {package} cannot turn XNNPACK off (no OpResolverType)")
        try:
            self.interpreter = mod.Interpreter(**kwargs)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            text = str(exc)
            if any(m in text for m in _UNSUPPORTED_MARKERS):
                raise Unsupported("litert: " + text.strip()) from None
            raise
        self.in_details = self.interpreter.get_input_details()
        self.out_details = self.interpreter.get_output_details()
        self.placement = self._placement()
        if self.delegate_paths and self.placement.get("delegated_ops") == 0:
            raise Unsupported(f"litert: delegate {', '.join(self.delegate_paths)} took none of the "
                              f"{self.placement.get('ops', 0)} ops (all would run on the CPU)")

    def _placement(self):
        """Op counts and, with an external delegate, the ops left on the CPU."""
        details = getattr(self.interpreter, "_get_ops_details", None)
        if details is None:
            return {"ops": None, "cpu_ops": "unknown"}
        try:
            ops = details()
        except (ValueError, RuntimeError):
            return {"ops": None, "cpu_ops": "unknown"}
        nodes = [o for o in ops if o["op_name"] != "DELEGATE"]
        out = {"ops": len(nodes), "partitions": len(ops) - len(nodes)}
        if not self.delegate_paths:
            return out
        outputs = [d["index"] for d in self.out_details]
        cpu = cpu_nodes(ops, outputs)
        by_index = dict((o["index"], o["op_name"]) for o in ops)
        out["cpu_ops"] = [f"{by_index[i]}#{i}" for i in cpu]
        out["delegated_ops"] = len(nodes) - len(cpu)
        return out

    def input_specs(self):
        out = []
        for d in self.in_details:
            dtype = d["dtype"].__name__ if hasattr(d["dtype"], "__name__") else str(d["dtype"])
            if self._quantized(d):
                dtype = "float32"  # quantized in bind() with the tensor's scale and zero point
            out.append((d["name"], [int(s) for s in d["shape"]], dtype))
        return out

    @staticmethod
    def _quantized(detail):
        scale, _ = detail.get("quantization", (0.0, 0))
        return scale != 0.0 and detail["dtype"].__name__ in ("int8", "uint8", "int16")

    def bind(self, inputs):
        import numpy as np

        interp = self.interpreter
        for d in self.in_details:
            arr = np.asarray(inputs[d["name"]])
            if self._quantized(d):
                scale, zero = d["quantization"]
                info = np.iinfo(d["dtype"])
                arr = np.clip(np.round(arr.astype(np.float32) / scale) + zero, info.min, info.max)
            interp.set_tensor(d["index"], arr.astype(d["dtype"]).reshape(d["shape"]))
        return interp.invoke

    def outputs(self):
        import numpy as np

        out = []
        for d in self.out_details:
            arr = self.interpreter.get_tensor(d["index"])
            if self._quantized(d):
                scale, zero = d["quantization"]
                arr = (arr.astype(np.float32) - zero) * np.float32(scale)
            out.append(arr)
        return out

    def info(self):
        delegate = os.path.basename(self.delegate_paths[0]) if self.delegate_paths else None
        provider = delegate or ("xnnpack" if self.xnnpack else "builtin")
        out = {"provider": provider, "runtime_package": self.package, "xnnpack": self.xnnpack,
               "delegates": list(self.delegate_paths), "threads": self.options.get("threads")}
        out.update(self.placement)
        out["io_quantization"] = [
            {"name": d["name"], "dtype": d["dtype"].__name__, "scale": float(d["quantization"][0]),
             "zero_point": int(d["quantization"][1])}
            for d in list(self.in_details) + list(self.out_details) if self._quantized(d)]
        if self.delegate_paths and isinstance(out.get("cpu_ops"), list) and out["cpu_ops"]:
            out["fallback_ops"] = list(out["cpu_ops"])
        if self.options.get("profile"):
            out["op_profile_error"] = ("litert: the Python interpreter has no per-op profiler; the benchmark_model "
                                       "runtime (--enable_op_profiling) gives per-op times of .tflite models")
        return out

    def close(self):
        self.interpreter = None
