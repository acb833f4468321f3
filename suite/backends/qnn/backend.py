"""The ``qnn`` backend record (docs/architecture.md §3).

``timing`` is ``emulated``: a result that does not say its kind (a runtime that died before
it could) is never taken for device latency. The adapter says ``measured`` on a Snapdragon
board and ``emulated`` on an x86 host (:func:`suite.agent.runtimes.qnn.timing_kind`).
"""

from suite.backends.backend import Backend, register_backend

BACKEND = register_backend(Backend(
    name="qnn", format="qnn_onnx", runtime="qnn",
    builder="suite.backends.qnn.builder:QnnBuilder", toolchain="qnn",
    agent_module="suite.agent.runtimes.qnn",
    version_modules=(("onnxruntime", "onnxruntime"), ("onnxruntime_qnn", "onnxruntime-qnn"), ("onnx", "onnx")),
    timing="emulated",
    description="Qualcomm Hexagon HTP through ONNX Runtime's QNN plugin EP (Qualcomm's HTP emulation on x86)"))
