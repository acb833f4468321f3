"""The operator catalogue: what an op/block/model is, its parameters and its analytic cost.

Each entry is an :class:`OpSpec` registered in :data:`OPS` by decorator. An op knows
(1) its parameters with defaults and constraints, (2) its analytic cost for a dtype and
(3) how to add itself to an ONNX graph (:class:`suite.models.graph.GraphBuilder`).
Nothing here touches a device or the disk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from suite.errors import ConfigError
from suite.registry import Registry

#: Bytes per element for each dtype; int8 models keep int8 activations (QDQ/full-integer).
DTYPE_BYTES: dict[str, int] = {"fp32": 4, "fp16": 2, "int8": 1}
DTYPES: tuple[str, ...] = tuple(DTYPE_BYTES)

#: Activations available standalone (op ``activation``) and fused after conv-like ops.
#: Values: approximate FLOPs per element, the cost model's convention (stated in README).
ACTIVATION_FLOPS: dict[str, int] = {
    "none": 0,
    "relu": 1,
    "relu6": 2,
    "leaky_relu": 2,
    "prelu": 2,
    "sigmoid": 4,
    "tanh": 5,
    "hard_sigmoid": 3,
    "hard_swish": 4,
    "swish": 5,
    "silu": 5,
    "gelu": 8,
    "mish": 9,
}
ACTIVATIONS: tuple[str, ...] = tuple(ACTIVATION_FLOPS)


class ParamError(ConfigError):
    """A parameter value an op rejects; the sweep loader adds file and line."""

    def __init__(self, field: str, value: Any, expected: str, reason: str = "invalid parameter value") -> None:
        super().__init__(reason, field=field, value=value, expected=expected)


@dataclass(frozen=True)
class Param:
    """One parameter of an op: a name, a type (int/float/str/bool), a default and limits."""

    name: str
    kind: type
    default: Any = None
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    doc: str = ""
    #: A file path: in a sweep file a relative value resolves against the sweep file's folder.
    is_path: ClassVar[bool] = False

    @property
    def required(self) -> bool:
        return self.default is None

    def coerce(self, value: Any) -> Any:
        """Check and normalise one value (``ParamError`` on a wrong type, choice or range)."""
        kind = self.kind
        if type(value) is kind:  # fast path: the common, already-right type
            if self.choices is None and (self.minimum is None or value >= self.minimum):  # type: ignore[operator]
                return value
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise ParamError(self.name, value, "an integer", "wrong type")
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParamError(self.name, value, "a number", "wrong type")
            value = float(value)
        elif kind is bool:
            if not isinstance(value, bool):
                raise ParamError(self.name, value, "true or false", "wrong type")
        elif kind is str:
            if not isinstance(value, str):
                raise ParamError(self.name, value, "a string", "wrong type")
        if self.choices is not None and value not in self.choices:
            raise ParamError(self.name, value, "one of " + ", ".join(map(str, self.choices)),
                             f"unknown {self.name}")
        if self.minimum is not None and value < self.minimum:
            expected = "a positive integer" if (kind is int and self.minimum == 1) else f">= {self.minimum}"
            raise ParamError(self.name, value, expected, "out of range")
        return value


@dataclass(frozen=True)
class Cost:
    """Analytic cost of one inference (batch included).

    ``macs`` counts multiply-accumulates of conv/matmul-like work; ``flops`` counts
    2 per MAC plus elementwise work (activations, adds, norms) by the catalogue's
    per-element conventions. Byte counts are dtype-aware. ``macs``/``flops`` are ``None``
    only where they cannot be computed (a user's model file with unknown shapes), never 0.
    """

    macs: int | None
    flops: int | None
    param_count: int
    bytes_in: int
    bytes_out: int
    bytes_weights: int

    @property
    def bytes_total(self) -> int:
        return self.bytes_in + self.bytes_out + self.bytes_weights


class ParamColumns:
    """The normalised parameters of many points of one op as columns (the planner's batches).

    A parameter that varies is a numpy array with one entry per point (``int64``, ``float64``,
    ``bool`` or strings), one that does not is its plain value. ``as_float`` turns integers into
    ``float64``: the planner evaluates a cost formula twice, in integers (exact) and in floats,
    because numpy integers wrap silently where Python's grow; a float result near 2**63 sends
    the points to the per-point path, which raises the located overflow error.
    """

    def __init__(self, constants: dict[str, Any], varying: dict[str, tuple[list[Any], np.ndarray]],
                 *, as_float: bool = False) -> None:
        # varying: name -> (its distinct values, each point's index into them)
        self._constants, self._varying, self.as_float = constants, varying, as_float

    def _column(self, values: list[Any], index: np.ndarray) -> np.ndarray:
        column = np.asarray(values)
        if self.as_float and column.dtype.kind in "iu":
            column = column.astype(np.float64)
        return column[index]

    def __getitem__(self, name: str) -> Any:
        if name in self._varying:
            return self._column(*self._varying[name])
        value = self._constants[name]
        return float(value) if self.as_float and type(value) is int else value

    def map(self, name: str, fn: Callable[[Any], Any]) -> Any:
        """``fn`` of each point's value of ``name``, called once per distinct value."""
        if name in self._varying:
            values, index = self._varying[name]
            return self._column([fn(v) for v in values], index)
        value = fn(self._constants[name])
        return float(value) if self.as_float and type(value) is int else value


class OpSpec:
    """Base class of catalogue entries. Subclasses set ``name``, ``kind``, ``params``.

    Subclasses implement :meth:`check` (cross-parameter constraints), :meth:`input_shapes`,
    :meth:`cost_parts` and :meth:`build`.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "layer"  # layer | activation | block | model (a network) | file (a user's model)
    params: ClassVar[tuple[Param, ...]] = ()
    doc: ClassVar[str] = ""

    # -- parameters -----------------------------------------------------------------
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def normalize(self, given: dict[str, Any]) -> dict[str, Any]:
        """Fill defaults, coerce types and check constraints; ``ParamError`` names the field."""
        known = self._known()
        for key in given:
            if key not in known:
                raise ParamError(key, given[key], f"a parameter of {self.name}: " + ", ".join(known),
                                 f"unknown parameter for op {self.name}")
        out: dict[str, Any] = {}
        for p in self.params:
            name = p.name
            if name in given:
                out[name] = p.coerce(given[name])
            elif p.default is None:
                raise ParamError(name, None, f"a value for {name} (op {self.name})", "missing parameter")
            else:
                out[name] = p.default
        self.check(out)
        return out

    def _known(self) -> dict[str, Param]:
        known = self.__dict__.get("_known_cache")
        if known is None:
            known = {p.name: p for p in self.params}
            self.__dict__["_known_cache"] = known
        return known

    def check(self, p: dict[str, Any]) -> None:
        """Cross-parameter constraints (e.g. kernel fits the input). Raise ``ParamError``."""

    def identity(self, p: dict[str, Any]) -> dict[str, Any]:
        """The parameters the point id hashes (all of them; the ``model`` op hashes the file's content)."""
        return p

    def describe_params(self, p: dict[str, Any]) -> dict[str, Any]:
        """The parameters a short label shows (those equal to their defaults are hidden later)."""
        return p

    def native_dtype(self, p: dict[str, Any]) -> str | None:
        """The dtype a point has when the sweep names none (``None``: the sweep default, fp32)."""
        return None

    # -- shapes and cost --------------------------------------------------------------
    def input_shapes(self, p: dict[str, Any]) -> list[tuple[int, ...]]:
        """Shapes of the model inputs (NCHW for images, N×L×D for sequences)."""
        raise NotImplementedError

    def cost_parts(self, p: dict[str, Any]) -> tuple[int, int, int, int]:
        """``(macs, extra_flops, param_count, output_elements)`` for one inference.

        ``extra_flops`` is the elementwise work on top of ``2 * macs``.
        """
        raise NotImplementedError

    def cost(self, p: dict[str, Any], dtype: str) -> Cost:
        """Dtype-aware :class:`Cost` from :meth:`cost_parts` and the input shapes."""
        macs, extra, n_params, out_elems = self.cost_parts(p)
        nbytes = DTYPE_BYTES[dtype]
        in_elems = sum(_prod(s) for s in self.input_shapes(p))
        return Cost(
            macs=int(macs),
            flops=int(2 * macs + extra),
            param_count=int(n_params),
            bytes_in=int(in_elems * nbytes),
            bytes_out=int(out_elems * nbytes),
            bytes_weights=int(n_params * nbytes),
        )

    def cost_columns(self, c: ParamColumns) -> tuple[Any, Any, Any, Any, Any] | None:
        """:meth:`cost_parts` and the input elements over columns of points:
        ``(macs, extra_flops, param_count, output_elements, input_elements)``, arrays or scalars.

        ``None`` (the default): the op has no closed form over columns and the planner calls
        :meth:`cost` point by point. An op that declares one must give the same numbers as
        :meth:`cost` (tests/sweep/test_plan_columns.py holds them together).
        """
        return None

    def check_columns(self, c: ParamColumns) -> Any:
        """:meth:`check` over columns: a boolean per point (True: accepted), or ``None`` when the op
        does not declare one (an op with its own :meth:`check` then plans point by point)."""
        return True if type(self).check is OpSpec.check else None

    # -- graph ----------------------------------------------------------------------
    def build(self, g: Any, inputs: list[str], p: dict[str, Any]) -> list[str]:
        """Add this op to graph builder ``g`` reading ``inputs``; return output names."""
        raise NotImplementedError


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


OPS: Registry[OpSpec] = Registry("operator", entry_point_group="hwbehave.ops")


def register_op(cls: type[OpSpec]) -> type[OpSpec]:
    """Class decorator: instantiate and register an :class:`OpSpec` under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    OPS.add(cls.name, cls())
    return cls


def get_op(name: str) -> OpSpec:
    """Look up an op by name, loading the built-in catalogue first."""
    load_catalogue()
    return OPS.get(name, field="op")


_LOADED = False


def load_catalogue() -> None:
    """Import the built-in op modules (they register themselves)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from suite.ops import activations, blocks, layers, model, networks  # noqa: F401
