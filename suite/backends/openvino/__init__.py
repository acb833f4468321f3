"""OpenVINO backend: ONNX converted to OpenVINO IR, run by the OpenVINO runtime (CPU, GPU, NPU plug-ins)."""
