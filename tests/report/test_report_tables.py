import pandas as pd
import pytest

from suite.analysis.synthetic import FrameBuilder
from suite.report import FORMATS, Table, render_table
from suite.report.tables import activation_overhead_table, dtype_speedup_table, latex_escape


@pytest.fixture(scope="module")
def frame():
    b = FrameBuilder(0, noise_rel=0.005)
    for dev, hs, int8 in (("npu_a", 0.6, 3.0), ("gpu", 0.05, 0.8)):
        for cin in (16, 32):
            for act, extra in (("none", 0.0), ("hard_swish", hs)):
                p = {"cin": cin, "cout": 32, "kernel": 3, "resolution": 28, "activation": act}
                b.add(dev, "acts", "conv2d", p, "fp32", 2.0 * (1 + extra))
                b.add(dev, "acts", "conv2d", p, "int8", 2.0 * (1 + extra) / int8)
    return b.frame()


def test_activation_table_shows_intervals_and_marks_in_every_format(frame):
    t = activation_overhead_table(frame)
    npu, gpu = t.frame.loc["hard_swish", "npu_a"], t.frame.loc["hard_swish", "gpu"]
    assert npu.startswith("+60% [") and npu.endswith(" *")  # confirmed: beyond the noise
    assert gpu.startswith("+5% [") and not gpu.endswith("*")  # 5 %: below the 10 % threshold
    md = render_table(t, "md")
    assert "| hard_swish |" in md and "unresolved" in md  # the legend says what the marks mean
    latex = render_table(t, "latex")
    assert r"\toprule" in latex and r"\bottomrule" in latex and r"+60\% [" in latex and r"npu\_a" in latex
    csv = render_table(t, "csv")
    header, row = csv.splitlines()[0].split(","), [line for line in csv.splitlines()
                                                  if line.startswith("hard_swish")][0].split(",")
    got = dict(zip(header, row, strict=True))
    assert float(got["npu_a overhead"]) == pytest.approx(0.6, abs=0.02)
    assert float(got["npu_a overhead_low"]) < 0.6 < float(got["npu_a overhead_high"])
    assert float(got["gpu overhead"]) == pytest.approx(0.05, abs=0.02)
    html = render_table(t, "html")
    assert "+60% [" in html and "<caption>" in html


def test_speedup_table(frame):
    t = dtype_speedup_table(frame)
    assert t.frame.loc[("conv2d", "int8"), "npu_a"].startswith("3.0")
    cell = t.frame.loc[("conv2d", "int8"), "gpu"]
    assert cell.startswith("0.80x [") and cell.endswith(" *")  # a confirmed slowdown
    assert float(t.csv_frame.loc[("conv2d", "int8"), "npu_a speedup"]) == pytest.approx(3.0, rel=0.03)


def test_html_and_latex_escape_and_unknown_format():
    t = Table("x", "a <b> & c_%", pd.DataFrame({"d<1>": ["<script>"]}, index=pd.Index(["r&1"], name="k")))
    html = render_table(t, "html")
    assert "<script>" not in html and "&lt;script&gt;" in html and "a &lt;b&gt; &amp; c_%" in html
    assert latex_escape("a_b%c&d#e$f{g}") == r"a\_b\%c\&d\#e\$f\{g\}"
    with pytest.raises(ValueError, match="md, latex, csv, html"):
        render_table(t, "docx")
    assert FORMATS == ("md", "latex", "csv", "html")
