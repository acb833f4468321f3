"""Command-line overrides of the protocol and threads, plan's time estimate, table names."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from suite.agent.protocol import ProtocolSettings
from suite.cli.main import build_parser, main
from suite.devices.config import load_device
from suite.errors import ConfigError
from suite.report.tables import TABLE_NAMES, standard_tables
from suite.sweep.estimate import estimate_measuring

SWEEP = ("name: ov\nop: conv2d\nfixed: {cin: 4, cout: 4, resolution: 8}\n"
         "measure: {warmup_runs: 5, warmup_s: 0, min_runs: 40, min_s: 0.01, max_s: 0.5, rounds: 1, sentinel_every: 0, "
         "confirm_s: 0}\n")


def test_overrides_win_and_are_recorded(write_yaml, tmp_path: Path):
    sweep = write_yaml(SWEEP)
    out = tmp_path / "run"
    assert main(["run", str(sweep), "--out", str(out), "--quiet", "--threads", "2", "--warmup", "1",
                 "--min-runs", "4", "--min-s", "0"]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["overrides"] == {"--threads": 2, "--warmup": 1, "--min-runs": 4, "--min-s": 0.0}
    assert m["protocol"]["min_runs"] == 4 and m["protocol"]["warmup_runs"] == 1 and m["protocol"]["max_s"] == 0.5
    assert m["device"]["definition"]["runtime"]["threads"] == 2
    n = pd.read_parquet(out / "measurements.parquet")["n"]
    assert (n >= 4).all() and (n < 40).all()  # the sweep's 40 runs were overridden


def test_impossible_settings_are_located_errors(write_yaml, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    device = write_yaml("name: pinned\nclass: cpu\nruntime:\n  name: onnxruntime\n  threads: 1\n  affinity: \"0\"\n",
                        name="pinned.yaml")
    sweep = write_yaml(SWEEP)
    assert main(["run", str(sweep), "--device", str(device), "--threads", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--threads" in err and f"{device}:6" in err and "at most 1 thread" in err
    with pytest.raises(ConfigError) as exc:
        load_device(device, text=device.read_text().replace("threads: 1", "threads: 2"))
    assert exc.value.line == 5 and exc.value.field == "runtime.threads"
    assert main(["run", str(sweep), "--min-s", "2", "--quiet"]) == 2
    assert "above max_s 0.5 of the sweep's measure.max_s" in capsys.readouterr().err
    assert main(["run", str(sweep), "--min-runs", "0", "--quiet"]) == 2


def test_plan_prints_an_estimate_and_says_it_is_one(write_yaml, capsys: pytest.CaptureFixture[str]):
    assert main(["plan", str(write_yaml(SWEEP))]) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert "estimated measuring time" in out and "an estimate" in out
    e = estimate_measuring(10, 3, ProtocolSettings(warmup_s=0.1, min_s=0.3, max_s=1.0))
    assert e.jobs == 30 and e.at_least_s == pytest.approx(30 * (0.02 + 0.4)) and e.at_most_s == pytest.approx(30 * 2.02)


def test_table_help_lists_the_table_names(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["table", "--help"])
    help_text = capsys.readouterr().out.replace("\n", " ")
    for name in TABLE_NAMES:
        assert name in help_text.replace(", ", " ").replace("  ", " ")
    assert tuple(t.name for t in standard_tables(pd.DataFrame())) == TABLE_NAMES


def test_the_command_line_wins_over_a_device_measure_block(write_yaml, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]):
    device = write_yaml("name: slowdev\nclass: cpu\nruntime: {name: onnxruntime, threads: 1}\n"
                        "measure: {min_runs: 30, max_s: 0.4}\n", name="slowdev.yaml")
    out = tmp_path / "run"
    assert main(["run", str(write_yaml(SWEEP)), "--device", str(device), "--out", str(out), "--quiet",
                 "--min-runs", "4"]) == 0
    protocol = json.loads((out / "manifest.json").read_text())["protocol"]
    assert protocol["min_runs"] == 4 and protocol["max_s"] == 0.4  # the device's max_s still applies
    assert main(["run", str(write_yaml(SWEEP)), "--device", str(device), "--min-s", "1", "--quiet"]) == 2
    assert f"above max_s 0.4 of the device's measure.max_s ({device})" in capsys.readouterr().err
