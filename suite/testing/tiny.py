"""Tiny distinct ONNX models and the jobs that time them: what the session tests and the overhead benchmarks use.

Each model is one ``Relu`` on a 1x8 tensor with its own node name, so every file is distinct (a batch pushes
each one) and the timed region is as small as a model can be: what a run costs beyond it is overhead.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def relu_models(root: Path, n: int) -> list[Path]:
    """Write ``n`` distinct one-node models ``root/m{i}.onnx`` and return their paths."""
    import onnx
    from onnx import TensorProto, helper

    root.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name=f"relu{i}")], f"g{i}",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])])
        path = root / f"m{i}.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
        out.append(path)
    return out


def relu_jobs(models: list[Path], protocol: dict[str, Any]) -> list[Any]:
    """One ONNX Runtime job (1 thread, fp32) per model, ids ``j0``, ``j1``, … in order."""
    from suite.devices.session import Job

    return [Job(job_id=f"j{i}", model_path=str(m), format="onnx", dtype="fp32", runtime="onnxruntime",
                runtime_options={"threads": 1}, protocol=protocol, input_seed=i,
                model_sha256=hashlib.sha256(m.read_bytes()).hexdigest()) for i, m in enumerate(models)]
