"""A plain rerun resumes; piped runs print progress lines; paths are never wrapped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import suite.results as results
from suite.testing.signals import ctrl_c_default

pytestmark = pytest.mark.timeout(300)
SLOW = ("measure: {warmup_runs: 1, warmup_s: 0.0, min_runs: 3, min_s: 0.3, max_s: 0.5, timeout_s: 30, rounds: 1, "
        "sentinel_every: 0, confirm_s: 0}\n")
SWEEP = "name: rerun\nop: conv2d\nfixed: {cin: 4, resolution: 8}\naxes:\n  cout: [4, 8, 12, 16, 20, 24]\n" + SLOW


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "suite", *args], capture_output=True, text=True, timeout=240,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def journal_lines(root: Path) -> int:
    return sum(j.read_text().count("\n") for j in root.glob("*/journal.jsonl"))


def test_a_plain_rerun_after_ctrl_c_resumes_the_same_run(tmp_path: Path):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(SWEEP)
    root = tmp_path / "results"
    command = ["run", str(sweep), "--results", str(root), "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "suite", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=ctrl_c_default)
    deadline = time.monotonic() + 120
    while journal_lines(root) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    (first,) = root.iterdir()
    flat = " ".join(err.split())
    assert "rerun the same command to continue: it resumes the newest unfinished run" in flat and str(first) in flat
    done = journal_lines(root)
    assert 2 <= done < 6
    again = cli(*command)
    assert again.returncode == 0, again.stderr
    flat = " ".join(again.stderr.split())
    assert f"resuming the unfinished run {first}" in flat and f"{6 - done} of 6 measurements" in flat
    assert list(root.iterdir()) == [first]
    assert json.loads((first / "manifest.json").read_text())["status"] == "complete"
    assert results.load(first)["point_id"].nunique() == 6


def test_other_settings_or_new_run_start_a_fresh_directory(tmp_path: Path):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(SWEEP.replace("min_s: 0.3", "min_s: 0.01"))
    root = tmp_path / "results"
    first = root / "rerun--local-cpu--old"
    assert cli("run", str(sweep), "--out", str(first), "--quiet").returncode == 0
    manifest = json.loads((first / "manifest.json").read_text())
    (first / "manifest.json").write_text(json.dumps({**manifest, "status": "interrupted"}))
    p = cli("run", str(sweep), "--results", str(root), "--quiet", "--min-runs", "4")  # other settings
    assert p.returncode == 0 and "resuming" not in p.stderr and len(list(root.iterdir())) == 2
    time.sleep(1.1)  # run directories are named by the second
    p = cli("run", str(sweep), "--results", str(root), "--quiet", "--new-run")
    assert p.returncode == 0 and "resuming" not in p.stderr and len(list(root.iterdir())) == 3
    p = cli("run", str(sweep), "--results", str(root), "--quiet")
    assert p.returncode == 0 and f"resuming the unfinished run {first}" in " ".join(p.stderr.split())


def test_piped_runs_print_progress_lines_and_paths_stay_whole(tmp_path: Path):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(SWEEP.replace("min_s: 0.3", "min_s: 0.01"))
    out = tmp_path / ("a-results-folder-with-a-name-long-enough-to-pass-eighty-columns-" + "x" * 30) / "run"
    p = cli("run", str(sweep), "--out", str(out), env={"HWBEHAVE_PROGRESS_S": "0", "COLUMNS": "80"})
    assert p.returncode == 0, p.stderr
    lines = p.stderr.splitlines()
    progress = [ln for ln in lines if ln.startswith("measure r0: ")]
    assert len(progress) == 6 and progress[-1].startswith("measure r0: 6/6 measured, 0 failed")
    assert f"results: {out / 'measurements.parquet'} (manifest.json beside it)" in lines
    assert any(ln.startswith("run ") and str(out) in ln for ln in lines)
    shown = cli("show", str(out), env={"COLUMNS": "80"})  # piped: rich would fold at 80 columns
    assert shown.returncode == 0, shown.stderr
    protocol = [ln for ln in shown.stdout.splitlines() if ln.startswith("protocol: ")]
    assert len(protocol) == 1 and len(protocol[0]) > 80 and "warmup_runs=" in protocol[0], shown.stdout
    runtime = [ln for ln in shown.stdout.splitlines() if ln.startswith("runtime ")]
    assert len(runtime) == 1 and runtime[0].split(" @ ")[-1].strip() != "", shown.stdout  # the commit on its line
