"""Adaptive runs end to end on the local CPU (real ONNX Runtime): ordinary points, resume, failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import suite.models.onnx_builder as onnx_builder
import suite.results as results
from suite.devices.config import load_device
from suite.models.cache import ArtifactCache
from suite.pipeline import run_sweep
from suite.sweep.expand import load_sweep

MEASURE = ("measure: {rounds: 2, sentinel_every: 4, confirm_s: 0, warmup_runs: 1, warmup_s: 0.0, min_runs: 5, "
           "min_s: 0.01, max_s: 0.2, timeout_s: 20}\n")
SWEEP = "name: adaptive-small\nop: conv2d\nfixed: {cin: 8, resolution: 8, kernel: 3}\naxes:\n  cout: %s\n" + MEASURE
ADAPTIVE = SWEEP % "{adaptive: [8, 40], coarse: 5}"
DENSE = SWEEP % "{range: [8, 40]}"


def hwbehave(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "suite", *args], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ))


def check_ordinary(out, dense_ids, rounds=2):
    """An adaptive run's rows are ordinary rows: dense-grid ids, every round, the adaptive flag set."""
    df = results.load(out)
    assert set(df.point_id) <= dense_ids and len(df) < len(dense_ids)
    assert df.job_id.is_unique and df.adaptive.all()
    timed = df[df.status == "ok"]
    assert timed.rounds.eq(rounds).all() and timed.round_median_ms.map(len).eq(rounds).all()
    r = results.load_rounds(out)
    points = r[r.role == "point"]
    assert not points.duplicated(["job_id", "round"]).any() and set(points.phase) == {"plan"}
    assert points.groupby("job_id")["round"].nunique().eq(rounds).all()
    return df


def test_adaptive_run_through_the_cli_is_ordinary_points_that_analyse_and_show_read(write_yaml, tmp_path):
    dense_ids = {p.id for p in load_sweep(write_yaml(DENSE, "dense.yaml")).points}
    sweep = write_yaml(ADAPTIVE)
    plan = hwbehave("plan", str(sweep))
    assert plan.returncode == 0 and "adaptive along cout: 5 point(s) first" in plan.stdout
    planned = json.loads(hwbehave("plan", str(sweep), "--json").stdout)["adaptive"]
    assert (planned["coarse_points"], planned["max_points"], planned["series"]) == (5, 33, 1)
    assert json.loads(hwbehave("plan", write_yaml(DENSE, "d.yaml").as_posix(), "--json").stdout)["adaptive"] is None
    out = tmp_path / "run"
    p = hwbehave("run", str(sweep), "--out", str(out), "--quiet")
    assert p.returncode == 0, p.stderr
    df = check_ordinary(out, dense_ids)
    m = json.loads((out / "manifest.json").read_text())
    assert m["adaptive"] == {"axis": "cout", "coarse": 5, "budget_s": None, "min_rel": None}
    refinement = m["refinement"]
    assert refinement["coarse_points"] == 5 and refinement["max_points"] == 33
    assert refinement["stopped"].startswith("located")
    assert len(df) == 5 + refinement["points"]
    assert f"adaptive cout: {len(df)} of 33 point(s)" in p.stdout + p.stderr
    # each generation: R rounds after the ones before, every planned job measured
    r = results.load_rounds(out)
    for gen in refinement["generations"]:
        got = r[(r.role == "point") & r["round"].isin(gen["rounds"])]
        assert set(got.job_id) == set(gen["jobs"]) and len(gen["rounds"]) == 2
    assert hwbehave("analyse", str(out)).returncode == 0
    show = hwbehave("show", str(out))
    assert show.returncode == 0 and str(len(df)) in show.stdout
    # a rerun of the finished run measures nothing more
    again = hwbehave("run", str(sweep), "--out", str(out), "--quiet")
    assert again.returncode == 0, again.stderr
    assert len(results.load_rounds(out)) == len(r)


def test_run_adaptive_flag_on_a_plain_sweep_and_a_rerun_without_it_starts_anew(write_yaml, tmp_path):
    sweep = write_yaml(DENSE)
    dense_ids = {p.id for p in load_sweep(sweep).points}
    p = hwbehave("run", str(sweep), "--adaptive", "--adaptive-s", "600", "--results", str(tmp_path), "--quiet")
    assert p.returncode == 0, p.stderr
    out = p.stdout.strip().splitlines()[-1]
    check_ordinary(out, dense_ids)
    m = json.loads(open(os.path.join(out, "manifest.json")).read())
    assert m["adaptive"] == {"axis": "cout", "coarse": 9, "budget_s": 600.0, "min_rel": None}
    # a plain run of the same sweep does not resume the adaptive one, and compare pairs what both measured
    plain = hwbehave("run", str(sweep), "--results", str(tmp_path), "--quiet")
    assert plain.returncode == 0, plain.stderr
    dense_out = plain.stdout.strip().splitlines()[-1]
    assert dense_out != out and len(results.load(dense_out)) == len(dense_ids)
    assert not results.load(dense_out).adaptive.any()
    both = hwbehave("compare", dense_out, out)
    assert both.returncode == 0, both.stderr
    assert f"{len(results.load(out))} points in both runs" in both.stdout
    bad = hwbehave("run", str(sweep), "--adaptive", "cin", "--results", str(tmp_path))
    assert bad.returncode == 2 and "not a numeric axis" in bad.stderr
    no_axis = hwbehave("run", str(sweep), "--adaptive-s", "5", "--results", str(tmp_path))
    assert no_axis.returncode == 2 and "--adaptive-s goes with an adaptive sweep" in no_axis.stderr


def test_an_interrupted_refinement_resumes_as_planned_and_failures_are_data(write_yaml, tmp_path, monkeypatch):
    sweep = load_sweep(write_yaml(ADAPTIVE))
    dense_ids = {p.id for p in load_sweep(write_yaml(DENSE, "dense.yaml")).points}
    real = onnx_builder.build_onnx_model

    def flaky(point, float_dtype=None):  # from cout 30 on, the converter fails: a boundary to locate
        if point.params["cout"] >= 30:
            raise RuntimeError("planted converter failure")
        return real(point, float_dtype)

    monkeypatch.setattr(onnx_builder, "build_onnx_model", flaky)
    device = load_device("devices/local-cpu.yaml")
    out, cache = tmp_path / "r", ArtifactCache(tmp_path / "cache")
    seen = {"refine": 0, "measured": 0}

    def interrupt(event, **data):
        if event == "refine":
            seen["refine"] += 1
        if event == "measured" and seen["refine"] == 1:
            seen["measured"] += 1
            if seen["measured"] == 2:  # in the middle of the first refinement generation
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, device, out, cache=cache, observer=interrupt)
    first = json.loads((out / "manifest.json").read_text())
    assert first["status"] == "interrupted" and len(first["refinement"]["generations"]) == 1
    outcome = run_sweep(sweep, device, out, cache=cache)
    assert outcome.complete
    m = json.loads((out / "manifest.json").read_text())
    assert m["refinement"]["generations"][0] == first["refinement"]["generations"][0]  # finished as planned
    assert m["resumed_at"]
    df = check_ordinary(out, dense_ids).set_index("cout").sort_index()
    assert set(df.status) == {"ok", "build_error"}
    assert (df.loc[df.index >= 30, "status"] == "build_error").all() and (df.loc[df.index < 30, "status"] == "ok").all()
    assert {29, 30} <= set(df.index)  # the boundary located to one grid unit


def test_a_spent_budget_stops_the_refinement_after_the_coarse_grid(write_yaml, tmp_path, monkeypatch):
    sweep = load_sweep(write_yaml(SWEEP % "{adaptive: [8, 40], coarse: 4, budget_s: 0}"))
    real = onnx_builder.build_onnx_model

    def failing_from_30(point, float_dtype=None):  # a boundary between 29 and 40 to refine, whatever the timings
        if point.params["cout"] >= 30:
            raise RuntimeError("planted converter failure")
        return real(point, float_dtype)

    monkeypatch.setattr(onnx_builder, "build_onnx_model", failing_from_30)
    outcome = run_sweep(sweep, load_device("devices/local-cpu.yaml"), tmp_path / "r",
                        cache=ArtifactCache(tmp_path / "cache"))
    assert outcome.complete
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert m["refinement"]["stopped"].startswith("budget: 0.0 s left")
    assert m["refinement"]["generations"] == [] and m["refinement"]["coarse_points"] == 4
    df = results.load(tmp_path / "r")
    assert sorted(df.cout) == [8, 19, 29, 40] and df.adaptive.all()
