"""Adaptive sweeps: the axis form, its errors, and the refinement logic on planted series."""

from __future__ import annotations

import math

import pytest

from suite.errors import ConfigError
from suite.sweep import adaptive as adapt
from suite.sweep.expand import load_sweep

HEAD = "name: t\nop: conv2d\nfixed: {cin: 8, resolution: 8}\n"


def test_adaptive_axis_expands_to_the_dense_grid_with_the_same_ids(write_yaml):
    dense = load_sweep(write_yaml(HEAD + "axes:\n  cout: {range: [8, 64, 4]}\n", "dense.yaml"))
    sweep = load_sweep(write_yaml(HEAD + "axes:\n  cout: {adaptive: [8, 64], step: 4, coarse: 5}\n", "a.yaml"))
    assert [p.id for p in sweep.points] == [p.id for p in dense.points]
    plan = adapt.plan_from_sweep(sweep)
    assert plan is not None and (plan.axis, plan.coarse, plan.budget_s) == ("cout", 5, None)
    assert plan.source.endswith(":5")
    assert adapt.plan_from_sweep(dense) is None  # a plain sweep stays plain
    coarse = adapt.coarse_points(list(sweep.points), plan)
    assert [p.params["cout"] for p in coarse] == [8, 24, 36, 48, 64]  # indices 0, 3.5, 7, 10.5, 14 rounded half to even


@pytest.mark.parametrize(("axis", "field", "fragment"), [
    ("{adaptive: [8, 64], stepp: 4}", "axes.cout.stepp", "unknown key"),
    ("{adaptive: [64, 8]}", "axes.cout", "lo < hi"),
    ("{adaptive: [8, 64, 2]}", "axes.cout", "[lo, hi]"),
    ("{adaptive: [8, 64], coarse: 2}", "axes.cout.coarse", ">= 3"),
    ("{adaptive: [8, 64], step: 0}", "axes.cout", "step above 0"),
    ("{adaptive: [8, 64], budget_s: -1}", "axes.cout.budget_s", ">= 0"),
    ("{range: [8, 64], foo: 1}", "axes.cout.foo", "unknown key"),  # a range's own error, not the adaptive form's
])
def test_bad_adaptive_axes_are_located_errors(write_yaml, axis, field, fragment):
    path = write_yaml(HEAD + f"axes:\n  cout: {axis}\n")
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    err = info.value
    assert (err.file, err.line, err.field) == (str(path), 5, field)
    assert fragment in str(err)


def test_unknown_adaptive_key_lists_the_valid_ones(write_yaml):
    with pytest.raises(ConfigError) as info:
        load_sweep(write_yaml(HEAD + "axes:\n  cout: {adaptive: [8, 64], coars: 4}\n"))
    assert info.value.expected == "one of adaptive, budget_s, coarse, min_rel, step"


def test_a_second_adaptive_axis_is_located(write_yaml):
    path = write_yaml(HEAD + "axes:\n  cout: {adaptive: [8, 64]}\n  resolution: {adaptive: [4, 16]}\n")
    sweep = load_sweep(path)
    with pytest.raises(ConfigError) as info:
        adapt.plan_from_sweep(sweep)
    assert (info.value.line, info.value.field) == (6, "axes.resolution")
    assert "second adaptive axis" in str(info.value)


def test_the_flag_turns_a_plain_numeric_axis_adaptive(write_yaml):
    one = load_sweep(write_yaml(HEAD + "axes:\n  cout: [8, 16, 24, 32]\n  activation: [none, relu]\n", "one.yaml"))
    plan = adapt.plan_from_sweep(one, "", budget_s=12.0)
    assert plan is not None and (plan.axis, plan.budget_s, plan.source) == ("cout", 12.0, "--adaptive")
    series, others = adapt.series_of(list(one.points), "cout")
    assert len(series) == 2 and not others  # one series per activation
    with pytest.raises(ConfigError, match="not a numeric axis"):
        adapt.plan_from_sweep(one, "activation")
    two = load_sweep(write_yaml(HEAD.replace("resolution: 8", "kernel: 3")
                                + "axes:\n  cout: [8, 16, 24]\n  resolution: [4, 8, 12]\n", "two.yaml"))
    with pytest.raises(ConfigError) as info:
        adapt.plan_from_sweep(two, "")
    assert info.value.expected == "--adaptive cout or --adaptive resolution"
    assert adapt.plan_from_sweep(two, "resolution").axis == "resolution"  # type: ignore[union-attr]


# -- refinement on planted series (deterministic) ---------------------------------------------

def search(latency, values, *, coarse=9, floor=0.02):
    """Run the adaptive search on ``latency(x)`` (ms; ``None``: the point fails) over ``values``;
    returns the measured indices and the generations it took."""
    ests = {}
    for i, v in enumerate(values):
        y = latency(v)
        ests[i] = adapt.Estimate("unsupported") if y is None else adapt.Estimate("ok", y, y * 0.995, y * 1.005)
    measured = {i: ests[i] for i in adapt.coarse_indices(len(values), coarse)}
    generations = 0
    while True:
        picks = [k for k, _ in adapt.probes([float(v) for v in values], measured, floor)]
        if not picks:
            return measured, generations
        assert all(k not in measured for k in picks)  # every batch is new points
        measured.update((k, ests[k]) for k in picks)
        generations += 1


def steps_located(measured, values, floor=0.02):
    return [values[i] for i, j in adapt.changes(measured, floor) if j == i + 1]


@pytest.mark.parametrize("period", [8, 16, 32, 64])
def test_planted_staircases_are_located_exactly(period):
    values = list(range(8, 513))

    def latency(x):
        return 0.05 * (2 + math.ceil(x / period))  # flat plateaus, a step after each multiple of the period

    measured, _ = search(latency, values)
    truth = [v for v in values[:-1] if latency(v + 1) != latency(v)]
    resolvable = [v for v in truth if latency(v + 1) / latency(v) - 1 > 0.02]
    located = steps_located(measured, values)
    assert located == resolvable  # every step above the floor, at its exact grid unit, and nothing else
    assert len(measured) < len(values)
    # a plateau costs its two ends: at most a bisection's worth of points per step beyond that
    assert len(measured) <= 9 + len(truth) * (2 + math.ceil(math.log2(len(values) / 9)))


def test_a_located_period_guesses_the_remaining_steps():
    values = list(range(8, 513))

    def latency(x):
        return 0.05 * (2 + math.ceil(x / 64))

    measured, _ = search(latency, values)
    bisection_only = 9 + 7 * math.ceil(math.log2(504 / 8))  # 7 steps, one per coarse gap, bisected from 63 wide
    assert len(measured) < bisection_only
    assert len(values) / len(measured) >= 10


def test_a_flat_series_measures_only_its_coarse_grid():
    values = list(range(1, 101))
    measured, generations = search(lambda x: 1.0, values)
    assert generations == 0 and sorted(measured) == adapt.coarse_indices(100, 9)


def test_a_dip_is_bracketed_on_both_sides():
    values = list(range(1, 101))
    assert values[adapt.coarse_indices(100, 9)[3]] == 38  # the dip holds a coarse point
    measured, _ = search(lambda x: 0.7 if 36 <= x <= 45 else 1.0, values)
    assert steps_located(measured, values) == [35, 45]
    # narrower than the coarse spacing and between coarse points: not seen (the coarse grid's limit)
    measured, _ = search(lambda x: 0.7 if 40 <= x <= 45 else 1.0, values)
    assert steps_located(measured, values) == []


def test_where_points_start_to_fail_is_located():
    values = list(range(1, 101))
    measured, _ = search(lambda x: None if x > 57 else 1.0 + x / 1000, values, floor=0.5)
    assert steps_located(measured, values, floor=0.5) == [57]
    assert not any(not measured[i].timed for i in measured if values[i] <= 57)


def test_period_of_rules_out_a_divisor_by_the_plateaus():
    values = [float(v) for v in range(1, 65)]

    def est(x):
        return adapt.Estimate("ok", 1.0 + math.ceil(x / 16), None, None)

    # steps at 16, 32, 48 located; the plateau 33..48 measured at both ends: 40 (a multiple of 8) is no step
    measured = {i: est(values[i]) for i in (0, 15, 16, 31, 32, 47, 48, 63)}
    assert adapt.period_of(values, measured, 0.02) == (16.0, 0.0)
    assert adapt.period_of(values, {i: measured[i] for i in (15, 16, 31, 32)}, 0.02) is None  # two steps: no period


def test_differ_uses_the_floor_else_the_intervals():
    a = adapt.Estimate("ok", 1.0, 0.98, 1.02)
    b = adapt.Estimate("ok", 1.03, 1.01, 1.05)
    assert adapt.differ(a, b, 0.02) and not adapt.differ(a, b, 0.05)
    assert not adapt.differ(a, b, None)  # intervals overlap
    assert adapt.differ(a, adapt.Estimate("ok", 1.1, 1.08, 1.12), float("nan"))
    assert adapt.differ(a, adapt.Estimate("runtime_error"), 0.05)
    assert not adapt.differ(adapt.Estimate("unsupported"), adapt.Estimate("unsupported"), 0.05)
    assert adapt.differ(adapt.Estimate("unsupported"), adapt.Estimate("timeout"), 0.05)


def test_the_threshold_is_the_floor_or_the_smallest_claimed_effect():
    assert adapt.threshold(0.004, 0.05) == 0.05  # a quiet run: below the detectors' smallest step is not worth it
    assert adapt.threshold(0.08, 0.05) == 0.08  # a noisy one: its floor
    assert adapt.threshold(float("nan"), 0.05) == 0.05 and adapt.threshold(None, 0.0) is None


def test_refine_orders_the_widest_gap_first():
    sweep_values = [float(v) for v in range(10)]
    series = [adapt.Series("s", tuple(_point(v) for v in sweep_values))]
    ests = {series[0].points[i].id: adapt.Estimate("ok", y) for i, y in ((0, 1.0), (2, 2.0), (9, 4.0))}
    picks = adapt.refine(series, ests, 0.02, "cout")
    assert [p.params["cout"] for p in picks] == [5.0, 1.0]


def _point(cout):
    from suite.sweep.point import Point

    return Point(id=f"p{cout:g}", config_id="0", op="conv2d", dtype="fp32", params={"cout": cout}, macs=0, flops=0,
                 param_count=0, bytes_in=0, bytes_out=0, bytes_weights=0)
