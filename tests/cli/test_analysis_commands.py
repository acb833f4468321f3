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


def _copy_run(src, dst, **manifest_changes):
    """A copy of run ``src`` at ``dst`` with a new run id (and other manifest fields changed);
    ``sweep`` also renames the sweep in the measurements, as a run of another sweep would have it."""
    import json
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    run_id = manifest["run_id"] + "-copy"
    manifest["run_id"] = run_id
    sweep = manifest_changes.pop("sweep", None)
    if sweep:
        manifest["sweep"]["name"] = sweep
    manifest.update(manifest_changes)
    (dst / "manifest.json").write_text(json.dumps(manifest))
    for name in ("measurements.parquet", "rounds.parquet"):
        table = pq.read_table(dst / name)
        df = table.to_pandas()
        df["run_id"] = run_id
        if sweep and "sweep" in df.columns:
            df["sweep"] = sweep
        pq.write_table(pa.Table.from_pandas(df, schema=table.schema, preserve_index=False), dst / name)
    return run_id


def test_analyse_of_a_folder_writes_into_that_folder(runs, capsys):
    folder = runs[0].parent
    assert main(["analyse", str(folder)]) == 0
    assert (folder / "anomalies.parquet").exists()
    assert f"anomalies: {folder / 'anomalies.parquet'}" in capsys.readouterr().out


def test_a_run_of_a_newer_schema_is_left_out_with_a_warning(runs, tmp_path, capsys):
    import shutil

    shutil.copytree(runs[0], tmp_path / "old")
    _copy_run(runs[0], tmp_path / "future", schema_version=99)
    assert main(["analyse", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "warning:" in captured.err and "future" in captured.err and "schema_version 99" in captured.err
    assert "1 run(s) left out" in captured.out and "in 1 run(s)" in captured.out
    assert main(["analyse", str(tmp_path / "future")]) == 1  # nothing else to analyse: refused, located
    assert "schema_version 99" in capsys.readouterr().err


def test_only_writes_its_own_file_and_leaves_the_full_analysis_alone(runs, capsys):
    full = runs[0] / "anomalies.parquet"
    assert main(["analyse", str(runs[0])]) == 0
    before = pd.read_parquet(full)
    assert main(["analyse", str(runs[0]), "--only", "support", "--only", "roofline"]) == 0
    assert str(runs[0] / "anomalies-support+roofline.parquet") in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_parquet(full), before)
    partial = pd.read_parquet(runs[0] / "anomalies-support+roofline.parquet")
    assert set(partial["kind"]) <= {"unsupported", "fallback", "failed", "low_efficiency"}


def test_the_same_anomaly_in_two_sweeps_is_listed_once_with_where_it_was_seen(runs, tmp_path, capsys):
    import json
    import re

    own = json.loads((runs[0] / "manifest.json").read_text())["run_id"]
    other = _copy_run(runs[0], tmp_path / "other-sweep", sweep="cli-analysis-copy")
    assert main(["analyse", str(runs[0]), str(tmp_path / "other-sweep"), "--out", str(tmp_path / "a.parquet"),
                 "--limit", "1000"]) == 0
    out = capsys.readouterr().out
    stored = pd.read_parquet(tmp_path / "a.parquet")
    twice = stored["message"].value_counts()
    assert len(stored) and (twice == 2).any()  # same data under two sweep names: the same anomalies
    entries = re.findall(r"^\s+\d+\. .*$", out, flags=re.M)
    assert len(entries) == stored["message"].nunique()
    seen = re.findall(r"^\s+seen in (.*)$", out, flags=re.M)
    assert len(seen) == (twice == 2).sum()
    for where in seen:
        assert f"sweep cli-analysis, run {own}" in where and f"sweep cli-analysis-copy, run {other}" in where
    alone = re.findall(r"^\s+in (sweep .*)$", out, flags=re.M)
    assert len(alone) == (twice == 1).sum()
    runs_of = [json.loads(e)["runs"] for e in stored["evidence_json"]]
    assert all(r in ([own], [other]) for r in runs_of)


def test_report_of_a_folder_goes_inside_that_folder(runs, capsys):
    folder = runs[0].parent
    assert main(["report", str(folder)]) == 0
    assert (folder / "report" / "report.html").exists()
    assert f"report: {folder / 'report' / 'report.html'}" in capsys.readouterr().out
