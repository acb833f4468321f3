"""Safe ``where`` filters: Python-like expressions over point parameters.

Allowed: names, numbers, strings, comparisons, ``and``/``or``/``not``, arithmetic
(``+ - * / // % **``) on numbers, ``in`` with list/tuple literals. Nothing else (no calls,
attributes or subscripts), so a sweep file cannot execute code. Work is bounded too: an
expression has at most :data:`MAX_EXPRESSION_CHARS` characters, arithmetic takes numbers
only (no string repetition or ``%`` formatting), and a power whose result would exceed
:data:`MAX_POWER_BITS` bits is an error instead of minutes of big-integer arithmetic
(``cout < 10**10**10``).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

_ALLOWED = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
            ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
            ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
            ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple)

#: Longest filter accepted (characters): a filter is one line such as ``kernel <= resolution``.
MAX_EXPRESSION_CHARS = 1000
#: Largest integer a power may produce (bits); 10**77 fits, 10**10**10 does not.
MAX_POWER_BITS = 256

_OPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_NAMES: dict[type, str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}


class WhereError(ValueError):
    """An expression that is not allowed or does not parse."""


def _number(value: Any, op: str) -> Any:
    if isinstance(value, (int, float)):  # bool is an int: True + 1 is fine
        return value
    raise WhereError(f"'{op}' takes numbers, got {type(value).__name__} {value!r}")


def safe_pow(base: Any, exp: Any) -> Any:
    """``base ** exp`` for numbers, refused when an integer result would exceed :data:`MAX_POWER_BITS` bits."""
    base, exp = _number(base, "**"), _number(exp, "**")
    if isinstance(base, int) and isinstance(exp, int) and exp > 1 and abs(base) > 1:
        if exp * math.log2(abs(base)) > MAX_POWER_BITS:
            raise WhereError(f"{base} ** {exp} is too large (more than {MAX_POWER_BITS} bits)")
    return base**exp


def _arith(kind: type) -> Callable[[Any, Any], Any]:
    fn, name = _OPS[kind], _NAMES[kind]

    def apply(a: Any, b: Any) -> Any:
        return fn(_number(a, name), _number(b, name))

    return apply


_HELPERS = {f"__where_{k.__name__}": (safe_pow if k is ast.Pow else _arith(k)) for k in _NAMES}


class _Arithmetic(ast.NodeTransformer):
    """Replace each arithmetic ``BinOp`` by a call of its checked helper (after validation)."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        call = ast.Call(func=ast.Name(id=f"__where_{type(node.op).__name__}", ctx=ast.Load()),
                        args=[node.left, node.right], keywords=[])
        return ast.copy_location(call, node)


def compile_where(expr: str) -> tuple[Callable[[dict[str, Any]], bool], set[str]]:
    """Compile ``expr``; return a predicate over a parameter dict and the names it reads."""
    if len(expr) > MAX_EXPRESSION_CHARS:
        raise WhereError(f"longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:  # ValueError: a NUL byte
        raise WhereError(f"cannot parse: {getattr(exc, 'msg', None) or exc}") from None
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise WhereError(f"{type(node).__name__} is not allowed in a where filter")
        if isinstance(node, ast.Name):
            if node.id.startswith("__"):
                raise WhereError(f"name {node.id!r} is not allowed in a where filter")
            names.add(node.id)
    tree = ast.fix_missing_locations(_Arithmetic().visit(tree))
    try:
        code = compile(tree, "<where>", "eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise WhereError(f"cannot compile: {exc}") from None
    scope_base = {"__builtins__": {}, **_HELPERS}

    def predicate(params: dict[str, Any]) -> bool:
        return bool(eval(code, scope_base, params))  # noqa: S307 - AST whitelisted above, arithmetic checked

    return predicate, names
