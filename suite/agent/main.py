"""Command line of the agent: ``hello``, ``serve --jobs FILE --base DIR`` (``-``: jobs on stdin), ``worker``."""

from __future__ import annotations

import argparse
import json
import os
import sys


def launch_command():
    """How the supervisor re-runs this agent as a worker (same interpreter, same file)."""
    return [sys.executable, os.path.abspath(sys.argv[0])]


def main(argv=None):
    """Agent entry point: ``hello``, ``serve`` or ``worker``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="hwbehave-agent")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("hello")
    serve = sub.add_parser("serve")
    serve.add_argument("--jobs", required=True, help="job list (JSON lines); - reads it from stdin")
    serve.add_argument("--base", default=".")
    worker = sub.add_parser("worker")
    worker.add_argument("--base", default=".")
    worker.add_argument("--preload", default=None, help="runtime to import before the first job arrives")
    args = parser.parse_args(argv)
    if args.command == "hello":
        from .supervisor import hello

        print(json.dumps(hello()))
        return 0
    if args.command == "serve":
        from .supervisor import serve

        return serve(args.jobs, args.base, launch_command())
    if args.command == "worker":
        from .worker import worker_main

        code = worker_main(args.base, preload=args.preload)
        # End without the interpreter's teardown: every adapter was closed after its job and each
        # result is flushed, while finalising the runtimes' modules took tens of milliseconds that
        # the batch waited for (the supervisor waits for its worker before it says bye).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    parser.print_help()
    return 2
