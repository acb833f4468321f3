"""ONNX Runtime backend: the canonical ONNX artifact, run by ONNX Runtime and its execution providers."""
