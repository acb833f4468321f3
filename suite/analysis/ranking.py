"""Rank inversions: point pairs whose latency order flips between devices, or contradicts MACs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import combinations

import numpy as np
import pandas as pd

from suite.analysis.pairs import point_noise_of, run_floors
from suite.analysis.records import Anomaly, evidence_json
from suite.analysis.series import Z95, pct, timed
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.analysis.uncertainty import CONFIRMED, UNRESOLVED, critical
from suite.sweep.point import describe

#: Largest group compared pairwise (O(m^2) memory); larger groups are thinned evenly by latency.
MAX_RANK_POINTS = 1500

#: With more devices than this, device pairs are formed between one representative per
#: ``device_class`` (the device with most points), since pairs grow as the square of devices.
MAX_PAIRWISE_DEVICES = 12

#: Pair-matrix cells :func:`mac_inversions` judges at once (groups of equal size stacked; about
#: 50 bytes each in the arrays of one stack).
PAIR_BATCH = 1 << 20

DEVICE_COLUMNS = ["device_a", "device_b", "sweep", "dtype", "points", "comparable", "inverted", "apparent",
                  "fraction", "example"]
MAC_COLUMNS = ["device", "sweep", "dtype", "points", "comparable", "inverted", "apparent", "fraction", "example"]


def _devices_to_pair(device: np.ndarray, device_class: np.ndarray) -> list[str]:
    """The devices of one sweep and dtype compared pairwise, sorted: all, or beyond
    :data:`MAX_PAIRWISE_DEVICES` the device with most points of each ``device_class`` (ties to
    the first name)."""
    device_codes, devices = pd.factorize(device)
    if len(devices) <= MAX_PAIRWISE_DEVICES:
        return sorted(devices)
    class_codes, classes = pd.factorize(device_class)
    known = class_codes >= 0
    cells, n = np.unique(class_codes[known] * len(devices) + device_codes[known], return_counts=True)
    ranked = sorted(zip(classes[cells // len(devices)], -n, devices[cells % len(devices)], strict=True))
    best: dict[object, object] = {}
    for cls, _, dev in ranked:
        best.setdefault(cls, dev)
    return sorted(best.values())


def _per_point(data: pd.DataFrame, thresholds: Thresholds, point_noise: dict[str, float] | None) -> pd.DataFrame:
    """One row per (device, sweep, dtype, point_id), sorted by them: median latency, its total
    relative noise ``sd`` (between-round ``sigma`` and the device's point-to-point scatter),
    MACs, label, floor."""
    data = data.assign(device_class=data["device_class"] if "device_class" in data.columns else data["device"])
    if point_noise is None:
        point_noise = point_noise_of(data, thresholds)
    per = (data.groupby(["device", "sweep", "dtype", "point_id"], sort=True)
           .agg(lat=("median_ms", "median"), sigma=("_sigma", "max"), macs=("macs", "first"), op=("op", "first"),
                params=("params_json", "first"), device_class=("device_class", "first"), floor=("_floor", "max"))
           .reset_index())
    device_codes, devices = pd.factorize(per["device"])
    tau = np.array([point_noise.get(str(d), thresholds.assumed_point_noise_rel) for d in devices], dtype=float)
    per["sd"] = np.sqrt(per["sigma"] ** 2 + tau[device_codes] ** 2)
    # plain object columns: single values are taken from them, which is slow on Arrow-backed strings
    for col in ("device", "sweep", "dtype", "point_id", "op", "params", "device_class"):
        if not pd.api.types.is_object_dtype(per[col]) and pd.api.types.is_string_dtype(per[col]):
            per[col] = per[col].astype(object)
    return per


def _ordered_at(lat: np.ndarray, sd: np.ndarray, zs: tuple[float, ...],
                floor: float | np.ndarray) -> list[np.ndarray]:
    """Per ``z`` of ``zs``, ``[..., i, j]``: point i slower than point j beyond the noise
    (``log`` ratio over the pair's sd at least ``z``, and more than the noise floor); the pair
    matrices are computed once for every ``z``. ``lat`` and ``sd`` are ``(..., m)``: a stack
    of groups of ``m`` points, with a ``floor`` per group."""
    logr = np.log(lat[..., :, None] / lat[..., None, :])
    pair_sd = np.sqrt(sd[..., :, None] ** 2 + sd[..., None, :] ** 2)
    with np.errstate(invalid="ignore"):
        beyond_floor = logr >= np.asarray(np.log1p(floor))[..., None, None]
        return [(logr >= z * pair_sd) & beyond_floor for z in zs]


def _thin(values: np.ndarray) -> np.ndarray:
    """Positions of the points of a group compared pairwise: all, or beyond
    :data:`MAX_RANK_POINTS` that many spread evenly over ``values`` in ascending order (the
    order of pandas' ``sort_values``, ties included)."""
    if len(values) <= MAX_RANK_POINTS:
        return np.arange(len(values))
    order = pd.Series(values).sort_values().index.to_numpy()
    return order[np.unique(np.linspace(0, len(order) - 1, MAX_RANK_POINTS).round().astype(int))]


def _label(op: object, params: object) -> str:
    """``conv2d cin=32 cout=32 kernel=5``: the op and the parameters that differ from its defaults."""
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            return f"{op} {params}"
    return describe(op, params)


def _max_floor(floors: np.ndarray) -> float:
    """The largest of the noise floors in a comparison, 0 when none is known."""
    return float(np.nan_to_num(np.nanmax(np.r_[floors, 0.0])))


def device_inversions(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                      point_noise: dict[str, float] | None = None) -> pd.DataFrame:
    """Per (device A, device B, sweep, dtype): pairs comparable on both, and how many flip.

    A pair of points is comparable when its latencies differ beyond the noise on both devices:
    ``|log(lat_i / lat_j)| >= z * sqrt(sd_i^2 + sd_j^2)`` with ``sd`` each point's between-round
    ``sigma`` and the device's point-to-point scatter, ``z`` the one-sided normal quantile at
    ``alpha``, and by more than the devices' noise floors; it is inverted when the order
    differs. ``apparent`` counts the further pairs that flip at a single pair's 95 % level
    (``z = 1.96``) on both devices (the inversions re-measurement could confirm). With more than
    :data:`MAX_PAIRWISE_DEVICES` devices, one device per ``device_class`` is compared. Columns:
    :data:`DEVICE_COLUMNS`.
    """
    data = timed(df, thresholds)
    if data.empty or "point_id" not in data.columns:
        return pd.DataFrame(columns=DEVICE_COLUMNS)
    return _device_inversions_of(_per_point(data, thresholds, point_noise), thresholds)


def _device_inversions_of(per: pd.DataFrame, thresholds: Thresholds) -> pd.DataFrame:
    """:func:`device_inversions` of a :func:`_per_point` table.

    One step per device pair compared (a handful per sweep and dtype: at most
    :data:`MAX_PAIRWISE_DEVICES` devices or one per class) on numpy arrays: in ``per`` a
    device's points are one run sorted by ``point_id``, so the points two devices share, in
    ``point_id`` order, are the intersection of their sorted point codes.
    """
    z = critical(thresholds.alpha, 1)
    point_code = pd.factorize(per["point_id"], sort=True)[0]
    rows = []
    for (sweep, dtype), g in per.groupby(["sweep", "dtype"], sort=True):
        device, code = g["device"].to_numpy(), point_code[g.index.to_numpy()]
        lat, sd, floor = (g[c].to_numpy(float) for c in ("lat", "sd", "floor"))
        op, params = g["op"].to_numpy(), g["params"].to_numpy()
        for dev_a, dev_b in combinations(_devices_to_pair(device, g["device_class"].to_numpy()), 2):
            on_a, on_b = np.flatnonzero(device == dev_a), np.flatnonzero(device == dev_b)
            _, in_a, in_b = np.intersect1d(code[on_a], code[on_b], assume_unique=True, return_indices=True)
            if len(in_a) < 2:
                continue
            on_a, on_b = on_a[in_a], on_b[in_b]
            kept = _thin(lat[on_a])
            on_a, on_b = on_a[kept], on_b[kept]
            la, sa, lb, sb = lat[on_a], sd[on_a], lat[on_b], sd[on_b]
            pair_floor = _max_floor(np.r_[floor[on_a], floor[on_b]])
            a_gt, a_big = _ordered_at(la, sa, (z, Z95), pair_floor)
            b_gt, b_big = _ordered_at(lb, sb, (z, Z95), pair_floor)
            inverted = np.triu(a_gt & b_gt.T | a_gt.T & b_gt, 1)
            comparable = np.triu((a_gt | a_gt.T) & (b_gt | b_gt.T), 1)
            apparent = np.triu(a_big & b_big.T | a_big.T & b_big, 1) & ~inverted
            n_inv, n_cmp = int(inverted.sum()), int(comparable.sum())
            example = ""
            shown = inverted if n_inv else apparent
            if shown.any():
                # the flip with the largest combined log-ratio
                score = np.where(shown, np.abs(np.log(la[:, None] / la[None, :])) +
                                 np.abs(np.log(lb[:, None] / lb[None, :])), -1)
                i, j = np.unravel_index(np.argmax(score), score.shape)
                pi, pj = on_a[i], on_a[j]
                example = (f"{_label(op[pi], params[pi])}: {la[i]:.3g} ms on {dev_a}, {lb[i]:.3g} ms on {dev_b}; "
                           f"{_label(op[pj], params[pj])}: {la[j]:.3g} ms on {dev_a}, {lb[j]:.3g} ms on {dev_b}")
            rows.append({"device_a": dev_a, "device_b": dev_b, "sweep": sweep, "dtype": dtype, "points": len(la),
                         "comparable": n_cmp, "inverted": n_inv, "apparent": int(apparent.sum()),
                         "fraction": n_inv / n_cmp if n_cmp else 0.0, "example": example})
    return pd.DataFrame(rows, columns=DEVICE_COLUMNS)


def mac_inversions(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                   point_noise: dict[str, float] | None = None) -> pd.DataFrame:
    """Per (device, sweep, dtype): pairs whose latency order contradicts their MACs order.

    A pair counts as comparable when MACs differ by at least ``inversion_min_mac_ratio`` and
    latencies differ beyond the noise (as in :func:`device_inversions`); inverted when the
    costlier point is the faster one; ``apparent`` when it is faster at a single pair's 95 %
    level only. Columns: :data:`MAC_COLUMNS`.
    """
    data = timed(df, thresholds)
    if data.empty or "point_id" not in data.columns:
        return pd.DataFrame(columns=MAC_COLUMNS)
    return _mac_inversions_of(_per_point(data, thresholds, point_noise), thresholds)


def _equal_size_stacks(sizes: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """The groups of ``sizes`` points as stacks of groups of one size ``m``, each stack at most
    :data:`PAIR_BATCH` ``m × m`` cells (a larger group alone): yields ``m`` and the groups."""
    for m in np.unique(sizes):
        groups = np.flatnonzero(sizes == m)
        per_stack = max(1, PAIR_BATCH // int(m) ** 2)
        for k in range(0, len(groups), per_stack):
            yield int(m), groups[k:k + per_stack]


def _mac_inversions_of(per: pd.DataFrame, thresholds: Thresholds) -> pd.DataFrame:
    """:func:`mac_inversions` of a :func:`_per_point` table.

    A (device, sweep, dtype) group is a run of ``per``. Groups of one size are judged together
    as a stack of ``m × m`` pair matrices (:func:`_equal_size_stacks`) by :func:`_ordered_at`;
    a group's example is the ``argmax`` of its score matrix (the first cell, row-major, of the
    largest latency ratio).
    """
    per = per[pd.to_numeric(per["macs"], errors="coerce") > 0].reset_index(drop=True)
    codes = [pd.factorize(per[c])[0] for c in ("device", "sweep", "dtype")]
    starts = np.flatnonzero(np.r_[True, np.any([c[1:] != c[:-1] for c in codes], axis=0)]) if len(per) \
        else np.zeros(0, dtype=int)
    sizes = np.diff(np.r_[starts, len(per)])
    compared = sizes >= 2
    if not compared.any():
        return pd.DataFrame(columns=MAC_COLUMNS)
    macs, lat, sd, floor = (per[c].to_numpy(float) for c in ("macs", "lat", "sd", "floor"))
    # the points compared, group after group (a group beyond MAX_RANK_POINTS thinned by MACs)
    at = np.flatnonzero(np.repeat(compared, sizes))
    starts, sizes = starts[compared], sizes[compared]
    if (sizes > MAX_RANK_POINTS).any():
        kept = [s + _thin(macs[s:s + m]) for s, m in zip(starts, sizes, strict=True)]
        at, sizes = np.concatenate(kept), np.array([len(k) for k in kept])
    firsts = np.r_[0, np.cumsum(sizes)[:-1]]
    floors = np.nan_to_num(np.fmax.reduceat(np.fmax(floor[at], 0.0), firsts))  # _max_floor of each group
    macs, lat, sd = macs[at], lat[at], sd[at]
    z, ratio = critical(thresholds.alpha, 1), thresholds.inversion_min_mac_ratio
    inverted_n, comparable_n, apparent_n = (np.zeros(len(sizes), dtype=np.int64) for _ in range(3))
    example = np.full((len(sizes), 2), -1)  # the example's i and j, positions among the compared points
    for m, groups in _equal_size_stacks(sizes):
        rows = firsts[groups][:, None] + np.arange(m)
        g_lat, g_sd, g_macs = lat[rows], sd[rows], macs[rows]
        costlier = g_macs[:, None, :] >= ratio * g_macs[:, :, None]  # j costs more than i
        slower, slower_95 = _ordered_at(g_lat, g_sd, (z, Z95), floors[groups])  # i slower than j
        faster = slower.swapaxes(1, 2)  # i faster than j
        inverted = costlier & slower
        comparable = costlier & (slower | faster)
        apparent = costlier & slower_95 & ~inverted
        inverted_n[groups] = inverted.sum(axis=(1, 2))
        comparable_n[groups] = comparable.sum(axis=(1, 2))
        apparent_n[groups] = apparent.sum(axis=(1, 2))
        shown = np.where((inverted_n[groups] > 0)[:, None, None], inverted, apparent).reshape(len(groups), -1)
        score = np.where(shown, (g_lat[:, :, None] / g_lat[:, None, :]).reshape(len(groups), -1), -1)
        cell = score.argmax(axis=1)
        has = shown.any(axis=1)
        example[groups[has]] = rows[has, 0][:, None] + np.c_[cell[has] // m, cell[has] % m]
    op, params = per["op"].to_numpy()[at], per["params"].to_numpy()[at]
    examples = [""] * len(sizes)
    for g in np.flatnonzero(example[:, 0] >= 0):
        i, j = example[g]
        examples[g] = (f"{_label(op[j], params[j])} ({macs[j] / 1e6:.3g} MMAC) takes {lat[j]:.3g} ms, "
                       f"{_label(op[i], params[i])} ({macs[i] / 1e6:.3g} MMAC) takes {lat[i]:.3g} ms")
    fraction = inverted_n / np.maximum(comparable_n, 1)  # 0 where nothing is comparable (nothing inverted)
    first_rows = at[firsts]
    return pd.DataFrame({"device": per["device"].to_numpy()[first_rows].tolist(),
                         "sweep": per["sweep"].to_numpy()[first_rows].tolist(),
                         "dtype": per["dtype"].to_numpy()[first_rows].tolist(), "points": sizes.astype(np.int64),
                         "comparable": comparable_n, "inverted": inverted_n, "apparent": apparent_n,
                         "fraction": fraction, "example": examples}, columns=MAC_COLUMNS)


def _apparent_fraction(r) -> float:
    return (r.inverted + r.apparent) / max(r.comparable + r.apparent, 1)


def _rank_verdict(r, thresholds: Thresholds) -> str:
    """``confirmed`` when enough pairs flip beyond the noise; ``unresolved`` when enough do only
    counting the pairs that flip at a single pair's 95 % level; ``""`` otherwise."""
    if r.inverted >= thresholds.inversion_min_pairs and r.fraction >= thresholds.inversion_min_fraction:
        return CONFIRMED
    if r.inverted + r.apparent >= thresholds.inversion_min_pairs and \
            _apparent_fraction(r) >= thresholds.inversion_min_fraction:
        return UNRESOLVED
    return ""


def find_rank_inversions(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                         point_noise: dict[str, float] | None = None) -> list[Anomaly]:
    """Anomalies for device-pair flips and MACs-order contradictions.

    ``confirmed`` when at least ``inversion_min_pairs`` pairs and ``inversion_min_fraction``
    (5 %) of comparable pairs are inverted beyond the noise; ``unresolved`` when that holds
    only for the point estimates (adding the pairs that flip at a single pair's 95 % level).
    Magnitude is the inverted fraction (the apparent one when unresolved).
    """
    th = thresholds
    out = []
    data = timed(df, th)
    if point_noise is None and not data.empty:
        point_noise = point_noise_of(data, th)
    floors = run_floors(data)
    if data.empty or "point_id" not in data.columns:
        by_devices, by_macs = pd.DataFrame(columns=DEVICE_COLUMNS), pd.DataFrame(columns=MAC_COLUMNS)
    else:
        per = _per_point(data, th, point_noise)  # once for both kinds
        by_devices, by_macs = _device_inversions_of(per, th), _mac_inversions_of(per, th)
    for r in by_devices.itertuples(index=False):
        verdict = _rank_verdict(r, th)
        if not verdict:
            continue
        if verdict == CONFIRMED:
            frac = r.fraction
            message = (f"Between {r.device_a} and {r.device_b}, {pct(frac)} of comparable {r.sweep} pairs "
                       f"({r.dtype}) run in opposite order ({r.inverted} of {r.comparable}), e.g. {r.example}; a "
                       f"design ranked on one device does not transfer to the other.")
        else:
            frac = _apparent_fraction(r)
            message = (f"Between {r.device_a} and {r.device_b}, {r.apparent} {r.sweep} pairs ({r.dtype}) seem to run "
                       f"in opposite order, e.g. {r.example}, but not beyond the noise: unresolved at this noise "
                       f"level.")
        out.append(Anomaly(kind="rank_inversion_devices", device=f"{r.device_a}|{r.device_b}", sweep=str(r.sweep),
                           axis="device", at=str(r.dtype), magnitude=float(frac), finding="", message=message,
                           evidence_json=evidence_json({**r._asdict(), "alpha": th.alpha}), verdict=verdict))
    for r in by_macs.itertuples(index=False):
        verdict = _rank_verdict(r, th)
        if not verdict:
            continue
        if verdict == CONFIRMED:
            frac = r.fraction
            message = (f"On {r.device}, {pct(frac)} of comparable {r.sweep} pairs ({r.dtype}) run in the opposite "
                       f"order of their MACs ({r.inverted} of {r.comparable}), e.g. {r.example}; rank designs by "
                       f"measured latency on this device, not MACs.")
        else:
            frac = _apparent_fraction(r)
            message = (f"On {r.device}, {r.apparent} {r.sweep} pairs ({r.dtype}) seem to run in the opposite order of "
                       f"their MACs, e.g. {r.example}, but not beyond the noise (floor "
                       f"{pct(floors.get(str(r.device), 0.0))}): unresolved at this noise level.")
        out.append(Anomaly(kind="rank_inversion_macs", device=str(r.device), sweep=str(r.sweep), axis="macs",
                           at=str(r.dtype), magnitude=float(frac), finding="", message=message,
                           evidence_json=evidence_json({**r._asdict(), "alpha": th.alpha}), verdict=verdict))
    return out
