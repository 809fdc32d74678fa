#!/usr/bin/env python3
"""CPU vs GPU parity of `chloe stress` as a user runs it, at growing asset counts.

For each asset count: one parametric scenario with jumps and thinner
liquidity (the liquidity_crunch preset), a year (252 days), weights summing
to 1, an equicorrelated market; `chloe stress JOB --backend gpu` and
`--backend cpu` on the same job, then stress_paths.parquet compared path by
path. Prints a markdown table (the one in BENCHMARKS.md).

usage: benches/gpu_parity.py --chloe PATH [--paths N] [--assets 2,5,...]
needs: pyarrow
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import pyarrow.parquet as pq


def job(n: int, paths: int) -> str:
    def lst(f):
        return "[" + ", ".join(f"{f(i):e}" for i in range(n)) + "]"

    corr = ", ".join(lst(lambda j, i=i: 1.0 if i == j else 0.3) for i in range(n))
    syms = ", ".join(f'"S{i}"' for i in range(n))
    weights = ", ".join(f"S{i} = {1.0 / n:e}" for i in range(n))
    return f"""[job]
name = "parity{n}"
seed = 17
[stress]
paths = {paths}
horizon = 252
shock_threshold = 0.03
[stress.market]
symbols = [{syms}]
mu = {lst(lambda i: 0.0002 + 0.0001 * (i % 3))}
sigma = {lst(lambda i: 0.012 + 0.0004 * (i % 20))}
adv = {lst(lambda i: 5e7 * (1 + i % 7))}
spread = {lst(lambda i: 0.0005 + 0.0001 * (i % 5))}
correlation = [{corr}]
[stress.portfolio]
weights = {{ {weights} }}
[[stress.scenarios]]
name = "crunch"
preset = "liquidity_crunch"
"""


def run(chloe: str, jobfile: str, backend: str, out: str) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(
        [chloe, "stress", jobfile, "--backend", backend, "--out", out, "-q"],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        sys.exit(f"chloe stress --backend {backend} failed ({r.returncode}):\n{r.stderr}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chloe", required=True)
    ap.add_argument("--paths", type=int, default=1000)
    ap.add_argument("--assets", default="2,5,10,16,17,18,19,20,32,50,64,128,256,512")
    a = ap.parse_args()
    print("| assets | paths | paths whose liquidations or breach_day differ | max relative difference of terminal value | P(breach) cpu / gpu |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as d:
        for n in (int(x) for x in a.assets.split(",")):
            jf = os.path.join(d, f"job{n}.toml")
            with open(jf, "w") as f:
                f.write(job(n, a.paths))
            run(a.chloe, jf, "cpu", os.path.join(d, f"c{n}"))
            run(a.chloe, jf, "gpu", os.path.join(d, f"g{n}"))
            c = pq.read_table(os.path.join(d, f"c{n}", "stress_paths.parquet")).to_pydict()
            g = pq.read_table(os.path.join(d, f"g{n}", "stress_paths.parquet")).to_pydict()
            assert c["path"] == g["path"], "path order differs"
            capital = 1e8
            ints = 0
            rel = 0.0
            for k in range(len(c["path"])):
                if c["liquidations"][k] != g["liquidations"][k] or c["breach_day"][k] != g["breach_day"][k]:
                    ints += 1
                    continue
                a_, b_ = c["terminal_value"][k], g["terminal_value"][k]
                rel = max(rel, abs(a_ - b_) / max(abs(a_), abs(b_), capital))
            pb = [sum(1 for x in t["breach_day"] if x >= 0) / len(t["breach_day"]) for t in (c, g)]
            print(f"| {n} | {len(c['path'])} | {ints} ({100.0 * ints / len(c['path']):.2f}%) | {rel:.1e} | {pb[0]:.3f} / {pb[1]:.3f} |", flush=True)


if __name__ == "__main__":
    main()
