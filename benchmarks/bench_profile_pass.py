"""Does per-op profiling change the timed median? OpenVINO (and ONNX Runtime), side by side.

The adapters profile in a **separate pass after timing** (a second compiled model with
``PERF_COUNT`` / a second ORT session with profiling on), so the timed model never profiles.
This script measures, through the agent's own job path (``suite.agent.worker.execute_job``:
load, bind, the real protocol), four conv points on OpenVINO CPU (1 thread, f32) and ONNX
Runtime CPU (1 thread) in three modes, alternating the modes in every round (this shared
machine drifts by several percent over minutes):

* ``off``: no profiling;
* ``pass``: ``profile: true``, the separate pass (what the suite does);
* ``timed``: profiling on the *timed* model (OpenVINO ``config: {PERF_COUNT: true}``, ORT
  ``session_config`` cannot profile the timed session, so ORT has no such column): the
  approach the suite replaced, for scale.

It prints, per point, the median over rounds of the per-round ratios ``pass/off`` and
``timed/off`` of the timed medians. Target: ``pass/off`` within the run's round-to-round
noise (the same ratio for ``off`` against itself, ``off2/off``, is printed as the floor).

Run: ``.venv/bin/python benchmarks/bench_profile_pass.py [--rounds 5] [--seconds 0.5]``
(needs the openvino extra; about two minutes on a 2-core machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from suite.agent.worker import execute_job
from suite.backends.backend import builder_for
from suite.devices.config import load_device
from suite.models.cache import ArtifactCache
from suite.sweep.expand import load_sweep

REPO = Path(__file__).resolve().parent.parent
SWEEP = """
name: profile-pass
op: conv2d
fixed: {resolution: 28, kernel: 3}
axes: {cin: [16, 32], cout: [32, 64]}
"""


def job(artifact_path: str, runtime: str, options: dict, seconds: float, seed: int) -> dict:
    return {"job": "bench", "model": artifact_path, "runtime": runtime, "runtime_options": options,
            "input_seed": seed, "protocol": {"warmup_runs": 20, "warmup_s": 0.2, "min_runs": 100, "min_s": seconds,
                                             "max_s": max(3.0, 2 * seconds)}}


def median_ms(result: dict) -> float:
    if result["status"] != "ok":
        raise SystemExit(f"{result['status']}: {result.get('error')}")
    return statistics.median(result["samples_ms"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.5, help="min_s of each measurement")
    args = parser.parse_args()
    sweep = load_sweep("<bench>", text=SWEEP)
    cache = ArtifactCache(Path(tempfile.mkdtemp(prefix="hwbehave-bench-cache-")))
    cases = []
    for device_name, modes in (("local-openvino", {"off": {}, "off2": {}, "pass": {"profile": True},
                                                   "timed": {"config": {"PERF_COUNT": True}}}),
                               ("local-cpu", {"off": {}, "off2": {}, "pass": {"profile": True}})):
        device = load_device(REPO / "devices" / f"{device_name}.yaml")
        builder = builder_for(device.backend.format)(cache=cache, device=device)
        for point, art in zip(sweep.points, builder.build_many(list(sweep.points)), strict=True):
            if not art.ok:
                raise SystemExit(f"build failed: {art.error}")
            base = device.runtime.adapter_options()
            cases.append((device_name, point, str(art.path), device.runtime.name,
                          {m: {**base, **extra} for m, extra in modes.items()}))
        builder.close()
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average), rounds {args.rounds}, min_s {args.seconds}")
    print(f"{'device':<15} {'point':<38} {'off ms':>8} {'off2/off':>9} {'pass/off':>9} {'timed/off':>10}")
    for device_name, point, path, runtime, modes in cases:
        ratios: dict[str, list[float]] = {m: [] for m in modes if m != "off"}
        offs = []
        for r in range(args.rounds):
            order = list(modes) if r % 2 == 0 else list(reversed(modes))
            medians = {m: median_ms(execute_job(job(path, runtime, modes[m], args.seconds, point.seed), "/"))
                       for m in order}
            offs.append(medians["off"])
            for m in ratios:
                ratios[m].append(medians[m] / medians["off"])
        cells = {m: f"{statistics.median(v):.3f}" for m, v in ratios.items()}
        print(f"{device_name:<15} {point.label():<38} {statistics.median(offs):8.4f} {cells['off2']:>9} "
              f"{cells['pass']:>9} {cells.get('timed', '-'):>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
