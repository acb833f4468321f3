"""Benchmark the analyse and report stages on synthetic data.

Targets: ``detect_all`` on 100,000 measurements in under 10 s; ``write_report`` on 10,000
measurements in under 30 s. Prints the figures; exits 1 when a target is missed.

    .venv/bin/python benchmarks/bench_analysis.py [--detect-points 100000] [--report-points 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from suite.analysis import DETECTOR_NAMES, detect_all
from suite.analysis.series import timed
from suite.analysis.synthetic import study_frame
from suite.report import write_report

DETECT_TARGET_S = 10.0
REPORT_TARGET_S = 30.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detect-points", type=int, default=100_000)
    parser.add_argument("--report-points", type=int, default=10_000)
    parser.add_argument("--per-detector", action="store_true", help="also time each detector alone")
    args = parser.parse_args(argv)
    ok = True

    t0 = time.perf_counter()
    df = study_frame(args.detect_points, seed=0)
    print(f"synthetic frame: {len(df):,} measurements, {df['device'].nunique()} devices "
          f"(generated in {time.perf_counter() - t0:.1f} s, not counted)")
    t0 = time.perf_counter()
    anomalies = detect_all(df)
    detect_s = time.perf_counter() - t0
    ok &= detect_s < DETECT_TARGET_S
    print(f"detect_all: {detect_s:.2f} s for {len(df):,} measurements -> {len(anomalies):,} anomalies "
          f"(target < {DETECT_TARGET_S:.0f} s) {'OK' if detect_s < DETECT_TARGET_S else 'MISSED'}")
    if args.per_detector:
        prepared = timed(df)
        for name in DETECTOR_NAMES:
            t0 = time.perf_counter()
            n = len(detect_all(prepared if name not in ("support", "quant_error") else df, only=[name]))
            print(f"  {name:<15} {time.perf_counter() - t0:6.2f} s  {n:6d} anomalies")

    small = study_frame(args.report_points, seed=1)
    small_anomalies = detect_all(small)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        write_report(small, small_anomalies, out, manifests=[{"run_id": "bench", "seed": 1}])
        report_s = time.perf_counter() - t0
    ok &= report_s < REPORT_TARGET_S
    print(f"write_report: {report_s:.2f} s for {len(small):,} measurements, {len(small_anomalies):,} anomalies "
          f"(target < {REPORT_TARGET_S:.0f} s) {'OK' if report_s < REPORT_TARGET_S else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
