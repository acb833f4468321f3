"""Validated shape of a sweep YAML file (pydantic, unknown keys forbidden).

A sweep is either one part (``op``, ``fixed``, ``axes``, ``zip``, ``where``) or a list of
``parts`` that inherit the top-level ``fixed``, ``dtypes`` and ``measure``. Axis values
are lists whose items are scalars or range objects, or a single range object:

* ``{range: [start, stop, step]}`` — inclusive arithmetic range;
* ``{logspace: [start, stop, num]}`` — ``num`` geometrically spaced values, rounded to
  integers when start and stop are integers, duplicates dropped;
* ``{pow2: [lo, hi]}`` — the powers of two from ``lo`` to ``hi``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from suite.agent.protocol import ProtocolSettings, RoundSettings

Scalar = bool | int | float | str


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

    def values(self) -> list[Any]:
        if self.range is not None:
            if len(self.range) not in (2, 3):
                raise ValueError("range takes [start, stop] or [start, stop, step]")
            start, stop = self.range[0], self.range[1]
            step = self.range[2] if len(self.range) == 3 else 1
            if step == 0:
                raise ValueError("range step must not be 0")
            integral = all(float(x).is_integer() for x in (start, stop, step))
            n = int(math.floor((stop - start) / step + 1e-9)) + 1
            vals = [start + i * step for i in range(max(n, 0))]
            return [int(v) for v in vals] if integral else [round(v, 12) for v in vals]
        if self.logspace is not None:
            if len(self.logspace) != 3 or self.logspace[0] <= 0 or self.logspace[1] <= 0 or self.logspace[2] < 1:
                raise ValueError("logspace takes [start > 0, stop > 0, num >= 1]")
            start, stop, num = self.logspace
            num = int(num)
            ratio = (stop / start) ** (1.0 / (num - 1)) if num > 1 else 1.0
            raw = [start * ratio**i for i in range(num)]
            if float(start).is_integer() and float(stop).is_integer():
                out: list[Any] = []
                for v in raw:
                    iv = int(round(v))
                    if iv not in out:
                        out.append(iv)
                return out
            return [round(v, 12) for v in raw]
        lo, hi = self.pow2  # type: ignore[misc]
        if lo < 1 or hi < lo:
            raise ValueError("pow2 takes [lo >= 1, hi >= lo]")
        out = []
        v = 1
        while v <= hi:
            if v >= lo:
                out.append(v)
            v *= 2
        return out


AxisItem = RangeSpec | Scalar
AxisValue = RangeSpec | list[AxisItem]


def _measure_model() -> type[BaseModel]:
    """The ``measure:`` block, generated from the protocol defaults (one source of truth)."""
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(ProtocolSettings):
        kind = int if isinstance(f.default, int) else float
        fields[f.name] = (kind | None, Field(default=None, ge=0))
    for f in dataclasses.fields(RoundSettings):
        kind = int if isinstance(f.default, int) else float
        fields[f.name] = (kind | None, Field(default=None, ge=1 if f.name == "rounds" else 0))
    fields["repeat"] = (Any, None)  # renamed to ``rounds``: a located error in load_sweep
    return create_model("MeasureOverrides", __config__=ConfigDict(extra="forbid"), **fields)


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

    name: str  # type: ignore[assignment]
    description: str = ""
    measure: MeasureOverrides | None = None  # type: ignore[valid-type]
    parts: list[PartSpec] | None = None
    seed: int | None = None
