"""Ethos-U backend for real: our full-int8 TFLite models compiled by Vela (ethos-u-vela), placement and
failures as data, the estimate runtime reading what the compilation wrote, a sweep end to end.

One module-scoped build of six small points (TensorFlow starts once per pool worker, Vela runs
~0.5 s per point); everything after it reads the cache.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from suite import status as st
from suite.testing.requirements import require_modules

require_modules("ethosu.vela", "tensorflow", "ai_edge_litert", fix="pip install 'hwbehave[vela,tflite]'")

from suite.backends.ethos_u.builder import EthosUBuilder  # noqa: E402
from suite.backends.ethos_u.reports import LAYERS_FILE, LOG_FILE, SUMMARY_FILE  # noqa: E402
from suite.backends.ethos_u.runtime import VelaEstimateRuntime  # noqa: E402
from suite.backends.ethos_u.vela import BUILTIN_CONFIG, VelaCompiler  # noqa: E402
from suite.backends.toolchain import ToolchainSettings, resolve_settings  # noqa: E402
from suite.devices.config import load_device  # noqa: E402
from suite.devices.transports.local import LocalTransport  # noqa: E402
from suite.errors import ConfigError  # noqa: E402
from suite.models.artifact import Artifact  # noqa: E402
from suite.models.cache import ArtifactCache  # noqa: E402
from suite.ops.catalogue import get_op  # noqa: E402
from suite.sweep.point import Point  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
U55 = ROOT / "devices" / "ethos-u55-128.yaml"


def point(op: str, dtype: str = "int8", **params: object) -> Point:
    spec = get_op(op)
    p = spec.normalize(params)
    return Point.make(op, p, dtype, spec.cost(p, dtype))


POINTS = {
    "conv16": point("conv2d", cin=8, cout=16, resolution=14),
    "conv17": point("conv2d", cin=8, cout=17, resolution=14),
    "dw-stride4": point("dwconv2d", channels=16, stride=4, resolution=16),       # DEPTHWISE_CONV_2D → CPU
    "resize-x3": point("resize", channels=8, scale=3, resolution=7),              # the only op → CPU
    "conv-stride4": point("conv2d", cin=8, cout=16, stride=4, resolution=16),     # Vela raises
    "conv-fp32": point("conv2d", "fp32", cin=8, cout=16, resolution=14),          # float: nothing on the NPU
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> ArtifactCache:
    return ArtifactCache(tmp_path_factory.getbasetemp() / "artifact-cache")


@pytest.fixture(scope="module")
def built(cache: ArtifactCache) -> dict[str, Artifact]:
    with EthosUBuilder(cache=cache, device=load_device(U55)) as builder:
        return dict(zip(POINTS, builder.build_many(list(POINTS.values())), strict=True))


def test_int8_points_compile_with_every_setting_explicit(built: dict[str, Artifact]) -> None:
    art = built["conv16"]
    assert art.status == st.OK and art.format == "ethosu" and art.path.endswith("model_vela.tflite")
    folder = Path(art.path).parent
    assert {SUMMARY_FILE, LAYERS_FILE, LOG_FILE} <= {p.name for p in folder.iterdir()}  # kept for the runtime
    vela = art.metadata["vela"]
    assert (vela["accelerator_config"], vela["config"], vela["system_config"], vela["memory_mode"]) == (
        "ethos-u55-128", BUILTIN_CONFIG, "Ethos_U55_High_End_Embedded", "Shared_Sram")
    assert vela["version"] == "5.2.0" and vela["core_clock_hz"] == 500e6
    assert vela["default_config_warnings"] == []  # no "Using a default of ..." decided the clock
    assert "Using a default" not in (folder / LOG_FILE).read_text()
    assert vela["placement"]["status"] == st.OK and vela["placement"]["cpu_ops"] == []
    assert art.metadata["tflite"]["variant"] == "int8_full"
    # the compiled file carries the NPU part as Vela's ethos-u custom operator
    from suite.backends.litert.builder import analyze_tflite

    assert "CUSTOM:ethos-u" in analyze_tflite(Path(art.path).read_bytes())["op_counts"]


def test_an_operator_left_on_the_cpu_keeps_the_point_and_names_it(built: dict[str, Artifact]) -> None:
    art = built["dw-stride4"]
    assert art.status == st.OK  # it runs: the runtime reports it as fallback
    where = art.metadata["vela"]["placement"]
    assert where["status"] == st.FALLBACK and where["tflite_ops"] == 2  # PAD (NPU) + DEPTHWISE_CONV_2D (CPU)
    assert where["cpu_ops"] == [{"operator": "DEPTHWISE_CONV_2D", "ofm": "PartitionedCall:0",
                                 "reason": "Unsupported kernel stride: 4, 4",
                                 "constraint": "Kernel stride must be in the range (1,3)."}]


def test_nothing_on_the_npu_is_unsupported_with_vela_reasons(built: dict[str, Artifact]) -> None:
    resize, fp32 = built["resize-x3"], built["conv-fp32"]
    assert resize.status == st.UNSUPPORTED
    assert resize.error == ("ethos-u-vela: no operator runs on the Ethos-U55-128 NPU: RESIZE_NEAREST_NEIGHBOR "
                            "'PartitionedCall:0' (Scaling matches and operation has unsupported scale-factor=3)")
    assert fp32.status == st.UNSUPPORTED and fp32.metadata["tflite"]["variant"] == "fp32"
    assert "CONV_2D 'PartitionedCall:0' (Operation has tensor with unsupported DataType Float32" in fp32.error


def test_a_vela_failure_is_a_build_error_with_its_text(built: dict[str, Artifact]) -> None:
    art = built["conv-stride4"]
    assert art.status == st.BUILD_ERROR
    assert art.error == "ethos-u-vela: RuntimeError: Non-passthrough operation (Conv2D) could not run on NPU"
    assert "Traceback" in art.log and art.metadata["vela"]["command"][1:3] == ["-m", "ethosu.vela"]


def test_a_second_build_is_a_cache_hit_without_running_vela(built: dict, cache: ArtifactCache, monkeypatch) -> None:
    def no_vela(*args: object, **kwargs: object) -> None:
        raise AssertionError("Vela ran for a cached point")

    monkeypatch.setattr(VelaCompiler, "compile", no_vela)
    with EthosUBuilder(cache=cache, device=load_device(U55)) as builder:
        again = builder.build(POINTS["conv16"])
    assert again.metadata["cache"] == "hit" and again.sha256 == built["conv16"].sha256


def test_the_key_follows_the_accelerator_and_system_config(built: dict) -> None:
    u55 = EthosUBuilder(device=load_device(U55))
    u65 = EthosUBuilder(device=load_device(ROOT / "devices" / "ethos-u65-256.yaml"))
    slow = EthosUBuilder(settings=resolve_settings("vela", EthosUBuilder.defaults, machine={
        "vela": {"system_config": "Ethos_U55_Deep_Embedded"}}))
    keys = {b.key(POINTS["conv16"]) for b in (u55, u65, slow)}
    assert len(keys) == 3
    assert u65.config.system_config == "Ethos_U65_Client_Server" and slow.config.memory_mode == "Shared_Sram"


@pytest.mark.parametrize("block, field, message", [
    ({"accelerator_config": "ethos-u99-1"}, "toolchain.vela.accelerator_config", "ethos-u55-32, ethos-u55-64"),
    ({"system_config": "Ethos_U55_Fast"}, "toolchain.vela.system_config", "Ethos_U55_Deep_Embedded"),
    ({"memory_mode": "Sram"}, "toolchain.vela.memory_mode", "Dedicated_Sram_384KB"),
    ({"args": ["--system-config=X"]}, "toolchain.vela.args", "not one of"),
    ({"optimise": "Speed"}, "toolchain.vela.optimise", "Performance, Size"),
    ({"config": "/nonexistent/vela.ini"}, "toolchain.vela.config", "an existing .ini file"),
    ({"sram": 1}, "toolchain.vela.sram", "accelerator_config"),
])
def test_bad_vela_settings_are_config_errors_naming_field_and_choices(block: dict, field: str, message: str,
                                                                      write_yaml) -> None:
    lines = "\n".join(f"    {k}: {json.dumps(v)}" for k, v in block.items())
    device = load_device(write_yaml(f"name: u\nclass: npu\nruntime: {{name: vela}}\nformats: [ethosu]\n"
                                    f"toolchain:\n  vela:\n{lines}\n", "u.yaml"))
    with pytest.raises(ConfigError) as exc:
        EthosUBuilder(device=device)
    assert exc.value.field == field and message in str(exc.value)


def test_a_user_ini_is_checked_and_its_content_keys_the_cache(tmp_path: Path) -> None:
    ini = tmp_path / "board.ini"
    ini.write_text("[System_Config.Board]\ncore_clock=250e6\naxi0_port=Sram\naxi1_port=Sram\n"
                   "[Memory_Mode.Board_Sram]\nconst_mem_area=Axi0\narena_mem_area=Axi0\ncache_mem_area=Axi0\n")
    settings = resolve_settings("vela", EthosUBuilder.defaults, machine={
        "vela": {"config": str(ini), "system_config": "Board", "memory_mode": "Board_Sram"}})
    builder = EthosUBuilder(settings=settings)
    before = builder.key(POINTS["conv16"])
    ini.write_text(ini.read_text().replace("250e6", "400e6"))
    assert builder.key(POINTS["conv16"]) != before
    from suite.backends.ethos_u.vela import core_clock_hz

    assert core_clock_hz(builder.config, settings) == 400e6


def runtime() -> VelaEstimateRuntime:
    device = load_device(U55)
    return VelaEstimateRuntime(LocalTransport(device.transport), device)


def test_the_runtime_reads_the_estimate_as_one_exact_sample(built: dict[str, Artifact]) -> None:
    art = built["conv16"]
    summary = (Path(art.path).parent / SUMMARY_FILE).read_text().splitlines()
    row = dict(zip(summary[0].split(","), summary[1].split(","), strict=True))
    msg = runtime().run_job({"job": "j1", "model": "models/x.tflite", "artifact": art.path}, "/tmp", {})
    assert (msg["status"], msg["timing"], msg["loop_k"]) == (st.OK, "estimated", 1)
    assert msg["samples_ms"] == [pytest.approx(int(row["cycles_total"]) / float(row["core_clock"]) * 1e3)]
    info = msg["info"]
    assert info["interval"].startswith("exact model") and info["provider"] == "vela:Ethos_U55_128"
    assert info["estimate"]["cycles_npu"] == int(row["cycles_npu"]) and info["estimate_scope"] == "whole network"
    assert [layer["target"] for layer in info["layers"]] == ["NPU"]
    assert info["layers"][0]["macs"] == POINTS["conv16"].macs
    # the per-layer estimate in the suite's per-op profile shape (hwbehave show --point, the report)
    profile = info["op_profile"]
    assert profile["ops_total"] == 1 and profile["ops"][0]["type"] == "Conv2D"
    assert profile["total_us"] == pytest.approx(msg["samples_ms"][0] * 1e3)
    assert "estimated, not measured" in profile["note"]


def test_staircase_seen_by_the_model_one_more_channel_costs_a_block(built: dict[str, Artifact]) -> None:
    """U55-128 works on 8 output channels at a time in Vela 5.2's model: cout 17 costs a third block."""
    r = runtime()
    t16, t17 = (r.run_job({"job": k, "model": "m", "artifact": built[k].path}, "/tmp", {})["samples_ms"][0]
                for k in ("conv16", "conv17"))
    assert t17 / t16 > 1.3  # 6% more MACs, a step in the estimate


def test_the_runtime_reports_fallback_with_the_cpu_ops(built: dict[str, Artifact]) -> None:
    msg = runtime().run_job({"job": "j2", "model": "m", "artifact": built["dw-stride4"].path}, "/tmp", {})
    assert msg["status"] == st.FALLBACK and msg["samples_ms"][0] > 0
    assert "DEPTHWISE_CONV_2D 'PartitionedCall:0' (Unsupported kernel stride: 4, 4)" in msg["error"]
    assert msg["info"]["estimate_scope"].startswith("NPU part only")
    profile = msg["info"]["op_profile"]
    assert {op["type"] for op in profile["ops"]} == {"Pad/MemoryCopy"} and profile["ops_total"] == 5
    assert "1 operator(s) on the CPU have no estimate" in profile["note"]


def test_the_runtime_without_reports_is_a_runtime_error_never_zero(tmp_path: Path) -> None:
    r = runtime()
    assert r.run_job({"job": "j", "model": "m"}, "/tmp", {})["status"] == st.RUNTIME_ERROR
    (tmp_path / "model_vela.tflite").write_bytes(b"")
    lost = r.run_job({"job": "j", "model": "m", "artifact": str(tmp_path / "model_vela.tflite")}, "/tmp", {})
    assert lost["status"] == st.RUNTIME_ERROR and "cannot read the compilation's reports" in lost["error"]
    assert "samples_ms" not in lost


def test_the_runtime_refuses_runtime_options_but_profile(write_yaml) -> None:
    device = load_device(write_yaml("name: u\nclass: npu\nruntime: {name: vela, threads: 2}\nformats: [ethosu]\n",
                                    "u.yaml"))
    with pytest.raises(ConfigError, match="takes no runtime options") as exc:
        VelaEstimateRuntime(LocalTransport(device.transport), device).check_options()
    assert exc.value.field == "runtime.threads"
    profiled = load_device(write_yaml("name: u\nclass: npu\nruntime: {name: vela, options: {profile: true}}\n"
                                      "formats: [ethosu]\n", "p.yaml"))
    VelaEstimateRuntime(LocalTransport(profiled.transport), profiled).check_options()  # run --profile: accepted


def test_hello_and_environment_describe_the_modelled_npu() -> None:
    r = runtime()
    hello = r.hello()
    assert hello["runtimes"] == {"vela": "5.2.0"} and hello["device_model"] == "Ethos-U55-128"
    env = r.probe_environment()
    assert env["npu"]["core_clock_hz"] == 500e6 and env["npu_clock_mhz"] == 500.0
    assert env["versions"]["ethos-u-vela"] == "5.2.0" and env["temperatures_c"] == {}
    assert env["cpu_model"] == "Arm Ethos-U55-128 (Vela performance model)" and env["timing"] == "estimated"


TINY = """
name: ethos-u-tiny
fixed: {resolution: 14}
measure: {warmup_runs: 1, min_runs: 3}
parts:                      # the points of POINTS: every TFLite step is a cache hit
  - op: conv2d
    fixed: {cin: 8}
    axes: {cout: [16, 17]}
    dtypes: [int8]
  - op: conv2d
    fixed: {cin: 8, cout: 16}
    dtypes: [fp32]
  - op: dwconv2d
    fixed: {channels: 16, stride: 4, resolution: 16}
    dtypes: [int8]
"""


def test_a_sweep_end_to_end_on_the_u55_device(tmp_path: Path, cache: ArtifactCache, built: dict) -> None:
    import numpy as np
    import pandas as pd

    from suite.pipeline import run_sweep
    from suite.sweep.expand import load_sweep

    sweep = load_sweep(tmp_path / "s.yaml", text=TINY)
    outcome = run_sweep(sweep, load_device(U55), tmp_path / "run", cache=cache, rounds=3, confirm_s=5.0)
    assert outcome.complete, outcome
    df = pd.read_parquet(outcome.out_dir / "measurements.parquet")
    status = {(r.op, r.cout if r.op == "conv2d" else None, r["dtype"]): r.status for _, r in df.iterrows()}
    assert set(status.values()) == {st.OK, st.FALLBACK, st.UNSUPPORTED}
    assert status[("conv2d", 16, "fp32")] == st.UNSUPPORTED
    assert status[("dwconv2d", None, "int8")] == st.FALLBACK
    assert (df["timing"] == "estimated").all()  # build failures too: the backend's kind
    timed = df[df["status"].isin([st.OK, st.FALLBACK])]
    # three rounds read one compilation: equal round medians, no spread, a zero-width interval
    assert (timed["rounds"] == 3).all() and (timed["n"] == 3).all()
    assert all(len(set(m)) == 1 for m in timed["round_median_ms"])
    assert (timed["spread_rel"] == 0).all() and (timed["std_ms"] == 0).all()
    assert (timed["ci_low_ms"] == timed["median_ms"]).all() and (timed["ci_high_ms"] == timed["median_ms"]).all()
    assert (timed["median_ms"] > 0).all() and np.isfinite(timed["median_ms"]).all()
    # the sentinel's floor is 0 (an exact model), so nothing needed confirming
    assert (df["noise_floor_rel"] == 0).all() and (df["confirm_rounds"] == 0).all()
    layers = [json.loads(i)["layers"] for i in timed["info_json"]]
    assert all(rows and rows[0]["target"] in ("NPU", "CPU") for rows in layers)
    # hwbehave show --point says what the number is, and so does its per-op table
    from suite.report.op_profile import op_table, point_facts

    row = timed.iloc[0]
    assert dict(point_facts(row))["median"].endswith("timing estimated")
    assert "on ethos-u55-128 (estimated) (Vela 5.2.0 performance model" in op_table(row).caption
    manifest = json.loads((outcome.out_dir / "manifest.json").read_text())
    npu = manifest["environment"]["device"]["round0"]["start"]["npu"]
    assert (npu["accelerator_config"], npu["system_config"], npu["memory_mode"], npu["core_clock_hz"]) == (
        "ethos-u55-128", "Ethos_U55_High_End_Embedded", "Shared_Sram", 500e6)


def test_toolchain_check_says_usable_here_and_why_not_without_vela(tmp_path: Path, monkeypatch, capsys) -> None:
    from suite.cli.main import main

    ok = EthosUBuilder.check(resolve_settings("vela", EthosUBuilder.defaults, machine={}))
    assert ok.usable and ok.version == "5.2.0" and "ethos-u55-128" in ok.detail
    # another interpreter without ethos-u-vela: a real venv made for the test
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True, timeout=120)
    bare = ToolchainSettings(name="vela", python=str(tmp_path / "bare" / "bin" / "python"),
                             options=dict(EthosUBuilder.defaults))
    missing = EthosUBuilder.check(bare)
    assert not missing.usable and missing.fix and "hwbehave[vela]" in missing.fix
    # the same through the command line, where this interpreter is told to have no ethosu package
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name.startswith("ethosu") else
                        real(name, *a))
    monkeypatch.setenv("HWBEHAVE_TOOLCHAINS", str(tmp_path / "none.yaml"))
    capsys.readouterr()
    main(["toolchains", "check", "--json"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    vela = next(r for r in rows if r["name"] == "vela")
    assert not vela["usable"] and "hwbehave[vela]" in vela["fix"]
