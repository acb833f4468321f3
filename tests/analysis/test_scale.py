"""The batched paths of the analysis equal the one-at-a-time definitions they replace at scale.

Each fast path (stacks of fits, flat arrays of rounds, numpy slices per group) is held against
the straightforward per-series / per-row code on small inputs, value for value.
"""

import json
from dataclasses import replace
from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from suite.analysis import ranking
from suite.analysis.elasticity import elasticities, elasticity
from suite.analysis.pairs import group_verdict, rounds_agree_many, summarize_pairs
from suite.analysis.precision import _read_lines, output_sample, output_samples
from suite.analysis.ranking import Z95, _label, _ordered_at
from suite.analysis.records import Anomaly, evidence_json
from suite.analysis.series import _round_lists, _round_values, all_axis_series, pct, timed, with_param_columns
from suite.analysis.steps import (
    MAX_POTTS_POINTS,
    _best_patterns,
    analyse_series,
    find_steps,
    periodic_trials,
    smooth_scatter,
)
from suite.analysis.support import FAILED, _fallback_ops, _param_texts, _which, find_support_issues
from suite.analysis.synthetic import study_frame
from suite.analysis.thresholds import DEFAULT_THRESHOLDS
from suite.analysis.trend import moderated_fit, series_data, series_datas, smooth_design
from suite.analysis.uncertainty import (
    critical,
    refit,
    refit_many,
    rounds_agree,
    wls_fit,
    wls_fit_many,
    wls_tau2_many,
)


@pytest.fixture(scope="module")
def study_series():
    return all_axis_series(timed(study_frame(2000, seed=3)), 3)


def test_usable_points_of_all_series_at_once_equal_one_series_at_a_time(study_series):
    odd = replace(study_series[0], latency_ms=np.where(np.arange(len(study_series[0].x)) % 3 == 0, np.nan,
                                                       study_series[0].latency_ms))  # points dropped
    flat = replace(study_series[1], macs=np.full(len(study_series[1].x), 7.0))  # MACs do not vary: the axis
    unusable = replace(study_series[2], sigma=np.full(len(study_series[2].x), np.nan))  # no point left
    series = [odd, flat, unusable, *study_series]
    for max_points in (None, 6):
        batched = series_datas(series, max_points)
        assert sum(d.n == 0 for d in batched) >= 1 and any(len(s.x) > 6 for s in series)
        for s, got in zip(series, batched, strict=True):
            want = series_data(s, max_points)
            assert got.series is s
            for name in ("x", "y", "v", "u", "idx"):
                np.testing.assert_array_equal(getattr(got, name), getattr(want, name))


def test_smooth_scatter_of_all_series_at_once_equals_one_fit_per_series(study_series):
    datas = [series_data(s, MAX_POTTS_POINTS) for s in study_series if len(s.x) >= 4]
    one_by_one = []
    for d in datas:
        fit = wls_fit(smooth_design(d), d.y, d.v, robust=False)
        one_by_one.append(fit.tau2 if fit is not None else np.nan)
    batched = smooth_scatter(datas)
    assert len({d.n for d in datas}) > 1  # several lengths, several stacks
    assert (batched == 0).any() and (batched > 0).any()  # both branches of the moment estimator
    np.testing.assert_array_equal(batched, np.array(one_by_one))


def test_stacked_fit_reports_a_collinear_design_as_no_fit_like_wls_fit():
    rng = np.random.default_rng(0)
    y = np.exp(rng.normal(0, 0.1, (3, 6)))
    v = np.full((3, 6), 0.02**2)
    u = np.linspace(0, 1, 6)
    X = np.stack([np.column_stack([np.ones(6), u]), np.column_stack([np.ones(6), np.ones(6)]),
                  np.column_stack([np.ones(6), u**2])])
    got = wls_tau2_many(X, y, v)
    expected = [f.tau2 if (f := wls_fit(X[s], y[s], v[s], robust=False)) is not None else np.nan for s in range(3)]
    assert wls_fit(X[1], y[1], v[1], robust=False) is None
    np.testing.assert_array_equal(got, np.array(expected))


def test_elasticities_of_all_series_equal_elasticity_of_each(study_series):
    s0 = study_series[0]
    odd = [replace(s0, macs=np.full(len(s0.x), 1e6)),  # MACs do not span the ratio: no fit
           replace(s0, sigma=np.r_[np.nan, s0.sigma[1:]]),  # one point unusable: a shorter row
           replace(s0, latency_ms=np.r_[s0.latency_ms[:2], np.full(len(s0.x) - 2, np.nan)])]  # too few points
    series = [*study_series, *odd]
    batched = elasticities(series)
    one_by_one = [elasticity(s) for s in series]
    assert sum(e is not None for e in one_by_one) > 10 and any(e is None for e in one_by_one)
    for a, b in zip(one_by_one, batched, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert (a.slope, a.stderr, a.mac_ratio, a.latency_ratio, a.dof, a.noise_rel, a.floor) == \
                   (b.slope, b.stderr, b.mac_ratio, b.latency_ratio, b.dof, b.noise_rel, b.floor)


def test_rounds_agree_of_many_pairs_equals_the_one_pair_rule():
    rng = np.random.default_rng(1)
    variant, reference, overhead = [], [], []
    for _ in range(400):
        a = rng.uniform(1.0, 1.3, rng.integers(0, 6))
        b = rng.uniform(1.0, 1.3, rng.integers(0, 6))
        variant.append(a)
        reference.append(b)
        overhead.append(rng.choice([rng.normal(0, 0.1), np.nan]))
    overhead = np.array(overhead)
    expected = [rounds_agree(a, b, 0.05) if o >= 0 else rounds_agree(b, a, 0.05)
                for a, b, o in zip(variant, reference, overhead, strict=True)]
    got = rounds_agree_many(variant, reference, overhead, 0.05)
    assert any(expected) and not all(expected)
    assert got.tolist() == expected


def test_flattened_round_medians_equal_the_row_by_row_lists():
    rounds = [[1.0, 1.1, 0.9], None, [], [np.nan, 2.0], (3.0, -1.0, 3.1), np.array([4.0, 4.2]), float("nan"),
              [0.0], [5.0]]
    df = pd.DataFrame({"median_ms": [1.0, 7.0, 8.0, 2.0, 3.0, 4.1, 9.0, 6.0, 5.0], "round_median_ms": rounds})
    flat, lengths = _round_values(df)
    lists = _round_lists(df)
    assert lengths.tolist() == [len(r) for r in lists]
    np.testing.assert_array_equal(flat, np.concatenate(lists))
    # a column whose lists hold something else than numbers takes the row-by-row path
    odd = df.assign(round_median_ms=[[1.0, None]] + rounds[1:])
    flat, lengths = _round_values(odd)
    np.testing.assert_array_equal(flat, np.concatenate(_round_lists(odd)))


def _summarize_reference(frame, keys, name, threshold, thresholds, floors):
    """summarize_pairs as a pandas group-by loop (what it was before it worked on numpy slices)."""
    rows = []
    for key, g in frame.groupby(keys, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        eff = g["overhead"].to_numpy(float)
        floor = floors.get(str(dict(zip(keys, key, strict=True)).get("device")), 0.0)
        agree = bool(g["rounds_agree"].all())
        verdict, why = group_verdict(eff, g["z"].to_numpy(float), g["significant"].to_numpy(bool), agree,
                                     threshold, floor, float(g["critical_unresolved"].iloc[0]))
        med = float(np.median(eff))
        half = 1.96 * float(np.median(g["sd"].to_numpy(float))) / np.sqrt(len(g))
        rows.append({**dict(zip(keys, key, strict=True)), name: med, f"{name}_min": float(eff.min()),
                     f"{name}_max": float(eff.max()), f"{name}_low": float(np.expm1(np.log1p(med) - half)),
                     f"{name}_high": float(np.expm1(np.log1p(med) + half)),
                     "cost_ratio": float(np.nanmedian(g["cost_ratio"])) if np.isfinite(g["cost_ratio"]).any()
                     else float("nan"), "n": len(g), "n_significant": int(g["significant"].sum()),
                     "z": float(g["z"].median()), "critical": float(g["critical"].iloc[0]), "rounds_agree": agree,
                     "verdict": verdict, "why": why, "effect_floor": max(threshold, floor),
                     "noise_rel": float(g["noise_rel"].iloc[0]),
                     "confirm_jobs": tuple(dict.fromkeys(j for t in g["job_ids"] for j in t))})
    return pd.DataFrame(rows)


def test_pair_summaries_on_numpy_slices_equal_a_group_by_loop():
    rng = np.random.default_rng(2)
    n = 300
    frame = pd.DataFrame({
        "device": rng.choice(["a", "b", "c"], n), "op": rng.choice(["conv2d", "mbconv"], n),
        "level": rng.choice(["relu", "gelu", None], n),
        "overhead": rng.normal(0.1, 0.1, n), "z": np.where(rng.random(n) < 0.1, np.nan, rng.normal(3, 2, n)),
        "sd": rng.uniform(0.01, 0.05, n), "cost_ratio": np.where(rng.random(n) < 0.5, np.nan, rng.uniform(1, 2, n)),
        "critical": 3.0, "critical_unresolved": 1.5, "noise_rel": 0.02,
        "significant": rng.random(n) < 0.5, "rounds_agree": rng.random(n) < 0.8,
        "job_ids": [tuple(f"j{k}" for k in rng.integers(0, 20, 2)) for _ in range(n)],
    })
    keys = ["device", "op", "level"]
    got = summarize_pairs(frame, keys, "overhead", 0.1, DEFAULT_THRESHOLDS, {"a": 0.12})
    expected = _summarize_reference(frame, keys, "overhead", 0.1, DEFAULT_THRESHOLDS, {"a": 0.12})
    assert len(got) == len(expected) > 10 and set(got["verdict"]) > {""}
    pd.testing.assert_frame_equal(got[expected.columns].reset_index(drop=True), expected)


def test_support_values_only_in_the_affected_rows_match_set_difference():
    g = pd.DataFrame({"activation": ["relu", "gelu", "mish", "relu", None], "cout": [8, 8, 16, 16, 32],
                      "status": ["ok", "unsupported", "unsupported", "ok", "unsupported"]})
    hit = g[g["status"] == "unsupported"]
    assert _which(hit, g) == {"activation": ["gelu", "mish"], "cout": ["32"]}


def _digests_like_the_store_writes():
    """Digests as ``json.dumps`` writes them: plain ones, and every kind the fast read must hand on."""
    plain = [{"size": 3, "nonfinite": 0, "sample": [0.1, -2.5e-7, 3.0]},
             {"size": 2, "nonfinite": 0, "sample": [1e300, 0.5]},
             {"size": 1, "nonfinite": 0, "sample": [7]}]
    odd = [{"size": 2, "nonfinite": 1, "sample": [1.0, None]},             # null inside
           {"size": 2, "nonfinite": 1, "sample": [float("nan"), 2.0]},    # NaN first
           {"size": 2, "nonfinite": 1, "sample": [2.0, float("-inf")]},   # -Infinity inside
           {"size": 0, "nonfinite": 0, "sample": []},
           {"size": 1, "nonfinite": 0},
           {"size": 2, "nonfinite": 12, "sample": [1.5, 2.5]},            # a count of two digits
           {"sample": [4.0, 5.0], "size": 2, "nonfinite": 0}]             # the sample not last
    texts = [json.dumps(d) for d in plain + odd] + ['{"nonfinite": 0, "sample":[1.0, 2.0]}', "", None]
    return texts


def test_output_samples_of_many_digests_equal_one_at_a_time():
    texts = _digests_like_the_store_writes()
    for many, one in zip(output_samples(texts), [output_sample(t) for t in texts], strict=True):
        assert many[1] == one[1]
        assert (many[0] is None) == (one[0] is None)
        if one[0] is not None:
            np.testing.assert_array_equal(many[0], one[0])


def test_a_chunk_that_does_not_read_as_numbers_is_read_digest_by_digest():
    texts = _digests_like_the_store_writes()
    broken = texts[:2] + ['{"size": 2, "nonfinite": 0, "sample": [1.5, 2.5.5]}']
    with pytest.raises(json.JSONDecodeError):  # the one-at-a-time path is JSON: bad JSON is an error
        output_samples(broken)
    spaced = texts[:2] + ['{"size": 2, "nonfinite": 0, "sample": [ 1.5, 2.5]}']
    assert [len(v) for v, _ in output_samples(spaced)] == [3, 2, 2]


def test_numbers_read_by_arrow_are_the_doubles_python_reads():
    rng = np.random.default_rng(7)
    values = rng.standard_normal(2000) * 10.0 ** rng.integers(-300, 300, 2000)
    words = [repr(float(v)) for v in values]
    words += ["0.1000000000000000055511151231257827", "2.2250738585072011e-308", "4.9e-324", "1e-400",
              "179769313486231570000000000000000000000000000000000000000000000000000000000000000000000000000000000"
              "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
              "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
              "0000000000000000000000000000000000000000", "-0.0", "+3", ".5", "7."]
    got = _read_lines(" \n".join(words).encode())
    expected = np.array([float(w) for w in words])
    np.testing.assert_array_equal(got.view(np.int64), expected.view(np.int64))  # bit for bit
    many = output_samples([json.dumps({"nonfinite": 0, "sample": [float(w) for w in words[i:i + 64]]})
                           for i in range(0, len(words), 64)])
    np.testing.assert_array_equal(np.concatenate([v for v, _ in many]).view(np.int64), expected.view(np.int64))


def _same_fit(fa, fb):
    assert (fa is None) == (fb is None)
    if fa is None:
        return
    assert fa.tau2 == fb.tau2 and fa.dof == fb.dof
    for name in ("beta", "cov", "resid", "fitted", "robust_weight"):
        np.testing.assert_array_equal(getattr(fa, name), getattr(fb, name))


def test_periodic_fits_of_all_series_at_once_equal_one_fit_per_series(study_series):
    datas = [series_data(s, MAX_POTTS_POINTS) for s in study_series if len(s.x) >= 4]
    trials = periodic_trials(datas, smooth_scatter(datas))
    tried = [(d, t) for d, t in zip(datas, trials, strict=True) if t is not None]
    assert len(tried) > 1 and {log for _, t in tried for log, _ in t.candidates} == {False, True}
    weights = []
    for data, trial in tried:
        X0 = smooth_design(data)
        assert trial.candidates == tuple((log, j) for log in (False, True)
                                         for j in _best_patterns(X0, trial.K, data, DEFAULT_THRESHOLDS, log))
        for (log, j), got in zip(trial.candidates, trial.fits, strict=True):
            alone = moderated_fit(np.column_stack([X0, trial.K[j]]), data, log=log)
            assert got is not None and alone is not None and got[1] == alone[1]
            _same_fit(got[0], alone[0])
            weights.append(got[0].robust_weight)
    assert any((w < 1).any() for w in weights)  # the Huber weights did their work somewhere


def test_stacked_robust_fits_iterate_and_fail_each_as_alone():
    rng = np.random.default_rng(1)
    n = 12
    u = np.linspace(0, 1, n)
    y = np.exp(rng.normal(0, 0.02, (4, n))) * (1 + u)
    y[1, 5] *= 1.6  # one spoiled point: the Huber weights keep moving for a while
    y[2] = 1 + u  # exactly on the line: no scatter
    v = np.full((4, n), 0.01**2)
    X = np.stack([np.column_stack([np.ones(n), u])] * 3 + [np.column_stack([np.ones(n), np.ones(n)])])
    got = wls_fit_many(X, y, v)
    assert got[3] is None and wls_fit(X[3], y[3], v[3]) is None
    for s in range(3):
        _same_fit(got[s], wls_fit(X[s], y[s], v[s]))
    assert got[1].robust_weight[5] < 1
    tau2 = np.array([0.01**2, 0.02**2, 0.0, 0.01**2])
    for s, fit in enumerate(refit_many(X, y, v, got, tau2)):
        _same_fit(fit, refit(X[s], y[s], v[s], got[s], tau2[s]) if got[s] is not None else None)


def test_staircases_found_with_batched_periodic_fits_equal_series_by_series(study_series):
    usable = [s for s in study_series if len(s.x) >= DEFAULT_THRESHOLDS.min_series_points]
    batched = [m.stair for m in analyse_series(usable)]
    alone = [find_steps(s) for s in usable]
    assert sum(st is not None for st in alone) > 10
    assert batched == alone


def _per_point_frame(rng, n_devices):
    """A :func:`suite.analysis.ranking._per_point` table on random points: ties in latency and
    MACs, unknown floors, MAC-less points, groups of one point, devices in three classes."""
    rows = []
    for d in range(n_devices):
        for sweep in ("s1", "s2"):
            for dtype in ("fp32", "int8"):
                for p in sorted(rng.choice(18, rng.integers(1, 18), replace=False)):
                    rows.append({"device": f"dev{d:02d}", "sweep": sweep, "dtype": dtype, "point_id": f"p{p:02d}",
                                 "lat": float(rng.choice([1.0, 1.15, 1.3, 2.0, 2.6, 3.0, 9.0]) * (1 + d % 3)),
                                 "sigma": float(rng.uniform(0.0, 0.1)), "macs": int(rng.choice([0, 1, 2, 5, 9]) * 1e6),
                                 "op": "conv2d", "params": json.dumps({"cin": int(p)}),
                                 "device_class": f"class{d % 3}",
                                 "floor": float(rng.choice([np.nan, 0.0, 0.02, 0.3]))})
    per = pd.DataFrame(rows)
    # class-0 devices: latencies 16 % apart at 5 % sigma, beyond the noise at a single pair's 95 %
    # level only (apparent inversions, none confirmed)
    near = per["device_class"] == "class0"
    per["lat"] = per["lat"].where(~near, 2.0 * rng.choice([1.0, 1.16], len(per)))
    per["sigma"] = per["sigma"].where(~near, 0.05)
    per["floor"] = per["floor"].where(~near, 0.0)
    per = per.astype({"device": object, "sweep": object, "dtype": object, "point_id": object,
                                     "op": object, "params": object, "device_class": object})
    return per.assign(sd=np.sqrt(per["sigma"] ** 2 + 0.01**2))


def _device_inversions_reference(per, thresholds):
    """device_inversions as the pandas group loop it was before it worked on numpy arrays."""
    def devices_to_pair(g):
        devices = sorted(g["device"].unique())
        if len(devices) <= ranking.MAX_PAIRWISE_DEVICES:
            return devices
        counts = g.groupby(["device_class", "device"]).size().reset_index(name="n")
        counts = counts.sort_values(["device_class", "n", "device"], ascending=[True, False, True])
        return sorted(counts.drop_duplicates("device_class")["device"])

    def thin(frame, by):
        if len(frame) <= ranking.MAX_RANK_POINTS:
            return frame
        order = frame.sort_values(by)
        return order.iloc[np.unique(np.linspace(0, len(order) - 1, ranking.MAX_RANK_POINTS).round().astype(int))]

    z = critical(thresholds.alpha, 1)
    rows = []
    for (sweep, dtype), g in per.groupby(["sweep", "dtype"], sort=True):
        for dev_a, dev_b in combinations(devices_to_pair(g), 2):
            a = g[g["device"] == dev_a].set_index("point_id")
            b = g[g["device"] == dev_b].set_index("point_id")
            common = a.index.intersection(b.index)
            if len(common) < 2:
                continue
            a = thin(a.loc[common], "lat")
            b = b.loc[common].loc[a.index]
            la, sa, lb, sb = (x.to_numpy(float) for x in (a["lat"], a["sd"], b["lat"], b["sd"]))
            floor = float(np.nan_to_num(np.nanmax(np.r_[a["floor"].to_numpy(float), b["floor"].to_numpy(float),
                                                        0.0])))
            a_gt, a_big = _ordered_at(la, sa, (z, Z95), floor)
            b_gt, b_big = _ordered_at(lb, sb, (z, Z95), floor)
            inverted = np.triu(a_gt & b_gt.T | a_gt.T & b_gt, 1)
            comparable = np.triu((a_gt | a_gt.T) & (b_gt | b_gt.T), 1)
            apparent = np.triu(a_big & b_big.T | a_big.T & b_big, 1) & ~inverted
            n_inv, n_cmp = int(inverted.sum()), int(comparable.sum())
            example = ""
            shown = inverted if n_inv else apparent
            if shown.any():
                score = np.where(shown, np.abs(np.log(la[:, None] / la[None, :])) +
                                 np.abs(np.log(lb[:, None] / lb[None, :])), -1)
                i, j = np.unravel_index(np.argmax(score), score.shape)
                ai, aj = a.iloc[i], a.iloc[j]
                example = (f"{_label(ai['op'], ai['params'])}: {la[i]:.3g} ms on {dev_a}, {lb[i]:.3g} ms on {dev_b}; "
                           f"{_label(aj['op'], aj['params'])}: {la[j]:.3g} ms on {dev_a}, {lb[j]:.3g} ms on {dev_b}")
            rows.append({"device_a": dev_a, "device_b": dev_b, "sweep": sweep, "dtype": dtype, "points": len(a),
                         "comparable": n_cmp, "inverted": n_inv, "apparent": int(apparent.sum()),
                         "fraction": n_inv / n_cmp if n_cmp else 0.0, "example": example})
    return pd.DataFrame(rows)


def _mac_inversions_reference(per, thresholds):
    """mac_inversions as the pandas group loop it was before groups were stacked."""
    per = per[per["macs"] > 0]
    z = critical(thresholds.alpha, 1)
    rows = []
    for (device, sweep, dtype), g in per.groupby(["device", "sweep", "dtype"], sort=True):
        if len(g) < 2:
            continue
        if len(g) > ranking.MAX_RANK_POINTS:
            g = g.sort_values("macs")
            g = g.iloc[np.unique(np.linspace(0, len(g) - 1, ranking.MAX_RANK_POINTS).round().astype(int))]
        lat, sd, macs = (g[c].to_numpy(float) for c in ("lat", "sd", "macs"))
        floor = float(np.nan_to_num(np.nanmax(np.r_[g["floor"].to_numpy(float), 0.0])))
        costlier = macs[None, :] >= thresholds.inversion_min_mac_ratio * macs[:, None]
        slower, slower_95 = _ordered_at(lat, sd, (z, Z95), floor)
        inverted = costlier & slower
        comparable = costlier & (slower | slower.T)
        apparent = costlier & slower_95 & ~inverted
        n_inv, n_cmp = int(inverted.sum()), int(comparable.sum())
        example = ""
        shown = inverted if n_inv else apparent
        if shown.any():
            i, j = np.unravel_index(np.argmax(np.where(shown, lat[:, None] / lat[None, :], -1)), shown.shape)
            gi, gj = g.iloc[i], g.iloc[j]
            example = (f"{_label(gj['op'], gj['params'])} ({macs[j] / 1e6:.3g} MMAC) takes {lat[j]:.3g} ms, "
                       f"{_label(gi['op'], gi['params'])} ({macs[i] / 1e6:.3g} MMAC) takes {lat[i]:.3g} ms")
        rows.append({"device": device, "sweep": sweep, "dtype": dtype, "points": len(g), "comparable": n_cmp,
                     "inverted": n_inv, "apparent": int(apparent.sum()),
                     "fraction": n_inv / n_cmp if n_cmp else 0.0, "example": example})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("n_devices", [3, 15])
def test_rank_inversions_on_arrays_and_stacks_equal_the_group_by_loops(monkeypatch, n_devices):
    # small limits, so that thinning (with ties) and several stacks of one size happen on a small frame
    monkeypatch.setattr(ranking, "MAX_RANK_POINTS", 9)
    monkeypatch.setattr(ranking, "PAIR_BATCH", 200)
    per = _per_point_frame(np.random.default_rng(n_devices), n_devices)
    by_devices = ranking._device_inversions_of(per, DEFAULT_THRESHOLDS)
    expected = _device_inversions_reference(per, DEFAULT_THRESHOLDS)
    assert len(by_devices) > 5 and (by_devices["example"] != "").any() and (by_devices["points"] == 9).any()
    assert set(by_devices["device_a"]) | set(by_devices["device_b"]) <= {f"dev{d:02d}" for d in range(n_devices)}
    pd.testing.assert_frame_equal(by_devices, expected)
    by_macs = ranking._mac_inversions_of(per, DEFAULT_THRESHOLDS)
    expected = _mac_inversions_reference(per, DEFAULT_THRESHOLDS)
    assert len(by_macs) > 10 and (by_macs["inverted"] > 0).any() and (by_macs["points"] == 9).any()
    assert ((by_macs["inverted"] == 0) & (by_macs["example"] != "")).any()  # an apparent-only example
    pd.testing.assert_frame_equal(by_macs, expected)


def _support_frame(rng, n, explicit_params):
    """Measurements of random outcomes in (device, sweep, op, dtype) groups, with parameter
    columns of several kinds (or only ``params_json`` to expand them from)."""
    statuses = ["ok", "ok", "fallback", "unsupported", "runtime_error", "timeout", "skipped"]
    params = [{"cin": int(rng.choice([8, 16, 32])), "act": str(rng.choice(["relu", "gelu", "mish"])),
               "scale": float(rng.choice([0.5, 1.0, 1.5])), **({"k": int(rng.integers(0, 12))} if rng.random() < 0.7
                                                                else {})} for _ in range(n)]
    df = pd.DataFrame({"device": rng.choice(["npu", "gpu", "cpu"], n), "sweep": rng.choice(["a", "b"], n),
                       "op": rng.choice(["conv2d", "mbconv"], n), "dtype": rng.choice(["fp32", "int8", None], n),
                       "status": rng.choice(statuses, n),
                       "error": rng.choice([None, "", "E: no kernel", "E: timeout after 30 s"], n),
                       "info_json": rng.choice([None, '{"fallback_ops": ["gelu"]}', '{"fallback_ops": ["mish", 3]}',
                                                "not json", "{}"], n),
                       "params_json": [json.dumps(p) for p in params]})
    if explicit_params:
        df = pd.concat([df, pd.DataFrame(params).astype({"k": "Int64"})], axis=1)
    return df


def _support_reference(df, min_fraction):
    """find_support_issues as the pandas group loop it was before it took numpy slices."""
    def only_in(texts, affected):
        out = {}
        for col, (text, present) in texts.items():
            only = sorted(set(text[present & affected]) - set(text[present & ~affected]))
            if only and len(only) <= 8:
                out[col] = only
        return out

    keys = ["device", "sweep", "op", "dtype"]
    groups = {"unsupported": ["unsupported"], "fallback": ["fallback"], "failed": list(FAILED)}
    data = with_param_columns(df).astype({c: object for c in ("device", "sweep", "op", "dtype", "status", "error")})
    hit_groups = data[data["status"].isin([s for v in groups.values() for s in v])][keys].drop_duplicates()
    data = data.merge(hit_groups, on=keys).sort_index() if len(hit_groups) else data.iloc[:0]
    out = []
    for (device, sweep, op, dtype), g in data.groupby(keys, sort=True):
        texts = _param_texts(g)
        for kind, statuses in groups.items():
            mask = g["status"].isin(statuses).to_numpy()
            hit = g[mask]
            if hit.empty or len(hit) / len(g) < min_fraction:
                continue
            frac = len(hit) / len(g)
            which = only_in(texts, mask)
            where = "; ".join(f"{k}={', '.join(v)}" for k, v in which.items())
            where = f" ({where})" if where else ""
            errors = [e for e in hit["error"].dropna().astype(str) if e]
            fb_ops = _fallback_ops(hit["info_json"])
            verb = {"unsupported": "is unsupported", "failed": "failed"}.get(kind, "falls back off the accelerator")
            if kind == "fallback" and fb_ops:
                verb += f" ({fb_ops.replace(',', ', ')} ran elsewhere)"
            advice = {"unsupported": "choose a supported variant or expect a CPU fallback",
                      "fallback": "avoid these ops on this device", "failed": "see the error texts"}[kind]
            err = f" First error: {errors[0][:160]}" if errors else ""
            message = (f"On {device}, {op} in {dtype} {verb} for {len(hit)} of {len(g)} points ({pct(frac)})"
                       f"{where}; {advice}.{err}")
            evidence = {"op": op, "dtype": dtype, "n": int(len(g)), "n_affected": int(len(hit)),
                        "statuses": hit["status"].value_counts().to_dict(), "only_in_affected": which,
                        "fallback_ops": fb_ops.split(",") if fb_ops else [], "errors": sorted(set(errors))[:5]}
            out.append(Anomaly(kind=kind, device=str(device), sweep=str(sweep), axis="", at=str(dtype),
                               magnitude=float(frac), finding="F7" if kind != "failed" else "", message=message,
                               evidence_json=evidence_json(evidence)))
    return out


@pytest.mark.parametrize("explicit_params", [True, False])
def test_support_issues_of_all_groups_at_once_equal_the_group_by_loop(explicit_params):
    df = _support_frame(np.random.default_rng(4), 400, explicit_params)
    for min_fraction in (0.0, 0.2):
        got = find_support_issues(df, min_fraction)
        expected = _support_reference(df, min_fraction)
        assert len(got) > 10 and any(json.loads(a.evidence_json)["only_in_affected"] for a in got)
        assert got == expected


def test_timed_leaves_the_frame_it_was_given_as_it_was():
    df = study_frame(600, seed=2)
    before = df.copy()
    prepared = timed(df)
    prepared["median_ms"] = 0.0  # the prepared frame is its own
    pd.testing.assert_frame_equal(df, before)
