"""ONNX Runtime adapter: session options from the device YAML, inputs bound by IOBinding.

Execution providers come from the device YAML (``providers: [[name, {options}], ...]``):
CUDA, TensorRT, OpenVINO, QNN (Hexagon HTP/DSP), XNNPACK, NNAPI, CoreML, ... Short
names are accepted (``tensorrt`` → ``TensorrtExecutionProvider``, see ``PROVIDER_ALIASES``).

* A provider missing from this ORT build, or one ORT dropped while creating the session
  (missing CUDA libraries, no HTP), makes the point ``unsupported``.
* When the first provider is not the CPU one, the adapter finds where each node ran: after
  the timed runs it opens a second session with profiling on, runs once, and reads
  ``args.provider`` of every node event in the profile JSON. Nodes left on
  ``CPUExecutionProvider`` become ``info()['fallback_ops']`` (status ``fallback``).
  Timings come from the first session, which never profiles.
* With ``profile: true`` the same second session (profiling on) runs the model
  ``PROFILE_RUNS`` times after timing; ``info()['op_profile']`` holds the mean time of every
  node per inference (``suite/agent/profiling.py``), and placement is read from it too.
"""

from __future__ import annotations

from ..profiling import PROFILE_RUNS, op_profile
from . import RuntimeAdapter, Unsupported, register_runtime

_UNSUPPORTED_MARKERS = (
    "NOT_IMPLEMENTED",
    "Could not find an implementation",
    "is not supported",
    "No Op registered",
    "Unsupported",
)


#: Short provider names accepted in device YAMLs.
PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider", "qnn": "QNNExecutionProvider", "xnnpack": "XnnpackExecutionProvider",
    "nnapi": "NnapiExecutionProvider", "coreml": "CoreMLExecutionProvider", "dml": "DmlExecutionProvider",
    "rocm": "ROCMExecutionProvider", "migraphx": "MIGraphXExecutionProvider", "acl": "ACLExecutionProvider",
    "armnn": "ArmNNExecutionProvider", "webgpu": "WebGpuExecutionProvider",
}
CPU_PROVIDER = "CPUExecutionProvider"
#: Nodes ORT adds to move tensors between devices: not model work that fell back.
_COPY_OPS = ("MemcpyToHost", "MemcpyFromHost")


def provider_list(entries):
    """``(names, options)`` from device-YAML entries (names or ``[name, {options}]``)."""
    providers = []
    provider_options = []
    for entry in entries or [CPU_PROVIDER]:
        if isinstance(entry, (list, tuple)):
            name, opts = entry[0], (dict(entry[1]) if len(entry) > 1 else {})
        else:
            name, opts = entry, {}
        name = PROVIDER_ALIASES.get(str(name).lower(), name)
        providers.append(name)
        provider_options.append({str(k): _option_text(v) for k, v in opts.items()})
    return providers, provider_options


def _option_text(value):
    """ORT provider options are strings; YAML booleans become ``"1"``/``"0"``."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def placement_from_profile(events):
    """Provider → list of ``"OpType (node name)"`` from ORT profile events (the JSON list).

    Node events are the ``cat == "Node"`` entries whose ``args`` carry ``provider``
    (the ``*_kernel_time`` events); a fused subgraph (TensorRT, OpenVINO, QNN) is one node.
    """
    out = {}
    seen = set()
    for ev in events:
        if ev.get("cat") != "Node":
            continue
        args = ev.get("args") or {}
        provider = args.get("provider")
        if not provider:
            continue
        name = ev.get("name", "")
        for suffix in ("_kernel_time", "_fence_before", "_fence_after"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        label = "%s (%s)" % (args.get("op_name", "?"), name)  # noqa: UP031 - agent runs on Python 3.7
        if (provider, label) in seen:
            continue
        seen.add((provider, label))
        out.setdefault(provider, []).append(label)
    return out


def profile_from_events(events, runs):
    """The op profile (``suite/agent/profiling.py``) of ``runs`` profiled inferences after a warm-up run.

    Node times are the ``*_kernel_time`` events (``dur`` in µs); the warm-up run's events
    (the first of each node) are left out, the rest averaged over ``runs``.
    """
    per = {}
    for ev in events:
        name = ev.get("name", "")
        if ev.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        args = ev.get("args") or {}
        node = name[: -len("_kernel_time")]
        entry = per.setdefault(node, {"name": node, "type": args.get("op_name", "?"),
                                      "provider": args.get("provider"), "durs": []})
        entry["durs"].append(float(ev.get("dur", 0)))
    rows = []
    for entry in per.values():
        durs = entry.pop("durs")[1:] if len(entry["durs"]) > runs else entry.pop("durs")
        entry["time_us"] = sum(durs) / runs if runs else None
        entry["calls"] = len(durs)
        rows.append(entry)
    return op_profile(rows, "onnxruntime profiler (a second session after timing)", runs,
                      note="kernel times of the profiled session; the timed session never profiles")


def fallback_nodes(placement, preferred):
    """Nodes placed on the CPU provider when ``preferred`` (the first provider) is another one."""
    if preferred == CPU_PROVIDER:
        return []
    return [n for n in placement.get(CPU_PROVIDER, []) if not n.startswith(_COPY_OPS)]


@register_runtime("onnxruntime")
class OnnxRuntimeAdapter(RuntimeAdapter):
    """Runs ``.onnx`` artifacts with ``onnxruntime.InferenceSession``.

    Options: ``threads`` (intra-op), ``inter_threads``, ``providers`` (list of names or
    ``[name, {options}]``), ``graph_optimization`` (all | extended | basic | disable),
    ``session_config`` (``add_session_config_entry`` pairs, e.g.
    ``session.disable_cpu_ep_fallback: "1"``), ``placement`` (find node placement; default
    on when the first provider is not the CPU), ``profile`` (per-node times from a profiled
    second session after timing: ``info()['op_profile']``; the timed session never profiles).
    """

    modules = (("onnxruntime", "onnxruntime"),)

    @classmethod
    def version(cls):
        try:
            import onnxruntime as ort
        except ImportError:
            return None
        return ort.__version__

    def _session_options(self, profile_prefix=None):
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
        for key, value in (self.options.get("session_config") or {}).items():
            so.add_session_config_entry(str(key), str(value))
        if profile_prefix:
            so.enable_profiling = True
            so.profile_file_prefix = profile_prefix
        return so

    def _session(self, so):
        import onnxruntime as ort

        try:
            return ort.InferenceSession(self.path, sess_options=so, providers=self.requested,
                                        provider_options=self.requested_options)
        except Exception as exc:  # noqa: BLE001 - ORT raises many types; classify by text
            text = str(exc)
            if any(m in text for m in _UNSUPPORTED_MARKERS):
                raise Unsupported("onnxruntime: " + text) from None
            raise

    def load(self, path):
        import onnxruntime as ort

        self.path = path
        self.requested, self.requested_options = provider_list(self.options.get("providers"))
        available = ort.get_available_providers()
        missing = [p for p in self.requested if p not in available]
        if missing:
            raise Unsupported("onnxruntime: execution provider %s not available in this build (available: %s)"  # noqa: UP031
                              % (", ".join(missing), ", ".join(available)))
        self.session = self._session(self._session_options())
        self.providers = self.session.get_providers()
        dropped = [p for p in self.requested if p not in self.providers]
        if dropped:  # ORT logs and falls back when a provider fails to initialise
            raise Unsupported("onnxruntime: execution provider %s could not be created (session runs on %s)"  # noqa: UP031
                              % (", ".join(dropped), ", ".join(self.providers)))

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

        self.inputs = inputs
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

    def profiled_events(self, runs):
        """Profile events of ``runs`` inferences of a second session (never the timed one).

        The first run of the new session is not profiled work (it warms the session up); the
        JSON holds it, so events are taken from the runs after it.
        """
        import json
        import os
        import shutil
        import tempfile

        folder = tempfile.mkdtemp(prefix="hwbehave-ort-profile-")
        try:
            session = self._session(self._session_options(os.path.join(folder, "profile")))
            for _ in range(runs + 1):
                session.run(None, self.inputs)
            with open(session.end_profiling()) as f:
                return json.load(f)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def placement(self, events=None):
        """Provider → nodes, from one profiled run of a second session (never the timed one)."""
        return placement_from_profile(events if events is not None else self.profiled_events(0))

    def info(self):
        out = {"provider": self.providers[0] if self.providers else None, "providers": self.providers}
        events = None
        if self.options.get("profile") and getattr(self, "inputs", None):
            events = self.profiled_events(PROFILE_RUNS)
            out["op_profile"] = profile_from_events(events, PROFILE_RUNS)
        preferred = self.requested[0] if self.requested else CPU_PROVIDER
        if self.options.get("placement", preferred != CPU_PROVIDER) and getattr(self, "inputs", None):
            placement = self.placement(events)
            out["placement"] = {p: nodes[:200] for p, nodes in placement.items()}
            out["placement_counts"] = {p: len(nodes) for p, nodes in placement.items()}
            out["fallback_ops"] = fallback_nodes(placement, preferred)
        return out

    def close(self):
        self.session = None
        self.binding = None
