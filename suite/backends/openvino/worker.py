"""OpenVINO conversion worker (contract 1): ONNX → OpenVINO IR packed in one ``.ovir`` file.

An artifact is one file, and IR is two (``model.xml`` + ``model.bin``), so the worker
stores both, uncompressed, in a zip named ``model.ovir``; the agent's ``openvino``
adapter unpacks it next to itself before ``read_model``. Weights are saved as they are
in the ONNX graph (``compress_to_fp16=False`` unless asked): an fp32 point stays fp32
on disk, an fp16 point is already fp16.

Runs in-process from :class:`suite.backends.openvino.builder.OpenVinoBuilder` when this
interpreter has OpenVINO, or as ``python -m suite.backends.openvino.worker`` in
another one. Standard library + openvino only.
"""

from __future__ import annotations

import os
import zipfile

#: Names inside the ``.ovir`` zip (read by ``suite/agent/runtimes/openvino.py``).
IR_XML = "model.xml"
IR_BIN = "model.bin"
ARTIFACT = "model.ovir"

_UNSUPPORTED_MARKERS = ("No conversion rule found", "OpConversionFailure", "is not supported",
                        "Unsupported", "not implemented")


def version():
    """Version of the vendor package in this interpreter, or ``None``."""
    import openvino

    return openvino.__version__.split("-")[0]


def pack_ir(xml_path, bin_path, out_path):
    """Store ``xml_path`` and ``bin_path`` in the zip ``out_path`` (no compression, fixed times)."""
    with zipfile.ZipFile(out_path, "w", zipfile.ZIP_STORED) as zf:
        for src, name in ((xml_path, IR_XML), (bin_path, IR_BIN)):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            with open(src, "rb") as f:
                zf.writestr(info, f.read())


def convert(in_path, out_dir, options):
    """ONNX (or TFLite, or an IR ``.xml``) at ``in_path`` → ``out_dir/model.ovir``; the contract's result dict."""
    import openvino as ov

    try:
        # convert_model reads ONNX and TFLite; an IR is read as it is (its .bin beside it)
        model = ov.Core().read_model(in_path) if in_path.endswith(".xml") else ov.convert_model(in_path)
    except Exception as exc:  # noqa: BLE001 - classify the frontend's refusal by its text
        text = f"{type(exc).__name__}: {exc}"
        status = "unsupported" if any(m in text for m in _UNSUPPORTED_MARKERS) else "build_error"
        return {"status": status, "error": "openvino convert_model: " + text[:3000]}
    compress = bool(options.get("compress_to_fp16", False))
    xml = os.path.join(out_dir, IR_XML)
    ov.save_model(model, xml, compress_to_fp16=compress)
    pack_ir(xml, os.path.join(out_dir, IR_BIN), os.path.join(out_dir, ARTIFACT))
    ops = model.get_ordered_ops()
    const_types = sorted({op.get_output_element_type(0).to_string() for op in ops if op.get_type_name() == "Constant"})
    return {"status": "ok", "artifact": ARTIFACT, "metadata": {
        "ir_ops": len(ops),
        "ir_op_types": sorted({op.get_type_name() for op in ops} - {"Parameter", "Result", "Constant"}),
        "ir_weight_types": const_types,
        "ir_input_types": [p.get_element_type().to_string() for p in model.inputs],
        "compress_to_fp16": compress,
        "convert": "openvino.convert_model + save_model",
    }}


if __name__ == "__main__":
    import sys

    from suite.backends.contract import worker_main

    sys.exit(worker_main(convert, version=version))
