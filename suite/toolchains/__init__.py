"""Vendor toolchains: ONNX (the canonical IR) → OpenVINO IR, ``.rknn``, ``.kmodel``.

* :mod:`~suite.backends.toolchain` — settings (``toolchains.yaml`` + device ``toolchain:``),
  the ``ToolchainCheck`` record, the registry and the ``ToolchainBuilder`` base;
* :mod:`~suite.backends.contract` — the versioned subprocess contract (stdlib only,
  because it runs inside vendor venvs);
* one module per toolchain (``openvino``, ``rknn``, ``nncase``) plus its ``*_worker``;
* :mod:`~suite.toolchains.nncase_logs` — ncc compile logs and K210 runtime debug output.

This package's ``__init__`` imports nothing: workers import ``suite.backends.contract``
from interpreters that lack the suite's dependencies.
"""
