"""Sweep loading and expansion: axes, zip, where, parts, stable ids, and located errors."""

from __future__ import annotations

import pytest

from suite.agent.protocol import RoundSettings
from suite.errors import ConfigError
from suite.sweep.expand import load_sweep


def sweep(write_yaml, text):
    return load_sweep(write_yaml(text))


def test_cartesian_product_with_ranges_and_dtypes(write_yaml):
    s = sweep(write_yaml, """
name: t
op: conv2d
fixed: {cin: 8, resolution: 8}
axes:
  cout: {range: [8, 32, 8]}
  kernel: [1, 3]
dtypes: [fp32, fp16]
""")
    assert len(s.points) == 4 * 2 * 2
    assert sorted({p.params["cout"] for p in s.points}) == [8, 16, 24, 32]
    assert {p.dtype for p in s.points} == {"fp32", "fp16"}
    assert s.total_macs == sum(p.macs for p in s.points)


def test_logspace_pow2_and_mixed_lists_are_deduplicated(write_yaml):
    s = sweep(write_yaml, """
name: t
op: conv2d
fixed: {cin: 8, resolution: 8, kernel: 1}
axes:
  cout: [{pow2: [8, 64]}, {range: [14, 18, 2]}, 16, {logspace: [8, 64, 4]}]
""")
    assert [p.params["cout"] for p in s.points] == [8, 16, 32, 64, 14, 18]


def test_zip_groups_co_vary_and_where_filters(write_yaml):
    s = sweep(write_yaml, """
name: t
op: conv2d
fixed: {resolution: 16}
axes:
  cin: [8, 16, 32]
  cout: [8, 16, 32]
  kernel: [1, 3]
zip: [[cin, cout]]
where: "kernel == 3 or cin == 32"
""")
    combos = {(p.params["cin"], p.params["cout"], p.params["kernel"]) for p in s.points}
    assert combos == {(8, 8, 3), (16, 16, 3), (32, 32, 3), (32, 32, 1)}


def test_where_can_read_defaults_and_filter_before_validation(write_yaml):
    # kernel 7 on a 4x4 input is invalid, but the filter removes it first
    s = sweep(write_yaml, """
name: t
op: conv2d
fixed: {cin: 4, cout: 4, padding: valid}
axes:
  resolution: [4, 16]
  kernel: [3, 7]
where: "kernel <= resolution and stride == 1"
""")
    assert {(p.params["resolution"], p.params["kernel"]) for p in s.points} == {(4, 3), (16, 3), (16, 7)}


def test_parts_inherit_fixed_dtypes_and_dedupe(write_yaml):
    s = sweep(write_yaml, """
name: t
fixed: {cin: 8, resolution: 8}
dtypes: [fp32]
measure: {min_runs: 3, rounds: 2, confirm_s: 4}
parts:
  - op: conv2d
    axes: {cout: [8, 16]}
  - op: conv2d
    axes: {cout: [16, 24]}
    dtypes: [fp32, int8]
""")
    assert len(s.points) == 2 + 3  # the fp32 cout=16 point appears once
    assert s.measure == {"min_runs": 3}
    settings = s.round_settings()
    assert (settings.rounds, settings.confirm_s, settings.sentinel_every) == (2, 4.0, RoundSettings().sentinel_every)
    assert s.round_settings(rounds=5).rounds == 5  # the command line wins


def test_measure_repeat_is_a_located_error_naming_rounds(write_yaml):
    path = write_yaml("name: t\nop: conv2d\nfixed: {cin: 8, cout: 8, resolution: 8}\nmeasure:\n  min_runs: 3\n"
                      "  repeat: 2\n")
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    assert err.value.line == 6 and err.value.field == "measure.repeat" and "measure.rounds" in str(err.value)


def test_point_ids_are_stable_and_content_addressed(write_yaml):
    a = sweep(write_yaml, "name: a\nop: conv2d\nfixed: {cin: 8, cout: 8, resolution: 8}\n")
    b = sweep(write_yaml, "name: other\nop: conv2d\nfixed: {cin: 8, cout: 8, resolution: 8, stride: 1, kernel: 3}\n")
    c = sweep(write_yaml, "name: a\nop: conv2d\nfixed: {cin: 8, cout: 8, resolution: 8}\ndtypes: [int8]\n")
    assert a.points[0].id == b.points[0].id  # defaults written out or implied: same id
    assert a.points[0].id != c.points[0].id  # dtype is part of the id
    assert a.points[0].config_id == c.points[0].config_id  # but not of the config id
    assert len(a.points[0].id) == 16


@pytest.mark.parametrize("body, field, fragment", [
    ("name: t\nop: conv2d\nfixed: {cin: 8, cout: 8}\ncolour: red\n", "colour", "unknown key"),
    ("name: t\nop: conv2d\nfixed: {cin: 8}\naxes:\n  cout: {range: [8, 16], stepp: 2}\n", "stepp", "unknown key"),
    ("name: t\nop: conv2d\nfixed: {cin: 8, cout: 0}\n", "cout", "out of range"),
    ("name: t\nop: conv2d\nfixed: {cin: -4, cout: 8}\n", "cin", "out of range"),
    ("name: t\nop: conv2d\nfixed: {cin: 8, cout: 8, stride: 0}\n", "stride", "out of range"),
    ("name: t\nop: conv2d\nfixed: {cin: 8, cout: 8, resolution: 4}\naxes:\n  kernel: [3, 7]\n", "kernel",
     "kernel larger than input"),
    ("name: t\nop: conv3d\nfixed: {cin: 8, cout: 8}\n", "op", "unknown operator"),
    ("name: t\nop: conv2d\nfixed: {cin: 8, cout: 8, activation: swoosh}\n", "activation", "unknown activation"),
    ("name: t\nop: conv2d\nfixed: {cin: 8, cout: 8}\ndtypes: [fp32, bf8]\n", "dtypes", "unknown dtype"),
    ("name: t\nop: conv2d\nfixed: {cin: 8, cout: 8}\naxes:\n  kernel: [3]\nwhere: kernel > 5\n", "where",
     "empty expansion"),
    ("name: t\nop: conv2d\nfixed: {cin: 8, cout: eight}\n", "cout", "wrong type"),
    ("name: t\nop: conv2d\nfixed: {cin: 8, cout: 8}\nwhere: \"__import__('os')\"\n", "where", "not allowed"),
    ("name: t\nop: conv2d\nfixed: {cin: 8, cout: 8}\nwhere: \"chanels > 3\"\n", "where", "unknown name"),
    ("name: t\nop: conv2d\nfixed: {cin: 8}\naxes: {cout: [8, 16], kernel: [1]}\nzip: [[cout, kernel]]\n", "zip",
     "different lengths"),
    ("name: t\nop: conv2d\nfixed: {cin: 8, cout: 8, groups: 3}\n", "groups", "divide"),
])
def test_bad_sweeps_raise_located_config_errors(write_yaml, body, field, fragment):
    path = write_yaml(body)
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    err = info.value
    assert err.file == str(path)
    assert err.line is not None and err.line >= 1
    assert field in str(err.field)
    assert fragment in str(err)


def test_error_line_points_at_the_offending_axis(write_yaml):
    path = write_yaml("name: t\nop: conv2d\nfixed:\n  cin: 8\n  cout: 8\n  resolution: 4\naxes:\n  kernel: [1, 9]\n")
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    assert info.value.line == 8
    assert info.value.value == 9


def test_unknown_key_lists_allowed_keys(write_yaml):
    with pytest.raises(ConfigError) as info:
        load_sweep(write_yaml("name: t\nop: conv2d\nfixed: {cin: 8, cout: 8}\nmeasure: {min_run: 3}\n"))
    assert "min_runs" in str(info.value.expected)
    assert info.value.line == 4


def test_duplicate_keys_are_errors(write_yaml):
    with pytest.raises(ConfigError, match="duplicate key"):
        load_sweep(write_yaml("name: t\nop: conv2d\nop: fc\n"))


def test_shipped_sweeps_all_load(repo):
    files = sorted((repo / "sweeps").rglob("*.yaml"))
    assert files, "no sweeps shipped"
    for f in files:
        s = load_sweep(f)
        assert s.points, f


def test_fast_config_text_equals_canonical_json():
    from suite.sweep.point import POINT_ID_VERSION, canonical_json, config_text

    params = {"cout": 8, "cin": 3, "act": "swish", "bias": True, "w": 0.75, "pad": "same", "q": 'a"b', "z": False}
    assert config_text("conv2d", params) == canonical_json({"v": POINT_ID_VERSION, "op": "conv2d", "params": params})
