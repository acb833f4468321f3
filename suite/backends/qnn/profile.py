"""HTP profiles: the QNN EP's profiling CSV, and the per-node records a run stores.

The agent's ``qnn`` adapter parses the CSV on the device (:func:`parse_htp_profile`, shared
from the agent so host and device agree) and keeps a summary in each point's ``info_json``
under ``htp_profile``::

    {"timing": "emulated", "level": "detailed", "runs": 2, "note": "...",
     "finalize_us": [10691.0], "graphs": [{"executions": 2, "execute_us": [...],
       "accelerator_cycles": [...], "nodes": [{"node": "conv_node_4_token_1", "op_id": 23,
       "cycles": [...], "cycles_median": 46895.0}, ...]}]}

:func:`node_records` flattens those into one row per (point, graph, HTP node). The
``timing`` column carries the adapter's kind: on an x86 host the cycles are Qualcomm's
emulation (they vary by more than 3x between identical runs), valid for which ops ran on
the HTP and in what order, never as device cycles.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from suite.agent.runtimes.qnn import htp_profile_summary, parse_htp_profile, timing_kind, unsupported_nodes

__all__ = ["NODE_COLUMNS", "node_records", "parse_htp_profile", "htp_profile_summary", "timing_kind",
           "unsupported_nodes", "profile_of"]

#: Columns of :func:`node_records`.
NODE_COLUMNS = ["run_id", "device", "point_id", "op", "dtype", "timing", "graph", "node", "op_id", "cycles_median",
                "cycles_min", "cycles_max", "executions"]


def profile_of(info_json: Any) -> dict[str, Any] | None:
    """The ``htp_profile`` summary of one ``info_json`` value (``None`` when the point has none)."""
    if not isinstance(info_json, str) or not info_json:
        return None
    try:
        info = json.loads(info_json)
    except json.JSONDecodeError:
        return None
    profile = info.get("htp_profile") if isinstance(info, dict) else None
    return profile if isinstance(profile, dict) else None


def node_records(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (point, HTP graph, node) of a measurements frame: :data:`NODE_COLUMNS`.

    ``cycles_*`` are over the profiled executions of that node; ``timing`` is the profile's
    own label (``emulated`` on x86). Points without a profile contribute no rows.
    """
    rows: list[dict[str, Any]] = []
    for rec in df.to_dict("records"):
        profile = profile_of(rec.get("info_json"))
        if profile is None:
            continue
        for g_index, graph in enumerate(profile.get("graphs") or []):
            for node in graph.get("nodes") or []:
                cycles = [float(c) for c in node.get("cycles") or []]
                rows.append({"run_id": rec.get("run_id"), "device": rec.get("device"), "point_id": rec.get("point_id"),
                             "op": rec.get("op"), "dtype": rec.get("dtype"), "timing": profile.get("timing"),
                             "graph": g_index, "node": node.get("node"), "op_id": node.get("op_id"),
                             "cycles_median": node.get("cycles_median"),
                             "cycles_min": min(cycles) if cycles else None,
                             "cycles_max": max(cycles) if cycles else None, "executions": len(cycles)})
    return pd.DataFrame(rows, columns=NODE_COLUMNS)
