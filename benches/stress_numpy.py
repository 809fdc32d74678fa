"""Vectorised numpy baseline of chloe's stress model (same per-path-day work).

10,000 paths x 252 days x 50 assets, one parametric scenario with jumps and
forced deleveraging, float32 like the Rust kernel. numpy's own PCG64 generator
stands in for Philox (counter-based Philox in numpy is slower still).
Prints the best wall time of `--repeat` runs in seconds on the last line.

    python3 benches/stress_numpy.py [--paths 10000] [--days 252] [--assets 50]
"""
import argparse
import time

import numpy as np


def market(n):
    rng = np.random.default_rng(1)
    sigma = rng.uniform(0.01, 0.03, n)
    mu = np.full(n, 0.0003)
    f = rng.normal(size=(n, 3))
    c = f @ f.T + np.diag(rng.uniform(0.5, 1.5, n))
    d = np.sqrt(np.diag(c))
    corr = c / np.outer(d, d)
    adv = rng.uniform(5e7, 5e8, n)
    spread = rng.uniform(0.0002, 0.002, n)
    return mu, sigma, corr, adv, spread


def simulate(paths, days, n, seed=0):
    mu, sigma, corr, adv, spread = market(n)
    m, rho, jp, jm, js, liq, sm, k = 1.5, 0.3, 0.02, -0.03, 0.04, 0.3, 2.0, 0.1
    cs = (1 - rho) * corr + rho
    np.fill_diagonal(cs, 1.0)
    lt = np.linalg.cholesky(cs).T.astype(np.float32)
    vol = (m * sigma).astype(np.float32)
    drift = (mu - vol.astype(np.float64) ** 2 / 2).astype(np.float32)
    half_spread = (spread * sm / 2).astype(np.float32)
    impact = (k * m * sigma / np.sqrt(adv * liq)).astype(np.float32)
    capital = np.float32(1e8)
    w = np.full(n, 1.3 / n, dtype=np.float32)
    rng = np.random.default_rng(seed)
    h = np.tile(w * capital, (paths, 1))
    cash = np.full(paths, capital * np.float32(1 - w.sum()), dtype=np.float32)
    vprev = np.full(paths, capital, dtype=np.float32)
    peak = vprev.copy()
    max_dd = np.zeros(paths, dtype=np.float32)
    liqs = np.zeros(paths, dtype=np.int32)
    cost_tot = np.zeros(paths, dtype=np.float32)
    breach = np.full(paths, -1, dtype=np.int32)
    values = np.empty((days, paths), dtype=np.float32)
    for t in range(days):
        z = rng.standard_normal((paths, n), dtype=np.float32)
        u = rng.random(paths, dtype=np.float32)
        jz = rng.standard_normal(paths, dtype=np.float32)
        jump = np.where(u < jp, jm + js * jz, 0).astype(np.float32)
        r = drift + vol * (z @ lt) + jump[:, None]
        h *= np.exp(r)
        v = h.sum(axis=1) + cash
        gross = np.abs(h).sum(axis=1)
        fire = (np.abs(v - vprev) > 0.05 * vprev) & (v > 0) & (gross > 0.8 * v)
        if fire.any():
            dh = 0.5 * h[fire]
            q = np.abs(dh)
            c = q * (half_spread + impact * np.sqrt(q))
            h[fire] -= dh
            cash[fire] += (dh - c).sum(axis=1)
            cc = c.sum(axis=1)
            v[fire] -= cc
            cost_tot[fire] += cc
            liqs[fire] += 1
        peak = np.maximum(peak, v)
        max_dd = np.maximum(max_dd, (peak - v) / peak)
        newb = (breach < 0) & (v < 0.85 * peak)
        breach[newb] = t
        vprev = v
        values[t] = v
    return vprev, max_dd, liqs, cost_tot, breach, values


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--paths", type=int, default=10000)
    ap.add_argument("--days", type=int, default=252)
    ap.add_argument("--assets", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    best = float("inf")
    for i in range(a.repeat):
        t0 = time.perf_counter()
        simulate(a.paths, a.days, a.assets, seed=i)
        best = min(best, time.perf_counter() - t0)
    print(f"numpy {np.__version__}: {a.paths} paths x {a.days} days x {a.assets} assets")
    print(f"{best:.4f}")


if __name__ == "__main__":
    main()
