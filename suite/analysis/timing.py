"""Timing kinds in analysis and reports: a finding, ranking or table never mixes them.

This module is the one place that keeps the kinds apart; the rest of the analysis sees its
effect only through the ``device`` column.

Results say how their numbers were obtained (``timing``: ``measured``, ``summary``,
``emulated``, ``estimated``; docs/architecture.md §5). The detectors and tables compare
rows of one device with each other and rank devices against each other, so rows of a kind
other than ``measured`` are analysed as a device of their own, named
``"<device> (<kind>)"`` (:func:`by_timing`): Vela's estimate for ``ethos-u55-128`` becomes
the column ``ethos-u55-128 (estimated)`` of the findings table, its anomalies say "On
ethos-u55-128 (estimated), ...", and it is never ranked against a measured device under one
name. Of those kinds, only :data:`LATENCY_TIMINGS` carry a latency: ``emulated`` rows (an
accelerator emulated on the host) are support and accuracy data, so the latency detectors
leave them out (:func:`latency_rows`) and the findings table says ``n/a`` for their latency
findings.
"""

from __future__ import annotations

import pandas as pd

from suite.results.schema import MEASURED

#: Timing kinds a latency detector may use: ``emulated`` timings (an accelerator emulated on the
#: host) are valid for support and accuracy, never for latency.
LATENCY_TIMINGS: tuple[str, ...] = ("measured", "summary", "estimated")


def timing_label(device: str, timing: str | None) -> str:
    """``device`` for measured rows (or rows without a kind), else ``"device (kind)"``."""
    if not timing or timing == MEASURED:
        return device
    suffix = f" ({timing})"
    return device if device.endswith(suffix) else device + suffix


def by_timing(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``device`` relabelled by :func:`timing_label` (unchanged without a ``timing`` column).

    Idempotent: a frame already relabelled comes back equal, so every entry point of the
    analysis and the reports may call it.
    """
    if df.empty or "timing" not in df.columns or "device" not in df.columns:
        return df
    timing = df["timing"]
    other = timing.notna() & (timing != MEASURED)
    if not other.any():
        return df
    out = df.copy()
    out.loc[other, "device"] = [timing_label(str(d), str(t)) for d, t in zip(out.loc[other, "device"],
                                                                           timing[other], strict=True)]
    return out


def latency_rows(df: pd.DataFrame) -> pd.Series:
    """Boolean mask of the rows whose timing kind is a latency (:data:`LATENCY_TIMINGS`; rows
    without a kind count as measured)."""
    if "timing" not in df.columns:
        return pd.Series(True, index=df.index)
    return df["timing"].fillna(MEASURED).isin(LATENCY_TIMINGS)


def timing_kinds(df: pd.DataFrame) -> dict[str, list[str]]:
    """device → the sorted timing kinds of its rows (``measured`` where no kind is recorded)."""
    if df.empty or "device" not in df.columns:
        return {}
    timing = df["timing"].fillna(MEASURED).astype(str) if "timing" in df.columns else pd.Series(MEASURED,
                                                                                              index=df.index)
    return {str(dev): sorted(set(kinds)) for dev, kinds in timing.groupby(df["device"].astype(str))}


def has_latency(kinds: list[str]) -> bool:
    """Whether rows of these timing kinds can show a latency finding (no kinds known: yes)."""
    return not kinds or bool(set(kinds) & set(LATENCY_TIMINGS))
