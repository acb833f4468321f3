"""Load a sweep file and expand it into points (the plan stage; pure apart from reading YAML)."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from suite.agent.protocol import RoundSettings
from suite.errors import ConfigError
from suite.ops.catalogue import DTYPES, OpSpec, ParamError, get_op
from suite.results.schema import RESERVED
from suite.sweep.batches import CHUNK_POINTS, POINT_BATCH, Batch, ColumnPlan, PointBatch
from suite.sweep.point import Point, config_id, config_text, config_text_parts, param_text
from suite.sweep.schema import MAX_POINTS, AdaptiveSpec, PartSpec, RangeSpec, SweepSpec
from suite.sweep.where import WhereError, compile_where
from suite.yamlfile import YamlDocument, load_yaml, read_text, validation_error

#: Integers are stored as int64 (parameter columns, MACs, FLOPs, bytes).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class Sweep:
    """A validated, expanded sweep: its points in file order, duplicates removed.

    ``measure`` holds the sweep's overrides of the per-artifact protocol
    (:class:`~suite.agent.protocol.ProtocolSettings`), ``rounds_measure`` those of the run's
    replication (:class:`~suite.agent.protocol.RoundSettings`: rounds, sentinel, confirmation).
    """

    name: str
    description: str
    file: str
    sha256: str
    text: str
    points: tuple[Point, ...]
    measure: dict[str, Any] = field(default_factory=dict)
    rounds_measure: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None

    def round_settings(self, *, rounds: int | None = None, confirm_s: float | None = None,
                       sentinel_every: int | None = None) -> RoundSettings:
        """Round defaults < this sweep's ``measure:`` block < the arguments (the command line)."""
        settings = {**RoundSettings().to_dict(), **self.rounds_measure}
        for key, value in (("rounds", rounds), ("confirm_s", confirm_s), ("sentinel_every", sentinel_every)):
            if value is not None:
                settings[key] = value
        try:
            return RoundSettings(**settings)
        except ValueError as exc:
            raise ConfigError(str(exc), file=self.file, field="measure", value=settings,
                              expected="rounds >= 1, sentinel_every >= 0, confirm_s >= 0") from None

    @property
    def total_macs(self) -> int:
        """MACs of every point whose cost is known (a model file with unknown shapes adds none)."""
        return sum(p.macs for p in self.points if p.macs is not None)

    def param_names(self) -> list[str]:
        """Every parameter name used by any point, in first-seen order."""
        seen: dict[str, None] = {}
        for p in self.points:
            for k in p.params:
                seen.setdefault(k, None)
        return list(seen)


#: ``measure:`` keys that set the run's replication (the rest set the per-artifact protocol).
ROUND_KEYS = tuple(f.name for f in dataclasses.fields(RoundSettings))


def _prefer_range_error(data: Any) -> Any:
    """An axis value fails every union member; the error of the generator the user wrote (an
    ``adaptive:`` object or a range object, e.g. an unknown key inside it) explains the problem."""
    def prefer(err: dict[str, Any]) -> bool:
        loc = err["loc"]
        for k, x in enumerate(loc):
            model = next((m for m in ("RangeSpec", "AdaptiveSpec") if isinstance(x, str) and m in x
                          and not x.startswith("list[")), None)
            if model is not None:
                node = data
                for key in loc[:k]:
                    if isinstance(key, str) and ("[" in key or key[:1].isupper()):
                        continue  # a union member's tag, not a key
                    try:
                        node = node[key]
                    except (KeyError, IndexError, TypeError):
                        return False
                # the user wrote an object here: the error of the generator it names
                return isinstance(node, dict) and (model == "AdaptiveSpec") == ("adaptive" in node)
        return False
    return prefer


def _axis_owner(data: Any) -> Any:
    """The generator model owning an unknown key inside an axis object (to list its keys)."""
    def owner(loc: tuple[Any, ...]) -> Any:
        if len(loc) < 3 or loc[-3] != "axes":
            return None
        node = data
        for key in loc[:-1]:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                return None
        return AdaptiveSpec if isinstance(node, dict) and "adaptive" in node else RangeSpec
    return owner


def load_sweep(path: str | Path, *, text: str | None = None) -> Sweep:
    """Read, validate and expand a sweep file; every problem is a located ``ConfigError``."""
    raw_text = text if text is not None else read_text(path)
    spec, doc = _read_spec(path, raw_text)
    return _sweep(spec, doc, path, raw_text, tuple(expand(spec, doc)))


def _sweep(spec: SweepSpec, doc: YamlDocument, path: str | Path, raw_text: str, points: tuple[Point, ...]) -> Sweep:
    overrides: dict[str, Any] = spec.measure.model_dump() if spec.measure else {}
    measure = {k: v for k, v in overrides.items() if v is not None}
    if "repeat" in measure:
        raise doc.error("measure.repeat is now measure.rounds (rounds are the unit of replication: each is a "
                        f"fresh, re-shuffled session; default {RoundSettings().rounds})", ("measure", "repeat"),
                        field="measure.repeat", value=measure["repeat"], expected="measure: {rounds: N}")
    rounds_measure = {k: measure.pop(k) for k in ROUND_KEYS if k in measure}
    return Sweep(name=spec.name, description=spec.description, file=str(path),
                 sha256=hashlib.sha256(raw_text.encode()).hexdigest(), text=raw_text,
                 points=points, measure=measure, rounds_measure=rounds_measure, seed=spec.seed)


@dataclass(frozen=True)
class SweepSummary:
    """What ``hwbehave plan`` shows of a sweep, counted without making every ``Point``.

    ``header`` is the sweep without its points (``header.points`` is empty: name, file,
    ``measure``); ``sample`` holds every ``len // n``-th point, the first ``n`` of them.
    """

    header: Sweep
    points: int
    total_macs: int
    total_flops: int
    unknown_macs: int
    by_op: dict[str, int]
    by_dtype: dict[str, int]
    sample: tuple[Point, ...]


def summarise_sweep(path: str | Path, *, sample: int = 8, text: str | None = None) -> SweepSummary:
    """Validate a sweep file and count its points, costs and a sample (two streamed passes over
    its batches: one to count, one for the sample; memory bounded as :func:`iter_batches`)."""
    raw_text = text if text is not None else read_text(path)
    spec, doc = _read_spec(path, raw_text)
    count = macs = flops = unknown = 0
    by_op: dict[str, int] = {}
    by_dtype: dict[str, int] = {}
    for batch in iter_batches(spec, doc):
        count += len(batch)
        m, f, u = batch.totals()
        macs, flops, unknown = macs + m, flops + f, unknown + u
        ops, dts = batch.counts()
        for k, v in ops.items():
            by_op[k] = by_op.get(k, 0) + v
        for k, v in dts.items():
            by_dtype[k] = by_dtype.get(k, 0) + v
    header = _sweep(spec, doc, path, raw_text, ())  # after the points: load_sweep's order of errors
    step = max(1, count // max(1, sample))
    wanted = list(range(0, count, step))[:sample]
    chosen: list[Point] = []
    offset = 0
    for batch in iter_batches(spec, doc) if wanted else ():
        while wanted and wanted[0] < offset + len(batch):
            chosen.append(batch.point(wanted.pop(0) - offset))
        offset += len(batch)
        if not wanted:
            break
    return SweepSummary(header=header, points=count, total_macs=macs, total_flops=flops, unknown_macs=unknown,
                        by_op=by_op, by_dtype=by_dtype, sample=tuple(chosen))


def _check_scalar(doc: YamlDocument, path: tuple[Any, ...], value: Any) -> None:
    """A parameter value must fit the results columns: int64 integers, finite floats."""
    if isinstance(value, bool) or isinstance(value, str):
        return
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        raise doc.error("integer does not fit in 64 bits", path, field=".".join(map(str, path)), value=value,
                        expected=f"an integer from {INT64_MIN} to {INT64_MAX}")
    if isinstance(value, float) and not math.isfinite(value):
        raise doc.error("not a finite number", path, field=".".join(map(str, path)), value=value,
                        expected="a finite number")


def _axis_values(doc: YamlDocument, path: tuple[Any, ...], value: Any, max_values: int = MAX_POINTS) -> list[Any]:
    single = isinstance(value, (RangeSpec, AdaptiveSpec))  # an adaptive axis expands to its dense grid
    items = [value] if single else list(value)
    out: list[Any] = []
    for i, item in enumerate(items):
        item_path = path + ((i,) if not single else ())
        if isinstance(item, (RangeSpec, AdaptiveSpec)):
            try:
                vals = item.values(max_values - len(out))
            except ValueError as exc:
                raise doc.error(str(exc), item_path, field=".".join(map(str, path)),
                                value=item.model_dump(exclude_none=True)) from None
            if vals:
                _check_scalar(doc, item_path, vals[0])
                _check_scalar(doc, item_path, vals[-1])
            out.extend(vals)
        else:
            _check_scalar(doc, item_path, item)
            out.append(item)
    seen: dict[Any, None] = {}
    for v in out:
        seen.setdefault((type(v), v), None)
    vals = [v for _, v in seen]
    if not vals:
        raise doc.error("axis has no values", path, field=".".join(map(str, path)), expected="at least one value")
    return vals


def _resolved(doc: YamlDocument, value: Any) -> Any:
    """A relative path string resolved against the sweep file's folder (the working directory
    for a sweep without a file on disk)."""
    if not isinstance(value, str) or not value or Path(value).expanduser().is_absolute():
        return value
    base = Path(doc.file).parent if doc.file and Path(doc.file).exists() else Path.cwd()
    return str((base / value).resolve())


def expand(spec: SweepSpec, doc: YamlDocument) -> list[Point]:
    """Cartesian product of each part's axes (zip groups co-vary), filtered, deduplicated."""
    return list(iter_points(spec, doc))


def iter_points(spec: SweepSpec, doc: YamlDocument, *, columns: bool = True) -> Iterator[Point]:
    """:func:`expand` as a stream: each point is made when it is asked for, in file order
    (:func:`iter_batches`, one ``Point`` at a time)."""
    for batch in iter_batches(spec, doc, columns=columns):
        yield from batch.points()


def iter_batches(spec: SweepSpec, doc: YamlDocument, *, columns: bool = True) -> Iterator[Batch]:
    """The points of :func:`expand` in batches (:mod:`suite.sweep.batches`), in file order,
    duplicates removed: what counting and costing a plan needs without making every ``Point``.

    Nothing a cap rejects is made: a part's candidates are counted as the product of its axis
    sizes before any point exists. Points go in chunks of the product, their costs over
    columns where the ops declare a column form (``columns=False``: every point one at a time,
    the definition the column path is tested against). Ids are kept only where a duplicate
    can occur (a sweep with parts, an axis whose values coerce to the same, an op or dtype
    named twice): a single part of distinct values holds one chunk at a time. The
    empty-expansion error comes at the end.
    """
    parts: list[tuple[PartSpec, tuple[Any, ...]]]
    if spec.parts:
        parts = [(p, ("parts", i)) for i, p in enumerate(spec.parts)]
    else:
        parts = [(spec, ())]
    seen: set[str] = set()
    found = False
    budget = [spec.max_points or MAX_POINTS]  # candidates left before the cap (shared by the parts)
    for part, base in parts:
        for batch in _expand_part(spec, part, base, doc, budget, reference_only=not columns):
            if len(parts) > 1 or not batch.distinct:
                mask = []
                for point_id in batch.ids():
                    mask.append(point_id not in seen)
                    seen.add(point_id)
                if not all(mask):
                    batch = batch.keep(mask)
            if len(batch):
                found = True
                yield batch
    if not found:
        raise doc.error("empty expansion: the axes and where filters leave no point", ("where",) if spec.where else (),
                        field="where", value=spec.where or None, expected="at least one point")


def _read_spec(path: str | Path, text: str | None) -> tuple[SweepSpec, YamlDocument]:
    doc = load_yaml(path, text=text if text is not None else read_text(path))
    try:
        spec = SweepSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise validation_error(doc, exc, SweepSpec, prefer=_prefer_range_error(doc.data),
                               owner_of=_axis_owner(doc.data)) from None
    return spec, doc


def iter_sweep_points(path: str | Path, *, text: str | None = None, columns: bool = True) -> Iterator[Point]:
    """Validate a sweep file and stream its points (:func:`iter_points`) without keeping them:
    for plans too large to hold (counting, costing, sampling a million points)."""
    spec, doc = _read_spec(path, text)
    return iter_points(spec, doc, columns=columns)


def iter_sweep_batches(path: str | Path, *, text: str | None = None, columns: bool = True) -> Iterator[Batch]:
    """Validate a sweep file and stream its points in batches (:func:`iter_batches`)."""
    spec, doc = _read_spec(path, text)
    return iter_batches(spec, doc, columns=columns)


def _expand_part(spec: SweepSpec, part: PartSpec, base: tuple[Any, ...], doc: YamlDocument,
                 budget: list[int], *, reference_only: bool = False) -> Iterator[Batch]:
    is_sub = part is not spec
    # op(s)
    op_value = part.op if part.op is not None else (spec.op if is_sub else None)
    op_path = base + ("op",) if part.op is not None else ("op",)
    if op_value is None:
        raise doc.error("missing required key", base, field=".".join(map(str, base + ("op",))),
                        expected="an operator name or a list of them")
    op_names = [op_value] if isinstance(op_value, str) else list(op_value)
    ops: list[OpSpec] = []
    for i, name in enumerate(op_names):
        try:
            ops.append(get_op(name))
        except ConfigError as exc:
            raise exc.located(doc.file, doc.line_of(op_path + ((i,) if not isinstance(op_value, str) else ()))) from None
    # dtypes (None: each point's native dtype, fp32 unless the op says otherwise, e.g. a model file)
    dtypes: list[str] | None = part.dtypes or (spec.dtypes if is_sub else None)
    dt_path = base + ("dtypes",) if part.dtypes else ("dtypes",)
    for i, dt in enumerate(dtypes or []):
        if dt not in DTYPES:
            raise doc.error("unknown dtype", dt_path + (i,), field="dtypes", value=dt,
                            expected="one of " + ", ".join(DTYPES))
    # fixed params and axes
    fixed_paths: dict[str, tuple[Any, ...]] = {}
    fixed: dict[str, Any] = {}
    if is_sub:
        for k, v in spec.fixed.items():
            fixed[k], fixed_paths[k] = v, ("fixed", k)
    for k, v in part.fixed.items():
        fixed[k], fixed_paths[k] = v, base + ("fixed", k)
    for k, path in fixed_paths.items():
        _check_scalar(doc, path, fixed[k])
    axes = {name: _axis_values(doc, base + ("axes", name), value, budget[0]) for name, value in part.axes.items()}
    path_params = {p.name for op in ops for p in op.params if p.is_path}
    if path_params:  # file parameters: relative to the sweep file's folder
        fixed = {k: _resolved(doc, v) if k in path_params else v for k, v in fixed.items()}
        axes = {k: [_resolved(doc, v) for v in vs] if k in path_params else vs for k, vs in axes.items()}
    axis_paths = {name: base + ("axes", name) for name in axes}
    for name, path in {**fixed_paths, **axis_paths}.items():
        if name in RESERVED:
            raise doc.error("parameter name is reserved for a result column", path, field=name, value=name,
                            expected="a parameter name of the op")
    # zip groups
    grouped: set[str] = set()
    groups: list[list[str]] = []
    for gi, group in enumerate(part.zip):
        gpath = base + ("zip", gi)
        for name in group:
            if name not in axes:
                raise doc.error("zip names an axis that does not exist", gpath, field="zip", value=name,
                                expected="one of " + ", ".join(axes))
            if name in grouped:
                raise doc.error("axis appears in two zip groups", gpath, field="zip", value=name,
                                expected="each axis in at most one group")
        lengths = {len(axes[n]) for n in group}
        if len(lengths) > 1:
            raise doc.error("zipped axes have different lengths", gpath, field="zip",
                            value={n: len(axes[n]) for n in group}, expected="axes of equal length")
        grouped.update(group)
        groups.append(group)
    for name in axes:
        if name not in grouped:
            groups.append([name])
    dims = [list(zip(*(axes[n] for n in group))) for group in groups]
    candidates = len(ops) * len(dtypes or [None]) * math.prod(len(d) for d in dims)
    if candidates > budget[0]:
        cap = spec.max_points or MAX_POINTS
        left = f" ({budget[0]:,} left after the earlier parts)" if budget[0] < cap else ""
        raise doc.error(f"too many points: {candidates:,} (counted before where filters), more than the cap of "
                        f"{cap:,} per sweep{left}", base + ("axes",) if part.axes else base,
                        field="max_points", value=candidates,
                        expected=f"at most {cap:,} points: fewer axis values, or raise max_points: in the sweep")
    budget[0] -= candidates
    # where filters
    wheres_src: list[tuple[str, tuple[Any, ...]]] = []
    for src, path in ((spec.where, ("where",)), (part.where if is_sub else [], base + ("where",))):
        items = [src] if isinstance(src, str) else list(src)
        wheres_src.extend((w, path + ((i,) if not isinstance(src, str) else ())) for i, w in enumerate(items))
    known_names = set(fixed) | set(axes) | {p.name for op in ops for p in op.params} | {"op", "dtype"}
    wheres: list[tuple[Any, str, tuple[Any, ...], bool, frozenset[str]]] = []
    for expr, path in wheres_src:
        try:
            pred, names = compile_where(expr)
        except WhereError as exc:
            raise doc.error(f"invalid where filter: {exc}", path, field="where", value=expr,
                            expected="a comparison such as 'cin == cout'") from None
        unknown = names - known_names
        if unknown:
            raise doc.error("where filter reads an unknown name", path, field="where", value=", ".join(sorted(unknown)),
                            expected="one of " + ", ".join(sorted(known_names)))
        wheres.append((pred, expr, path, "dtype" in names, frozenset(names)))
    config_wheres = [w for w in wheres if not w[3]]
    dtype_wheres = [w for w in wheres if w[3]]  # evaluated once per dtype, with dtype in scope

    def keep(where: list[tuple[Any, str, tuple[Any, ...], bool, frozenset[str]]], scope: dict[str, Any]) -> bool:
        for pred, expr, path, _, _ in where:
            try:
                if not pred(scope):
                    return False
            except Exception as exc:  # noqa: BLE001 - a filter that fails is a config error
                raise doc.error(f"where filter failed: {type(exc).__name__}: {exc}", path, field="where",
                                value=expr, expected="an expression valid for every point") from None
        return True

    defaults = {op.name: {p.name: p.default for p in op.params if not p.required} for op in ops}
    prepared = {op.name: _PreparedOp.make(op, fixed, groups, dims) for op in ops}
    need_given = bool(wheres) or any(prep is None for prep in prepared.values())

    def reference(combos: Iterable[tuple[int, ...]]) -> Iterator[Point]:
        """Points made one at a time (the definition the column path is held against)."""
        for combo in combos:
            given: dict[str, Any] = {}
            if need_given:
                given = _given(fixed, groups, dims, combo)
            for op in ops:
                kept_dtypes = dtypes
                if wheres:
                    scope = {**defaults[op.name], **given, "op": op.name}
                    if not keep(config_wheres, scope):
                        continue
                    if dtype_wheres and dtypes:
                        kept_dtypes = [dt for dt in dtypes if keep(dtype_wheres, {**scope, "dtype": dt})]
                        if not kept_dtypes:
                            continue
                prep = prepared[op.name]
                try:
                    if prep is None:
                        params = op.normalize(given)
                        text = config_text(op.name, op.identity(params))
                    else:
                        params, text = prep.point(combo)
                        op.check(params)
                except ParamError as exc:
                    given = given or _given(fixed, groups, dims, combo)
                    path = axis_paths.get(exc.field or "") or fixed_paths.get(exc.field or "") or op_path
                    combo_text = ", ".join(f"{k}={v}" for k, v in given.items())
                    raise ConfigError(f"{exc.reason} (op {op.name}, point {combo_text}); "
                                      "use a where filter to drop such points", file=doc.file,
                                      line=doc.line_of(path), field=exc.field, value=exc.value,
                                      expected=exc.expected) from None
                cid = config_id(op.name, params, text)
                if kept_dtypes is None:  # the point's own dtype (a model file's precision), filtered like the rest
                    kept_dtypes = [op.native_dtype(params) or "fp32"]
                    if dtype_wheres and not keep(dtype_wheres, {**defaults[op.name], **given, "op": op.name,
                                                                "dtype": kept_dtypes[0]}):
                        continue
                for dt in kept_dtypes:
                    cost = op.cost(params, dt)
                    if max(cost.macs or 0, cost.flops or 0, cost.param_count,
                           cost.bytes_in + cost.bytes_out + cost.bytes_weights) > INT64_MAX:
                        given = given or _given(fixed, groups, dims, combo)
                        combo_text = ", ".join(f"{k}={v}" for k, v in given.items())
                        raise doc.error(f"the analytic cost of a point does not fit in 64 bits (op {op.name}, "
                                        f"point {combo_text})", base + ("axes",) if part.axes else op_path,
                                        field="axes", expected="parameters small enough to build a model")
                    yield Point.make(op.name, params, dt, cost, text=text, cid=cid)

    shape = [len(d) for d in dims]
    columns = None if reference_only else ColumnPlan.make(
        ops, prepared, dtypes, fixed, groups, dims, defaults, [(w[0], w[4]) for w in config_wheres],
        [(w[0], w[4]) for w in dtype_wheres])
    total = math.prod(shape)
    for start in range(0, total, CHUNK_POINTS):
        stop = min(total, start + CHUNK_POINTS)
        batch = columns.chunk(start, stop) if columns is not None else None
        if batch is not None:
            yield batch
            continue
        # the general path: per point, in batches; the points before an error still come out
        points: list[Point] = []
        try:
            for point in reference(_combos(shape, start, stop)):
                points.append(point)
                if len(points) >= POINT_BATCH:
                    yield PointBatch(points)
                    points = []
        except ConfigError:
            if points:
                yield PointBatch(points)
            raise
        if points:
            yield PointBatch(points)


def _combos(shape: list[int], start: int, stop: int) -> Iterator[tuple[int, ...]]:
    """Combinations ``start`` to ``stop`` of a product of ``shape`` (flat, last axis fastest:
    the order of ``itertools.product``)."""
    combo = [int(x) for x in np.unravel_index(start, shape)] if shape else []
    for _ in range(stop - start):
        yield tuple(combo)
        for d in range(len(shape) - 1, -1, -1):
            combo[d] += 1
            if combo[d] < shape[d]:
                break
            combo[d] = 0


def _given(fixed: dict[str, Any], groups: list[list[str]], dims: list[list[tuple[Any, ...]]],
           combo: tuple[int, ...]) -> dict[str, Any]:
    """The parameters a sweep file gives for one combination (``combo``: an index per dim)."""
    given = dict(fixed)
    for group, dim, i in zip(groups, dims, combo):
        given.update(zip(group, dim[i]))
    return given


class _PreparedOp:
    """One op's points of a part, assembled from values checked once per axis value.

    ``OpSpec.normalize`` coerces each parameter on its own and fills defaults; a part's
    product repeats every axis value across many points, so each value is coerced (and its
    canonical text made) once here and a point is a dictionary copy plus a few updates; the
    op's cross-parameter ``check`` still runs per point. Ops that normalise or hash their
    parameters their own way (a model file) and parts with a value that does not coerce take
    the general path, which raises the located error.
    """

    def __init__(self, base: dict[str, Any], values: list[list[tuple[tuple[str, Any], ...]]],
                 texts: list[list[dict[str, str]]], segments: list[str], slots: list[tuple[int, str]]) -> None:
        self.base, self.values, self.texts, self.segments, self.slots = base, values, texts, segments, slots
        # per slot: its dim, the text of each of the dim's entries, the fixed text after it
        self._slot_texts = [(d, [t[name] for t in texts[d]], segments[k + 1]) for k, (d, name) in enumerate(slots)]
        self._value_dicts = [[dict(pairs) for pairs in dim] for dim in values]

    @classmethod
    def make(cls, op: OpSpec, fixed: dict[str, Any], groups: list[list[str]],
             dims: list[list[tuple[Any, ...]]]) -> _PreparedOp | None:
        if type(op).normalize is not OpSpec.normalize or type(op).identity is not OpSpec.identity:
            return None
        known = {p.name: p for p in op.params}
        on_axes = {name for group in groups for name in group}
        if (set(fixed) | on_axes) - known.keys():
            return None  # an unknown parameter: the general path names it
        try:
            base: dict[str, Any] = {}
            for p in op.params:  # the op's order, as normalize builds it
                if p.name in on_axes:
                    base[p.name] = None
                elif p.name in fixed:
                    base[p.name] = p.coerce(fixed[p.name])
                elif p.required:
                    return None
                else:
                    base[p.name] = p.default
            values = [[tuple((n, known[n].coerce(v)) for n, v in zip(group, combo)) for combo in dim]
                      for group, dim in zip(groups, dims)]
        except ParamError:
            return None
        texts = [[{n: param_text(n, v) for n, v in pairs} for pairs in dim] for dim in values]
        where = {n: d for d, group in enumerate(groups) for n in group}
        head, tail = config_text_parts(op.name)
        segments, slots = [head], []
        for k, name in enumerate(sorted(base)):
            segments[-1] += "," if k else ""
            if name in where:
                slots.append((where[name], name))
                segments.append("")
            else:
                segments[-1] += param_text(name, base[name])
        segments[-1] += tail
        return cls(base, values, texts, segments, slots)

    def text(self, combo: tuple[int, ...]) -> str:
        """The :func:`config_text` of one combination (without its parameters)."""
        return self.segments[0] + "".join([texts[combo[d]] + tail for d, texts, tail in self._slot_texts])

    def point(self, combo: tuple[int, ...]) -> tuple[dict[str, Any], str]:
        """The normalised parameters of one combination and their :func:`config_text`."""
        params = self.base.copy()
        for dim, i in zip(self._value_dicts, combo):
            params.update(dim[i])
        return params, self.text(combo)
