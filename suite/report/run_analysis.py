"""Analysing run directories: the one entry point of ``analyse``, ``findings``, ``report`` and ``publish``.

Every command that turns run directories into anomalies goes through :func:`analyse_runs`, so
they all see the same measurements, the same device peaks (from the manifests' device
definitions) and the same detectors. A run written by a newer schema is left out with a
warning (one stray run must not stop the analysis of a results folder); if nothing else is
left, it is refused as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from suite.analysis import detect_all
from suite.analysis.records import Anomaly, evidence_json
from suite.analysis.timing import by_timing, timing_label
from suite.errors import ResultsError
from suite.results import damage
from suite.results.query import find_runs, load, manifests
from suite.results.schema import SCHEMA_VERSION, TIMING_KINDS
from suite.results.store import MANIFEST


@dataclass(frozen=True)
class RunAnalysis:
    """What :func:`analyse_runs` found.

    ``anomalies`` are ranked (:func:`suite.analysis.records.rank`), each with the ids of the
    runs it was seen in under ``evidence["runs"]``; ``measurements`` is the loaded frame,
    ``runs`` the run directories analysed, ``manifests`` their (readable) manifests and
    ``skipped`` the run directories left out (newer schema), with the reason.
    """

    anomalies: list[Anomaly]
    measurements: pd.DataFrame
    runs: list[Path]
    manifests: list[dict[str, Any]]
    skipped: list[tuple[Path, str]]


def newer_schema(run: Path) -> str | None:
    """Why ``run`` was written by a newer schema than this hwbehave reads, or ``None``.

    Only the manifest's ``schema_version`` is looked at; other damage is left to the loader,
    which reports it in its own words.
    """
    path = run / MANIFEST
    try:
        version = json.loads(path.read_text()).get("schema_version")
        newer = int(version) > SCHEMA_VERSION
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    if not newer:
        return None
    return f"{path}: written by schema_version {version}, this hwbehave reads up to {SCHEMA_VERSION}"


def device_peaks(run_manifests: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """device → ``{"gflops", "gbps"}`` from the device definitions in the manifests.

    A device's peaks also apply to its rows of other timing kinds, which the analysis names
    ``"<device> (<kind>)"`` (:func:`suite.analysis.timing.by_timing`).
    """
    peaks: dict[str, dict[str, float]] = {}
    for m in run_manifests:
        definition = (m.get("device") or {}).get("definition") or {}
        p = definition.get("peaks") or {}
        if not (p.get("gflops") or p.get("gbps")):
            continue
        values = {k: float(v) for k, v in p.items() if v}
        for kind in TIMING_KINDS:
            peaks[timing_label(str(m.get("device_name")), kind)] = values
    return peaks


def _with_runs(anomalies: Sequence[Anomaly], df: pd.DataFrame) -> list[Anomaly]:
    """Each anomaly with ``evidence["runs"]``: the run ids of its device(s) and sweep(s)."""
    if df.empty or "run_id" not in df.columns:
        return list(anomalies)
    labelled = by_timing(df[[c for c in ("run_id", "device", "sweep", "timing") if c in df.columns]])
    where = labelled.groupby(["device", "sweep"], dropna=False)["run_id"].agg(lambda s: sorted(set(map(str, s))))
    index = {(str(d), str(s)): ids for (d, s), ids in where.items()}
    out = []
    for a in anomalies:
        devices = a.device.split("|")
        sweeps = set(a.sweep.split("|")) if a.sweep else {s for _, s in index}
        ids = sorted({r for (d, s), rs in index.items() if d in devices and s in sweeps for r in rs})
        out.append(replace(a, evidence_json=evidence_json({**a.evidence, "runs": ids})) if ids else a)
    return out


def analyse_runs(paths: Iterable[str | Path], only: Sequence[str] | None = None) -> RunAnalysis:
    """Load the runs under ``paths`` and run the detectors (``only``: some of
    :data:`suite.analysis.DETECTOR_NAMES`) with the device peaks the manifests give.

    Raises :class:`~suite.errors.ResultsError` when no run is left to analyse.
    """
    found = find_runs(paths)
    runs, skipped = [], []
    for r in found:
        reason = newer_schema(r)
        if reason:
            damage.warn(f"{reason}; run left out")
            skipped.append((r, reason))
        else:
            runs.append(r)
    if not runs:
        raise ResultsError("nothing to analyse: " + "; ".join(reason for _, reason in skipped)
                           + "; upgrade hwbehave to read these runs")
    df = load(runs)
    run_manifests = manifests(runs)
    anomalies = detect_all(df, peaks=device_peaks(run_manifests) or None, only=list(only) if only else None)
    return RunAnalysis(anomalies=_with_runs(anomalies, df), measurements=df, runs=runs,
                       manifests=run_manifests, skipped=skipped)
