"""The ``onnxruntime`` backend record (docs/architecture.md §3)."""

from suite.backends.backend import Backend, register_backend

BACKEND = register_backend(Backend(
    name="onnxruntime", format="onnx", runtime="onnxruntime",
    builder="suite.models.onnx_builder:OnnxBuilder",
    agent_module="suite.agent.runtimes.onnxruntime",
    version_modules=(("onnxruntime", "onnxruntime"), ("onnx", "onnx")),
    description="ONNX Runtime: CPU and every execution provider (CUDA, TensorRT, QNN, ...)"))
