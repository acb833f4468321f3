"""Helpers for toolchain tests: fixture files, a tiny sweep, the openvino requirement."""

from __future__ import annotations

from pathlib import Path

from suite.testing.requirements import require_modules

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture_text(rel: str) -> str:
    return (FIXTURES / rel).read_text()


def require_openvino() -> None:
    """Skip without openvino locally; in CI (env CI set) a missing openvino is a failure."""
    require_modules("openvino", fix="pip install 'hwbehave[openvino]'")


TINY_SWEEP = """
name: tiny-conv
fixed: {cin: 8, resolution: 12}
measure: {warmup_runs: 2, warmup_s: 0.0, min_runs: 5, min_s: 0.0, max_s: 0.2}
parts:
  - name: k
    op: conv2d
    axes: {cout: [16], kernel: [3]}
    dtypes: %s
"""


def tiny_sweep(dtypes: str = "[fp32, fp16, int8]"):
    from suite.sweep.expand import load_sweep

    return load_sweep("tiny.yaml", text=TINY_SWEEP % dtypes)
