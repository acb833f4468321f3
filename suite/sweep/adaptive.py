"""Adaptive sweeps (issue 14): measure a coarse grid, then refine only where neighbours differ.

An axis is adaptive when the sweep writes it as ``{adaptive: [lo, hi], step: s, coarse: k,
budget_s: t}`` (:class:`~suite.sweep.schema.AdaptiveSpec`) or when ``hwbehave run --adaptive
[AXIS]`` turns a plain numeric axis adaptive. The sweep still expands to its dense grid (same
points, same ids as a plain run); this module only chooses which of them to measure:

1. **Series.** Points that share everything but the adaptive axis (op, dtype, the other
   parameters) form one series, ordered along the axis; its grid units are its neighbouring
   values. Points without the axis, and series of fewer than 3 points, are measured as usual.
2. **Coarse grid.** ``coarse`` evenly spaced indices of each series, both ends included.
3. **Refinement.** Between two neighbouring *measured* points ``i < j`` with ``j - i > 1`` that
   :func:`differ` (a *gap*), a point inside is measured next (:func:`probes`): the middle index
   ``(i + j) // 2``, or, once the steps located so far follow a period (:func:`period_of`), both
   sides of each step that period predicts in the gap. Repeated, this locates every change
   between measured neighbours to one grid unit: a step (two plateaus), a dip (a point that
   differs from both sides) or where a point starts to fail. An interval whose ends agree is not
   refined: a staircase's plateau costs its two ends, whatever its width. "Differ" is by more
   than :func:`threshold` (the run's noise floor or the smallest effect worth finding).

The pure decisions live here (no I/O, no results or analysis imports: the plan layer sits below
both); the pipeline (:mod:`suite.pipeline`) measures each batch of picks and asks again.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from suite import status as st
from suite.errors import ConfigError
from suite.sweep.expand import Sweep
from suite.sweep.point import Point
from suite.sweep.schema import DEFAULT_COARSE, AdaptiveSpec, SweepSpec
from suite.yamlfile import load_yaml

#: A series needs this many points for refinement to mean anything (else all are measured).
MIN_SERIES_POINTS = 3


@dataclass(frozen=True)
class AdaptivePlan:
    """Which axis a run refines, how coarse it starts, its refinement budget (seconds, ``None``:
    no bound but the grid) and the smallest relative difference it refines (``min_rel``,
    ``None``: the caller's default, see :func:`threshold`). ``source`` says where it was set."""

    axis: str
    coarse: int = DEFAULT_COARSE
    budget_s: float | None = None
    min_rel: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if self.coarse < 3:
            raise ValueError(f"AdaptivePlan.coarse must be at least 3, got {self.coarse}")
        if self.budget_s is not None and not (math.isfinite(self.budget_s) and self.budget_s >= 0):
            raise ValueError(f"AdaptivePlan.budget_s must be a finite number of seconds >= 0, got {self.budget_s}")

    def to_dict(self) -> dict[str, Any]:
        """Manifest form (``adaptive`` key; also what a rerun must share to resume)."""
        return {"axis": self.axis, "coarse": self.coarse, "budget_s": self.budget_s, "min_rel": self.min_rel}


@dataclass(frozen=True)
class Series:
    """Points that differ only in the adaptive axis, in axis order."""

    key: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Estimate:
    """What a measured point says: its headline and between-round interval (ms) when timed,
    else its failure status."""

    status: str
    median_ms: float | None = None
    ci_low_ms: float | None = None
    ci_high_ms: float | None = None

    @property
    def timed(self) -> bool:
        return self.status in st.TIMED and self.median_ms is not None and self.median_ms > 0


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def series_of(points: Iterable[Point], axis: str) -> tuple[list[Series], list[Point]]:
    """The series along ``axis`` (see the module docstring) and the points outside every series."""
    groups: dict[str, list[Point]] = {}
    others: list[Point] = []
    for p in points:
        value = p.params.get(axis)
        if not _numeric(value):
            others.append(p)
            continue
        rest = {k: v for k, v in p.params.items() if k != axis}
        key = json.dumps([p.op, p.dtype, rest], sort_keys=True, default=str)
        groups.setdefault(key, []).append(p)
    out = []
    for key, pts in groups.items():
        if len(pts) < MIN_SERIES_POINTS:
            others.extend(pts)
        else:
            out.append(Series(key, tuple(sorted(pts, key=lambda p: float(p.params[axis])))))
    return out, others


def coarse_indices(n: int, coarse: int) -> list[int]:
    """``coarse`` evenly spaced indices of ``0 … n - 1``, both ends included (all when ``n <= coarse``)."""
    if n <= coarse:
        return list(range(n))
    return sorted({round(i * (n - 1) / (coarse - 1)) for i in range(coarse)})


def coarse_points(points: Sequence[Point], plan: AdaptivePlan) -> list[Point]:
    """The points an adaptive run measures first: every point outside a series, and each
    series' coarse grid (in the sweep's order)."""
    series, others = series_of(points, plan.axis)
    chosen = {p.id for p in others}
    for s in series:
        chosen.update(s.points[i].id for i in coarse_indices(len(s.points), plan.coarse))
    return [p for p in points if p.id in chosen]


def threshold(floor_rel: float | None, min_rel: float) -> float | None:
    """The relative difference between neighbours worth refining: the run's noise floor or
    ``min_rel`` (the smallest effect the detectors claim), whichever is larger; ``min_rel``
    alone without a floor; ``None`` (compare intervals, :func:`differ`) without either."""
    floor = floor_rel if floor_rel is not None and math.isfinite(floor_rel) else None
    if floor is None:
        return min_rel if min_rel > 0 else None
    return max(floor, min_rel)


def differ(a: Estimate, b: Estimate, floor_rel: float | None) -> bool:
    """Whether two neighbouring points differ enough to look between them.

    Both timed: their headlines differ by more than the run's noise floor, ``|b/a - 1| >
    floor_rel`` in either direction (the floor is the smallest relative difference between two
    headlines of the run's rounds resolved at 95 %); without a floor (``None``/NaN: no sentinel),
    their between-round intervals do not overlap. One timed and one failed, or two different
    failures: they differ (where a point starts to fail is a finding too). Two equal failures:
    they do not.
    """
    if a.timed and b.timed:
        lo, hi = sorted((float(a.median_ms), float(b.median_ms)))  # type: ignore[arg-type]
        if floor_rel is not None and math.isfinite(floor_rel):
            return hi / lo - 1.0 > floor_rel
        a_lo, a_hi = a.ci_low_ms or a.median_ms, a.ci_high_ms or a.median_ms
        b_lo, b_hi = b.ci_low_ms or b.median_ms, b.ci_high_ms or b.median_ms
        return bool(a_hi < b_lo or b_hi < a_lo)  # type: ignore[operator]
    if a.timed != b.timed:
        return True
    return a.status != b.status


@dataclass(frozen=True)
class Gap:
    """An interval ``[lo, hi]`` (series indices) whose measured ends differ, and its middle."""

    lo: int
    hi: int

    @property
    def mid(self) -> int:
        return (self.lo + self.hi) // 2

    @property
    def width(self) -> int:
        return self.hi - self.lo


def gaps(measured: Mapping[int, Estimate], floor_rel: float | None) -> list[Gap]:
    """Intervals between neighbouring measured indices, more than one unit wide, whose ends
    :func:`differ`: each one's middle is worth measuring next."""
    idx = sorted(measured)
    return [Gap(i, j) for i, j in zip(idx, idx[1:]) if j - i > 1 and differ(measured[i], measured[j], floor_rel)]


def changes(measured: Mapping[int, Estimate], floor_rel: float | None) -> list[tuple[int, int]]:
    """Neighbouring measured indices that differ, ``(i, j)``; ``j == i + 1`` is a change located
    to one grid unit."""
    idx = sorted(measured)
    return [(i, j) for i, j in zip(idx, idx[1:]) if differ(measured[i], measured[j], floor_rel)]


#: Before a period is known, only this many gaps of a series (the lowest along the axis, where
#: steps are largest relative to the latency) are bisected, so that a few steps get located early.
EXPLORE_GAPS = 3
#: Located steps a period must explain before it is used to guess the others.
MIN_PERIOD_STEPS = 3


def period_of(values: Sequence[float], measured: Mapping[int, Estimate], floor_rel: float | None
              ) -> tuple[float, float] | None:
    """``(period, offset)``: a regular lattice ``offset + k * period`` of the steps located so far
    (the lower sides of changes located to one grid unit), or ``None``.

    Candidates are the differences between consecutive located steps, at least two grid units
    (a step not located yet makes a multiple). A lattice scores its *hits* (located steps on
    it) minus its *misses* (lattice values inside an interval whose measured ends agree: a
    plateau, so no step there; this is what rules out a divisor of the true period). The best
    score wins, the larger period among equals; it is used when it hits at least
    :data:`MIN_PERIOD_STEPS` steps and two thirds of all located ones.
    """
    idx = sorted(measured)
    pairs = list(zip(idx, idx[1:]))
    located = [values[i] for i, j in pairs if j == i + 1 and differ(measured[i], measured[j], floor_rel)]
    if len(located) < MIN_PERIOD_STEPS:
        return None
    flat = [(values[i], values[j]) for i, j in pairs if not differ(measured[i], measured[j], floor_rel)]
    unit = min((b - a for a, b in zip(values, values[1:])), default=1.0)
    best: tuple[int, float, float, int] | None = None
    for d in sorted({b - a for a, b in zip(located, located[1:]) if b - a >= 2 * unit - 1e-9}):
        for x0 in located:
            hits = sum(1 for x in located if abs((x - x0) / d - round((x - x0) / d)) < 1e-9)
            misses = 0
            for lo, hi in flat:
                first = x0 + math.ceil((lo - x0) / d - 1e-9) * d
                misses += max(0, math.ceil((hi - first) / d - 1e-9)) if first < hi else 0
            score = hits - misses
            if best is None or (score, d) > (best[0], best[1]):
                best = (score, d, x0 % d, hits)
    if best is None or best[3] < MIN_PERIOD_STEPS or best[3] < 2 * len(located) / 3 or best[0] <= 0:
        return None
    return best[1], best[2]


def probes(values: Sequence[float], measured: Mapping[int, Estimate], floor_rel: float | None) -> list[tuple[int, int]]:
    """Indices to measure next in one series, each with the width of the gap it sits in.

    * Where the steps located so far follow a period (:func:`period_of`): every gap, at both
      sides of each step the period predicts inside it (a right guess locates the step at once
      and costs nothing for the plateau beside it; a wrong one still splits the gap), or at its
      middle when the period predicts no step in it.
    * Before that (fewer than :data:`MIN_PERIOD_STEPS` steps located): the middle of the
      :data:`EXPLORE_GAPS` lowest gaps only, to locate a few steps first.
    * Steps located but no period: the middle of every gap (plain bisection).
    """
    found = gaps(measured, floor_rel)
    if not found:
        return []
    lattice = period_of(values, measured, floor_rel)
    located = sum(1 for i, j in changes(measured, floor_rel) if j == i + 1)
    if lattice is None and located < MIN_PERIOD_STEPS:
        found = found[:EXPLORE_GAPS]
    index = {float(v): i for i, v in enumerate(values)}
    out: dict[int, int] = {}
    for gap in found:
        guessed: list[int] = []
        if lattice is not None:
            period, offset = lattice
            lo, hi = values[gap.lo], values[gap.hi]
            a = offset + math.ceil((lo - offset) / period - 1e-9) * period
            while a < hi:
                i = index.get(float(a))
                if i is not None and gap.lo <= i < gap.hi:
                    guessed.extend(k for k in (i, i + 1) if k not in measured)
                a += period
        for k in guessed or [gap.mid]:
            out.setdefault(k, gap.width)
    return sorted(out.items())


def refine(series: Sequence[Series], estimates: Mapping[str, Estimate], floor_rel: float | None,
           axis: str) -> list[Point]:
    """The next batch of points over all ``series`` (:func:`probes`), widest gap first (the
    coarsest uncertainty goes first when a budget cuts the batch), then in series order.

    ``estimates`` maps point ids to what was measured; points without one are not measured yet.
    ``axis`` (the adaptive axis) gives the axis values for period guesses.
    """
    picks: list[tuple[int, int, int, Point]] = []
    for si, s in enumerate(series):
        measured = {i: estimates[p.id] for i, p in enumerate(s.points) if p.id in estimates}
        values = [float(p.params[axis]) for p in s.points]
        picks.extend((-width, si, k, s.points[k]) for k, width in probes(values, measured, floor_rel))
    picks.sort(key=lambda t: t[:3])
    return [p for *_, p in picks]


def plan_from_sweep(sweep: Sweep, flag: str | None = None, *, budget_s: float | None = None) -> AdaptivePlan | None:
    """The run's adaptive plan: the sweep's ``adaptive:`` axis, or the axis ``--adaptive [AXIS]``
    names (``flag``: ``None`` without the option, ``""`` for the sweep's only numeric axis);
    ``None`` for a plain run. ``budget_s`` (``--adaptive-s``) wins over the file's ``budget_s``.

    A second adaptive axis, or a flag naming an axis that is not a plain numeric one of the
    sweep, is a located :class:`~suite.errors.ConfigError`.
    """
    doc = load_yaml(sweep.file, text=sweep.text)
    spec = SweepSpec.model_validate(doc.data)
    parts = [(p, ("parts", i)) for i, p in enumerate(spec.parts)] if spec.parts else [(spec, ())]
    found: dict[str, tuple[AdaptiveSpec, tuple[Any, ...]]] = {}
    numeric: dict[str, None] = {}
    for part, base in parts:
        for name, value in part.axes.items():
            path = base + ("axes", name)
            if isinstance(value, AdaptiveSpec):
                if found and name not in found:
                    first = next(iter(found))
                    raise doc.error(f"a second adaptive axis (the sweep already refines {first})", path,
                                    field=".".join(map(str, path)), value=name,
                                    expected=f"one adaptive axis per sweep ({first})")
                found.setdefault(name, (value, path))
            elif flag is not None and name not in numeric and any(_numeric(p.params.get(name)) for p in sweep.points):
                numeric.setdefault(name, None)  # only --adaptive needs them: a plain run does not scan its points
    if found:
        name, (value, path) = next(iter(found.items()))
        if flag and flag != name:
            raise ConfigError(f"--adaptive {flag}: the sweep already makes {name} adaptive", field="--adaptive",
                              value=flag, expected=f"--adaptive or --adaptive {name}")
        return AdaptivePlan(axis=name, coarse=value.coarse, budget_s=budget_s if budget_s is not None
                            else value.budget_s, min_rel=value.min_rel,
                            source=f"{sweep.file}:{doc.line_of(path) or '?'}")
    if flag is None:
        return None
    usable = [n for n in numeric if series_of(sweep.points, n)[0]]
    if not flag:
        if len(usable) != 1:
            raise ConfigError("--adaptive needs the axis to refine: the sweep has "
                              + (f"{len(usable)} numeric axes" if usable else "no numeric axis with 3+ values"),
                              file=sweep.file, field="--adaptive", value=None,
                              expected=("--adaptive " + " or --adaptive ".join(usable)) if usable
                              else "a sweep with a numeric axis of 3 or more values")
        flag = usable[0]
    if flag not in usable:
        raise ConfigError(f"--adaptive {flag}: not a numeric axis of the sweep with 3 or more values",
                          file=sweep.file, field="--adaptive", value=flag,
                          expected="one of " + (", ".join(usable) or "(none)"))
    return AdaptivePlan(axis=flag, budget_s=budget_s, source="--adaptive")
