"""The notebooks run top to bottom in a real Jupyter kernel on results of a small real run."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from suite.devices.config import load_device
from suite.pipeline import run_sweep
from suite.sweep.expand import load_sweep

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))

SWEEP = """name: nb
fixed: {resolution: 14}
measure: {warmup_runs: 2, warmup_s: 0.0, min_runs: 8, min_s: 0.02, max_s: 0.2}
parts:
  - op: conv2d
    fixed: {cin: 16, kernel: 3}
    axes:
      cout: {range: [8, 40, 4]}
    dtypes: [fp32]
  - op: conv2d
    fixed: {cin: 16, cout: 16, kernel: 3}
    axes:
      activation: [none, relu, swish]
    dtypes: [fp32, int8]
"""


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("nb-runs")
    (root / "sweep.yaml").write_text(SWEEP)
    sweep = load_sweep(root / "sweep.yaml")
    runs = []
    for threads in (1, 2):
        dev = root / f"cpu-{threads}t.yaml"
        dev.write_text(f"name: cpu-{threads}t\nclass: cpu\nruntime: {{name: onnxruntime, threads: {threads}}}\n")
        run_sweep(sweep, load_device(dev), root / f"run-{threads}t")
        runs.append(root / f"run-{threads}t")
    return runs


def test_notebooks_are_shipped():
    assert [p.stem for p in NOTEBOOKS] == ["01-quickstart-analysis", "02-cross-device-comparison",
                                          "03-study-findings"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path: Path, two_runs: list[Path], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HWBEHAVE_RESULTS", os.pathsep.join(map(str, two_runs)))
    nb = nbformat.read(str(path), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "2 run(s)" in text
