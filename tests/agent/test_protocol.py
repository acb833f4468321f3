"""The measurement protocol with a fake clock, and the agent's Python 3.7 compatibility."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import suite.agent
from suite.agent.protocol import ProtocolSettings, run_protocol


class FakeClock:
    """A clock that advances only when the fake model runs."""

    def __init__(self, cost_s: float) -> None:
        self.now = 0.0
        self.cost_s = cost_s
        self.calls = 0

    def __call__(self) -> float:
        return self.now

    def infer(self) -> None:
        self.calls += 1
        self.now += self.cost_s


def test_slow_kernel_takes_one_inference_per_sample_and_meets_both_minimums():
    clock = FakeClock(1 / 64)  # exact in binary floating point
    s = ProtocolSettings(warmup_runs=3, warmup_s=0.125, min_runs=20, min_s=0.5, max_runs=1000, max_s=10)
    out = run_protocol(clock.infer, s, clock=clock)
    assert out["loop_k"] == 1
    assert out["warmup_n"] == 8  # warmup_s dominates: 0.125 s / (1/64 s)
    assert len(out["samples_ms"]) == 32  # min_s dominates: 0.5 s / (1/64 s)
    assert all(x == 1000 / 64 for x in out["samples_ms"])


def test_min_runs_dominates_when_min_s_is_short():
    clock = FakeClock(0.010)
    s = ProtocolSettings(warmup_runs=2, warmup_s=0.0, min_runs=30, min_s=0.01, max_s=10)
    out = run_protocol(clock.infer, s, clock=clock)
    assert out["warmup_n"] == 2
    assert len(out["samples_ms"]) == 30


def test_fast_kernel_is_timed_in_calibrated_loops():
    clock = FakeClock(2e-6)  # 2 µs per inference
    s = ProtocolSettings(warmup_runs=5, warmup_s=0.0, min_runs=10, min_s=0.0, loop_threshold_us=100)
    out = run_protocol(clock.infer, s, clock=clock)
    assert out["loop_k"] == 50
    assert len(out["samples_ms"]) == 10
    assert all(abs(x - 0.002) < 1e-12 for x in out["samples_ms"])


def test_max_runs_and_max_s_cap_sampling():
    clock = FakeClock(0.5)
    s = ProtocolSettings(warmup_runs=1, warmup_s=0, min_runs=100, min_s=100, max_runs=1000, max_s=2.0)
    out = run_protocol(clock.infer, s, clock=clock)
    assert len(out["samples_ms"]) == 4  # 2 s / 0.5 s
    clock = FakeClock(0.001)
    s = ProtocolSettings(warmup_runs=1, warmup_s=0, min_runs=5, min_s=100, max_runs=7, max_s=100)
    assert len(run_protocol(clock.infer, s, clock=clock)["samples_ms"]) == 7


@pytest.mark.parametrize("bad", [{"min_runs": 0}, {"max_runs": 2, "min_runs": 5}, {"warmup_s": -1},
                                 {"timeout_s": 0}, {"min_run": 3}])
def test_bad_settings_are_rejected_with_the_field_name(bad):
    with pytest.raises(ValueError) as info:
        ProtocolSettings.from_dict(bad)
    assert next(iter(bad)).split("_")[0] in str(info.value)


def test_agent_sources_parse_as_python_37():
    root = Path(suite.agent.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) >= 5
    for f in files:
        ast.parse(f.read_text(), filename=str(f), feature_version=(3, 7))
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert not (node.module or "").startswith("suite"), f"{f} imports the host package"
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("suite") for a in node.names), f"{f} imports the host package"


def test_adapters_are_found_by_name_and_their_import_errors_are_not_hidden(tmp_path):
    """A copy of the agent package with one broken adapter: a miss lists the names, the break shows."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import suite.agent

    pkg = tmp_path / "hwagent"
    shutil.copytree(Path(suite.agent.__file__).parent, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "runtimes" / "broken.py").write_text("import module_that_is_not_there  # noqa\n")
    code = ("import sys; from hwagent.runtimes import get_runtime\n"
            "try:\n    get_runtime('nope')\nexcept KeyError as e:\n    print(e)\n"
            "print(get_runtime('onnxruntime').name)\n"
            "get_runtime('broken')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    lines = proc.stdout.splitlines()
    adapters = sorted(p.stem for p in (pkg / "runtimes").glob("*.py") if not p.stem.startswith("_"))
    assert "broken" in adapters and "onnxruntime" in adapters  # every module of the folder, none listed by hand
    assert f"unknown runtime 'nope'; expected one of {', '.join(adapters)}" in lines[0]
    assert lines[1] == "onnxruntime"
    assert proc.returncode != 0 and "No module named 'module_that_is_not_there'" in proc.stderr
