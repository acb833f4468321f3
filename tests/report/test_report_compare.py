import numpy as np
import pytest

from suite.analysis.synthetic import FrameBuilder
from suite.report import compare_runs, significant_changes
from suite.report.compare import benjamini_hochberg, comparison_table


def run(seed, shift_cin=None, shift=1.0, n_points=40):
    b = FrameBuilder(seed, noise_rel=0.03, n_samples=30)
    for cin in range(8, 8 + 8 * n_points, 8):
        t = 1.0 + cin / 100
        b.add("npu", "s", "conv2d", {"cin": cin, "cout": 32, "kernel": 3, "resolution": 28}, "fp32",
              t * (shift if cin == shift_cin else 1.0))
    return b.frame()


def test_planted_shift_is_found_and_nothing_else():
    cmp = compare_runs(run(1), run(2, shift_cin=80, shift=1.10))
    assert len(cmp) == 40
    sig = significant_changes(cmp)
    assert len(sig) == 1
    row = sig.iloc[0]
    assert '"cin":80' in row.params_json and row.direction == "slower"
    assert row.change == pytest.approx(0.10, abs=0.03)
    assert "significant" in comparison_table(cmp).caption.lower()


def test_null_comparison_finds_nothing():
    assert significant_changes(compare_runs(run(10), run(20))).empty
    # BH keeps the chance of any false discovery in a null comparison at about alpha (5 %)
    runs_with_a_hit = sum(not significant_changes(compare_runs(run(100 + s, n_points=20), run(200 + s, n_points=20))).empty
                          for s in range(20))
    assert runs_with_a_hit <= 2


def test_keys_fall_back_to_point_id_across_devices_and_bh():
    a, b = run(1), run(2, shift_cin=16, shift=0.8)
    b["device"] = "gpu"
    cmp = compare_runs(a, b)
    assert "device" not in cmp.columns and significant_changes(cmp).iloc[0].direction == "faster"
    q = benjamini_hochberg(np.array([0.01, 0.04, np.nan, 0.03]))
    assert np.isnan(q[2]) and q[0] == pytest.approx(0.03) and q[1] == pytest.approx(0.04)
