"""``hwbehave table RUN… --format md|latex|csv|html``: publication tables across devices."""

from __future__ import annotations

import argparse
from pathlib import Path

from suite.errors import ConfigError
from suite.report.tables import FORMATS, TABLE_NAMES


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave table`` and its arguments."""
    p = sub.add_parser("table", help="publication tables: activation overhead, int8 speedup, step periods")
    p.add_argument("runs", nargs="+", type=Path, help="run directories (or folders of them)")
    p.add_argument("--format", choices=FORMATS, default="md", help="md, latex (booktabs), csv or html")
    p.add_argument("--name", action="append", metavar="NAME",
                   help="only this table (repeatable): " + ", ".join(TABLE_NAMES))
    p.add_argument("--out", type=Path, help="write to this file instead of stdout")
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave table``; returns the exit status."""
    import suite.results as results
    from suite.report import render_table, standard_tables
    from suite.results.query import find_runs

    df = results.load(find_runs(args.runs))
    tables = standard_tables(df)
    if args.name:
        known = [t.name for t in tables]
        unknown = [n for n in args.name if n not in known]
        if unknown:
            raise ConfigError("unknown table", field="--name", value=unknown[0], expected="one of " + ", ".join(known))
        tables = [t for t in tables if t.name in args.name]
    text = "\n\n".join(render_table(t, args.format) for t in tables)
    if args.out:
        args.out.write_text(text)
        print(f"tables: {args.out}")
    else:
        print(text)
    return 0
