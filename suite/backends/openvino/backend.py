"""The ``openvino`` backend record (docs/architecture.md §3)."""

from suite.backends.backend import Backend, register_backend

BACKEND = register_backend(Backend(
    name="openvino", format="openvino", runtime="openvino",
    builder="suite.backends.openvino.builder:OpenVinoBuilder", toolchain="openvino",
    agent_module="suite.agent.runtimes.openvino",
    version_modules=(("openvino", "openvino"),),
    description="OpenVINO IR on the CPU, GPU, NPU (and MYRIAD) plug-ins"))
