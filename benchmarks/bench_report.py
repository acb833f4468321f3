"""Benchmark ``write_report`` on a large synthetic study, optionally against an older revision.

Target (issue 14 item 2): a report over 100,000 measurements in <= 30 s on this 2-core machine.
The frame (``study_frame``, 99,840 measurements on 156 devices) and its anomalies
(``detect_all``) are made once and not counted; each side then loads them from Parquet in its
own process and times ``write_report`` (HTML + Markdown + figure files) and, for the current
tree, its parts. ``--baseline REV`` runs the same on the suite of git revision REV (``git
archive``), sides alternating ``--repeat`` times, so both see the same machine noise. The load
average is printed before and after.

    .venv/bin/python benchmarks/bench_report.py [--points 100000] [--baseline REV] [--repeat 1]
"""

from __future__ import annotations

import sys

from revision import adopt_suite_root  # first: a baseline side imports another tree's suite

adopt_suite_root(sys.argv)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

TARGET_S = 30.0


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def side(frame: Path, anomalies: Path, out: Path, parts: bool) -> None:
    """One timed report in this process (the suite on ``sys.path``); figures to ``out`` as JSON."""
    import pandas as pd

    from suite.analysis.records import Anomaly
    from suite.report import write_report

    df = pd.read_parquet(frame)
    found = [Anomaly(**r) for r in pd.read_parquet(anomalies).to_dict("records")]
    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        paths = write_report(df, found, tmp, manifests=[{"run_id": "bench", "seed": 1}])
        result["write_report_s"] = time.perf_counter() - t0
        result["html_kib"] = paths["html"].stat().st_size / 1024
        result["measurements"] = len(df)
        result["figures"] = len([p for p in Path(tmp).iterdir() if p.suffix in (".png", ".svg")])
    if parts:  # where the time goes (current tree only: the parts are this tree's modules)
        from suite.report.document import report_figures
        from suite.report.findings import findings_table
        from suite.report.prepared import prepare
        from suite.report.tables import standard_tables

        t0 = time.perf_counter()
        p = prepare(df)
        t1 = time.perf_counter()
        f = findings_table(df, found, prepared=p)
        t2 = time.perf_counter()
        standard_tables(df, prepared=p)
        t3 = time.perf_counter()
        report_figures(p, f, found)
        t4 = time.perf_counter()
        result["parts"] = {"prepare (timed points, series models, pair summaries)": t1 - t0,
                           "findings table": t2 - t1, "tables": t3 - t2, "figures (data + drawing)": t4 - t3}
    out.write_text(json.dumps(result))


def run_side(label: str, root: Path | None, frame: Path, anomalies: Path, parts: bool) -> dict:
    from revision import run_side as side  # benchmarks/revision.py

    return side(__file__, label, root, ["--frame", str(frame), "--anomalies", str(anomalies),
                                        *(["--parts"] if parts else [])])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--baseline", help="git revision to compare with (e.g. the merge base)")
    ap.add_argument("--repeat", type=int, default=1, help="alternating runs of each side (median reported)")
    ap.add_argument("--side"), ap.add_argument("--frame"), ap.add_argument("--anomalies"), ap.add_argument("--out")
    ap.add_argument("--parts", action="store_true"), ap.add_argument("--suite-root")
    args = ap.parse_args(argv)
    if args.side:
        side(Path(args.frame), Path(args.anomalies), Path(args.out), args.parts)
        return 0

    from suite.analysis import detect_all
    from suite.analysis.records import anomalies_to_frame
    from suite.analysis.synthetic import study_frame

    print(f"load before: {load()}")
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        df = study_frame(args.points, seed=args.seed)
        found = detect_all(df)
        print(f"synthetic study: {len(df):,} measurements, {df['device'].nunique()} devices, {len(found):,} "
              f"anomalies (made in {time.perf_counter() - t0:.0f} s, not counted)")
        frame, anomalies = root / "frame.parquet", root / "anomalies.parquet"
        df.to_parquet(frame)
        anomalies_to_frame(found).to_parquet(anomalies)
        roots: dict[str, Path | None] = {"current": None}
        if args.baseline:
            from revision import suite_at  # benchmarks/revision.py

            roots = {"baseline": suite_at(args.baseline, root / "baseline"), "current": None}
        runs: dict[str, list[dict]] = {k: [] for k in roots}
        for i in range(args.repeat):
            for label, tree in roots.items():
                runs[label].append(run_side(label, tree, frame, anomalies, parts=label == "current" and i == 0))
    print(f"load after: {load()}")
    ok = True
    for label, results in runs.items():
        s = statistics.median(r["write_report_s"] for r in results)
        figs, kib = results[0]["figures"], results[0]["html_kib"]
        rev = f" ({args.baseline})" if label == "baseline" else ""
        verdict = "" if label == "baseline" else (" OK" if s <= TARGET_S else " MISSED")
        ok &= label == "baseline" or s <= TARGET_S
        print(f"{label}{rev}: write_report {s:.1f} s for {results[0]['measurements']:,} measurements ({figs} figures, report.html "
              f"{kib:,.0f} KiB; target <= {TARGET_S:.0f} s){verdict}")
        for part, secs in results[0].get("parts", {}).items():
            print(f"  {part:<55} {secs:6.1f} s")
    if args.baseline:
        b = statistics.median(r["write_report_s"] for r in runs["baseline"])
        c = statistics.median(r["write_report_s"] for r in runs["current"])
        print(f"before / after: {b / c:.2f}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
