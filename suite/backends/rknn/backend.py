"""The ``rknn`` backend record (docs/architecture.md §3)."""

from suite.backends.backend import Backend, register_backend

BACKEND = register_backend(Backend(
    name="rknn", format="rknn", runtime="rknnlite",
    builder="suite.backends.rknn.builder:RknnBuilder", toolchain="rknn",
    agent_module="suite.agent.runtimes.rknnlite",
    version_modules=(("rknnlite", "rknn-toolkit-lite2"),),
    description="Rockchip NPUs (RK3588, RK3566, ...): rknn-toolkit2 build, RKNNLite on the board"))
