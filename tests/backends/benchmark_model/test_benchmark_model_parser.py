"""The benchmark_model output parser on every real output in tests/fixtures/benchmark_model/."""

from __future__ import annotations

from pathlib import Path

import pytest

from suite.backends.benchmark_model.parser import TimingStats, parse, result_from_output

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "benchmark_model"
ALL = sorted(p for p in FIXTURES.glob("*.txt") if not p.name.endswith(".py.txt"))  # recorded outputs, not scripts

#: file → (run average µs, count, init µs, first inference µs, memory overall MB)
EXPECTED = {
    "android-cpu-fp32-yolov5s-tf2.4-xiaomi-mi11.txt": (249684, 50, 16242, 360262, 138.809),
    "android-cpu-int8-yolov5s-tf2.4-xiaomi-mi11.txt": (95788.3, 50, 1779, 152949, 36.9883),
    "android-nnapi-qti-gpu-fp16-yolov5s-tf2.4-xiaomi-mi11.txt": (92571.2, 50, 365972, 120877, 61.0547),
    "android-nnapi-qti-gpu-fp32-yolov5s-tf2.4-xiaomi-mi11.txt": (156669, 50, 404292, 188086, 61.0078),
    "android-nnapi-op-profiling-yolov5s-tf2.4-xiaomi-mi11.txt": (158715, 50, None, None, None),
    "linux-am57x-cpu-mobilenet_v1_quant-legacy-tflite1.x.txt": (137722, 50, 4452, None, None),
    "linux-am62x-cpu-ssd_mobilenet_v2-tf2.18.txt": (971535, 50, 6418, 1041765, 109.848),
    "linux-am62x-cpu-ssd_mobilenet_v2-tf2.20-p5-median-p95.txt": (1.24027e6, 50, 5579, 1357602, 109.832),
    "linux-am62x-xnnpack-ssd_mobilenet_v2-tf2.18.txt": (602943, 50, 592232, 633430, 149.531),
    "linux-am62x-xnnpack-ssd_mobilenet_v2-tf2.20-p5-median-p95.txt": (899641, 50, 614333, 905463, 150.141),
    "linux-riscv64-qemu-cpu-op-profiling-mobilenet_v1-tf2.8.txt": (2.95034e6, 50, 17187, 3512391, 46.0859),
}
FAILED = {"android-nnapi-qti-default-failed-yolov5s-tf2.4-xiaomi-mi11.txt": "ANEURALNETWORKS_OP_FAILED",
          "android-nnapi-qti-dsp-failed-yolov5s-tf2.4-xiaomi-mi11.txt": "ANEURALNETWORKS_BAD_DATA"}


def test_every_fixture_is_covered() -> None:
    assert {p.name for p in ALL} == set(EXPECTED) | set(FAILED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_timings_parse(name: str) -> None:
    avg, count, init, first, mem = EXPECTED[name]
    out = parse((FIXTURES / name).read_text())
    assert out.average_us() == pytest.approx(avg)
    assert out.inference is not None and out.inference.count == count
    assert out.init_us == (pytest.approx(init) if init is not None else None)
    assert out.first_inference_us == (pytest.approx(first) if first is not None else None)
    assert out.memory_overall_mb == (pytest.approx(mem) if mem is not None else None)
    result = result_from_output("j", (FIXTURES / name).read_text(), exit_code=0, started_at="t")
    assert result["status"] == "ok" and result["samples_ms"] == [pytest.approx(avg / 1000)]
    assert result["info"]["samples_kind"] == "summary" and result["info"]["bm_count"] == count


@pytest.mark.parametrize("name", sorted(FAILED))
def test_failed_runs_are_runtime_errors_with_the_tail(name: str) -> None:
    text = (FIXTURES / name).read_text()
    out = parse(text)
    assert out.failed and not out.has_timing and out.params["Num threads"] == "4"
    result = result_from_output("j", text, exit_code=1, started_at="t")
    assert result["status"] == "runtime_error" and "samples_ms" not in result
    assert result["error"].startswith("benchmark_model: ") and FAILED[name] in result["error"]


def test_warmup_percentiles_and_params() -> None:
    out = parse((FIXTURES / "linux-am62x-cpu-ssd_mobilenet_v2-tf2.20-p5-median-p95.txt").read_text())
    assert out.warmup == TimingStats(count=1, curr_us=1357602, p5_us=1357602, median_us=1357602, p95_us=1357602)
    assert (out.inference.p5_us, out.inference.median_us, out.inference.p95_us) == (1238753, 1239807, 1247415)
    assert out.params["Use xnnpack"] == "0" and out.model_size_mb == pytest.approx(67.3128)
    assert out.init_session_ms == pytest.approx(5.579) and out.memory_kind == "delta"
    legacy = parse((FIXTURES / "linux-am57x-cpu-mobilenet_v1_quant-legacy-tflite1.x.txt").read_text())
    assert legacy.warmup_avg_us == 146161 and legacy.params["Num runs"] == "50"


def test_op_profiling_tables_and_fallback() -> None:
    text = (FIXTURES / "android-nnapi-op-profiling-yolov5s-tf2.4-xiaomi-mi11.txt").read_text()
    out = parse(text)
    titles = [(t.section.split()[0], t.title) for t in out.profile_tables]
    assert titles == [("Profiling", "Run Order"), ("Profiling", "Top by Computation Time"),
                      ("Profiling", "Summary by node type"), ("Operator-wise", "Run Order"),
                      ("Operator-wise", "Top by Computation Time"), ("Operator-wise", "Summary by node type")]
    run_order = out.profile_tables[3]
    assert len(run_order.rows) == 11 and run_order.rows[6]["[node type]"] == "TfLiteNnapiDelegate"
    assert out.fallback_ops() == ["STRIDED_SLICE", "RESIZE_NEAREST_NEIGHBOR"]
    result = result_from_output("j", text, exit_code=0, started_at="t", expect_delegate=True)
    assert result["status"] == "fallback" and "STRIDED_SLICE" in result["error"]
    cpu = parse((FIXTURES / "linux-riscv64-qemu-cpu-op-profiling-mobilenet_v1-tf2.8.txt").read_text())
    assert len(cpu.profile_tables[3].rows) == 31 and cpu.fallback_ops() == []  # no delegate: no fallback


def test_garbage_and_crash_are_never_zero_ms() -> None:
    r = result_from_output("j", "Segmentation fault\n", exit_code=139, started_at="t")
    assert r["status"] == "crashed" and "signal 11" in r["error"]
    r = result_from_output("j", "count=0 curr=0\n", exit_code=0, started_at="t")
    assert r["status"] == "runtime_error" and "samples_ms" not in r
    r = result_from_output("j", "", exit_code=0, started_at="t")
    assert r["status"] == "runtime_error" and "no timing line" in r["error"]


def test_profile_csv_parses_like_the_console_tables() -> None:
    from suite.backends.benchmark_model.parser import op_profile_from_tables, parse_profile_csv

    name = "linux-riscv64-qemu-cpu-op-profiling-mobilenet_v1-tf2.8"
    console = parse((FIXTURES / f"{name}.txt").read_text()).profile_tables
    csv = parse_profile_csv((FIXTURES / f"{name}.converted.csv").read_text())
    assert [(t.section, t.title, len(t.rows)) for t in csv] == [(t.section, t.title, len(t.rows)) for t in console]
    a, b = op_profile_from_tables(console, 50, "console"), op_profile_from_tables(csv, 50, "csv")
    assert a is not None and b is not None
    assert [(o["name"], o["type"], o["time_us"]) for o in a["ops"]] == [(o["name"], o["type"], o["time_us"])
                                                                          for o in b["ops"]]
    assert b["total_us"] == pytest.approx(sum(o["time_us"] for o in b["ops"]))
