import json

import numpy as np
import pandas as pd
import pytest

from suite.analysis import DETECTOR_NAMES, anomalies_to_frame, detect_all
from suite.analysis.confirm import points_to_confirm
from suite.analysis.elasticity import find_cost_mismatch
from suite.analysis.monotonic import find_non_monotonic
from suite.analysis.overhead import find_overheads, overhead_frame
from suite.analysis.precision import find_dtype_slowdowns, find_quant_errors, quant_error_frame, speedup_frame
from suite.analysis.ranking import device_inversions, find_rank_inversions, mac_inversions
from suite.analysis.roofline import find_low_efficiency, roofline_frame
from suite.analysis.support import find_support_issues, support_matrix
from suite.analysis.synthetic import (
    FrameBuilder,
    MachineNoise,
    activation_rounds_frame,
    add_axis_series,
    conv_cost,
    noise_frame,
    planted_frame,
    planted_series,
    study_frame,
)


@pytest.fixture(scope="module")
def study():
    return study_frame(2000, seed=3)


@pytest.fixture(scope="module")
def study_anomalies(study):
    return detect_all(study)


def test_non_monotonic_dip_is_found():
    values = [8, 16, 24, 32, 40, 48]
    lat = [1.0, 2.0, 3.0, 2.2, 5.0, 6.0]  # 32 channels runs faster than 24
    b = FrameBuilder(0, noise_rel=0.01)
    add_axis_series(b, "gpu", "ch", "cout", values, lat)
    [a] = find_non_monotonic(b.frame())
    ev = a.evidence
    assert (ev["cheap"], ev["costly"]) == (24, 32)
    assert a.magnitude == pytest.approx(1 - 2.2 / 3.0, abs=0.03)
    assert "32 runs" in a.message and "faster than with 24" in a.message


def test_dip_within_ci_is_not_reported():
    values = [8, 16, 24, 32]
    b = FrameBuilder(0, noise_rel=0.30, n_samples=5)
    add_axis_series(b, "gpu", "ch", "cout", values, [1.0, 1.0, 1.05, 1.0])
    assert find_non_monotonic(b.frame()) == []


def kernel_series(latency_of_k, device="dev", seed=0):
    b = FrameBuilder(seed, noise_rel=0.01)
    ks = [1, 3, 5, 7]
    fixed = {"cin": 32, "cout": 32, "resolution": 28}
    lats = [latency_of_k(k, conv_cost({**fixed, "kernel": k}, "fp32")["macs"]) for k in ks]
    add_axis_series(b, device, "kernel", "kernel", ks, lats, fixed=fixed)
    return b.frame()


def test_elasticity_below_threshold_is_f4():
    df = kernel_series(lambda k, macs: 1.0 + 0.05 * k)  # kernel nearly free
    [a] = find_cost_mismatch(df)
    assert a.finding == "F4" and a.at == "below" and a.axis == "kernel"
    assert a.evidence["elasticity"] < 0.2
    assert "MACs overstate" in a.message


def test_elasticity_above_threshold_and_proportional_cost():
    above = kernel_series(lambda k, macs: 1e-6 * macs ** 2 / 1e5)
    [a] = find_cost_mismatch(above)
    assert a.at == "above" and a.evidence["elasticity"] == pytest.approx(2.0, abs=0.05)
    assert find_cost_mismatch(kernel_series(lambda k, macs: 1e-5 * macs)) == []


def test_activation_overhead_significant_and_negligible():
    b = FrameBuilder(0, noise_rel=0.01)
    for cin in (16, 32, 64):
        for act, extra in (("none", 0.0), ("relu", 0.01), ("hard_swish", 0.6)):
            b.add("npu", "acts", "conv2d", {"cin": cin, "cout": 32, "kernel": 3, "resolution": 28, "activation": act},
                  "fp32", 1.0 * cin / 16 * (1 + extra))
    df = b.frame()
    [a] = find_overheads(df)
    assert (a.finding, a.kind, a.at) == ("F2", "activation_overhead", "hard_swish")
    assert a.magnitude == pytest.approx(0.6, abs=0.05)
    frame = overhead_frame(df)
    relu = frame[frame["level"] == "relu"]
    assert len(relu) == 3 and not relu["significant"].any()


def test_block_switch_and_op_overhead_are_f3(study_anomalies):
    se = [a for a in study_anomalies if a.kind == "switch_overhead"]
    assert {a.device for a in se} == {"rk3588-npu"}
    assert all(a.finding == "F3" and a.at == "True" and a.axis == "se" for a in se)
    assert se[0].magnitude == pytest.approx(1.5, abs=0.1)


def test_int8_slower_than_fp32():
    b = FrameBuilder(0, noise_rel=0.01)
    for cin in (16, 32, 64):
        p = {"cin": cin, "cout": 32, "kernel": 3, "resolution": 28}
        b.add("gpu", "s", "conv2d", p, "fp32", 1.0)
        b.add("gpu", "s", "conv2d", p, "int8", 1.3)
        b.add("cpu", "s", "conv2d", p, "fp32", 1.0)
        b.add("cpu", "s", "conv2d", p, "int8", 0.4)
    df = b.frame()
    [a] = find_dtype_slowdowns(df)
    assert (a.device, a.finding, a.at) == ("gpu", "F5", "int8")
    assert a.magnitude == pytest.approx(0.3, abs=0.03)
    sp = speedup_frame(df)
    assert sp[sp.device == "cpu"]["speedup"].median() == pytest.approx(2.5, rel=0.05)


def test_quant_error_uses_output_samples():
    rng = np.random.default_rng(0)
    b = FrameBuilder(0)
    for cin in (16, 32):
        p = {"cin": cin, "cout": 32, "kernel": 3, "resolution": 28}
        ref = rng.standard_normal(512)
        b.add("npu", "s", "conv2d", p, "fp32", 1.0, output=ref)
        b.add("npu", "s", "conv2d", p, "int8", 0.5, output=ref + 0.2 * rng.standard_normal(512))
        b.add("npu", "s", "conv2d", p, "fp16", 0.7, output=ref + 0.001 * rng.standard_normal(512))
        b.add("cpu", "s", "conv2d", p, "int8", 0.5, output=ref + 0.02 * rng.standard_normal(512))
    df = b.frame()
    frame = quant_error_frame(df)
    assert set(frame.reference_device) == {"npu"}  # cpu has no fp32 of its own: npu's is used
    [a] = find_quant_errors(df)
    assert (a.device, a.finding, a.at) == ("npu", "F6", "int8")
    assert a.magnitude == pytest.approx(0.2, abs=0.03)
    assert json.loads(df["output_json"].iloc[0])["sample"].__len__() == 256


def test_nonfinite_outputs_are_reported():
    b = FrameBuilder(0)
    p = {"cin": 8, "cout": 8, "kernel": 3, "resolution": 8}
    ref = np.linspace(-1, 1, 64)
    b.add("npu", "s", "conv2d", p, "fp32", 1.0, output=ref)
    b.add("npu", "s", "conv2d", p, "fp16", 1.0, output=np.where(ref > 0.5, np.inf, ref))
    [a] = find_quant_errors(b.frame())
    assert a.magnitude == 1.0 and "non-finite" in a.message


def test_support_matrix_and_f7(study):
    m = support_matrix(study)
    cell = m[(m.device == "rk3588-npu") & (m.op == "conv2d") & (m.dtype == "int8")].iloc[0]
    assert cell.unsupported == 20 and cell.fallback == 10 and cell.verdict == "mixed"
    assert cell.fallback_ops == "Mul,Sigmoid"
    assert set(m[m.device == "cpu-a76"].verdict) == {"ran"}
    found = find_support_issues(study)
    unsupported = [a for a in found if a.kind == "unsupported"]
    assert len(unsupported) == 1 and "activation=gelu, mish" in unsupported[0].message
    assert all(a.finding == "F7" for a in found)


def test_rank_inversions_between_devices_and_vs_macs():
    b = FrameBuilder(0, noise_rel=0.01)
    configs = [{"cin": c, "cout": 32, "kernel": k, "resolution": 28} for c in (16, 32) for k in (1, 3, 5, 7)]
    for p in configs:
        macs = conv_cost(p, "fp32")["macs"]
        b.add("cpu", "s", "conv2d", p, "fp32", 1e-5 * macs)
        b.add("gpu", "s", "conv2d", p, "fp32", 1.0 + p["cin"] / 16 - 0.05 * p["kernel"])  # kernel free, cin costly
    df = b.frame()
    inv = device_inversions(df)
    assert inv.iloc[0].inverted > 0
    macs_inv = mac_inversions(df).set_index("device")
    assert macs_inv.loc["cpu", "inverted"] == 0 and macs_inv.loc["gpu", "inverted"] > 0
    kinds = {a.kind for a in find_rank_inversions(df)}
    assert kinds == {"rank_inversion_devices", "rank_inversion_macs"}


def test_roofline_with_given_and_estimated_peaks(study):
    est = roofline_frame(study)
    assert (est.groupby(["device", "dtype"])["efficiency"].max().round(6) <= 1.0).all()
    given = roofline_frame(study, peaks={"cpu-a76": {"gflops": 1e6, "gbps": 1e6}})
    cpu = given[given.device == "cpu-a76"]
    assert set(cpu.peak_source) == {"given"} and (cpu.efficiency < 0.01).all()
    low = find_low_efficiency(study, peaks={"cpu-a76": {"gflops": 1e6, "gbps": 1e6}})
    assert any(a.device == "cpu-a76" for a in low)


def test_detect_all_finds_each_planted_finding_on_the_right_device(study_anomalies):
    by = {}
    for a in study_anomalies:
        by.setdefault(a.finding, set()).add(a.device)
    assert by["F1"] == {"rk3588-npu", "mali-gpu"}
    assert by["F2"] == {"rk3588-npu"}
    assert by["F3"] == {"rk3588-npu"}
    assert "mali-gpu" in by["F4"]
    assert by["F5"] == {"mali-gpu"}
    assert by["F6"] == {"rk3588-npu"}
    assert by["F7"] == {"rk3588-npu"}
    assert not [a for a in study_anomalies if a.device == "cpu-a76"]  # the clean device stays clean
    confirmed = [a for a in study_anomalies if a.verdict == "confirmed"]
    assert study_anomalies[:len(confirmed)] == confirmed  # confirmed first, then unresolved
    mags = [a.magnitude for a in confirmed]
    assert mags == sorted(mags, reverse=True)
    periods = {a.device: a.evidence["period"] for a in study_anomalies if a.finding == "F1"}
    assert periods == {"rk3588-npu": 16, "mali-gpu": 8}


def test_detect_all_on_noise_raises_nothing_and_rejects_unknown_names():
    # latency proportional to MACs (slope 1 per point along cout = 4, 8, 12...), 3 % noise
    df = noise_frame(20, n_points=12, seed=11, noise_rel=0.03, slope=1.0)
    assert detect_all(df) == []
    with pytest.raises(ValueError, match="staircase"):
        detect_all(df, only=["nope"])
    assert len(DETECTOR_NAMES) == 9


def test_detectors_accept_empty_and_all_failed_frames():
    b = FrameBuilder(0)
    b.add("npu", "s", "conv2d", {"cin": 8, "cout": 8, "kernel": 3, "resolution": 8}, "int8", status="crashed",
          error="onnxruntime: segfault")
    df = b.frame()
    found = detect_all(df)
    assert [a.kind for a in found] == ["failed"] and "segfault" in found[0].message
    assert detect_all(df.iloc[:0]) == []
    assert isinstance(support_matrix(df.iloc[:0]), pd.DataFrame)


def test_a_single_configuration_claim_needs_its_rounds_to_agree():
    # relu6 "adds 32 %": two of its three rounds ran in a slow spell, one did not
    df = activation_rounds_frame({"relu6": [1.32, 1.30, 1.01], "hard_swish": [1.58, 1.61, 1.60], "relu": [1.01, 1.0, 1.02]})
    found = {a.at: a for a in find_overheads(df)}
    assert found["hard_swish"].verdict == "confirmed" and found["hard_swish"].finding == "F2"
    assert found["relu6"].verdict == "unresolved" and "unresolved at this noise level" in found["relu6"].message
    assert found["relu6"].evidence["confirm_jobs"]  # the pair to re-measure
    assert "relu" not in found  # 1 %: negligible, no anomaly at all


def test_no_overhead_is_claimed_below_the_noise_floor():
    df = activation_rounds_frame({"hard_swish": [1.15, 1.16, 1.15]})
    assert [a.verdict for a in find_overheads(df)] == ["confirmed"]
    [a] = find_overheads(df.assign(noise_floor_rel=0.2))
    assert a.verdict == "unresolved" and "noise floor" in a.message


def test_dtype_slowdown_of_one_configuration_with_disagreeing_rounds_is_unresolved():
    b = FrameBuilder(0, rounds=3, noise=MachineNoise(sample_rel=0.01, round_rel=0.004))
    p = {"cin": 32, "cout": 32, "kernel": 3, "resolution": 28}
    b.add("gpu", "s", "conv2d", p, "fp32", 1.0)
    b.add("gpu", "s", "conv2d", p, "int8", 1.3)
    df = b.frame()
    assert [a.verdict for a in find_dtype_slowdowns(df)] == ["confirmed"]
    i = df.index[df["dtype"] == "int8"][0]
    df.at[i, "round_median_ms"], df.at[i, "median_ms"] = [1.3, 1.31, 0.98], 1.3
    assert [a.verdict for a in find_dtype_slowdowns(df)] == ["unresolved"]


FALSE_DIP_RATE = 0.05


def test_false_non_monotonic_on_planted_monotone_series():
    rng = np.random.default_rng(5)
    cases = [c for kind in ("smooth", "staircase") for c in (planted_series(rng, kind) for _ in range(30))
             if len(c.values) >= 4]
    df = planted_frame(cases, seed=5)
    claimed = {a.device for a in find_non_monotonic(df) if a.verdict == "confirmed"}
    assert len(claimed) / len(cases) <= FALSE_DIP_RATE


def test_a_dip_measured_in_a_slow_spell_is_not_claimed():
    values = [8, 16, 24, 32, 40, 48]
    b = FrameBuilder(0, rounds=3, noise=MachineNoise(sample_rel=0.01, round_rel=0.004))
    add_axis_series(b, "gpu", "ch", "cout", values, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    df = b.frame()
    i = df.index[df["cout"] == 24][0]  # 24 measured slow in two rounds: it looks slower than 32
    df.at[i, "round_median_ms"], df.at[i, "median_ms"] = [4.6, 3.0, 4.5], 4.5
    assert all(a.verdict != "confirmed" for a in find_non_monotonic(df))


def test_points_to_confirm_lists_the_unresolved_candidates_only():
    df = activation_rounds_frame({"relu6": [1.32, 1.30, 1.01], "hard_swish": [1.58, 1.61, 1.60]})
    jobs = points_to_confirm(df)
    relu6 = df.loc[df["activation"] == "relu6", "job_id"].item()
    none = df.loc[df["activation"] == "none", "job_id"].item()
    assert relu6 in jobs and none in jobs
    assert df.loc[df["activation"] == "hard_swish", "job_id"].item() not in jobs
    assert points_to_confirm(df.iloc[:0]) == []


def test_anomaly_table_carries_the_verdict():
    df = activation_rounds_frame({"relu6": [1.32, 1.30, 1.01], "hard_swish": [1.58, 1.61, 1.60]})
    table = anomalies_to_frame(detect_all(df))
    assert "verdict" in table.columns and set(table["verdict"]) == {"confirmed", "unresolved"}


def test_detect_all_reports_the_seconds_of_each_stage_it_ran():
    df = study_frame(600, seed=4)
    every: dict[str, float] = {}
    assert anomalies_to_frame(detect_all(df, timings=every)).equals(anomalies_to_frame(detect_all(df)))
    assert set(every) == {"timed", "series", "models", *DETECTOR_NAMES} and all(s >= 0 for s in every.values())
    some: dict[str, float] = {}
    detect_all(df, only=["support"], timings=some)
    assert set(some) == {"timed", "support"}  # no series are built for a detector that needs none


def test_detect_all_gives_the_garbage_collector_back_as_it_found_it():
    import gc

    df = study_frame(300, seed=5)
    assert gc.isenabled()
    detect_all(df)
    assert gc.isenabled()
    gc.disable()
    try:
        detect_all(df)
        assert not gc.isenabled()
    finally:
        gc.enable()
