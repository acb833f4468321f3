"""Qualcomm QNN adapter: ONNX Runtime with the QNN plugin execution provider on the Hexagon HTP.

The QNN EP (``onnxruntime-qnn`` 2.x) is a plugin: the adapter registers its library with
``onnxruntime.register_execution_provider_library`` once per process, takes the EP's devices
from ``onnxruntime.get_ep_devices()`` and adds them with
``SessionOptions.add_provider_for_devices(devices, {"backend_path": <libQnnHtp.so>, ...})``.
On an x86 host the HTP graph is prepared and executed by Qualcomm's HTP emulation
(``libHtpPrepare.so``): the outputs are the HTP's arithmetic, the timings are emulation
(``timing = "emulated"``, decided by :func:`timing_kind` from the machine the agent runs on;
on a Snapdragon board the same adapter reports ``measured``).

Options (device YAML ``runtime.options``; ``threads`` as for onnxruntime):

* ``provider_options``: QNN EP options (strings), e.g. ``soc_model: SM8550``,
  ``htp_performance_mode: burst``; ``backend_path`` defaults to the package's ``libQnnHtp.so``;
* ``ep_library``: the plugin library (default ``onnxruntime_qnn.get_library_path()``; give it
  on a board where the EP was built with the QNN SDK instead of installed from PyPI);
* ``session_config``: ``add_session_config_entry`` pairs; ``session.disable_cpu_ep_fallback:
  "1"`` makes a node the HTP rejects a session failure (status ``unsupported``, the EP's
  "Unsupported nodes in QNN EP" list in the error), ``"0"`` lets it run on the CPU (status
  ``fallback`` with the nodes that left the HTP);
* ``profiling_level``: ``detailed`` (per-node cycles), ``basic`` or ``off`` (default ``off``);
  ``profile_runs`` (default 3): inferences of the inspection session (below);
* ``placement``: find where each node ran when CPU fallback is allowed (default on; off, a
  fallback goes unnoticed: the EP names rejected nodes only when fallback is disabled).

Graph-input quantization and graph-output dequantization stay on the HTP
(``offload_graph_io_quantization: "0"`` unless the device says otherwise): with fallback
allowed the EP would hand them to the CPU, and they would be listed as fallback.

Profiling and placement never touch the timed session: after the timed runs, ``info()``
opens a second session with the QNN profiler (``profiling_level`` + ``profiling_file_path``)
and, when fallback is allowed, ORT's profiler, runs it ``profile_runs`` times and parses the
HTP's CSV into per-node records (``info()['htp_profile']``, :func:`parse_htp_profile`). Those
cycles carry the adapter's timing kind: on x86 they are emulation (identical runs differ by
more than 3x), never device cycles.

A graph the HTP accepted node by node can still fail when the HTP prepares it (graph
finalize, e.g. ``QNN_COMMON_ERROR_MEM_ALLOC`` for a 16-bit PReLU): the op does not run on the
HTP either, so it is ``unsupported`` too (F7), and its text starts ``qnn: HTP graph finalize
failed (<QNN code>)`` where a rejection says ``qnn: the HTP rejects <nodes>``: both kinds stay
apart in the error texts. (It is the same prepare code a Snapdragon runs for on-device
preparation; a failure of the emulation itself cannot be told apart from here.)
"""

from __future__ import annotations

import csv
import os
import platform
import re
import shutil
import tempfile

from . import Unsupported, register_runtime
from .onnxruntime import CPU_PROVIDER, OnnxRuntimeAdapter, fallback_nodes

EP_NAME = "QNNExecutionProvider"
#: Machines on which the QNN HTP backend can only be Qualcomm's host emulation.
EMULATING_MACHINES = ("x86_64", "amd64", "x86", "i386", "i686")
PROFILING_LEVELS = ("off", "basic", "detailed")
_FALLBACK_KEY = "session.disable_cpu_ep_fallback"

_UNSUPPORTED_LINE = re.compile(r"Unsupported nodes in QNN EP:(.*)$")
_NODE_ENTRY = re.compile(r"\{\s*name:\s*([^,}]*?)\s*,\s*type:\s*([^,}\s]+)\s*\}")
_FALLBACK_DISABLED = "fallback to CPU EP has been explicitly disabled"
_FINALIZE = "Failed to finalize QNN graph"
_EP_CREATE = ("CreateProvider", "could not be created", "Failed to load", "Failed to create")
_QNN_ERROR = re.compile(r"(QNN_[A-Z0-9_]+)")
_NODE_EVENT = re.compile(r"^(.*?):?\s*OpId_(\d+) \(cycles\)$")


def timing_kind(machine=None):
    """``emulated`` on x86 hosts (the HTP is Qualcomm's emulation there), else ``measured``."""
    machine = (machine if machine is not None else platform.machine()).lower()
    return "emulated" if machine in EMULATING_MACHINES else "measured"


def unsupported_nodes(log_text):
    """``"Type (name)"`` of each node the QNN EP logged as unsupported, in log order, each once.

    The EP writes ``Unsupported nodes in QNN EP: { name: erf_node_5, type: Erf }`` (more
    entries on one line when several nodes are refused; the line repeats per partitioning pass).
    """
    out = []
    for line in (log_text or "").splitlines():
        m = _UNSUPPORTED_LINE.search(line)
        if not m:
            continue
        for name, op_type in _NODE_ENTRY.findall(m.group(1)):
            label = "%s (%s)" % (op_type, name)
            if label not in out:
                out.append(label)
    return out


def parse_htp_profile(text):
    """Records of the QNN EP's HTP profiling CSV (``profiling_level`` + ``profiling_file_path``).

    The CSV has the columns ``Msg Timestamp, Message, Time, Unit of Measurement, Timing
    Source, Event Level, Event Identifier``. A ``FINALIZE`` root row (µs) opens a graph
    preparation with its sub-events; an execution is the rows up to its ``EXECUTE`` root
    row ("QNN (execute) time", µs): ``BACKEND`` rows (accelerator time in µs and in cycles,
    VTCM acquire, HVX threads) and, at ``detailed`` level, one ``NODE`` row per HTP op
    (``conv_node_4_token_1:OpId_38 (cycles)``). With several HTP partitions one inference
    writes one execution per partition; executions are grouped into graphs by their node list.

    Returns ``{"finalize": [{"us", "steps": {name: us}}], "graphs": [{"executions",
    "execute_us": [...], "accelerator_us": [...], "accelerator_cycles": [...], "nodes":
    [{"node", "op_id", "cycles": [...]}]}], "rows": n}``; nothing is dropped silently:
    rows of an unknown shape are counted in ``"unparsed"``.
    """
    finalize = []
    executions = []
    current = {"backend": {}, "nodes": []}
    unparsed = 0
    rows = 0
    for row in csv.reader((text or "").splitlines()):
        if not row or row[0].strip() == "Msg Timestamp":
            continue
        rows += 1
        if len(row) < 7:
            unparsed += 1
            continue
        message, value, unit, level = row[1].strip(), row[2].strip(), row[3].strip(), row[5].strip()
        ident = ",".join(row[6:]).strip()
        try:
            number = float(value)
        except ValueError:
            unparsed += 1
            continue
        inside_execution = bool(current["nodes"] or current["backend"])
        if message == "FINALIZE" and not inside_execution:
            finalize.append({"us": number, "steps": {}})
        elif message == "UNKNOWN" and level == "SUB-EVENT" and finalize and not inside_execution:
            finalize[-1]["steps"][ident] = number
        elif message == "NODE":
            m = _NODE_EVENT.match(ident)
            if m:
                current["nodes"].append((m.group(1).strip() or "?", int(m.group(2)), number))
            else:
                unparsed += 1
        elif message == "BACKEND":
            current["backend"][(ident, unit)] = number
        elif message == "EXECUTE":
            current["execute_us"] = number if unit == "US" else None
            executions.append(current)
            current = {"backend": {}, "nodes": []}
        else:
            unparsed += 1
    # the EP writes the first graph's preparation twice in a row: keep it once
    finalize = [f for i, f in enumerate(finalize) if i == 0 or f != finalize[i - 1]]
    return {"finalize": finalize, "graphs": _group_executions(executions, max(1, len(finalize))),
            "rows": rows, "unparsed": unparsed}


def _group_executions(executions, n_graphs):
    """Executions grouped by graph: by node list (detailed), else in turn over ``n_graphs`` (basic)."""
    graphs = []
    by_key = {}
    for i, ex in enumerate(executions):
        key = tuple((name, op_id) for name, op_id, _ in ex["nodes"]) or ("graph", i % n_graphs)
        graph = by_key.get(key)
        if graph is None:
            graph = {"executions": 0, "execute_us": [], "accelerator_us": [], "accelerator_cycles": [],
                     "nodes": [{"node": name, "op_id": op_id, "cycles": []} for name, op_id, _ in ex["nodes"]]}
            by_key[key] = graph
            graphs.append(graph)
        graph["executions"] += 1
        if ex.get("execute_us") is not None:
            graph["execute_us"].append(ex["execute_us"])
        backend = ex["backend"]
        if ("Accelerator (execute) time", "US") in backend:
            graph["accelerator_us"].append(backend[("Accelerator (execute) time", "US")])
        if ("Accelerator (execute) time (cycles)", "CYCLES") in backend:
            graph["accelerator_cycles"].append(backend[("Accelerator (execute) time (cycles)", "CYCLES")])
        for record, (_, _, value) in zip(graph["nodes"], ex["nodes"]):
            record["cycles"].append(value)
    return graphs


def htp_profile_summary(parsed, timing, level, runs):
    """The per-node records ``info()`` keeps: each HTP node's median cycles, labelled with ``timing``."""
    graphs = []
    for g in parsed["graphs"]:
        graphs.append({
            "executions": g["executions"],
            "execute_us": g["execute_us"], "accelerator_us": g["accelerator_us"],
            "accelerator_cycles": g["accelerator_cycles"],
            "nodes": [{"node": n["node"], "op_id": n["op_id"], "cycles": n["cycles"],
                       "cycles_median": _median(n["cycles"])} for n in g["nodes"]],
        })
    note = ("cycles and times of Qualcomm's HTP emulation on this host: valid for which ops ran on the HTP, "
            "not for device latency (identical runs differ by more than 3x)") if timing == "emulated" else \
        "cycles and times reported by the HTP"
    return {"timing": timing, "level": level, "runs": runs, "note": note,
            "finalize_us": [f["us"] for f in parsed["finalize"]], "finalize_steps": parsed["finalize"][:4],
            "graphs": graphs, "rows": parsed["rows"], "unparsed": parsed["unparsed"]}


def _median(values):
    if not values:
        return None
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2.0


class _CapturedStderr(object):
    """Point fd 2 at a temporary file while ORT creates a session; the text is kept and echoed back.

    ORT and the QNN EP log through ORT's default sink (standard error of the process), and
    that log is the only place the EP names the nodes it rejects.
    """

    def __enter__(self):
        import sys

        sys.stderr.flush()
        self.file = tempfile.TemporaryFile()
        self.saved = os.dup(2)
        os.dup2(self.file.fileno(), 2)
        self.text = ""
        return self

    def __exit__(self, *exc):
        import sys

        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.file.seek(0)
        data = self.file.read()
        self.file.close()
        if data:
            os.write(2, data)  # the worker's stderr tail still shows it
        self.text = data.decode("utf-8", "replace")
        return False


_REGISTERED = {}  # type: dict


def register_qnn_ep(library=None):
    """Register the QNN plugin EP once per process; returns its ``OrtEpDevice`` list.

    ``library`` defaults to the ``onnxruntime-qnn`` package's ``libonnxruntime_providers_qnn.so``.
    A missing package or library is :class:`Unsupported` (the message names the fix).
    """
    import onnxruntime as ort

    if library is None:
        try:
            import onnxruntime_qnn
        except ImportError:
            raise Unsupported("qnn: onnxruntime-qnn is not installed (pip install 'hwbehave[qnn]'), "
                              "and no ep_library was given") from None
        library = onnxruntime_qnn.get_library_path()
    if not hasattr(ort, "register_execution_provider_library"):
        raise Unsupported("qnn: onnxruntime %s cannot load plugin execution providers (needs >= 1.22; "
                          "onnxruntime-qnn 2.x needs >= 1.24.2)" % ort.__version__)
    if not os.path.exists(library):
        raise Unsupported("qnn: QNN EP library %s not found" % library)
    if EP_NAME not in _REGISTERED:
        if not any(d.ep_name == EP_NAME for d in ort.get_ep_devices()):
            try:
                ort.register_execution_provider_library(EP_NAME, library)
            except Exception as exc:  # noqa: BLE001 - ORT's Fail type; the text says why
                if "already registered" not in str(exc):
                    raise Unsupported("qnn: registering %s failed: %s" % (library, exc)) from None
        _REGISTERED[EP_NAME] = library
    devices = [d for d in ort.get_ep_devices() if d.ep_name == EP_NAME]
    if not devices:
        raise Unsupported("qnn: the QNN EP is registered but offers no device here")
    return devices


def default_backend_path():
    """The HTP backend library of the ``onnxruntime-qnn`` package (``libQnnHtp.so``), or ``None``."""
    try:
        import onnxruntime_qnn
    except ImportError:
        return None
    return onnxruntime_qnn.get_qnn_htp_path()


def classify_session_error(text, log_text=""):
    """``(status, error)`` of a failed session creation: rejected nodes, finalize failure, or other.

    * fallback disabled and the EP refused nodes → ``unsupported``, naming them (from the log);
    * the HTP failed to finalize (prepare) the graph → ``unsupported``, with the QNN error code;
    * the EP itself could not be created (bad provider options, no HTP) → ``unsupported``;
    * anything else → ``runtime_error`` with ORT's text.
    """
    rejected = unsupported_nodes(log_text)
    if _FALLBACK_DISABLED in text:
        nodes = ", ".join(rejected) if rejected else "(the EP logged no node list)"
        return "unsupported", ("qnn: the HTP rejects %s; CPU fallback is disabled (%s=1)" % (nodes, _FALLBACK_KEY))
    if _FINALIZE in text:
        code = _QNN_ERROR.search(text)
        return "unsupported", ("qnn: HTP graph finalize failed (%s): %s" % (code.group(1) if code else "no QNN code",
                                                                            _tail(text)))
    if any(m in text for m in _EP_CREATE):
        return "unsupported", "qnn: the QNN execution provider could not be created: " + _tail(text)
    return "runtime_error", "qnn: " + _tail(text)


def _tail(text, limit=600):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else "..." + text[-limit:]


class SessionFailed(Exception):
    """A session the QNN EP could not build: ``status`` and the classified ``error`` text."""

    def __init__(self, status, error):
        Exception.__init__(self, error)
        self.status = status


@register_runtime("qnn")
class QnnAdapter(OnnxRuntimeAdapter):
    """Runs QNN-ready ``.onnx`` artifacts on the QNN EP (HTP backend); see the module docstring."""

    modules = (("onnxruntime", "onnxruntime"), ("onnxruntime_qnn", "onnxruntime-qnn"))

    def __init__(self, options):
        OnnxRuntimeAdapter.__init__(self, options)
        self.timing = timing_kind()
        level = str(self.options.get("profiling_level", "off"))
        if level not in PROFILING_LEVELS:
            raise ValueError("qnn: profiling_level must be one of %s, got %r" % (", ".join(PROFILING_LEVELS), level))
        self.profiling_level = level
        self.log_text = ""

    @classmethod
    def version(cls):
        try:
            import onnxruntime as ort
        except ImportError:
            return None
        try:
            import onnxruntime_qnn
        except ImportError:
            return "onnxruntime %s (no onnxruntime-qnn)" % ort.__version__
        qnn = getattr(onnxruntime_qnn.build_and_package_info, "qnn_version", None)
        return "onnxruntime-qnn %s (QNN SDK %s, onnxruntime %s)" % (onnxruntime_qnn.__version__, qnn, ort.__version__)

    # -- sessions -----------------------------------------------------------------------
    def provider_options(self, profile_csv=None):
        """QNN EP options (strings): the device's, ``backend_path`` defaulted, profiling when asked."""
        opts = dict((str(k), self._text(v)) for k, v in (self.options.get("provider_options") or {}).items())
        if "backend_path" not in opts:
            path = default_backend_path()
            if path is None:
                raise Unsupported("qnn: no backend_path given and onnxruntime-qnn (which ships libQnnHtp.so) "
                                  "is not installed")
            opts["backend_path"] = path
        # with CPU fallback allowed the EP would hand graph-input quantization and graph-output
        # dequantization to the CPU (its default): keep them on the HTP, as with fallback off, so that
        # both modes run the same graph there and only rejected nodes count as fallback
        opts.setdefault("offload_graph_io_quantization", "0")
        if profile_csv:
            opts["profiling_level"] = self.profiling_level
            opts["profiling_file_path"] = profile_csv
        return opts

    @staticmethod
    def _text(value):
        if isinstance(value, bool):
            return "1" if value else "0"
        return str(value)

    def fallback_allowed(self):
        """True unless ``session.disable_cpu_ep_fallback`` is set to 1."""
        value = (self.options.get("session_config") or {}).get(_FALLBACK_KEY, "0")
        return self._text(value) not in ("1", "true", "True")

    def _session_options(self, profile_prefix=None, profile_csv=None):
        so = OnnxRuntimeAdapter._session_options(self, profile_prefix)
        so.add_provider_for_devices(self.devices, self.provider_options(profile_csv))
        return so

    def _create(self, so):
        """A session on the QNN EP; a failure raises :class:`SessionFailed` with its status."""
        import onnxruntime as ort

        with _CapturedStderr() as log:
            try:
                session = ort.InferenceSession(self.path, sess_options=so)
            except Exception as exc:  # noqa: BLE001 - ORT raises many types; classified by text
                error = exc
            else:
                error = None
        self.log_text = log.text
        if error is not None:
            status, text = classify_session_error(str(error), log.text)
            raise SessionFailed(status, text)
        return session

    def load(self, path):
        self.path = path
        self.requested, self.requested_options = [EP_NAME, CPU_PROVIDER], [{}, {}]
        self.devices = register_qnn_ep(self.options.get("ep_library"))
        try:
            self.session = self._create(self._session_options())
        except SessionFailed as exc:
            if exc.status == "unsupported":
                raise Unsupported(str(exc)) from None
            raise RuntimeError(str(exc)) from None
        self.providers = self.session.get_providers()
        if EP_NAME not in self.providers:
            raise Unsupported("qnn: the session runs on %s, not on the QNN EP" % ", ".join(self.providers))

    # -- what ran where -------------------------------------------------------------------
    def inspect(self):
        """One extra session with the profilers on (never the timed one): ORT placement, HTP records.

        A failure here (the HTP profiler can refuse a graph the timed session ran, e.g.
        ``QNN_GRAPH_ERROR_SET_PROFILE``) is kept as ``inspect_error``; the timed result stands.
        """
        import json

        folder = tempfile.mkdtemp(prefix="hwbehave-qnn-profile-")
        try:
            csv_path = os.path.join(folder, "htp.csv") if self.profiling_level != "off" else None
            place = self.fallback_allowed() and self.options.get("placement", True)
            runs = max(1, int(self.options.get("profile_runs", 3)))
            try:
                session = self._create(self._session_options(os.path.join(folder, "placement") if place else None,
                                                             csv_path))
                for _ in range(runs):
                    session.run(None, self.inputs)
                profile_json = session.end_profiling() if place else None
            except SessionFailed as exc:
                return {"inspect_error": "qnn: the profiled session failed: " + str(exc)}
            except Exception as exc:  # noqa: BLE001 - recorded: the timed runs already succeeded
                # ORT retries a failed EP run on the CPU and raises about that: the EP's error is the context
                first = exc.__context__
                text = str(exc) if first is None else "%s (then: %s)" % (first, exc)
                return {"inspect_error": "qnn: the profiled run failed: " + _tail(text)}
            session = None
            out = {}
            if profile_json:
                from .onnxruntime import placement_from_profile

                with open(profile_json) as f:
                    out["placement"] = placement_from_profile(json.load(f))
            if csv_path and os.path.exists(csv_path):
                with open(csv_path) as f:
                    out["htp_profile"] = htp_profile_summary(parse_htp_profile(f.read()), self.timing,
                                                             self.profiling_level, runs)
            elif csv_path:
                out["inspect_error"] = "qnn: the EP wrote no profiling CSV"
            return out
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def info(self):
        options = self.provider_options()
        backend_path = options.pop("backend_path")
        out = {"provider": EP_NAME, "providers": self.providers, "timing": self.timing,
               "backend_path": os.path.basename(backend_path), "provider_options": options,
               "cpu_fallback": self.fallback_allowed(),
               "ep_devices": [{"ep": d.ep_name, "vendor": d.ep_vendor, "type": str(d.device.type).split(".")[-1]}
                              for d in self.devices]}
        wants_placement = self.fallback_allowed() and self.options.get("placement", True)
        if (wants_placement or self.profiling_level != "off") and getattr(self, "inputs", None):
            found = self.inspect()
            placement = found.pop("placement", None)
            out.update(found)
            if placement is not None:
                out["placement"] = dict((p, nodes[:200]) for p, nodes in placement.items())
                out["placement_counts"] = dict((p, len(nodes)) for p, nodes in placement.items())
                out["fallback_ops"] = fallback_nodes(placement, EP_NAME)
        return out
