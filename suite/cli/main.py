"""Entry point of ``hwbehave``: builds the parser from the subcommand modules.

Each subcommand module defines ``add_parser(subparsers)`` and ``run(args) -> int``.
A ``ConfigError`` prints one clear message and exits 2; other hwbehave errors and OS
errors (a full disk, a permission) exit 1; a device or run directory held by another
process (``Busy``) exits 75, like a busy farm; Ctrl-C and SIGTERM exit 3 after the
``finally`` blocks cleaned up (a run's manifest says "interrupted", temporary
directories are gone, the agent is stopped); a closed stdout (``| head``) ends quietly
with 1, as rich and Python's docs do. None prints a traceback (``HWBEHAVE_DEBUG=1`` shows it).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import threading
import warnings
from typing import Any

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


#: Exit status after Ctrl-C or SIGTERM (README: "3 run interrupted").
EXIT_INTERRUPTED = 3
#: Exit status when stdout's reader went away (``| head``): 1, as Python's docs advise and as rich's
#: Console does for its own output, with nothing printed.
EXIT_BROKEN_PIPE = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every ``finally`` (cleanup) runs before the exit."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Run ``hwbehave`` with ``argv``; returns the exit status (2 for bad input)."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:  # also during the imports of build_parser()
        if os.environ.get("HWBEHAVE_DEBUG"):
            raise
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"
        print(f"hwbehave: {how}; rerun the same command to continue (a run resumes from its journal: the newest "
              "unfinished run of the same sweep, device and settings, or the --out directory)",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout's reader closed early (`| head`, `| true`): stop quietly; later flushes go nowhere
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_BROKEN_PIPE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    """:func:`_dispatch` with damaged-results warnings shown as one ``hwbehave: warning:`` line each."""
    from suite.results.damage import ResultsWarning

    with warnings.catch_warnings():
        warnings.simplefilter("default", ResultsWarning)  # each distinct warning once
        default_show = warnings.showwarning

        def show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            if issubclass(category, ResultsWarning) and not os.environ.get("HWBEHAVE_DEBUG"):
                print(f"hwbehave: warning: {message}", file=sys.stderr)
            else:
                default_show(message, category, *args, **kwargs)

        warnings.showwarning = show
        return _dispatch(argv)


def _dispatch(argv: list[str] | None) -> int:
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
    except BrokenPipeError:
        raise
    except OSError as exc:  # a full disk, a permission, a path that is not a directory
        if os.environ.get("HWBEHAVE_DEBUG"):
            raise
        print(f"hwbehave: error: {os_error_text(exc)}", file=sys.stderr)
        return 1


def os_error_text(exc: OSError) -> str:
    """One line for an ``OSError``: what, where, and what to do for a full disk."""
    what = exc.strerror or str(exc) or type(exc).__name__
    where = f": {exc.filename}" if exc.filename else ""
    text = f"{what}{where}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        text += ("; free some space and rerun the same command: measurements already taken are kept in the run's "
                 "journal and are not measured again")
    return text


if __name__ == "__main__":
    sys.exit(main())
