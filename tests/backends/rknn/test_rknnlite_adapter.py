"""The rknnlite agent adapter (cannot run here): its layer-table parsing and model I/O reading."""

from __future__ import annotations

from pathlib import Path

import pytest

from suite.agent.runtimes.rknnlite import cpu_layers, parse_layer_table, rknn_io_specs

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def test_board_layer_table_parses_every_row_with_target_and_time():
    rows = parse_layer_table((FIXTURES / "rknn_runtime/cpp-perf-detail-yolov8n-1920x1088-rk3588.txt").read_text())
    assert len(rows) == 108 and rows[0]["op_type"] == "InputOperator"
    conv = rows[1]
    assert conv == {"id": 2, "op_type": "ConvExSwish", "data_type": "UINT8", "target": "NPU", "time_us": 9524.0,
                    "name": "Conv:/model.0/conv/Conv"}
    assert cpu_layers(rows) == []  # only the graph's input/output operators ran on the CPU


def test_cpu_layers_other_than_io_operators_are_fallback():
    rows = [{"op_type": "InputOperator", "target": "CPU", "name": "InputOperator:x"},
            {"op_type": "Softmax", "target": "CPU", "name": "Softmax:/head/Softmax"},
            {"op_type": "Conv", "target": "NPU", "name": "Conv:/c"}]
    assert cpu_layers(rows) == ["Softmax:/head/Softmax (Softmax)"]


def test_toolkit_eval_perf_rows_parse_without_inventing_a_time_or_name():
    text = (FIXTURES / "rknn_toolkit2/eval-perf-debug-v1.5.x-format-mobilenet_v2-rk3588.txt").read_text()
    rows = parse_layer_table(text)
    assert [r["op_type"] for r in rows] == ["InputOperator", "ConvRelu"]
    assert rows[1]["time_us"] is None and rows[1]["name"] == ""


def test_rknn_io_specs_reads_the_attrs_block():
    blob = (b"RKNN\x00junk{\"x\": {\"dtype\": \"int8\"}}\x00{'attrs': {'x': {'idx': 0, 'shape': [1, 8, 16, 16], "
            b"'dtype': 'float32', 'is_output': False}, 'z': {'is_output': True, 'idx': 0, 'shape': [1, 16], "
            b"'dtype': 'float32'}}, 'quant_tab': {}}\x00tail")
    assert rknn_io_specs(blob) == [("x", [1, 8, 16, 16], "float32")]
    with pytest.raises(ValueError, match="attrs"):
        rknn_io_specs(b"RKNN no attrs")
