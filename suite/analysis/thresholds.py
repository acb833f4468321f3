"""Every threshold the detectors use, in one place (the report quotes them from here).

All relative quantities are fractions (0.05 = 5 %). Uncertainty is the honest one of
:mod:`suite.analysis.uncertainty`: the between-round standard error of each headline
(``sigma``), the point-to-point scatter a series shows (``tau``) and the run's noise floor.
Every claim is tested at a family-wise level (``alpha``: Bonferroni over the candidates a
detector looked at) and must be at least as large as both its size threshold and the run's
noise floor; what reaches only ``alpha_unresolved``, or is large enough but cannot be
separated from the noise, is reported ``unresolved``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Thresholds:
    """Detector thresholds; pass a modified copy (``dataclasses.replace``) to tune them.

    Attributes
    ----------
    alpha : float
        Family-wise error rate of a confirmed claim (one-sided; Bonferroni over the candidates
        a detector tested in one series or group: periods, step positions, point pairs,
        configurations).
    alpha_unresolved : float
        A candidate that reaches this family-wise level, but not ``alpha``, is ``unresolved``.
    prior_dof : float
        Degrees of freedom given to the run's pooled between-round variance when moderating one
        point's own between-round variance (its R rounds carry R - 1).
    assumed_round_noise_rel : float
        Between-round relative standard deviation assumed for a run measured in one round
        (there is no between-round information; 2 % is a quiet day on a shared host).
    assumed_point_noise_rel : float
        Point-to-point systematic relative standard deviation assumed where a device has no
        series to estimate it from (comparisons of different configurations: F2, F3, F5, ranks).
    min_series_points : int
        Distinct axis values a series needs before any along-axis detector looks at it.
    step_min_rel : float
        A staircase step must raise latency by at least this fraction (and beat the smooth
        alternative by more than the noise, see :mod:`suite.analysis.steps`).
    step_max_drift : float
        Plateaus must be flat: the smooth trend fitted beside the steps may rise over one
        plateau by at most this fraction of the step height (rejects ramps fitted by steps).
    step_penalty : float
        Potts penalty per extra segment in standard deviations, times ``log(n)`` of the series
        (proposes irregular step positions; the test decides).
    period_min_coverage : float
        Steps are "regular with period P" when at least this fraction of the multiples of P
        between the first and last step carry a step.
    dip_min_rel : float
        Non-monotonic: the costlier point must be at least this fraction faster (and beyond
        the noise of both points, point-to-point scatter included).
    dip_min_mac_ratio : float
        ... and have at least this many times the MACs of the other point.
    elasticity_low, elasticity_high : float
        Cost mismatch when d log(latency) / d log(MACs) is below / above these, with the
        95 % interval of the slope excluding the threshold.
    elasticity_min_mac_ratio : float
        MACs must span at least this ratio along the axis for a slope to mean anything.
    overhead_significant : float
        An activation/op/block adds "significant" latency at or above this fraction of the
        reference (conv alone, activation none), beyond the noise of both points; below it
        it is "negligible".
    dtype_slower_min : float
        Lower precision is reported "slower" when its latency exceeds fp32's by this fraction
        (beyond the noise of both points).
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

    alpha: float = 0.01
    alpha_unresolved: float = 0.2
    prior_dof: float = 4.0
    assumed_round_noise_rel: float = 0.02
    assumed_point_noise_rel: float = 0.02
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
        if not 0 < self.alpha <= self.alpha_unresolved < 1:
            raise ValueError(f"Thresholds.alpha/alpha_unresolved must satisfy 0 < alpha <= alpha_unresolved < 1, "
                             f"got {self.alpha!r}/{self.alpha_unresolved!r}")
        for name in ("prior_dof", "assumed_round_noise_rel", "assumed_point_noise_rel", "step_min_rel", "step_max_drift", "step_penalty", "dip_min_rel", "overhead_significant",
                     "dtype_slower_min", "inversion_min_fraction", "efficiency_low", "support_min_fraction"):
            if getattr(self, name) < 0:
                raise ValueError(f"Thresholds.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.min_series_points < 3:
            raise ValueError(f"Thresholds.min_series_points must be >= 3, got {self.min_series_points!r}")
        if not 0 < self.elasticity_low < 1 < self.elasticity_high:
            raise ValueError(f"Thresholds.elasticity_low/high must satisfy 0 < low < 1 < high, got "
                             f"{self.elasticity_low!r}/{self.elasticity_high!r}")


DEFAULT_THRESHOLDS = Thresholds()
