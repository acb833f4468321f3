import numpy as np
import pytest

from suite.analysis.synthetic import FrameBuilder, MachineNoise
from suite.report import compare_runs, significant_changes
from suite.report.compare import comparison_table, csv_frame, incomparable
from suite.report.tables import render_table

# a shared host: rounds 1-2 % apart, points 1 % off their neighbours, an occasional slow spell
SHARED = MachineNoise(sample_rel=0.03, round_rel=0.015, point_rel=0.01, drift_rel=0.01, spell_fraction=0.04,
                      spell_rel=0.3)


def run(seed, slower=(), factor=1.10, overall=1.0, n_points=40, rounds=3, noise=SHARED):
    b = FrameBuilder(seed, rounds=rounds, noise=noise, run_id=f"run{seed}")
    for cin in range(8, 8 + 8 * n_points, 8):
        t = (1.0 + cin / 100) * overall * (factor if cin in slower else 1.0)
        b.add("npu", "s", "conv2d", {"cin": cin, "cout": 32, "kernel": 3, "resolution": 28}, "fp32", t)
    return b.frame()


def test_an_unchanged_rerun_flags_almost_nothing():
    # A/A: the same sweep twice; each run has its own noise, spells and per-point offsets
    flagged = [len(significant_changes(compare_runs(run(100 + s), run(200 + s)))) for s in range(10)]
    assert sum(flagged) / (10 * 40) <= 0.05


def test_a_shift_common_to_all_points_is_reported_once_not_per_point():
    cmp = compare_runs(run(1), run(2, overall=1.04))
    assert cmp.attrs["shift"] == pytest.approx(0.04, abs=0.015)
    assert cmp.attrs["shift_low"] < cmp.attrs["shift"] < cmp.attrs["shift_high"]
    assert len(significant_changes(cmp)) <= 2


# this CPU on a quiet moment: rounds of one point agree within ~1 %, slow spells now and then
QUIET = MachineNoise(sample_rel=0.02, round_rel=0.008, point_rel=0.005, spell_fraction=0.05, spell_rel=0.15)


def test_planted_slowdown_on_a_quarter_of_the_points_is_found():
    quarter = set(range(8, 8 + 8 * 40, 32))  # every 4th configuration
    found, false, flagged, sizes = [], 0, 0, []
    for s in range(5):
        sig = significant_changes(compare_runs(run(10 + s, noise=QUIET), run(20 + s, slower=quarter, noise=QUIET)))
        hits = {int(p.split('"cin":')[1].split(",")[0]) for p in sig["params_json"]}
        found.append(len(hits & quarter) / len(quarter))
        false, flagged = false + len(hits - quarter), flagged + len(hits)
        sizes += list(sig.loc[sig["params_json"].map(lambda p: int(p.split('"cin":')[1].split(",")[0]) in quarter),
                              "change_net"])
    assert np.median(sizes) == pytest.approx(0.10, abs=0.03)
    # a point whose rounds ran in a slow spell stays unresolved, and a run whose sentinel caught a
    # spell resolves less than 10 % (its noise floor): most, not all, planted changes are found
    assert np.mean(found) >= 0.8
    assert false / flagged <= 0.10  # the false discovery rate stays near its 5 % target


def test_single_round_runs_use_the_points_own_scatter():
    # one round: no between-round information, the points' own scatter is the null (no slow
    # spells here: in a single round a spell cannot be told from a change, which is why runs have rounds)
    steady = MachineNoise(sample_rel=0.03, round_rel=0.01, point_rel=0.01)
    a, b = run(1, rounds=1, noise=steady), run(2, rounds=1, slower={80}, factor=1.3, noise=steady)
    sig = significant_changes(compare_runs(a, b))
    assert list(sig["config"].str.contains("cin=80")) == [True]
    assert (sig["rounds_a"] == 1).all()


def test_keys_fall_back_to_point_id_across_devices():
    a, b = run(1), run(2, slower={16}, factor=0.7)
    b["device"] = "gpu"
    cmp = compare_runs(a, b)
    assert "device" not in cmp.columns
    assert significant_changes(cmp).iloc[0].direction == "faster"


def test_tables_show_parameters_and_percent_and_csv_keeps_fractions():
    cmp = compare_runs(run(1), run(2, slower={80}, factor=1.25))
    text = render_table(comparison_table(cmp), "md")
    assert "conv2d cin=80" in text and "%" in text and '"cin"' not in text
    assert "shift" in text.lower()
    csv = csv_frame(cmp)
    assert {"config", "change_net", "ci_low", "ci_high", "q_value", "verdict"} <= set(csv.columns)
    row = csv[csv["config"].str.contains("cin=80 ")].iloc[0]
    # the shape is named even where it is the op's default (kernel 3), so rows read on their own
    assert "kernel=3" in row.config and "resolution=28" in row.config and "cout=32" in row.config
    assert row.change_net == pytest.approx(0.25, abs=0.08) and row.ci_low < row.change_net < row.ci_high


def test_runs_that_differ_in_protocol_runtime_device_or_format_are_named():
    base = {"protocol": {"min_runs": 15}, "runtime": "onnxruntime", "device_name": "local-cpu",
            "device": {"definition": {"name": "local-cpu"}}, "format": "onnx",
            "environment": {"agent": {"runtimes": {"onnxruntime": "1.32.0"}, "cpu_model": "AMD EPYC"}}}
    assert incomparable(base, base) == []
    other = {**base, "protocol": {"min_runs": 20}, "format": "tflite",
             "environment": {"agent": {"runtimes": {"onnxruntime": "1.31.0"}, "cpu_model": "AMD EPYC"}}}
    differ = incomparable(base, other)
    assert "protocol.min_runs: 15 vs 20" in differ
    assert any(d.startswith("runtime version") and "1.31.0" in d for d in differ)
    assert any(d.startswith("format") for d in differ)
