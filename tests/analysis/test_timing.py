"""Timing kinds stay apart in analysis and reports: a device's estimated rows are a device of their own."""

from __future__ import annotations

import pandas as pd

from suite.analysis import detect_all
from suite.analysis.synthetic import FrameBuilder, add_axis_series, staircase_latency
from suite.analysis.timing import by_timing, timing_label
from suite.report import findings_table, standard_tables

COUTS = list(range(8, 73, 4))


def frame() -> pd.DataFrame:
    """One measured device without steps and the same device name carrying a planted staircase as estimates."""
    b = FrameBuilder(seed=1, noise_rel=0.002)
    flat = [0.1 + 0.001 * c for c in COUTS]
    add_axis_series(b, "npu", "f1", "cout", COUTS, flat)
    add_axis_series(b, "npu", "f1", "cout", COUTS, staircase_latency(COUTS, 16, 0.4, 0.05))
    df = b.frame()
    half = len(COUTS)
    df["timing"] = ["measured"] * half + ["estimated"] * half
    return df


def test_labels_and_idempotence() -> None:
    assert timing_label("npu", "measured") == "npu" and timing_label("npu", None) == "npu"
    assert timing_label("npu", "estimated") == "npu (estimated)"
    assert timing_label("npu (estimated)", "estimated") == "npu (estimated)"
    df = frame()
    once = by_timing(df)
    assert sorted(once["device"].unique()) == ["npu", "npu (estimated)"]
    pd.testing.assert_frame_equal(by_timing(once), once)
    assert by_timing(df.drop(columns="timing"))["device"].eq("npu").all()  # no kind recorded: as measured


def test_findings_and_tables_never_pool_the_kinds() -> None:
    df = frame()
    anomalies = detect_all(df)
    steps = [a for a in anomalies if a.finding == "F1"]
    assert steps and {a.device for a in steps} == {"npu (estimated)"}
    assert "On npu (estimated)," in steps[0].message
    table = findings_table(df, anomalies)
    assert list(table.columns) == ["title", "npu", "npu (estimated)"]
    assert table.loc["F1", "npu (estimated)"].startswith("yes") and not table.loc["F1", "npu"].startswith("yes")
    periods = next(t for t in standard_tables(df) if "period" in t.caption.lower() or "step" in t.name)
    assert "npu (estimated)" in periods.frame.columns


def test_timed_keeps_the_kinds_apart_by_itself_and_leaves_emulated_out() -> None:
    from suite.analysis.series import timed

    df = frame()  # not relabelled by the caller
    assert sorted(timed(df)["device"].unique()) == ["npu", "npu (estimated)"]
    df.loc[df["timing"] == "estimated", "timing"] = "emulated"
    assert sorted(timed(df)["device"].unique()) == ["npu"]  # emulated timings are no latency
