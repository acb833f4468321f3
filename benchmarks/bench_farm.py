"""Farm parallelism: wall time of a farm of k devices vs the slowest device measured alone.

Each device is a local CPU device pinned to its own core (``runtime.affinity``), so k is
capped at the core count; with one worker per device the ratio should be close to 1, not k.

    .venv/bin/python benchmarks/bench_farm.py [--devices K] [--points N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import textwrap
import time
from pathlib import Path

from suite.farm.config import load_farm
from suite.farm.runner import run_farm


def setup(root: Path, k: int, points: int) -> Path:
    (root / "devices").mkdir()
    (root / "sweeps").mkdir()
    couts = [4 * (i + 1) for i in range(points)]
    (root / "sweeps/bench.yaml").write_text(textwrap.dedent(f"""\
        name: bench
        fixed: {{cin: 16, resolution: 16}}
        measure: {{warmup_runs: 2, warmup_s: 0.02, min_runs: 10, min_s: 0.1, max_s: 0.3, rounds: 1, sentinel_every: 0,
                   confirm_s: 0}}
        op: conv2d
        axes: {{cout: {couts}}}
        """))
    for i in range(k):
        (root / f"devices/cpu{i}.yaml").write_text(
            f"name: cpu{i}\nclass: cpu\nruntime: {{threads: 1, affinity: [{i}]}}\n")
    names = ", ".join(f"cpu{i}" for i in range(k))
    farm = root / "farm.yaml"
    farm.write_text(f"name: bench\nresults: results\ndevices_dir: devices\nlock_dir: locks\ncache: cache\n"
                    f"jobs:\n  - sweep: sweeps/bench.yaml\n    devices: [{names}]\n")
    return farm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--devices", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--points", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        farm_path = setup(Path(tmp), args.devices, args.points)
        farm = load_farm(farm_path)
        run_farm(farm, "warm", devices=["cpu0"])  # build artifacts and the agent bundle once
        alone = []
        for i in range(args.devices):
            t0 = time.monotonic()
            out = run_farm(farm, f"alone{i}", devices=[f"cpu{i}"])
            alone.append(time.monotonic() - t0)
            assert out.exit_code == 0, out.devices
        t0 = time.monotonic()
        out = run_farm(farm, "together")
        together = time.monotonic() - t0
        assert out.exit_code == 0, out.devices
    slowest = max(alone)
    print(f"cpus {os.cpu_count()}, devices {args.devices}, points {args.points}")
    print("alone (s):     " + ", ".join(f"{a:.2f}" for a in alone))
    print(f"farm of {args.devices} (s): {together:.2f}")
    print(f"ratio farm / slowest alone: {together / slowest:.2f}  (1.0 = perfect overlap, {args.devices} = serial)")


if __name__ == "__main__":
    main()
