"""Store stage: run directories (manifest + parquet + journal) and DuckDB views over them."""

from __future__ import annotations

from suite.results.query import load, open  # noqa: A004 - the public name DESIGN.md promises

__all__ = ["open", "load"]
