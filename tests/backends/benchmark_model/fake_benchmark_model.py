"""A stand-in for TFLite ``benchmark_model`` on the fake adb device (tests only).

Installed as ``/data/local/tmp/benchmark_model`` in the fake phone's sandbox. It checks
that ``--graph`` exists, logs its argv, then prints the real output in
``fake_benchmark_model.fixture`` beside it. ``fake_benchmark_model.mode`` may hold lines
``N:segv`` / ``N:hang`` / ``N:fail`` to misbehave on the N-th call (1-based). With
``--profiling_output_csv_file=F`` it copies ``fake_benchmark_model.csv`` (if present) to F, as
the real tool writes its op profile there.
"""

import json
import os
import signal
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
counter = os.path.join(here, "fake_benchmark_model.calls")
calls = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
with open(counter, "w") as f:
    f.write(str(calls))
with open(os.path.join(here, "fake_benchmark_model.argv"), "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd()}) + "\n")
modes = {}
mode_file = os.path.join(here, "fake_benchmark_model.mode")
if os.path.exists(mode_file):
    for line in open(mode_file).read().split():
        n, _, kind = line.partition(":")
        modes[int(n)] = kind
graph = args.get("graph")
print("INFO: STARTING!")
if not graph or not os.path.exists(graph):
    print(f"ERROR: Could not open '{graph}'.")
    print(f"Failed to load model {graph}")
    sys.exit(1)
kind = modes.get(calls)
if kind == "segv":
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGSEGV)
if kind == "hang":
    time.sleep(3600)
if kind == "fail":
    print("ERROR: Failed to apply GPU delegate.")
    print("Benchmarking failed.")
    sys.exit(1)
csv = os.path.join(here, "fake_benchmark_model.csv")
if args.get("profiling_output_csv_file") and os.path.exists(csv):
    with open(args["profiling_output_csv_file"], "w") as f:
        f.write(open(csv).read())
sys.stdout.write(open(os.path.join(here, "fake_benchmark_model.fixture")).read())
