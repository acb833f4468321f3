"""The ``benchmark_model`` backend record (docs/architecture.md §3)."""

from suite.backends.backend import Backend, register_backend

BACKEND = register_backend(Backend(
    name="benchmark_model", format="tflite", runtime="benchmark_model",
    host_runtime="suite.backends.benchmark_model.runtime:BenchmarkModelRuntime",
    timing="summary",
    description="TFLite's benchmark_model tool (Android phones: CPU, GPU, NNAPI, Hexagon/QNN delegates)"))
