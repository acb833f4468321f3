"""Report stage: findings table, publication tables, run comparison, HTML/Markdown reports.

Entry points for the CLI: :func:`write_report`, :func:`findings_table`, :func:`standard_tables`
with :func:`render_table`, and :func:`compare_runs`.

Names are loaded on first use (PEP 562), so ``import suite.report.tables`` works without the
``[report]`` extra; ``compare_runs`` needs scipy and ``write_report`` matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "compare_runs": "suite.report.compare", "comparison_table": "suite.report.compare",
    "significant_changes": "suite.report.compare",
    "build_document": "suite.report.document", "write_report": "suite.report.document",
    "findings_as_table": "suite.report.findings", "findings_table": "suite.report.findings",
    "FORMATS": "suite.report.tables", "Table": "suite.report.tables", "render_table": "suite.report.tables",
    "standard_tables": "suite.report.tables",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'suite.report' has no attribute {name!r}")
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        from suite.errors import ConfigError

        raise ConfigError(f"suite.report.{name} needs {exc.name}, which is not installed",
                          field="extra", value=exc.name, expected="pip install 'hwbehave[report]'") from None
