"""Qualcomm QNN backend: ONNX quantized the way QNN expects, run on the Hexagon HTP by ONNX Runtime's QNN EP."""
