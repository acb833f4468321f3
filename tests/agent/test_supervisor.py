"""The agent's supervisor as the session starts it: the bundle, jobs on stdin, results as JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from suite.agent.environment import package_version

RUNTIME_PACKAGES = ("onnxruntime", "openvino", "ai_edge_litert", "tensorflow", "numpy")


def relu_model(path: Path) -> Path:
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def serve(bundle: Path, jobs: list[dict], cwd: Path) -> list[dict]:
    text = "".join(json.dumps(j) + "\n" for j in jobs)
    p = subprocess.run([sys.executable, str(bundle), "serve", "--jobs", "-", "--base", str(cwd)], input=text,
                       capture_output=True, text=True, timeout=120, cwd=cwd)
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


PROTOCOL = {"warmup_runs": 1, "warmup_s": 0.0, "min_runs": 3, "min_s": 0.0, "max_runs": 3, "timeout_s": 60.0}


def test_serve_reads_jobs_from_stdin_and_streams_a_result_per_job(tmp_path):
    from suite.devices.agent_bundle import agent_bundle

    relu_model(tmp_path / "m.onnx")
    jobs = [{"job": f"j{i}", "model": "m.onnx", "runtime": "onnxruntime", "protocol": PROTOCOL, "input_seed": i,
             "runtime_options": {"threads": 1}} for i in range(3)]
    lines = serve(agent_bundle(tmp_path / "bundle"), jobs, tmp_path)
    assert [m["type"] for m in lines] == ["hello", "env", "result", "result", "result", "env", "bye"]
    results = [m for m in lines if m["type"] == "result"]
    assert [r["job"] for r in results] == ["j0", "j1", "j2"] and {r["status"] for r in results} == {"ok"}
    for r in results:  # the timed regions a benchmark subtracts from the wall time
        assert r["load_ms"] > 0 and r["first_ms"] > 0 and r["warmup_elapsed_s"] >= 0 and r["sampling_s"] > 0
        assert len(r["samples_ms"]) == 3


def test_a_runtime_that_does_not_import_is_the_jobs_status_not_a_crash(tmp_path):
    """The worker is told to preload the first job's runtime; that failing must not take it down."""
    from suite.devices.agent_bundle import agent_bundle

    relu_model(tmp_path / "m.onnx")
    jobs = [{"job": "k", "model": "m.onnx", "runtime": "nncase", "protocol": PROTOCOL},
            {"job": "o", "model": "m.onnx", "runtime": "onnxruntime", "protocol": PROTOCOL}]
    results = {m["job"]: m for m in serve(agent_bundle(tmp_path / "bundle"), jobs, tmp_path) if m["type"] == "result"}
    assert results["k"]["status"] == "unsupported" and "nncase_runtime is not importable" in results["k"]["error"]
    assert results["o"]["status"] == "ok"


HELLO_WITHOUT_IMPORTS = f"""
import json, sys
from suite.agent.supervisor import hello
h = hello(import_runtimes=False)
print(json.dumps({{"hello": h, "loaded": [m for m in {RUNTIME_PACKAGES!r} if m in sys.modules]}}))
"""


def test_the_serve_handshake_names_runtime_versions_without_importing_any_runtime():
    p = subprocess.run([sys.executable, "-c", HELLO_WITHOUT_IMPORTS], capture_output=True, text=True, timeout=60,
                       check=True)
    out = json.loads(p.stdout)
    assert out["loaded"] == []  # neither a runtime nor numpy: the worker imports the one it runs
    runtimes = out["hello"]["runtimes"]
    assert runtimes["onnxruntime"] == package_version("onnxruntime", "onnxruntime")
    assert runtimes["litert"].startswith("ai-edge-litert " + package_version("ai_edge_litert", "ai-edge-litert"))
    qnn = [(d, package_version(m, d)) for m, d in (("onnxruntime", "onnxruntime"), ("onnxruntime_qnn", "onnxruntime-qnn"))]
    assert runtimes["qnn"] == ", ".join(f"{d} {v}" for d, v in qnn if v)  # each package it needs, as installed
    assert runtimes["nncase"] is None  # not installed here: no version, as version() says


def test_the_hello_command_still_imports_each_runtime(tmp_path):
    """``hwbehave devices check`` runs it: there the import is the check."""
    import onnxruntime

    from suite.devices.agent_bundle import agent_bundle

    p = subprocess.run([sys.executable, str(agent_bundle(tmp_path)), "hello"], capture_output=True, text=True,
                       timeout=120, check=True)
    assert json.loads(p.stdout.splitlines()[-1])["runtimes"]["onnxruntime"] == onnxruntime.__version__
