"""``hwbehave show RUN --point``: per-op profile and peak memory of one point; the report's per-op section."""

from __future__ import annotations

from pathlib import Path

import pytest

import suite.results as results
from suite.cli.main import main

SWEEP = ("name: prof\nop: conv2d\nfixed: {cin: 8, resolution: 16, activation: relu}\naxes: {cout: [8, 32]}\n"
         "dtypes: [fp32, int8]\nmeasure: {warmup_runs: 1, warmup_s: 0, min_runs: 5, min_s: 0.01, max_s: 0.2, rounds: 1, "
         "sentinel_every: 0, confirm_s: 0}\n")


@pytest.fixture(scope="module")
def profiled_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("prof")
    (folder / "s.yaml").write_text(SWEEP)
    out = folder / "run"
    assert main(["run", str(folder / "s.yaml"), "--out", str(out), "--quiet", "--profile"]) == 0
    return out


def test_point_by_filter_shows_memory_and_the_op_table(profiled_run: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["show", str(profiled_run), "--point", "cout=32,dtype=fp32"]) == 0
    out = capsys.readouterr().out
    df = results.load(profiled_run)
    row = df[(df["cout"] == 32) & (df["dtype"] == "fp32")].iloc[0]
    assert row["point_id"] in out and f"{row['peak_rss_mb']:.1f} MB peak RSS" in out
    assert "Per-op profile of conv2d" in out and "onnxruntime profiler (a second session after timing)" in out
    table = [ln for ln in out.splitlines() if ln.startswith("| ") and "Conv" in ln]
    assert table, out  # the conv node is listed with its time and share
    assert "measurements.p\n" not in out  # nothing wrapped


def test_point_by_id_prefix_ambiguity_and_misses(profiled_run: Path, capsys: pytest.CaptureFixture[str]):
    df = results.load(profiled_run)
    pid = df["point_id"].iloc[0]
    assert main(["show", str(profiled_run), "--point", pid[:6]]) == 0
    assert pid in capsys.readouterr().out
    assert main(["show", str(profiled_run), "--point", "dtype=int8"]) == 2
    assert "2 points match" in capsys.readouterr().out
    assert main(["show", str(profiled_run), "--point", "zzzz"]) == 2
    assert "no point matches" in capsys.readouterr().err
    assert main(["show", str(profiled_run), "--point", "colour=red"]) == 2
    assert "unknown column" in capsys.readouterr().err


def test_report_has_a_per_op_section(profiled_run: Path, tmp_path: Path):
    pytest.importorskip("matplotlib")
    assert main(["report", str(profiled_run), "--out", str(tmp_path / "rep")]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    html = (tmp_path / "rep" / "report.html").read_text()
    section = md.split("## Per-op profiles of the costliest points", 1)[1].split("\n## ", 1)[0]
    assert section.count("Per-op profile of conv2d") == 3 and "cout=32" in section  # the slowest points first
    assert "Per-op profiles of the costliest points" in html and "Per-op profile of conv2d" in html


def test_openvino_points_show_exec_types(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    pytest.importorskip("openvino")
    (tmp_path / "s.yaml").write_text(SWEEP.replace("cout: [8, 32]", "cout: [16]").replace("[fp32, int8]", "[fp32]"))
    out = tmp_path / "ov"
    assert main(["run", str(tmp_path / "s.yaml"), "--device", "local-openvino", "--out", str(out), "--quiet",
                 "--profile"]) == 0
    assert main(["show", str(out), "--point", "cout=16"]) == 0
    text = capsys.readouterr().out
    assert "openvino PERF_COUNT (a second compiled model after timing)" in text and "exec types" in text
    assert any(ln.startswith("| ") and "Convolution" in ln and ("jit" in ln or "brgconv" in ln or "gemm" in ln)
               for ln in text.splitlines()), text


def test_a_run_without_profiles_says_how_to_get_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "s.yaml").write_text(SWEEP.replace("cout: [8, 32]", "cout: [8]").replace("[fp32, int8]", "[fp32]"))
    assert main(["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert main(["show", str(tmp_path / "r"), "--point", "cout=8"]) == 0
    assert "rerun with --profile" in capsys.readouterr().out
