"""The worker process: runs one job at a time (load, bind, protocol) and prints a result line.

It is a child of the supervisor so that a runtime that segfaults or hangs takes only the
worker down; the supervisor records ``crashed``/``timeout`` and starts a fresh worker.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback

from .protocol import ProtocolSettings, run_protocol
from .runtimes import Unsupported, get_runtime

#: How many output values a result keeps (evenly spaced) for quantization-error analysis.
OUTPUT_SAMPLE = 256


def _status_kb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss():
    """Reset the kernel's RSS high-water mark (Linux ``clear_refs`` value 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb():
    """Peak RSS of this process since the last reset, in MB (falls back to ru_maxrss)."""
    kb = _status_kb("VmHWM")
    if kb is None:
        try:
            import resource

            kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        except (ImportError, OSError):
            return None
    return kb / 1024.0


def make_inputs(specs, seed):
    """Seeded inputs: the same seed gives the same values for every dtype of one config."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = {}
    for name, shape, dtype in specs:
        if dtype in ("int8", "uint8", "int32", "int64"):
            info = np.iinfo(dtype)
            lo, hi = max(info.min, -128), min(info.max, 127)
            out[name] = rng.integers(lo, hi + 1, size=shape).astype(dtype)
        else:
            out[name] = rng.standard_normal(size=shape).astype("float32").astype(dtype)
    return out


def output_stats(arrays):
    """Summary of outputs: digest, moments and an evenly spaced sample of values."""
    import numpy as np

    if not arrays:
        return None
    flat = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
    if flat.size == 0:
        return {"size": 0}
    idx = np.linspace(0, flat.size - 1, num=min(OUTPUT_SAMPLE, flat.size)).astype(np.int64)
    finite = np.isfinite(flat)
    return {
        "size": int(flat.size),
        "sha256": hashlib.sha256(flat.astype(np.float32).tobytes()).hexdigest()[:16],
        "mean": float(flat[finite].mean()) if finite.any() else None,
        "std": float(flat[finite].std()) if finite.any() else None,
        "absmax": float(np.abs(flat[finite]).max()) if finite.any() else None,
        "nonfinite": int((~finite).sum()),
        "sample": [float(x) for x in flat[idx]],
    }


_AFFINITY = {"current": None}


def parse_cpu_list(spec):
    """CPU set from ``[0, 1]``, ``"0-3,6"`` or a hex mask ``"0x3"`` (as taskset takes)."""
    if isinstance(spec, (list, tuple)):
        return sorted(int(c) for c in spec)
    spec = str(spec).strip()
    if spec.lower().startswith("0x"):
        mask = int(spec, 16)
        return [i for i in range(mask.bit_length()) if mask >> i & 1]
    cpus = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            cpus.extend(range(int(a), int(b) + 1))
        elif part:
            cpus.append(int(part))
    return sorted(cpus)


def apply_affinity(options):
    """Pin this worker to the CPUs of ``options['affinity']`` (once per distinct set)."""
    spec = options.get("affinity")
    if spec is None or not hasattr(os, "sched_setaffinity"):
        return None
    cpus = parse_cpu_list(spec)
    if _AFFINITY["current"] != cpus:
        os.sched_setaffinity(0, cpus)
        _AFFINITY["current"] = cpus
    return cpus


def execute_job(job, base_dir):
    """Run one job dict; always return a result dict (failures become statuses)."""
    import datetime

    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    result = {"type": "result", "job": job["job"], "status": "ok", "error": None, "started_at": now}
    runtime_name = job.get("runtime", "onnxruntime")
    adapter = None
    try:
        settings = ProtocolSettings.from_dict(job.get("protocol") or {})
        options = job.get("runtime_options") or {}
        cpus = apply_affinity(options)
        adapter = get_runtime(runtime_name)(options)
        if getattr(adapter, "timing", None):  # said at once, so that a point that fails says it too
            result["timing"] = adapter.timing
        path = os.path.join(base_dir, job["model"])
        adapter.version()  # import the runtime outside the timed load
        reset_ok = _reset_peak_rss()
        rss_before = _status_kb("VmRSS")
        t0 = time.perf_counter()
        adapter.load(path)
        result["load_ms"] = (time.perf_counter() - t0) * 1000.0
        inputs = make_inputs(adapter.input_specs(), int(job.get("input_seed", 0)))
        infer = adapter.bind(inputs)
        t0 = time.perf_counter()
        infer()
        result["first_ms"] = (time.perf_counter() - t0) * 1000.0
        result["outputs"] = output_stats(adapter.outputs())
        result.update(run_protocol(infer, settings))
        result["peak_rss_mb"] = peak_rss_mb() if reset_ok else None
        result["rss_before_mb"] = rss_before / 1024.0 if rss_before else None
        info = adapter.info() or {}
        info["affinity"] = cpus
        result["info"] = info
        if info.get("fallback_ops"):
            result["status"] = "fallback"
            result["error"] = "%s: %d op(s) left the accelerator: %s" % (
                runtime_name, len(info["fallback_ops"]), ", ".join(map(str, info["fallback_ops"][:20])))
    except Unsupported as exc:
        result.update(status="unsupported", error=_prefixed(runtime_name, exc))
    except MemoryError:
        result.update(status="runtime_error", error=runtime_name + ": out of memory")
    except Exception as exc:  # noqa: BLE001 - boundary: every failure becomes a status
        tb = traceback.format_exc(limit=3)
        result.update(status="runtime_error", error=_prefixed(runtime_name, exc) + "\n" + tb[-1500:])
    finally:
        if adapter is not None:
            try:
                adapter.close()
            except Exception:  # noqa: BLE001 - a failing close must not hide the result
                pass
    return result


def _prefixed(component, exc):
    text = str(exc) or type(exc).__name__
    return text if text.startswith(component + ":") else "%s: %s" % (component, text)


#: TEST-ONLY fault injection: ``kind[:job-id-prefix]`` entries, comma-separated, kind ``segv``
#: (the worker kills itself with SIGSEGV) or ``hang`` (it sleeps forever). A bare kind hits
#: every job. Used by tests/devices to check ``crashed``/``timeout``; never set it for real runs.
TEST_FAULT_ENV = "HWBEHAVE_AGENT_TEST_FAULT"


def _inject_test_fault(job_id):
    spec = os.environ.get(TEST_FAULT_ENV)
    if not spec:
        return
    for entry in spec.split(","):
        kind, _, prefix = entry.strip().partition(":")
        if prefix and not job_id.startswith(prefix):
            continue
        if kind == "segv":
            import signal

            sys.stderr.write("test fault: SIGSEGV for job " + job_id + "\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGSEGV)
        elif kind == "hang":
            time.sleep(3600)


def preload_runtime(name):
    """Import the adapter of runtime ``name`` and its runtime (and numpy) before the first job.

    The supervisor starts the worker before its handshake, so this overlaps the batch's start;
    a runtime that fails to import is left to the job, whose status says so.
    """
    try:
        get_runtime(name).version()
        import numpy  # noqa: F401 - every job's inputs are numpy arrays
    except Exception:  # noqa: BLE001 - the job that needs the runtime reports the failure
        pass


def worker_main(base_dir, preload=None):
    """Read job lines from stdin, write one result line per job to stdout.

    The protocol gets a private copy of stdout and fd 1 is pointed at stderr, so a
    runtime that prints to stdout (TensorFlow does) cannot corrupt the JSON stream.
    ``preload`` names the runtime to import while no job is waiting yet.
    """
    out = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)
    if preload:
        preload_runtime(preload)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        job = json.loads(line)
        _inject_test_fault(job.get("job", ""))
        result = execute_job(job, base_dir)
        out.write(json.dumps(result) + "\n")
        out.flush()
    return 0
