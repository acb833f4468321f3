"""A plan's points in batches: columns of costs and indices, ``Point`` records made on demand.

Planning a million points point by point costs ~11 µs each in Python (the cost model, two
SHA-256 ids, the frozen ``Point``). Counting a plan and adding up its cost needs none of that
per point: a part of a sweep is a product of axes, so its costs are formulas over columns
(:meth:`~suite.ops.catalogue.OpSpec.cost_columns`, evaluated with numpy over a chunk of the
product), its ``where`` filters depend on a few axes each (evaluated once per combination of
the axes a filter reads, in Python, with the filter's own semantics) and its ids are needed
only to drop duplicates and to make a ``Point``.

:class:`ColumnBatch` holds one chunk so; :class:`PointBatch` holds points made one by one by
the general path (ops without a column form, and any chunk where something is wrong: a check
that fails, a filter that raises, a cost past 64 bits; the general path raises the located
error exactly as before). Both answer the same questions.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from suite.ops.catalogue import DTYPE_BYTES, Cost, OpSpec, ParamColumns
from suite.sweep.point import Point, config_id, config_id_of_text, point_id_of_text

#: Points per chunk of a part's product: bounds the memory of a batch (~100 bytes a point).
CHUNK_POINTS = 1 << 16
#: Points per batch of the point-by-point path (~1 KB a ``Point``).
POINT_BATCH = 1 << 12
#: A cost the float evaluation puts above this is left to the exact per-point path.
_FLOAT_LIMIT = float(2**62)


class Batch(Protocol):
    """Points of a plan in stream order; what planning asks of them."""

    distinct: bool  # True: no two points of the batch, or of its part, share an id

    def __len__(self) -> int: ...
    def ids(self) -> list[str]: ...
    def keep(self, mask: Sequence[bool]) -> Batch: ...
    def point(self, i: int) -> Point: ...
    def points(self) -> Iterator[Point]: ...
    def totals(self) -> tuple[int, int, int]: ...
    def counts(self) -> tuple[dict[str, int], dict[str, int]]: ...


class PointBatch:
    """Points made one by one (the general path)."""

    distinct = False

    def __init__(self, points: list[Point]) -> None:
        self._points = points

    def __len__(self) -> int:
        return len(self._points)

    def ids(self) -> list[str]:
        """Each point's id, in order."""
        return [p.id for p in self._points]

    def keep(self, mask: Sequence[bool]) -> PointBatch:
        """The points where ``mask`` is true."""
        return PointBatch([p for p, k in zip(self._points, mask) if k])

    def point(self, i: int) -> Point:
        """The ``i``-th point."""
        return self._points[i]

    def points(self) -> Iterator[Point]:
        """Every point, in order."""
        return iter(self._points)

    def totals(self) -> tuple[int, int, int]:
        """``(macs, flops, points with unknown MACs)``: the known costs added up."""
        macs = sum(p.macs for p in self._points if p.macs is not None)
        flops = sum(p.flops for p in self._points if p.flops is not None)
        return macs, flops, sum(p.macs is None for p in self._points)

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Points per op and per dtype, in first-seen order."""
        by_op: dict[str, int] = {}
        by_dtype: dict[str, int] = {}
        for p in self._points:
            by_op[p.op] = by_op.get(p.op, 0) + 1
            by_dtype[p.dtype] = by_dtype.get(p.dtype, 0) + 1
        return by_op, by_dtype


class ColumnBatch:
    """A chunk of one part's product as columns: each row a (combination, op, dtype)."""

    def __init__(self, plan: ColumnPlan, combo: np.ndarray, op_k: np.ndarray, dt_j: np.ndarray,
                 costs: dict[str, np.ndarray]) -> None:
        self.plan, self.combo, self.op_k, self.dt_j, self.costs = plan, combo, op_k, dt_j, costs
        self.distinct = plan.distinct

    def __len__(self) -> int:
        return len(self.combo)

    def _rows(self) -> Iterator[tuple[int, int, tuple[int, ...]]]:
        index = np.unravel_index(self.combo, self.plan.shape) if self.plan.shape else ()
        combos = zip(*(i.tolist() for i in index)) if index else itertools.repeat((), len(self.combo))
        return zip(self.op_k.tolist(), self.dt_j.tolist(), combos)

    def ids(self) -> list[str]:
        """Each row's point id, from texts joined out of per-value fragments (no ``Point`` made)."""
        preps, dtypes = self.plan.preps, self.plan.dtypes
        return [point_id_of_text(preps[k].text(combo), dtypes[j]) for k, j, combo in self._rows()]

    def keep(self, mask: Sequence[bool]) -> ColumnBatch:
        """The rows where ``mask`` is true."""
        sel = np.asarray(mask, dtype=bool)
        return ColumnBatch(self.plan, self.combo[sel], self.op_k[sel], self.dt_j[sel],
                           {k: v[sel] for k, v in self.costs.items()})

    def point(self, i: int) -> Point:
        """The ``Point`` of row ``i``."""
        combo = tuple(int(x) for x in np.unravel_index(int(self.combo[i]), self.plan.shape)) if self.plan.shape else ()
        return self._make(int(self.op_k[i]), int(self.dt_j[i]), combo, i)

    def _make(self, k: int, j: int, combo: tuple[int, ...], i: int) -> Point:
        op, prep = self.plan.ops[k], self.plan.preps[k]
        params, text = prep.point(combo)
        c = self.costs
        cost = Cost(macs=int(c["macs"][i]), flops=int(c["flops"][i]), param_count=int(c["param_count"][i]),
                    bytes_in=int(c["bytes_in"][i]), bytes_out=int(c["bytes_out"][i]),
                    bytes_weights=int(c["bytes_weights"][i]))
        return Point.make(op.name, params, self.plan.dtypes[j], cost, text=text, cid=config_id(op.name, params, text))

    def points(self) -> Iterator[Point]:
        """Every row's ``Point``, in order (the record made from checked columns: a dtype of the
        catalogue, costs the chunk checked non-negative and within 64 bits)."""
        names = ("macs", "flops", "param_count", "bytes_in", "bytes_out", "bytes_weights")
        costs = zip(*(self.costs[n].tolist() for n in names))
        ops, preps, dtypes, trusted = self.plan.ops, self.plan.preps, self.plan.dtypes, Point.trusted
        for (k, j, combo), cost in zip(self._rows(), costs):
            params, text = preps[k].point(combo)
            dtype = dtypes[j]
            yield trusted(point_id_of_text(text, dtype), config_id_of_text(text), ops[k].name, dtype, params, *cost)

    def totals(self) -> tuple[int, int, int]:
        """``(macs, flops, 0)``: every cost of a column batch is known."""
        return int(self.costs["macs"].sum()), int(self.costs["flops"].sum()), 0

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Points per op and per dtype, in first-seen order."""
        def first_seen(codes: np.ndarray, names: list[str]) -> dict[str, int]:
            values, first, n = np.unique(codes, return_index=True, return_counts=True)
            out: dict[str, int] = {}
            for i in np.argsort(first, kind="stable").tolist():
                name = names[int(values[i])]
                out[name] = out.get(name, 0) + int(n[i])
            return out

        return first_seen(self.op_k, [op.name for op in self.plan.ops]), first_seen(self.dt_j, self.plan.dtypes)


def declares_columns(op: OpSpec) -> bool:
    """Whether ``op``'s own class gives its cost (and check) over columns: a subclass that
    changes the cost or the check without restating the column form plans point by point."""
    mro = type(op).__mro__

    def owner(name: str) -> int:
        return next(i for i, cls in enumerate(mro) if name in cls.__dict__)

    if mro[owner("cost_columns")] is OpSpec or owner("cost_columns") > min(
            owner(n) for n in ("cost", "cost_parts", "input_shapes")):
        return False
    own_check = type(op).check is not OpSpec.check
    return not own_check or owner("check_columns") <= owner("check")


class ColumnPlan:
    """One part's points over columns: the product's shape, each op's prepared values, the
    ``where`` tables. :meth:`make` says ``None`` where the part needs the general path."""

    def __init__(self, ops: list[OpSpec], preps: list[Any], dtypes: list[str], given_dtypes: bool,
                 shape: tuple[int, ...], columns: list[tuple[dict[str, Any], dict[str, tuple[int, list[Any]]]]],
                 config_tables: list[list[tuple[tuple[int, ...], np.ndarray]]],
                 dtype_tables: list[list[list[tuple[tuple[int, ...], np.ndarray]]]], distinct: bool) -> None:
        self.ops, self.preps, self.dtypes, self.given_dtypes, self.shape = ops, preps, dtypes, given_dtypes, shape
        self.columns, self.config_tables, self.dtype_tables, self.distinct = columns, config_tables, dtype_tables, distinct
        self.nbytes = np.array([DTYPE_BYTES[dt] for dt in dtypes], dtype=np.int64)

    @classmethod
    def make(cls, ops: list[OpSpec], prepared: dict[str, Any], dtypes: list[str] | None, fixed: dict[str, Any],
             groups: list[list[str]], dims: list[list[tuple[Any, ...]]], defaults: dict[str, dict[str, Any]],
             config_wheres: list[tuple[Any, frozenset[str]]], dtype_wheres: list[tuple[Any, frozenset[str]]]
             ) -> ColumnPlan | None:
        """The column plan of a part, or ``None`` (an op without a column form, a model file)."""
        for op in ops:
            if prepared[op.name] is None or not declares_columns(op):
                return None
            if dtypes is None and type(op).native_dtype is not OpSpec.native_dtype:
                return None
        dts = list(dtypes) if dtypes else ["fp32"]
        shape = tuple(len(d) for d in dims)
        dim_of = {n: d for d, group in enumerate(groups) for n in group}
        preps = [prepared[op.name] for op in ops]
        columns = []
        for prep in preps:
            constants = {k: v for k, v in prep.base.items() if k not in dim_of}
            varying = {n: (d, [pairs[q][1] for pairs in prep.values[d]])
                       for d, group in enumerate(groups) for q, n in enumerate(group)}
            columns.append((constants, varying))
        distinct = len({op.name for op in ops}) == len(ops) and len(set(dts)) == len(dts) and all(
            len({tuple(t.values()) for t in texts}) == len(texts) for prep in preps for texts in prep.texts)

        def table(pred: Any, names: frozenset[str], op: OpSpec, dtype: str | None) -> tuple[tuple[int, ...], np.ndarray]:
            read = tuple(sorted({dim_of[n] for n in names if n in dim_of}))
            out = np.empty(math.prod(shape[d] for d in read), dtype=np.int8)
            scope = {**defaults[op.name], **fixed}
            for s, sub in enumerate(itertools.product(*(range(shape[d]) for d in read))):
                for d, i in zip(read, sub):
                    scope.update(zip(groups[d], dims[d][i]))
                scope["op"] = op.name
                if dtype is not None:
                    scope["dtype"] = dtype
                try:  # a filter that raises is left to the general path, which locates the error
                    out[s] = 1 if pred(scope) else 0
                except Exception:  # noqa: BLE001
                    out[s] = 2
            return read, out

        config_tables = [[table(pred, names, op, None) for pred, names in config_wheres] for op in ops]
        dtype_tables = [[[table(pred, names, op, dt) for pred, names in dtype_wheres] for dt in dts] for op in ops]
        return cls(ops, preps, dts, dtypes is not None, shape, columns, config_tables, dtype_tables, distinct)

    def _param_columns(self, k: int, index: tuple[np.ndarray, ...], as_float: bool) -> ParamColumns:
        constants, varying = self.columns[k]
        return ParamColumns(constants, {n: (values, index[d]) for n, (d, values) in varying.items()}, as_float=as_float)

    def chunk(self, start: int, stop: int) -> ColumnBatch | None:
        """Rows of combinations ``start`` to ``stop`` (flat, in product order), or ``None`` where
        something is wrong in the chunk (the general path then raises the located error)."""
        flat = np.arange(start, stop, dtype=np.int64)
        m = len(flat)
        index = np.unravel_index(flat, self.shape) if self.shape else ()
        n_ops, n_dts = len(self.ops), len(self.dtypes)
        mask = np.zeros((m, n_ops, n_dts), dtype=bool)
        cost = {name: np.zeros((m, n_ops), dtype=np.int64)
                for name in ("macs", "flops", "param_count", "in_elems", "out_elems")}

        def passed(tables: list[tuple[tuple[int, ...], np.ndarray]], alive: np.ndarray) -> np.ndarray | None:
            for read, values in tables:
                sub = np.ravel_multi_index(tuple(index[d] for d in read), tuple(self.shape[d] for d in read)) \
                    if read else np.zeros(m, dtype=np.int64)
                v = values[sub]
                if (alive & (v == 2)).any():
                    return None
                alive = alive & (v == 1)
            return alive

        for k, op in enumerate(self.ops):
            alive = passed(self.config_tables[k], np.ones(m, dtype=bool))
            if alive is None:
                return None
            maybe = [passed(self.dtype_tables[k][j], alive) for j in range(n_dts)]
            kept = [x for x in maybe if x is not None]
            if len(kept) < n_dts:
                return None
            reach = alive if not self.given_dtypes else np.logical_or.reduce([*kept, np.zeros(m, bool)])
            try:  # numpy over the columns; anything odd goes to the exact per-point path
                ok = np.broadcast_to(op.check_columns(self._param_columns(k, index, False)), (m,))
                if (reach & ~ok).any():
                    return None
                with np.errstate(over="ignore"):  # int64 may wrap: the float64 twin below catches it
                    exact = op.cost_columns(self._param_columns(k, index, False))
                approx = op.cost_columns(self._param_columns(k, index, True))
            except Exception:  # noqa: BLE001
                return None
            if exact is None or approx is None:
                return None
            macs, extra, n_params, out_elems, in_elems = (np.broadcast_to(np.asarray(x), (m,)) for x in exact)
            fmacs, fextra, fparams, fout, fin = (np.broadcast_to(np.asarray(x, dtype=np.float64), (m,)) for x in approx)
            top = float(self.nbytes.max())
            worst = np.maximum(np.maximum(2 * fmacs + fextra, fparams * top), (fin + fout + fparams) * top)
            if (reach & ((worst > _FLOAT_LIMIT) | (fmacs < 0) | (2 * fmacs + fextra < 0))).any():
                return None
            cost["macs"][:, k] = macs
            cost["flops"][:, k] = 2 * macs + extra
            cost["param_count"][:, k] = n_params
            cost["in_elems"][:, k] = in_elems
            cost["out_elems"][:, k] = out_elems
            for j in range(n_dts):
                mask[:, k, j] = kept[j]
        ci, ok_k, ok_j = np.nonzero(mask)
        nbytes = self.nbytes[ok_j]
        costs = {"macs": cost["macs"][ci, ok_k], "flops": cost["flops"][ci, ok_k],
                 "param_count": cost["param_count"][ci, ok_k], "bytes_in": cost["in_elems"][ci, ok_k] * nbytes,
                 "bytes_out": cost["out_elems"][ci, ok_k] * nbytes,
                 "bytes_weights": cost["param_count"][ci, ok_k] * nbytes}
        return ColumnBatch(self, flat[ci], ok_k.astype(np.int64), ok_j.astype(np.int64), costs)
