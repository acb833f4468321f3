"""The published site shows what ``hwbehave analyse`` and ``hwbehave findings`` say about the same runs."""

from __future__ import annotations

import html
import io
import re

import pandas as pd
import pytest

from suite.cli.main import main
from suite.devices.config import Device
from suite.farm.history import PointHistory, point_label
from suite.farm.publish import _history_plot
from suite.pipeline import run_sweep
from suite.sweep.expand import load_sweep

SWEEP = """name: publish-real
fixed: {resolution: 14}
measure: {rounds: 2, sentinel_every: 0, confirm_s: 0, warmup_runs: 1, warmup_s: 0.0, min_runs: 5, min_s: 0.01,
          max_s: 0.1}
parts:
  - op: conv2d
    fixed: {cin: 8, kernel: 3}
    axes: {cout: {range: [8, 24, 4]}}
  - op: conv2d
    fixed: {cin: 8, cout: 8}
    axes: {activation: [none, relu, mish]}
"""

#: Peaks far above what any CPU attains: with them every op is far below "the device's peak roofline".
PEAKS = {"gflops": 1.0e6, "gbps": 1.0e6}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("publish-real")
    (root / "s.yaml").write_text(SWEEP)
    device = Device.model_validate({"name": "cpu-peaks", "class": "cpu", "runtime": {"threads": 1},
                                    "peaks": PEAKS})
    run_sweep(load_sweep(root / "s.yaml"), device, root / "results" / "run-a")
    assert main(["publish", str(root / "results"), "--out", str(root / "site")]) == 0
    return root


def _cells(page: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", page)
    return [[html.unescape(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r)] for r in rows]


def test_index_shows_the_findings_table_that_findings_prints(site, capsys):
    capsys.readouterr()
    assert main(["findings", str(site / "results"), "--format", "csv"]) == 0
    expected = pd.read_csv(io.StringIO(capsys.readouterr().out))
    index = (site / "site" / "index.html").read_text()
    section = index.split("Latest findings")[1].split("<h2>Anomalies")[0]
    assert "TypeError" not in index and "error" not in section
    rows = {r[0]: r for r in _cells(section) if r and re.fullmatch(r"F[1-7]", r[0])}
    assert sorted(rows) == [f"F{i}" for i in range(1, 8)]
    verdicts = expected.set_index("finding")["cpu-peaks"]
    for finding, cell in verdicts.items():
        assert cell in rows[finding], (finding, cell, rows[finding])
    # a real verdict of this real run: F7 is decided (every point ran) and says so
    assert rows["F7"][-1].startswith("no:") and "ran" in rows["F7"][-1]


def test_index_anomalies_come_from_the_analysis_with_the_device_peaks(site, capsys):
    out = site / "all.parquet"
    assert main(["analyse", str(site / "results"), "--out", str(out)]) == 0
    analysed = pd.read_parquet(out)
    index = html.unescape((site / "site" / "index.html").read_text())
    assert len(analysed) and all(m in index for m in analysed["message"].head(50))
    assert "the device's peak roofline" in index  # the manifest's peaks reached the roofline detector


def _history(runs: int) -> PointHistory:
    stamps = tuple(f"2026-01-0{i + 1}T00:00:00+00:00" for i in range(runs))
    return PointHistory(sweep="s", point_id="p", op="mbv2_block", dtype="fp32", params={"channels": 16},
                        runs=tuple(f"r{i}" for i in range(runs)), created_at=stamps,
                        latency_ms=pd.Series([1.0] * runs).to_numpy(), half_ms=pd.Series([0.01] * runs).to_numpy())


def test_a_single_run_draws_no_history_plot_and_the_page_says_why(site, tmp_path):
    assert not _history_plot([_history(1)], [], tmp_path / "one.png", "one run")
    assert not (tmp_path / "one.png").exists()
    assert _history_plot([_history(2)], [], tmp_path / "two.png", "two runs")
    page = (site / "site" / "devices" / "cpu-peaks.html").read_text()
    assert "One run so far" in page and "history.png" not in page


def test_labels_leave_out_parameters_a_point_does_not_have():
    assert point_label("mbv2_block", {"channels": 16}, "fp32", ["activation", "bias", "channels"]) \
        == "mbv2_block channels=16 fp32"
    assert point_label("conv2d", {"cout": 8, "activation": None}, "int8") == "conv2d cout=8 int8"


def test_a_run_of_a_newer_schema_is_left_out_of_the_site_with_a_warning(site, tmp_path, capsys):
    import json
    import shutil

    results = tmp_path / "results"
    shutil.copytree(site / "results", results)
    shutil.copytree(site / "results" / "run-a", results / "run-future")
    manifest = json.loads((results / "run-future" / "manifest.json").read_text())
    (results / "run-future" / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 99}))
    assert main(["publish", str(results), "--out", str(tmp_path / "site")]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "run-future" in err and "schema_version 99" in err
    assert "1 run(s) under" in (tmp_path / "site" / "index.html").read_text()
