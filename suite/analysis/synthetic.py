"""Synthetic measurement frames with planted effects, for tests, benchmarks and demos.

Every frame has the columns of :mod:`suite.results.schema` (contract + extra) plus one column
per op parameter, like a frame from ``suite.results.load``. Latencies are drawn around a
"true" value with multiplicative Gaussian noise; the median's 95 % CI is the usual
order-statistic interval, so detectors see realistic CIs. All randomness is seeded.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from suite.results.schema import ALL_FIXED, SCHEMA_VERSION
from suite.results.statistics import noise_floor
from suite.sweep.point import canonical_json, config_id, point_id

DTYPE_BYTES = {"fp32": 4, "fp16": 2, "int8": 1}


def conv_cost(params: dict, dtype: str) -> dict:
    """Analytic cost of a conv-like synthetic point: macs, flops, bytes (dtype-aware)."""
    cin, cout = int(params.get("cin", params.get("channels", 32))), int(params.get("cout", params.get("channels", 32)))
    k, stride = int(params.get("kernel", 1)), int(params.get("stride", 1))
    groups = int(params.get("groups", 1))
    res = int(params.get("resolution", 56))
    out_hw = max(1, res // stride)
    macs = (cin // groups) * cout * k * k * out_hw * out_hw
    if params.get("op_kind") == "activation":
        macs = 0
    act_flops = {"none": 0, "relu": 1, "hard_swish": 4, "swish": 5, "gelu": 8, "mish": 9}.get(
        params.get("activation", "none"), 4)
    flops = 2 * macs + act_flops * cout * out_hw * out_hw
    b = DTYPE_BYTES[dtype]
    bytes_in, bytes_out = cin * res * res * b, cout * out_hw * out_hw * b
    bytes_w = (cin // groups) * cout * k * k * b
    return {"macs": macs, "flops": flops, "bytes_in": bytes_in, "bytes_out": bytes_out,
            "bytes_weights": bytes_w, "bytes_total": bytes_in + bytes_out + bytes_w,
            "param_count": (cin // groups) * cout * k * k}


def median_ci(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and distribution-free 95 % CI of the median for each row of ``samples`` (m × n).

    The CI is the pair of order statistics at ``n/2 ∓ 1.96·sqrt(n)/2`` (normal approximation
    to the binomial), clamped to the sample range.
    """
    s = np.sort(samples, axis=1)
    n = s.shape[1]
    lo = max(0, int(math.floor(n / 2 - 1.96 * math.sqrt(n) / 2)))
    hi = min(n - 1, int(math.ceil(n / 2 + 1.96 * math.sqrt(n) / 2)) - 1)
    return np.median(s, axis=1), s[:, lo], s[:, hi]


def output_digest(values: np.ndarray) -> str:
    """``output_json`` for an output tensor: size, sha256, moments, up to 256 evenly spaced values."""
    values = np.asarray(values, dtype=float).ravel()
    idx = np.unique(np.linspace(0, len(values) - 1, min(256, len(values))).round().astype(int))
    finite = values[np.isfinite(values)]
    picked = values[idx]
    sample = picked.tolist() if finite.size == values.size else [float(v) if np.isfinite(v) else None
                                                                for v in picked]
    return json.dumps({"size": int(values.size), "sha256": hashlib.sha256(values.tobytes()).hexdigest(),
                       "mean": float(finite.mean()) if finite.size else None,
                       "std": float(finite.std()) if finite.size else None,
                       "absmax": float(np.abs(finite).max()) if finite.size else None,
                       "nonfinite": int(values.size - finite.size),
                       "sample": sample})


@dataclass(frozen=True)
class MachineNoise:
    """How a shared machine perturbs a run, all relative (log-scale) standard deviations.

    Parameters
    ----------
    sample_rel : float
        Sample-to-sample noise within one burst (what a within-burst CI sees).
    round_rel : float
        Session-to-session noise: each (point, round) is off by this much.
    point_rel : float
        Systematic per-point noise: each configuration is off by this much in every round of
        the run (alignment, layout); no per-point interval can see it, only a series can.
    drift_rel : float
        Slow drift of the machine over the run's time (a smooth curve of this amplitude).
    spell_fraction, spell_rel : float
        Slow spells: this fraction of the run's time runs ``1 + spell_rel`` slower (bimodal).
    """

    sample_rel: float = 0.02
    round_rel: float = 0.0
    point_rel: float = 0.0
    drift_rel: float = 0.0
    spell_fraction: float = 0.0
    spell_rel: float = 0.0


#: The sentinel is measured at the start of each round, every this many points and at its end,
#: as a run does (``measure.sentinel_every``).
SENTINEL_EVERY = 10


class FrameBuilder:
    """Accumulates synthetic measurement rows; :meth:`frame` returns the DataFrame.

    Rows are added with :meth:`add`; :meth:`frame` then plays the run: ``rounds`` interleaved
    rounds, each a fresh shuffle of the timed points, each point a burst of ``n_samples``
    samples perturbed as :class:`MachineNoise` says, and a sentinel measured at the start of
    each round, every :data:`SENTINEL_EVERY` points and at its end. Rows have the columns of
    results contract v2: the headline is the median of the round medians, ``ci_low_ms``/``ci_high_ms`` the hull of
    the round medians and the within-burst CI, ``round_median_ms``/``round_n`` per round,
    ``noise_floor_rel`` from the sentinel (see :func:`sentinel_floor`). A non-timed status
    (unsupported, runtime_error…) gets no samples and NaN statistics.

    ``noise_rel`` is the within-burst noise (``noise.sample_rel``) when ``noise`` is not given.
    """

    def __init__(self, seed: int = 0, *, n_samples: int = 15, noise_rel: float = 0.02, run_id: str = "synthetic",
                 rounds: int = 1, noise: MachineNoise | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self.n_samples = n_samples
        self.noise = noise if noise is not None else MachineNoise(sample_rel=noise_rel)
        self.noise_rel = self.noise.sample_rel
        self.rounds = int(rounds)
        self.run_id = run_id
        self._rows: list[dict] = []
        self._pending: list[tuple[int, float, float]] = []  # row index, true_ms, sample noise_rel
        self._bursts: list[list[np.ndarray]] | None = None  # per pending point, one array per round
        self._floor = float("nan")

    def add(self, device: str, sweep: str, op: str, params: dict, dtype: str = "fp32", true_ms: float = 1.0, *,
            status: str = "ok", runtime: str = "onnxruntime", device_class: str | None = None,
            noise_rel: float | None = None, output: np.ndarray | None = None, info: dict | None = None,
            cost: dict | None = None, error: str = "") -> None:
        """Add one measurement of ``op`` with ``params`` at ``dtype`` whose true latency is ``true_ms``."""
        cost = cost or conv_cost({**params, "op_kind": op}, dtype)
        pid = point_id(op, params, dtype)
        row = {
            "schema_version": SCHEMA_VERSION, "run_id": self.run_id, "sweep": sweep, "device": device,
            "device_class": device_class or device, "runtime": runtime, "format": "onnx",
            "point_id": pid, "job_id": f"{pid}-onnx", "op": op, "dtype": dtype,
            "params_json": canonical_json(params), "status": status, "error": error,
            "config_id": config_id(op, params), "provider": runtime,
            "output_json": output_digest(output) if output is not None else None,
            "info_json": json.dumps(info or {}), "loop_k": 1,
            **cost, **params,
        }
        self._rows.append(row)
        if status in ("ok", "fallback"):
            self._pending.append((len(self._rows) - 1, float(true_ms),
                                  self.noise_rel if noise_rel is None else noise_rel))

    def _machine(self, t: np.ndarray) -> np.ndarray:
        """log slowdown of the machine at run times ``t`` (the planned rounds span [0, 1),
        confirmation rounds come after): drift plus slow spells."""
        nz = self.noise
        out = np.zeros_like(t)
        if nz.drift_rel:
            out += nz.drift_rel * np.sin(2 * np.pi * (self._drift[0] * t + self._drift[1]))
        for a, b in self._spells:
            out += np.where((t >= a) & (t < b), np.log1p(nz.spell_rel), 0.0)
        return out

    def _start(self) -> None:
        """Draw what stays fixed for the run: drift phase, slow spells, per-point offsets."""
        nz = self.noise
        self._drift = (self.rng.uniform(0.5, 2.0), self.rng.uniform(0, 1))
        self._spells: list[tuple[float, float]] = []
        if nz.spell_fraction and nz.spell_rel:
            # spells over [0, 2): the planned rounds and what confirmation adds after them
            k = max(1, int(self.rng.integers(1, 4)))
            length = nz.spell_fraction / k
            for start in self.rng.uniform(0, 2 - length, 2 * k):
                self._spells.append((float(start), float(start + length)))
        m = len(self._pending)
        self._point_off = nz.point_rel * self.rng.standard_normal(m)
        self._bursts: list[list[np.ndarray]] = [[] for _ in range(m)]
        self._confirm_rounds = np.zeros(m, dtype=int)
        self._clock = 0.0

    def _measure(self, which: np.ndarray, rounds: int, span: float) -> None:
        """``rounds`` interleaved rounds of the points ``which`` (indices into the pending list),
        each a fresh shuffle, over ``span`` of run time starting at the clock."""
        nz, n, m = self.noise, self.n_samples, len(which)
        true = np.array([self._pending[i][1] for i in which])
        sample_rel = np.array([self._pending[i][2] for i in which])
        for r in range(rounds):
            when = np.empty(m)
            when[self.rng.permutation(m)] = self._clock + span * (r + (np.arange(m) + 0.5) / m) / rounds
            level = (np.log(true) + self._point_off[which] + nz.round_rel * self.rng.standard_normal(m)
                     + self._machine(when))
            burst = np.exp(level[:, None] + sample_rel[:, None] * self.rng.standard_normal((m, n)))
            for k, i in enumerate(which):
                self._bursts[i].append(burst[k])
        self._clock += span

    def _ensure_measured(self) -> None:
        if getattr(self, "_bursts", None) is None or len(self._bursts) != len(self._pending):
            self._start()
            if self._pending:
                self._measure(np.arange(len(self._pending)), max(self.rounds, 1), 1.0)
                self._sentinel()

    def _sentinel(self) -> None:
        """The sentinel: a mid-cost point measured at the start, at intervals and at the end of each round."""
        nz, R, n = self.noise, max(self.rounds, 1), self.n_samples
        per_round = 2 + len(self._pending) // SENTINEL_EVERY
        t = np.concatenate([(r + np.linspace(0, 1, per_round)) / R for r in range(R)])
        t = np.clip(t, 0, 1 - 1e-9)
        sample = float(np.median([p[2] for p in self._pending]))
        values = np.exp(nz.round_rel * self.rng.standard_normal(t.size) + self._machine(t)
                        + sample / np.sqrt(n) * self.rng.standard_normal(t.size))
        self._floor = sentinel_floor(values, R)

    def confirm(self, job_ids: Iterable[str], rounds: int = 3) -> int:
        """Re-measure the points of ``job_ids`` in ``rounds`` extra interleaved rounds after the
        planned ones (adaptive confirmation, as ``hwbehave run --confirm-s`` does); returns how
        many points were re-measured. Call :meth:`frame` again to see them."""
        self._ensure_measured()
        wanted = set(job_ids)
        which = np.array([k for k, (i, _, _) in enumerate(self._pending) if self._rows[i]["job_id"] in wanted],
                         dtype=int)
        if which.size:
            # confirmation time in proportion to the share of the points re-measured
            self._measure(which, rounds, rounds / max(self.rounds, 1) * which.size / len(self._pending))
            self._confirm_rounds[which] += rounds
        return int(which.size)

    def frame(self) -> pd.DataFrame:
        """All rows added so far, with rounds and samples drawn, columns in schema order."""
        self._ensure_measured()
        df = pd.DataFrame(self._rows)
        nan_cols = ("median_ms", "ci_low_ms", "ci_high_ms", "mean_ms", "std_ms", "min_ms", "max_ms", "p10_ms",
                    "p90_ms", "spread_rel")
        for col in nan_cols:
            df[col] = np.nan
        df["n"] = 0
        empty: list[list] = [[] for _ in range(len(df))]
        cols: dict[str, list] = {"samples_ms": list(empty), "round_median_ms": list(empty), "round_n": list(empty)}
        df["rounds"], df["rounds_failed"], df["confirm_rounds"] = 0, 0, 0
        df["adaptive"], df["timing"] = False, "measured"
        if self._pending:
            idx = np.array([p[0] for p in self._pending])
            rows = {c: np.full(len(idx), np.nan) for c in nan_cols}
            for k, bursts in enumerate(self._bursts):
                round_med = np.array([np.median(b) for b in bursts])
                flat = np.concatenate(bursts)
                head = float(np.median(round_med))
                _, w_lo, w_hi = median_ci(flat[None, :])
                mid = float(np.median(flat))
                # the within-burst CI re-centred on the headline, hulled with the round medians
                values = {"median_ms": head, "ci_low_ms": min(round_med.min(), head - (mid - w_lo[0])),
                          "ci_high_ms": max(round_med.max(), head + (w_hi[0] - mid)), "mean_ms": flat.mean(),
                          "std_ms": flat.std(ddof=1), "min_ms": flat.min(), "max_ms": flat.max(),
                          "p10_ms": np.percentile(flat, 10), "p90_ms": np.percentile(flat, 90),
                          "spread_rel": (round_med.max() - round_med.min()) / head}
                for c, v in values.items():
                    rows[c][k] = v
                i = idx[k]
                cols["samples_ms"][i] = flat.tolist()
                cols["round_median_ms"][i] = round_med.tolist()
                cols["round_n"][i] = [len(b) for b in bursts]
            for c, v in rows.items():
                df.loc[idx, c] = v
            df.loc[idx, "n"] = [sum(len(b) for b in bursts) for bursts in self._bursts]
            df.loc[idx, "rounds"] = [len(bursts) for bursts in self._bursts]
            df.loc[idx, "confirm_rounds"] = self._confirm_rounds
        for c, v in cols.items():
            df[c] = v
        df["noise_floor_rel"] = self._floor if self._pending else float("nan")
        df["unstable"] = False
        df["started_at"] = pd.Timestamp("2024-01-01", tz="UTC")
        for c in ALL_FIXED:
            if c not in df.columns:
                df[c] = None
        params = sorted(c for c in df.columns if c not in ALL_FIXED)
        return df[list(ALL_FIXED) + params]


def sentinel_floor(values_ms: np.ndarray, rounds: int = 3) -> float:
    """Noise floor of a run from its sentinel's burst medians, as the run computes it
    (:func:`suite.results.statistics.noise_floor`)."""
    return noise_floor(list(np.asarray(values_ms, dtype=float)), rounds)


def staircase_latency(values: Iterable[float], period: int, step_rel: float, base_ms: float = 1.0) -> np.ndarray:
    """``base_ms * (1 + step_rel) ** (ceil(v / period) - 1)``: flat within a period, a step at each multiple."""
    v = np.asarray(list(values), dtype=float)
    return base_ms * (1.0 + step_rel) ** (np.ceil(v / period) - 1)


def add_axis_series(b: FrameBuilder, device: str, sweep: str, axis: str, values: Sequence[float],
                    latency_ms: Sequence[float], *, op: str = "conv2d", dtype: str = "fp32",
                    fixed: dict | None = None, noise_rel: float | None = None) -> None:
    """Add one series: ``op`` with ``fixed`` params and ``axis`` taking ``values``."""
    fixed = dict(fixed if fixed is not None else {"cin": 32, "cout": 32, "kernel": 3, "resolution": 28})
    for v, t in zip(values, latency_ms, strict=True):
        b.add(device, sweep, op, {**fixed, axis: int(v)}, dtype, float(t), noise_rel=noise_rel)


#: Devices of :func:`study_frame` and what each one plants.
STUDY_DEVICES: dict[str, str] = {
    "cpu-a76": "latency proportional to MACs plus a fixed overhead; int8 2.5x faster; no anomalies planted",
    "rk3588-npu": "staircase period 16 along cout (+38% per step); hard_swish +60%; SE block +150%; "
                  "int8 output error 20%; gelu/mish unsupported in int8, swish falls back",
    "mali-gpu": "staircase period 8 along cout; int8 30% slower than fp32; kernel size nearly free (kernel 7 "
                "costs 1.6x kernel 1 for 49x the MACs)",
}


def study_frame(n_points: int = 2000, seed: int = 0, *, noise_rel: float = 0.02, n_samples: int = 15) -> pd.DataFrame:
    """A frame of the devices of :data:`STUDY_DEVICES` with the study's effects planted.

    Sweeps: ``conv_channels`` (conv2d, cout 4..64 step 4, several cin), ``conv_kernel``
    (kernel 1,3,5,7), ``activations`` (conv2d with each activation), ``blocks`` (``mbconv``
    with ``se`` off/on), each at fp32 and int8. Up to 2,000 rows the frame grows by ``cin``
    values (8, 16, … up to 10 of them); beyond, by replicas of the three devices (``-r001``…),
    like a farm of identical boards, so series keep realistic lengths.
    """
    b = FrameBuilder(seed, n_samples=n_samples, noise_rel=noise_rel)
    rng = np.random.default_rng(seed + 1)
    couts = list(range(4, 68, 4))
    acts = ["none", "relu", "hard_swish", "swish", "gelu", "mish"]
    per_cin = 2 * (len(couts) + 4 * 2 + len(acts) + 2)  # rows per device and cin (two dtypes)
    n_cin = int(min(10, max(1, round(n_points / (len(STUDY_DEVICES) * per_cin)))))
    replicas = max(1, round(n_points / (len(STUDY_DEVICES) * per_cin * n_cin)))
    cins = [8 * (i + 1) for i in range(n_cin)]
    ns_per_mac = {"cpu-a76": 2e-6, "rk3588-npu": 3e-7, "mali-gpu": 6e-7}
    fixed_ms = {"cpu-a76": 0.05, "rk3588-npu": 0.3, "mali-gpu": 0.2}
    references: dict[str, np.ndarray] = {}
    for replica in range(replicas):
        for base_device in STUDY_DEVICES:
            device = base_device if replicas == 1 else f"{base_device}-r{replica:03d}"
            _study_device(b, rng, device, base_device, cins, couts, acts, ns_per_mac, fixed_ms, references)
    frame = b.frame()
    frame["device_class"] = frame["device"].map(lambda d: next(k for k in STUDY_DEVICES if d.startswith(k)))
    return frame


def _study_device(b: FrameBuilder, rng: np.random.Generator, device: str, base_device: str, cins: list[int],
                  couts: list[int], acts: list[str], ns_per_mac: dict, fixed_ms: dict,
                  references: dict[str, np.ndarray]) -> None:
    """Add every row of one device of :func:`study_frame` (``base_device`` picks what is planted)."""
    for dtype in ("fp32", "int8"):
        speed = {"cpu-a76": 2.5, "rk3588-npu": 3.0, "mali-gpu": 1 / 1.3}[base_device] if dtype == "int8" else 1.0
        quant_err = {"cpu-a76": 0.02, "rk3588-npu": 0.20, "mali-gpu": 0.03}[base_device]

        def lat(macs: float, *, speed=speed) -> float:
            return (fixed_ms[base_device] + ns_per_mac[base_device] * macs) / speed

        def out(params: dict, op: str, *, dtype=dtype, quant_err=quant_err) -> np.ndarray:
            cid = config_id(op, params)
            if cid not in references:
                references[cid] = np.random.default_rng(int(cid, 16) % 2**32).standard_normal(64)
            ref = references[cid]
            if dtype == "fp32":
                return ref
            return ref + quant_err * rng.standard_normal(ref.size)

        for cin in cins:
            for cout in couts:
                p = {"cin": cin, "cout": cout, "kernel": 3, "resolution": 28}
                macs = conv_cost(p, dtype)["macs"]
                if base_device == "rk3588-npu":
                    t = lat(conv_cost({**p, "cout": 16 * math.ceil(cout / 16)}, dtype)["macs"])
                elif base_device == "mali-gpu":
                    t = lat(conv_cost({**p, "cout": 8 * math.ceil(cout / 8)}, dtype)["macs"])
                else:
                    t = lat(macs)
                b.add(device, "conv_channels", "conv2d", p, dtype, t, output=out(p, "conv2d"))
            for cout in (32, 64):
                for k in (1, 3, 5, 7):
                    p = {"cin": cin, "cout": cout, "kernel": k, "resolution": 28}
                    macs = conv_cost(p, dtype)["macs"]
                    if base_device == "mali-gpu":  # the kernel size is nearly free: F4
                        macs = conv_cost({**p, "kernel": 1}, dtype)["macs"] * (1 + 0.1 * (k - 1))
                    b.add(device, "conv_kernel", "conv2d", p, dtype, lat(macs), output=out(p, "conv2d"))
            base = {"cin": cin, "cout": 32, "kernel": 3, "resolution": 28}
            t0 = lat(conv_cost(base, dtype)["macs"])
            for act in acts:
                p = {**base, "activation": act}
                extra = {"none": 0.0, "relu": 0.01, "hard_swish": 0.05, "swish": 0.06, "gelu": 0.08,
                         "mish": 0.08}[act]
                if base_device == "rk3588-npu" and act == "hard_swish":
                    extra = 0.60
                st, info = "ok", {}
                if base_device == "rk3588-npu" and dtype == "int8" and act in ("gelu", "mish"):
                    st, info = "unsupported", {"reason": f"{act} has no int8 kernel"}
                elif base_device == "rk3588-npu" and act == "swish":
                    st, info, extra = "fallback", {"fallback_ops": ["Sigmoid", "Mul"]}, 0.9
                b.add(device, "activations", "conv2d", p, dtype, t0 * (1 + extra), status=st, info=info,
                      output=out(p, "conv2d") if st != "unsupported" else None,
                      error="rknn: unsupported op" if st == "unsupported" else "")
            for se in (False, True):
                p = {"cin": cin, "cout": 32, "kernel": 3, "resolution": 28, "expand": 4, "se": se}
                cost = conv_cost({**p, "cin": cin * 4}, dtype)
                t = lat(cost["macs"]) * (1 + (1.5 if (se and base_device == "rk3588-npu") else 0.03 * se))
                b.add(device, "blocks", "mbconv", p, dtype, t, cost=cost, output=out(p, "mbconv"))


def noise_frame(n_series: int, n_points: int = 16, seed: int = 0, *, noise_rel: float = 0.03,
                n_samples: int = 15, slope: float = 0.0) -> pd.DataFrame:
    """``n_series`` series of pure noise along ``cout`` (flat, or a smooth ramp with ``slope``
    relative rise per point): nothing should be detected in them."""
    b = FrameBuilder(seed, n_samples=n_samples, noise_rel=noise_rel)
    values = [4 * (i + 1) for i in range(n_points)]
    for s in range(n_series):
        lat = [1.0 * (1 + slope * i) for i in range(n_points)]
        add_axis_series(b, f"dev{s:03d}", "noise", "cout", values, lat,
                        fixed={"cin": 32, "kernel": 3, "resolution": 28})
    return b.frame()


@dataclass(frozen=True)
class PlantedSeries:
    """One series with a known truth, for the detector benchmark (``benchmarks/bench_truth.py``).

    ``kind`` is ``staircase`` (``latency = step_ms * (overhead + ceil(x / period))``: flat
    plateaus, equal steps at the multiples of ``period``, a fixed overhead of ``overhead`` steps)
    or ``smooth`` (step-free and monotone: ``latency = c * (overhead + (x / x_max) ** power)``).
    ``values`` is the axis grid (``grid, 2 grid, …``), ``noise`` how the machine perturbs it.
    """

    kind: str
    grid: int
    period: int
    overhead: float
    power: float
    values: tuple[int, ...]
    noise: MachineNoise

    @property
    def latency_ms(self) -> np.ndarray:
        """True latency at each axis value."""
        x = np.asarray(self.values, dtype=float)
        if self.kind == "staircase":
            return 0.05 * (self.overhead + np.ceil(x / self.period))
        return 0.3 * (self.overhead + (x / x.max()) ** self.power)

    @property
    def min_step_rel(self) -> float:
        """Smallest relative step inside the series (0 for a smooth series)."""
        if self.kind != "staircase":
            return 0.0
        lat = self.latency_ms
        rises = lat[1:] / lat[:-1] - 1
        rises = rises[rises > 0]
        return float(rises.min()) if rises.size else 0.0

    @property
    def detectable(self) -> bool:
        """At least two points per plateau: a period equal to the grid is a ramp."""
        return self.kind == "staircase" and self.period >= 2 * self.grid


def planted_series(rng: np.random.Generator, kind: str) -> PlantedSeries:
    """Draw one planted series: period 4-32 on grid 1-4, 3-8 plateaus, overhead 0.5-3 steps,
    systematic per-point noise 1-5 %, round noise 0.5-2 %, drift up to 3 % and, in half the
    runs, slow spells (5-20 % of the time, 10-50 % slower)."""
    grid = int(rng.integers(1, 5))
    period = int(rng.choice([4, 6, 8, 12, 16, 24, 32]))
    plateaus = int(rng.integers(3, 9))
    values = tuple(range(grid, plateaus * period + 1, grid))
    spells = rng.random() < 0.5
    noise = MachineNoise(sample_rel=float(rng.uniform(0.01, 0.05)), round_rel=float(rng.uniform(0.005, 0.02)),
                         point_rel=float(rng.uniform(0.01, 0.05)), drift_rel=float(rng.uniform(0.0, 0.03)),
                         spell_fraction=float(rng.uniform(0.05, 0.2)) if spells else 0.0,
                         spell_rel=float(rng.uniform(0.1, 0.5)) if spells else 0.0)
    power = float(rng.choice([0.0, 1.0, float(rng.uniform(0.7, 1.5))])) if kind == "smooth" else 1.0
    return PlantedSeries(kind=kind, grid=grid, period=period, overhead=float(rng.uniform(0.5, 3.0)), power=power,
                         values=values, noise=noise)


def planted_frame(cases: Sequence[PlantedSeries], seed: int = 0, rounds: int = 3,
                  n_samples: int = 15) -> pd.DataFrame:
    """Measurements of planted series, each its own run (``run_id`` = ``device`` =
    ``planted-NNNN``) with its own machine noise, built through :class:`FrameBuilder`."""
    frames = []
    for i, case in enumerate(cases):
        name = f"planted-{i:04d}"
        b = FrameBuilder(seed * 100_003 + i, n_samples=n_samples, rounds=rounds, noise=case.noise, run_id=name)
        add_axis_series(b, name, "planted", "cout", case.values, case.latency_ms,
                        fixed={"cin": 32, "kernel": 3, "resolution": 28})
        frames.append(b.frame())
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def activation_rounds_frame(rounds_by_activation: dict[str, Sequence[float]], seed: int = 0) -> pd.DataFrame:
    """One conv2d configuration with fused activations whose round medians are given.

    The reference (``activation: none``) measures 1.0 ms in each of three rounds; each
    activation gets the round medians in ``rounds_by_activation`` (ms, i.e. relative to the
    reference) and their median as headline. A channel series on the same device (``sweep
    ch``) gives the device its point-to-point scatter. For tests of single-configuration
    claims (a slow spell in some rounds of one point).
    """
    b = FrameBuilder(seed, rounds=3, noise=MachineNoise(sample_rel=0.01, round_rel=0.004))
    p = {"cin": 32, "cout": 32, "kernel": 3, "resolution": 28}
    for act in ("none", *rounds_by_activation):
        b.add("cpu", "acts", "conv2d", {**p, "activation": act}, "fp32", 1.0)
    for cin in range(8, 136, 8):
        b.add("cpu", "ch", "conv2d", {**p, "cin": cin}, "fp32", 0.1 + cin / 100)
    df = b.frame()
    for act, rel in {"none": [1.0, 1.0, 1.0], **rounds_by_activation}.items():
        i = df.index[df["activation"] == act][0]
        df.at[i, "round_median_ms"] = [float(v) for v in rel]
        df.at[i, "median_ms"] = float(np.median(rel))
    return df
