"""Every threshold the detectors use, in one place (the report quotes them from here).

All relative quantities are fractions (0.05 = 5 %). "Beyond both CIs" always means the two
95 % confidence intervals of the medians do not overlap: ``|a - b| > h_a + h_b`` with ``h``
the half-width of each point's CI.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Thresholds:
    """Detector thresholds; pass a modified copy (``dataclasses.replace``) to tune them.

    Attributes
    ----------
    min_series_points : int
        Distinct axis values a series needs before any along-axis detector looks at it.
    step_min_rel : float
        A staircase step must raise latency by at least this fraction (and beyond both CIs).
    step_max_drift : float
        Each segment beside a step must be flat: its least-squares rise over its span is at
        most this fraction of the step height (rejects smooth ramps fitted by many segments).
    step_penalty : float
        Potts penalty per extra segment in CI half-widths, multiplied by ``log(n)`` of the series.
    period_min_coverage : float
        Steps are "regular with period P" when at least this fraction of the multiples of P
        between the first and last step carry a step.
    dip_min_rel : float
        Non-monotonic: the costlier point must be at least this fraction faster (beyond both CIs).
    dip_min_mac_ratio : float
        ... and have at least this many times the MACs of the other point.
    elasticity_low, elasticity_high : float
        Cost mismatch when d log(latency) / d log(MACs) is below / above these, with the
        95 % interval of the slope excluding the threshold.
    elasticity_min_mac_ratio : float
        MACs must span at least this ratio along the axis for a slope to mean anything.
    overhead_significant : float
        An activation/op/block adds "significant" latency at or above this fraction of the
        reference (conv alone, activation none); below it, or within CIs, it is "negligible".
    dtype_slower_min : float
        Lower precision is reported "slower" when its latency exceeds fp32's by this fraction
        (beyond both CIs).
    quant_rel_rmse : dict
        Per dtype, the output relative RMSE vs fp32 above which outputs "deviate".
    inversion_min_fraction : float
        Rank inversion reported when at least this fraction of comparable pairs flip order.
    inversion_min_pairs : int
        ... and at least this many pairs flip.
    inversion_min_mac_ratio : float
        Pairs compared against MACs order must differ in MACs by at least this ratio.
    efficiency_low : float
        Median attained throughput below this fraction of the roofline bound is "low".
    support_min_fraction : float
        Unsupported/fallback anomalies need at least this fraction of an op×dtype's points.
    """

    min_series_points: int = 4
    step_min_rel: float = 0.05
    step_max_drift: float = 0.3
    step_penalty: float = 2.0
    period_min_coverage: float = 0.75
    dip_min_rel: float = 0.05
    dip_min_mac_ratio: float = 1.1
    elasticity_low: float = 0.5
    elasticity_high: float = 1.5
    elasticity_min_mac_ratio: float = 2.0
    overhead_significant: float = 0.10
    dtype_slower_min: float = 0.05
    quant_rel_rmse: dict[str, float] = field(default_factory=lambda: {"fp16": 0.01, "int8": 0.10})
    inversion_min_fraction: float = 0.05
    inversion_min_pairs: int = 3
    inversion_min_mac_ratio: float = 1.1
    efficiency_low: float = 0.10
    support_min_fraction: float = 0.0

    def __post_init__(self) -> None:
        for name in ("step_min_rel", "step_max_drift", "step_penalty", "dip_min_rel", "overhead_significant",
                     "dtype_slower_min", "inversion_min_fraction", "efficiency_low", "support_min_fraction"):
            if getattr(self, name) < 0:
                raise ValueError(f"Thresholds.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.min_series_points < 3:
            raise ValueError(f"Thresholds.min_series_points must be >= 3, got {self.min_series_points!r}")
        if not 0 < self.elasticity_low < 1 < self.elasticity_high:
            raise ValueError(f"Thresholds.elasticity_low/high must satisfy 0 < low < 1 < high, got "
                             f"{self.elasticity_low!r}/{self.elasticity_high!r}")


DEFAULT_THRESHOLDS = Thresholds()
