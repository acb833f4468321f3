"""HTP profiling CSVs, the EP's rejected-node log and error texts, parsed from recorded real output."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from suite.agent.runtimes.qnn import classify_session_error
from suite.backends.qnn.profile import (
    NODE_COLUMNS,
    htp_profile_summary,
    node_records,
    parse_htp_profile,
    timing_kind,
    unsupported_nodes,
)
from tests.backends.backend_harness import fixture_text


def test_detailed_profile_of_one_graph_has_each_htp_node_per_execution() -> None:
    parsed = parse_htp_profile(fixture_text("qnn/htp-detailed-conv-a8w8-one-graph.csv"))
    assert parsed["unparsed"] == 0 and parsed["rows"] > 0
    assert len(parsed["finalize"]) == 1  # the EP writes the first preparation twice; kept once
    steps = parsed["finalize"][0]["steps"]
    assert "Graph Optimizations" in steps and "VTCM Allocation" in steps
    (graph,) = parsed["graphs"]
    assert graph["executions"] == 2 and len(graph["execute_us"]) == 2 and len(graph["accelerator_cycles"]) == 2
    nodes = {n["node"]: n for n in graph["nodes"]}
    assert {"Input", "input_0_QuantizeLinear", "conv_node_4_token_1", "Output"} <= set(nodes)
    conv = nodes["conv_node_4_token_1"]
    assert conv["op_id"] > 0 and len(conv["cycles"]) == 2 and all(c > 0 for c in conv["cycles"])


def test_two_htp_partitions_around_a_cpu_node_are_two_graphs() -> None:
    parsed = parse_htp_profile(fixture_text("qnn/htp-detailed-conv-gelu-a8w8-two-partitions.csv"))
    assert len(parsed["finalize"]) == 2 and parsed["unparsed"] == 0
    first, second = parsed["graphs"]
    assert first["executions"] == second["executions"] == 2
    names = [{n["node"] for n in g["nodes"]} for g in (first, second)]
    assert "conv_node_4_token_1" in names[0] and "gelu_node_17" in names[1]
    assert not names[0] & names[1] - {"Input", "Output"}


def test_basic_profile_has_no_nodes_and_spreads_executions_over_the_prepared_graphs() -> None:
    parsed = parse_htp_profile(fixture_text("qnn/htp-basic-conv-gelu-a8w8-two-partitions.csv"))
    assert len(parsed["finalize"]) == 2
    assert [g["executions"] for g in parsed["graphs"]] == [2, 2]
    assert all(g["nodes"] == [] and len(g["accelerator_us"]) == 2 for g in parsed["graphs"])


def test_rows_of_an_unknown_shape_are_counted_not_dropped() -> None:
    text = fixture_text("qnn/htp-detailed-conv-a8w8-one-graph.csv") + "0,NODE,12,CYCLES,BACKEND,SUB-EVENT,garbled\n1,2\n"
    assert parse_htp_profile(text)["unparsed"] == 2


def test_summary_labels_the_cycles_with_the_timing_kind() -> None:
    parsed = parse_htp_profile(fixture_text("qnn/htp-detailed-conv-a8w8-one-graph.csv"))
    emulated = htp_profile_summary(parsed, "emulated", "detailed", 2)
    assert emulated["timing"] == "emulated" and "emulation" in emulated["note"] and "not for device latency" in \
        emulated["note"]
    node = emulated["graphs"][0]["nodes"][3]
    assert len(node["cycles"]) == 2 and node["cycles_median"] == sum(node["cycles"]) / 2
    assert htp_profile_summary(parsed, "measured", "detailed", 2)["note"] == "cycles and times reported by the HTP"


def test_node_records_flatten_the_profiles_stored_with_the_points() -> None:
    summary = htp_profile_summary(parse_htp_profile(fixture_text("qnn/htp-detailed-conv-gelu-a8w8-two-partitions.csv")),
                                  "emulated", "detailed", 2)
    df = pd.DataFrame([
        {"run_id": "r", "device": "d", "point_id": "p1", "op": "conv2d", "dtype": "int8",
         "info_json": json.dumps({"htp_profile": summary})},
        {"run_id": "r", "device": "d", "point_id": "p2", "op": "conv2d", "dtype": "fp32", "info_json": json.dumps({})},
        {"run_id": "r", "device": "d", "point_id": "p3", "op": "conv2d", "dtype": "fp32", "info_json": None},
    ])
    rows = node_records(df)
    assert list(rows.columns) == NODE_COLUMNS
    assert set(rows["point_id"]) == {"p1"} and set(rows["graph"]) == {0, 1} and set(rows["timing"]) == {"emulated"}
    conv = rows[rows["node"] == "conv_node_4_token_1"].iloc[0]
    assert conv["executions"] == 2 and conv["cycles_min"] <= conv["cycles_median"] <= conv["cycles_max"]


def test_the_eps_rejected_node_list_is_read_from_its_session_log() -> None:
    log = fixture_text("qnn/session-log-erf-rejected-fallback-disabled.txt")
    assert unsupported_nodes(log) == ["Erf (erf_node_9)"]  # logged twice, listed once
    two = "Unsupported nodes in QNN EP: { name: a_1, type: Erf } { name: , type: Mod }"
    assert unsupported_nodes(two) == ["Erf (a_1)", "Mod ()"]
    status, error = classify_session_error(log.strip().splitlines()[-1], log)
    assert status == "unsupported"
    assert error == "qnn: the HTP rejects Erf (erf_node_9); CPU fallback is disabled (session.disable_cpu_ep_fallback=1)"


@pytest.mark.parametrize("text, status, start", [
    ("[ONNXRuntimeError] : 11 : EP_FAIL : Failed to finalize QNN graph. Error: QNN_COMMON_ERROR_MEM_ALLOC: Memory "
     "allocation related error., Code: 1002", "unsupported", "qnn: HTP graph finalize failed (QNN_COMMON_ERROR_MEM_ALLOC)"),
    ("[ONNXRuntimeError] : 1 : FAIL : ep_plugin_provider_interfaces.cc:393 PluginExecutionProviderFactory::CreateProvider"
     " FP16 precision mode is enabled but soc_model is not specified.", "unsupported",
     "qnn: the QNN execution provider could not be created"),
    ("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : bad model", "runtime_error", "qnn: [ONNXRuntimeError]"),
])
def test_session_failures_are_classified_by_their_text(text: str, status: str, start: str) -> None:
    got_status, error = classify_session_error(text)
    assert got_status == status and error.startswith(start)


@pytest.mark.parametrize("machine, kind", [("x86_64", "emulated"), ("AMD64", "emulated"), ("aarch64", "measured"),
                                           ("arm64", "measured")])
def test_timing_kind_follows_the_machine_the_agent_runs_on(machine: str, kind: str) -> None:
    assert timing_kind(machine) == kind
