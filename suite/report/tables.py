"""Publication tables across devices, rendered to Markdown, booktabs LaTeX, CSV and HTML.

A :class:`Table` holds numbers (CSV keeps them raw) plus the format used for text
renderings; the builders below make the study's standard tables from a measurement frame.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from suite.analysis.overhead import overhead_frame, overhead_summary
from suite.analysis.precision import speedup_frame, speedup_summary
from suite.analysis.steps import staircase_frame
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.analysis.timing import by_timing

FORMATS: tuple[str, ...] = ("md", "latex", "csv", "html")


@dataclass(frozen=True)
class Table:
    """A named table: ``frame`` (index = row labels, columns = devices or fields), a caption and
    ``value_format`` (a ``str.format`` pattern, or a callable) for the text renderings."""

    name: str
    caption: str
    frame: pd.DataFrame
    value_format: str | Callable[[object], str] = "{}"
    notes: str = ""
    extra: dict = field(default_factory=dict)

    def cell(self, value: object) -> str:
        """One cell as text: blank for missing values, else formatted."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if callable(self.value_format):
            return self.value_format(value)
        try:
            return self.value_format.format(value)
        except (ValueError, TypeError):
            return str(value)


def _rows(table: Table) -> tuple[list[str], list[list[str]]]:
    frame = table.frame
    index_name = " / ".join(str(n) for n in frame.index.names if n is not None) or ""
    header = [index_name] + [str(c) for c in frame.columns]
    body = []
    for idx, row in frame.iterrows():
        label = " / ".join(map(str, idx)) if isinstance(idx, tuple) else str(idx)
        body.append([label] + [table.cell(v) for v in row.tolist()])
    return header, body


def to_markdown(table: Table) -> str:
    """GitHub-flavoured Markdown pipe table with the caption in bold above it."""
    header, body = _rows(table)

    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [f"**{esc(table.caption)}**", "", "| " + " | ".join(map(esc, header)) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(map(esc, row)) + " |" for row in body]
    if table.notes:
        lines += ["", esc(table.notes)]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--",
                  "×": r"$\times$"}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters in plain text."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(table: Table) -> str:
    """A ``table`` float with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    header, body = _rows(table)
    spec = "l" + "r" * (len(header) - 1)
    label = "tab:" + "".join(ch if ch.isalnum() else "-" for ch in table.name)
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(table.caption)}}}", rf"\label{{{label}}}",
             rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(latex_escape(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in body]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.notes:
        lines.append(rf"\par\smallskip{{\footnotesize {latex_escape(table.notes)}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """CSV with raw numbers (no formatting), row labels as the first column(s)."""
    return table.frame.reset_index().to_csv(index=False)


def to_html(table: Table, css_class: str = "data") -> str:
    """An escaped HTML ``<table>`` with a ``<caption>``."""
    header, body = _rows(table)
    e = html.escape
    parts = [f'<table class="{e(css_class)}">', f"<caption>{e(table.caption)}</caption>",
             "<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr></thead>", "<tbody>"]
    for row in body:
        parts.append("<tr><th>" + e(row[0]) + "</th>" + "".join(f"<td>{e(c)}</td>" for c in row[1:]) + "</tr>")
    parts.append("</tbody></table>")
    if table.notes:
        parts.append(f'<p class="note">{e(table.notes)}</p>')
    return "\n".join(parts) + "\n"


def render_table(table: Table, fmt: str) -> str:
    """Render ``table`` as ``md``, ``latex``, ``csv`` or ``html``."""
    renderers = {"md": to_markdown, "latex": to_latex, "csv": to_csv, "html": to_html}
    if fmt not in renderers:
        raise ValueError(f"unknown table format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return renderers[fmt](table)


def _pct(v: object) -> str:
    return f"{100 * float(v):+.0f}%"


def activation_overhead_table(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                              dtype: str = "fp32") -> Table:
    """Median latency added by each activation vs its reference (conv alone), per device (F2)."""
    summary = overhead_summary(overhead_frame(df, thresholds))
    s = summary[(summary["kind"] == "activation") & (summary["dtype"] == dtype)]
    frame = (s.groupby(["level", "device"])["overhead"].median().unstack("device")
             if not s.empty else pd.DataFrame())
    frame.index.name, frame.columns.name = "activation", None
    return Table("activation-overhead", f"Latency added by the activation vs none ({dtype}, median over configurations)",
                 frame, _pct, notes=f"Significant at >= {thresholds.overhead_significant:.0%} and beyond both 95% CIs.")


def dtype_speedup_table(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Table:
    """Median speedup of each lower precision over fp32, per (op, dtype) and device (F5)."""
    s = speedup_summary(speedup_frame(df, thresholds))
    frame = (s.groupby(["op", "dtype", "device"])["speedup"].median().unstack("device")
             if not s.empty else pd.DataFrame())
    frame.columns.name = None
    return Table("dtype-speedup", "Speedup over fp32 (fp32 latency / latency; below 1 = slower)", frame, "{:.2f}x")


def step_period_table(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Table:
    """Staircase period and largest step per (op, axis) and device (F1); blank where none."""
    st = staircase_frame(df, thresholds)
    if st.empty:
        frame = pd.DataFrame()
    else:
        def summarise(g: pd.DataFrame) -> str:
            periods = g["period"].dropna()
            period = f"{periods.mode().iloc[0]:g}" if len(periods) else "irregular"
            return f"{period} (+{100 * g['max_step'].max():.0f}%)"

        frame = st.groupby(["op", "axis", "device"]).apply(summarise, include_groups=False).unstack("device")
        frame.columns.name = None
    return Table("step-periods", "Staircase period along an axis (largest step in parentheses)", frame, "{}")


#: Names of :func:`standard_tables`, in order (``hwbehave table --name``; a test keeps them in step).
TABLE_NAMES = ("activation-overhead", "dtype-speedup", "step-periods")


def standard_tables(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[Table]:
    """The report's tables: activation overhead, dtype speedup, step periods (columns per device and timing kind)."""
    df = by_timing(df)
    return [activation_overhead_table(df, thresholds), dtype_speedup_table(df, thresholds),
            step_period_table(df, thresholds)]
