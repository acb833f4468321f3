"""``detect_all``: run every detector over a measurement frame and rank what they find."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TypeVar

import pandas as pd

from suite.analysis.elasticity import find_cost_mismatch
from suite.analysis.monotonic import find_non_monotonic
from suite.analysis.overhead import REFERENCE_OP, find_overheads
from suite.analysis.precision import find_dtype_slowdowns, find_quant_errors
from suite.analysis.ranking import find_rank_inversions
from suite.analysis.records import Anomaly, rank
from suite.analysis.roofline import find_low_efficiency
from suite.analysis.series import all_axis_series, timed
from suite.analysis.steps import analyse_series, device_point_noise, find_staircases
from suite.analysis.support import find_support_issues
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.analysis.timing import by_timing

T = TypeVar("T")

#: Detector names accepted by ``detect_all(only=...)``, in the order they run.
DETECTOR_NAMES: tuple[str, ...] = ("staircase", "non_monotonic", "cost_mismatch", "overhead", "dtype_speed",
                                   "quant_error", "support", "rank_inversion", "roofline")


def detect_all(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS, *,
               peaks: Mapping[str, Mapping[str, float]] | None = None, reference_op: str = REFERENCE_OP,
               only: tuple[str, ...] | list[str] | None = None,
               timings: dict[str, float] | None = None) -> list[Anomaly]:
    """Every anomaly in ``df``: confirmed ones first, each by magnitude (largest first), then
    the unresolved ones (``Anomaly.verdict``).

    Parameters
    ----------
    df : DataFrame
        Measurements (the columns of ``suite.results.schema``), any number of runs and devices.
    thresholds : Thresholds
        See :class:`suite.analysis.thresholds.Thresholds` for every threshold and its unit.
    peaks : mapping, optional
        device → ``{"gflops": ..., "gbps": ...}`` for the roofline; estimated when missing.
    reference_op : str
        The op blocks and other ops are compared with (F3).
    only : sequence of str, optional
        Names from :data:`DETECTOR_NAMES` to run (default: all).
    timings : dict, optional
        Receives the wall seconds of each stage: ``timed`` (the frame prepared), ``series``,
        ``models`` (their staircase analysis) and each detector run (``benchmarks/bench_analysis.py
        --stages``).
    """
    with _collector_paused():
        return _detect_all(df, thresholds, peaks, reference_op, only, timings)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the analysis, as it was before afterwards.

    The analysis makes hundreds of thousands of short-lived objects (series, fits, staircases)
    and few reference cycles; reference counting frees them, but the collector's full passes
    scan every live object again and again (16 % of ``detect_all`` on 1M measurements:
    ``benchmarks/bench_analysis.py``). A cycle left behind is collected after the analysis.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _detect_all(df: pd.DataFrame, thresholds: Thresholds, peaks: Mapping[str, Mapping[str, float]] | None,
                reference_op: str, only: tuple[str, ...] | list[str] | None,
                timings: dict[str, float] | None) -> list[Anomaly]:
    """:func:`detect_all` with the collector paused."""
    clock = _Stages(timings)
    th = thresholds
    full = df = by_timing(df)  # a timing kind other than measured is analysed as a device of its own
    df = clock("timed", lambda: timed(df, th))  # prepared once; every detector but support and quant_error uses it
    wanted = set(only or DETECTOR_NAMES)
    # every series is analysed once: its staircase, its scatter (non-monotonic reuses it) and,
    # per device, the point-to-point noise that comparisons of different configurations carry
    needs_series = wanted & {"staircase", "non_monotonic", "cost_mismatch", "overhead", "dtype_speed",
                             "rank_inversion"}
    series = clock("series", lambda: all_axis_series(df, 3)) if needs_series else []
    models = clock("models", lambda: analyse_series([s for s in series if len(s.x) >= th.min_series_points], th)) \
        if needs_series else []
    noise = device_point_noise(models, th)
    detectors: dict[str, Callable[[], list[Anomaly]]] = {
        "staircase": lambda: find_staircases(df, th, models=models),
        "non_monotonic": lambda: find_non_monotonic(df, th, models=models),
        "cost_mismatch": lambda: find_cost_mismatch(df, th, series=series),
        "overhead": lambda: find_overheads(df, th, reference_op, point_noise=noise),
        "dtype_speed": lambda: find_dtype_slowdowns(df, th, point_noise=noise),
        "quant_error": lambda: find_quant_errors(full, th),
        "support": lambda: find_support_issues(full, th.support_min_fraction),
        "rank_inversion": lambda: find_rank_inversions(df, th, point_noise=noise),
        "roofline": lambda: find_low_efficiency(df, th, peaks),
    }
    selected = list(DETECTOR_NAMES) if only is None else list(only)
    unknown = [n for n in selected if n not in detectors]
    if unknown:
        raise ValueError(f"unknown detector(s) {', '.join(unknown)}; expected some of {', '.join(DETECTOR_NAMES)}")
    found: list[Anomaly] = []
    for name in selected:
        found.extend(clock(name, detectors[name]))
    return rank(found)


class _Stages:
    """Runs a stage of :func:`detect_all` and, when asked for timings, notes its wall seconds."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings

    def __call__(self, name: str, work: Callable[[], T]) -> T:
        if self.timings is None:
            return work()
        t0 = time.perf_counter()
        got = work()
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0
        return got
