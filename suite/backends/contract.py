"""The toolchain worker contract, version 1: both sides of the command line.

Vendor toolchains pin dependencies that conflict with ours (rknn-toolkit2 wants
numpy <= 1.26.4, nncase 2.x wants a .NET runtime), so each one may run in its own
interpreter. The suite calls it as a subprocess::

    PYTHON -m suite.backends.<name>.worker --contract 1 --in MODEL.onnx --out DIR --options JSON

and the worker prints **one JSON line** on stdout as its last line::

    {"contract": 1, "status": "ok", "artifact": "model.rknn", "error": null,
     "metadata": {...}, "toolchain_version": "2.5.0"}

``artifact`` is a file name inside ``DIR``; ``status`` is one of the suite's status
names (``ok``, ``unsupported``, ``build_error``). Everything the vendor library prints
goes to stderr (the worker points fd 1 at fd 2 while converting), and the suite keeps
stderr as the build log. A worker that meets another contract number answers
``build_error`` without converting.

This module is imported by workers inside vendor venvs: it uses the standard library
only (Python >= 3.7) and imports nothing from the rest of the suite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback

CONTRACT_VERSION = 1

#: Statuses a worker may answer (a subset of ``suite.status.ALL``, repeated here because
#: workers must not import the suite's YAML/pydantic-using modules).
WORKER_STATUSES = ("ok", "unsupported", "build_error")

#: How much of stderr a result keeps as its build log.
LOG_TAIL_CHARS = 20000


# --------------------------------------------------------------------------- worker side

def worker_main(convert, argv=None, version=None):
    """Parse the contract's arguments, call ``convert(in_path, out_dir, options)``, print the result.

    ``convert`` returns a dict with ``status`` and ``artifact`` (a file name in ``out_dir``)
    or ``error``, plus optional ``metadata``; an exception becomes ``build_error`` with the
    traceback tail. ``version`` is a no-argument callable giving the toolchain version.
    """
    parser = argparse.ArgumentParser(description=f"hwbehave toolchain worker (contract {CONTRACT_VERSION})")
    parser.add_argument("--contract", type=int, required=True)
    parser.add_argument("--in", dest="in_path", required=True)
    parser.add_argument("--out", dest="out_dir", required=True)
    parser.add_argument("--options", default="{}")
    args = parser.parse_args(argv)
    out = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)  # vendor libraries print to stdout; keep the result line alone on the real one
    start = time.perf_counter()
    result = {"contract": CONTRACT_VERSION, "status": "build_error", "artifact": None, "error": None,
              "metadata": {}, "toolchain_version": None}
    try:
        if args.contract != CONTRACT_VERSION:
            result["error"] = f"worker speaks contract {CONTRACT_VERSION}, caller asked for {args.contract}"
        else:
            options = json.loads(args.options)
            if version is not None:
                try:
                    result["toolchain_version"] = version()
                except Exception:  # noqa: BLE001 - a version probe must not fail the build
                    result["toolchain_version"] = None
            os.makedirs(args.out_dir, exist_ok=True)
            result.update(convert(args.in_path, args.out_dir, options) or {})
    except Exception as exc:  # noqa: BLE001 - boundary: the caller gets a status, not a crash
        result["status"] = "build_error"
        result["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)[-1500:]}"
    result["elapsed_s"] = time.perf_counter() - start
    sys.stdout.flush()
    out.write(json.dumps(result, default=str) + "\n")
    out.flush()
    return 0


# --------------------------------------------------------------------------- caller side

def suite_root():
    """The directory holding the ``suite`` package (put on a worker's ``PYTHONPATH``)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def worker_argv(python, module, in_path, out_dir, options):
    """The command line of one worker call (contract version included)."""
    return [python, "-m", module, "--contract", str(CONTRACT_VERSION), "--in", str(in_path),
            "--out", str(out_dir), "--options", json.dumps(options, sort_keys=True)]


def parse_result(stdout):
    """The result dict from a worker's stdout: its last line that is a JSON object with ``contract``.

    Returns ``None`` when there is none (the worker died before answering).
    """
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "contract" in obj:
            return obj
    return None


def call_worker(python, module, in_path, out_dir, options, timeout_s=600.0, env=None):
    """Run one worker; always return a result dict (failures are statuses, never exceptions).

    The dict is the worker's answer plus ``log`` (stderr tail), ``returncode`` and ``argv``.
    A timeout, a missing interpreter, a crash without a result line and a contract
    mismatch all become ``build_error`` with a message that says which.
    """
    argv = worker_argv(python, module, in_path, out_dir, options)
    full_env = dict(os.environ)
    full_env.update(env or {})
    root = suite_root()
    full_env["PYTHONPATH"] = root + (os.pathsep + full_env["PYTHONPATH"] if full_env.get("PYTHONPATH") else "")
    base = {"contract": CONTRACT_VERSION, "status": "build_error", "artifact": None, "metadata": {},
            "toolchain_version": None, "argv": argv, "returncode": None, "log": ""}
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=full_env,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return dict(base, error=f"interpreter {python} not found")
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stderr or b"")
        tail = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
        return dict(base, status="timeout", error=f"worker {module} ran past {timeout_s:.0f} s",
                    log=tail[-LOG_TAIL_CHARS:])
    log = proc.stderr[-LOG_TAIL_CHARS:]
    answer = parse_result(proc.stdout)
    if answer is None:
        return dict(base, returncode=proc.returncode, log=log,
                    error=f"worker {module} exited {proc.returncode} without a result line; stderr tail: {proc.stderr.strip()[-800:]}")
    if answer.get("contract") != CONTRACT_VERSION:
        return dict(base, returncode=proc.returncode, log=log,
                    error=f"worker answered contract {answer.get('contract')!r}, expected {CONTRACT_VERSION}")
    if answer.get("status") not in WORKER_STATUSES:
        answer = dict(answer, status="build_error",
                      error=f"worker answered unknown status {answer.get('status')!r}: {answer.get('error')}")
    out = dict(base)
    out.update(answer)
    out.update(returncode=proc.returncode, log=log)
    return out
