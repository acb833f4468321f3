"""The analysis a report draws on, computed once: timed points, series, their models, pair summaries.

A report shows the same numbers in several places (the findings table, the publication tables,
the figures). Each of those entry points can prepare its own inputs from a measurement frame,
but on 100,000 measurements the series models alone take seconds, so :func:`prepare` builds them
once and every section of a report reads the one :class:`PreparedAnalysis`. The steps are those
of :func:`suite.analysis.detect_all` (series of three or more points, models on those long
enough, the device's point-to-point noise from them), so a report's tables and figures agree
with the anomalies it lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from suite.analysis.overhead import overhead_frame, overhead_summary
from suite.analysis.pairs import run_floors
from suite.analysis.precision import speedup_frame, speedup_summary
from suite.analysis.series import AxisSeries, all_axis_series, timed
from suite.analysis.steps import SeriesModel, analyse_series, device_point_noise, staircase_frame
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.analysis.timing import by_timing

#: Shortest series a figure draws (the detectors model those of ``min_series_points``).
MIN_FIGURE_POINTS = 3


@dataclass(frozen=True)
class PreparedAnalysis:
    """Inputs of a report's sections.

    ``frame``: the measurements with devices relabelled per timing kind (:func:`by_timing`);
    ``data``: one row per timed point (:func:`suite.analysis.series.timed`); ``series``: every
    series of :data:`MIN_FIGURE_POINTS` or more points along a numeric axis; ``models``: the
    staircase analysis of those long enough for it; ``point_noise``/``floors``: per device,
    the point-to-point scatter and the largest run noise floor; ``overhead``/``speedup``:
    :func:`overhead_summary` and :func:`speedup_summary` (with the floors); ``staircases``:
    :func:`staircase_frame` (one row per series with steps).
    """

    frame: pd.DataFrame
    data: pd.DataFrame
    series: list[AxisSeries]
    models: list[SeriesModel]
    point_noise: dict[str, float]
    floors: dict[str, float]
    overhead: pd.DataFrame
    speedup: pd.DataFrame
    staircases: pd.DataFrame


def prepare(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> PreparedAnalysis:
    """Everything a report's sections share, each computed once (see the module docstring)."""
    frame = by_timing(df)
    data = timed(frame, thresholds)
    series = all_axis_series(data, MIN_FIGURE_POINTS) if not data.empty else []
    models = analyse_series([s for s in series if len(s.x) >= thresholds.min_series_points], thresholds)
    noise = device_point_noise(models, thresholds)
    floors = run_floors(data)
    overhead = overhead_summary(overhead_frame(data, thresholds, point_noise=noise), thresholds, floors)
    speedup = speedup_summary(speedup_frame(data, thresholds, noise), thresholds, floors)
    return PreparedAnalysis(frame=frame, data=data, series=series, models=models, point_noise=noise, floors=floors,
                            overhead=overhead, speedup=speedup,
                            staircases=staircase_frame(data, thresholds, models=models))
