"""Parse the console output of TFLite/LiteRT ``benchmark_model`` and turn it into a job result.

``benchmark_model`` prints summaries, never raw per-run times. What it prints (all
formats seen in real runs, with and without the ``INFO:`` prefix of newer builds):

* ``count=N first=F curr=C min=A max=B avg=M std=S [p5=.. median=.. p95=..]`` (µs) —
  once for the warm-up runs, once for the regular runs; ``curr`` is the *last* run;
* ``Inference timings in us: Init: I, First inference: F, Warmup (avg): W, Inference (avg): A``
  (the legacy 1.x form is ``Average inference timings in us: Warmup: W, Init: I, no stats: A``);
* ``Peak memory footprint (MB): init=.. overall=..`` or
  ``Memory footprint delta from the start of the tool (MB): init=.. overall=..``;
* the ``STARTING!`` echo of parameters (``Num threads: [4]``);
* with ``--enable_op_profiling=true``: tables (``Run Order``, ``Top by Computation Time``,
  ``Summary by node type``) for initialization and for the regular runs.

Because there are no raw samples, a result carries the run average as its single sample
and says so in ``info`` (``samples_kind: "summary"`` with the tool's count, min, max, std,
percentiles). A run with no parsable timing is a ``runtime_error`` with the output tail,
never 0 ms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from suite import status as st

#: Node types that stand for a whole delegated partition in op-profiling tables.
DELEGATE_NODE_MARKERS = ("Delegate", "DELEGATE")

_STATS_RE = re.compile(r"^count=(\d+)((?:\s+[a-z0-9]+=\S+)*)\s*$")
_KV_RE = re.compile(r"([a-z0-9]+)=(\S+)")
_TIMINGS_RE = re.compile(r"^Inference timings in us:\s*(.*)$")
_LEGACY_TIMINGS_RE = re.compile(r"^Average inference timings in us:\s*(.*)$")
_MEMORY_RE = re.compile(r"^(Peak memory footprint|Memory footprint delta from the start of the tool) \(MB\):"
                        r"\s*init=(\S+)\s+overall=(\S+)")
_PARAM_RE = re.compile(r"^([^:\[\]]+):\s*\[(.*)\]\s*$")
_INIT_SESSION_RE = re.compile(r"^Initialized session in ([0-9.eE+-]+)\s*ms")
_MODEL_SIZE_RE = re.compile(r"^The input model file size \(MB\):\s*(\S+)")
_TABLE_RE = re.compile(r"^=+ (.+?) =+$")
_TIMING_ROW_RE = re.compile(r"^Timings \(microseconds\):\s*(count=.*)$")


def _number(text: str) -> float | None:
    try:
        return float(text.rstrip(","))
    except ValueError:
        return None


@dataclass(frozen=True)
class TimingStats:
    """One ``count=…`` line, in microseconds (fields it did not print are ``None``)."""

    count: int
    first_us: float | None = None
    curr_us: float | None = None
    min_us: float | None = None
    max_us: float | None = None
    avg_us: float | None = None
    std_us: float | None = None
    p5_us: float | None = None
    median_us: float | None = None
    p95_us: float | None = None

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"TimingStats.count must be >= 0, got {self.count}")

    @classmethod
    def from_line(cls, line: str) -> TimingStats | None:
        """Parse ``count=50 first=.. curr=..``; ``None`` if the line is not one."""
        m = _STATS_RE.match(line.strip())
        if not m:
            return None
        values = {k: _number(v) for k, v in _KV_RE.findall(m.group(2))}
        names = {"first": "first_us", "curr": "curr_us", "min": "min_us", "max": "max_us", "avg": "avg_us",
                 "std": "std_us", "p5": "p5_us", "median": "median_us", "p95": "p95_us"}
        return cls(count=int(m.group(1)), **{names[k]: v for k, v in values.items() if k in names})


@dataclass(frozen=True)
class OpProfileTable:
    """One op-profiling table: its section, its title, column names and rows (strings)."""

    section: str
    title: str
    columns: list[str]
    rows: list[dict[str, str]]


@dataclass(frozen=True)
class BenchmarkModelOutput:
    """Everything parsed from one ``benchmark_model`` run."""

    params: dict[str, str] = field(default_factory=dict)
    stats: list[TimingStats] = field(default_factory=list)
    init_us: float | None = None
    first_inference_us: float | None = None
    warmup_avg_us: float | None = None
    inference_avg_us: float | None = None
    init_session_ms: float | None = None
    model_size_mb: float | None = None
    memory_kind: str | None = None
    memory_init_mb: float | None = None
    memory_overall_mb: float | None = None
    profile_tables: list[OpProfileTable] = field(default_factory=list)
    profile_timings: dict[str, TimingStats] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    delegate_notes: list[str] = field(default_factory=list)
    failed: bool = False

    @property
    def inference(self) -> TimingStats | None:
        """Stats of the regular runs: the last ``count=`` line outside the profiling tables,
        else the profiler's ``Timings (microseconds)`` line of the regular runs."""
        if self.stats:
            return self.stats[-1]
        return next((v for k, v in self.profile_timings.items() if k.startswith("Operator-wise")), None)

    @property
    def warmup(self) -> TimingStats | None:
        """Stats of the warm-up runs (the first of two ``count=`` lines), if printed."""
        return self.stats[0] if len(self.stats) >= 2 else None

    @property
    def has_timing(self) -> bool:
        return self.average_us() is not None

    def average_us(self) -> float | None:
        """Mean inference time of the regular runs in µs."""
        if self.inference is not None and self.inference.avg_us is not None:
            return self.inference.avg_us
        return self.inference_avg_us

    def fallback_ops(self) -> list[str]:
        """Node types that ran outside the delegate in the regular runs (needs op profiling).

        Empty when no delegate partition appears in the tables (a CPU-only run has no
        fallback, it has no accelerator).
        """
        table = next((t for t in self.profile_tables if t.section.startswith("Operator-wise")
                      and t.title == "Summary by node type"), None)
        if table is None:
            return []
        types = [r.get("[Node type]", r.get("node type", "")) for r in table.rows]
        if not any(m in t for t in types for m in DELEGATE_NODE_MARKERS):
            return []
        return [t for t in types if t and not any(m in t for m in DELEGATE_NODE_MARKERS)]


def parse(text: str) -> BenchmarkModelOutput:
    """Parse ``benchmark_model`` stdout+stderr (any version seen so far)."""
    params: dict[str, str] = {}
    stats: list[TimingStats] = []
    out: dict[str, Any] = {}
    tables: list[OpProfileTable] = []
    profile_timings: dict[str, TimingStats] = {}
    errors: list[str] = []
    notes: list[str] = []
    section: str | None = None
    table: OpProfileTable | None = None
    failed = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("INFO: "):
            line = line[6:].strip()
        if not line:
            table = None
            continue
        if line.endswith("Profiling Info for Benchmark Initialization:") or line.startswith(
                "Operator-wise Profiling Info"):
            section, table = line.rstrip(":"), None
            continue
        if section is not None:
            m = _TABLE_RE.match(line)
            if m:
                table = OpProfileTable(section=section, title=m.group(1), columns=[], rows=[])
                tables.append(table)
                continue
            m = _TIMING_ROW_RE.match(line)
            if m:
                parsed = TimingStats.from_line(m.group(1))
                if parsed is not None:
                    profile_timings[section] = parsed
                table = None
                continue
            if table is not None and "\t" in raw:
                cells = [c.strip() for c in raw.strip("\n").split("\t") if c.strip()]
                if not table.columns:
                    table.columns.extend(cells)
                else:
                    table.rows.append(dict(zip(table.columns, cells, strict=False)))
                continue
            if line.startswith(("Number of nodes executed", "Memory (bytes)")) or line.endswith("nodes observed"):
                continue
        parsed = TimingStats.from_line(line)
        if parsed is not None:
            stats.append(parsed)
            continue
        m = _TIMINGS_RE.match(line)
        if m:
            parts = dict(p.split(":", 1) for p in m.group(1).split(", ") if ":" in p)
            keys = {"Init": "init_us", "First inference": "first_inference_us", "Warmup (avg)": "warmup_avg_us",
                    "Inference (avg)": "inference_avg_us"}
            for k, v in parts.items():
                if k.strip() in keys:
                    out[keys[k.strip()]] = _number(v.strip())
            continue
        m = _LEGACY_TIMINGS_RE.match(line)
        if m:
            parts = dict(p.split(":", 1) for p in m.group(1).split(", ") if ":" in p)
            legacy = {"Warmup": "warmup_avg_us", "Init": "init_us", "no stats": "inference_avg_us"}
            for k, v in parts.items():
                if k.strip() in legacy:
                    out[legacy[k.strip()]] = _number(v.strip())
            continue
        m = _MEMORY_RE.match(line)
        if m:
            out.update(memory_kind="peak" if m.group(1).startswith("Peak") else "delta",
                       memory_init_mb=_number(m.group(2)), memory_overall_mb=_number(m.group(3)))
            continue
        m = _INIT_SESSION_RE.match(line)
        if m:
            out["init_session_ms"] = _number(m.group(1))
            continue
        m = _MODEL_SIZE_RE.match(line)
        if m:
            out["model_size_mb"] = _number(m.group(1))
            continue
        if line.startswith("ERROR:"):
            errors.append(line[6:].strip())
            continue
        if line == "Benchmarking failed." or line.startswith("Failed to "):
            failed = failed or line == "Benchmarking failed."
            errors.append(line)
            continue
        if "delegate" in line.lower():
            notes.append(line)
            continue
        m = _PARAM_RE.match(line)
        if m:
            params[m.group(1).strip()] = m.group(2)
    return BenchmarkModelOutput(params=params, stats=stats, profile_tables=tables, profile_timings=profile_timings,
                                errors=errors, delegate_notes=notes, failed=failed, **out)


def parse_profile_csv(text: str) -> list[OpProfileTable]:
    """The op-profiling tables of the file ``--profiling_output_csv_file`` writes.

    Same sections and table titles as the console tables, but each table is a comma-separated
    header line (``node type, start, first, avg_ms, %, cdf%, mem KB, times called, name``; older
    builds lack ``start``) and rows whose cells are joined by ``", "`` (TFLite's
    StatsCalculator replaces commas inside node names by tabs, so the last cell is split off
    whole). Lines between tables (``Number of nodes executed``, ``Timings (microseconds)``) are
    skipped.
    """
    tables: list[OpProfileTable] = []
    section = ""
    table: OpProfileTable | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            table = None
            continue
        if line.endswith("Profiling Info for Benchmark Initialization:") or line.startswith("Operator-wise Profiling Info"):
            section, table = line.rstrip(":"), None
            continue
        m = _TABLE_RE.match(line)
        if m:
            table = OpProfileTable(section=section, title=m.group(1), columns=[], rows=[])
            tables.append(table)
            continue
        if table is None:
            continue
        if not table.columns:
            table.columns.extend(c.strip() for c in line.split(","))
            continue
        cells = [c.strip() for c in line.split(", ", len(table.columns) - 1)]
        table.rows.append(dict(zip(table.columns, cells, strict=False)))
    return tables


def op_profile_from_tables(tables: list[OpProfileTable], runs: int | None, source: str) -> dict[str, Any] | None:
    """The suite's op profile (``suite/agent/profiling.py``) from the regular runs' ``Run Order`` table.

    Works on console tables (``[avg ms]``, ``[Name]``) and CSV ones (``avg_ms``, ``name``) alike;
    ``None`` when the output has no such table.
    """
    from suite.agent.profiling import op_profile

    table = next((t for t in tables if t.section.startswith("Operator-wise") and t.title == "Run Order"), None)
    if table is None:
        return None

    def cell(row: dict[str, str], *names: str) -> str | None:
        return next((row[n] for n in names if n in row), None)

    rows = []
    for row in table.rows:
        avg = _number(cell(row, "[avg ms]", "avg_ms") or "")
        rows.append({"name": cell(row, "[Name]", "name") or "?", "type": cell(row, "[node type]", "node type") or "?",
                     "time_us": None if avg is None else avg * 1000.0,
                     "calls": int(_number(cell(row, "[times called]", "times called") or "") or 0) or None})
    return op_profile(rows, source, runs or 0, note="benchmark_model's op profiler: mean time per node and run")


def _ms(us: float | None) -> float | None:
    return None if us is None else us / 1000.0


def output_tail(text: str, chars: int = 1500) -> str:
    """The last ``chars`` characters of ``text``, cut at a line start where possible."""
    tail = text[-chars:]
    if len(text) > chars and "\n" in tail:
        tail = tail.split("\n", 1)[1]
    return tail


def result_from_output(job_id: str, text: str, *, exit_code: int | None, started_at: str,
                       expect_delegate: bool = False, profile_tables: list[OpProfileTable] | None = None
                       ) -> dict[str, Any]:
    """A job result message (as the agent would send it) from one ``benchmark_model`` run.

    ``samples_ms`` holds the single run average (benchmark_model prints no raw times);
    ``info`` carries the tool's own summary and ``samples_kind: "summary"``. With
    ``expect_delegate`` and op profiling on, ops outside the delegate make ``fallback``.
    """
    result: dict[str, Any] = {"type": "result", "job": job_id, "status": st.OK, "error": None,
                              "started_at": started_at}
    parsed = parse(text)
    avg_us = parsed.average_us()
    if exit_code is not None and exit_code >= 128:
        result.update(status=st.CRASHED, error=f"benchmark_model: died with exit status {exit_code} "
                      f"(signal {exit_code - 128}). output tail: {output_tail(text)}")
        return result
    if parsed.failed or avg_us is None or avg_us <= 0 or (exit_code not in (0, None)):
        why = "; ".join(parsed.errors[-3:]) or ("no timing line found" if avg_us is None else
                                                 f"exit status {exit_code}")
        result.update(status=st.RUNTIME_ERROR,
                      error=f"benchmark_model: {why}. output tail: {output_tail(text)}")
        return result
    inf = parsed.inference
    info: dict[str, Any] = {
        "samples_kind": "summary",
        "samples_note": "benchmark_model prints no raw samples: samples_ms holds its run average; "
                        "its own count/min/max/std/percentiles are here",
        "bm_count": inf.count if inf else None,
        "bm_avg_ms": _ms(avg_us),
        "bm_std_ms": _ms(inf.std_us) if inf else None,
        "bm_min_ms": _ms(inf.min_us) if inf else None,
        "bm_max_ms": _ms(inf.max_us) if inf else None,
        "bm_curr_ms": _ms(inf.curr_us) if inf else None,
        "bm_first_ms": _ms(inf.first_us) if inf else None,
        "bm_p5_ms": _ms(inf.p5_us) if inf else None,
        "bm_median_ms": _ms(inf.median_us) if inf else None,
        "bm_p95_ms": _ms(inf.p95_us) if inf else None,
        "bm_warmup_count": parsed.warmup.count if parsed.warmup else None,
        "bm_warmup_avg_ms": _ms(parsed.warmup_avg_us),
        "memory_kind": parsed.memory_kind,
        "memory_init_mb": parsed.memory_init_mb,
        "memory_overall_mb": parsed.memory_overall_mb,
        "delegate_notes": parsed.delegate_notes[:10],
        "params": parsed.params,
        "provider": "benchmark_model",
    }
    if parsed.profile_tables:
        profiled = parsed.profile_timings.get("Operator-wise Profiling Info for Regular Benchmark Runs")
        info["op_profile"] = op_profile_from_tables(parsed.profile_tables, profiled.count if profiled else None,
                                                    "benchmark_model --enable_op_profiling (console tables)")
    result.update(samples_ms=[avg_us / 1000.0], loop_k=1, timing="summary", load_ms=_ms(parsed.init_us)
                  if parsed.init_us is not None else parsed.init_session_ms,
                  first_ms=_ms(parsed.first_inference_us), info=info,
                  peak_rss_mb=parsed.memory_overall_mb if parsed.memory_kind == "peak" else None)
    if profile_tables is not None:  # the separate profiling pass's CSV: its tables decide fallback
        parsed = BenchmarkModelOutput(profile_tables=profile_tables)
    fallback = parsed.fallback_ops() if expect_delegate else []
    if fallback:
        info["fallback_ops"] = fallback
        result.update(status=st.FALLBACK, error=f"benchmark_model: {len(fallback)} op type(s) left the delegate: "
                      + ", ".join(fallback[:20]))
    return result
