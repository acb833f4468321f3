"""The measurement protocol (docs/architecture.md §5) and the agent's wire protocol.

Protocol, in order, for each artifact:

1. load the model (timed: ``load_ms``);
2. bind inputs once, outside every timed region;
3. first inference (timed: ``first_ms``);
4. warm-up until both ``warmup_runs`` runs and ``warmup_s`` seconds are done
   (stopped early only if warm-up alone exceeds ``max_s``);
5. calibrate: if one inference takes less than ``loop_threshold_us``, each sample
   becomes a loop of ``k`` inferences divided by ``k`` (``k`` recorded as ``loop_k``);
6. samples until both ``min_runs`` and ``min_s`` are met, capped by ``max_runs``
   or ``max_s`` (whichever comes first). All raw samples are kept.

Statistics are computed on the host from the raw samples (suite.results.statistics).

Around that per-artifact protocol, the host runs a sweep in rounds (:class:`RoundSettings`):
``rounds`` interleaved, re-shuffled rounds, each a fresh agent session; a sentinel point
measured at the start, every ``sentinel_every`` points and at the end of each round (the
run's noise floor); then up to ``confirm_s`` seconds of extra rounds for the points whose
rounds disagree (adaptive confirmation).

These defaults are the single source of truth; the README tables are generated from them.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields

#: Version of the JSON-lines protocol between host and agent; a mismatch is refused.
PROTOCOL_VERSION = 1
AGENT_VERSION = "0.1.0"


@dataclass(frozen=True)
class ProtocolSettings:
    """How long and how often to measure one artifact (all durations in seconds)."""

    warmup_runs: int = 5
    warmup_s: float = 0.1
    min_runs: int = 20
    min_s: float = 0.3
    max_runs: int = 5000
    max_s: float = 3.0
    loop_threshold_us: float = 100.0
    timeout_s: float = 120.0

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError("ProtocolSettings.%s must be a non-negative number, got %r" % (f.name, value))
        if self.min_runs < 1 or self.max_runs < 1:
            raise ValueError("ProtocolSettings.min_runs and max_runs must be >= 1")
        if self.max_runs < self.min_runs:
            raise ValueError("ProtocolSettings.max_runs (%d) < min_runs (%d)" % (self.max_runs, self.min_runs))
        if self.timeout_s <= 0:
            raise ValueError("ProtocolSettings.timeout_s must be > 0")

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError("unknown protocol settings: %s" % ", ".join(sorted(unknown)))
        return cls(**data)


@dataclass(frozen=True)
class RoundSettings:
    """How a sweep is replicated (host side): rounds, the sentinel, the confirmation budget."""

    rounds: int = 3
    sentinel_every: int = 10
    confirm_s: float = 30.0

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError("RoundSettings.%s must be a non-negative number, got %r" % (f.name, value))
        if self.rounds < 1 or int(self.rounds) != self.rounds:
            raise ValueError("RoundSettings.rounds must be an integer >= 1, got %r" % (self.rounds,))
        if int(self.sentinel_every) != self.sentinel_every:
            raise ValueError("RoundSettings.sentinel_every must be an integer (0: no sentinel), got %r"
                             % (self.sentinel_every,))

    def to_dict(self):
        return asdict(self)


def run_protocol(infer, settings, clock=time.perf_counter):
    """Warm up, calibrate and sample ``infer`` (a no-argument callable) per the protocol.

    ``clock`` returns seconds; tests pass a fake one. Returns a dict with
    ``samples_ms`` (one value per sample, already divided by ``loop_k``), ``loop_k``,
    ``warmup_n``, ``warmup_elapsed_s`` (the warm-up's seconds) and ``sampling_s`` (the
    sampling phase's): with ``load_ms`` and ``first_ms``, the time the protocol accounts for,
    so whatever a batch costs beyond them is the harness's overhead (benchmarks/bench_overhead.py).
    """
    # warm-up: both conditions must be met; singles are kept for calibration
    singles = []
    start = clock()
    while True:
        t0 = clock()
        infer()
        t1 = clock()
        singles.append(t1 - t0)
        elapsed = t1 - start
        if len(singles) >= settings.warmup_runs and elapsed >= settings.warmup_s:
            break
        if elapsed >= settings.max_s:
            break
    warmup_elapsed_s = elapsed
    tail = sorted(singles[-5:])
    typical_s = tail[len(tail) // 2]
    threshold_s = settings.loop_threshold_us * 1e-6
    loop_k = 1
    if 0 < typical_s < threshold_s:
        loop_k = min(10000, int(math.ceil(threshold_s / typical_s)))
    elif typical_s <= 0:  # a clock too coarse to see one call: loop at the cap
        loop_k = 10000

    samples = []
    rng = range(loop_k)
    start = clock()
    while True:
        if loop_k == 1:
            t0 = clock()
            infer()
            t1 = clock()
        else:
            t0 = clock()
            for _ in rng:
                infer()
            t1 = clock()
        samples.append((t1 - t0) * 1000.0 / loop_k)
        elapsed = t1 - start
        n = len(samples)
        if n >= settings.max_runs or elapsed >= settings.max_s:
            break
        if n >= settings.min_runs and elapsed >= settings.min_s:
            break
    return {"samples_ms": samples, "loop_k": loop_k, "warmup_n": len(singles), "warmup_elapsed_s": warmup_elapsed_s,
            "sampling_s": clock() - start}
