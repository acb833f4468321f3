"""Planning at scale: points stream in file order with the ids of the materialised plan, the cap
is counted before any point exists, and a stream holds ids, not points."""

from __future__ import annotations

import itertools
import tracemalloc

import pytest

from suite.errors import ConfigError
from suite.sweep.expand import iter_sweep_points, load_sweep
from suite.sweep.point import POINT_ID_VERSION, canonical_json, config_text

PARTS = """
name: t
op: conv2d
fixed: {resolution: 16}
dtypes: [fp32, int8]
parts:
  - axes: {cin: [4, 8], cout: {range: [4, 16, 4]}, kernel: [1, 3]}
    where: "cout >= cin"
  - axes: {cin: [8, 16], cout: [8, 16], kernel: [3]}
    zip: [[cin, cout]]
  - op: [dwconv2d]
    fixed: {channels: 8}
    axes: {kernel: [3, 5]}
"""


def test_stream_yields_the_points_of_the_plan_in_order(write_yaml):
    path = write_yaml(PARTS)
    streamed = list(iter_sweep_points(path))
    planned = load_sweep(path).points
    assert [p.id for p in streamed] == [p.id for p in planned]
    # part 1: 7 (cin, cout) pairs x 2 kernels x 2 dtypes; part 2 adds (16, 16) only, its (8, 8)
    # kernel 3 is part 1's; part 3: 2 kernels x 2 dtypes
    assert len(streamed) == len({p.id for p in streamed}) == 28 + 2 + 4
    assert {p.op for p in streamed} == {"conv2d", "dwconv2d"}


def test_a_stream_makes_only_the_points_asked_for(write_yaml):
    # 400 x 400 x 5 x 2 = 1.6M candidates: taking a few must neither make nor keep the rest
    path = write_yaml("""
name: big
op: conv2d
max_points: 2000000
fixed: {resolution: 64}
axes: {cin: {range: [1, 400]}, cout: {range: [1, 400]}, kernel: [1, 3, 5, 7, 9], activation: [relu, swish]}
""")
    tracemalloc.start()
    try:
        first = list(itertools.islice(iter_sweep_points(path), 1000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(first) == 1000 and first[0].params["cin"] == 1 and first[0].params["cout"] == 1
    assert peak < 32 * 2**20  # a materialised plan of 1.6M points would take gigabytes


def test_a_stream_over_the_cap_fails_before_yielding_a_point(write_yaml):
    path = write_yaml("""
name: big
op: conv2d
max_points: 1000
axes: {cin: {range: [1, 100]}, cout: {range: [1, 100]}}
""")
    stream = iter_sweep_points(path)
    with pytest.raises(ConfigError, match="too many points: 10,000"):
        next(stream)


def test_parameter_texts_kept_for_reuse_never_confuse_equal_values_of_other_types():
    # 1 == True == 1.0 and 0.0 == -0.0 in Python; their canonical texts (and ids) differ
    for params in ({"a": 1, "b": 0.0}, {"a": True, "b": -0.0}, {"a": 1.0, "b": 0}, {"a": 1, "b": 0.0}):
        for _ in range(2):  # the second call reads the kept texts
            assert config_text("op", params) == canonical_json({"v": POINT_ID_VERSION, "op": "op", "params": params})


def test_points_assembled_from_prepared_values_equal_normalize_and_the_canonical_text(write_yaml):
    from suite.ops.catalogue import get_op
    from suite.sweep.point import config_id, point_id

    path = write_yaml(PARTS.replace("fixed: {resolution: 16}", "fixed: {resolution: 16.0, bias: false}"))
    points = list(iter_sweep_points(path))
    for p in points:
        op = get_op(p.op)
        assert p.params == op.normalize(p.params) and list(p.params) == [q.name for q in op.params]
        text = canonical_json({"v": POINT_ID_VERSION, "op": p.op, "params": p.params})
        assert (p.id, p.config_id) == (point_id(p.op, p.params, p.dtype, text), config_id(p.op, p.params, text))
    assert {type(p.params["resolution"]) for p in points} == {int}  # 16.0 coerced once, as normalize does


def test_a_stream_of_an_invalid_sweep_is_the_located_error_load_sweep_gives(write_yaml):
    path = write_yaml("name: t\nop: conv2d\naxes:\n  cout: {range: [8, 32, 8], stpe: 2}\n")
    with pytest.raises(ConfigError) as streamed:
        iter_sweep_points(path)
    with pytest.raises(ConfigError) as loaded:
        load_sweep(path)
    assert str(streamed.value) == str(loaded.value) and "stpe" in str(streamed.value)
