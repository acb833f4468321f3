"""Host overhead per point: what measuring costs beyond the protocol's timed regions, and where it goes.

overhead = wall − Σ over jobs (load + first inference + warm-up + sampling), the regions the agent
times and reports (``load_ms``, ``first_ms``, ``warmup_elapsed_s``, ``sampling_s``; for a revision
without ``warmup_elapsed_s``, ``warmup_n`` × the median sample). A *job* is one point, or one
sentinel measurement, in one round; per point = per job × jobs / points.

Every case runs in a fresh child process, on tiny ONNX models (distinct files), with a protocol so
short (1 warm-up run, 3 samples) that every cost outside it is on the critical path:

* ``bare``      the agent's ``execute_job`` called in one process, job after job: the floor
                (inputs, output digest, the result dict; no process, pipe or journal);
* ``session``   ``DeviceSession.run_batch`` of the jobs over the local transport. Its timeline
                splits the batch: start → ``hello`` (bundle, workdir, push, agent start,
                handshake), → ``env`` (environment probe), → first result (worker start and
                runtime import), per job (between two results, less the job's timed regions),
                last result → ``env`` end (worker exit, probe), → return (agent exit, clean-up);
* ``pipeline``  ``run_sweep`` of the points (a conv2d series), ``--rounds`` rounds, the sentinel every
                10 points, no confirmation: the same timeline per batch, the run's set-up and
                finalisation (wall − the batches), and the host's time per result (the
                ``Measurement`` and the journal append, inside the session's callback);
* ``ssh``       session and pipeline through a real sshd on loopback (``suite.testing.sshd``).

``--baseline REV`` runs each case also against the suite of git revision REV (``git archive``
into a temporary directory, imported instead of this checkout), the two sides alternating;
figures are medians over ``--repeat`` runs of each. ``uptime``'s load averages are printed before
and after: the machine is shared.

    .venv/bin/python benchmarks/bench_overhead.py [--points 50] [--rounds 3] [--repeat 3]
                                                  [--baseline REV] [--no-ssh] [--cases bare,session,...]

To see inside a component, profile it with py-spy (``pip install py-spy``), children included:
``py-spy record --subprocesses --idle -r 500 -f raw -o prof.txt -- .venv/bin/python
benchmarks/bench_overhead.py --repeat 1 --no-ssh --cases pipeline``.
"""

from __future__ import annotations

import sys

from revision import adopt_suite_root  # first: a baseline side imports another tree's suite

adopt_suite_root(sys.argv)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

CASES = ("bare", "session", "pipeline", "ssh-session", "ssh-pipeline")
PROTOCOL = {"warmup_runs": 1, "warmup_s": 0.0, "min_runs": 3, "min_s": 0.0, "max_runs": 3, "max_s": 0.05,
            "loop_threshold_us": 0.0, "timeout_s": 30.0}
LOCAL_DEVICE = "name: local\nclass: cpu\ntransport: {kind: local}\nruntime: {name: onnxruntime, threads: 1}\n"


def load() -> str:
    """``uptime``'s load averages (1, 5, 15 minutes)."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


# ---- one side, in a child process ----------------------------------------------------------------

def timed_s(msg: dict[str, Any]) -> float:
    """Seconds of one result inside the protocol's timed regions (load, first, warm-up, sampling)."""
    warmup = msg.get("warmup_elapsed_s")
    if warmup is None:  # a revision before the field: warm-up runs x the median sample
        samples = sorted(msg.get("samples_ms") or [0.0])
        warmup = int(msg.get("warmup_n") or 0) * samples[len(samples) // 2] / 1000
    return ((msg.get("load_ms") or 0.0) + (msg.get("first_ms") or 0.0)) / 1000 + warmup + (msg.get("sampling_s") or 0.0)


class Tap:
    """Wraps a device session's ``run_batch``: every raw agent message, its arrival time, and the
    time the caller's ``on_result`` took (the pipeline's per-result bookkeeping)."""

    def __init__(self) -> None:
        self.batches: list[dict[str, Any]] = []
        self.session: Any = None

    def wrap(self, session: Any, record: Any = None) -> Tap:  # the pipeline's drift hook
        self.session = session
        return self

    def run_batch(self, jobs: list[Any], on_result: Any, on_env: Any = None, on_hello: Any = None) -> None:
        now = time.perf_counter
        b: dict[str, Any] = {"start": now(), "results": [], "host_s": 0.0, "env": {}}
        self.batches.append(b)

        def result(msg: dict[str, Any]) -> None:
            t = now()
            on_result(msg)
            b["host_s"] += now() - t
            b["results"].append((t, msg))

        def env(when: str, data: dict[str, Any]) -> None:
            b["env"][when] = now()
            if on_env:
                on_env(when, data)

        def hello(msg: dict[str, Any]) -> None:
            b["hello"] = now()
            if on_hello:
                on_hello(msg)

        try:
            self.session.run_batch(jobs, on_result=result, on_env=env, on_hello=hello)
        finally:
            b["end"] = now()


def timeline(b: dict[str, Any]) -> dict[str, float]:
    """A batch's wall time, split (seconds): the parts add up to wall − the jobs' timed regions."""
    res = b["results"]
    gaps = [t1 - t0 - timed_s(m1) for (t0, _), (t1, m1) in zip(res, res[1:], strict=False)]
    return {"wall": b["end"] - b["start"], "timed": sum(timed_s(m) for _, m in res), "jobs": len(res),
            "to_hello": b["hello"] - b["start"], "probe": b["env"]["start"] - b["hello"],
            "to_first": res[0][0] - b["env"]["start"] - timed_s(res[0][1]), "per_job": sum(gaps),
            "to_env_end": b["env"]["end"] - res[-1][0], "teardown": b["end"] - b["env"]["end"],
            "host_s": b["host_s"]}


def jobs_for(models: list[Path]) -> list[Any]:
    import hashlib

    from suite.devices.session import Job

    return [Job(job_id=f"j{i}", model_path=str(m), format="onnx", dtype="fp32", runtime="onnxruntime",
                runtime_options={"threads": 1}, protocol=PROTOCOL, input_seed=i,
                model_sha256=hashlib.sha256(m.read_bytes()).hexdigest()) for i, m in enumerate(models)]


def case_bare(models: list[Path]) -> dict[str, float]:
    from suite.agent.worker import execute_job

    wire = [j.wire(str(m)) for j, m in zip(jobs_for(models), models, strict=True)]
    execute_job(wire[0], "/")  # the runtime's import is not per job
    t0 = time.perf_counter()
    results = [execute_job(w, "/") for w in wire]
    wall = time.perf_counter() - t0
    assert all(r["status"] == "ok" for r in results), results[0]
    return {"wall": wall, "timed": sum(timed_s(r) for r in results), "jobs": len(results)}


def case_session(device_yaml: Path, models: list[Path]) -> dict[str, float]:
    from suite.devices.config import load_device
    from suite.devices.session import DeviceSession

    tap = Tap().wrap(DeviceSession(load_device(device_yaml)))
    tap.run_batch(jobs_for(models), on_result=lambda msg: None)
    b = tap.batches[0]
    assert len(b["results"]) == len(models) and all(m["status"] == "ok" for _, m in b["results"])
    return {**timeline(b), "floor": interpreter_floor_s()}


def interpreter_floor_s() -> float:
    """What a fresh worker cannot avoid: an interpreter that starts, imports the runtime and exits."""
    walls = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import onnxruntime"], check=True)
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls)


SWEEP = """name: bench-overhead
op: conv2d
fixed: {{cin: 4, resolution: 8, kernel: 1}}
axes: {{cout: {{range: [1, {points}]}}}}
dtypes: [fp32]
measure: {{warmup_runs: 1, warmup_s: 0.0, min_runs: 3, min_s: 0.0, max_runs: 3, max_s: 0.05, loop_threshold_us: 0,
          rounds: {rounds}, sentinel_every: 10, confirm_s: 0}}
"""


#: Facts measured once per side (the git commit lookup the pipeline makes per run).
SIDE: dict[str, float] = {}


def case_pipeline(device_yaml: Path, work: Path, points: int, rounds: int) -> dict[str, float]:
    import suite.pipeline as pipeline
    from suite.devices.config import load_device
    from suite.models.cache import ArtifactCache
    from suite.pipeline import run_sweep
    from suite.sweep.expand import load_sweep

    if "git" not in SIDE:  # once per side, then left out of both sides: a baseline tree is no git checkout
        t0 = time.perf_counter()
        pipeline.git_commit()
        SIDE["git"] = time.perf_counter() - t0
        pipeline.git_commit = lambda: None  # type: ignore[assignment]
    sweep_file = work / "sweep.yaml"
    sweep_file.write_text(SWEEP.format(points=points, rounds=rounds))
    sweep, device, cache = load_sweep(sweep_file), load_device(device_yaml), ArtifactCache(work / "cache")
    run_sweep(sweep, device, work / "warm", cache=cache)  # builds the models: not measuring overhead
    tap = Tap()
    t0 = time.perf_counter()
    outcome = run_sweep(sweep, device, work / "run", cache=cache, drift=tap)
    wall = time.perf_counter() - t0
    assert outcome.complete, outcome.error
    lines = [timeline(b) for b in tap.batches]
    out = {k: sum(x[k] for x in lines) for k in lines[0]}
    out.update(run_wall=wall, run_fixed=wall - out["wall"], batches=len(lines), points=points, git=SIDE["git"])
    return out


def side_main(args: argparse.Namespace) -> int:
    models = sorted(Path(args.models).glob("m*.onnx"), key=lambda p: int(p.stem[1:]))
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-overhead-side-") as tmp:
        for case in args.cases.split(","):
            if case == "bare":
                figures[case] = case_bare(models)
            elif case in ("session", "ssh-session"):
                figures[case] = case_session(Path(args.device if case == "session" else args.ssh_device), models)
            elif case in ("pipeline", "ssh-pipeline"):
                yaml = Path(args.device if case == "pipeline" else args.ssh_device)
                (Path(tmp) / case).mkdir()
                figures[case] = case_pipeline(yaml, Path(tmp) / case, args.points, args.rounds)
    text = json.dumps(figures)
    if args.out == "-":
        print(text)
    else:
        Path(args.out).write_text(text)
    return 0


# ---- the parent: sides, repeats, the table ---------------------------------------------------------

def run_side(label: str, root: Path | None, cases: list[str], args: argparse.Namespace, models: Path,
             device: Path, ssh_device: Path | None) -> dict[str, Any]:
    from revision import run_side as side  # benchmarks/revision.py

    return side(__file__, label, root, ["--cases", ",".join(cases), "--points", str(args.points), "--rounds",
                                        str(args.rounds), "--models", str(models), "--device", str(device),
                                        *(["--ssh-device", str(ssh_device)] if ssh_device is not None else [])])


def median_of(runs: list[dict[str, Any]], case: str, key: str) -> float:
    return statistics.median(r[case][key] for r in runs)


def print_case(case: str, sides: dict[str, list[dict[str, Any]]]) -> None:
    labels = list(sides)
    ms = 1000.0

    def row(name: str, value: Any) -> None:
        cells = []
        for label in labels:
            try:
                cells.append(f"{value(sides[label]):10.2f}")
            except (KeyError, ZeroDivisionError):
                cells.append(f"{'-':>10}")
        print(f"  {name:<52}" + "".join(cells))

    print(f"\n{case}: ms" + "".join(f"{label:>10}" for label in labels).rjust(60))
    jobs = lambda runs: median_of(runs, case, "jobs")  # noqa: E731
    row("overhead per job: (wall - timed) / jobs",
        lambda runs: statistics.median((r[case]["wall"] - r[case]["timed"]) / r[case]["jobs"] for r in runs) * ms)
    if case == "bare":
        return
    if "run_wall" in sides[labels[0]][0][case]:
        row("run: overhead per job, set-up and finalisation included",
            lambda runs: statistics.median((r[case]["run_wall"] - r[case]["timed"]) / r[case]["jobs"]
                                           for r in runs) * ms)
        row("run: overhead per point (jobs/point x per job)",
            lambda runs: statistics.median((r[case]["run_wall"] - r[case]["timed"]) / r[case]["points"]
                                           for r in runs) * ms)
        row("run: set-up + finalisation (once per run)", lambda runs: median_of(runs, case, "run_fixed") * ms)
        row("  not in it: the manifest's git commit lookup", lambda runs: median_of(runs, case, "git") * ms)
    per_batch = lambda runs, k: statistics.median(r[case][k] / r[case].get("batches", 1) for r in runs) * ms  # noqa: E731
    row("batch: start -> hello (bundle, push, agent start)", lambda runs: per_batch(runs, "to_hello"))
    row("batch: hello -> env (environment probe)", lambda runs: per_batch(runs, "probe"))
    row("batch: env -> first result (worker start, import)", lambda runs: per_batch(runs, "to_first"))
    row("batch: last result -> env end (worker exit)", lambda runs: per_batch(runs, "to_env_end"))
    row("batch: env end -> return (agent exit, clean-up)", lambda runs: per_batch(runs, "teardown"))
    if "floor" in sides[labels[0]][0][case]:
        row("  floor: a fresh python importing onnxruntime", lambda runs: median_of(runs, case, "floor") * ms)
    row("per job, marginal (between two results)",
        lambda runs: statistics.median(r[case]["per_job"] / (r[case]["jobs"] - r[case].get("batches", 1))
                                       for r in runs) * ms)
    if case.endswith("pipeline"):
        row("  of it on the host: Measurement + journal append",
            lambda runs: statistics.median(r[case]["host_s"] / r[case]["jobs"] for r in runs) * ms)
    row("jobs (points x rounds + sentinel measurements)", jobs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline", help="git revision to compare with (e.g. the merge base)")
    ap.add_argument("--no-ssh", action="store_true")
    ap.add_argument("--cases", default=",".join(CASES))
    # a side (internal: the parent starts one child per side and repeat)
    ap.add_argument("--side")
    ap.add_argument("--suite-root")
    ap.add_argument("--models")
    ap.add_argument("--device")
    ap.add_argument("--ssh-device")
    ap.add_argument("--out", default="-")
    args = ap.parse_args(argv)
    if args.side:
        return side_main(args)
    cases = [c for c in args.cases.split(",") if not (args.no_ssh and c.startswith("ssh"))]
    print(f"load before: {load()}")
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        root = Path(tmp)
        device = root / "local.yaml"
        device.write_text(LOCAL_DEVICE)
        from suite.testing.tiny import relu_models  # the parent only: a baseline tree may not have it

        relu_models(root / "models", args.points)
        roots: dict[str, Path | None] = {"current": None}
        if args.baseline:
            from revision import suite_at  # benchmarks/revision.py

            roots = {"baseline": suite_at(args.baseline, root / "baseline"), "current": None}
        server = None
        ssh_device = None
        if any(c.startswith("ssh") for c in cases):
            from suite.testing.sshd import TestSshd

            server = TestSshd(root / "sshd").start()
            ssh_device = root / "ssh.yaml"
            ssh_device.write_text(server.device_yaml(workdir=str(root / "remote"), python=sys.executable))
        try:
            sides: dict[str, list[dict[str, Any]]] = {label: [] for label in roots}
            for _ in range(args.repeat):
                for label, suite_root in roots.items():  # alternate: both sides share the machine's moods
                    sides[label].append(run_side(label, suite_root, cases, args, root / "models", device, ssh_device))
        finally:
            if server is not None:
                server.stop()
    print(f"{args.points} tiny ONNX models (Relu on 8 floats), protocol {PROTOCOL}; pipeline: {args.rounds} rounds, "
          f"sentinel every 10, no confirmation; medians of {args.repeat} runs per side"
          + (f"; baseline = {args.baseline}" if args.baseline else ""))
    for case in cases:
        print_case(case, sides)
    print(f"\nload after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
