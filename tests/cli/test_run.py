"""End-to-end runs on the local CPU through the CLI and the pipeline, with failure statuses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

import suite.models.onnx_builder as onnx_builder
import suite.results as results
from suite.cli.main import main
from suite.devices.config import load_device
from suite.models.cache import ArtifactCache
from suite.pipeline import run_sweep
from suite.results.schema import CONTRACT_COLUMNS
from suite.sweep.expand import load_sweep

FAST = ("measure: {warmup_runs: 2, warmup_s: 0.0, min_runs: 5, min_s: 0.01, max_s: 0.2, timeout_s: 20, "
        "confirm_s: 0}\n")
SMALL = """name: small
op: conv2d
fixed: {cin: 8, resolution: 8}
axes:
  cout: [4, 8, 12]
  activation: [none, relu]
dtypes: [fp32, int8]
""" + FAST


def hwbehave(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "suite", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_cli_run_writes_the_contract_files(write_yaml, tmp_path):
    sweep = write_yaml(SMALL)
    out = tmp_path / "run"
    p = hwbehave("run", str(sweep), "--out", str(out), "--quiet")
    assert p.returncode == 0, p.stderr
    assert (out / "manifest.json").exists() and (out / "measurements.parquet").exists()
    table = pq.read_table(out / "measurements.parquet")
    assert set(CONTRACT_COLUMNS) <= set(table.column_names)
    df = results.load(out)
    assert len(df) == 12 and set(df.status) == {"ok"} and df.job_id.is_unique
    assert (df.median_ms > 0).all() and (df.ci_low_ms <= df.median_ms).all() and (df.median_ms <= df.ci_high_ms).all()
    assert df.samples_ms.map(len).eq(df.n).all() and df.round_n.map(sum).eq(df.n).all()
    assert df.rounds.eq(3).all() and df.round_median_ms.map(len).eq(3).all() and set(df.timing) == {"measured"}
    rounds = results.load_rounds(out)
    assert len(rounds[rounds.role == "point"]) == 36 and set(rounds[rounds.role == "point"].phase) == {"plan"}
    assert df.load_ms.notna().all() and df.first_ms.notna().all() and df.artifact_bytes.gt(0).all()
    assert df.peak_rss_mb.gt(10).all()
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and m["seed"] == 0 and m["rounds"] == 3
    env = m["environment"]
    assert env["agent"]["runtimes"]["onnxruntime"]
    assert env["device"]["round0"]["start"]["cpu_model"] is not None
    assert "summary of run" in p.stderr and "conv2d" in p.stderr
    assert "are not resolved on this run" in " ".join(p.stderr.split())
    # a rerun into the same directory measures nothing new
    p = hwbehave("run", str(sweep), "--out", str(out), "--quiet")
    assert p.returncode == 0 and "0 of 36" in p.stderr
    assert len(results.load(out)) == 12 and len(results.load_rounds(out)) == len(rounds)


def test_plan_json_and_config_errors_exit_2_without_traceback(write_yaml):
    sweep = write_yaml(SMALL)
    p = hwbehave("plan", str(sweep), "--json")
    data = json.loads(p.stdout)
    assert data["points"] == 12 and data["total_macs"] > 0
    bad = write_yaml("name: t\nop: conv2d\nfixed: {cin: 8, cout: 0}\n", "bad.yaml")
    p = hwbehave("plan", str(bad))
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert f"{bad}:3" in p.stderr and "cout" in p.stderr and "positive integer" in p.stderr
    p = hwbehave("run", str(bad), "--quiet")
    assert p.returncode == 2 and "Traceback" not in p.stderr


def test_version_and_show(write_yaml, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert "hwbehave 0." in capsys.readouterr().out
    sweep = load_sweep(write_yaml(SMALL.replace("[4, 8, 12]", "[4]").replace("[none, relu]", "[none]")))
    run_sweep(sweep, load_device("devices/local-cpu.yaml"), tmp_path / "r")
    assert main(["show", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "quickstart" not in out and "rounds 3" in out
    floor = json.loads((tmp_path / "r" / "manifest.json").read_text())["noise_floor"]["rel"]
    assert f"effects below {100 * floor:.1f}% are not resolved on this run" in " ".join(out.split())


def test_repeat_is_gone_and_rounds_are_checked(write_yaml):
    sweep = write_yaml(SMALL)
    p = hwbehave("run", str(sweep), "--repeat", "2", "--quiet")
    assert p.returncode == 2 and "--rounds 2" in p.stderr and "Traceback" not in p.stderr
    p = hwbehave("run", str(sweep), "--rounds", "0", "--quiet")
    assert p.returncode == 2 and "argument --rounds: 0 is out of range" in p.stderr
    p = hwbehave("run", str(sweep), "--confirm-s", "-1", "--quiet")
    assert p.returncode == 2 and "--confirm-s" in p.stderr


def test_a_segfault_and_a_hang_are_statuses_and_the_sweep_goes_on(write_yaml, tmp_path, monkeypatch):
    sweep = load_sweep(write_yaml(SMALL.replace("timeout_s: 20", "timeout_s: 3")))
    victims = [p.id for p in sweep.points if p.dtype == "fp32"][:2]
    monkeypatch.setenv("HWBEHAVE_AGENT_TEST_FAULT", f"segv:{victims[0]},hang:{victims[1]}")
    out = run_sweep(sweep, load_device("devices/local-cpu.yaml"), tmp_path / "r")
    assert out.complete
    df = results.load(tmp_path / "r").set_index("point_id")
    assert df.loc[victims[0], "status"] == "crashed"
    assert "SIGSEGV" in df.loc[victims[0], "error"] and "test fault: SIGSEGV" in df.loc[victims[0], "error"]
    assert df.loc[victims[1], "status"] == "timeout"
    assert df.loc[victims[1], "error"].startswith("agent: no result within 3.0 s")
    assert (df.drop(index=victims).status == "ok").all() and len(df) == 12
    assert df.loc[victims[0], "rounds_failed"] == 3 and df.loc[victims[0], "rounds"] == 0


def test_unavailable_provider_is_unsupported_not_a_crash(write_yaml, tmp_path):
    dev = write_yaml("name: gpu-less\nclass: gpu\nruntime:\n  name: onnxruntime\n"
                     "  providers: [CUDAExecutionProvider]\n", "dev.yaml")
    sweep = load_sweep(write_yaml(SMALL.replace("[4, 8, 12]", "[4]")))
    run_sweep(sweep, load_device(dev), tmp_path / "r")
    df = results.load(tmp_path / "r")
    assert set(df.status) == {"unsupported"}
    assert df.error.str.contains("CUDAExecutionProvider not available").all()


def test_a_point_that_fails_to_build_is_a_build_error(write_yaml, tmp_path, monkeypatch):
    sweep = load_sweep(write_yaml(SMALL))
    victim = sweep.points[0]
    real = onnx_builder.build_onnx_model

    def flaky(point, float_dtype=None):
        if point.id == victim.id:
            raise RuntimeError("planted converter failure")
        return real(point, float_dtype)

    monkeypatch.setattr(onnx_builder, "build_onnx_model", flaky)
    run_sweep(sweep, load_device("devices/local-cpu.yaml"), tmp_path / "r",
              cache=ArtifactCache(tmp_path / "cache"))
    df = results.load(tmp_path / "r").set_index("point_id")
    assert df.loc[victim.id, "status"] == "build_error"
    assert df.loc[victim.id, "error"] == "onnx-builder: RuntimeError: planted converter failure"
    assert (df.drop(index=victim.id).status == "ok").all()


def test_kill_9_mid_run_then_rerun_measures_each_point_exactly_once(write_yaml, tmp_path):
    slow = SMALL.replace(FAST, "measure: {warmup_runs: 2, warmup_s: 0.0, min_runs: 5, min_s: 0.25, max_s: 0.5, "
                                "confirm_s: 0}\n")
    sweep = write_yaml(slow)
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "suite", "run", str(sweep), "--out", str(out), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    journal = out / "journal.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if journal.exists() and journal.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = journal.read_text().count("\n")
    assert 3 <= done_before < 12, "the run finished before it could be killed"
    p = hwbehave("run", str(sweep), "--out", str(out), "--quiet")
    assert p.returncode == 0, p.stderr
    df = results.load(out)
    assert len(df) == 12 and df.point_id.is_unique and set(df.status) == {"ok"}
    rounds = results.load_rounds(out)
    points = rounds[rounds.role == "point"]
    assert len(points) == 36 and not points.duplicated(["job_id", "round"]).any()  # each (job, round) once
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_shuffled_order_is_recorded_and_reproducible(write_yaml, tmp_path):
    sweep = load_sweep(write_yaml(SMALL))
    dev = load_device("devices/local-cpu.yaml")
    run_sweep(sweep, dev, tmp_path / "a", seed=7, rounds=1)
    run_sweep(sweep, dev, tmp_path / "b", seed=7, rounds=1)
    run_sweep(sweep, dev, tmp_path / "c", seed=8, rounds=1)

    def order(k: str) -> list[str]:
        r = results.load_rounds(tmp_path / k)
        return r[r.role == "point"].sort_values("order").point_id.tolist()

    assert order("a") == order("b") != order("c")
    assert order("a") != [p.id for p in sweep.points]


def test_rounds_reshuffle_and_the_sentinel_opens_and_closes_each_round(write_yaml, tmp_path):
    sweep = load_sweep(write_yaml(SMALL.replace("[4, 8, 12]", "[4, 8]").replace("confirm_s: 0",
                                                                               "confirm_s: 0, sentinel_every: 3")))
    run_sweep(sweep, load_device("devices/local-cpu.yaml"), tmp_path / "r", rounds=2)
    df = results.load(tmp_path / "r")
    assert len(df) == 8 and df.rounds.eq(2).all() and df.noise_floor_rel.notna().all()
    r = results.load_rounds(tmp_path / "r")
    points = r[r.role == "point"]
    orders = [points[points["round"] == k].sort_values("order").job_id.tolist() for k in (0, 1)]
    assert sorted(orders[0]) == sorted(orders[1]) and orders[0] != orders[1]
    for k in (0, 1):  # 8 points, a sentinel first, after every 3 points, and last: S ppp S ppp S pp S
        rows = r[r["round"] == k].sort_values("order")
        assert rows.role.tolist() == ["sentinel"] + (["point"] * 3 + ["sentinel"]) * 2 + ["point"] * 2 + ["sentinel"]
        assert rows.order.tolist() == list(range(12)) and rows[rows.role == "sentinel"].slot.tolist() == [0, 1, 2, 3]
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    floor = m["noise_floor"]
    assert floor["measurements"] == 8 and len(floor["values_ms"]) == 8 and floor["rel"] == df.noise_floor_rel.iloc[0]
    assert floor["sentinel"]["job_id"] in set(df.job_id)
