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
from suite.analysis.pairs import run_floors
from suite.analysis.precision import speedup_frame, speedup_summary
from suite.analysis.series import timed
from suite.analysis.steps import staircase_frame
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.report.prepared import PreparedAnalysis, prepare

FORMATS: tuple[str, ...] = ("md", "latex", "csv", "html")


@dataclass(frozen=True)
class Table:
    """A named table: ``frame`` (index = row labels, columns = devices or fields), a caption and
    ``value_format`` (a ``str.format`` pattern, or a callable) for the text renderings;
    ``csv_frame``, when given, is what CSV writes instead (raw numbers where ``frame`` holds
    formatted cells, e.g. an estimate with its interval)."""

    name: str
    caption: str
    frame: pd.DataFrame
    value_format: str | Callable[[object], str] = "{}"
    notes: str = ""
    extra: dict = field(default_factory=dict)
    csv_frame: pd.DataFrame | None = None

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
    frame = table.csv_frame if table.csv_frame is not None else table.frame
    return frame.reset_index().to_csv(index=False)


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


#: How a cell marks its state: confirmed effects, unresolved ones (cannot be decided at this
#: noise level); no mark = negligible (within the noise).
MARKS = {"confirmed": " *", "unresolved": " ?"}
MARK_NOTE = ("* beyond the noise (confirmed); ? unresolved at this run's noise level; unmarked: within the "
             "noise. Intervals are 95 %, from the variation between rounds and between configurations.")


def _interval_cell(value: float, low: float, high: float, verdict: str, fmt: Callable[[float], str]) -> str:
    return f"{fmt(value)} [{fmt(low)}, {fmt(high)}]{MARKS.get(verdict or '', '')}"


def activation_overhead_table(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                              dtype: str = "fp32", *, summary: pd.DataFrame | None = None) -> Table:
    """Median latency added by each activation vs its reference (conv alone), per device (F2),
    with its 95 % interval and a mark for confirmed (*) and unresolved (?) effects.

    ``summary``: an :func:`overhead_summary` already computed (a report's
    :class:`~suite.report.prepared.PreparedAnalysis`); by default it is computed from ``df``."""
    if summary is None:
        summary = overhead_summary(overhead_frame(df, thresholds), thresholds, run_floors(timed(df, thresholds)))
    s = summary[(summary["kind"] == "activation") & (summary["dtype"] == dtype)]
    if s.empty:
        frame, raw = pd.DataFrame(), pd.DataFrame()
    else:
        s = s.groupby(["level", "device"]).first().reset_index()
        s = s.assign(cell=[_interval_cell(r.overhead, r.overhead_low, r.overhead_high, r.verdict, _pct)
                           for r in s.itertuples()])
        frame = s.pivot(index="level", columns="device", values="cell")
        raw = s.pivot_table(index="level", columns="device", values=["overhead", "overhead_low", "overhead_high"],
                            aggfunc="first")
        raw.columns = [f"{dev} {what}" for what, dev in raw.columns]
        raw = raw[sorted(raw.columns)]
    for f in (frame, raw):
        f.index.name, f.columns.name = "activation", None
    return Table("activation-overhead", f"Latency added by the activation vs none ({dtype}, median over configurations)",
                 frame, "{}", notes=f"Significant at >= {thresholds.overhead_significant:.0%}. " + MARK_NOTE,
                 csv_frame=raw)


def dtype_speedup_table(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS, *,
                        summary: pd.DataFrame | None = None) -> Table:
    """Median speedup of each lower precision over fp32, per (op, dtype) and device (F5), with
    its 95 % interval and a mark for a confirmed (*) or unresolved (?) slowdown (``summary``: a
    :func:`speedup_summary` already computed, as for :func:`activation_overhead_table`)."""
    s = summary if summary is not None else speedup_summary(speedup_frame(df, thresholds), thresholds,
                                                            run_floors(timed(df, thresholds)))
    if s.empty:
        frame, raw = pd.DataFrame(), pd.DataFrame()
    else:
        s = s.groupby(["op", "dtype", "device"]).first().reset_index()
        s = s.assign(cell=[_interval_cell(r.speedup, r.speedup_low, r.speedup_high,
                                          r.verdict if isinstance(r.verdict, str) else "", lambda v: f"{v:.2f}x")
                           for r in s.itertuples()])
        frame = s.pivot(index=["op", "dtype"], columns="device", values="cell")
        raw = s.pivot_table(index=["op", "dtype"], columns="device", values=["speedup", "speedup_low", "speedup_high"],
                            aggfunc="first")
        raw.columns = [f"{dev} {what}" for what, dev in raw.columns]
        raw = raw[sorted(raw.columns)]
    for f in (frame, raw):
        f.columns.name = None
    return Table("dtype-speedup", "Speedup over fp32 (fp32 latency / latency; below 1 = slower)", frame, "{}",
                 notes="Marks refer to a slowdown. " + MARK_NOTE, csv_frame=raw)


def step_period_table(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS, *,
                      staircases: pd.DataFrame | None = None) -> Table:
    """Staircase period and largest step per (op, axis) and device (F1); blank where none;
    ``?`` marks a staircase that is unresolved at the run's noise level (``staircases``: a
    :func:`staircase_frame` already computed)."""
    st = staircases if staircases is not None else staircase_frame(df, thresholds)
    if st.empty:
        frame = pd.DataFrame()
    else:
        def summarise(g: pd.DataFrame) -> str:
            confirmed = g[g["verdict"] == "confirmed"]
            use = confirmed if len(confirmed) else g
            periods = use["period"].dropna()
            period = f"{periods.mode().iloc[0]:g}" if len(periods) else "irregular"
            return f"{period} (+{100 * use['max_step'].max():.0f}%){'' if len(confirmed) else MARKS['unresolved']}"

        frame = st.groupby(["op", "axis", "device"]).apply(summarise, include_groups=False).unstack("device")
        frame.columns.name = None
    return Table("step-periods", "Staircase period along an axis (largest step in parentheses)", frame, "{}",
                 notes="? unresolved at this run's noise level (a candidate staircase the noise leaves undecided).")


#: Names of :func:`standard_tables`, in order (``hwbehave table --name``; a test keeps them in step).
TABLE_NAMES = ("activation-overhead", "dtype-speedup", "step-periods")


def standard_tables(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS, *,
                    prepared: PreparedAnalysis | None = None) -> list[Table]:
    """The report's tables: activation overhead, dtype speedup, step periods (columns per device
    and timing kind), from ``prepared`` (:func:`suite.report.prepared.prepare` of ``df``) when given."""
    p = prepared if prepared is not None else prepare(df, thresholds)
    return [activation_overhead_table(p.data, thresholds, summary=p.overhead),
            dtype_speedup_table(p.data, thresholds, summary=p.speedup),
            step_period_table(p.data, thresholds, staircases=p.staircases)]
