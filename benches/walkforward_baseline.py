"""Python baseline of `chloe walkforward`, for benches/walkforward.rs and BENCHMARKS.md.

The same work as chloe, written the way a competent quant would in Python:
vectorized pandas features (the same definitions as src/features.rs), the same
fold plan, a scikit-learn GaussianMixture regime detector on the same market
state, per-asset edge thresholds, StandardScaler + LogisticRegression (C = 1/l2,
lbfgs) fitted once per fold, the same calibration table, quarter-Kelly sizing and
daily replay -- no per-bar Python loops.

    python3 benches/walkforward_baseline.py DATA.parquet [--out per_fold.json]
        [--in-sample 252] [--oos 63] [--lookahead 5] [--seed 0]

Prints the wall time of each stage and writes per-fold edge precision so the
bench can check that both programs did the same work.
"""

import argparse
import json
import math
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture

FEATURES = ["ret_1", "ret_5", "ret_20", "vol_20", "vol_of_vol", "mom_z", "mr_z",
            "rsi_14", "range_vol", "volume_z", "amihud", "beta_corr"]
W, L, RSI = 20, 60, 14


def load(path, max_fill=5):
    df = pd.read_parquet(path)
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    wide = {}
    for col in ["close", "high", "low", "volume"]:
        if col in df.columns:
            wide[col] = df.pivot_table(index="timestamp", columns="symbol", values=col,
                                       aggfunc="last").sort_index()
    close = wide["close"]
    # Forward fill within max_fill bars, inside each symbol's own range.
    last_valid = close.apply(lambda s: s.last_valid_index())
    close = close.ffill(limit=max_fill)
    for sym, lv in last_valid.items():
        close.loc[close.index > lv, sym] = np.nan
    cols = close.columns
    hl = {k: wide[k].reindex(columns=cols) if k in wide else None for k in ["high", "low", "volume"]}
    return close, hl


def features(close, hl):
    r = close.pct_change(fill_method=None)
    lc = np.log(close)
    out = {}
    for h in (1, 5, 20):
        out[f"ret_{h}"] = close / close.shift(h) - 1
    vol = r.rolling(W).std()
    out["vol_20"] = vol
    vm, vs = vol.rolling(W).mean(), vol.rolling(W).std()
    out["vol_of_vol"] = (vs / vm).where(vm != 0, 0.0)
    out["mom_z"] = (lc - lc.shift(L)) / (r.rolling(L).std() * math.sqrt(L))
    lm, ls = lc.rolling(W).mean(), lc.rolling(W).std()
    out["mr_z"] = ((lc - lm) / ls).where(ls > 0, 0.0).where(ls.notna())
    d = close.diff()
    gain = d.clip(lower=0).ewm(alpha=1 / RSI, adjust=False, min_periods=RSI).mean()
    loss = (-d.clip(upper=0)).ewm(alpha=1 / RSI, adjust=False, min_periods=RSI).mean()
    out["rsi_14"] = (100 - 100 / (1 + gain / loss)).where(loss > 0, 100.0).where(gain.notna())
    high, low, volume = hl["high"], hl["low"], hl["volume"]
    if high is not None and low is not None and high.notna().any().any():
        term = (np.log(high / low) ** 2 / (4 * math.log(2))).fillna(r * r)
        rv = np.sqrt(term.rolling(W).mean())
        out["range_vol"] = rv.where(high.notna().any(), vol)
    else:
        out["range_vol"] = vol
    if volume is not None and volume.notna().any().any():
        lv = np.log1p(volume)
        out["volume_z"] = ((lv - lv.rolling(W).mean()) / lv.rolling(W).std()).fillna(0.0)
        illiq = (r.abs() / (close * volume) * 1e6).where(volume > 0)
        out["amihud"] = illiq.rolling(W, min_periods=W // 2).mean().fillna(0.0)
    else:
        out["volume_z"] = close * 0.0
        out["amihud"] = close * 0.0
    m = r.mean(axis=1)
    out["beta_corr"] = r.rolling(L).corr(m)
    cube = np.stack([out[f].to_numpy(dtype=float) for f in FEATURES], axis=2)
    cube[:max(L, 2 * W - 1)] = np.nan
    mkt_vol = m.rolling(W).std()
    mkt_trend = m.rolling(L).sum() / (m.rolling(L).std() * math.sqrt(L))
    state = np.column_stack([np.log(np.maximum(mkt_vol * math.sqrt(252), 1e-6)), mkt_trend])
    return r.to_numpy(), cube, state


def plan(n, warmup, is_, oos, step, h, purge, embargo):
    folds, k = [], 0
    while True:
        a = warmup + k * step
        b = a + is_ - 1
        c = b + 1 + embargo
        d = c + oos - 1
        if d + 1 > n - 1:
            return folds
        folds.append((k, a, b, min(b - purge, c - 1 - h), c, d))
        k += 1


def regimes(state, a, b, c, d, seed):
    s = state[a:b + 1]
    s = s[np.isfinite(s).all(axis=1)]
    mu, sd = s.mean(axis=0), s.std(axis=0, ddof=1)
    gm = GaussianMixture(3, covariance_type="full", random_state=seed, n_init=3,
                         reg_covar=1e-4, tol=1e-4, max_iter=300).fit((s - mu) / sd)
    resp = gm.predict_proba((s - mu) / sd)
    vol = (resp * s[:, [0]]).sum(0) / resp.sum(0)
    trend = (resp * np.abs(s[:, [1]])).sum(0) / resp.sum(0)
    order = np.argsort(-vol, kind="stable")
    names = np.zeros(3, dtype=int)  # 0 STABLE, 1 VOLATILE, 2 TRENDING
    names[order[0]] = 1
    x, y = order[1], order[2]
    names[y if trend[y] > trend[x] else x] = 2
    rows = state[a:d + 1]
    p = np.zeros((len(rows), 3))
    ok = np.isfinite(rows).all(axis=1)
    p[ok][:, :] = 0
    pr = gm.predict_proba((rows[ok] - mu) / sd)
    full = np.zeros((ok.sum(), 3))
    for j in range(3):
        full[:, names[j]] += pr[:, j]
    p[ok] = full
    p[~ok, 0] = 1.0
    return p


def kelly(p, regime, min_edge=0.55, max_pos=0.10, max_gross=1.0):
    mult = np.where(regime == 1, 0.5, np.where(regime == 0, 1.2, 1.0))[:, None]
    w = np.clip((2.0 * p - (1 - p)) / 2.0 * 0.25 * mult, 0.0, max_pos)
    w = np.where(np.isfinite(p) & (p >= min_edge), w, 0.0)
    gross = w.sum(axis=1, keepdims=True)
    return np.where(gross > max_gross, w * max_gross / np.where(gross > 0, gross, 1), w)


def run(path, is_=252, oos=63, h=5, seed=0, l2=1.0, q=0.6, buckets=10, cost_bps=5.0):
    t0 = time.perf_counter()
    close, hl = load(path)
    t1 = time.perf_counter()
    ret, cube, state = features(close, hl)
    c = close.to_numpy()
    fwd = np.full_like(c, np.nan)
    fwd[:-h] = c[h:] / c[:-h] - 1
    t2 = time.perf_counter()
    n, m, _ = cube.shape
    warmup = max(L, 2 * W - 1, RSI)
    folds = plan(n, warmup, is_, oos, oos, h, h, 0)
    per_fold, stitched = [], []
    for k, a, b, fit_end, c0, d in folds:
        probs = regimes(state, a, b, c0, d, seed + k)
        def design(lo, hi):
            f = cube[lo:hi + 1]
            pr = np.broadcast_to(probs[lo - a:hi + 1 - a, None, :], (hi + 1 - lo, m, 3))
            return np.concatenate([f, pr], axis=2)
        xtr = design(a, fit_end)
        ftr = fwd[a:fit_end + 1]
        ok = np.isfinite(xtr).all(axis=2) & np.isfinite(ftr)
        thr = np.array([np.quantile(ftr[:, i][ok[:, i]], q) if ok[:, i].any() else np.nan
                        for i in range(m)])
        thr = np.where(np.isfinite(thr), thr, np.quantile(ftr[ok], q))
        X, y, fr = xtr[ok], (ftr > thr[None, :])[ok], ftr[ok]
        mu, sd = X.mean(0), X.std(0, ddof=1)
        sd = np.where(sd > 1e-12, sd, 1.0)
        model = LogisticRegression(C=1.0 / l2, max_iter=100, tol=1e-4).fit((X - mu) / sd, y)
        ptr = model.predict_proba((X - mu) / sd)[:, 1]
        order = np.lexsort((fr, ptr))
        chunks = np.array_split(order, buckets)
        upper = np.array([ptr[ch[-1]] for ch in chunks])
        means = np.array([fr[ch].mean() for ch in chunks])
        xte = design(c0, d)
        okt = np.isfinite(xte).all(axis=2) & np.isfinite(ret[c0:d + 1])
        p = np.full((d + 1 - c0, m), np.nan)
        p[okt] = model.predict_proba((xte[okt] - mu) / sd)[:, 1]
        strength = p * np.abs(means[np.minimum(np.searchsorted(upper, p), buckets - 1)])
        regime = probs[c0 - a:].argmax(axis=1)
        w = kelly(p, regime)
        r_next = np.nan_to_num(ret[c0 + 1:d + 2])
        traded = np.abs(np.diff(np.vstack([np.zeros(m), w]), axis=0)).sum(1)
        net = (w * r_next).sum(1) - cost_bps / 1e4 * traded
        stitched.append(net)
        lab = fwd[c0:d + 1] > thr[None, :]
        called = okt & (p >= 0.55) & np.isfinite(fwd[c0:d + 1])
        prec = float(lab[called].mean()) if called.any() else None
        sr = float(net.mean() / net.std(ddof=1) * math.sqrt(252)) if net.std(ddof=1) > 0 else 0.0
        per_fold.append({"fold": k, "edge_precision": prec, "sharpe": sr,
                         "mean_strength": float(np.nanmean(strength))})
    t3 = time.perf_counter()
    return per_fold, {"load_s": t1 - t0, "features_s": t2 - t1, "folds_s": t3 - t2,
                      "total_s": t3 - t0, "folds": len(folds), "bars": n, "assets": m}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--out")
    ap.add_argument("--in-sample", type=int, default=252)
    ap.add_argument("--oos", type=int, default=63)
    ap.add_argument("--lookahead", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    per_fold, times = run(a.data, a.in_sample, a.oos, a.lookahead, a.seed)
    print(json.dumps(times))
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"times": times, "folds": per_fold}, f)


if __name__ == "__main__":
    main()
