"""The ``Point`` record: one configuration to measure, with a stable content id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from suite.ops.catalogue import DTYPE_BYTES, Cost

#: Bump when the meaning of a point's canonical content changes (ids change with it).
POINT_ID_VERSION = 1


def canonical_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces; the input of every content hash."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _scalar_json(value: Any) -> str:
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float and value == value and value not in (float("inf"), float("-inf")):
        return repr(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


#: ``"name":value`` texts of parameter values already seen (a sweep repeats every axis value
#: across the points of its product); strings, integers and booleans only: they map to one text
#: each (a float would not: ``0.0 == -0.0``). Bounded: past the limit texts are not kept.
_FRAGMENTS: dict[tuple[str, type, Any], str] = {}
_FRAGMENTS_MAX = 1 << 16


def param_text(key: str, value: Any) -> str:
    """``"name":value`` as it appears in :func:`config_text` (the canonical JSON of one parameter)."""
    return json.dumps(key) + ":" + _scalar_json(value)


def config_text_parts(op: str) -> tuple[str, str]:
    """What :func:`config_text` puts before and after the parameters' texts (joined by commas)."""
    return '{"op":' + json.dumps(op) + ',"params":{', '},"v":' + str(POINT_ID_VERSION) + "}"


def _fragment(key: str, value: Any) -> str:
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        memo = (key, kind, value)
        text = _FRAGMENTS.get(memo)
        if text is None:
            text = param_text(key, value)
            if len(_FRAGMENTS) < _FRAGMENTS_MAX:
                _FRAGMENTS[memo] = text
        return text
    return param_text(key, value)


def config_text(op: str, params: dict[str, Any]) -> str:
    """Canonical text of a configuration (op and every parameter, defaults included).

    Equal to ``canonical_json({"op", "params", "v"})``; written out by hand because
    planning hashes every point and ``json.dumps`` dominated a 100k-point plan (each
    ``"name":value`` text is made once per value, :func:`_fragment`).
    """
    head, tail = config_text_parts(op)
    return head + ",".join([_fragment(k, params[k]) for k in sorted(params)]) + tail


def point_id(op: str, params: dict[str, Any], dtype: str, text: str | None = None) -> str:
    """Stable id of a configuration at a dtype: the same content gives the same id anywhere."""
    return point_id_of_text(text or config_text(op, params), dtype)


def config_id(op: str, params: dict[str, Any], text: str | None = None) -> str:
    """Id of the configuration without its dtype: joins fp32/fp16/int8 variants of one point."""
    return config_id_of_text(text or config_text(op, params))


def point_id_of_text(text: str, dtype: str) -> str:
    """:func:`point_id` of a configuration's :func:`config_text`."""
    return hashlib.sha256(f"{text}|{dtype}".encode()).hexdigest()[:16]


def config_id_of_text(text: str) -> str:
    """:func:`config_id` of a configuration's :func:`config_text`."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: Parameters a label names even at their defaults when asked to (``shape=True``): they fix the
#: shape, so a reader needs them (``kernel=3``, ``resolution=56``).
SHAPE_PARAMS: frozenset[str] = frozenset({"cin", "cout", "c1", "c2", "channels", "kernel", "resolution", "width",
                                          "rows", "cols", "depth", "seq_len", "heads"})


def changed_params(op: str, params: dict[str, Any], *, shape: bool = False) -> str:
    """``cin=32 cout=64``: the parameters that differ from the op's defaults (and with ``shape``
    the :data:`SHAPE_PARAMS` the point has, whatever their value)."""
    from suite.ops.catalogue import get_op

    try:
        spec = get_op(op)
        defaults = {p.name: p.default for p in spec.params}
        params = spec.describe_params(params)
    except Exception:  # noqa: BLE001 - an op from a plug-in that is gone: show everything
        defaults = {}
    return " ".join(f"{k}={v}" for k, v in params.items()
                    if defaults.get(k) != v or (shape and k in SHAPE_PARAMS and v is not None))


def describe(op: str, params: dict[str, Any], dtype: str | None = None, *, shape: bool = False) -> str:
    """``conv2d cin=32 cout=64 fp32``: the op, parameters that differ from its defaults (with
    ``shape`` also the shape parameters at their defaults), dtype."""
    return " ".join(x for x in (op, changed_params(op, params, shape=shape), dtype) if x)


@dataclass(frozen=True)
class Point:
    """One configuration of one op at one dtype, with its analytic cost.

    ``params`` holds every parameter of the op, defaults filled in; the id hashes them,
    so ``stride: 1`` written out or left to its default gives the same id.
    """

    id: str
    config_id: str
    op: str
    dtype: str
    params: dict[str, Any]
    macs: int | None
    flops: int | None
    param_count: int
    bytes_in: int
    bytes_out: int
    bytes_weights: int

    def __post_init__(self) -> None:
        if self.dtype not in DTYPE_BYTES:
            raise ValueError(f"Point.dtype {self.dtype!r} is not one of {', '.join(DTYPE_BYTES)}")
        if (self.macs is not None and self.macs < 0) or (self.flops is not None and self.flops < 0):
            raise ValueError(f"Point {self.id}: negative cost (macs={self.macs}, flops={self.flops})")

    @property
    def bytes_total(self) -> int:
        return self.bytes_in + self.bytes_out + self.bytes_weights

    @property
    def seed(self) -> int:
        """Seed of this point's weights and inputs (from its config id: all dtypes share it)."""
        return int(self.config_id, 16) & 0x7FFF_FFFF_FFFF_FFFF

    @property
    def params_json(self) -> str:
        return canonical_json(self.params)

    def label(self) -> str:
        """Short human label, e.g. ``conv2d cin=32 cout=64 fp32`` (parameters left at defaults hidden)."""
        return describe(self.op, self.params, self.dtype)

    @classmethod
    def trusted(cls, id: str, config_id: str, op: str, dtype: str, params: dict[str, Any], macs: int | None,
                flops: int | None, param_count: int, bytes_in: int, bytes_out: int, bytes_weights: int) -> Point:
        """A point whose fields the caller has already checked (the planner's column path: a
        catalogue dtype, costs checked non-negative): the same record without the frozen
        dataclass's ``__init__`` checks and ``__post_init__``."""
        point = object.__new__(cls)
        set_field = object.__setattr__  # field by field, in order: the instances keep sharing one key table
        set_field(point, "id", id)
        set_field(point, "config_id", config_id)
        set_field(point, "op", op)
        set_field(point, "dtype", dtype)
        set_field(point, "params", params)
        set_field(point, "macs", macs)
        set_field(point, "flops", flops)
        set_field(point, "param_count", param_count)
        set_field(point, "bytes_in", bytes_in)
        set_field(point, "bytes_out", bytes_out)
        set_field(point, "bytes_weights", bytes_weights)
        return point

    @classmethod
    def make(cls, op: str, params: dict[str, Any], dtype: str, cost: Cost, text: str | None = None,
             cid: str | None = None) -> Point:
        """Build a point from normalised params and its cost (``text``/``cid`` reuse work)."""
        text = text or config_text(op, params)
        return cls(
            id=point_id(op, params, dtype, text),
            config_id=cid or config_id(op, params, text),
            op=op,
            dtype=dtype,
            params=params,
            macs=cost.macs,
            flops=cost.flops,
            param_count=cost.param_count,
            bytes_in=cost.bytes_in,
            bytes_out=cost.bytes_out,
            bytes_weights=cost.bytes_weights,
        )
