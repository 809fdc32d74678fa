"""Baseline for benches/load.rs: a plain read of the same Parquet file.

pyarrow.parquet.read_table and polars.read_parquet, no validation, median of
N runs after one warm-up. Prints one line per reader: `name median_seconds`.
Usage: python3 benches/load_baseline.py FILE [N]
"""
import statistics
import sys
import time

import polars as pl
import pyarrow.parquet as pq


def timed(fn, n):
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


path = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 10
print(f"pyarrow_read_table {timed(lambda: pq.read_table(path), n):.4f}")
print(f"polars_read_parquet {timed(lambda: pl.read_parquet(path), n):.4f}")
