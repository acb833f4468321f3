"""Timing kinds in analysis and reports: a finding, ranking or table never mixes them.

Results say how their numbers were obtained (``timing``: ``measured``, ``summary``,
``emulated``, ``estimated``; docs/architecture.md §5). The detectors and tables compare
rows of one device with each other and rank devices against each other, so rows of a kind
other than ``measured`` are analysed as a device of their own, named
``"<device> (<kind>)"``: Vela's estimate for ``ethos-u55-128`` becomes the column
``ethos-u55-128 (estimated)`` of the findings table, its anomalies say "On ethos-u55-128
(estimated), ...", and it is never ranked against a measured device under one name.
"""

from __future__ import annotations

import pandas as pd

from suite.results.schema import MEASURED


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
