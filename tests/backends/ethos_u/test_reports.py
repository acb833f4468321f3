"""Vela's outputs parsed: recorded real summary CSVs, per-layer CSVs and console logs (ethos-u-vela 5.2.0,
tests/fixtures/vela/, see PROVENANCE.md) into estimates, placements and statuses. No Vela run here."""

from __future__ import annotations

from pathlib import Path

import pytest

from suite import status as st
from suite.backends.ethos_u.reports import (
    CpuOperator,
    parse_log,
    parse_per_layer_csv,
    parse_summary_csv,
    placement,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vela"


def text(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_summary_csv_gives_cycles_clock_and_time_at_the_clock() -> None:
    net = parse_summary_csv(text("conv2d-32-64-28-int8-u55-128-ok.summary.csv"))
    assert (net.accelerator, net.system_config, net.memory_mode) == (
        "Ethos_U55_128", "Ethos_U55_High_End_Embedded", "Shared_Sram")
    assert net.core_clock_hz == 500e6
    assert (net.cycles_total, net.cycles_npu) == (119020, 119020)
    # the time is cycles over the clock, and agrees with the CSV's own inference_time (s)
    assert net.inference_ms == pytest.approx(119020 / 500e6 * 1e3)
    assert net.inference_ms == pytest.approx(net.summary["inference_time"] * 1e3, rel=1e-6)
    assert net.summary["nn_macs"] == 32 * 64 * 9 * 28 * 28
    # 568,688 SRAM bytes in 0.238 ms = 2.39 GB/s; Vela's console prints "Average SRAM bandwidth 2.28 GB/s",
    # the same figure in MiB per ms
    sram = net.bandwidth_gbps("sram")
    assert sram == pytest.approx(net.summary["sram_total_bytes"] / 238.04e-6 / 1e9)
    assert round(sram * 1e9 / 2**20 / 1e3, 2) == 2.28
    assert net.to_dict()["avg_bandwidth_gbps"]["dram"] == 0.0


def test_per_layer_csv_rows_keep_targets_cycles_and_macs() -> None:
    rows = parse_per_layer_csv(text("conv2d-32-64-28-int8-u55-128-ok.per-layer.csv"))
    assert len(rows) == 1
    (conv,) = rows
    assert (conv.original_op, conv.nng_op, conv.target) == ("Conv2D", "Conv2D", "NPU")
    assert (conv.op_cycles, conv.npu_cycles, conv.macs) == (119020, 119020, 14450688)
    assert conv.mac_util_pct == pytest.approx(94.85, abs=0.01)
    fallback = parse_per_layer_csv(text("dwconv2d-16-s4-int8-u55-128-fallback.per-layer.csv"))
    assert [r.target for r in fallback] == ["NPU"] * 5 + ["CPU"]  # one PAD became five MemoryCopy rows
    assert {r.original_op for r in fallback} == {"Pad", "DepthwiseConv2D"}
    all_cpu = parse_per_layer_csv(text("resize-8-x3-int8-u55-128-all-cpu.per-layer.csv"))
    assert [(r.nng_op, r.target, r.peak_staging_pct) for r in all_cpu] == [("Passthrough", "CPU", None)]  # NaN


def test_log_gives_cpu_operators_with_vela_reasons_and_no_default_config_warning() -> None:
    log = parse_log(text("dwconv2d-16-s4-int8-u55-128-fallback.log"))
    assert log.cpu_operators == (CpuOperator("DEPTHWISE_CONV_2D", "PartitionedCall:0",
                                             "Unsupported kernel stride: 4, 4",
                                             "Kernel stride must be in the range (1,3)."),)
    assert log.failure is None and log.default_config_warnings == ()
    resize = parse_log(text("resize-8-x3-int8-u55-128-all-cpu.log"))
    assert resize.cpu_operators[0].reason == "Scaling matches and operation has unsupported scale-factor=3"
    assert "Scale-factor must be one of: 2x/4x/8x" in resize.cpu_operators[0].constraint


def test_a_failed_compilation_is_its_exception_line() -> None:
    log = parse_log(text("conv2d-8-16-s4-int8-u55-128-build-error.log"))
    assert log.failure == "RuntimeError: Non-passthrough operation (Conv2D) could not run on NPU"
    assert log.cpu_operators == ()


def test_default_config_warnings_are_noticed() -> None:
    log = parse_log("Warning: No system configuration specified. Using a default of Ethos_U55_High_End_Embedded. "
                    "Compilation may be invalid or non-optimal.\n")
    assert len(log.default_config_warnings) == 1


@pytest.mark.parametrize("stem, status, error", [
    ("conv2d-32-64-28-int8-u55-128-ok", st.OK, None),
    ("dwconv2d-16-s4-int8-u55-128-fallback", st.FALLBACK,
     "ethos-u-vela: 1 TFLite operator(s) stay on the CPU: DEPTHWISE_CONV_2D 'PartitionedCall:0' "
     "(Unsupported kernel stride: 4, 4); the estimate covers the NPU part only"),
    ("resize-8-x3-int8-u55-128-all-cpu", st.UNSUPPORTED,
     "ethos-u-vela: no operator runs on the Ethos-U55-128 NPU: RESIZE_NEAREST_NEIGHBOR 'PartitionedCall:0' "
     "(Scaling matches and operation has unsupported scale-factor=3)"),
])
def test_placement_status_from_rows_and_reasons(stem: str, status: str, error: str | None) -> None:
    where = placement(parse_per_layer_csv(text(f"{stem}.per-layer.csv")), parse_log(text(f"{stem}.log")),
                      accelerator="Ethos-U55-128")
    assert (where.status, where.error) == (status, error)
    assert where.to_dict()["status"] == status


def test_all_cpu_network_has_zero_cycles() -> None:
    net = parse_summary_csv(text("resize-8-x3-int8-u55-128-all-cpu.summary.csv"))
    assert (net.cycles_total, net.inference_ms) == (0, 0.0)
    assert net.bandwidth_gbps("sram") is None  # no time to divide by


def test_cpu_rows_without_a_warning_are_still_listed() -> None:
    rows = parse_per_layer_csv(text("dwconv2d-16-s4-int8-u55-128-fallback.per-layer.csv"))
    where = placement(rows, parse_log(""), accelerator="Ethos-U55-128")
    assert where.status == st.FALLBACK
    assert "DepthwiseConv2D 'PartitionedCall:0' (left on the CPU (Vela printed no reason))" in where.error


@pytest.mark.parametrize("bad, message", [
    ("a,b\n1,2\n", "not a Vela per-layer CSV: no column 'Original Operator'"),
    ("", "not a Vela per-layer CSV"),
])
def test_foreign_per_layer_csv_is_refused(bad: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_per_layer_csv(bad)


def test_foreign_summary_csv_is_refused() -> None:
    with pytest.raises(ValueError, match="one network row, this one has 0"):
        parse_summary_csv("core_clock,cycles_total\n")
    with pytest.raises(ValueError, match="no column 'cycles_npu'"):
        parse_summary_csv("core_clock,cycles_total,accelerator_configuration\n5e8,10,Ethos_U55_128\n")
    with pytest.raises(ValueError, match="core_clock_hz must be > 0"):
        parse_summary_csv("core_clock,cycles_total,cycles_npu,accelerator_configuration\n0,10,10,Ethos_U55_128\n")
