"""Validated shape of a sweep YAML file (pydantic, unknown keys forbidden).

A sweep is either one part (``op``, ``fixed``, ``axes``, ``zip``, ``where``) or a list of
``parts`` that inherit the top-level ``fixed``, ``dtypes`` and ``measure``. Axis values
are lists whose items are scalars or range objects, or a single range object:

* ``{range: [start, stop, step]}`` — inclusive arithmetic range;
* ``{logspace: [start, stop, num]}`` — ``num`` geometrically spaced values, rounded to
  integers when start and stop are integers, duplicates dropped;
* ``{pow2: [lo, hi]}`` — the powers of two from ``lo`` to ``hi``;
* ``{adaptive: [lo, hi], step: s, coarse: k, budget_s: t}`` — an *adaptive* axis
  (:class:`AdaptiveSpec`): its values are the grid ``lo, lo + s, …, hi`` (as ``range``), of
  which a run measures ``k`` evenly spaced ones first and then bisects only where
  neighbouring points differ (:mod:`suite.sweep.adaptive`).

A generator refuses to produce more values than the sweep's point cap
(:data:`MAX_POINTS`, or the file's ``max_points``) *before* it makes any, so
``{range: [1, 1e12, 1]}`` is an error in microseconds, not a ``MemoryError``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from suite.agent.protocol import ProtocolSettings, RoundSettings
from suite.paths import MAX_SEED, SafeName

Scalar = bool | int | float | str

#: Default cap on the points of one sweep (every part, op and dtype, counted before ``where``
#: filters, since enumerating them is the cost). A sweep raises it with ``max_points: N``.
#: A 100k-point plan takes ~2 s (benchmarks/bench_core.py); 1M points ~20 s and ~1 GB.
MAX_POINTS = 1_000_000
#: Most rounds (``measure.rounds`` / ``--rounds``).
MAX_ROUNDS = 1000
#: Upper bounds of protocol overrides: counts of inferences and durations (a week).
MAX_RUNS = 10_000_000
MAX_SECONDS = 7 * 24 * 3600.0
#: Type and bounds of each round setting in ``measure:``.
ROUND_BOUNDS: dict[str, tuple[type, float, float]] = {"rounds": (int, 1, MAX_ROUNDS), "sentinel_every": (int, 0, MAX_RUNS),
                                                      "confirm_s": (float, 0, MAX_SECONDS)}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class RangeSpec(_Strict):
    """One generator of axis values; exactly one of its keys is set."""

    range: list[float] | None = None
    logspace: list[float] | None = None
    pow2: list[int] | None = None

    @model_validator(mode="after")
    def _one(self) -> RangeSpec:
        set_ = [k for k in ("range", "logspace", "pow2") if getattr(self, k) is not None]
        if len(set_) != 1:
            raise ValueError("an axis generator has exactly one of range, logspace, pow2")
        return self

    def count(self) -> int:
        """How many values :meth:`values` would produce, without producing them (``ValueError`` if invalid)."""
        if self.range is not None:
            if len(self.range) not in (2, 3):
                raise ValueError("range takes [start, stop] or [start, stop, step]")
            if not all(math.isfinite(x) for x in self.range):
                raise ValueError("range bounds and step must be finite numbers")
            start, stop = self.range[0], self.range[1]
            step = self.range[2] if len(self.range) == 3 else 1
            if step == 0:
                raise ValueError("range step must not be 0")
            n = math.floor((stop - start) / step + 1e-9) + 1
            return max(int(n), 0) if math.isfinite(n) else 2**63
        if self.logspace is not None:
            if (len(self.logspace) != 3 or not all(math.isfinite(x) for x in self.logspace)
                    or self.logspace[0] <= 0 or self.logspace[1] <= 0 or self.logspace[2] < 1):
                raise ValueError("logspace takes [start > 0, stop > 0, num >= 1], all finite")
            return int(self.logspace[2])
        if len(self.pow2 or ()) != 2:
            raise ValueError("pow2 takes [lo, hi]")
        lo, hi = self.pow2  # type: ignore[misc]
        if lo < 1 or hi < lo or hi >= 2**63:
            raise ValueError("pow2 takes [lo >= 1, hi >= lo], hi below 2**63")
        return max(0, (hi.bit_length() - 1) - (lo - 1).bit_length() + 1)  # k with lo <= 2**k <= hi

    def values(self, max_values: int = MAX_POINTS) -> list[Any]:
        """The values, in order; ``ValueError`` if invalid or more than ``max_values``."""
        n = self.count()
        if n > max_values:
            raise ValueError(f"generates {n:,} values, more than the {max_values:,} points that the sweep's cap "
                             "(max_points) leaves for it")
        if self.range is not None:
            start, stop = self.range[0], self.range[1]
            step = self.range[2] if len(self.range) == 3 else 1
            integral = all(float(x).is_integer() for x in (start, stop, step))
            vals = [start + i * step for i in range(n)]
            return [int(v) for v in vals] if integral else [round(v, 12) for v in vals]
        if self.logspace is not None:
            start, stop, num = self.logspace
            num = int(num)
            ratio = (stop / start) ** (1.0 / (num - 1)) if num > 1 else 1.0
            raw = [start * ratio**i for i in range(num)]
            if float(start).is_integer() and float(stop).is_integer():
                out: list[Any] = []
                seen: set[int] = set()
                for v in raw:
                    iv = int(round(v))
                    if iv not in seen:
                        seen.add(iv)
                        out.append(iv)
                return out
            return [round(v, 12) for v in raw]
        lo, hi = self.pow2  # type: ignore[misc]
        out = []
        v = 1
        while v <= hi:
            if v >= lo:
                out.append(v)
            v *= 2
        return out


#: Coarse grid points of an adaptive axis when ``coarse:`` is not given (both ends included).
DEFAULT_COARSE = 9


class AdaptiveSpec(_Strict):
    """An adaptive axis: the grid ``adaptive: [lo, hi]`` in units of ``step`` (default 1).

    ``coarse`` (3 or more, default :data:`DEFAULT_COARSE`) grid points are measured first,
    both ends included; ``budget_s`` bounds the seconds spent refining (default: no bound
    but the grid itself); ``min_rel`` is the smallest relative difference between neighbours
    worth refining (default: the detectors' smallest step or dip, below which they claim
    nothing; the run's noise floor when that is larger). The values are those of ``{range: [lo, hi, step]}``: a plain run
    of the same grid gives the same points, with the same ids.
    """

    adaptive: list[float]
    step: float = 1
    coarse: int = Field(default=DEFAULT_COARSE, ge=3, le=MAX_POINTS)
    budget_s: float | None = Field(default=None, ge=0, le=MAX_SECONDS, allow_inf_nan=False)
    min_rel: float | None = Field(default=None, ge=0, le=10, allow_inf_nan=False)

    @model_validator(mode="after")
    def _bounds(self) -> AdaptiveSpec:
        if len(self.adaptive) != 2 or not all(math.isfinite(x) for x in (*self.adaptive, self.step)):
            raise ValueError("adaptive takes [lo, hi], finite numbers")
        if not self.adaptive[0] < self.adaptive[1] or not self.step > 0:
            raise ValueError("adaptive takes [lo, hi] with lo < hi and a step above 0")
        return self

    def grid(self) -> RangeSpec:
        """The dense grid as a range generator."""
        return RangeSpec(range=[self.adaptive[0], self.adaptive[1], self.step])

    def values(self, max_values: int = MAX_POINTS) -> list[Any]:
        """The grid values, in order (see :meth:`RangeSpec.values`)."""
        return self.grid().values(max_values)


AxisItem = RangeSpec | Scalar
AxisValue = AdaptiveSpec | RangeSpec | list[AxisItem]


def _check_protocol(overrides: BaseModel) -> BaseModel:
    """The overrides merged over the protocol defaults must make a valid protocol (e.g. max_runs >= min_runs)."""
    protocol = {f.name for f in dataclasses.fields(ProtocolSettings)}
    given = {k: v for k, v in overrides.model_dump().items() if v is not None and k in protocol}
    try:
        ProtocolSettings.from_dict({**ProtocolSettings().to_dict(), **given})
    except ValueError as exc:
        raise ValueError(str(exc).replace("ProtocolSettings.", "")) from None
    return overrides


def _measure_model() -> type[BaseModel]:
    """The ``measure:`` block, generated from the protocol defaults (one source of truth).

    Bounds: counts 0 … :data:`MAX_RUNS` (``min_runs``/``max_runs`` at least 1), durations
    finite, 0 … :data:`MAX_SECONDS` (``timeout_s`` above 0), and the merged protocol valid; the
    round settings (:class:`~suite.agent.protocol.RoundSettings`): ``rounds`` 1 … :data:`MAX_ROUNDS`,
    ``sentinel_every`` 0 … :data:`MAX_RUNS`, ``confirm_s`` 0 … :data:`MAX_SECONDS`.
    """
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(ProtocolSettings):
        if isinstance(f.default, int):
            low = 1 if f.name in ("min_runs", "max_runs") else 0
            fields[f.name] = (int | None, Field(default=None, ge=low, le=MAX_RUNS))
        elif f.name == "timeout_s":
            fields[f.name] = (float | None, Field(default=None, gt=0, le=MAX_SECONDS, allow_inf_nan=False))
        else:
            fields[f.name] = (float | None, Field(default=None, ge=0, le=MAX_SECONDS, allow_inf_nan=False))
    for f in dataclasses.fields(RoundSettings):  # a new round setting needs its bounds here (KeyError)
        kind, least, most = ROUND_BOUNDS[f.name]
        fields[f.name] = (kind | None, Field(default=None, ge=least, le=most, allow_inf_nan=False if kind is float
                                             else None))
    fields["repeat"] = (Any, None)  # renamed to ``rounds``: a located error in load_sweep
    return create_model("MeasureOverrides", __config__=ConfigDict(extra="forbid"),
                        __validators__={"_protocol": model_validator(mode="after")(_check_protocol)},  # type: ignore[dict-item]
                        **fields)


MeasureOverrides = _measure_model()


class PartSpec(_Strict):
    """One cartesian product of axes (a sweep, or one part of a multi-part sweep)."""

    name: str | None = None
    op: str | list[str] | None = None
    fixed: dict[str, Scalar] = Field(default_factory=dict)
    axes: dict[str, AxisValue] = Field(default_factory=dict)
    zip: list[list[str]] = Field(default_factory=list)
    where: str | list[str] = Field(default_factory=list)
    dtypes: list[str] | None = None


class SweepSpec(PartSpec):
    """The top level of a sweep file."""

    name: SafeName  # type: ignore[assignment]  # becomes part of the run directory's name
    description: str = ""
    measure: MeasureOverrides | None = None  # type: ignore[valid-type]
    parts: list[PartSpec] | None = None
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    max_points: int | None = Field(default=None, ge=1)  # raises MAX_POINTS for this sweep
