"""Bring your own model: ``hwbehave run --model FILE`` and the ``model`` op, on real runtimes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import suite.results as results
from suite.cli.main import main
from suite.errors import ConfigError
from suite.ops.model import read_model_file
from suite.sweep.expand import load_sweep

FAST = ["--warmup", "1", "--min-runs", "3", "--min-s", "0.01", "--rounds", "1", "--confirm-s", "0"]


def tiny_onnx(path: Path, cout: int = 16, symbolic_batch: bool = False) -> Path:
    """Conv 8→cout 3×3 @16² + Relu + MatMul to 10: MACs 16²·cout·8·9 + 16²·cout·10."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((cout, 8, 3, 3)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.standard_normal(cout).astype(np.float32), "B"),
             numpy_helper.from_array(rng.standard_normal((cout * 256, 10)).astype(np.float32), "F"),
             numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "shape")]
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("Reshape", ["r", "shape"], ["f"]),
             helper.make_node("MatMul", ["f", "F"], ["y"])]
    batch: int | str = "N" if symbolic_batch else 1
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 8, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def expected_macs(cout: int = 16) -> int:
    return 256 * cout * 8 * 9 + 256 * cout * 10


def test_cost_and_shapes_come_from_the_file(tmp_path: Path):
    f = read_model_file(tiny_onnx(tmp_path / "a.onnx"))
    assert f.format == "onnx" and f.native_dtype == "fp32"
    assert f.macs == expected_macs() and f.cost_note is None
    assert f.param_count == 16 * 8 * 9 + 16 + 16 * 256 * 10  # the int64 shape constant is no weight
    assert f.inputs == (("x", (1, 8, 16, 16)),) and f.outputs == (("y", (1, 10)),)


def test_point_id_hashes_content_not_path(tmp_path: Path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    a = tiny_onnx(tmp_path / "one" / "m.onnx")
    b = shutil.copy(a, tmp_path / "two" / "renamed.onnx")
    other = tiny_onnx(tmp_path / "two" / "other.onnx", cout=8)
    text = "name: byo\nop: model\naxes:\n  file: [{}]\n"
    ids = [load_sweep(tmp_path / "s.yaml", text=text.format(p)).points[0].id for p in (a, b, other)]
    assert ids[0] == ids[1] != ids[2]


def test_sweep_paths_resolve_against_the_sweep_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "sweeps").mkdir()
    tiny_onnx(tmp_path / "models" / "m.onnx")
    sweep_file = tmp_path / "sweeps" / "byo.yaml"
    sweep_file.write_text("name: byo\nop: model\nfixed: {file: ../models/m.onnx}\ndtypes: [fp32, int8]\n")
    monkeypatch.chdir(tmp_path.parent)  # not the sweep's folder: paths are the sweep file's, not the cwd's
    sweep = load_sweep(sweep_file)
    assert [p.params["file"] for p in sweep.points] == [str(tmp_path / "models" / "m.onnx")] * 2
    assert sweep.points[0].macs == expected_macs()
    sweep_file.write_text("name: byo\nop: model\nfixed: {file: ../models/missing.onnx}\n")
    with pytest.raises(ConfigError) as err:
        load_sweep(sweep_file)
    assert err.value.line == 3 and "model file not found" in str(err.value) and "missing.onnx" in str(err.value)


def test_unknown_shape_gives_null_macs_with_a_note(tmp_path: Path):
    path = tmp_path / "dyn.onnx"
    model = onnx.load(str(tiny_onnx(path)))
    model.graph.node[2].input[1] = "dyn_shape"  # a Reshape to a runtime-computed shape
    model.graph.input.append(helper.make_tensor_value_info("dyn_shape", TensorProto.INT64, [2]))
    onnx.save(model, str(path))
    f = read_model_file(path)
    assert f.macs is None and "MatMul" in (f.cost_note or "")
    point = load_sweep(tmp_path / "s.yaml", text=f"name: d\nop: model\nfixed: {{file: {path}}}\n").points[0]
    assert point.macs is None and point.flops is None and point.bytes_in == (8 * 256 + 2) * 4  # both inputs, at the point dtype


def test_run_model_measures_the_file_and_its_derived_dtypes(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    model = tiny_onnx(tmp_path / "tiny.onnx")
    out = tmp_path / "run"
    assert main(["run", "--model", str(model), "--dtype", "fp32,fp16,int8", "--out", str(out), "--quiet",
                 *FAST]) == 0
    df = results.load(out).sort_values("dtype")
    assert list(df["dtype"]) == ["fp16", "fp32", "int8"] and set(df["status"]) == {"ok"}
    assert (df["median_ms"] > 0).all() and set(df["op"]) == {"model"} and (df["macs"] == expected_macs()).all()
    meta = {r.dtype: json.loads(r.artifact_json) for r in df.itertuples()}
    assert meta["int8"]["quantize_linear_nodes"] > 0 and meta["fp16"]["derived"] == "fp32 → fp16"
    assert meta["fp32"]["source_sha256"] == df["sha256"].iloc[0]
    # the same model file elsewhere is the same point
    copy = shutil.copy(model, tmp_path / "copy.onnx")
    assert main(["run", "--model", str(copy), "--out", str(tmp_path / "run2"), "--quiet", *FAST]) == 0
    again = results.load(tmp_path / "run2")
    assert again["point_id"].iloc[0] == df[df["dtype"] == "fp32"]["point_id"].iloc[0]


def test_model_on_other_runtimes_and_what_cannot_be_made(tmp_path: Path):
    pytest.importorskip("openvino")
    pytest.importorskip("tensorflow")
    model = tiny_onnx(tmp_path / "tiny.onnx")
    # ONNX → TFLite through our translator (fp32 and full int8), on LiteRT
    assert main(["run", "--model", str(model), "--dtype", "fp32,int8", "--device", "local-litert", "--out",
                 str(tmp_path / "lite"), "--quiet", *FAST]) == 0
    lite = results.load(tmp_path / "lite")
    assert set(lite["status"]) == {"ok"} and set(lite["format"]) == {"tflite"}
    # that .tflite file, brought back as a user's file: measured as it is, int8 native
    from suite.models.cache import ArtifactCache

    art = json.loads(lite[lite["dtype"] == "int8"]["artifact_json"].iloc[0])
    assert art["source_format"] == "onnx"
    sha = lite[lite["dtype"] == "int8"]["artifact_sha256"].iloc[0]
    cached = next(p for p in ArtifactCache().root.rglob("model.tflite") if _sha(p) == sha)
    tfl = shutil.copy(cached, tmp_path / "q.tflite")
    assert read_model_file(tfl).native_dtype == "int8" and read_model_file(tfl).macs == expected_macs()
    assert main(["run", "--model", str(tfl), "--dtype", "int8,fp16", "--device", "local-litert", "--out",
                 str(tmp_path / "tfl"), "--quiet", *FAST]) == 0
    tf = results.load(tmp_path / "tfl").set_index("dtype")
    assert tf.loc["int8", "status"] == "ok"
    assert tf.loc["fp16", "status"] == "unsupported" and "no fp32 graph" in tf.loc["fp16", "error"]
    # a .tflite on ONNX Runtime: no converter, unsupported with the reason
    assert main(["run", "--model", str(tfl), "--out", str(tmp_path / "ort"), "--quiet", *FAST]) == 0
    ort = results.load(tmp_path / "ort")
    assert ort["status"].iloc[0] == "unsupported" and "cannot make onnx from a tflite file" in ort["error"].iloc[0]
    # ONNX and an OpenVINO IR on OpenVINO
    import openvino as ov

    ov.save_model(ov.convert_model(str(model)), str(tmp_path / "tiny.xml"), compress_to_fp16=False)
    assert read_model_file(tmp_path / "tiny.xml").macs == expected_macs()
    assert main(["run", "--model", str(tmp_path / "tiny.xml"), "--dtype", "fp32,int8", "--device", "local-openvino",
                 "--out", str(tmp_path / "ov"), "--quiet", *FAST]) == 0
    ovr = results.load(tmp_path / "ov").set_index("dtype")
    assert ovr.loc["fp32", "status"] == "ok" and ovr.loc["fp32", "median_ms"] > 0
    assert ovr.loc["int8", "status"] == "unsupported" and "derived from ONNX files only" in ovr.loc["int8", "error"]


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_model_and_sweep_together_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    model = tiny_onnx(tmp_path / "tiny.onnx")
    assert main(["run", "study/f1-channels-quick", "--model", str(model)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["run", "--model", str(tmp_path / "nope.onnx"), "--quiet"]) == 2
    assert "model file not found" in capsys.readouterr().err
