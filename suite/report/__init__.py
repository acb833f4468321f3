"""Report stage: findings table, publication tables, run comparison, HTML/Markdown reports.

Entry points for the CLI: :func:`write_report`, :func:`findings_table`, :func:`standard_tables`
with :func:`render_table`, and :func:`compare_runs`.
"""

from __future__ import annotations

from suite.report.compare import compare_runs, comparison_table, significant_changes
from suite.report.document import build_document, write_report
from suite.report.findings import findings_as_table, findings_table
from suite.report.tables import FORMATS, Table, render_table, standard_tables

__all__ = ["FORMATS", "Table", "build_document", "compare_runs", "comparison_table", "findings_as_table",
           "findings_table", "render_table", "significant_changes", "standard_tables", "write_report"]
