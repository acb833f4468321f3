"""TFLite builder: the point's fp32 ONNX graph translated to TensorFlow, then converted.

Route: :func:`suite.models.onnx_builder.build_onnx_model` (fp32) → :class:`OnnxToTf`
(node by node, NCHW → NHWC, weights from the ONNX initializers) → ``tf.function`` →
``tf.lite.TFLiteConverter``. So every op of the catalogue converts without a second
description of it, and the ``.tflite`` file computes the same function as the ``.onnx`` one
(image inputs and outputs are NHWC: the ONNX tensor transposed by ``(0, 2, 3, 1)``; the
artifact metadata ``io_layout`` gives the permutation of every input and output).

Variants (``TFLITE_VARIANTS``), picked from the point dtype by :func:`tflite_variant`:

* ``fp32``: float model.
* ``fp16``: float16 weights (``supported_types=[tf.float16]``); kernels dequantize to fp32
  on CPU, a GPU delegate may compute in fp16.
* ``int8_full`` (int8 default): full-integer, int8 input and output, calibrated on
  ``CALIBRATION_SAMPLES`` seeded standard-normal inputs (the agent feeds the same
  distribution); an op with no int8 kernel fails the build.
* ``int8_dynamic``: dynamic-range (int8 weights, float activations), chosen for int8 points
  by the device YAML ``toolchain: {tflite: {int8: dynamic}}``.

Settings (``suite.backends.toolchain.resolve_settings``: defaults < ``toolchains.yaml`` < device
``toolchain.tflite``): ``int8`` (full | dynamic), ``workers`` (pool size, 0 = ``min(4, cpus)``),
``timeout_s`` (per conversion).

TensorFlow is imported only in the worker processes of a spawn-context process pool
(:meth:`TfliteBuilder.build_many`), so importing this module is cheap and the parent never
pays TensorFlow's start-up or memory. Each conversion records what the converter fused
(ONNX node types against the TFLite ops and their fused activations).
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

from suite import status as st
from suite.backends.litert.backend import BACKEND
from suite.backends.toolchain import ToolchainCheck, ToolchainSettings, resolve_settings
from suite.models import model_source
from suite.models.artifact import Artifact
from suite.models.builder import BuildJob, CachedBuilder, Made
from suite.models.cache import ArtifactCache, cache_key
from suite.models.calibration import CALIBRATION_SAMPLES, calibration_rng
from suite.sweep.point import Point

#: Bump when generated .tflite files change for the same point (invalidates cached files).
BUILDER_VERSION = 1
TFLITE_VARIANTS = ("fp32", "fp16", "int8_dynamic", "int8_full")
#: ``toolchain.tflite.int8`` values → variant of int8 points.
INT8_MODES = {"full": "int8_full", "dynamic": "int8_dynamic"}
#: Options of the ``tflite`` toolchain block and their defaults.
DEFAULTS: dict[str, Any] = {"int8": "full", "workers": 0}
INSTALL_HINT = "pip install 'hwbehave[tflite]' (tensorflow-cpu and ai-edge-litert)"

#: TFLite ops a converter adds for layout or quantization, and the ONNX types they come from
#: when the ONNX graph already has them (the rest of their count was inserted by conversion).
_INSERTED_FROM = {"PAD": ("Pad",), "MIRROR_PAD": ("Pad",), "TRANSPOSE": ("Transpose",),
                  "RESHAPE": ("Reshape", "Flatten"), "QUANTIZE": (), "DEQUANTIZE": ()}
#: ONNX activation types and the one TFLite op each becomes when it is not fused.
_STANDALONE = {"Relu": "RELU", "LeakyRelu": "LEAKY_RELU", "PRelu": "PRELU", "Sigmoid": "LOGISTIC",
               "Tanh": "TANH", "HardSwish": "HARD_SWISH", "Clip": "RELU6"}


def tflite_variant(dtype: str, int8: str = "full") -> str:
    """The TFLite variant of a point dtype: fp32, fp16 weights, or int8 ``full``/``dynamic``."""
    if dtype == "fp32":
        return "fp32"
    if dtype == "fp16":
        return "fp16"
    if dtype == "int8":
        if int8 not in INT8_MODES:
            from suite.errors import ConfigError

            raise ConfigError("unknown TFLite int8 mode", field="toolchain.tflite.int8", value=int8,
                              expected="one of " + ", ".join(INT8_MODES))
        return INT8_MODES[int8]
    raise ValueError(f"no TFLite variant for dtype {dtype!r}")


def tensorflow_version() -> str | None:
    """Installed TensorFlow version from package metadata (without importing TensorFlow)."""
    from importlib import metadata

    for dist in ("tensorflow", "tensorflow-cpu", "tf-nightly", "tensorflow-macos"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


# -- worker side (runs in the pool; imports TensorFlow) ----------------------------------------
_WORKER_LOG: dict[str, Any] = {}


def _worker_init(log_dir: str) -> None:
    """Quiet TensorFlow and send this worker's stdout/stderr to a log file read per job."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    path = os.path.join(log_dir, f"worker-{os.getpid()}.log")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    _WORKER_LOG["path"] = path


def _log_since(offset: int) -> str:
    path = _WORKER_LOG.get("path")
    if not path:
        return ""
    sys.stdout.flush()
    sys.stderr.flush()
    with open(path, errors="replace") as f:
        f.seek(offset)
        return f.read()[-8000:]


def _log_offset() -> int:
    path = _WORKER_LOG.get("path")
    return os.path.getsize(path) if path and os.path.exists(path) else 0


def convert_job(point: Point, variant: str, out_path: str) -> dict[str, Any]:
    """Convert one point to ``out_path``; return ``{'metadata', 'log'}`` or ``{'error', 'log'}``.

    Runs in a pool worker; never raises for a per-point failure.
    """
    offset = _log_offset()
    start = time.perf_counter()
    try:
        metadata = convert_point(point, variant, out_path)
        return {"metadata": metadata, "log": _log_since(offset), "convert_s": time.perf_counter() - start}
    except ImportError as exc:
        return {"error": f"tflite-builder: TensorFlow cannot be imported ({exc}); {INSTALL_HINT}", "log": ""}
    except Exception as exc:  # noqa: BLE001 - boundary: a point that fails to convert is data
        return {"error": "tflite-builder: " + _describe_error(exc), "log": _log_since(offset),
                "convert_s": time.perf_counter() - start}


def _describe_error(exc: BaseException) -> str:
    """A short message for a conversion failure (converter errors carry pages of MLIR)."""
    from suite.backends.litert.onnx_to_tf import UntranslatableOp

    if isinstance(exc, UntranslatableOp):
        return f"cannot translate to TensorFlow: {exc}"
    text = str(exc)
    if type(exc).__name__ == "ConverterError":
        keep = [ln.strip() for ln in text.splitlines()
                if ("error:" in ln and "loc(" not in ln) or "ops:" in ln or ln.strip().startswith("tf.")
                or "not supported" in ln]
        ops = [ln for ln in keep if ln.startswith("TF Select ops:") or "ops:" in ln]
        summary = "; ".join(dict.fromkeys(keep))[:1500] or text[:1500]
        hint = f" ({ops[0]} have no TFLite builtin kernel)" if ops else ""
        return f"TFLite converter refused the model{hint}: {summary}"
    return f"{type(exc).__name__}: {text}"[:3000]


def convert_point(point: Point, variant: str, out_path: str) -> dict[str, Any]:
    """Translate and convert ``point`` to a ``.tflite`` file; return the artifact metadata."""
    import numpy as np
    import tensorflow as tf

    from suite.backends.litert.onnx_to_tf import OnnxToTf
    from suite.models.onnx_builder import build_onnx_model

    if variant not in TFLITE_VARIANTS:
        raise ValueError(f"unknown TFLite variant {variant!r}; expected one of {', '.join(TFLITE_VARIANTS)}")
    model = build_onnx_model(point, float_dtype="fp32")
    translator = OnnxToTf(model, tf)
    signature = translator.input_signature()
    fn = tf.function(translator.run, input_signature=signature, autograph=False)
    concrete = fn.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], tf.Module())
    settings: dict[str, Any] = {"variant": variant}
    if variant == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        settings["quantize"] = "float16 weights (Optimize.DEFAULT, supported_types=[float16])"
    elif variant == "int8_dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        settings["quantize"] = "dynamic range: int8 weights, float activations (Optimize.DEFAULT)"
    elif variant == "int8_full":
        shapes = [[int(d) for d in spec.shape] for spec in signature]

        def representative() -> Any:
            rng = calibration_rng(point.seed)
            for _ in range(CALIBRATION_SAMPLES):
                yield [rng.standard_normal(s).astype(np.float32) for s in shapes]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        settings["quantize"] = ("full integer: int8 weights and activations, int8 input/output, "
                                f"{CALIBRATION_SAMPLES} seeded standard-normal calibration batches")
        settings["calibration_samples"] = CALIBRATION_SAMPLES
    flatbuffer = converter.convert()
    Path(out_path).write_bytes(flatbuffer)
    onnx_ops = collections.Counter(n.op_type for n in model.graph.node)
    analysis = analyze_tflite(flatbuffer)
    source = model_source.build_metadata(point) if model_source.is_model(point) else {}
    return {**source, **settings, "tensorflow": tf.__version__, "converter": "TFLiteConverter.from_concrete_functions",
            "route": "onnx fp32 -> tf ops (suite.backends.litert.onnx_to_tf) -> tflite",
            "io_layout": translator.io_layout(), "inputs": analysis["inputs"], "outputs": analysis["outputs"],
            "onnx_ops": dict(sorted(onnx_ops.items())), "tflite_ops": analysis["op_counts"],
            "fusion": fusion_report(onnx_ops, analysis["ops"], translator.pattern_counts())}


# -- flatbuffer analysis (no TensorFlow needed) -------------------------------------------------
def _schema() -> Any:
    from suite.ops.model import tflite_schema

    return tflite_schema()


def analyze_tflite(flatbuffer: bytes) -> dict[str, Any]:
    """Ops (name and fused activation) and I/O tensors (shape, dtype, quantization) of a model."""
    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(flatbuffer, 0))
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    act_names = {v: k for k, v in vars(schema.ActivationFunctionType).items() if not k.startswith("_")}
    type_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    ops: list[tuple[str, str]] = []
    graph = model.subgraphs[0]
    for op in graph.operators or []:
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        name = op_names.get(builtin, str(builtin))
        if name == "CUSTOM":
            name = "CUSTOM:" + (code.customCode.decode() if isinstance(code.customCode, bytes) else str(code.customCode))
        act = getattr(op.builtinOptions, "fusedActivationFunction", 0) if op.builtinOptions is not None else 0
        ops.append((name, act_names.get(act, "NONE")))

    def tensor_info(index: int) -> dict[str, Any]:
        t = graph.tensors[index]
        q = t.quantization
        info: dict[str, Any] = {"name": t.name.decode() if isinstance(t.name, bytes) else t.name,
                                "shape": [int(d) for d in t.shape] if t.shape is not None else [],
                                "dtype": type_names.get(t.type, str(t.type))}
        if q is not None and q.scale is not None and len(q.scale):
            info["scale"] = float(q.scale[0])
            info["zero_point"] = int(q.zeroPoint[0])
        return info

    return {"ops": ops, "op_counts": dict(sorted(collections.Counter(n for n, _ in ops).items())),
            "inputs": [tensor_info(i) for i in graph.inputs], "outputs": [tensor_info(i) for i in graph.outputs]}


def fusion_report(onnx_ops: collections.Counter[str], tflite_ops: list[tuple[str, str]],
                  translator_patterns: dict[str, int] | None = None) -> dict[str, Any]:
    """What conversion fused and inserted, from ONNX node types against the TFLite ops.

    ``fused_activations`` counts TFLite ops carrying a fused activation (``CONV_2D+RELU``);
    ``absorbed`` counts ONNX activation nodes with no standalone TFLite op left (fused into
    the op before them); ``inserted`` counts layout/quantization ops (PAD, TRANSPOSE,
    QUANTIZE, ...) beyond what the ONNX graph had; ``translator`` counts patterns the ONNX
    translation emitted as one op (``GELU`` for the erf form).
    """
    names = collections.Counter(n for n, _ in tflite_ops)
    fused = collections.Counter(f"{n}+{a}" for n, a in tflite_ops if a != "NONE")
    absorbed = {}
    for onnx_type, tfl in _STANDALONE.items():
        missing = onnx_ops.get(onnx_type, 0) - names.get(tfl, 0)
        if missing > 0:
            absorbed[onnx_type] = missing
    inserted = {}
    for tfl, sources in _INSERTED_FROM.items():
        extra = names.get(tfl, 0) - sum(onnx_ops.get(s, 0) for s in sources)
        if extra > 0:
            inserted[tfl] = extra
    return {"onnx_nodes": int(sum(onnx_ops.values())), "tflite_ops": len(tflite_ops),
            "fused_activations": dict(sorted(fused.items())), "absorbed": absorbed, "inserted": inserted,
            "translator": dict(translator_patterns or {})}


# -- the builder (parent side) ----------------------------------------------------------------
class TfliteBuilder(CachedBuilder):
    """Builds ``.tflite`` artifacts for points through the content cache and a process pool.

    ``build_many(points)`` converts every cache miss in parallel (spawn-context
    ``ProcessPoolExecutor``; TensorFlow is imported only in the workers). The pool lives
    until :meth:`close` (or the ``with`` block ends), so successive calls do not pay
    TensorFlow's import again.

    Options: the ``tflite`` toolchain block (``int8``, ``workers``, ``timeout_s``; see the
    module docstring); ``workers`` given here wins.
    """

    format = BACKEND.format
    toolchain = BACKEND.toolchain or ""
    component = "tflite-builder"
    filename = "model.tflite"
    chunk = 16
    defaults = DEFAULTS

    def __init__(self, cache: ArtifactCache | None = None, device: Any = None, workers: int | None = None,
                 settings: ToolchainSettings | None = None) -> None:
        super().__init__(cache=cache, device=device)
        self.settings = settings or resolve_settings(self.toolchain, self.defaults, device=device)
        self.int8 = str(self.settings.options["int8"])
        tflite_variant("int8", self.int8)  # a bad mode is a ConfigError now, not per point
        self.workers = int(workers or self.settings.options.get("workers") or min(4, os.cpu_count() or 1))
        self.timeout_s = float(self.settings.timeout_s)
        self._pool: cf.ProcessPoolExecutor | None = None
        self._log_dir: str | None = None

    @classmethod
    def check(cls, settings: ToolchainSettings | None = None) -> ToolchainCheck:
        """Usable when TensorFlow is installed (it is imported only by the conversion workers)."""
        version = tensorflow_version()
        if version is None:
            return ToolchainCheck("tflite", False, detail="TensorFlow is not installed", fix=INSTALL_HINT)
        return ToolchainCheck("tflite", True, version=version, interpreter=sys.executable,
                              detail="ONNX → TF ops → TFLite (fp32, fp16, int8 dynamic/full) in a process pool")

    # -- keys ------------------------------------------------------------------------------
    def variant(self, point: Point) -> str:
        """The TFLite variant of ``point`` under this builder's int8 mode."""
        return tflite_variant(point.dtype, self.int8)

    def key(self, point: Point, work: Path | None = None) -> str:
        """Cache key: point, variant, builder version and the TensorFlow/ONNX versions."""
        import onnx

        from suite.models.graph import OPSET

        parts = {"point": point.id, "format": self.format, "variant": self.variant(point),
                 "builder": BUILDER_VERSION, "tensorflow": tensorflow_version(), "onnx": onnx.__version__,
                 "opset": OPSET}
        if parts["variant"] == "int8_full":
            parts["calibration_samples"] = CALIBRATION_SAMPLES
        return cache_key(parts)

    def refuse(self, point: Point) -> str | None:
        """A model file no ``.tflite`` can be made of at the point's dtype (catalogue points: none)."""
        return model_source.refusal(point, self.format) if model_source.is_model(point) else None

    # -- building --------------------------------------------------------------------------
    def make_many(self, jobs: list[BuildJob]) -> dict[str, Artifact]:
        """Convert the cache misses in parallel; a stuck conversion times out, the pool is rebuilt.

        A user's ``.tflite`` file is copied here, without starting the pool.
        """
        out: dict[str, Artifact] = {}
        as_is = [j for j in jobs if model_source.is_model(j.point) and model_source.facts(j.point).format == "tflite"]
        for job in as_is:
            out[job.point.id] = self.make_one(job)
        jobs = [j for j in jobs if j not in as_is]
        if not jobs:
            return out
        if tensorflow_version() is None:
            return {**out, **{job.point.id: self._failure(job.point, st.BUILD_ERROR,
                                                          f"TensorFlow is not installed; {INSTALL_HINT}")
                              for job in jobs}}
        pool = self._ensure_pool()
        futures: dict[cf.Future[dict[str, Any]], BuildJob] = {}
        for job in jobs:
            job.work.mkdir(parents=True, exist_ok=True)
            path = job.work / f"{job.point.id}.tflite"
            futures[pool.submit(convert_job, job.point, self.variant(job.point), str(path))] = job
        deadline = time.monotonic() + self.timeout_s * max(1, -(-len(jobs) // self.workers))
        pending = set(futures)
        while pending:
            done, pending = cf.wait(pending, timeout=max(0.0, deadline - time.monotonic()),
                                    return_when=cf.FIRST_COMPLETED)
            if not done:  # stuck conversion: tear the pool down, the rest time out
                for fut in pending:
                    point = futures[fut].point
                    out[point.id] = self._failure(point, st.TIMEOUT, f"conversion took over {self.timeout_s:.0f} s")
                self._kill_pool()
                break
            for fut in done:
                job = futures[fut]
                out[job.point.id] = self._finish(fut, job)
        return out

    def make(self, point: Point, work: Path) -> Made:
        """A user's ``.tflite`` file as it is (conversions go through :meth:`make_many`'s pool)."""
        path = work / f"{point.id}.tflite"
        shutil.copyfile(point.params["file"], path)
        analysis = analyze_tflite(path.read_bytes())
        return Made(path=path, metadata={**model_source.build_metadata(point), "variant": "as is",
                                         "inputs": analysis["inputs"], "outputs": analysis["outputs"],
                                         "tflite_ops": analysis["op_counts"]})

    def _finish(self, fut: cf.Future[dict[str, Any]], job: BuildJob) -> Artifact:
        point = job.point
        try:
            res = fut.result()
        except cf.process.BrokenProcessPool as exc:
            self._kill_pool()
            return self._failure(point, st.BUILD_ERROR, f"conversion worker died (the converter crashed): {exc}")
        # time in the converter itself (the wall time since submit includes queueing and imports)
        build_s = float(res.get("convert_s", time.perf_counter() - job.start))
        if "error" in res:
            return self.fail(point, st.BUILD_ERROR, res["error"], log=res.get("log", "")[-4000:], build_s=build_s,
                             metadata={"variant": self.variant(point)})
        return self.store(job, Made(path=job.work / f"{point.id}.tflite", metadata=res["metadata"],
                                    log=res.get("log", "")[-4000:], build_s=build_s))

    def _failure(self, point: Point, status: str, error: str) -> Artifact:
        return self.fail(point, status, error, metadata={"variant": self.variant(point)})

    # -- pool --------------------------------------------------------------------------------
    def _ensure_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._log_dir = tempfile.mkdtemp(prefix="hwbehave-tflite-logs-")
            weakref.finalize(self, shutil.rmtree, self._log_dir, True)
            kwargs: dict[str, Any] = {}
            if sys.version_info >= (3, 11):
                kwargs["max_tasks_per_child"] = 200  # bound TensorFlow's memory growth per worker
            self._pool = cf.ProcessPoolExecutor(max_workers=self.workers,
                                                mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_worker_init, initargs=(self._log_dir,), **kwargs)
        return self._pool

    def _kill_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # a hung converter never returns: stop the workers this pool started (by their pids)
        for proc in list(getattr(pool, "_processes", {}).values()):
            if proc.is_alive():
                proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the worker processes and remove their logs."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._log_dir:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None
