"""Latency-vs-axis figures (matplotlib, Agg backend) as PNG bytes.

One figure per (device, sweep): latency headlines with their 95 % between-round intervals
(:func:`suite.analysis.series.timed`) along the sweep's main numeric axis, one line per series
(other parameters fixed), MACs on a second axis (dashed), and the confirmed staircase steps
marked with dotted vertical lines.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from suite.analysis.records import Anomaly
from suite.analysis.series import iter_axis_series, numeric_axes, timed

#: Figures per report and lines per figure (more would be unreadable, and slow to draw).
MAX_FIGURES = 24
MAX_SERIES_PER_FIGURE = 6
DPI = 80


@dataclass(frozen=True)
class Figure:
    """One rendered figure: a title, a file name to use on disk, alt text and PNG bytes."""

    title: str
    filename: str
    alt: str
    png: bytes


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-").lower()[:60] or "figure"


def _main_axis(sub: pd.DataFrame) -> str | None:
    best, best_n = None, 2
    for axis in numeric_axes(sub):
        n = int(sub[axis].nunique())
        if n > best_n:
            best, best_n = axis, n
    return best


def latency_figures(df: pd.DataFrame, anomalies: Sequence[Anomaly] = (), *,
                    max_figures: int = MAX_FIGURES) -> list[Figure]:
    """Figures for up to ``max_figures`` (device, sweep) pairs, those with anomalies first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = timed(df)
    if data.empty:
        return []
    flagged = {(a.device, a.sweep) for a in anomalies}
    places = sorted(data.groupby(["device", "sweep"]).groups, key=lambda k: ((k[0], k[1]) not in flagged, k))
    steps: dict[tuple, list[float]] = {}
    for a in anomalies:
        if a.kind == "staircase" and a.confirmed:  # unresolved steps are not drawn as steps
            steps.setdefault((a.device, a.sweep, a.axis), []).extend(
                float(s["at"]) for s in a.evidence.get("steps", []))
    figures = []
    for device, sweep in places:
        if len(figures) >= max_figures:
            break
        sub = data[(data["device"] == device) & (data["sweep"] == sweep)]
        axis = _main_axis(sub)
        if axis is None:
            continue
        series = list(iter_axis_series(sub, axis, 3))
        if not series:
            continue
        series.sort(key=lambda s: (-len(s.x), s.describe()))
        fig, ax = plt.subplots(figsize=(7.5, 4.0), dpi=DPI)
        ax2 = ax.twinx()
        for i, s in enumerate(series[:MAX_SERIES_PER_FIGURE]):
            color = f"C{i % 10}"
            yerr = np.where(np.isfinite(s.half_ms), s.half_ms, 0.0)
            ax.errorbar(s.x, s.latency_ms, yerr=yerr, color=color, marker="o", markersize=3, linewidth=1.2,
                        capsize=2, label=f"{s.key.get('op')} {s.describe(3)}")
            if np.isfinite(s.macs).any():
                ax2.plot(s.x, s.macs / 1e6, color=color, linestyle="--", linewidth=0.8, alpha=0.6)
        for at in sorted(set(steps.get((device, sweep, axis), []))):
            ax.axvline(at, color="0.3", linestyle=":", linewidth=0.9)
            ax.annotate(f"step {at:g}", xy=(at, 1.0), xycoords=("data", "axes fraction"), fontsize=7,
                        rotation=90, va="top", ha="right", color="0.3")
        ax.set_xlabel(axis)
        ax.set_ylabel("latency (ms), 95% between-round interval")
        ax2.set_ylabel("MMACs (dashed)")
        title = f"{device} · {sweep}: latency vs {axis}"
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI)
        plt.close(fig)
        figures.append(Figure(title=title, filename=f"fig-{len(figures) + 1:02d}-{_slug(f'{device}-{sweep}')}.png",
                              alt=f"Latency of {sweep} on {device} vs {axis}, MACs dashed", png=buf.getvalue()))
    return figures
