"""The column path of planning against the point-by-point definition (``columns=False``)."""

from __future__ import annotations

import pytest

from suite.errors import ConfigError
from suite.sweep.batches import ColumnBatch, PointBatch
from suite.sweep.expand import iter_sweep_batches, iter_sweep_points

SWEEPS = {
    "conv2d with where, zip, dtypes": """
name: a
op: conv2d
dtypes: [fp32, int8, fp16]
fixed: {resolution: 20}
axes:
  cin: [4, 8, 12, 16]
  cout: {range: [4, 24, 4]}
  groups: [1, 2, 4]
  kernel: [1, 3, 5]
  padding: [same, valid, 2]
  stride: [1, 2]
  activation: [none, relu, prelu, gelu]
  bias: [true, false]
where: ["cin % groups == 0", "cout % groups == 0 and kernel <= 3 or stride == 2"]
""",
    "parts with overlap and a dtype filter": """
name: b
where: "dtype != 'int8' or batch > 1"
dtypes: [fp32, int8]
parts:
  - op: conv2d
    fixed: {resolution: 14}
    axes: {cin: [4, 8], cout: [8, 16], kernel: [3, 5]}
    where: "op == 'conv2d' and (cin == 4 or kernel == 3)"
  - op: dwconv2d
    fixed: {resolution: 14}
    axes: {channels: [8, 16], kernel: [3, 5]}
  - op: conv2d
    fixed: {resolution: 14, kernel: 3}
    axes: {cin: [4, 8, 16], cout: [8]}
  - op: fc
    axes: {cin: [16, 32], cout: [8, 64], activation: [relu, prelu], batch: [1, 4]}
  - op: matmul
    axes: {rows: [1, 7], depth: [64, 128], cols: [3, 5]}
""",
    "an op without a column form beside one with": """
name: c
fixed: {channels: 8}
parts:
  - op: [dwconv2d, maxpool]
    axes: {kernel: [1, 2, 3], resolution: [8, 16], stride: [1, 2]}
  - op: dwconv2d
    axes: {kernel: [3, 5], resolution: [9, 16], stride: [2], dilation: [1, 2]}
    zip: [[kernel, dilation]]
""",
    "values that coerce to the same, an op and a dtype twice": """
name: d
op: [fc, fc]
dtypes: [fp16, fp16, fp32]
axes: {cin: [8, 8.0, 16], cout: [2, 3]}
""",
    "no axes": """
name: e
op: dwconv2d
dtypes: [fp16]
fixed: {kernel: 5, resolution: 9}
where: "op == 'dwconv2d' or kernel == 5"
""",
}


def _write(tmp_path, text: str):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", list(SWEEPS))
def test_column_path_gives_the_points_of_the_point_by_point_path(tmp_path, name):
    path = _write(tmp_path, SWEEPS[name])
    reference = list(iter_sweep_points(path, columns=False))
    fast = list(iter_sweep_points(path))
    assert fast == reference  # every field: ids, config ids, params (and their order), costs
    assert [list(p.params) for p in fast] == [list(p.params) for p in reference]
    batches = list(iter_sweep_batches(path))
    assert any(isinstance(b, ColumnBatch) for b in batches)  # the column path was taken
    assert [i for b in batches for i in b.ids()] == [p.id for p in reference]
    macs = sum(b.totals()[0] for b in batches)
    flops = sum(b.totals()[1] for b in batches)
    assert (macs, flops) == (sum(p.macs for p in reference), sum(p.flops for p in reference))
    by_op: dict[str, int] = {}
    by_dtype: dict[str, int] = {}
    for b in batches:
        ops, dts = b.counts()
        for k, v in ops.items():
            by_op[k] = by_op.get(k, 0) + v
        for k, v in dts.items():
            by_dtype[k] = by_dtype.get(k, 0) + v
    assert by_op == {op: sum(p.op == op for p in reference) for op in by_op}
    assert sum(by_op.values()) == sum(by_dtype.values()) == len(reference)
    assert [b.point(len(b) - 1) for b in batches] == [list(b.points())[-1] for b in batches]


def _error_on_both_paths(path) -> list[tuple[ConfigError, int]]:
    """Stream the sweep point by point (``columns=False``), then by columns: each path's
    ``ConfigError`` and how many points came out before it."""
    out = []
    for columns in (False, True):
        seen = 0
        with pytest.raises(ConfigError) as info:
            for _ in iter_sweep_points(path, columns=columns):
                seen += 1
        out.append((info.value, seen))
    return out


def test_a_point_the_op_rejects_raises_the_same_located_error_after_the_same_points(tmp_path):
    path = _write(tmp_path, """
name: e
op: conv2d
fixed: {resolution: 8}
axes: {cin: [4, 6], cout: [4], groups: [1, 4], kernel: [3]}
""")
    runs = _error_on_both_paths(path)
    errors, counts = [(str(e), e.line, e.field) for e, _ in runs], [n for _, n in runs]
    assert errors[0] == errors[1]
    assert "groups must divide channels" in errors[0][0]
    assert counts[0] == counts[1] == 3  # cin 4 with groups 1 and 4, cin 6 groups 1; then cin 6 groups 4


def test_a_where_filter_that_raises_on_a_reached_point_is_the_same_error(tmp_path):
    path = _write(tmp_path, """
name: f
op: fc
axes: {cin: [4, 8, 12], cout: [4]}
where: ["cin > 4 or cout > 0", "cout // (cin - 4) >= 0"]
""")
    messages = [(str(e), e.line) for e, _ in _error_on_both_paths(path)]
    assert messages[0] == messages[1] and "where filter failed" in messages[0][0]


def test_a_where_filter_that_would_raise_only_on_dropped_points_is_not_an_error(tmp_path):
    path = _write(tmp_path, """
name: g
op: fc
axes: {cin: [4, 8, 12], cout: [4]}
where: ["cin > 4", "cout // (cin - 4) >= 1"]
""")
    fast = list(iter_sweep_batches(path))
    assert all(isinstance(b, ColumnBatch) for b in fast)
    assert [p.params["cin"] for b in fast for p in b.points()] == [8]
    assert list(iter_sweep_points(path)) == list(iter_sweep_points(path, columns=False))


def test_a_cost_past_64_bits_is_the_reference_error(tmp_path):
    path = _write(tmp_path, """
name: h
op: matmul
axes: {rows: [2, 4294967296], depth: [4294967296], cols: [4294967296]}
""")
    runs = _error_on_both_paths(path)
    messages, counts = [str(e) for e, _ in runs], [n for _, n in runs]
    assert messages[0] == messages[1] and "does not fit in 64 bits" in messages[0]
    assert counts == [0, 0]  # rows 2: 2 * 2**64 MACs already does not fit


def test_a_large_part_comes_in_bounded_chunks(tmp_path):
    path = _write(tmp_path, """
name: i
op: conv2d
max_points: 200000
axes: {cin: {range: [1, 100]}, cout: {range: [1, 100]}, kernel: [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]}
fixed: {resolution: 32}
""")
    batches = list(iter_sweep_batches(path))
    assert sum(len(b) for b in batches) == 100_000
    assert len(batches) > 1 and max(len(b) for b in batches) <= 1 << 16
    assert all(isinstance(b, ColumnBatch) for b in batches)
    assert not any(isinstance(b, PointBatch) for b in batches)
