"""The report's figures (matplotlib, Agg backend) as SVG text, in the order a reader needs them.

* :func:`findings_heatmap`: device x finding, each cell yes / no / unresolved / not measured / n/a;
* :func:`latency_figures`: latency along the sweep's main numeric axis per (device, sweep), the
  95 % between-round interval as a band, MACs on a second axis, and the staircase steps of the
  anomalies marked where they sit (between ``at`` and ``next``) with their plateaus' fitted levels;
* :func:`overhead_figures`: latency added per activation, and per op/switch beyond its MACs,
  as bars with their 95 % intervals, one bar per device;
* :func:`speedup_figure`: speedup of each lower precision over fp32, with intervals;
* :func:`device_overlays`: the same series on every device that measured it;
* :func:`distribution_figures`: ECDFs of the raw samples of a few points per device.

What cannot be decided at the run's noise level (verdict ``unresolved``) is drawn grey and
hatched or dashed and says so in the legend, never like a confirmed effect. Devices whose
timings are not wall-clock latency carry their kind in their name ("ethos-u55-128 (estimated)",
:func:`suite.analysis.timing.by_timing`) and are drawn dashed with open markers.

Every figure is data prepared with pandas/numpy first (one group-by per figure kind, raw
samples thinned to quantiles) and then drawn; text stays text in the SVG (``svg.fonttype:
none``) and the elements a test looks for carry ids (``<key>-legend``, ``<key>-step-...``),
prefixed per figure so that many figures can live inline in one HTML page.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from suite.analysis.records import Anomaly
from suite.analysis.series import AxisSeries, fmt_axis_value
from suite.analysis.uncertainty import CONFIRMED, UNRESOLVED
from suite.report.prepared import PreparedAnalysis

#: Latency-vs-axis figures per report, and lines per figure (more would be unreadable, and slow to draw).
MAX_FIGURES = 8
MAX_SERIES_PER_FIGURE = 6
#: Devices per bar chart or overlay, rows of the heat map (devices alike share one), devices
#: with a distribution figure.
MAX_BAR_DEVICES = 6
MAX_HEATMAP_DEVICES = 40
MAX_OVERLAYS = 4
MAX_DISTRIBUTIONS = 4
#: Points per distribution figure, and quantiles kept of each point's raw samples.
DISTRIBUTION_POINTS = 5
ECDF_QUANTILES = 200
#: Width of every figure (inches; 72 pt each, so 10 in are 720 pt, 960 CSS px at full size).
WIDTH_IN = 10.0

#: Matplotlib settings of every figure: sizes readable at a glance, text kept as SVG text.
RC = {"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "xtick.labelsize": 11, "ytick.labelsize": 11,
      "legend.fontsize": 11, "svg.fonttype": "none", "svg.hashsalt": "hwbehave", "axes.spines.top": False,
      "figure.dpi": 72}

#: Colours of the heat map per cell state, and the mark written in the cell.
STATE_STYLE = {"yes": ("#d95f02", "yes"), "no": ("#1b9e77", "no"), "unresolved": ("#bdbdbd", "unresolved"),
               "n/a": ("#f0f0f0", "n/a"), "not measured": ("#ffffff", "–")}
#: Two words per finding under the heat map's columns (the findings table has the full titles).
FINDING_WORDS = {"F1": "staircase", "F2": "activations", "F3": "op cost", "F4": "MACs vs\nlatency",
                 "F5": "precision\nspeed", "F6": "precision\noutputs", "F7": "support"}
#: How an unresolved effect is drawn (issue 10: greyed, never like a confirmed one).
UNRESOLVED_COLOR = "#9e9e9e"
UNRESOLVED_HATCH = "//"


@dataclass(frozen=True)
class Figure:
    """One rendered figure.

    ``kind`` is the figure family (``findings``, ``latency``, ``overhead``, ``speedup``,
    ``devices``, ``distribution``), ``key`` the prefix of every id inside ``svg`` (unique in a
    report), ``filename`` the name to use on disk, ``alt`` a sentence for screen readers and
    ``caption`` what the marks mean.
    """

    kind: str
    key: str
    title: str
    filename: str
    alt: str
    svg: str
    caption: str = ""


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-").lower()[:60] or "figure"


@contextmanager
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(RC):
        yield plt


_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|href="#)([^")]+)')


def _svg(fig, key: str) -> str:
    """The figure as inline SVG text: no XML prolog or metadata, every id prefixed with ``key``."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = _ID.sub(lambda m: f'id="{key}-{m.group(1)}"', text)
    text = _REF.sub(lambda m: f"{m.group(1)}{key}-{m.group(2)}", text)
    return text.replace("<svg ", f'<svg class="figure" data-key="{key}" role="img" ', 1)


def _finish(plt, fig, kind: str, key: str, title: str, alt: str, caption: str = "") -> Figure:
    try:
        svg = _svg(fig, key)
    finally:
        plt.close(fig)
    return Figure(kind=kind, key=key, title=title, filename=f"{key}-{_slug(title)}.svg", alt=alt, svg=svg,
                  caption=caption)


def _legend_below(fig, handles: list, labels: list[str], ncols: int | None = None) -> None:
    """A legend under the axes, outside them (constrained layout makes room): it never covers
    data, tick labels or axis labels."""
    if not handles:
        return
    n = ncols or min(3, len(handles))
    leg = fig.legend(handles, labels, loc="outside lower center", ncols=n, frameon=False)
    leg.set_gid("legend")


def _gids(ax) -> None:
    ax.patch.set_gid("axes-area")
    ax.xaxis.label.set_gid("xlabel")
    ax.yaxis.label.set_gid("ylabel")
    ax.title.set_gid("title")


#: Characters per title line (13 pt text over a 10 in figure holds about 90).
TITLE_CHARS = 80


def _title(ax, text: str, pad: float = 6) -> None:
    """An axes title wrapped at :data:`TITLE_CHARS` per line (a long one would run off the figure)."""
    import textwrap

    lines = [w for line in text.split("\n") for w in (textwrap.wrap(line, TITLE_CHARS) or [""])]
    ax.set_title("\n".join(lines), pad=pad)


def _unmeasured(device: str) -> bool:
    """Whether a device label carries a timing kind other than measured (``by_timing``)."""
    return bool(re.search(r"\((summary|emulated|estimated)(, [a-z]+)*\)$", device))


def _log_scale(ax, which: str) -> None:
    """A log axis labelled in plain numbers (``0.1``, ``1``, ``10``) at the powers of ten: the
    default labels are mathtext, which costs a parse per label and splits a label into pieces.
    Callers use it where the data span more than a decade, so at least one power of ten shows."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


# ---- device x finding --------------------------------------------------------------------------

def findings_heatmap(findings: pd.DataFrame, key: str = "fig-findings") -> Figure | None:
    """Device x finding heat map of a findings table (:func:`suite.report.findings.findings_table`):
    one cell per (device, finding), coloured by its state; unresolved cells grey and hatched."""
    from suite.report.findings import cell_state

    devices = [c for c in findings.columns if c != "title"]
    if not devices or findings.empty:
        return None
    states = pd.DataFrame({d: findings[d].astype(str).map(cell_state) for d in devices}, index=findings.index)
    # devices with the same verdicts share a row (a farm of identical boards is one row, not 50)
    rows: dict[tuple, list[str]] = {}
    for d in sorted(devices):
        rows.setdefault(tuple(states[d]), []).append(d)
    groups = sorted(rows.values(), key=lambda g: g[0])
    shown = groups[:MAX_HEATMAP_DEVICES]
    names = [g[0] if len(g) == 1 else f"{g[0]} (+{len(g) - 1} alike)" for g in shown]
    finds = list(findings.index)
    with _pyplot() as plt:
        from matplotlib.patches import Patch, Rectangle

        height = 1.6 + 0.42 * len(shown)
        label_w = max(len(d) for d in names)
        fig, ax = plt.subplots(figsize=(max(WIDTH_IN * 0.75, 4 + 0.09 * label_w), height), layout="constrained")
        for r, group in enumerate(shown):
            for c, f in enumerate(finds):
                state = states.loc[f, group[0]]
                color, mark = STATE_STYLE.get(state, STATE_STYLE["not measured"])
                rect = Rectangle((c, r), 1, 1, facecolor=color, edgecolor="white", linewidth=2,
                                 hatch=UNRESOLVED_HATCH if state == "unresolved" else None)
                rect.set_gid(f"cell-{r}-{c}-{_slug(state)}")
                ax.add_patch(rect)
                text_color = "white" if state in ("yes", "no") else "#333333"
                ax.text(c + 0.5, r + 0.5, mark, ha="center", va="center", fontsize=10 if state == "unresolved" else 11,
                        color=text_color, fontweight="bold" if state == "yes" else "normal")
        ax.set_xlim(0, len(finds))
        ax.set_ylim(len(shown), 0)
        ax.set_xticks(np.arange(len(finds)) + 0.5, [f"{f}\n{FINDING_WORDS.get(f, '')}".strip() for f in finds])
        ax.set_yticks(np.arange(len(shown)) + 0.5, names)
        ax.tick_params(length=0)
        for side in ("top", "right", "left", "bottom"):
            ax.spines[side].set_visible(False)
        title = "Findings per device"
        _title(ax, title)
        _gids(ax)
        handles = [Patch(facecolor=STATE_STYLE[s][0], edgecolor="#999999",
                         hatch=UNRESOLVED_HATCH if s == "unresolved" else None)
                   for s in ("yes", "no", "unresolved", "not measured", "n/a")]
        labels = ["yes (confirmed)", "no", "unresolved at this noise level", "not measured", "n/a (no latency)"]
        _legend_below(fig, handles, labels, ncols=3)
        more = sum(len(g) for g in groups[MAX_HEATMAP_DEVICES:])
        caption = ("Each cell: the finding's verdict on that device (the findings table has the numbers); "
                   "devices with the same verdicts on every finding share a row. Unresolved: the noise of the "
                   "run leaves it undecided, neither yes nor no."
                   + (f" {more} more devices are in the table only." if more > 0 else ""))
        return _finish(plt, fig, "findings", key, title,
                       f"Heat map of the seven findings on {len(devices)} devices: yes, no or unresolved", caption)


# ---- latency along an axis ---------------------------------------------------------------------

def _main_axis(series: Sequence[AxisSeries]) -> str | None:
    """The axis with the most distinct values among ``series`` (ties: the first)."""
    best, best_n = None, 2
    for s in series:
        if len(s.x) > best_n:
            best, best_n = s.axis, len(s.x)
    return best


def _same_params(a: dict, b: dict) -> bool:
    def norm(d: dict) -> dict:
        return {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v))
                for k, v in d.items() if v is not None}
    return norm(a) == norm(b)


@dataclass(frozen=True)
class StepMark:
    """A staircase step to draw: between axis values ``at`` and ``next``, the fitted levels on
    both sides, the end of the upper plateau and the anomaly's verdict."""

    at: float
    next: float
    upper_end: float
    latency_at_ms: float
    latency_next_ms: float
    verdict: str

    @property
    def x(self) -> float:
        """Where the step is drawn: halfway between the last point below and the first above it."""
        return (self.at + self.next) / 2.0


def step_marks(anomalies: Iterable[Anomaly]) -> dict[tuple, list[StepMark]]:
    """Steps of the staircase anomalies by (device, sweep, axis, op, dtype, runtime), each with the
    fixed parameters of the series the anomaly describes: ``{key: [(fixed_params, [StepMark])]}``."""
    out: dict[tuple, list] = {}
    for a in anomalies:
        if a.kind != "staircase":
            continue
        ev = a.evidence
        marks = [StepMark(float(s["at"]), float(s["next"]), float(s.get("upper_end", s["next"])),
                          float(s.get("latency_at_ms") or np.nan), float(s.get("latency_next_ms") or np.nan), a.verdict)
                 for s in ev.get("steps", [])]
        if marks:
            out.setdefault((a.device, a.sweep, a.axis), []).append((ev, marks))
    return out


def _marks_for(series: AxisSeries, found: list) -> list[StepMark]:
    for ev, marks in found:
        if (ev.get("op") == series.key.get("op") and ev.get("dtype") == series.key.get("dtype")
                and ev.get("runtime", series.key.get("runtime")) == series.key.get("runtime")
                and _same_params(ev.get("fixed_params") or {}, series.fixed_params)):
            return marks
    return []


def _labels(series: Sequence[AxisSeries]) -> tuple[str, list[str]]:
    """What the series of one figure share (for its title) and what tells each apart (legend)."""
    from suite.sweep.point import changed_params

    def params(s: AxisSeries) -> list[tuple[str, str]]:
        # the parameters away from the op's defaults and the shape at any value (kernel=3 too), as
        # people write them (cin=32, not cin=32.0)
        plain = {k: (int(v) if isinstance(v, float) and v.is_integer() else v) for k, v in s.fixed_params.items()
                 if k not in ("batch", "bias", "padding")}
        return [tuple(t.split("=", 1)) for t in changed_params(str(s.key.get("op", "")), plain, shape=True).split() if "=" in t]

    keyed = [[("op", str(s.key.get("op"))), ("dtype", str(s.key.get("dtype")))] + params(s) for s in series]
    common = set.intersection(*(set(k) for k in keyed)) if keyed else set()

    def text(items: list[tuple[str, str]]) -> str:
        return " ".join(v if k in ("op", "dtype") else f"{k}={v}" for k, v in items)

    shared = text([kv for kv in keyed[0] if kv in common]) if keyed else ""
    own = [text([kv for kv in k if kv not in common]) or "median over rounds" for k in keyed]
    return shared, own


def _set_axis_ticks(ax, values: np.ndarray) -> None:
    from matplotlib.ticker import FixedLocator, MaxNLocator

    values = np.unique(values[np.isfinite(values)])
    span = float(values[-1] - values[0]) if values.size else 0.0
    # a tick at every measured value when they are few and evenly enough spread to be read
    # (1, 2, 4 … 512 on a linear axis would pile up at the left), else matplotlib's choice
    if 2 <= len(values) <= 17 and float(np.diff(values).min()) >= span / 24:
        ax.xaxis.set_major_locator(FixedLocator(values))
        ax.set_xticklabels([fmt_axis_value(v) for v in values])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=12, integer=bool(np.all(values == np.round(values)))))


def latency_figures(prepared: PreparedAnalysis, anomalies: Sequence[Anomaly] = (), *,
                    max_figures: int = MAX_FIGURES) -> list[Figure]:
    """Latency along the main axis for up to ``max_figures`` (device, sweep) pairs, those with
    anomalies first; ids ``fig-NN`` from 1."""
    by_place: dict[tuple[str, str], list[AxisSeries]] = {}
    for s in prepared.series:
        by_place.setdefault((str(s.key.get("device")), str(s.key.get("sweep"))), []).append(s)
    if not by_place:
        return []
    stairs = {(a.device, a.sweep) for a in anomalies if a.kind == "staircase"}
    flagged = {(a.device, a.sweep) for a in anomalies}
    longest = {k: max(len(s.x) for s in v) for k, v in by_place.items()}
    # staircases first (what this figure is for), then places with anomalies, then the longest series
    places = sorted(by_place, key=lambda k: (k not in stairs, k not in flagged, -longest[k], k))[:max_figures]
    marks = step_marks(anomalies)
    figures = []
    with _pyplot() as plt:
        from matplotlib.lines import Line2D

        for device, sweep in places:
            axis = _main_axis(by_place[(device, sweep)])
            if axis is None:
                continue
            found = marks.get((device, sweep, axis), [])
            series = [s for s in by_place[(device, sweep)] if s.axis == axis]
            # the series an anomaly describes first, then the longest
            series.sort(key=lambda s: (not _marks_for(s, found), -len(s.x), s.describe()))
            series = series[:MAX_SERIES_PER_FIGURE]
            shared, own = _labels(series)
            key = f"fig-{1 + len(figures):02d}"
            fig, ax = plt.subplots(figsize=(WIDTH_IN, 5.6), layout="constrained")
            ax2 = ax.twinx()
            ax2.spines["top"].set_visible(False)
            handles, labels = [], []
            dashed = _unmeasured(device)
            all_x = []
            stepped: list[tuple[StepMark, str]] = []
            for i, s in enumerate(series):
                color = f"C{i % 10}"
                half = np.where(np.isfinite(s.half_ms), s.half_ms, 0.0)
                ax.fill_between(s.x, s.latency_ms - half, s.latency_ms + half, color=color, alpha=0.18, linewidth=0)
                (line,) = ax.plot(s.x, s.latency_ms, color=color, marker="o", markersize=4, linewidth=1.6,
                                  linestyle="--" if dashed else "-", markerfacecolor="white" if dashed else color)
                line.set_gid(f"series-{i}")
                handles.append(line)
                labels.append(own[i])
                all_x.append(s.x)
                if np.isfinite(s.macs).any():
                    ax2.plot(s.x, s.macs / 1e6, color=color, linestyle=":", linewidth=1.0, alpha=0.6)
                for k, m in enumerate(_marks_for(s, found)):
                    stepped.append((m, color))
                    # plateau levels as the staircase model fitted them: the first from the series'
                    # start, then each from the first point past a step to the end of its plateau
                    lo = float(s.x[0]) if k == 0 else None
                    plateau_color = color if m.verdict == CONFIRMED else UNRESOLVED_COLOR
                    if lo is not None and np.isfinite(m.latency_at_ms):
                        ax.plot([lo, m.at], [m.latency_at_ms] * 2, color=plateau_color, linewidth=6, alpha=0.3,
                                solid_capstyle="butt", gid=f"plateau-{_slug(m.verdict)}-{fmt_axis_value(lo)}")
                    if np.isfinite(m.latency_next_ms):
                        ax.plot([m.next, m.upper_end], [m.latency_next_ms] * 2, color=plateau_color, linewidth=6,
                                alpha=0.3, solid_capstyle="butt",
                                gid=f"plateau-{_slug(m.verdict)}-{fmt_axis_value(m.next)}")
            seen_x: set[float] = set()
            for m, color in stepped:
                if m.x in seen_x:
                    continue
                seen_x.add(m.x)
                ok = m.verdict == CONFIRMED
                ax.axvline(m.x, color=color if ok else UNRESOLVED_COLOR, linestyle="-" if ok else "--",
                           linewidth=1.4 if ok else 1.2, alpha=0.9,
                           gid=f"step-{m.verdict}-{fmt_axis_value(m.at)}-{fmt_axis_value(m.next)}")
                ax.annotate(f"{fmt_axis_value(m.at)}→{fmt_axis_value(m.next)}" + ("" if ok else " ?"),
                            xy=(m.x, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 3),
                            textcoords="offset points", fontsize=10, ha="center", va="bottom",
                            color="#333333" if ok else "#757575")
            verdicts = {m.verdict for m, _ in stepped}
            if CONFIRMED in verdicts:
                handles.append(Line2D([], [], color="#333333", linewidth=1.4))
                labels.append("step (confirmed), shaded: fitted plateaus")
            if UNRESOLVED in verdicts:
                handles.append(Line2D([], [], color=UNRESOLVED_COLOR, linestyle="--", linewidth=1.2))
                labels.append("step unresolved at this noise level (?)")
            if any(np.isfinite(s.macs).any() for s in series):
                handles.append(Line2D([], [], color="#555555", linestyle=":", linewidth=1.0))
                labels.append("MMACs (right axis)")
            _set_axis_ticks(ax, np.concatenate(all_x))
            ax.set_xlabel(axis)
            ax.set_ylabel("latency (ms), band: 95% interval")
            ax2.set_ylabel("MMACs")
            ax2.yaxis.label.set_gid("y2label")
            title = f"{device} · {sweep}: latency vs {axis}"
            _title(ax, f"{title}\n{shared}" if shared else title, pad=18 if stepped else 6)
            _gids(ax)
            _legend_below(fig, handles, labels, ncols=2)
            caption = ("Median over rounds with its 95% between-round interval (band); vertical lines: the "
                       "staircase steps the analysis found (between the last point before and the first after "
                       "the jump), grey and dashed where unresolved at this run's noise level.")
            if dashed:
                caption += " Dashed lines with open markers: these timings are not wall-clock device latency."
            figures.append(_finish(plt, fig, "latency", key, title,
                                   f"Latency of {sweep} on {device} vs {axis}, MACs dotted", caption))
    return figures


# ---- bars with intervals -----------------------------------------------------------------------

def device_classes(prepared: PreparedAnalysis) -> dict[str, str]:
    """device → its ``device_class`` (empty without the column)."""
    f = prepared.frame
    if f.empty or "device_class" not in f.columns:
        return {}
    pairs = f[["device", "device_class"]].drop_duplicates("device")
    return dict(zip(pairs["device"].astype(str), pairs["device_class"].astype(str), strict=True))


def diverse(ranked: Sequence[str], class_of: dict[str, str], k: int) -> list[str]:
    """The first ``k`` of ``ranked`` taking one device of each class before a second of any (a
    farm of 50 identical boards and 2 others shows the others, not 6 of the 50); ranks kept."""
    nth: dict[str, int] = {}
    order = []
    for i, dev in enumerate(ranked):
        cls = class_of.get(dev, dev)
        order.append((nth.get(cls, 0), i, dev))
        nth[cls] = nth.get(cls, 0) + 1
    return [dev for _, _, dev in sorted(order)[:k]]


def _pick_devices(frame: pd.DataFrame, class_of: dict[str, str]) -> list[str]:
    """Up to :data:`MAX_BAR_DEVICES` devices, one per class first: those with confirmed effects
    first, then by name."""
    counts = frame.assign(_c=frame["verdict"].eq(CONFIRMED)).groupby("device")["_c"].sum()
    ranked = sorted(sorted(map(str, counts.index)), key=lambda d: -int(counts.get(d, 0)))
    return diverse(ranked, class_of, MAX_BAR_DEVICES)


def _bars(plt, frame: pd.DataFrame, *, value: str, low: str, high: str, category: str, key: str, title: str,
          xlabel: str, reference: float, percent: bool, alt: str, caption: str, kind: str,
          class_of: dict[str, str] | None = None, states: tuple[str, str] = ("solid: confirmed, beyond the noise",
                                     "pale: within the noise or below the threshold")) -> Figure | None:
    """Horizontal grouped bars: one group per ``category``, one bar per device, its interval
    as an error bar; confirmed bars solid, negligible ones pale, unresolved ones grey and hatched."""
    from matplotlib.patches import Patch

    if frame.empty:
        return None
    devices = _pick_devices(frame, class_of or {})
    frame = frame[frame["device"].astype(str).isin(devices)]
    cats = list(dict.fromkeys(frame.sort_values(category)[category]))
    n_dev = len(devices)
    bar_h = 0.8 / n_dev
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.8 + 0.3 * len(cats) * n_dev + 0.25 * math.ceil(n_dev / 3)),
                           layout="constrained")
    scale = 100.0 if percent else 1.0
    states_seen = set()
    for j, dev in enumerate(devices):
        d = frame[frame["device"].astype(str) == dev].set_index(category)
        color = f"C{j % 10}"
        for i, cat in enumerate(cats):
            if cat not in d.index:
                continue
            r = d.loc[cat]
            v, lo, hi = (float(r[c]) * scale for c in (value, low, high))
            verdict = r["verdict"] if isinstance(r["verdict"], str) else ""
            state = verdict or "negligible"
            states_seen.add(state)
            y = i + (j - (n_dev - 1) / 2) * bar_h
            base = reference * scale
            face = UNRESOLVED_COLOR if state == UNRESOLVED else color
            bar = ax.barh(y, v - base, left=base, height=bar_h * 0.9, color=face,
                          alpha=0.45 if state == "negligible" else 1.0, edgecolor="#555555" if state == UNRESOLVED else face,
                          hatch=UNRESOLVED_HATCH if state == UNRESOLVED else None)
            bar[0].set_gid(f"bar-{j}-{i}-{_slug(state)}")
            if np.isfinite(lo) and np.isfinite(hi):
                ax.errorbar(v, y, xerr=[[max(v - lo, 0)], [max(hi - v, 0)]], color="#222222", capsize=3,
                            linewidth=1.1, gid=f"interval-{j}-{i}")
    ax.axvline(reference * scale, color="#444444", linewidth=1.0)
    ax.set_yticks(range(len(cats)), [str(c) for c in cats])
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    _title(ax, title)
    ax.grid(axis="x", alpha=0.3)
    _gids(ax)
    handles = [Patch(facecolor=f"C{j % 10}") for j in range(n_dev)]
    labels = list(devices)
    if CONFIRMED in states_seen:
        handles.append(Patch(facecolor="#555555"))
        labels.append(states[0])
    if "negligible" in states_seen:
        handles.append(Patch(facecolor="#888888", alpha=0.45))
        labels.append(states[1])
    if UNRESOLVED in states_seen:
        handles.append(Patch(facecolor=UNRESOLVED_COLOR, hatch=UNRESOLVED_HATCH, edgecolor="#555555"))
        labels.append("grey, hatched: unresolved at this noise level")
    _legend_below(fig, handles, labels, ncols=3)
    return _finish(plt, fig, kind, key, title, alt, caption)


def overhead_figures(prepared: PreparedAnalysis) -> list[Figure]:
    """Bars of the latency added per activation (one figure per dtype, fp32 first) and per op
    or switch beyond its MACs (F2, F3), with 95 % intervals (ids ``fig-oNN``)."""
    s = prepared.overhead
    if s.empty:
        return []
    s = s[s["device"].notna()]
    classes = device_classes(prepared)
    figures = []
    with _pyplot() as plt:
        act = s[s["kind"] == "activation"]
        dtypes = sorted(act["dtype"].dropna().unique(), key=lambda d: (d != "fp32", d))[:2]
        for dtype in dtypes:
            g = (act[act["dtype"] == dtype].groupby(["level", "device"], sort=True).first().reset_index())
            fig = _bars(plt, g, value="overhead", low="overhead_low", high="overhead_high", category="level",
                        class_of=classes,
                        key=f"fig-o{1 + len(figures):02d}",
                        title=f"Latency added by the activation vs none ({dtype})",
                        xlabel="added latency (%), 95% interval", reference=0.0, percent=True, kind="overhead",
                        alt=f"Bar chart of the latency each activation adds at {dtype}, per device",
                        caption="Median over configurations; error bars: 95% interval from the variation "
                                "between rounds and between configurations.")
            if fig is not None:
                figures.append(fig)
        ops = s[s["kind"].isin(["op", "switch"])]
        if not ops.empty:
            g = ops.assign(what=[f"{lvl} ({d})" if k == "op" else f"{op} {ax_}={lvl} ({d})"
                                 for lvl, d, k, op, ax_ in zip(ops["level"], ops["dtype"], ops["kind"], ops["op"],
                                                                ops["axis"], strict=True)])
            g = g.groupby(["what", "device"], sort=True).first().reset_index()
            fig = _bars(plt, g, value="overhead", low="overhead_low", high="overhead_high", category="what",
                        class_of=classes,
                        key=f"fig-o{1 + len(figures):02d}",
                        title="Latency beyond the MACs: ops and switches vs their reference",
                        xlabel="latency beyond the reference (%), 95% interval", reference=0.0, percent=True,
                        kind="overhead", alt="Bar chart of per-op and per-switch overhead, per device",
                        caption="An op: its latency beyond what its MACs predict from the reference op; a "
                                "switch: the latency it adds when on.")
            if fig is not None:
                figures.append(fig)
    return figures


def speedup_figure(prepared: PreparedAnalysis, key: str = "fig-speedup") -> Figure | None:
    """Bars of the speedup of each lower precision over fp32 per (op, dtype) and device, with 95 %
    intervals; a confirmed slowdown is solid, an unresolved one grey and hatched."""
    s = prepared.speedup
    if s.empty:
        return None
    g = s.assign(what=s["op"].astype(str) + " " + s["dtype"].astype(str)).groupby(["what", "device"]).first()
    g = g.reset_index()
    with _pyplot() as plt:
        return _bars(plt, g, value="speedup", low="speedup_low", high="speedup_high", category="what", key=key,
                     class_of=device_classes(prepared),
                     title="Speedup over fp32 (fp32 latency / latency; left of 1 = slower)",
                     xlabel="speedup (x), 95% interval", reference=1.0, percent=False, kind="speedup",
                     alt="Bar chart of the speedup of each lower precision over fp32, per device",
                     caption="Median over configurations; the verdict (solid / pale / hatched grey) is that of a "
                             "slowdown.", states=("solid: a confirmed slowdown", "pale: no slowdown beyond the noise"))


# ---- the same series on several devices --------------------------------------------------------

def device_overlays(prepared: PreparedAnalysis) -> list[Figure]:
    """Per sweep measured on several devices: the series present on most devices, one line per
    device (ids ``fig-dNN``); non-measured timing kinds dashed with open markers."""
    groups: dict[tuple, dict[str, AxisSeries]] = {}
    for s in prepared.series:
        fixed = tuple(sorted((k, str(v)) for k, v in s.fixed_params.items()))
        k = (str(s.key.get("sweep")), s.axis, str(s.key.get("op")), str(s.key.get("dtype")), fixed)
        groups.setdefault(k, {}).setdefault(str(s.key.get("device")), s)
    best: dict[str, tuple] = {}
    for k, devs in groups.items():
        if len(devs) < 2:
            continue
        score = (len(devs), min(len(s.x) for s in devs.values()))
        if k[0] not in best or score > best[k[0]][0]:
            best[k[0]] = (score, k)
    figures = []
    classes = device_classes(prepared)
    with _pyplot() as plt:
        from matplotlib.lines import Line2D

        for sweep in sorted(best)[:MAX_OVERLAYS]:
            k = best[sweep][1]
            devs = groups[k]
            names = sorted(diverse(sorted(devs), classes, MAX_SERIES_PER_FIGURE))
            key = f"fig-d{1 + len(figures):02d}"
            fig, ax = plt.subplots(figsize=(WIDTH_IN, 5.4), layout="constrained")
            handles, labels = [], []
            lat = np.concatenate([devs[d].latency_ms for d in names])
            kinds = False
            for i, dev in enumerate(names):
                s = devs[dev]
                color = f"C{i % 10}"
                dashed = _unmeasured(dev)
                kinds |= dashed
                half = np.where(np.isfinite(s.half_ms), s.half_ms, 0.0)
                ax.fill_between(s.x, s.latency_ms - half, s.latency_ms + half, color=color, alpha=0.15, linewidth=0)
                (line,) = ax.plot(s.x, s.latency_ms, color=color, marker="o", markersize=4, linewidth=1.6,
                                  linestyle="--" if dashed else "-", markerfacecolor="white" if dashed else color,
                                  gid=f"device-{i}{'-unmeasured' if dashed else ''}")
                handles.append(line)
                labels.append(dev)
            if np.nanmax(lat) / max(np.nanmin(lat), 1e-12) > 10:
                _log_scale(ax, "y")
            if kinds:
                handles.append(Line2D([], [], color="#555555", linestyle="--", marker="o", markerfacecolor="white"))
                labels.append("dashed, open: not measured latency (kind in the name)")
            _set_axis_ticks(ax, np.concatenate([devs[d].x for d in names]))
            ax.set_xlabel(k[1])
            ax.set_ylabel("latency (ms), band: 95% interval")
            example = devs[names[0]]
            title = f"{sweep}: {_labels([example])[0]} on {len(names)} devices"
            _title(ax, title)
            _gids(ax)
            _legend_below(fig, handles, labels, ncols=3)
            more = len(devs) - len(names)
            caption = ("The same configurations on each device that measured them."
                       + (f" {more} more devices measured this series." if more > 0 else ""))
            if kinds:
                caption += (" A device named with a timing kind (estimated, summary) is a model's or a tool's "
                            "figure, not wall-clock latency: compare its shape, not its level.")
            figures.append(_finish(plt, fig, "devices", key, title, f"Latency of one series of {sweep} on "
                                   f"{len(names)} devices", caption))
    return figures


# ---- raw-sample distributions ------------------------------------------------------------------

def ecdf_points(samples: np.ndarray, quantiles: int = ECDF_QUANTILES) -> tuple[np.ndarray, np.ndarray]:
    """An ECDF of ``samples`` as at most ``quantiles`` (value, fraction) pairs: every sample when
    there are few, else the empirical quantiles at evenly spaced fractions (the curve's shape,
    tails included: the first and last points are the minimum and maximum)."""
    x = np.sort(np.asarray(samples, dtype=float))
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return x, x
    if n <= quantiles:
        return x, np.arange(1, n + 1) / n
    frac = np.linspace(0.0, 1.0, quantiles)
    return np.quantile(x, frac), np.maximum(frac, 1.0 / n)


def distribution_figures(prepared: PreparedAnalysis) -> list[Figure]:
    """ECDFs of the raw samples (``samples_ms``, every round) of up to :data:`DISTRIBUTION_POINTS`
    points spread along each device's longest series (ids ``fig-sNN``)."""
    frame = prepared.frame
    if "samples_ms" not in frame.columns or not prepared.series:
        return []
    longest: dict[str, AxisSeries] = {}
    for s in prepared.series:
        dev = str(s.key.get("device"))
        if dev not in longest or len(s.x) > len(longest[dev].x):
            longest[dev] = s
    devices = sorted(diverse(sorted(longest), device_classes(prepared), MAX_DISTRIBUTIONS))
    # a point is found by its jobs (the same point id can sit in two sweeps of one device)
    by_job = "job_id" in frame.columns
    wanted = {}
    for dev in devices:
        s = longest[dev]
        idx = np.unique(np.linspace(0, len(s.x) - 1, min(DISTRIBUTION_POINTS, len(s.x))).round().astype(int))
        wanted[dev] = [(float(s.x[i]), set(s.job_ids[i]) if by_job else {s.point_ids[i]}) for i in idx]
    ident = frame["job_id" if by_job else "point_id"].astype(str)
    ids = {j for v in wanted.values() for _, js in v for j in js}
    keep = ident.isin(ids) & frame["device"].astype(str).isin(devices)
    if not by_job:
        keep &= frame["sweep"].astype(str).isin({str(longest[d].key.get("sweep")) for d in devices})
    rows = pd.DataFrame({"device": frame["device"][keep].astype(str), "ident": ident[keep],
                         "sweep": frame["sweep"][keep].astype(str), "samples_ms": frame["samples_ms"][keep]})
    figures = []
    with _pyplot() as plt:
        for dev in devices:
            s = longest[dev]
            d = rows[(rows["device"] == dev) & (rows["sweep"] == str(s.key.get("sweep")))]
            key = f"fig-s{1 + len(figures):02d}"
            fig, ax = plt.subplots(figsize=(WIDTH_IN, 5.0), layout="constrained")
            handles, labels = [], []
            lo, hi = np.inf, 0.0
            for i, (xv, jobs) in enumerate(wanted[dev]):
                parts = [np.asarray(v, float) for v in d.loc[d["ident"].isin(jobs), "samples_ms"]
                         if v is not None and len(v)]
                if not parts:
                    continue
                samples = np.concatenate(parts)
                x, y = ecdf_points(samples)
                if not x.size:
                    continue
                lo, hi = min(lo, float(x[0])), max(hi, float(x[-1]))
                (line,) = ax.step(x, y, where="post", color=f"C{i % 10}", linewidth=1.6, gid=f"ecdf-{i}")
                ax.plot([np.median(samples)], [0.5], marker="o", color=f"C{i % 10}", markersize=5)
                handles.append(line)
                labels.append(f"{s.axis}={fmt_axis_value(xv)} ({samples.size} samples)")
            if not handles:
                plt.close(fig)
                continue
            if hi / max(lo, 1e-12) > 10:
                _log_scale(ax, "x")
            ax.set_ylim(0, 1.02)
            ax.set_xlabel("latency (ms) of one sample")
            ax.set_ylabel("fraction of samples ≤ latency")
            ax.grid(alpha=0.3)
            title = f"{dev}: sample distributions, {_labels([s])[0]}"
            _title(ax, title)
            _gids(ax)
            _legend_below(fig, handles, labels, ncols=3)
            figures.append(_finish(plt, fig, "distribution", key, title,
                                   f"Empirical distribution functions of the raw samples of {len(handles)} points "
                                   f"on {dev}",
                                   "Every raw sample of every round (the dot: the median); a curve with a shoulder "
                                   f"is a bimodal point (a slow spell in some rounds). Curves of more than "
                                   f"{ECDF_QUANTILES} samples are drawn through {ECDF_QUANTILES} quantiles."))
    return figures
