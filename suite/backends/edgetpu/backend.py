"""The ``edgetpu`` backend record (docs/architecture.md §3)."""

from suite.backends.backend import Backend, register_backend
from suite.backends.litert.backend import BACKEND as LITERT

BACKEND = register_backend(Backend(
    name="edgetpu", format="edgetpu", runtime="litert",
    builder="suite.backends.edgetpu.builder:EdgeTpuBuilder", toolchain="edgetpu",
    agent_module="suite.agent.runtimes.litert",
    version_modules=LITERT.version_modules,  # the same runtime, with the libedgetpu delegate
    description="Coral Edge TPU: edgetpu_compiler placement, LiteRT with the libedgetpu delegate"))
