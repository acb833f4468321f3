"""Regenerate the report screenshots in this folder (headless Chromium, as the report tests use).

    .venv/bin/python docs/img/shoot.py [--points 600] [--seed 2] [--run RUN_DIR]

Writes a report of the synthetic study (suite.analysis.synthetic.study_frame) to a temporary
folder, then screenshots the top of the page and a few figures. With ``--run``, the latency
figure (``latency-steps.png``) comes from that measured run's report instead (the README's:
``hwbehave run sweeps/study/f1-channels-quick.yaml --device local-cpu``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]
#: (output name, figure file name pattern) of the figures shown in the README.
FIGURES = (("latency-steps.png", r"fig-02-rk3588-npu---conv-channels"), ("overhead-bars.png", r"fig-o01-"),
           ("speedup-bars.png", r"fig-speedup"), ("devices-overlay.png", r"fig-d03-"),
           ("distributions.png", r"fig-s03-"))


def shoot(browser: str, page: Path, out: Path, width: int, height: int, work: Path) -> None:
    subprocess.run([browser, *FLAGS, f"--user-data-dir={work / 'profile'}", f"--screenshot={out}",
                    f"--window-size={width},{height}", page.resolve().as_uri()], check=True, capture_output=True,
                   timeout=120)


def main() -> int:
    from suite.analysis import detect_all
    from suite.analysis.synthetic import study_frame
    from suite.report import write_report

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=600)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--run", type=Path, help="a run directory whose first latency figure replaces the synthetic one")
    args = ap.parse_args()
    browser = next(p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p)
    df = study_frame(args.points, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = write_report(df, detect_all(df), work / "report", title="hwbehave report: synthetic study")
        shoot(browser, paths["html"], HERE / "report-top.png", 1280, 1350, work)
        figures = {name: (work / "report", pattern) for name, pattern in FIGURES}
        if args.run:
            import suite.results as results
            from suite.analysis import detect_all as detect

            measured = results.load([args.run])
            write_report(measured, detect(measured), work / "run", manifests=results.query.manifests([args.run]))
            figures["latency-steps.png"] = (work / "run", r"fig-01-")
        for name, (folder, pattern) in figures.items():
            svg = next(p for p in sorted(folder.glob("*.svg")) if re.search(pattern, p.name))
            text = svg.read_text()
            w, h = (float(v) for v in re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"', text).groups())
            page = work / f"{name}.html"
            page.write_text(f'<!DOCTYPE html><html><body style="margin:0;background:#fff">{text}</body></html>')
            shoot(browser, page, HERE / name, round(w * 4 / 3), round(h * 4 / 3), work)
    for p in sorted(HERE.glob("*.png")):
        print(f"{p.name}: {p.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
