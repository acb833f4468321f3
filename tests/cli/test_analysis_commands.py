"""The analysis commands on real runs: analyse, report, findings, table, compare."""

from __future__ import annotations

import pandas as pd
import pytest

from suite.analysis import ANOMALY_COLUMNS
from suite.cli.main import main
from suite.devices.config import load_device
from suite.pipeline import run_sweep
from suite.sweep.expand import load_sweep

SWEEP = """name: cli-analysis
fixed: {resolution: 14}
measure: {warmup_runs: 2, warmup_s: 0.0, min_runs: 8, min_s: 0.02, max_s: 0.2}
parts:
  - op: conv2d
    fixed: {cin: 16, kernel: 3}
    axes: {cout: {range: [8, 40, 4]}}
  - op: conv2d
    fixed: {cin: 16, cout: 16}
    axes: {activation: [none, relu, mish]}
    dtypes: [fp32, int8]
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-analysis")
    (root / "s.yaml").write_text(SWEEP)
    sweep = load_sweep(root / "s.yaml")
    out = []
    for name in ("a", "b"):
        run_sweep(sweep, load_device("devices/local-cpu.yaml"), root / name)
        out.append(root / name)
    return out


def test_analyse_writes_anomalies_with_the_contract_columns(runs, capsys):
    assert main(["analyse", str(runs[0])]) == 0
    df = pd.read_parquet(runs[0] / "anomalies.parquet")
    assert list(df.columns) == list(ANOMALY_COLUMNS)
    text = capsys.readouterr().out
    assert "ranked by impact" in text and str(runs[0] / "anomalies.parquet") in text
    if len(df):
        assert (df.magnitude.diff().dropna() <= 0).all()  # ranked, largest first


def test_analyse_of_several_runs_needs_out(runs, tmp_path, capsys):
    assert main(["analyse", str(runs[0]), str(runs[1])]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["analyse", str(runs[0]), str(runs[1]), "--out", str(tmp_path / "all.parquet")]) == 0
    assert (tmp_path / "all.parquet").exists()


def test_report_writes_html_and_markdown(runs, tmp_path, capsys):
    assert main(["report", str(runs[0]), "--out", str(tmp_path / "rep")]) == 0
    html = (tmp_path / "rep" / "report.html").read_text()
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "<html" in html and '<svg aria-label=' in html and 'class="figure"' in html and "cli-analysis" in html
    assert "F1" in md and "local-cpu" in md


def test_findings_has_one_row_per_finding_and_a_device_column(runs, capsys):
    assert main(["findings", str(runs[0]), "--format", "csv"]) == 0
    table = capsys.readouterr().out
    lines = [x for x in table.splitlines() if x.strip()]
    assert "local-cpu" in lines[0]
    assert [x.split(",")[0] for x in lines[1:]] == [f"F{i}" for i in range(1, 8)]


def test_table_renders_booktabs_latex_and_rejects_unknown_names(runs, capsys):
    assert main(["table", str(runs[0]), "--format", "latex"]) == 0
    assert "\\toprule" in capsys.readouterr().out
    assert main(["table", str(runs[0]), "--name", "nope"]) == 2


def test_compare_two_runs(runs, capsys):
    assert main(["compare", str(runs[0]), str(runs[1])]) == 0
    assert "points in both runs" in capsys.readouterr().out


def test_compare_csv_is_nothing_but_the_csv(runs, capsys):
    import csv
    import io

    assert main(["compare", str(runs[0]), str(runs[1]), "--format", "csv", "--all"]) == 0
    out = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and {"config", "change_net", "ci_low", "ci_high", "q_value", "verdict"} <= set(rows[0])
    assert all(r["config"].startswith("conv2d ") for r in rows)  # parameters, not point-id hashes


def test_compare_refuses_runs_with_another_protocol_unless_forced(runs, tmp_path, capsys):
    import json
    import shutil

    other = tmp_path / "other"
    shutil.copytree(runs[1], other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["protocol"]["min_runs"] = manifest["protocol"]["min_runs"] + 1
    (other / "manifest.json").write_text(json.dumps(manifest))
    assert main(["compare", str(runs[0]), str(other)]) == 2
    err = capsys.readouterr().err
    assert "protocol.min_runs" in err and "--force" in err
    assert main(["compare", str(runs[0]), str(other), "--force"]) == 0
    assert "warning" in capsys.readouterr().out
