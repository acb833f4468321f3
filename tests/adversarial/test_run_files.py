"""Damaged run directories, paths that escape, ``--out`` on a file and closed pipes, through the real CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import suite.results as results
from suite.cli.main import main

from .conftest import FAST, assert_clean_exit, hwbehave, sweep_text

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("finished")
    sweep = root / "s.yaml"
    sweep.write_text(sweep_text(couts=(4, 8, 12), measure=FAST))
    assert main(["run", str(sweep), "--out", str(root / "run"), "--quiet"]) == 0
    return sweep, root / "run"


def copy_run(finished_run, tmp_path: Path, name: str) -> Path:
    dst = tmp_path / "runs" / name
    shutil.copytree(finished_run[1], dst)
    return dst


def rewrite_journal(run: Path, edits: dict[int, dict]) -> None:
    lines = (run / "journal.jsonl").read_text().splitlines()
    for i, fields in edits.items():
        record = json.loads(lines[i])
        record.update(fields)
        lines[i] = json.dumps(record)
    (run / "journal.jsonl").write_text("\n".join(lines) + "\n")


def test_manifest_that_is_a_list(finished_run, tmp_path):
    sweep, _ = finished_run
    bad = copy_run(finished_run, tmp_path, "bad")
    good = copy_run(finished_run, tmp_path, "good")
    (bad / "manifest.json").write_text("[]")
    p = hwbehave("show", str(bad))
    assert_clean_exit(p, 1)
    assert "unreadable manifest" in p.stderr
    p = hwbehave("analyse", str(tmp_path / "runs"), "--out", str(tmp_path / "a.parquet"))
    assert_clean_exit(p, 0)
    assert "warning" in p.stderr and "run left out" in p.stderr
    p = hwbehave("run", str(sweep), "--out", str(bad), "--quiet")  # resume refuses, clearly
    assert_clean_exit(p, 1)
    assert "unreadable manifest" in p.stderr
    p = hwbehave("run", str(sweep), "--results", str(tmp_path / "runs"), "--resume", "--quiet")
    assert_clean_exit(p, 2)  # the damaged run is not a run to resume; the good one is complete
    assert good.exists()


def test_garbage_parquet(finished_run, tmp_path):
    sweep, _ = finished_run
    run = copy_run(finished_run, tmp_path, "garbage")
    (run / "measurements.parquet").write_bytes(b"PAR1 this is not parquet" * 10)
    p = hwbehave("show", str(run))
    assert_clean_exit(p, 0)
    assert "unreadable Parquet" in p.stderr and "using its journal" in p.stderr
    p = hwbehave("analyse", str(run))
    assert_clean_exit(p, 0)
    (run / "journal.jsonl").unlink()
    p = hwbehave("show", str(run))
    assert_clean_exit(p, 0)
    assert "rows are left out" in p.stderr
    p = hwbehave("run", str(sweep), "--out", str(run), "--quiet")  # resume: set aside, measure again
    assert_clean_exit(p, 0)
    assert "set aside" in p.stderr
    assert [f.name for f in run.glob("measurements.parquet.damaged-*")]
    assert results.load(run).point_id.nunique() == 3


@pytest.mark.parametrize("fields", [{"round": "0"}, {"params": "x"}, {"samples_ms": ["a"]},
                                    {"stats": {"median_ms": "fast"}}, {"round": 10**30}])
def test_journal_lines_with_wrong_types_are_bad_lines(fields, finished_run, tmp_path):
    sweep, _ = finished_run
    run = copy_run(finished_run, tmp_path, "journal")
    (run / "measurements.parquet").unlink()
    rewrite_journal(run, {0: fields})
    p = hwbehave("show", str(run))
    assert_clean_exit(p, 0)
    p = hwbehave("analyse", str(run))
    assert_clean_exit(p, 0)
    p = hwbehave("run", str(sweep), "--out", str(run), "--quiet")  # resume re-measures the bad line's point
    assert_clean_exit(p, 0)
    assert "1 of 3 measurements" in " ".join(p.stderr.split())  # rich wraps long lines
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["journal_bad_lines"] and manifest["journal_bad_lines"][0].startswith("line 1: TypeError")
    assert results.load(run).point_id.nunique() == 3


# ---- paths that escape ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../../escaped", "/srv/abs", ".hidden", "a/b"])
def test_sweep_names_cannot_leave_the_results_root(name, tmp_path, repo):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(sweep_text(name=json.dumps(name)))
    results_root = tmp_path / "a" / "b" / "results"  # "../../../escaped" would land in tmp_path
    p = hwbehave("run", str(sweep), "--device", str(repo / "devices" / "local-cpu.yaml"),
                 "--results", str(results_root), "--quiet", cwd=tmp_path)
    assert_clean_exit(p, 2)
    assert f"{sweep}:1" in p.stderr and "field: name" in p.stderr
    assert not results_root.exists()
    assert not list(tmp_path.glob("escaped--*")) and not list(Path("/srv").glob("abs--*"))


def test_farm_jobs_and_instances_are_one_path_segment(tmp_path):
    (tmp_path / "devices").mkdir()
    (tmp_path / "devices" / "d.yaml").write_text("name: d\nclass: cpu\n")
    (tmp_path / "s.yaml").write_text(sweep_text(name="ok"))
    farm = tmp_path / "farm.yaml"
    farm.write_text("name: f\ndevices_dir: devices\nresults: out\njobs:\n  - {sweep: s.yaml, devices: [d], "
                    "name: ../../escaped}\n")
    p = hwbehave("farm", "plan", str(farm))
    assert_clean_exit(p, 2)
    assert f"{farm}:5" in p.stderr
    (tmp_path / "escaping.yaml").write_text(sweep_text(name='"../../../../x"'))  # a job named after its sweep
    farm.write_text("name: f\ndevices_dir: devices\nresults: out\njobs:\n  - {sweep: escaping.yaml, devices: [d]}\n")
    p = hwbehave("farm", "plan", str(farm))
    assert_clean_exit(p, 2)
    assert f"{tmp_path / 'escaping.yaml'}:1" in p.stderr
    farm.write_text("name: f\ndevices_dir: devices\nresults: out\njobs:\n  - {sweep: s.yaml, devices: [d]}\n")
    for command in ("run", "status"):
        p = hwbehave("farm", command, str(farm), "--instance", "../../../../x")
        assert_clean_exit(p, 2)
        assert "--instance" in p.stderr
    assert not (tmp_path / "out").exists()


def test_out_pointing_at_a_file(tmp_path):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(sweep_text())
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for out in (blocker, blocker / "run"):
        p = hwbehave("run", str(sweep), "--out", str(out), "--quiet")
        assert_clean_exit(p, 2)
        assert "field: --out" in p.stderr
    assert blocker.read_text() == "not a directory"


# ---- closed pipes -----------------------------------------------------------------------------

@pytest.mark.parametrize("reader", ["head -c 10", "true"])
@pytest.mark.parametrize("command", [["plan", "{sweep}", "--json", "--all"], ["plan", "{sweep}"],
                                     ["show", "{run}", "--json"], ["show", "{run}"]])
def test_a_closed_stdout_ends_quietly(reader, command, finished_run, tmp_path):
    sweep, run = finished_run
    big = tmp_path / "big.yaml"
    big.write_text(sweep_text(couts=tuple(range(1, 2001))))
    argv = [a.format(sweep=big, run=run) for a in command]
    line = " ".join([sys.executable, "-m", "suite", *argv]) + f" | {reader} > /dev/null; echo ${{PIPESTATUS[0]}}"
    p = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in p.stderr and "BrokenPipeError" not in p.stderr and "Exception ignored" not in p.stderr
    assert p.stdout.strip() in ("0", "1"), p.stderr  # 1: the reader left early (Python's and rich's convention)
