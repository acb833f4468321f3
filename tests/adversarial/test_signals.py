"""SIGTERM and Ctrl-C (SIGINT) to a real ``hwbehave`` process: exit 3, a resume hint, cleanup.

Before issue 12: SIGTERM left the manifest "running", printed nothing, exited 143 and left
temporary directories; Ctrl-C exited 130, and during imports printed a raw traceback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import suite.results as results
from suite.testing.signals import ctrl_c_default

from .conftest import SLOW, assert_clean_exit, hwbehave, journal_lines, leftovers, spawn, sweep_text, wait_for

pytestmark = pytest.mark.timeout(240)

COUTS = (4, 8, 12, 16, 20, 24, 28, 32)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_run_exits_3_cleans_up_and_resumes(sig, tmp_path, fresh_tmpdir):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(sweep_text(couts=COUTS, measure=SLOW))
    out = tmp_path / "run"
    env = {"TMPDIR": str(fresh_tmpdir)}
    proc = spawn("run", str(sweep), "--out", str(out), "--quiet", env=env)
    wait_for(lambda: journal_lines(out) >= 2, what="two results")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert_clean_exit((proc.returncode, err), 3)
    assert "rerun the same command to continue" in err and str(out) in " ".join(err.split())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert leftovers(fresh_tmpdir) == [], "temporary directories left behind"
    assert not [p for p in out.iterdir() if ".tmp" in p.name]
    done = journal_lines(out)
    assert 2 <= done < len(COUTS), "the run finished before the signal"
    p = hwbehave("run", str(sweep), "--out", str(out), "--quiet", env=env)
    assert_clean_exit(p, 0)
    assert f"{len(COUTS) - done} of {len(COUTS)} measurements" in " ".join(p.stderr.split())  # only what was missing
    df = results.load(out)
    assert df.point_id.nunique() == len(COUTS) and set(df.status) == {"ok"}


#: Runs the CLI as its console script does, sending itself a signal while build_parser() imports.
DURING_IMPORTS = textwrap.dedent("""
    import builtins, os, signal, sys
    SIG, SWEEP = getattr(signal, sys.argv[1]), sys.argv[2]
    real_import = builtins.__import__
    def hook(name, *args, **kwargs):
        if name == "rich.progress":  # imported by suite.cli.run inside build_parser()
            builtins.__import__ = real_import
            os.kill(os.getpid(), SIG)
        return real_import(name, *args, **kwargs)
    builtins.__import__ = hook
    from suite.cli.main import main
    sys.argv = ["hwbehave", "plan", SWEEP]
    sys.exit(main())
""")


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_signal_during_imports_exits_3_without_a_traceback(sig, tmp_path):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(sweep_text())
    p = subprocess.run([sys.executable, "-c", DURING_IMPORTS, sig, str(sweep)], capture_output=True, text=True,
                       timeout=60, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
                       preexec_fn=ctrl_c_default)
    assert_clean_exit(p, 3)
    assert ("terminated" if sig == "SIGTERM" else "interrupted") in p.stderr
    assert "rerun the same command" in p.stderr
