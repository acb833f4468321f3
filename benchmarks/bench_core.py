"""Core pipeline benchmarks, measured side by side in one run (this machine is shared).

Prints:
1. plan time and peak memory of 10k, 100k and 1M-point sweeps streamed (target: 1M < 5 s, memory
   bounded), and of 100k materialised (``load_sweep``);
2. ONNX fp32 generation rate with a cold cache (target >= 100 models/s);
3. harness overhead: the suite's median on a trivial Identity model vs a bare
   ``run_with_iobinding`` loop in the same process (target ratio <= 1.5);
4. profiler fidelity: the suite's median vs ONNX Runtime's own ``model_run`` profile
   events on conv kernels >= 0.1 ms (target within ±5%).

Run: ``.venv/bin/python benchmarks/bench_core.py`` (``--plan-only``: item 1 alone; ``--baseline DIR``:
also time ``hwbehave plan`` with the code of a source tree, e.g. ``git archive main | tar -x -C DIR``)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from suite.agent.protocol import ProtocolSettings  # noqa: E402
from suite.agent.worker import execute_job  # noqa: E402
from suite.models.cache import ArtifactCache  # noqa: E402
from suite.models.onnx_builder import OnnxBuilder  # noqa: E402
from suite.ops.catalogue import get_op  # noqa: E402
from suite.sweep.expand import iter_sweep_batches, iter_sweep_points, load_sweep  # noqa: E402
from suite.sweep.point import Point  # noqa: E402

#: A conv2d sweep of ``10 * cin * cout`` points (kernel 5 values x activation 2).
PLAN_SWEEP = """name: plan-{n}
op: conv2d
max_points: {n}
fixed: {{resolution: 64}}
axes:
  cin: {{range: [1, {cin}]}}
  cout: {{range: [1, {cout}]}}
  kernel: [1, 3, 5, 7, 9]
  activation: [relu, swish]
"""
PLAN_SIZES = {10_000: (40, 25), 100_000: (100, 100), 1_000_000: (400, 250)}


def _stream(path: Path, columns: bool = True) -> tuple[int, int]:
    count = macs = 0
    for p in iter_sweep_points(path, columns=columns):
        count += 1
        macs += p.macs or 0
    return count, macs


def _count(path: Path) -> tuple[int, int]:
    count = macs = 0
    for batch in iter_sweep_batches(path):
        count += len(batch)
        macs += batch.totals()[0]
    return count, macs


def _ids(path: Path) -> tuple[int, int]:
    count = 0
    for batch in iter_sweep_batches(path):
        count += len(batch.ids())
    return count, 0


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float, int]:
    """``fn()``, its wall and CPU seconds, and its peak of allocated memory (tracemalloc, in a
    second call: tracing slows Python down)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, wall, cpu, peak


def _plan_cli(path: Path, tree: str | None) -> float:
    """Wall seconds of ``hwbehave plan PATH`` in a fresh process (``tree``: run that tree's code)."""
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = tree
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sys; from suite.cli.main import main; sys.exit(main())",
                    "plan", str(path)], check=True, env=env, stdout=subprocess.DEVNULL,
                   cwd=tree or str(Path(__file__).resolve().parent.parent))
    return time.perf_counter() - t0


def bench_plan(sizes: list[int] | None = None, baseline: str | None = None) -> dict[int, tuple[float, float, int]]:
    """Plan sweeps of 10k, 100k and 1M points: counted with total MACs in batches (what
    ``hwbehave plan`` needs), with every id, and as a stream of ``Point`` records (column path
    and, at 100k, the point-by-point path side by side); 100k materialised as ``load_sweep``
    does for a run; ``hwbehave plan`` on the 1M sweep in a fresh process (and with
    ``baseline``, a source tree of the code before, in the same run)."""
    out = {}
    with tempfile.TemporaryDirectory() as d:
        warm = Path(d) / "warm.yaml"
        warm.write_text(PLAN_SWEEP.format(n=1000, cin=10, cout=10))
        _stream(warm)  # imports and the catalogue, not counted
        for n in sizes or list(PLAN_SIZES):
            cin, cout = PLAN_SIZES[n]
            path = Path(d) / f"plan-{n}.yaml"
            path.write_text(PLAN_SWEEP.format(n=n, cin=cin, cout=cout))
            kinds: list[tuple[str, Callable[[], Any]]] = [
                ("count + MACs (batches)", partial(_count, path)), ("every id (batches)", partial(_ids, path)),
                ("Point stream", partial(_stream, path))]
            if n <= 100_000:
                kinds.append(("Point stream, point by point (columns=False)", partial(_stream, path, columns=False)))
            for label, fn in kinds:
                (count, _), wall, cpu, peak = _timed(fn)
                if label.startswith("count"):
                    out[n] = (wall, cpu, peak)
                print(f"plan {n:>9,} {label}: {count:,} points in {wall:.2f} s wall, {cpu:.2f} s CPU "
                      f"({cpu / count * 1e6:.2f} us CPU per point); peak memory {peak / 2**20:.0f} MiB")
        path = Path(d) / "plan-100000.yaml"
        if not path.exists():
            path.write_text(PLAN_SWEEP.format(n=100_000, cin=100, cout=100))
        s, wall, cpu, peak = _timed(lambda: load_sweep(path))
        print(f"plan (load_sweep, materialised): {len(s.points):,} points in {wall:.2f} s wall, {cpu:.2f} s CPU; "
              f"peak memory {peak / 2**20:.0f} MiB (target: 1M planned < 5 s, memory bounded)")
        big = Path(d) / "plan-cli-1000000.yaml"
        big.write_text(PLAN_SWEEP.format(n=1_000_000, cin=400, cout=250))
        for label, tree in (("this tree", None), (f"baseline {baseline}", baseline)):
            if label.startswith("baseline") and not baseline:
                continue
            print(f"hwbehave plan, 1M points ({label}): {_plan_cli(big, tree):.2f} s wall (fresh process)")
    return out


def bench_generation(n: int = 300) -> float:
    op = get_op("conv2d")
    points = []
    for i in range(n):
        p = op.normalize({"cin": 16, "cout": 8 + i, "kernel": 3, "resolution": 32, "activation": "relu"})
        points.append(Point.make("conv2d", p, "fp32", op.cost(p, "fp32")))
    with tempfile.TemporaryDirectory() as d:
        b = OnnxBuilder(ArtifactCache(d))
        b.build(points[0])
        t0 = time.perf_counter()
        arts = [b.build(p) for p in points[1:]]
        dt = time.perf_counter() - t0
        t1 = time.perf_counter()
        [b.build(p) for p in points[1:]]
        hit = time.perf_counter() - t1
    assert all(a.ok for a in arts)
    rate = (n - 1) / dt
    print(f"generation: {rate:.0f} ONNX fp32 models/s cold cache (target >= 100); cache hits {(n - 1) / hit:.0f}/s")
    return rate


def identity_model(path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "id", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))


def bare_loop_us(path: Path, n: int = 20000) -> float:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    b = s.io_binding()
    b.bind_ortvalue_input("x", ort.OrtValue.ortvalue_from_numpy(np.zeros((1, 8), np.float32)))
    b.bind_output("y")
    run = s.run_with_iobinding
    for _ in range(1000):
        run(b)
    t0 = time.perf_counter()
    for _ in range(n):
        run(b)
    return (time.perf_counter() - t0) / n * 1e6


def suite_median_ms(path: Path, settings: ProtocolSettings, profile: bool = False) -> dict:
    job = {"job": "bench", "model": str(path), "runtime": "onnxruntime", "protocol": settings.to_dict(),
           "runtime_options": {"threads": 1, "profile": profile}, "input_seed": 1}
    r = execute_job(job, "/")
    assert r["status"] == "ok", r["error"]
    r["median_ms"] = statistics.median(r["samples_ms"])
    return r


def bench_overhead() -> float:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "identity.onnx"
        identity_model(path)
        settings = ProtocolSettings(warmup_runs=100, warmup_s=0.2, min_runs=200, min_s=1.0, max_s=3.0)
        ratios = []
        for _ in range(3):  # alternate to share the machine's noise
            bare = bare_loop_us(path)
            r = suite_median_ms(path, settings)
            ratios.append(r["median_ms"] * 1000 / bare)
        ratio = statistics.median(ratios)
        print(f"harness overhead: suite median {r['median_ms'] * 1000:.2f} us (loop_k {r['loop_k']}) vs bare "
              f"run_with_iobinding {bare:.2f} us -> ratio {ratio:.2f} (target <= 1.5)")
    return ratio


def bench_profiler_fidelity() -> list[float]:
    configs = [dict(cin=32, cout=64, kernel=3, resolution=28), dict(cin=64, cout=64, kernel=3, resolution=28),
               dict(cin=32, cout=32, kernel=5, resolution=28), dict(cin=16, cout=128, kernel=3, resolution=28),
               dict(cin=64, cout=128, kernel=1, resolution=56), dict(cin=32, cout=96, kernel=7, resolution=28)]
    op = get_op("conv2d")
    ratios = []
    with tempfile.TemporaryDirectory() as d:
        b = OnnxBuilder(ArtifactCache(d))
        settings = ProtocolSettings(warmup_runs=10, warmup_s=0.2, min_runs=100, min_s=1.0, max_s=3.0)
        for cfg in configs:
            p = op.normalize(cfg)
            art = b.build(Point.make("conv2d", p, "fp32", op.cost(p, "fp32")))
            r = suite_median_ms(Path(art.path), settings, profile=True)
            events = json.loads(Path(r["info"]["profile_file"]).read_text())
            runs = [e["dur"] / 1000.0 for e in events if e.get("name") == "model_run"]
            n_sampled = len(r["samples_ms"]) * r["loop_k"]
            prof = statistics.median(runs[-n_sampled:])
            Path(r["info"]["profile_file"]).unlink()
            ratio = r["median_ms"] / prof
            ratios.append(ratio)
            print(f"profiler fidelity: conv2d {cfg}: suite {r['median_ms']:.4f} ms, ORT model_run {prof:.4f} ms, "
                  f"ratio {ratio:.3f}")
    worst = max(abs(x - 1) for x in ratios)
    print(f"profiler fidelity: worst deviation {worst * 100:.1f}% over {len(ratios)} conv kernels (target <= 5%)")
    return ratios


if __name__ == "__main__":
    argv = sys.argv[1:]
    bench_plan(baseline=argv[argv.index("--baseline") + 1] if "--baseline" in argv else None)
    if "--plan-only" in sys.argv[1:]:
        sys.exit(0)
    bench_generation()
    bench_overhead()
    bench_profiler_fidelity()
