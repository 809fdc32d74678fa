#!/usr/bin/env bash
# Times chloe's load + validate + panel against a plain pyarrow/polars read of
# the same 500 x 5040 synthetic file, in one run. Needs: pip install pyarrow polars.
set -euo pipefail
cd "$(dirname "$0")/.."
export CHLOE_BENCH_DIR="${CHLOE_BENCH_DIR:-$PWD/target/bench-data}"
cargo bench --bench load -- --noplot load_validate_panel 2>&1 | tee /tmp/chloe_load_bench.txt | grep -E "time:|load_"
python3 benches/load_baseline.py "$CHLOE_BENCH_DIR/synth_500x5040.parquet" 10
