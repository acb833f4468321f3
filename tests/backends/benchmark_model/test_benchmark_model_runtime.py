"""The benchmark_model runtime is a runtime like the others: it runs over any transport that runs
commands. Here over the local transport, with a stand-in tool printing a recorded real output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import suite.results as results
from backends.benchmark_model.fakes import install_fake_tool, use_fake_tflite
from suite.backends.backend import get_backend
from suite.backends.benchmark_model.runtime import BenchmarkModelRuntime, cpu_mask, parse_environment
from suite.devices.config import load_device
from suite.devices.transports.base import transport_for
from suite.pipeline import run_sweep
from suite.sweep.expand import load_sweep

SWEEP = """\
name: bm-local
measure: {warmup_runs: 2, warmup_s: 0.01, min_runs: 10, min_s: 0.05, max_s: 0.3, rounds: 1, sentinel_every: 0,
          confirm_s: 0}
op: conv2d
fixed: {cin: 8, resolution: 8}
axes: {cout: [8, 16, 32]}
dtypes: [fp32]
"""


@pytest.fixture
def local_bm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A device file: local transport, benchmark_model runtime, the fake tool in tmp."""
    use_fake_tflite(monkeypatch, tmp_path / "cache")
    tool = install_fake_tool(tmp_path / "tool")
    path = tmp_path / "local-bm.yaml"
    path.write_text("name: local-bm\nclass: cpu\ntransport: {kind: local}\n"
                    f"runtime: {{name: benchmark_model, threads: 1, options: {{binary: {tool}}}}}\n"
                    "formats: [tflite]\ntimeouts: {point_s: 2}\n")
    return path


def test_a_sweep_over_the_local_transport(local_bm: Path, tmp_path: Path) -> None:
    (tmp_path / "tool" / "fake_benchmark_model.mode").write_text("2:segv 3:hang")
    outcome = run_sweep(load_sweep("s.yaml", text=SWEEP), load_device(local_bm), tmp_path / "out", seed=3)
    assert outcome.complete, outcome.error
    df = results.load(tmp_path / "out").sort_values("started_at")  # one round: execution order
    assert list(df["status"]) == ["ok", "crashed", "timeout"] and set(df["timing"]) == {"summary"}
    ok = df.iloc[0]
    assert ok["median_ms"] == pytest.approx(1240.27) and ok["runtime"] == "benchmark_model"
    assert json.loads(ok["info_json"])["samples_kind"] == "summary"
    calls = [json.loads(x) for x in (tmp_path / "tool" / "fake_benchmark_model.argv").read_text().splitlines()]
    assert len(calls) == 3 and "--num_threads=1" in calls[0]["argv"]
    assert Path(calls[0]["cwd"]).name.startswith("hwbehave-local-")  # ran in the batch workdir
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["environment"]["agent"]["runtimes"]["benchmark_model"].startswith(str(tmp_path / "tool"))


def test_results_say_their_timing_kind(local_bm: Path, tmp_path: Path) -> None:
    device = load_device(local_bm)
    t = transport_for(device)
    t.connect()
    work = t.make_workdir()
    try:
        (Path(work) / "m.tflite").write_bytes(b"TFL3")
        runtime = BenchmarkModelRuntime(t, device)
        result = runtime.run_job({"job": "j", "model": "m.tflite", "runtime_options": device.runtime.adapter_options(),
                                  "protocol": {"min_runs": 5, "timeout_s": 5}}, work, {"FOO": "bar"})
    finally:
        t.remove_workdir(work)
        t.close()
    assert result["status"] == "ok" and result["timing"] == get_backend("benchmark_model").timing == "summary"
    assert result["info"]["command"][:2] == ["env", "FOO=bar"]


def test_environment_on_linux_and_android() -> None:
    linux = parse_environment("model=\nandroid=\nkernel=6.1\narch=aarch64\nos=Linux\nhostname=board\n"
                              "governor=performance,\ncpu_freq_khz=1800000\ncpu_count=4\ntemp=soc-thermal=45000\n")
    assert (linux["os"], linux["hostname"], linux["governor"], linux["cpu_freq_mhz"]) == (
        "Linux", "board", "performance", 1800.0)
    assert linux["temperatures_c"] == {"soc-thermal": 45.0} and linux["device_model"] is None
    phone = parse_environment("model=Pixel 8\nandroid=14\nos=Linux\nhostname=localhost\n", hostname="SERIAL1")
    assert (phone["os"], phone["hostname"], phone["device_model"]) == ("Android 14", "SERIAL1", "Pixel 8")


def test_affinity_becomes_a_taskset_mask() -> None:
    assert cpu_mask("4-7") == "f0" and cpu_mask([0, 2]) == "5" and cpu_mask("0x3") == "3"


RISCV_CSV = "linux-riscv64-qemu-cpu-op-profiling-mobilenet_v1-tf2.8.converted.csv"
NNAPI_CSV = "android-nnapi-op-profiling-yolov5s-tf2.4-xiaomi-mi11.converted.csv"


def _one_job(tmp_path: Path, csv: str, options: dict) -> tuple[dict, list[dict]]:
    tool = install_fake_tool(tmp_path / "tool", profile_csv=csv)
    device = load_device("d.yaml", text="name: bm\nclass: cpu\ntransport: {kind: local}\n"
                         f"runtime: {{name: benchmark_model, threads: 1, options: {{binary: {tool}}}}}\n"
                         "formats: [tflite]\n")
    t = transport_for(device)
    t.connect()
    work = t.make_workdir()
    try:
        (Path(work) / "m.tflite").write_bytes(b"TFL3")
        result = BenchmarkModelRuntime(t, device).run_job(
            {"job": "j", "model": "m.tflite", "runtime_options": {**device.runtime.adapter_options(), **options},
             "protocol": {"min_runs": 5, "timeout_s": 5}}, work, {})
    finally:
        t.remove_workdir(work)
        t.close()
    calls = [json.loads(x)["argv"] for x in (tmp_path / "tool" / "fake_benchmark_model.argv").read_text().splitlines()]
    return result, calls


def test_op_profile_is_a_second_run_whose_csv_is_parsed(tmp_path: Path) -> None:
    result, calls = _one_job(tmp_path, RISCV_CSV, {"profile": True})
    timed, profiled = calls
    assert not any(a.startswith(("--enable_op_profiling", "--profiling_output_csv_file")) for a in timed)
    assert "--enable_op_profiling=true" in profiled and "--num_runs=10" in profiled
    assert any(a.startswith("--profiling_output_csv_file=") and a.endswith("j.profile.csv") for a in profiled)
    profile = result["info"]["op_profile"]
    assert profile["ops_total"] == 31 and profile["runs"] == 10
    top = profile["ops"][0]  # the recorded run's costliest node
    assert top["type"] == "CONV_2D" and top["name"] == "[MobilenetV1/MobilenetV1/Conv2d_5_pointwise/Relu6]:10"
    assert top["time_us"] == pytest.approx(277374.0)
    assert result["status"] == "ok" and result["samples_ms"] == [pytest.approx(1240.27)]  # the timed run's figure


def test_delegate_fallback_from_the_profile_csv(tmp_path: Path) -> None:
    result, _ = _one_job(tmp_path, NNAPI_CSV, {"op_profiling": True, "nnapi": True})
    assert result["status"] == "fallback"
    assert result["info"]["fallback_ops"] == ["STRIDED_SLICE", "RESIZE_NEAREST_NEIGHBOR"]
    assert any(op["type"] == "TfLiteNnapiDelegate" for op in result["info"]["op_profile"]["ops"])


def test_a_profile_run_without_its_csv_says_so(tmp_path: Path) -> None:
    result, _ = _one_job(tmp_path, None, {"profile": True})  # type: ignore[arg-type]
    assert result["status"] == "ok" and "op_profile" not in result["info"]
    assert "no profile in" in result["info"]["op_profile_error"]
