"""The operator vocabulary, below planning and building.

:mod:`~suite.ops.catalogue` holds the op specs (parameters, defaults, constraints), the
analytic cost model (:class:`~suite.ops.catalogue.Cost`) and the registry with its loader;
:mod:`~suite.ops.layers`, :mod:`~suite.ops.activations`, :mod:`~suite.ops.blocks` (with the
``CostedGraph`` tracer) and :mod:`~suite.ops.networks` are the built-in entries. Planning
(``suite.sweep``) and building (``suite.models``, ``suite.backends``) import this package;
it imports neither (checked by import-linter, docs/architecture.md §2).
"""
