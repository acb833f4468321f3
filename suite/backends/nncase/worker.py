"""nncase 2.x conversion worker (contract 1, K230 KPU): ONNX → ``model.kmodel`` via the Python API.

Runs as ``python -m suite.backends.nncase.worker`` in an interpreter with ``nncase`` and
``nncase-kpu`` (pip). nncase 2.x hosts its compiler on .NET 7: without that runtime
``import nncase`` raises "Failed to get hostfxr path", which this worker answers as
``unsupported`` with what to install. Standard library + numpy + nncase only.

Options: ``target`` (k230), ``dtype`` (fp32 → float kmodel; int8 → PTQ), ``quant_type``,
``w_quant_type``, ``calibrate_method``, ``calibration`` (list of ``.npy`` file lists,
one list per sample, one file per input), ``dump_ir``.
"""

from __future__ import annotations

import os
import shutil

ARTIFACT = "model.kmodel"

DOTNET_FIX = ("nncase 2.x needs the .NET 7 runtime: install it (Ubuntu 22.04: apt-get install dotnet-runtime-7.0; elsewhere "
              "Microsoft's dotnet-install.sh --channel 7.0 --runtime dotnet, then set DOTNET_ROOT) and "
              "pip install nncase nncase-kpu in the toolchain's python")


def version():
    """Version of the vendor package in this interpreter, or ``None``."""
    from importlib import metadata

    return metadata.version("nncase")


def import_nncase():
    """``(module, None)`` or ``(None, unsupported result)`` saying what is missing."""
    try:
        import nncase
    except ImportError as exc:
        return None, {"status": "unsupported", "error": f"nncase is not installed here ({exc}); "
                      "pip install nncase nncase-kpu (and the .NET 7 runtime)"}
    except RuntimeError as exc:
        text = str(exc)
        if "hostfxr" in text or "dotnet" in text.lower():
            found = shutil.which("dotnet")
            where = f"dotnet at {found} lacks a 7.x runtime" if found else "no dotnet on PATH"
            return None, {"status": "unsupported", "error": f"nncase: {text} ({where}). {DOTNET_FIX}"}
        raise
    return nncase, None


def convert(in_path, out_dir, options):
    """ONNX at ``in_path`` → ``out_dir/model.kmodel`` with the nncase 2.x Python API."""
    nncase, refusal = import_nncase()
    if refusal:
        return refusal
    import numpy as np

    target = options.get("target") or "k230"
    co = nncase.CompileOptions()
    co.target = target
    co.preprocess = False
    co.dump_ir = bool(options.get("dump_ir", False))
    co.dump_dir = os.path.join(out_dir, "dump")
    compiler = nncase.Compiler(co)
    with open(in_path, "rb") as f:
        compiler.import_onnx(f.read(), nncase.ImportOptions())
    quantize = options.get("dtype") == "int8"
    if quantize:
        samples = [[np.load(p) for p in sample] for sample in options.get("calibration") or []]
        ptq = nncase.PTQTensorOptions()
        ptq.samples_count = len(samples)
        ptq.quant_type = options.get("quant_type") or "int8"
        ptq.w_quant_type = options.get("w_quant_type") or "int8"
        ptq.calibrate_method = options.get("calibrate_method") or "NoClip"
        # nncase wants one list per input, each holding that input's samples
        ptq.set_tensor_data([[s[i] for s in samples] for i in range(len(samples[0]))] if samples else [])
        compiler.use_ptq(ptq)
    compiler.compile()
    with open(os.path.join(out_dir, ARTIFACT), "wb") as f:
        f.write(compiler.gencode_tobytes())
    return {"status": "ok", "artifact": ARTIFACT, "metadata": {
        "target": target, "quantized": quantize, "convert": "nncase 2.x Compiler import_onnx/compile/gencode",
        "quant_type": options.get("quant_type") or "int8" if quantize else None}}


if __name__ == "__main__":
    import sys

    from suite.backends.contract import worker_main

    sys.exit(worker_main(convert, version=version))
