"""The agent's OpenVINO adapter on this machine's CPU: load, pre-set inputs, precision, layers."""

from __future__ import annotations

import os

import numpy as np
import pytest

from suite.agent.runtimes import Unsupported
from suite.agent.runtimes.openvino import OpenVinoAdapter, precision_mismatch, unpack_ir
from suite.testing.requirements import require_modules


@pytest.fixture(scope="module")
def ir_path(tmp_path_factory):
    require_modules("openvino", fix="pip install 'hwbehave[openvino]'")
    from suite.backends.openvino.builder import OpenVinoBuilder
    from suite.models.cache import ArtifactCache
    from suite.sweep.expand import load_sweep

    point = load_sweep("s.yaml", text="name: s\nparts:\n  - op: conv2d\n    fixed: {cin: 8, cout: 16, kernel: 3, "
                                      "resolution: 10}\n    dtypes: [fp32]\n").points[0]
    art = OpenVinoBuilder(cache=ArtifactCache(tmp_path_factory.mktemp("cache"))).build(point)
    assert art.ok, art.error
    return art.path


def test_ovir_unpacks_once_next_to_the_artifact(ir_path, tmp_path):
    import shutil

    copy = tmp_path / "m.ovir"
    shutil.copy(ir_path, copy)
    xml = unpack_ir(str(copy))
    assert xml == str(copy) + ".d/model.xml" and os.path.exists(xml)
    assert unpack_ir(str(copy)) == xml  # second call reuses the folder
    assert unpack_ir(xml) == xml  # a plain .xml passes through


def test_adapter_runs_with_preset_tensors_and_reports_layers(ir_path, tmp_path):
    import shutil

    path = str(tmp_path / "m.ovir")
    shutil.copy(ir_path, path)
    a = OpenVinoAdapter({"threads": 1, "device": "CPU", "precision": "f32", "perf_counters": True})
    a.load(path)
    (name, shape, dtype), = a.input_specs()
    assert shape == [1, 8, 10, 10] and dtype == "float32"
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    infer = a.bind({name: x})
    infer()
    first = a.outputs()[0].copy()
    x[...] = 0  # the request reads the bound array itself: no copy per inference
    infer()
    assert not np.allclose(first, a.outputs()[0])
    info = a.info()
    assert info["precision"] == "f32" and info["threads"] == 1
    assert any(layer["layer_type"] == "Convolution" for layer in info["layers"])
    profile = info["op_profile"]
    assert profile["runs"] > 0 and profile["ops"] and all(p["exec_type"] for p in profile["ops"])
    assert any(p["type"] == "Convolution" and p["time_us"] > 0 for p in profile["ops"])
    assert abs(sum(p["share"] for p in profile["ops"]) - 1) < 1e-6
    # the profile came from a second compiled model: the timed one never counts
    assert str(a.compiled.get_property("PERF_COUNT")) in ("False", "NO")
    a.close()


def test_precision_mismatch_lists_layers_at_another_precision_but_not_int8_or_reorders():
    layers = [{"name": "conv", "layer_type": "Convolution", "exec_type": "brgconv_avx512_bf16", "precision": "bf16"},
              {"name": "r", "layer_type": "Reorder", "exec_type": "jit_uni_f32", "precision": "f32"},
              {"name": "q", "layer_type": "Convolution", "exec_type": "brgconv_avx512_I8", "precision": "i8"},
              {"name": "ok", "layer_type": "Eltwise", "exec_type": "jit_avx512_f32", "precision": "f32"}]
    assert precision_mismatch(layers, "f32") == ["conv (Convolution: bf16, brgconv_avx512_bf16)"]


def test_unknown_device_is_unsupported(ir_path):
    a = OpenVinoAdapter({"device": "NPU"})
    with pytest.raises(Unsupported, match="device NPU not available"):
        a.load(ir_path)
