"""Per-point overhead of the SSH path on loopback, batched vs a naive one-model-per-exec loop.

Starts a throw-away sshd (``suite.testing.sshd``), builds one tiny ONNX model (Relu on 8
floats) and measures, with a protocol short enough that overhead dominates:

* **batched** — ``DeviceSession.run_batch`` of N jobs (one connection, one tar push, one agent);
  overhead per point = (wall time − Σ agent-reported load + first + sampling time) / N;
* **naive** — on the same connection, per point: SFTP-put the model and a one-line job
  file, exec a fresh agent for it, read its output.

Targets: batched overhead < 30 ms per point; naive/batched ≥ 10×.
Run: ``.venv/bin/python benchmarks/bench_ssh.py [--points 50] [--naive-points 10]``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

from suite.devices.agent_bundle import agent_bundle
from suite.devices.config import load_device
from suite.devices.session import DeviceSession, Job
from suite.devices.transports.ssh import SshTransport
from suite.testing import tiny
from suite.testing.sshd import TestSshd

PROTOCOL = {"warmup_runs": 1, "warmup_s": 0.0, "min_runs": 3, "min_s": 0.0, "max_runs": 3, "max_s": 0.05,
            "loop_threshold_us": 0.0, "timeout_s": 30.0}


def jobs_for(models: list[Path]) -> list[Job]:
    return tiny.relu_jobs(models, PROTOCOL)


def measured_s(results: list[dict]) -> float:
    return sum((r.get("load_ms") or 0) / 1000 + (r.get("first_ms") or 0) / 1000 + (r.get("sampling_s") or 0)
               for r in results)


def batched(device_yaml: Path, jobs: list[Job]) -> tuple[float, float]:
    results: list[dict] = []
    session = DeviceSession(load_device(device_yaml))
    t0 = time.perf_counter()
    session.run_batch(jobs, on_result=results.append)
    wall = time.perf_counter() - t0
    assert len(results) == len(jobs) and all(r["status"] == "ok" for r in results), results[:1]
    return wall, measured_s(results)


def naive(device_yaml: Path, jobs: list[Job]) -> tuple[float, float]:
    device = load_device(device_yaml)
    t = SshTransport(device)
    results: list[dict] = []
    t0 = time.perf_counter()
    t.connect()
    work = t.make_workdir()
    t.push([(str(agent_bundle()), "agent.pyz")], work)
    assert t.client is not None
    with tempfile.TemporaryDirectory() as tmp:
        for job in jobs:
            job_file = Path(tmp) / "job.jsonl"
            job_file.write_text(json.dumps(job.wire("model.onnx")) + "\n")
            with t.client.open_sftp() as sftp:
                sftp.put(job.model_path, f"{work}/model.onnx")
                sftp.put(str(job_file), f"{work}/jobs.jsonl")
            argv = [device.python, "agent.pyz", "serve", "--jobs", "jobs.jsonl", "--base", "."]
            status, out, err = t.exec(f"cd {work} && " + shlex.join(argv))
            lines = [json.loads(x) for x in out.splitlines() if x.strip()]
            results.extend(m for m in lines if m.get("type") == "result")
    t.remove_workdir(work)
    t.close()
    wall = time.perf_counter() - t0
    assert len(results) == len(jobs) and all(r["status"] == "ok" for r in results)
    return wall, measured_s(results)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=50)
    ap.add_argument("--naive-points", type=int, default=10)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-ssh-") as tmp:
        root = Path(tmp)
        server = TestSshd(root / "sshd").start()
        try:
            device_yaml = root / "dev.yaml"
            device_yaml.write_text(server.device_yaml(workdir=str(root / "remote"), python=sys.executable))
            models = tiny.relu_models(root, 2 * args.points)
            batched(device_yaml, jobs_for(models[:2]))  # warm the page cache and the bundle
            wall_b, meas_b = batched(device_yaml, jobs_for(models[:args.points]))
            wall_b2, meas_b2 = batched(device_yaml, jobs_for(models))
            local_yaml = root / "local.yaml"
            local_yaml.write_text("name: local\nclass: cpu\ntransport: {kind: local}\n")
            wall_l, meas_l = batched(local_yaml, jobs_for(models[:args.points]))
            wall_n, meas_n = naive(device_yaml, jobs_for(models[:args.naive_points]))
        finally:
            server.stop()
    per_b = (wall_b - meas_b) / args.points * 1000
    per_n = (wall_n - meas_n) / args.naive_points * 1000
    per_l = (wall_l - meas_l) / args.points * 1000
    # marginal: what one more point in a batch costs beyond its measurement (fixed costs cancel)
    marginal = ((wall_b2 - meas_b2) - (wall_b - meas_b)) / args.points * 1000
    print(f"local:   {args.points} points in {wall_l:.2f} s: overhead {per_l:.1f} ms/point (agent start + per-job "
          "work, no transport): reference")
    print(f"batched: {args.points} points in {wall_b:.2f} s (measuring {meas_b:.2f} s): "
          f"overhead {per_b:.1f} ms/point (target < 30)")
    print(f"batched marginal: {marginal:.1f} ms per extra point ({args.points} vs {2 * args.points} points; "
          "connect, push and agent start cancel out; target < 30)")
    print(f"naive:   {args.naive_points} points in {wall_n:.2f} s (measuring {meas_n:.2f} s): "
          f"overhead {per_n:.1f} ms/point")
    print(f"ratio naive/batched overhead: {per_n / per_b:.1f}x (target >= 10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
