"""The agent's qnn adapter on the real QNN EP (HTP backend; Qualcomm's emulation on this x86 host).

Verdicts go through the agent (run_sweep on the local transport: a runtime that dies is
``crashed``, not a dead test run); the adapter's own facts are checked in process.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suite import status as st
from suite.testing.requirements import require_modules

require_modules("onnxruntime_qnn", fix="pip install 'hwbehave[qnn]'")

from suite.agent.runtimes.qnn import EP_NAME, QnnAdapter, register_qnn_ep, timing_kind  # noqa: E402
from suite.analysis.precision import quant_error_frame  # noqa: E402
from suite.backends.qnn.profile import node_records  # noqa: E402
from suite.devices.config import load_device  # noqa: E402
from suite.models.cache import ArtifactCache  # noqa: E402
from suite.pipeline import run_sweep  # noqa: E402
from suite.sweep.expand import load_sweep  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
MEASURE = "measure: {warmup_runs: 1, warmup_s: 0.0, min_runs: 3, min_s: 0.0, max_s: 0.2, rounds: 1, sentinel_every: 0, " \
          "confirm_s: 0}\n"


def device(name: str, *, fallback: bool = False, profiling: str = "detailed", **toolchain) -> object:
    qnn = ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in toolchain.items())
    return load_device(f"{name}.yaml", text=(
        f"name: {name}\nclass: dsp\ntransport: {{kind: local}}\nformats: [qnn_onnx]\n"
        "runtime:\n  name: qnn\n  threads: 1\n  options:\n"
        "    provider_options: {soc_model: SM8550}\n"
        f"    session_config: {{session.disable_cpu_ep_fallback: \"{0 if fallback else 1}\"}}\n"
        f"    profiling_level: {profiling}\n    profile_runs: 2\n"
        "measure: {rounds: 1, sentinel_every: 0, confirm_s: 0}\n"
        + (f"toolchain:\n  qnn: {{{qnn}}}\n" if qnn else "")))


def measure(tmp_path: Path, dev, sweep_text: str) -> pd.DataFrame:
    sweep = load_sweep("s.yaml", text=sweep_text + MEASURE)
    out = tmp_path / dev.name
    run_sweep(sweep, dev, out, cache=ArtifactCache(tmp_path / "cache"))
    return pd.read_parquet(out / "measurements.parquet")


def row_of(df: pd.DataFrame, **where) -> pd.Series:
    hit = df
    for key, value in where.items():
        hit = hit[hit[key] == value]
    assert len(hit) == 1, (where, df[["op", "dtype", "status"]])
    return hit.iloc[0]


def test_registration_is_once_per_process_and_offers_the_qnn_ep() -> None:
    first = register_qnn_ep()
    again = register_qnn_ep()
    assert first and {d.ep_name for d in first} == {EP_NAME}
    assert [d.ep_name for d in again] == [d.ep_name for d in first]
    adapter = QnnAdapter({})
    assert adapter.timing == timing_kind() == "emulated"  # this host is x86: the HTP is emulated
    assert "onnxruntime-qnn" in QnnAdapter.version() and "QNN SDK" in QnnAdapter.version()


def test_a_job_that_fails_carries_the_adapters_timing_kind(tmp_path: Path) -> None:
    from suite.agent.worker import execute_job

    result = execute_job({"job": "j", "runtime": "qnn", "model": "missing.onnx"}, str(tmp_path))
    assert result["status"] == st.RUNTIME_ERROR and result["timing"] == "emulated"


def test_htp_only_run_keeps_per_node_profiles_and_outputs_close_to_fp32(tmp_path: Path) -> None:
    sweep = "name: htp\nop: conv2d\nfixed: {cin: 8, cout: 16, resolution: 8}\ndtypes: [fp32, fp16, int8]\n"
    df = measure(tmp_path, device("qnn-a8w8"), sweep)
    assert set(df["status"]) == {st.OK}, df[["dtype", "status", "error"]]
    assert (df["median_ms"] > 0).all() and (df["runtime"] == "qnn").all() and (df["format"] == "qnn_onnx").all()
    assert set(df["timing"]) == {"emulated"}  # the results say what the numbers are
    info = json.loads(row_of(df, dtype="int8")["info_json"])
    assert info["providers"][0] == EP_NAME and info["cpu_fallback"] is False and info["timing"] == "emulated"
    assert info["provider_options"]["soc_model"] == "SM8550" and info["backend_path"] == "libQnnHtp.so"
    assert info["htp_profile"]["timing"] == "emulated" and info["htp_profile"]["level"] == "detailed"
    nodes = node_records(df)
    assert set(nodes["dtype"]) == {"fp32", "fp16", "int8"} and set(nodes["timing"]) == {"emulated"}
    int8_nodes = set(nodes[nodes["dtype"] == "int8"]["node"])
    assert any(n.startswith("conv_node") for n in int8_nodes) and "input_0_QuantizeLinear" in int8_nodes
    # F6: the agent's output digest makes the deviation from fp32 computable like on any device
    errors = quant_error_frame(df).set_index("dtype")["rel_rmse"]
    assert 0 < errors["fp16"] < 0.01 and 0.001 < errors["int8"] < 0.1 and errors["int8"] > errors["fp16"]
    cpu = measure(tmp_path, load_device(REPO / "devices" / "local-cpu.yaml"), sweep.replace(", fp16, int8", ""))
    ref = json.loads(cpu.iloc[0]["output_json"])["sample"]
    htp = json.loads(row_of(df, dtype="fp32")["output_json"])["sample"]
    rel = np.sqrt(np.mean((np.array(htp) - ref) ** 2)) / np.sqrt(np.mean(np.square(ref)))
    assert 0 < rel < 0.01  # an fp32 graph is computed in fp16 on the HTP, not exactly


GELU = "name: gelu\nop: activation\nfixed: {channels: 8, resolution: 8}\naxes: {activation: [gelu, relu]}\n" \
       "dtypes: [int8]\n"


def test_a_node_the_htp_rejects_is_unsupported_with_fallback_disabled(tmp_path: Path) -> None:
    df = measure(tmp_path, device("qnn-raw", preprocess=False), GELU)
    gelu = row_of(df, activation="gelu")
    assert gelu["status"] == st.UNSUPPORTED
    assert gelu["error"].startswith("qnn: the HTP rejects Erf (") and "disable_cpu_ep_fallback=1" in gelu["error"]
    assert gelu["timing"] == "emulated"  # a point that failed says its kind too (the adapter's, at once)
    assert row_of(df, activation="relu")["status"] == st.OK


def test_with_fallback_allowed_the_rejected_node_runs_on_the_cpu_and_is_listed(tmp_path: Path) -> None:
    df = measure(tmp_path, device("qnn-raw-fallback", fallback=True, preprocess=False), GELU)
    gelu = row_of(df, activation="gelu")
    assert gelu["status"] == st.FALLBACK and gelu["median_ms"] > 0
    info = json.loads(gelu["info_json"])
    assert any(op.startswith("Erf (") for op in info["fallback_ops"]) and info["cpu_fallback"] is True
    assert info["placement_counts"]["CPUExecutionProvider"] >= 1 and info["placement_counts"][EP_NAME] >= 2
    assert len(info["htp_profile"]["graphs"]) == 2  # two HTP partitions around the CPU node
    relu = row_of(df, activation="relu")
    assert relu["status"] == st.OK and json.loads(relu["info_json"])["fallback_ops"] == []


def test_signed_int8_activations_are_rejected_for_some_ops(tmp_path: Path) -> None:
    sweep = "name: s8\nop: activation\nfixed: {channels: 8, resolution: 8}\naxes: {activation: [leaky_relu, relu]}\n" \
            "dtypes: [int8]\n"
    df = measure(tmp_path, device("qnn-s8", int8_activations="int8", int8_weights="int8", per_channel=True), sweep)
    leaky = row_of(df, activation="leaky_relu")
    assert leaky["status"] == st.UNSUPPORTED and leaky["error"].startswith("qnn: the HTP rejects LeakyRelu (")
    assert row_of(df, activation="relu")["status"] == st.OK


def test_a_graph_the_htp_cannot_finalize_is_recorded_as_data(tmp_path: Path) -> None:
    sweep = "name: prelu\nop: activation\nfixed: {channels: 8, resolution: 8}\naxes: {activation: [prelu, relu]}\n" \
            "dtypes: [int8]\n"
    df = measure(tmp_path, device("qnn-a16w8", int8_activations="uint16"), sweep)
    prelu = row_of(df, activation="prelu")
    assert prelu["status"] == st.UNSUPPORTED and pd.isna(prelu["median_ms"])
    assert prelu["error"].startswith("qnn: HTP graph finalize failed (QNN_COMMON_ERROR_MEM_ALLOC)")
    assert row_of(df, activation="relu")["status"] == st.OK  # the batch went on
    from suite.analysis.support import find_support_issues

    (f7,) = find_support_issues(df)  # F7 sees it, and says why
    assert f7.finding == "F7" and "prelu" in f7.message and "finalize failed" in f7.message


def test_a_graph_the_htp_profiler_refuses_keeps_its_timed_result(tmp_path: Path) -> None:
    # the HTP runs this fp32 layernorm, but its detailed profiler fails on it (QNN_GRAPH_ERROR_SET_PROFILE)
    sweep = "name: ln\nop: layernorm\nfixed: {seq_len: 4, width: 16}\ndtypes: [fp32]\n"
    row = measure(tmp_path, device("qnn-ln"), sweep).iloc[0]
    assert row["status"] == st.OK and row["median_ms"] > 0
    info = json.loads(row["info_json"])
    assert "htp_profile" not in info
    assert info["inspect_error"].startswith("qnn: the profiled run failed") and "QNN_GRAPH_ERROR_SET_PROFILE" in \
        info["inspect_error"]


@pytest.mark.parametrize("name", ["qnn-htp-emulated.yaml", "qnn-htp-a16w8-emulated.yaml", "qnn-htp-s8-emulated.yaml",
                                  "snapdragon-htp.yaml"])
def test_device_files_load_with_the_qnn_backend(name: str) -> None:
    dev = load_device(REPO / "devices" / name)
    assert dev.backend.name == "qnn" and dev.backend.timing == "emulated"
