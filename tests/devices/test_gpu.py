"""GPU checks: run only with ``pytest --gpu`` on a machine with an NVIDIA GPU and onnxruntime-gpu.

The channel sweep of ``sweeps/study/gpu-channels.yaml`` runs on ``devices/local-cuda.yaml``;
every point must run on the CUDA provider (no CPU fallback) and the staircase detector
reports what it finds (printed, not asserted: the step period is the hardware's to say).
"""

from __future__ import annotations

import pytest

import suite.results as results
from suite.analysis import detect_all
from suite.devices.config import load_device
from suite.pipeline import run_sweep
from suite.sweep.expand import load_sweep


@pytest.mark.gpu
def test_cuda_channel_sweep_runs_on_the_gpu(repo, tmp_path):
    import onnxruntime as ort

    assert "CUDAExecutionProvider" in ort.get_available_providers(), (
        "onnxruntime has no CUDA provider: install onnxruntime-gpu (CUDA 13 build) in place of onnxruntime")
    sweep = load_sweep(repo / "sweeps/study/gpu-channels.yaml")
    outcome = run_sweep(sweep, load_device(repo / "devices/local-cuda.yaml"), tmp_path / "run")
    assert outcome.complete
    df = results.load(tmp_path / "run")
    assert set(df.status) == {"ok"}, df[df.status != "ok"][["point_id", "status", "error"]].head()
    assert set(df.provider) == {"CUDAExecutionProvider"}
    for a in detect_all(df, only=["staircase"]):
        print(a.message)
