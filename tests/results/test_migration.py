"""Schema 1 → 2: a real v1 run directory (tests/fixtures/results/v1-run) read by this version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import suite.results as results
from suite.cli.main import main
from suite.devices.config import load_device
from suite.errors import ResultsError
from suite.pipeline import run_sweep
from suite.results.schema import SCHEMA_VERSION
from suite.results.store import MEASUREMENTS
from suite.sweep.expand import load_sweep

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "results" / "v1-run"


@pytest.fixture
def v1_run(tmp_path: Path) -> Path:
    run = tmp_path / "v1-run"
    shutil.copytree(FIXTURE, run)
    return run


def test_the_fixture_is_schema_1_with_a_row_per_job_and_round(v1_run):
    v1 = pq.read_table(v1_run / MEASUREMENTS).to_pandas()
    assert set(v1.schema_version) == {1} and json.loads((v1_run / "manifest.json").read_text())["repeat"] == 2
    assert len(v1) == 12 and v1.groupby("job_id").size().eq(2).all()


def test_v1_rows_become_one_row_per_job_with_its_rounds(v1_run):
    v1 = pq.read_table(v1_run / MEASUREMENTS).to_pandas().sort_values(["job_id", "round"])
    df = results.load(v1_run).set_index("job_id")
    assert len(df) == 6 and set(df.schema_version) == {SCHEMA_VERSION} and "round" not in df.columns
    for job, rows in v1.groupby("job_id"):
        row = df.loc[job]
        timed = rows[rows.status == "ok"]
        assert list(row.round_median_ms) == list(timed.median_ms)
        assert list(row.round_n) == list(timed.n) and row.n == timed.n.sum()
        assert list(row.samples_ms) == [x for s in timed.samples_ms for x in s]  # every raw sample kept
        if len(timed):
            assert row.status == "ok" and row.rounds == 2 and row.rounds_failed == 0
            assert row.median_ms == pytest.approx(np.median(timed.median_ms))
            assert row.ci_low_ms <= row.median_ms <= row.ci_high_ms
            assert row.spread_rel == pytest.approx(np.ptp(timed.median_ms) / row.median_ms)
            assert row.timing == "measured" and not row.adaptive and row.confirm_rounds == 0
        else:  # the crashed point: both rounds crashed
            assert row.status == "crashed" and row.rounds == 0 and row.rounds_failed == 2
            assert row.error.startswith("agent: runtime process died") and np.isnan(row.median_ms)
    assert df.noise_floor_rel.isna().all()  # v1 had no sentinel


def test_v1_rounds_and_duckdb_views(v1_run, tmp_path):
    rounds = results.load_rounds(v1_run)
    assert len(rounds) == 12 and set(rounds.role) == {"point"} and set(rounds.phase) == {"plan"}
    assert sorted(rounds["round"].unique()) == [0, 1]
    con = results.open([v1_run])
    assert con.sql("SELECT count(*), count(DISTINCT job_id) FROM measurements").fetchall() == [(6, 6)]
    assert con.sql("SELECT rounds FROM runs").fetchall() == [(2,)]


def test_a_v1_run_and_a_v2_run_load_together(v1_run, tmp_path, write_yaml):
    sweep = load_sweep(write_yaml("name: v2\nop: conv2d\nfixed: {cin: 8, resolution: 8}\naxes: {cout: [4]}\n"
                                  "measure: {warmup_runs: 1, warmup_s: 0, min_runs: 3, min_s: 0.01, max_s: 0.05, "
                                  "rounds: 2, confirm_s: 0}\n"))
    run_sweep(sweep, load_device("devices/local-cpu.yaml"), tmp_path / "v2-run")
    df = results.load([v1_run, tmp_path / "v2-run"])
    assert len(df) == 7 and set(df.schema_version) == {SCHEMA_VERSION}
    assert df.groupby("run_id").size().sort_values().tolist() == [1, 6]


def test_a_v1_run_is_read_but_not_continued(v1_run, capsys):
    sweep = load_sweep(_v2_sweep(v1_run))
    with pytest.raises(ResultsError, match="schema_version 1.*use another --out"):
        run_sweep(sweep, load_device("devices/local-cpu.yaml"), v1_run)
    assert main(["show", str(v1_run)]) == 0
    out = capsys.readouterr().out
    assert "rounds 2" in out and "noise floor: not measured" in out


def _v2_sweep(run: Path) -> Path:
    text = (FIXTURE.parent / "v1-sweep.yaml").read_text().replace("repeat: 2", "rounds: 2")
    path = run.parent / "sweep-v2.yaml"
    path.write_text(text)
    return path
