"""Store stage: run directories (manifest + parquet + journal) and DuckDB views over them.

``open`` and ``load`` (and the ``query`` module) load on first use, so writing results
(``suite.results.store``, ``records``) does not import pandas and DuckDB.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["open", "load", "load_rounds", "query"]


def __getattr__(name: str) -> Any:
    if name == "query":
        return importlib.import_module("suite.results.query")
    if name in ("open", "load", "load_rounds", "manifests"):
        return getattr(importlib.import_module("suite.results.query"), name)
    raise AttributeError(f"module 'suite.results' has no attribute {name!r}")
