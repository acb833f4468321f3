"""Edge TPU compiler: recorded real logs parsed into placement statuses; the compile path with
a stand-in compiler script; missing compiler/delegate give ``unsupported`` saying what to install."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from suite import status as st
from suite.backends.edgetpu.builder import EdgeTpuBuilder
from suite.backends.edgetpu.compiler import (
    EdgeTpuCompiler,
    ToolchainMissing,
    compiler_from,
    parse_compiler_log,
)
from suite.backends.toolchain import ToolchainSettings
from suite.models.artifact import Artifact
from suite.models.cache import ArtifactCache
from suite.ops.catalogue import get_op
from suite.sweep.point import Point
from suite.testing.requirements import require_modules

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "edgetpu_compiler"


def log(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_partial_mapping_with_table_is_fallback_listing_cpu_ops() -> None:
    r = parse_compiler_log(log("v16-yolov5s-224-partial-cpu-with-summary.txt"))
    assert (r.compiler_version, r.ops_on_tpu, r.ops_on_cpu, r.total_ops, r.subgraphs) == (
        "16.0.384591198", 289, 5, 294, 2)
    assert r.compiled and len(r.table) == 17
    assert sum(row.count for row in r.table) == 294
    status, error = r.placement_status()
    assert status == st.FALLBACK
    assert error.startswith("edgetpu-compiler: 5 of 294 op(s) stay on the CPU")
    assert r.cpu_ops == [
        "CONCATENATION x1 (Operation is otherwise supported, but not mapped due to some unspecified limitation)",
        "TRANSPOSE x1 (Operation is otherwise supported, but not mapped due to some unspecified limitation)",
        "QUANTIZE x2 (Operation is otherwise supported, but not mapped due to some unspecified limitation)",
        "RESHAPE x1 (Operation is otherwise supported, but not mapped due to some unspecified limitation)"]


def test_mostly_cpu_logs_keep_every_reason() -> None:
    r = parse_compiler_log(log("v15-yolov3-tiny-mostly-cpu-multiple-subgraph.txt"))
    assert (r.ops_on_tpu, r.ops_on_cpu) == (2, 34)
    reasons = {row.status for row in r.table if not row.mapped}
    assert reasons == {"More than one subgraph is not supported", "Operation version not supported",
                       "Operation not supported",
                       "Operation is otherwise supported, but not mapped due to some unspecified limitation"}
    assert r.placement_status()[0] == st.FALLBACK
    r2 = parse_compiler_log(log("v15-yolov5s-1-of-294-ops-mapped.txt"))
    assert (r2.ops_on_tpu, r2.ops_on_cpu) == (1, 293)
    assert any(row.status == "Only Strided-Slice with unitary strides supported" for row in r2.table)


def test_zero_ops_mapped_is_unsupported() -> None:
    r = parse_compiler_log(log("v14.1-zero-ops-mapped-table-only.txt"))
    status, error = r.placement_status()
    assert (r.ops_on_tpu, r.ops_on_cpu, status) == (0, 2, st.UNSUPPORTED)
    assert "no operation maps to the Edge TPU: MUL x1" in error and "SPLIT x1" in error


@pytest.mark.parametrize("name,reason", [
    ("v14.1-failure-model-not-quantized.txt", "model not quantized"),
    ("v15-failure-model-not-quantized.txt", "model not quantized"),
    ("v2.1-failure-internal-compiler-error.txt", "internal compiler error"),
])
def test_compiler_failures_are_unsupported(name: str, reason: str) -> None:
    r = parse_compiler_log(log(name))
    status, error = r.placement_status()
    assert status == st.UNSUPPORTED and not r.compiled
    assert error.startswith(f"edgetpu-compiler: {reason}")


def test_summary_without_table_reads_the_operation_log() -> None:
    summary = log("v15-summary-without-table-see-operation-log.txt")
    r = parse_compiler_log(summary)
    assert (r.ops_on_tpu, r.ops_on_cpu, r.table) == (117, 48, ())
    assert r.operation_log == "./EdgeTPU/model_edgetpu.log"
    assert r.placement_status() == (st.FALLBACK, "edgetpu-compiler: 48 of 165 op(s) stay on the CPU: "
                                                 "see the operation log")
    with_log = parse_compiler_log(summary, log("v16-operation-log-yolov5s-160-all-mapped.log"))
    assert len(with_log.table) == 11


@pytest.mark.parametrize("name,ops", [("v16-operation-log-yolov5s-160-all-mapped.log", 262),
                                      ("v16-operation-log-yolov8n-160-all-mapped.log", 257)])
def test_operation_log_files_all_mapped_are_ok(name: str, ops: int) -> None:
    r = parse_compiler_log(log(name))
    assert r.compiler_version == "16.0.384591198"
    assert sum(row.count for row in r.table) == ops and all(row.mapped for row in r.table)
    assert r.placement_status() == (st.OK, None)


def test_unrecognised_output_is_unsupported_not_ok() -> None:
    assert parse_compiler_log("segmentation fault").placement_status()[0] == st.UNSUPPORTED


# -- the compile path ------------------------------------------------------------------------
def fake_compiler(tmp_path: Path, fixture: str, write_model: bool = True, exit_code: int = 0) -> Path:
    """A stand-in ``edgetpu_compiler``: prints a recorded log and writes ``<stem>_edgetpu.tflite``."""
    script = tmp_path / "edgetpu_compiler"
    write = 'cp "$model" "$out/$(basename "$model" .tflite)_edgetpu.tflite"' if write_model else ":"
    script.write_text(f"""#!/bin/sh
if [ "$1" = "--version" ]; then echo "Edge TPU Compiler version 16.0.384591198"; exit 0; fi
out=.
while [ $# -gt 1 ]; do case "$1" in -o) out="$2"; shift 2;; *) shift;; esac; done
model="$1"
{write}
cat '{FIXTURES / fixture}'
exit {exit_code}
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def int8_point() -> Point:
    spec = get_op("conv2d")
    p = spec.normalize({"cin": 8, "cout": 8, "resolution": 8})
    return Point.make("conv2d", p, "int8", spec.cost(p, "int8"))


def base_artifact(tmp_path: Path, p: Point) -> Artifact:
    model = tmp_path / "base.tflite"
    model.write_bytes(b"TFL3 stand-in")
    return Artifact(point_id=p.id, format="tflite", dtype="int8", status=st.OK, path=str(model), sha256="ab" * 32,
                    metadata={"variant": "int8_full"})


def builder_with(tmp_path: Path, executable: str | None) -> EdgeTpuBuilder:
    settings = ToolchainSettings(name="edgetpu", executable=executable, options={"args": []})
    return EdgeTpuBuilder(cache=ArtifactCache(tmp_path / "cache"), settings=settings, workers=1)


def test_compile_with_partial_mapping_keeps_the_artifact_and_the_placement(tmp_path: Path) -> None:
    compiler = fake_compiler(tmp_path, "v16-yolov5s-224-partial-cpu-with-summary.txt")
    builder = builder_with(tmp_path, str(compiler))
    p = int8_point()
    art = builder.compile(p, base_artifact(tmp_path, p))
    assert art.status == st.OK and art.format == "edgetpu" and Path(art.path).name == "model_edgetpu.tflite"
    tpu = art.metadata["edgetpu"]
    assert tpu["placement"] == st.FALLBACK and tpu["ops_on_cpu"] == 5 and len(tpu["cpu_ops"]) == 4
    again = builder.compile(p, base_artifact(tmp_path, p))
    assert again.metadata["cache"] == "hit"


def test_compile_refused_model_is_unsupported(tmp_path: Path) -> None:
    compiler = fake_compiler(tmp_path, "v15-failure-model-not-quantized.txt", write_model=False, exit_code=1)
    builder = builder_with(tmp_path, str(compiler))
    p = int8_point()
    art = builder.compile(p, base_artifact(tmp_path, p))
    assert art.status == st.UNSUPPORTED and "model not quantized" in art.error
    assert "Edge TPU Compiler version 15.0" in art.log


def test_missing_compiler_is_unsupported_saying_what_to_install(tmp_path: Path) -> None:
    builder = builder_with(tmp_path, str(tmp_path / "no" / "edgetpu_compiler"))
    p = int8_point()
    art = builder.compile(p, base_artifact(tmp_path, p))
    assert art.status == st.UNSUPPORTED
    assert "edgetpu_compiler" in art.error and "apt-get install edgetpu-compiler" in art.error
    whole = builder.build(p)  # checked before any TFLite conversion
    assert whole.status == st.UNSUPPORTED and "apt-get install edgetpu-compiler" in whole.error
    with pytest.raises(ToolchainMissing):
        EdgeTpuCompiler("definitely-not-an-edgetpu-compiler").compile(tmp_path / "m.tflite", tmp_path)
    check = EdgeTpuBuilder.check(ToolchainSettings(name="edgetpu", executable=str(tmp_path / "nope")))
    assert not check.usable and "edgetpu-compiler" in check.fix


def test_float_points_are_unsupported_without_building(tmp_path: Path) -> None:
    builder = builder_with(tmp_path, None)
    spec = get_op("conv2d")
    p = spec.normalize({"cin": 4, "cout": 4})
    fp32 = Point.make("conv2d", p, "fp32", spec.cost(p, "fp32"))
    art = builder.build(fp32)
    assert art.status == st.UNSUPPORTED and "only full-integer int8" in art.error


def test_missing_edgetpu_delegate_is_unsupported() -> None:
    from suite.agent.runtimes import Unsupported, get_runtime

    require_modules("ai_edge_litert", fix="pip install 'hwbehave[tflite]'")
    adapter = get_runtime("litert")({"delegate": "libedgetpu.so.1"})
    with pytest.raises(Unsupported, match="install the Edge TPU runtime"):
        adapter.load(str(FIXTURES / "unused.tflite"))


def test_compiler_settings() -> None:
    c = compiler_from(ToolchainSettings(name="edgetpu", options={"args": ["-a"]}))
    assert c.path == "edgetpu_compiler" and c.timeout_s == 180.0
    assert c.command(Path("m.tflite"), Path("out"))[1:] == ["-s", "-o", "out", "-a", "m.tflite"]
