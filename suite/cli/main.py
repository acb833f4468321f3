"""Entry point of ``hwbehave``: builds the parser from the subcommand modules.

Each subcommand module defines ``add_parser(subparsers)`` and ``run(args) -> int``.
A ``ConfigError`` prints one clear message and exits 2; a ``Busy`` device or run directory
(held by another process) exits 4; other hwbehave errors exit 1; none prints a traceback
(``HWBEHAVE_DEBUG=1`` shows it).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

import suite
from suite.errors import EXIT_BUSY, Busy, ConfigError, HwbehaveError

#: Subcommand modules in ``--help`` order (a missing optional one is left out).
COMMANDS = ("run", "plan", "show", "devices", "analyse", "report", "findings", "table", "compare",
            "toolchains", "farm", "history", "publish")


#: Optional packages → the extra that installs them (for a clear message when one is missing).
OPTIONAL_MODULES = {"matplotlib": "report", "scipy": "report", "paramiko": "remote", "adbutils": "remote",
                    "nbclient": "notebooks", "nbformat": "notebooks", "tensorflow": "tflite",
                    "ai_edge_litert": "tflite", "openvino": "openvino", "labgrid": "labgrid"}


def build_parser() -> argparse.ArgumentParser:
    """The ``hwbehave`` argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="hwbehave",
        description="Sweep micro-models over edge devices and find where latency departs from FLOPs.")
    parser.add_argument("--version", action="version", version=f"hwbehave {suite.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"suite.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"suite.cli.{name}":
                continue
            raise
        p = module.add_parser(sub)
        p.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``hwbehave`` with ``argv``; returns the exit status (2 for bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except ConfigError as exc:
        if os.environ.get("HWBEHAVE_DEBUG"):
            raise
        print(f"hwbehave: configuration error: {exc}", file=sys.stderr)
        return 2
    except Busy as exc:
        if os.environ.get("HWBEHAVE_DEBUG"):
            raise
        print(f"hwbehave: busy: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except HwbehaveError as exc:
        if os.environ.get("HWBEHAVE_DEBUG"):
            raise
        print(f"hwbehave: error: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        extra = OPTIONAL_MODULES.get((exc.name or "").split(".")[0])
        if extra is None or os.environ.get("HWBEHAVE_DEBUG"):
            raise
        print(f"hwbehave: {args.command} needs {exc.name}, which is not installed: "
              f"pip install 'hwbehave[{extra}]'", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hwbehave: interrupted; rerun the same command (or add --resume) to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
