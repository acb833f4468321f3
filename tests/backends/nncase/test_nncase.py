"""nncase: command lines, recorded ncc/K210 logs, and both build paths to the toolchain boundary.

The compilers cannot run here (ncc 1.x is not on PyPI; nncase 2.x needs .NET 7), so the
boundary is exercised with stand-ins that replay recorded output: an ``ncc`` script that
prints a recorded compile log, and an ``nncase`` package whose import raises the error
recorded from the real nncase 2.11 wheel on this machine.
"""

from __future__ import annotations

import stat
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from backends.backend_harness import FIXTURES, fixture_text, tiny_sweep
from suite import status as st
from suite.backends.nncase.builder import NncaseBuilder, ncc_command, ncc_result
from suite.backends.nncase.logs import parse_kpu_debug, parse_ncc_log
from suite.backends.toolchain import resolve_settings
from suite.models.cache import ArtifactCache


def test_ncc_command_float_and_quantized():
    float_cmd = ncc_command("ncc", Path("m.onnx"), Path("m.kmodel"), {"target": "k210"}, None)
    assert float_cmd == ["ncc", "compile", "m.onnx", "m.kmodel", "-i", "onnx", "-t", "k210", "--input-type", "float32"]
    q = ncc_command("ncc", Path("m.onnx"), Path("m.kmodel"), {"target": "k210", "calibrate_method": "l2",
                                                               "dump_ir": True}, Path("calib"))
    assert q[10:] == ["--dataset", "calib", "--dataset-format", "raw", "--calibrate-method", "l2",
                      "--quant-type", "uint8", "--w-quant-type", "uint8", "--dump-ir"]


def test_ncc_1x_log_memory_usages_and_io():
    log = parse_ncc_log(fixture_text("nncase/ncc-v1.0.0-k210-compile-onnx-float-memory-usages.txt"))
    assert log.version == "1.0.0-b6afb77" and log.completed and not log.failed
    assert log.memory_bytes == {".input": 3136, ".output": 40, ".data": 120, "MODEL": 32408, "TOTAL": 35704}
    assert log.inputs == [("input", "f32[1,1,28,28]")] and log.outputs == [("output", "f32[1,10]")]
    spaced = parse_ncc_log(fixture_text("nncase/ncc-v1.x-k210-summary-memory-usages-space-aligned.txt"))
    assert spaced.memory_bytes["TOTAL"] == 3122984 and len(spaced.outputs) == 2


def test_ncc_02_logs_memory_and_float_fallbacks():
    beta4 = parse_ncc_log(fixture_text("nncase/ncc-v0.2.0beta4-k210-compile-uint8-dump-weights-range-windows.txt"))
    assert beta4.memory_bytes == {"working": 353280}
    assert len(beta4.fallback_ops) == 16 and beta4.fallback_ops[0] == "Conv2D_2"  # repeated WARN lines counted once
    beta2 = parse_ncc_log(fixture_text("nncase/ncc-v0.2.0beta2-k210-compile-main-memory-usage-markdown-indented.txt"))
    assert beta2.memory_bytes == {"main": 3543040} and beta2.inputs == [("input_1", "1x3x128x160")]


@pytest.mark.parametrize("name,fatal,last_step", [
    ("ncc-v1.0.0-k210-failure-bad_alloc.txt", "std::bad_alloc", None),
    ("ncc-v0.2.0alpha2-failure-invalid-dataset.txt", "Invalid dataset, should contain one file at least", None),
    ("ncc-v0.2-k210-compile-stalled-at-calibration.txt", None, "Run calibration"),
    ("nncase-v1.5.0-python-k210-crash-during-calibration.txt", None, "4.2.1. Collecting ranges"),
])
def test_failed_and_stalled_compiles(name, fatal, last_step):
    log = parse_ncc_log(fixture_text("nncase/" + name))
    assert log.failed and log.fatal == fatal and log.last_step == last_step


def test_k210_runtime_debug_timings():
    kpu = parse_kpu_debug(fixture_text("k210_runtime/kpu-debug-per-layer-timings-yolov2-face.txt"))
    assert len(kpu.layers) == 24 and kpu.layers[0] == ("0:K210Conv", 0.206)
    assert kpu.totals_ms == {"kpu": 12.328, "cpu": 0.404, "model": 12.732} and kpu.total_ms == 12.732
    tail = parse_kpu_debug(fixture_text("k210_runtime/ncc0.2-kmodel-kpu-debug-tail.txt"))
    assert tail.total_ms == pytest.approx(56.007999) and tail.layers[0] == ("KPUConv2D", 0.807)
    assert parse_kpu_debug(fixture_text("k210_runtime/nncase-v1-debug-run-kmodel-takes.txt")).total_ms == 1381.217041
    assert parse_kpu_debug("nothing timed here").total_ms is None


def _fake_ncc(tmp_path: Path, log_fixture: str, rc: int, write_model: bool) -> Path:
    script = tmp_path / "ncc"
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write(open({str(FIXTURES / log_fixture)!r}).read())\n"
                      + ("open(sys.argv[3], 'wb').write(b'KMDL')\n" if write_model else "") + f"sys.exit({rc})\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def _builder(tmp_path, monkeypatch, **options):
    monkeypatch.setenv("HWBEHAVE_TOOLCHAINS", str(tmp_path / "none.yaml"))
    settings = resolve_settings("nncase", NncaseBuilder.defaults)
    executable = options.pop("executable", None)
    settings = replace(settings, options={**settings.options, **options}, executable=executable)
    return NncaseBuilder(cache=ArtifactCache(tmp_path / "cache"), settings=settings)


def test_k210_build_through_ncc_records_memory(tmp_path, monkeypatch):
    ncc = _fake_ncc(tmp_path, "nncase/ncc-v1.0.0-k210-compile-onnx-float-memory-usages.txt", 0, True)
    b = _builder(tmp_path, monkeypatch, target="k210", executable=str(ncc))
    arts = {p.dtype: b.build(p) for p in tiny_sweep().points}
    assert arts["fp16"].status == st.UNSUPPORTED and "no fp16 kmodel" in arts["fp16"].error
    for dtype in ("fp32", "int8"):
        a = arts[dtype]
        assert a.status == st.OK and a.path.endswith(".kmodel"), a.error
        assert a.metadata["memory_bytes"]["TOTAL"] == 35704 and a.metadata["ncc_version"] == "1.0.0-b6afb77"
    assert "uint8" in arts["int8"].metadata["note"]
    assert "MEMORY USAGES" in arts["fp32"].log


def test_k210_compiler_failure_is_a_build_error_with_the_fatal_text(tmp_path, monkeypatch):
    ncc = _fake_ncc(tmp_path, "nncase/ncc-v1.0.0-k210-failure-bad_alloc.txt", 255, False)
    b = _builder(tmp_path, monkeypatch, target="k210", executable=str(ncc))
    a = b.build(tiny_sweep("[fp32]").points[0])
    assert a.status == st.BUILD_ERROR and a.error == "nncase: ncc failed: std::bad_alloc"
    assert ncc_result(0, "SUMMARY\n", tmp_path / "missing.kmodel")["status"] == st.BUILD_ERROR


def test_k210_without_ncc_is_unsupported_with_what_to_install(tmp_path, monkeypatch):
    b = _builder(tmp_path, monkeypatch, target="k210", executable=str(tmp_path / "no-ncc"))
    a = b.build(tiny_sweep("[fp32]").points[0])
    assert a.status == st.UNSUPPORTED and "ncc not found" in a.error and "not on PyPI" in a.error


def test_k230_without_dotnet_is_unsupported_with_what_to_install(tmp_path, monkeypatch):
    # a stand-in nncase package raising exactly what nncase 2.11 raised here without .NET
    recorded = fixture_text("nncase/recorded-nncase-2.11.0-import-no-dotnet-hostfxr.txt").strip().splitlines()[-1]
    assert recorded == "RuntimeError: Failed to get hostfxr path."
    pkg = tmp_path / "fake" / "nncase"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('Failed to get hostfxr path.')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "fake"))
    b = _builder(tmp_path, monkeypatch, target="k230")
    a = b.build(tiny_sweep("[int8]").points[0])
    assert a.status == st.UNSUPPORTED
    assert "Failed to get hostfxr path" in a.error and ".NET 7 runtime" in a.error
    assert "pip install nncase nncase-kpu" in a.error


def test_k230_without_nncase_is_unsupported(tmp_path, monkeypatch):
    import importlib.util

    if importlib.util.find_spec("nncase") is not None:
        pytest.skip("nncase is installed in this interpreter")
    a = _builder(tmp_path, monkeypatch, target="k230").build(tiny_sweep("[fp32]").points[0])
    assert a.status == st.UNSUPPORTED and "nncase is not installed" in a.error


def test_check_reports_why_nncase_is_not_usable(tmp_path, monkeypatch):
    monkeypatch.setenv("HWBEHAVE_TOOLCHAINS", str(tmp_path / "none.yaml"))
    r = NncaseBuilder.check()
    if not r.usable:
        assert r.fix and ".NET 7" in r.fix and "k230" in r.detail
