"""Damaged run files: found, reported and skipped (or set aside), never a traceback.

A run directory can be damaged by hand edits, a full disk or a crash of another tool. The
rule is the journal's: what cannot be read is reported, everything else is used.

* a journal line whose fields have the wrong types (``"round": "0"``, ``"params": "x"``)
  is a bad line, like a truncated one (:func:`check_record`);
* a manifest that is not a JSON object is an unreadable run: ``show`` says so, loading a
  folder of runs skips it with a :class:`ResultsWarning`;
* a ``measurements.parquet`` that is not Parquet is skipped with a warning (its journal
  is used if there is one); a resume sets it aside as ``*.damaged-<time>`` instead of
  overwriting it, so no byte is destroyed.
"""

from __future__ import annotations

import os
import types
import typing
import warnings
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class ResultsWarning(UserWarning):
    """Something in a run directory was unreadable and left out (the CLI prints it as a warning line)."""


def warn(message: str) -> None:
    """Issue a :class:`ResultsWarning` (shown by the CLI as ``hwbehave: warning: …``)."""
    warnings.warn(message, ResultsWarning, stacklevel=2)


@cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _matches(value: Any, tp: Any) -> bool:
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    return True


def check_record(data: Any, cls: type) -> None:
    """Raise ``TypeError`` if journal record ``data`` does not have the field types of dataclass ``cls``.

    Types come from ``cls``'s annotations, so the check follows the record as it grows.
    Statistics (``stats``) must be numbers, booleans or null: they become float columns.
    """
    if not isinstance(data, dict):
        raise TypeError(f"a record is a JSON object, not {type(data).__name__}")
    hints = _field_types(cls)
    for name, value in data.items():
        tp = hints.get(name)
        if tp is not None and not _matches(value, tp):
            raise TypeError(f"field {name!r} has {type(value).__name__} {str(value)[:40]!r}, expected {tp}")
    stats = data.get("stats")
    if isinstance(stats, dict):
        for key, value in stats.items():
            if value is not None and not isinstance(value, (int, float)):
                raise TypeError(f"stats.{key} has {type(value).__name__} {str(value)[:40]!r}, expected a number")


def manifest_problem(data: Any, path: Path | str) -> str | None:
    """Why a parsed manifest is unusable (``None`` if it is a JSON object)."""
    if isinstance(data, dict):
        return None
    return f"{path}: unreadable manifest (a JSON {type(data).__name__}, not an object)"


def parquet_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as Parquet (``None`` if its footer and schema read)."""
    import pyarrow.parquet as pq

    try:
        pq.read_schema(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        return f"{path}: unreadable Parquet ({str(exc).splitlines()[0][:200]})"
    return None


def set_aside(path: Path) -> Path:
    """Rename a damaged file to ``<name>.damaged-<UTC time>`` beside it; return the new path."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    os.replace(path, target)
    return target
