"""RKNN: the rknn-toolkit2 venv (created once, cached in ~/.cache/hwbehave/venvs/rknn),
real ONNX → .rknn builds for rk3588 in fp16 and int8, and the simulator check.

Skipped only when the venv cannot be built here; the skip reason says why.
"""

from __future__ import annotations

import pytest

from backends.backend_harness import tiny_sweep
from suite import status as st
from suite.agent.runtimes.rknnlite import rknn_io_specs
from suite.backends.rknn import venv
from suite.backends.rknn.builder import RknnBuilder
from suite.errors import ToolchainError
from suite.models.cache import ArtifactCache

pytestmark = pytest.mark.rknn


@pytest.fixture(scope="module")
def rknn_python():
    try:
        return venv.install_venv(log=lambda line: print(line))
    except ToolchainError as exc:
        print(f"rknn venv cannot be built here: {exc}")
        pytest.skip(f"rknn venv cannot be built here: {exc}")


@pytest.fixture(scope="module")
def built(rknn_python, tmp_path_factory):
    from dataclasses import replace

    builder = RknnBuilder(cache=ArtifactCache(tmp_path_factory.mktemp("cache")))
    builder.settings = replace(builder.settings, python=str(rknn_python))
    return builder, {p.dtype: builder.build(p) for p in tiny_sweep().points}


def test_venv_is_reused_once_built(rknn_python):
    assert venv.venv_ready(venv.default_venv()) or rknn_python
    lines = []
    assert venv.install_venv(rknn_python.parent.parent, log=lines.append) == rknn_python
    assert lines == [f"rknn venv ready at {rknn_python.parent.parent} (reused)"]


def test_fp16_and_int8_build_for_rk3588_and_pass_the_simulator(built):
    _, arts = built
    for dtype in ("fp16", "int8"):
        a = arts[dtype]
        assert a.status == st.OK, a.error
        assert a.path.endswith(".rknn") and a.metadata["target_platform"] == "rk3588"
        assert a.metadata["toolchain_version"] == venv.TOOLKIT_VERSION
        assert a.metadata["simulator_outputs"] == 1
    assert arts["fp16"].metadata["compute_dtype"] == "fp16" and not arts["fp16"].metadata["quantized"]
    assert arts["int8"].metadata["quantized"] and arts["int8"].metadata["calibration_samples"] == 8
    # fp16 is close to the fp32 reference; int8 is further off, but not garbage
    assert arts["fp16"].metadata["simulator_max_rel_err"] < 0.01
    assert arts["int8"].metadata["simulator_max_rel_err"] < 0.2


def test_fp32_is_unsupported_unless_asked_to_build_fp16(built):
    _, arts = built
    assert arts["fp32"].status == st.UNSUPPORTED and "fp32_as_fp16" in arts["fp32"].error


def test_the_board_adapter_reads_input_specs_from_the_built_file(built):
    _, arts = built
    with open(arts["int8"].path, "rb") as f:
        specs = rknn_io_specs(f.read())
    assert specs == [("input_0", [1, 8, 12, 12], "float32")]


def test_unknown_target_platform_is_a_failed_build_not_a_crash(built, tmp_path):
    from dataclasses import replace

    builder, _ = built
    bad = RknnBuilder(cache=ArtifactCache(tmp_path), settings=replace(
        builder.settings, options={**builder.settings.options, "target_platform": "rk9999"}))
    a = bad.build(tiny_sweep("[fp16]").points[0])
    assert a.status in (st.UNSUPPORTED, st.BUILD_ERROR) and a.error.startswith("rknn: rknn-toolkit2 config failed")
