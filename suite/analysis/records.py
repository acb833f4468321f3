"""The ``Anomaly`` record every detector returns, and its table form (docs/architecture.md §7)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import pandas as pd

from suite.analysis.uncertainty import CONFIRMED, UNRESOLVED, VERDICTS

#: The study's seven findings (MLSys 2021, "To Bridge Neural Network Design and Real-World
#: Performance"), as hwbehave tests them. ``Anomaly.finding`` is one of these keys or "".
FINDINGS: dict[str, str] = {
    "F1": "Latency rises in steps (staircase) along channel-like axes",
    "F2": "Activation functions add significant latency on some devices",
    "F3": "Some operators/blocks cost far more than their MACs suggest",
    "F4": "MACs mispredict latency along an axis (e.g. kernel size)",
    "F5": "Lower precision (fp16/int8) speeds up unevenly, sometimes slows down",
    "F6": "Lower precision changes outputs beyond tolerance on some devices",
    "F7": "Operators or dtypes are unsupported or fall back off the accelerator",
}

#: Columns of the anomaly table, in the contract's order (docs/architecture.md §7; ``verdict`` since issue 10).
ANOMALY_COLUMNS: tuple[str, ...] = (
    "kind", "device", "sweep", "axis", "at", "magnitude", "finding", "message", "evidence_json", "verdict",
)


@dataclass(frozen=True)
class Anomaly:
    """One behaviour a person should know about, found by a detector.

    Parameters
    ----------
    kind : str
        Detector vocabulary, e.g. ``staircase``, ``non_monotonic``, ``cost_mismatch``.
    device, sweep : str
        Where it was seen; a cross-device rank inversion names both devices as ``"a|b"``.
    axis : str
        Parameter the effect runs along (``cout``, ``activation``, ``dtype``...), or "".
    at : str
        Where on the axis (``"16,32,48"``, ``"hard_swish"``, ``"int8"``), or "".
    magnitude : float
        Relative impact, a non-negative fraction (0.38 = 38 %); anomalies are ranked by it.
    finding : str
        ``"F1"`` … ``"F7"`` when the anomaly is one of the study's seven kinds, else "".
    message : str
        One plain sentence a person can act on.
    evidence_json : str
        JSON object with the numbers behind the message.
    verdict : str
        ``confirmed`` (the effect clears the noise at the family-wise level ``alpha``) or
        ``unresolved`` (it cannot be decided at this noise level: a third state beside yes and
        no; the message says so and ``evidence["confirm_jobs"]`` lists the jobs whose
        re-measurement would decide).
    """

    kind: str
    device: str
    sweep: str
    axis: str
    at: str
    magnitude: float
    finding: str
    message: str
    evidence_json: str = "{}"
    verdict: str = CONFIRMED

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"Anomaly.verdict {self.verdict!r} is not one of {', '.join(VERDICTS)}")
        for name in ("kind", "device", "sweep", "axis", "at", "finding", "message", "evidence_json"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ValueError(f"Anomaly.{name} must be a string, got {value!r}")
        if not self.kind:
            raise ValueError("Anomaly.kind must not be empty")
        if not self.message.strip():
            raise ValueError(f"Anomaly.message must not be empty (kind {self.kind!r})")
        if self.finding and self.finding not in FINDINGS:
            raise ValueError(f"Anomaly.finding {self.finding!r} is not one of {', '.join(FINDINGS)} or ''")
        if isinstance(self.magnitude, bool) or not isinstance(self.magnitude, (int, float)):
            raise ValueError(f"Anomaly.magnitude must be a number, got {self.magnitude!r}")
        if not math.isfinite(self.magnitude) or self.magnitude < 0:
            raise ValueError(f"Anomaly.magnitude must be finite and >= 0, got {self.magnitude!r}")
        try:
            parsed = json.loads(self.evidence_json)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Anomaly.evidence_json is not JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise ValueError(f"Anomaly.evidence_json must be a JSON object, got {self.evidence_json[:60]!r}")

    @property
    def evidence(self) -> dict:
        """The evidence as a dict."""
        return json.loads(self.evidence_json)

    @property
    def confirmed(self) -> bool:
        """Whether the verdict is ``confirmed``."""
        return self.verdict == CONFIRMED


def evidence_json(evidence: dict) -> str:
    """Serialise evidence: sorted keys, numpy scalars and non-finite floats made JSON-safe."""
    return json.dumps(_plain(evidence), sort_keys=True, allow_nan=False)


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float):
        return round(obj, 6) if math.isfinite(obj) else None
    return obj


def rank(anomalies: Iterable[Anomaly]) -> list[Anomaly]:
    """Confirmed before unresolved, each by magnitude (largest first); ties broken by finding,
    kind, device, sweep, axis, at."""
    return sorted(anomalies, key=lambda a: (a.verdict == UNRESOLVED, -a.magnitude, a.finding or "F9", a.kind,
                                            a.device, a.sweep, a.axis, a.at))


def anomalies_to_frame(anomalies: Iterable[Anomaly]) -> pd.DataFrame:
    """The anomaly table: exactly :data:`ANOMALY_COLUMNS`, one row per anomaly, in input order."""
    rows = [asdict(a) for a in anomalies]
    frame = pd.DataFrame(rows, columns=list(ANOMALY_COLUMNS))
    frame["magnitude"] = frame["magnitude"].astype(float)
    return frame
