"""The report's figures as a reader sees them: laid out by headless Chromium, measured in the page.

The step positions expected on the staircase figures come from the synthetic study's planted
rule (latency follows ``ceil(cout / P)``: P = 16 on rk3588-npu, 8 on mali-gpu), not from the
code under test.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest

from suite.analysis import detect_all
from suite.analysis.synthetic import activation_rounds_frame, study_frame
from suite.analysis.uncertainty import UNRESOLVED
from suite.report import write_report
from suite.report.figures import ECDF_QUANTILES, ecdf_points
from tests.report.browser import data_x, inside, measure, overlap

COUTS = list(range(4, 68, 4))  # the study's conv_channels axis
PLANTED_PERIOD = {"rk3588-npu": 16, "mali-gpu": 8}


def planted_steps(period: int) -> set[float]:
    """Midpoints between the last cout of one plateau and the first of the next."""
    return {(a + b) / 2 for a, b in zip(COUTS, COUTS[1:]) if math.ceil(a / period) != math.ceil(b / period)}


def grey(css: str) -> bool:
    """Whether a computed CSS colour is a grey (r = g = b, not black or white)."""
    m = re.fullmatch(r"rgba?\((\d+), (\d+), (\d+)(, [\d.]+)?\)", css)
    assert m, css
    r, g, b = (int(v) for v in m.groups()[:3])
    return r == g == b and 60 < r < 240


@pytest.fixture(scope="module")
def study():
    df = study_frame(600, seed=2)
    return df, detect_all(df)


@pytest.fixture(scope="module")
def page(study, tmp_path_factory):
    """The study report, with rk3588-npu's staircase made unresolved (as if the noise had left it
    undecided), laid out at 1280 px."""
    df, anomalies = study
    anomalies = [dataclasses.replace(a, verdict=UNRESOLVED)
                 if a.kind == "staircase" and a.device == "rk3588-npu" else a for a in anomalies]
    out = tmp_path_factory.mktemp("figures")
    paths = write_report(df, anomalies, out, max_figures=12)  # every (device, sweep)
    return paths, measure(paths["html"], out)


def by_title(page, text: str) -> dict:
    hits = [f for f in page[1]["figures"] if text in f["title"]]
    assert len(hits) == 1, [f["title"] for f in page[1]["figures"]]
    return hits[0]


def test_the_report_has_every_kind_of_figure(page):
    kinds = [f["kind"] for f in page[1]["figures"]]
    assert kinds[0] == "findings"
    for kind in ("latency", "overhead", "speedup", "devices", "distribution"):
        assert kind in kinds, kinds
    assert kinds.count("latency") == 12  # 3 devices x 4 sweeps


def test_the_page_opens_with_findings_and_figures_and_keeps_the_anomaly_table_collapsed(page):
    m = page[1]
    s = m["sections"]
    assert s["findings"] < s["latency"] < s["overhead"] < s["anomalies"]
    first = m["figures"][0]
    assert first["kind"] == "findings" and first["svg"][1] < s["latency"]
    # the full anomaly list is there, but collapsed: a line on the page until opened
    anomalies = [d for d in m["details"] if "anomalies" in d["text"]]
    assert anomalies and not anomalies[0]["open"]
    assert m["anomalyTable"] is not None  # in the page...
    assert s["environment"] - s["anomalies"] < 150  # ...taking no room
    assert "show the table" in anomalies[0]["text"]


def test_legends_never_cover_the_plot_or_its_labels_and_no_text_is_clipped(page):
    for fig in page[1]["figures"]:
        assert_readable(fig)


def test_a_doubling_axis_and_long_parameter_labels_stay_readable(tmp_path):
    from suite.analysis.synthetic import FrameBuilder

    b = FrameBuilder(3, rounds=3)
    for cout in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512):
        for cin in (3, 24):
            b.add("a-board-with-a-rather-long-name", "doubling", "conv2d",
                  {"cin": cin, "cout": cout, "kernel": 5, "resolution": 112, "stride": 2}, "fp32", 0.2 + cout / 50)
    df = b.frame()
    m = measure(write_report(df, detect_all(df), tmp_path)["html"], tmp_path)
    figs = [f for f in m["figures"] if f["kind"] == "latency"]
    assert figs
    for fig in m["figures"]:
        assert_readable(fig)


def assert_readable(fig: dict) -> None:
    """No legend over the plot or a label, no text outside the figure, no colliding x tick labels."""
    legend = fig["legend"]
    assert legend is not None, fig["title"]
    for part in ("axes", "xlabel", "ylabel", "y2label"):
        assert not overlap(legend, fig[part]), (fig["title"], part)
    for t in fig["texts"]:
        assert inside(t["box"], fig["svg"]), (fig["title"], t["text"], t["box"], fig["svg"])
        if not t["legend"]:
            assert not overlap(legend, t["box"]), (fig["title"], t["text"])
    ticks = sorted((t["box"] for t in fig["xticks"]), key=lambda b: b[0])
    for a, b in zip(ticks, ticks[1:]):
        assert not overlap(a, b), (fig["title"], "x tick labels overlap")




def test_text_is_large_enough_to_read(page):
    for fig in page[1]["figures"]:
        heights = [t["box"][3] - t["box"][1] for t in fig["texts"] if t["text"].strip()]
        assert min(heights) >= 12, (fig["title"], min(heights))  # CSS px at 1280 px wide
        assert fig["svg"][2] - fig["svg"][0] >= 700, fig["title"]


@pytest.mark.parametrize("device", ["mali-gpu", "rk3588-npu"])
def test_steps_are_marked_where_the_planted_staircase_steps(page, device):
    fig = by_title(page, f"{device} · conv_channels: latency vs cout")
    steps = [mk for mk in fig["marks"] if mk["id"].startswith("step-")]
    at = {round(data_x(fig, (mk["box"][0] + mk["box"][2]) / 2), 1) for mk in steps}
    assert at == planted_steps(PLANTED_PERIOD[device])
    cpu = by_title(page, "cpu-a76 · conv_channels")  # no staircase planted there: nothing marked
    assert not [mk for mk in cpu["marks"] if mk["id"].startswith("step-")]


def test_unresolved_steps_are_grey_dashed_and_labelled_confirmed_ones_are_not(page):
    unresolved = by_title(page, "rk3588-npu · conv_channels")
    confirmed = by_title(page, "mali-gpu · conv_channels")
    u = [mk for mk in unresolved["marks"] if mk["id"].startswith("step-")]
    c = [mk for mk in confirmed["marks"] if mk["id"].startswith("step-")]
    assert u and all(mk["id"].startswith("step-unresolved-") for mk in u)
    assert all(grey(mk["stroke"]) and mk["dash"] != "none" for mk in u)
    assert c and all(mk["id"].startswith("step-confirmed-") for mk in c)
    assert all(not grey(mk["stroke"]) and mk["dash"] == "none" for mk in c)
    texts = [t["text"] for t in unresolved["texts"]]
    assert any("unresolved" in t for t in texts if t)  # the legend says what grey means
    assert any(t.endswith("?") for t in texts)  # and each step label carries the mark
    assert not any("unresolved" in t["text"] for t in confirmed["texts"])
    plateaus = [mk for mk in unresolved["marks"] if mk["id"].startswith("plateau-")]
    assert plateaus and all(grey(mk["stroke"]) for mk in plateaus)


def test_overhead_and_speedup_bars_carry_intervals(page):
    for fig in [f for f in page[1]["figures"] if f["kind"] in ("overhead", "speedup")]:
        bars = [mk for mk in fig["marks"] if mk["id"].startswith("bar-")]
        intervals = {mk["id"].removeprefix("interval-") for mk in fig["marks"] if mk["id"].startswith("interval-")}
        assert bars, fig["title"]
        assert {"-".join(mk["id"].split("-")[1:3]) for mk in bars} == intervals, fig["title"]
    fp32 = by_title(page, "activation vs none (fp32)")
    # rk3588-npu's hard_swish adds +60 %: its bar reaches far right of the others
    assert any("rk3588-npu" == t["text"] for t in fp32["texts"])


def test_heat_map_cells_follow_the_findings_table(page, study):
    from suite.report import findings_table
    from suite.report.findings import cell_state

    df, _ = study
    fig = page[1]["figures"][0]
    cells = {tuple(int(v) for v in mk["id"].split("-")[1:3]): mk["id"].split("-", 3)[3]
             for mk in fig["marks"] if mk["id"].startswith("cell-")}
    # the unresolved staircase of rk3588-npu is an unresolved F1 cell, drawn hatched grey
    table = findings_table(df, [dataclasses.replace(a, verdict=UNRESOLVED)
                                if a.kind == "staircase" and a.device == "rk3588-npu" else a for a in detect_all(df)])
    devices = [c for c in table.columns if c != "title"]
    for r, dev in enumerate(devices):
        for c, finding in enumerate(table.index):
            assert cells[(r, c)] == cell_state(table.loc[finding, dev]).replace(" ", "-").replace("/", "-")
    assert cells[(devices.index("rk3588-npu"), 0)] == "unresolved"


def test_an_unresolved_overhead_is_a_hatched_grey_bar(tmp_path):
    df = activation_rounds_frame({"relu6": [1.32, 1.30, 1.01], "hard_swish": [1.30, 1.31, 1.29]})
    paths = write_report(df, detect_all(df), tmp_path)
    floor = float(df["noise_floor_rel"].max())
    assert f"Run noise floor (no effect below it is claimed): cpu {floor:.1%}." in paths["html"].read_text()
    m = measure(paths["html"], tmp_path)
    fig = next(f for f in m["figures"] if f["kind"] == "overhead")
    bars = {mk["id"]: mk for mk in fig["marks"] if mk["id"].startswith("bar-")}
    states = {i.rsplit("-", 1)[1] for i in bars}
    assert states == {"unresolved", "confirmed"}
    for i, mk in bars.items():
        if i.endswith("unresolved"):
            assert mk["fill"].startswith("url(")  # a hatch pattern, not a plain colour
        else:
            assert mk["fill"].startswith("rgb(") and not grey(mk["fill"])
    assert any("unresolved" in t["text"] for t in fig["texts"])


def test_estimated_timings_are_labelled_and_drawn_apart_from_measured_ones(study, tmp_path):
    df, _ = study
    df = df.copy()
    df["timing"] = np.where(df["device"] == "rk3588-npu", "estimated", "measured")
    paths = write_report(df, detect_all(df), tmp_path, max_figures=2)
    m = measure(paths["html"], tmp_path)
    assert [f["kind"] for f in m["figures"]].count("latency") == 2  # max_figures
    overlays = [f for f in m["figures"] if f["kind"] == "devices"]
    assert overlays
    for fig in overlays:
        lines = {mk["id"]: mk for mk in fig["marks"] if mk["id"].startswith("device-")}
        legend = [t["text"] for t in fig["texts"] if t["legend"]]
        assert "rk3588-npu (estimated)" in legend and "rk3588-npu" not in legend
        dashed = [i for i, mk in lines.items() if mk["dash"] != "none"]
        assert dashed and all(i.endswith("-unmeasured") for i in dashed)
        assert all(mk["dash"] == "none" for i, mk in lines.items() if not i.endswith("-unmeasured"))
    # no figure shows the estimate under the measured device's name
    assert not any(t["text"] == "rk3588-npu" for f in m["figures"] for t in f["texts"])


def test_ecdf_of_many_samples_keeps_quantiles_and_both_tails():
    rng = np.random.default_rng(0)
    samples = np.exp(rng.normal(0, 0.1, 20_000))
    x, y = ecdf_points(samples)
    assert len(x) == ECDF_QUANTILES and x[0] == samples.min() and x[-1] == samples.max()
    assert np.all(np.diff(x) >= 0) and np.all(np.diff(y) > 0) and y[-1] == 1.0
    assert np.interp(0.5, y, x) == pytest.approx(np.median(samples), rel=0.01)
    few = np.array([3.0, 1.0, 2.0])
    assert ecdf_points(few)[0].tolist() == [1.0, 2.0, 3.0] and ecdf_points(few)[1].tolist() == [1 / 3, 2 / 3, 1.0]


def test_distributions_draw_the_raw_samples(page, study):
    df, _ = study
    figs = [f for f in page[1]["figures"] if f["kind"] == "distribution"]
    assert figs
    for fig in figs:
        curves = [mk for mk in fig["marks"] if mk["id"].startswith("ecdf-")]
        assert 2 <= len(curves) <= 5
        labels = [t["text"] for t in fig["texts"] if t["legend"]]
        # each point is labelled with its number of raw samples: every round's (15 per synthetic point)
        assert all(re.search(r"\((\d+) samples\)", t) for t in labels)
        assert {int(re.search(r"\((\d+) samples\)", t).group(1)) for t in labels} == {len(df["samples_ms"].iloc[0])}


def test_readme_screenshots_exist_and_stay_small(repo):
    readme = (repo / "README.md").read_text()
    shots = re.findall(r"\]\((docs/img/[^)]+\.png)\)", readme)
    assert len(shots) >= 5
    sizes = [(repo / s).stat().st_size for s in shots]  # a missing file fails here
    assert all((repo / s).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for s in shots)
    assert sum(sizes) <= 600 * 1024


def test_devices_with_the_same_verdicts_share_a_heat_map_row():
    import pandas as pd

    from suite.report.figures import findings_heatmap

    cells = {"board-a": ["yes: steps of 16", "no"], "board-b": ["yes: steps of 16", "no"],
             "sim (estimated)": ["unresolved: steps?", "n/a: estimated timings are no latency"]}
    frame = pd.DataFrame({"title": ["F1", "F2"], **cells}, index=pd.Index(["F1", "F2"], name="finding"))
    fig = findings_heatmap(frame)
    ids = re.findall(r'id="fig-findings-(cell-[^"]+)"', fig.svg)
    assert sorted(ids) == ["cell-0-0-yes", "cell-0-1-no", "cell-1-0-unresolved", "cell-1-1-n-a"]
    assert ">board-a (+1 alike)<" in fig.svg and ">sim (estimated)<" in fig.svg and "board-b" not in fig.svg


def test_a_farm_of_alike_boards_shows_one_board_of_each_class_first(monkeypatch):
    from suite.report import figures
    from suite.report.prepared import prepare

    df = study_frame(4000, seed=3)  # two replicas of each of the three boards: -r000, -r001
    assert df["device"].nunique() == 6
    for name in ("MAX_SERIES_PER_FIGURE", "MAX_BAR_DEVICES", "MAX_DISTRIBUTIONS"):
        monkeypatch.setattr(figures, name, 3)
    p = prepare(df)
    drawn = figures.device_overlays(p) + figures.overhead_figures(p) + [figures.speedup_figure(p)]
    for fig in drawn:
        names = set(re.findall(r">((?:cpu-a76|mali-gpu|rk3588-npu)-r00\d)<", fig.svg))
        assert {n.rsplit("-", 1)[0] for n in names} == {"cpu-a76", "mali-gpu", "rk3588-npu"}, fig.title
    dist = figures.distribution_figures(p)
    assert {f.title.split(":")[0].rsplit("-", 1)[0] for f in dist} == {"cpu-a76", "mali-gpu", "rk3588-npu"}


def test_figure_titles_name_the_shape_even_at_the_op_defaults():
    from suite.analysis.series import AxisSeries
    from suite.report.figures import _labels

    def series(kernel: int) -> AxisSeries:
        empty = np.empty(0)
        return AxisSeries(key={"op": "conv2d", "dtype": "fp32", "cin": 32, "kernel": kernel, "resolution": 28,
                               "stride": 1}, axis="cout", x=empty, latency_ms=empty, half_ms=empty, macs=empty,
                          flops=empty, bytes_total=empty, point_ids=())

    shared, own = _labels([series(3), series(5)])
    assert shared == "conv2d fp32 cin=32 resolution=28" and own == ["kernel=3", "kernel=5"]  # stride 1: a default
