"""Backends: one folder per accelerator stack, ``suite/backends/<name>/`` (docs/architecture.md §3).

* :mod:`~suite.backends.backend` — the :class:`~suite.backends.backend.Backend` record and the
  registry every list of formats, runtimes and toolchains derives from;
* :mod:`~suite.backends.toolchain` — per-machine toolchain settings (``toolchains.yaml`` +
  the device's ``toolchain:`` block), the ``ToolchainCheck`` record and the
  ``ToolchainBuilder`` base of converters that run a vendor worker;
* :mod:`~suite.backends.contract` — the versioned subprocess contract of those workers;
* one folder per backend: its ``backend.py`` (the record), builder, parsers, worker.

This ``__init__`` (and each backend folder's) imports nothing: toolchain workers import
``suite.backends.contract`` from vendor interpreters that lack the suite's dependencies.
"""
