"""``hwbehave publish RESULTS_ROOT --out site/``: a static, offline-browsable results site."""

from __future__ import annotations

import argparse
from pathlib import Path

from suite.farm.publish import publish


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave publish`` and its arguments."""
    p = sub.add_parser("publish", help="write a static HTML site (per-device pages, history plots, findings)")
    p.add_argument("root", type=Path, help="results root (run directories anywhere below it)")
    p.add_argument("--out", type=Path, default=Path("site"), help="output folder (replaced; default site/)")
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave publish``; returns the exit status."""
    outcome = publish(args.root, args.out)
    print(f"{len(outcome.pages)} page(s), {len(outcome.images)} image(s): {outcome.out_dir / 'index.html'}")
    return 0
