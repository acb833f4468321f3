"""The pipeline's replication: sentinel choice and placement, confirmation rounds within a budget."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest

import suite.analysis.confirm as confirm
import suite.results as results
from suite.devices.config import load_device
from suite.pipeline import choose_sentinel, round_slots, run_sweep
from suite.sweep.expand import load_sweep

TINY = "measure: {warmup_runs: 1, warmup_s: 0.0, min_runs: 5, min_s: 0.01, max_s: 0.05, timeout_s: 20"
CHANNELS = "name: ch\nop: conv2d\nfixed: {cin: 8, resolution: 8}\naxes: {cout: {range: [4, 40, 4]}}\n"


def test_the_sentinel_opens_each_round_closes_it_and_returns_every_n_points(write_yaml):
    points = list(load_sweep(write_yaml(CHANNELS)).points)  # 10 points
    s = points[3]
    slots = round_slots(points, s, 4)
    assert [x.role[0] for x in slots] == list("spppps" "pppps" "pps")
    assert [x.sentinel_slot for x in slots if x.role == "sentinel"] == [0, 1, 2, 3]
    assert [x.point for x in slots if x.role == "point"] == points  # the points keep their (shuffled) order
    assert [x.role for x in round_slots(points, s, 5)].count("sentinel") == 3  # 5 | 10: no sentinel twice in a row
    assert all(x.role == "point" for x in round_slots(points, s, 0))
    assert all(x.role == "point" for x in round_slots(points, None, 4))


def test_the_sentinel_is_the_mid_cost_point_whatever_the_order(write_yaml):
    points = list(load_sweep(write_yaml(CHANNELS)).points)
    best = choose_sentinel(points)
    macs = sorted(p.macs for p in points)
    assert best[0].macs == macs[(len(macs) - 1) // 2]  # the lower median of the sweep's cost
    assert abs(best[1].macs - best[0].macs) <= abs(best[2].macs - best[0].macs)  # then its cost neighbours
    shuffled = points[:]
    random.Random(3).shuffle(shuffled)
    assert [p.id for p in choose_sentinel(shuffled)] == [p.id for p in best]


def test_confirmation_rounds_remeasure_the_chosen_points_within_the_budget(write_yaml, tmp_path, monkeypatch):
    sweep = load_sweep(write_yaml(CHANNELS.replace("[4, 40, 4]", "[4, 16, 4]") + TINY
                                  + ", confirm_s: 6, sentinel_every: 3}\n"))
    chosen: list[list[str]] = []

    def rule(df: pd.DataFrame, thresholds=None) -> list[str]:
        assert len(df) == 4 and df.job_id.is_unique  # one row per job: the run's measurements so far
        picks = sorted(df.job_id)[:2]
        chosen.append(picks)
        return picks

    monkeypatch.setattr(confirm, "points_to_confirm", rule)
    out = run_sweep(sweep, load_device("devices/local-cpu.yaml"), tmp_path / "r")
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    block = m["confirm"]
    assert out.complete and block["rounds"] >= 1 and out.confirm_rounds == block["rounds"]
    assert block["points"] == chosen[0] and block["budget_s"] == 6.0
    for entry in block["plan"]:  # a round starts only when its estimate fits what is left; the rule's
        # priority order is kept: when both do not fit, the first one is measured
        assert entry["jobs"] in (chosen[0], chosen[0][:1]) and 0 < entry["estimated_s"] <= entry["budget_left_s"]
    assert block["stopped"].startswith(("budget", "at most"))
    assert [e["round"] for e in block["plan"]] == list(range(3, 3 + block["rounds"]))
    df = results.load(tmp_path / "r").set_index("job_id")
    for job in chosen[0]:
        extra_rounds = sum(job in e["jobs"] for e in block["plan"])
        assert df.loc[job, "confirm_rounds"] == extra_rounds and df.loc[job, "rounds"] == 3 + extra_rounds
    assert df.drop(index=chosen[0]).confirm_rounds.eq(0).all() and df.drop(index=chosen[0]).rounds.eq(3).all()
    rounds = results.load_rounds(tmp_path / "r")
    extra = rounds[rounds.phase == "confirm"]
    assert set(extra[extra.role == "point"].job_id) == set(chosen[0])
    assert (extra.role == "sentinel").sum() == 2 * block["rounds"]  # few points per round: first and last
    # a rerun of the finished run measures nothing more, confirmation included
    again = run_sweep(sweep, load_device("devices/local-cpu.yaml"), tmp_path / "r")
    assert again.measured == 0 and json.loads((tmp_path / "r" / "manifest.json").read_text())["confirm"] == block


def test_no_budget_means_no_confirmation_rounds(write_yaml, tmp_path):
    sweep = load_sweep(write_yaml(CHANNELS.replace("[4, 40, 4]", "[4, 8, 4]") + TINY + ", confirm_s: 0}\n"))
    run_sweep(sweep, load_device("devices/local-cpu.yaml"), tmp_path / "r")
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert m["confirm"]["rounds"] == 0 and m["confirm"]["stopped"].startswith("no budget")
    assert set(results.load_rounds(tmp_path / "r").phase) == {"plan"}


@pytest.mark.parametrize("timing, status", [("summary", "ok"), ("emulated", "ok"), ("bogus", "runtime_error")])
def test_the_agent_says_how_a_latency_was_timed(timing, status):
    from suite.pipeline import _measurement

    base = dict(run_id="r", job_id="j", sweep="s", device="d", device_class="cpu", runtime="x", format="onnx",
                point_id="p", config_id="c", op="conv2d", dtype="fp32", params={}, macs=1, flops=2, param_count=1,
                bytes_in=1, bytes_out=1, bytes_weights=1)
    m = _measurement({"status": "ok", "samples_ms": [1.0, 1.1], "timing": timing}, base, "2026-01-01T00:00:00+00:00")
    assert m.status == status and m.timing == (timing if status == "ok" else "measured")
    plain = _measurement({"status": "ok", "samples_ms": [1.0]}, base, "2026-01-01T00:00:00+00:00")
    assert plain.timing == "measured"
