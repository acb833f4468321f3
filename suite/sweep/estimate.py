"""How long measuring a sweep should take, from the protocol alone (an estimate, stated as one).

Per point and round the agent loads the model, runs it once, warms up until both
``warmup_runs`` and ``warmup_s`` are met and samples until both ``min_runs`` and ``min_s``
are met, each phase capped by ``max_s`` (docs/architecture.md §5). Latencies are not known
before measuring, so the estimate is a range:

* **at least**: inferences too fast to matter, each phase lasts its seconds minimum:
  ``points × rounds × (overhead + warmup_s + min_s)``;
* **at most**: inferences slow enough that both phases hit ``max_s``:
  ``points × rounds × (overhead + 2 · max_s)`` (a point that times out takes longer).

``overhead`` (:data:`POINT_OVERHEAD_S`) is the per-point cost of load, first inference and the
agent's bookkeeping seen on micro-models here; builds and transfers to a remote device are extra.
"""

from __future__ import annotations

from dataclasses import dataclass

from suite.agent.protocol import ProtocolSettings

#: Seconds per point for load, first inference and bookkeeping on a micro-model (local CPU).
POINT_OVERHEAD_S = 0.02


@dataclass(frozen=True)
class MeasuringEstimate:
    """Estimated seconds of measuring for ``jobs`` point-rounds: a lower and an upper bound."""

    jobs: int
    at_least_s: float
    at_most_s: float

    def __post_init__(self) -> None:
        if self.jobs < 0 or not 0 <= self.at_least_s <= self.at_most_s:
            raise ValueError(f"MeasuringEstimate needs jobs >= 0 and 0 <= at_least_s <= at_most_s, got {self}")

    def text(self) -> str:
        """One line for ``hwbehave plan``."""
        return (f"estimated measuring time: at least {_duration(self.at_least_s)}, at most about "
                f"{_duration(self.at_most_s)} if every inference is slow enough to hit max_s "
                f"({self.jobs} measurements incl. sentinels, confirmation budget included in the upper bound; an estimate from the protocol, not a measurement; "
                "builds and transfers come on top)")


def estimate_measuring(points: int, rounds: int, protocol: ProtocolSettings, *, sentinel_every: int = 0,
                       confirm_s: float = 0.0) -> MeasuringEstimate:
    """The :class:`MeasuringEstimate` of ``points`` points measured ``rounds`` times under ``protocol``.

    With ``sentinel_every`` > 0 each round also measures the sentinel at its start, after every
    ``sentinel_every`` points and at its end; ``confirm_s`` (the confirmation budget) can come on
    top of the upper bound.
    """
    sentinels = (2 + max(0, points - 1) // sentinel_every) if sentinel_every and points else 0
    jobs = (points + sentinels) * rounds
    warm = min(protocol.warmup_s, protocol.max_s)
    sample = min(protocol.min_s, protocol.max_s)
    return MeasuringEstimate(jobs=jobs, at_least_s=jobs * (POINT_OVERHEAD_S + warm + sample),
                             at_most_s=jobs * (POINT_OVERHEAD_S + 2 * protocol.max_s) + confirm_s)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
