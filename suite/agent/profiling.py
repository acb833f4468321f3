"""Per-op profiles in one shape, whatever runtime made them (the agent's side).

A runtime that can profile does it in a **separate pass after timing** (a second ONNX
Runtime session with profiling on, a second OpenVINO compiled model with ``PERF_COUNT``, a
second ``benchmark_model`` run with op profiling): the timed session never profiles, so
the profile cannot change the timed median. The pass runs the model :data:`PROFILE_RUNS`
times after one untimed run and keeps, per op, the mean time per inference.

The record, stored in a result's ``info["op_profile"]`` (``info_json`` in the results)::

    {"source": "onnxruntime profiler (separate session)", "runs": 10, "total_us": 812.4,
     "ops": [{"name": "conv_0", "type": "Conv", "time_us": 640.1, "share": 0.788,
              "provider": "CPUExecutionProvider"}, ...],     # costliest first, at most MAX_OPS
     "ops_total": 7, "note": "..."}

Extra keys of an op (``exec_type``, ``precision``, ``provider``, ``calls``) are the
runtime's own facts. Standard library only (the agent bundle's rule).
"""

from __future__ import annotations

#: Profiled inferences in the separate pass (after one untimed run).
PROFILE_RUNS = 10
#: Ops kept per profile (costliest first); ``ops_total`` counts them all.
MAX_OPS = 200


def op_profile(rows, source, runs, note=None):
    """The profile record from ``rows`` (dicts with ``name``, ``type``, ``time_us`` per inference).

    Rows are sorted costliest first and get ``share`` (of the summed op time); the sum is
    ``total_us``. Rows without a positive finite time are dropped (ops a runtime reports as
    not executed).
    """
    kept = []
    for row in rows:
        t = row.get("time_us")
        if isinstance(t, (int, float)) and t == t and t >= 0:
            kept.append(dict(row, time_us=float(t)))
    kept.sort(key=lambda r: -r["time_us"])
    total = sum(r["time_us"] for r in kept)
    for r in kept:
        r["share"] = r["time_us"] / total if total > 0 else None
    out = {"source": source, "runs": int(runs), "total_us": total, "ops": kept[:MAX_OPS], "ops_total": len(kept)}
    if note:
        out["note"] = note
    return out
