"""The notebooks run top to bottom in a real Jupyter kernel on results of small real runs
(ONNX Runtime with one thread twice and with two threads, and OpenVINO)."""

from __future__ import annotations

import json
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
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("nb-runs")
    (root / "sweep.yaml").write_text(SWEEP)
    sweep = load_sweep(root / "sweep.yaml")
    runs = []
    for name, threads in (("1t", 1), ("1t-again", 1), ("2t", 2)):
        dev = root / f"cpu-{threads}t.yaml"
        dev.write_text(f"name: cpu-{threads}t\nclass: cpu\nruntime: {{name: onnxruntime, threads: {threads}}}\n")
        run_sweep(sweep, load_device(dev), root / f"run-{name}")
        runs.append(root / f"run-{name}")
    run_sweep(sweep, load_device("devices/local-openvino.yaml"), root / "run-openvino")
    runs.append(root / "run-openvino")
    return runs


#: A cell the test appends to a notebook: it prints, as one JSON line, what the notebook's figures show.
FIGURE_FACTS = {
    "01-quickstart-analysis": """import json
ax = axis_fig.axes[0]
print("FACTS " + json.dumps({"lines": [ln.get_label() for ln in ax.get_lines()],
                             "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(), "title": ax.get_title()}))""",
    "02-cross-device-comparison": """import json
ax = hist_fig.axes[0]
print("FACTS " + json.dumps({"legend": [t.get_text() for t in ax.get_legend().get_texts()],
                             "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(), "title": ax.get_title()}))""",
}


def test_notebooks_are_shipped():
    assert [p.stem for p in NOTEBOOKS] == ["01-quickstart-analysis", "02-cross-device-comparison",
                                          "03-study-findings"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path: Path, runs: list[Path], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HWBEHAVE_RESULTS", os.pathsep.join(map(str, runs)))
    nb = nbformat.read(str(path), as_version=4)
    if path.stem in FIGURE_FACTS:
        nb.cells.append(nbformat.v4.new_code_cell(FIGURE_FACTS[path.stem]))
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "4 run(s)" in text
    facts = json.loads(text.split("FACTS ", 1)[1].splitlines()[0]) if path.stem in FIGURE_FACTS else {}
    devices = ["cpu-1t", "cpu-2t", "local-openvino"]
    if path.stem == "01-quickstart-analysis":  # one line per device and run, never one zigzag over all
        assert sorted(label.split(" (")[0] for label in facts["lines"]) == ["cpu-1t", *devices]
        assert "4 line(s), one per device and run" in text
    if path.stem == "02-cross-device-comparison":  # every other device against the first, OpenVINO included
        assert [label.split(" (")[0] for label in facts["legend"]] == devices[1:]
        assert facts["title"] == "Latency ratio per point against cpu-1t"
        assert facts["xlabel"].startswith("latency on the device / latency on cpu-1t") and facts["ylabel"] == "points"
        assert "local-openvino / cpu-1t: median" in text
        assert "changed significantly beyond it" in text  # the two runs of cpu-1t compared
