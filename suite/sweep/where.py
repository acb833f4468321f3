"""Safe ``where`` filters: Python-like expressions over point parameters.

Allowed: names, numbers, strings, comparisons, ``and``/``or``/``not``, arithmetic
(``+ - * / // % **``), ``in`` with list/tuple literals. Nothing else (no calls,
attributes or subscripts), so a sweep file cannot execute code.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

_ALLOWED = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
            ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
            ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
            ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple)


class WhereError(ValueError):
    """An expression that is not allowed or does not parse."""


def compile_where(expr: str) -> tuple[Callable[[dict[str, Any]], bool], set[str]]:
    """Compile ``expr``; return a predicate over a parameter dict and the names it reads."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise WhereError(f"cannot parse: {exc.msg}") from None
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise WhereError(f"{type(node).__name__} is not allowed in a where filter")
        if isinstance(node, ast.Name):
            names.add(node.id)
    code = compile(tree, "<where>", "eval")

    def predicate(params: dict[str, Any]) -> bool:
        return bool(eval(code, {"__builtins__": {}}, params))  # noqa: S307 - AST whitelisted above

    return predicate, names
