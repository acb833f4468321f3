"""The ``nncase`` backend record (docs/architecture.md §3)."""

from suite.backends.backend import Backend, register_backend

BACKEND = register_backend(Backend(
    name="nncase", format="kmodel", runtime="nncase",
    builder="suite.backends.nncase.builder:NncaseBuilder", toolchain="nncase",
    agent_module="suite.agent.runtimes.nncase",
    version_modules=(("nncase_runtime", "nncase-kpu"),),
    description="Kendryte KPUs: K230 (nncase 2.x) and K210 (ncc 1.x) kmodels"))
