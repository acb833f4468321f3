"""A full disk, for real: a size-limited tmpfs that returns ENOSPC.

Three moments: the first manifest write, a journal append in the middle of the run, the
parquet written at the end. Each must end with one clear line and exit 1 (no traceback),
and nothing already measured may be lost: after space is freed, rerunning the same command
measures only what is missing.
"""

from __future__ import annotations

import json

import pytest

import suite.cli.run as cli_run
import suite.results as results
from suite.cli.main import main

from .conftest import FAST, journal_lines, sweep_text

pytestmark = pytest.mark.timeout(240)

COUTS = (4, 8, 12, 16, 20, 24)


def run_cli(capsys, sweep, out) -> tuple[int, str]:
    code = main(["run", str(sweep), "--out", str(out), "--quiet"])
    return code, capsys.readouterr().err


def fill_when(monkeypatch, tmpfs, event: str, count: int) -> None:
    """Fill the tmpfs when the run's observer sees ``event`` for the ``count``-th time."""
    seen = {"n": 0}
    real = cli_run.run_sweep

    def wrapped(*args, observer, **kwargs):
        def spy(name, **data):
            observer(name, **data)
            if name == event:
                seen["n"] += 1
                if seen["n"] == count:
                    tmpfs.fill()

        return real(*args, observer=spy, **kwargs)

    monkeypatch.setattr(cli_run, "run_sweep", wrapped)


def check_no_traceback_and_resume(capsys, code, err, sweep, out, tmpfs, journal_before):
    assert code == 1, err
    assert "Traceback" not in err and "No space left on device" in err
    assert "measurements already taken are kept" in err and "resume with: hwbehave run" in err
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name], "half-written temporary files left"
    tmpfs.free()
    tmpfs.grow(64 * 1024)
    code, err = run_cli(capsys, sweep, out)
    assert code == 0, err
    assert f"{len(COUTS) - journal_before} of {len(COUTS)} measurements" in " ".join(err.split())  # none lost or redone
    df = results.load(out)
    assert df.point_id.nunique() == len(COUTS) and set(df.status) == {"ok"}
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_disk_full_at_the_first_manifest_write(tmpfs, tmp_path, capsys):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(sweep_text(couts=COUTS, measure=FAST))
    out = tmpfs.path / "run"
    tmpfs.fill()
    code, err = run_cli(capsys, sweep, out)
    check_no_traceback_and_resume(capsys, code, err, sweep, out, tmpfs, 0)


def test_disk_full_during_a_journal_append(tmpfs, tmp_path, capsys, monkeypatch):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(sweep_text(couts=COUTS, measure=FAST))
    out = tmpfs.path / "run"
    fill_when(monkeypatch, tmpfs, "measured", 2)
    code, err = run_cli(capsys, sweep, out)
    before = journal_lines(out)
    assert before >= 2
    check_no_traceback_and_resume(capsys, code, err, sweep, out, tmpfs, before)


def test_disk_full_while_writing_the_parquet(tmpfs, tmp_path, capsys, monkeypatch):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(sweep_text(couts=COUTS, measure=FAST))
    out = tmpfs.path / "run"
    fill_when(monkeypatch, tmpfs, "measured", len(COUTS))  # after the last append, before the parquet
    code, err = run_cli(capsys, sweep, out)
    assert journal_lines(out) == len(COUTS)
    assert not (out / "measurements.parquet").exists()
    check_no_traceback_and_resume(capsys, code, err, sweep, out, tmpfs, len(COUTS))
