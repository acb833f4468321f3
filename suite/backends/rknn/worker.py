"""RKNN conversion worker (contract 1): ONNX (fp32 graph) → ``model.rknn``, then a simulator check.

Runs as ``python -m suite.backends.rknn.worker`` in the rknn-toolkit2 venv (see
``hwbehave toolchains install rknn``): the toolkit pins numpy <= 1.26.4, onnx <= 1.18 and
protobuf <= 4.25.4, which our main environment does not. Standard library, numpy,
onnxruntime (a toolkit dependency) and ``rknn.api`` only.

Options (JSON): ``target_platform`` (rk3588, rk3566, rk3568, rk3562, rv1106, ...),
``dtype`` (``fp16`` or ``int8``), ``dataset`` (dataset.txt of calibration ``.npy``
files; int8 only), ``quantized_dtype``, ``quantized_algorithm``, ``optimization_level``,
``verbose``, ``verify`` and ``verify_inputs`` (``.npy`` files: run them on the toolkit's
simulator — ``init_runtime()`` with no target — and compare with ONNX Runtime on the
fp32 graph; functional only, the simulator gives no timing and ``eval_perf`` refuses).
"""

from __future__ import annotations

import os

ARTIFACT = "model.rknn"
_UNSUPPORTED_MARKERS = ("not support", "Not support", "unsupport", "Unsupport")


def version():
    """Version of the vendor package in this interpreter, or ``None``."""
    from importlib import metadata

    return metadata.version("rknn-toolkit2")


class RknnCallError(Exception):
    """An rknn API step answered non-zero or raised."""

    def __init__(self, step, detail):
        super().__init__(f"{step} failed: {detail}")
        self.step = step
        self.detail = str(detail)


def _call(step, fn, *args, **kwargs):
    try:
        ret = fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the toolkit raises bare ValueError/RuntimeError
        raise RknnCallError(step, f"{type(exc).__name__}: {str(exc).strip()[-1500:]}") from None
    if isinstance(ret, int) and ret != 0:
        raise RknnCallError(step, f"returned {ret} (see the build log)")
    return ret


def verify_on_simulator(rknn, onnx_path, input_files):
    """Run ``input_files`` on the simulator and compare with ONNX Runtime (fp32 graph)."""
    import numpy as np
    import onnxruntime as ort

    _call("init_runtime (simulator)", rknn.init_runtime)
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    arrays = [np.load(f) for f in input_files]
    ref = session.run(None, dict(zip(names, arrays)))  # noqa: B905 - runs on Python 3.7+
    kwargs = {"data_format": "nchw"} if all(a.ndim == 4 for a in arrays) else {}
    got = _call("inference (simulator)", rknn.inference, inputs=arrays, **kwargs)
    errs = []
    for r, g in zip(ref, got):  # noqa: B905 - runs on Python 3.7+
        g = np.asarray(g, dtype=np.float64).reshape(r.shape)
        scale = float(np.abs(r).max()) or 1.0
        errs.append((float(np.abs(g - r).max()), scale))
    max_abs = max(e[0] for e in errs) if errs else None
    return {"simulator": "rknn-toolkit2 simulator (init_runtime without target): functional check, no timing",
            "simulator_max_abs_err": max_abs,
            "simulator_max_rel_err": max(e[0] / e[1] for e in errs) if errs else None,
            "simulator_outputs": len(got)}


def convert(in_path, out_dir, options):
    """ONNX at ``in_path`` → ``out_dir/model.rknn``; returns the contract's result dict."""
    from rknn.api import RKNN

    target = options.get("target_platform") or "rk3588"
    quantize = options.get("dtype") == "int8"
    rknn = RKNN(verbose=bool(options.get("verbose", False)))
    try:
        config = {"target_platform": target, "optimization_level": int(options.get("optimization_level", 3))}
        if quantize:
            if options.get("quantized_dtype"):
                config["quantized_dtype"] = options["quantized_dtype"]
            config["quantized_algorithm"] = options.get("quantized_algorithm") or "normal"
        _call("config", rknn.config, **config)
        _call("load_onnx", rknn.load_onnx, model=in_path)
        _call("build", rknn.build, do_quantization=quantize, dataset=options.get("dataset") if quantize else None)
        _call("export_rknn", rknn.export_rknn, os.path.join(out_dir, ARTIFACT))
        metadata = {"target_platform": target, "quantized": quantize,
                    "compute_dtype": "int8" if quantize else "fp16",
                    "convert": "rknn-toolkit2 config/load_onnx/build/export_rknn"}
        if quantize:
            metadata["quantized_dtype"] = config.get("quantized_dtype", "w8a8 (toolkit default)")
            metadata["quantized_algorithm"] = config["quantized_algorithm"]
        if options.get("verify") and options.get("verify_inputs"):
            try:
                metadata.update(verify_on_simulator(rknn, in_path, options["verify_inputs"]))
            except RknnCallError as exc:  # the artifact is built; say the check failed
                metadata["simulator_error"] = str(exc)
        return {"status": "ok", "artifact": ARTIFACT, "metadata": metadata}
    except RknnCallError as exc:
        unsupported = any(m in exc.detail for m in _UNSUPPORTED_MARKERS)
        return {"status": "unsupported" if unsupported else "build_error", "error": "rknn-toolkit2 " + str(exc)}
    finally:
        rknn.release()


if __name__ == "__main__":
    import sys

    from suite.backends.contract import worker_main

    sys.exit(worker_main(convert, version=version))
