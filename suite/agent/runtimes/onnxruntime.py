"""ONNX Runtime adapter: session options from the device YAML, inputs bound by IOBinding."""

from __future__ import annotations

from . import RuntimeAdapter, Unsupported, register_runtime

_UNSUPPORTED_MARKERS = (
    "NOT_IMPLEMENTED",
    "Could not find an implementation",
    "is not supported",
    "No Op registered",
    "Unsupported",
)


@register_runtime("onnxruntime")
class OnnxRuntimeAdapter(RuntimeAdapter):
    """Runs ``.onnx`` artifacts with ``onnxruntime.InferenceSession``.

    Options: ``threads`` (intra-op), ``inter_threads``, ``providers`` (list of names or
    ``[name, {options}]``), ``graph_optimization`` (all | extended | basic | disable),
    ``profile`` (bool, keeps ORT's per-node profile in ``info()``).
    """

    modules = ("onnxruntime",)

    @classmethod
    def version(cls):
        try:
            import onnxruntime as ort
        except ImportError:
            return None
        return ort.__version__

    def load(self, path):
        import onnxruntime as ort

        so = ort.SessionOptions()
        threads = self.options.get("threads")
        if threads:
            so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = int(self.options.get("inter_threads", 1))
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        level = self.options.get("graph_optimization", "all")
        so.graph_optimization_level = {
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        }[level]
        so.log_severity_level = 3
        if self.options.get("profile"):
            so.enable_profiling = True
        providers = []
        provider_options = []
        for entry in self.options.get("providers") or ["CPUExecutionProvider"]:
            if isinstance(entry, (list, tuple)):
                providers.append(entry[0])
                provider_options.append(dict(entry[1]) if len(entry) > 1 else {})
            else:
                providers.append(entry)
                provider_options.append({})
        available = ort.get_available_providers()
        missing = [p for p in providers if p not in available]
        if missing:
            raise Unsupported("onnxruntime: execution provider %s not available in this build (available: %s)"
                              % (", ".join(missing), ", ".join(available)))
        try:
            self.session = ort.InferenceSession(path, sess_options=so, providers=providers,
                                                provider_options=provider_options)
        except Exception as exc:  # noqa: BLE001 - ORT raises many types; classify by text
            text = str(exc)
            if any(m in text for m in _UNSUPPORTED_MARKERS):
                raise Unsupported("onnxruntime: " + text) from None
            raise
        self.providers = self.session.get_providers()

    def input_specs(self):
        type_map = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int8)": "int8",
                    "tensor(uint8)": "uint8", "tensor(int64)": "int64", "tensor(int32)": "int32"}
        out = []
        for i in self.session.get_inputs():
            shape = [d if isinstance(d, int) else 1 for d in i.shape]
            out.append((i.name, shape, type_map.get(i.type, "float32")))
        return out

    def bind(self, inputs):
        import onnxruntime as ort

        self.binding = self.session.io_binding()
        self._keep = []
        for name, arr in inputs.items():
            value = ort.OrtValue.ortvalue_from_numpy(arr)
            self._keep.append(value)
            self.binding.bind_ortvalue_input(name, value)
        for o in self.session.get_outputs():
            self.binding.bind_output(o.name)
        run = self.session.run_with_iobinding
        binding = self.binding

        def infer():
            run(binding)

        return infer

    def outputs(self):
        return [v.numpy() for v in self.binding.get_outputs()]

    def info(self):
        out = {"provider": self.providers[0] if self.providers else None, "providers": self.providers}
        if self.options.get("profile"):
            out["profile_file"] = self.session.end_profiling()
        return out

    def close(self):
        self.session = None
        self.binding = None
