"""Catalogue-wide rules: parameter names never shadow result columns."""

from __future__ import annotations

from suite.ops.catalogue import OPS, load_catalogue
from suite.results.schema import RESERVED


def test_no_op_parameter_is_named_like_a_result_column():
    load_catalogue()
    for name, op in OPS.items():
        clash = set(op.param_names()) & RESERVED
        assert not clash, f"op {name} has parameters {clash} that would shadow result columns"
