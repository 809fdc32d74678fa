"""chloe's risk-parity solve against scipy on the same convex problem.

For N in (50, 500): a seeded SPD covariance (a factor model from 3N daily
returns of N assets, Ledoit-Wolf-free so both sides get the very same
matrix) is written as little-endian f64; chloe's solver runs on it through
`cargo run --release --example riskparity_timing`, and scipy minimizes
Spinu's objective 0.5 x'Sx - sum(b ln x) with its analytic gradient
(L-BFGS-B, gtol 1e-12, bounds x >= 1e-12) in the same run. Prints both
times (median of REPS), the iterations, the largest weight difference and
the largest relative risk-contribution error of each.

Run from the repository root:
    python3 -m venv /tmp/rpvenv && /tmp/rpvenv/bin/pip install numpy scipy
    /tmp/rpvenv/bin/python benches/riskparity_scipy.py

RISKPARITY_TIMING_EXE=PATH uses an already built timing binary (the
example's source built in release) instead of building the example.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy.optimize import minimize

REPS = {50: 50, 500: 5}


def covariance(n, seed):
    rng = np.random.default_rng(seed)
    t = 3 * n
    k = 1 + n // 10
    factors = rng.standard_normal((t, k)) * 0.01
    loadings = rng.standard_normal((k, n))
    vol = 0.005 * 10 ** (np.arange(n) / n)
    r = factors @ loadings + rng.standard_normal((t, n)) * vol
    r -= r.mean(axis=0)
    return r.T @ r / t


def rc_error(s, w):
    sw = s @ w
    rc = w * sw / (w @ sw)
    n = len(w)
    return np.max(np.abs(rc * n - 1.0))


def scipy_solve(s):
    n = s.shape[0]
    b = np.full(n, 1.0 / n)
    scale = np.mean(np.diag(s))
    ss = s / scale  # the same scaling chloe uses

    def f(x):
        sx = ss @ x
        return 0.5 * x @ sx - b @ np.log(x), sx - b / x

    x0 = 1.0 / np.sqrt(np.diag(ss))
    x0 *= np.sqrt(1.0 / (x0 @ ss @ x0))
    res = minimize(
        f,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(1e-12, None)] * n,
        options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 100000, "maxcor": 20},
    )
    return res.x / res.x.sum(), res.nit


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    exe = os.environ.get("RISKPARITY_TIMING_EXE")
    if not exe:
        subprocess.run(
            ["cargo", "build", "--release", "--example", "riskparity_timing"],
            cwd=root,
            check=True,
        )
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
        exe = os.path.join(target, "release", "examples", "riskparity_timing")
    for n in (50, 500):
        s = covariance(n, seed=n)
        with tempfile.NamedTemporaryFile(suffix=".f64", delete=False) as fh:
            fh.write(s.astype("<f8").tobytes())
            path = fh.name
        out = subprocess.run(
            [exe, path, str(n), str(REPS[n])], check=True, capture_output=True, text=True
        )
        os.unlink(path)
        rust = json.loads(out.stdout)
        times = []
        for _ in range(REPS[n]):
            t0 = time.perf_counter()
            w, nit = scipy_solve(s)
            times.append(time.perf_counter() - t0)
        times.sort()
        wr = np.array(rust["weights"])
        print(
            f"N={n}: chloe {rust['median_seconds'] * 1e3:.3f} ms ({rust.get('sweeps', 0)} coordinate sweeps, "
            f"{rust['iterations']} Newton iterations), "
            f"scipy L-BFGS-B {times[len(times) // 2] * 1e3:.3f} ms ({nit} iterations), "
            f"ratio {times[len(times) // 2] / rust['median_seconds']:.1f}x; "
            f"max |w_chloe - w_scipy| = {np.max(np.abs(wr - w)):.2e}; "
            f"max RC error chloe {rc_error(s, wr):.2e}, scipy {rc_error(s, w):.2e}"
        )
        if np.max(np.abs(wr - w)) > 1e-6:
            print(f"N={n}: weights differ by more than 1e-6", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
