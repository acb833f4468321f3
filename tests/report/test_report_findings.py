import pytest

from suite.analysis import detect_all
from suite.analysis.synthetic import study_frame
from suite.report import findings_table


@pytest.fixture(scope="module")
def study():
    df = study_frame(2000, seed=5)
    return df, detect_all(df)


def test_one_row_per_finding_one_column_per_device(study):
    df, anomalies = study
    t = findings_table(df, anomalies)
    assert list(t.index) == [f"F{i}" for i in range(1, 8)]
    assert list(t.columns) == ["title", "cpu-a76", "mali-gpu", "rk3588-npu"]
    assert t.loc["F1", "rk3588-npu"].startswith("yes: steps every 16 cout")
    assert t.loc["F1", "mali-gpu"].startswith("yes: steps every 8 cout")
    assert t.loc["F1", "cpu-a76"] == "no"
    assert t.loc["F5", "mali-gpu"] == "yes: int8 30% slower"
    assert t.loc["F5", "cpu-a76"] == "no: int8 2.50x"
    assert t.loc["F2", "rk3588-npu"].startswith("yes: swish +9")
    assert t.loc["F6", "rk3588-npu"].startswith("yes: int8 20")
    assert t.loc["F7", "cpu-a76"] == f"no: all {df.loc[df['device'] == 'cpu-a76', 'point_id'].nunique()} points ran"


def test_support_cell_says_what_was_observed_when_points_failed_for_other_reasons(study):
    df, _ = study
    cpu = df[df["device"] == "cpu-a76"].copy()
    points = cpu["point_id"].unique()
    cpu.loc[cpu["point_id"].isin(points[:3]), "status"] = "build_error"
    cpu.loc[cpu["point_id"].isin(points[3:4]), "status"] = "timeout"
    cell = findings_table(cpu, detect_all(cpu)).loc["F7", "cpu-a76"]
    assert cell == f"no: {len(points) - 4} of {len(points)} points ran; the others failed otherwise (build_error 3, timeout 1)"
    cpu["status"] = "build_error"
    assert findings_table(cpu, detect_all(cpu)).loc["F7", "cpu-a76"] == \
        f"not measured: no point ran (build_error {len(points)})"
    cpu["status"] = "unsupported"
    assert findings_table(cpu, detect_all(cpu)).loc["F7", "cpu-a76"].startswith("yes: ")


def test_untestable_findings_say_not_measured(study):
    df, _ = study
    conv = df[(df["sweep"] == "conv_channels") & (df["dtype"] == "fp32")]
    t = findings_table(conv, [])
    assert t.loc["F5", "cpu-a76"] == "not measured" and t.loc["F2", "cpu-a76"] == "not measured"
    assert t.loc["F1", "cpu-a76"] == "no"


def test_a_finding_the_noise_leaves_undecided_is_unresolved_not_yes_or_no():
    from suite.analysis.synthetic import activation_rounds_frame
    from suite.report.findings import cell_state

    df = activation_rounds_frame({"relu6": [1.32, 1.30, 1.01]})
    t = findings_table(df, detect_all(df))
    assert t.loc["F2", "cpu"].startswith("unresolved: relu6")
    assert cell_state(t.loc["F2", "cpu"]) == "unresolved"
    df = activation_rounds_frame({"relu6": [1.32, 1.30, 1.33]})
    assert cell_state(findings_table(df, detect_all(df)).loc["F2", "cpu"]) == "yes"
    assert [cell_state(c) for c in ("no: at most +1%", "not measured", "yes: x", "n/a: emulated timings are no latency")] \
        == ["no", "not measured", "yes", "n/a"]


def test_a_device_whose_timings_are_emulated_is_labelled_and_shows_no_latency_finding(study):
    from suite.analysis import detect_all

    df, _ = study
    df = df.copy()
    df["timing"] = "measured"
    df.loc[df["device"] == "rk3588-npu", "timing"] = "emulated"
    t = findings_table(df, detect_all(df))
    assert list(t.columns) == ["title", "cpu-a76", "mali-gpu", "rk3588-npu (emulated)"]
    for finding in ("F1", "F2", "F3", "F4", "F5"):
        assert t.loc[finding, "rk3588-npu (emulated)"] == "n/a: emulated timings are no latency"
    assert t.loc["F6", "rk3588-npu (emulated)"].startswith("yes: int8 20")  # outputs stay valid
    assert t.loc["F1", "mali-gpu"].startswith("yes: steps every 8 cout")  # the other devices are unchanged
