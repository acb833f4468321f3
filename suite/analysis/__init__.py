"""Analyse stage: pure functions over measurement DataFrames that return ``Anomaly`` records.

``detect_all(df)`` runs every detector; each detector module also exposes a ``*_frame``
function with the per-point numbers behind its anomalies (used by the report's tables).
"""

from __future__ import annotations

from suite.analysis.detect import DETECTOR_NAMES, detect_all
from suite.analysis.records import ANOMALY_COLUMNS, FINDINGS, Anomaly, anomalies_to_frame
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds

__all__ = ["ANOMALY_COLUMNS", "DEFAULT_THRESHOLDS", "DETECTOR_NAMES", "FINDINGS", "Anomaly", "Thresholds",
           "anomalies_to_frame", "detect_all"]
