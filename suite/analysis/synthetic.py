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

import numpy as np
import pandas as pd

from suite.results.schema import ALL_FIXED, SCHEMA_VERSION
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


class FrameBuilder:
    """Accumulates synthetic measurement rows; :meth:`frame` returns the DataFrame.

    Rows are added with :meth:`add`, which draws ``n`` samples around ``true_ms``; a non-timed
    status (unsupported, runtime_error…) gets no samples and NaN statistics.
    """

    def __init__(self, seed: int = 0, *, n_samples: int = 15, noise_rel: float = 0.02, run_id: str = "synthetic") -> None:
        self.rng = np.random.default_rng(seed)
        self.n_samples = n_samples
        self.noise_rel = noise_rel
        self.run_id = run_id
        self._rows: list[dict] = []
        self._pending: list[tuple[int, float, float]] = []  # row index, true_ms, noise_rel

    def add(self, device: str, sweep: str, op: str, params: dict, dtype: str = "fp32", true_ms: float = 1.0, *,
            status: str = "ok", runtime: str = "onnxruntime", device_class: str | None = None,
            noise_rel: float | None = None, output: np.ndarray | None = None, info: dict | None = None,
            cost: dict | None = None, error: str = "") -> None:
        """Add one measurement of ``op`` with ``params`` at ``dtype`` whose true latency is ``true_ms``."""
        cost = cost or conv_cost({**params, "op_kind": op}, dtype)
        row = {
            "schema_version": SCHEMA_VERSION, "run_id": self.run_id, "sweep": sweep, "device": device,
            "device_class": device_class or device, "runtime": runtime, "format": "onnx",
            "point_id": point_id(op, params, dtype), "op": op, "dtype": dtype,
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

    def frame(self) -> pd.DataFrame:
        """All rows added so far, with samples and statistics drawn, columns in schema order."""
        m, n = len(self._pending), self.n_samples
        stats = {}
        if m:
            true = np.array([p[1] for p in self._pending])[:, None]
            noise = np.array([p[2] for p in self._pending])[:, None]
            samples = true * np.exp(noise * self.rng.standard_normal((m, n)))
            med, lo, hi = median_ci(samples)
            stats = {"median_ms": med, "ci_low_ms": lo, "ci_high_ms": hi, "mean_ms": samples.mean(1),
                     "std_ms": samples.std(1, ddof=1), "min_ms": samples.min(1), "max_ms": samples.max(1),
                     "p10_ms": np.percentile(samples, 10, axis=1), "p90_ms": np.percentile(samples, 90, axis=1)}
        df = pd.DataFrame(self._rows)
        for col in ("median_ms", "ci_low_ms", "ci_high_ms", "mean_ms", "std_ms", "min_ms", "max_ms", "p10_ms",
                    "p90_ms"):
            df[col] = np.nan
        df["n"] = 0
        df["samples_ms"] = [[] for _ in range(len(df))]
        if m:
            idx = np.array([p[0] for p in self._pending])
            for col, values in stats.items():
                df.loc[idx, col] = values
            df.loc[idx, "n"] = n
            samples_list = list(samples)
            col = df["samples_ms"].to_list()
            for i, s in zip(idx, samples_list, strict=True):
                col[i] = s.tolist()
            df["samples_ms"] = col
        df["unstable"] = False
        df["started_at"] = pd.Timestamp("2024-01-01", tz="UTC")
        for c in ALL_FIXED:
            if c not in df.columns:
                df[c] = None
        params = sorted(c for c in df.columns if c not in ALL_FIXED)
        return df[list(ALL_FIXED) + params]


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
