"""TFLite conversion throughput of :class:`TfliteBuilder` with its process pool.

Converts N conv2d points (distinct output channels, cold cache) in fp32 and in full int8,
with the pool warm (TensorFlow already imported in every worker), and prints models/s for
each, plus the pool start-up (spawn + TensorFlow import) on its own.

    .venv/bin/python benchmarks/bench_tflite.py [--points N] [--workers W]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from suite.backends.litert.builder import TfliteBuilder  # noqa: E402
from suite.models.cache import ArtifactCache  # noqa: E402
from suite.ops.catalogue import get_op  # noqa: E402
from suite.sweep.point import Point  # noqa: E402


def points(dtype: str, n: int, offset: int) -> list[Point]:
    spec = get_op("conv2d")
    out = []
    for i in range(n):
        p = spec.normalize({"cin": 32, "cout": 8 + offset + i, "resolution": 28, "activation": "relu"})
        out.append(Point.make("conv2d", p, dtype, spec.cost(p, dtype)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=24)
    ap.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, TfliteBuilder(ArtifactCache(tmp), workers=args.workers) as b:
        t0 = time.perf_counter()
        warm = b.build_many(points("fp32", args.workers, 10_000))  # one per worker: imports TensorFlow
        startup = time.perf_counter() - t0
        assert all(a.ok for a in warm), [a.error for a in warm if not a.ok]
        print(f"workers={args.workers} cpus={os.cpu_count()} pool start-up + first conversion: {startup:.2f} s")
        for dtype in ("fp32", "int8"):
            batch = points(dtype, args.points, 0)
            t0 = time.perf_counter()
            arts = b.build_many(batch)
            wall = time.perf_counter() - t0
            bad = [a.error for a in arts if not a.ok]
            assert not bad, bad
            per = sorted(a.build_s for a in arts)
            print(f"{dtype}: {len(batch)} models in {wall:.2f} s = {len(batch) / wall:.2f} models/s "
                  f"(per conversion median {per[len(per) // 2]:.3f} s)")
        t0 = time.perf_counter()
        hits = b.build_many(points("fp32", args.points, 0))
        print(f"cache hits: {len(hits) / (time.perf_counter() - t0):.0f} models/s")


if __name__ == "__main__":
    main()
