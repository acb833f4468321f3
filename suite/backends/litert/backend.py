"""The ``litert`` backend record (docs/architecture.md §3)."""

from suite.backends.backend import Backend, register_backend

BACKEND = register_backend(Backend(
    name="litert", format="tflite", runtime="litert",
    builder="suite.backends.litert.builder:TfliteBuilder", toolchain="tflite",
    agent_module="suite.agent.runtimes.litert",
    version_modules=(("ai_edge_litert", "ai-edge-litert"), ("tflite_runtime", "tflite-runtime"),
                     ("tensorflow", "tensorflow")),
    description="LiteRT (TFLite) interpreter, XNNPACK and external delegates"))
