"""The ``ethos_u`` backend record (docs/architecture.md §3)."""

from suite.backends.backend import Backend, register_backend

BACKEND = register_backend(Backend(
    name="ethos_u", format="ethosu", runtime="vela",
    builder="suite.backends.ethos_u.builder:EthosUBuilder", toolchain="vela",
    host_runtime="suite.backends.ethos_u.runtime:VelaEstimateRuntime",
    version_modules=(("ethosu.vela", "ethos-u-vela"),),
    timing="estimated",
    description="Arm Ethos-U55/U65/U85: Vela compilation and placement, Vela's performance estimate (no board)"))
