#!/usr/bin/env python3
"""Self-test of check_reports.py: it must reject what breaks the contract.

    python test_check_reports.py

Builds small folders in a temporary directory (a good one and one per kind of
defect) and checks the verdict and that each error names the file and column.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_reports  # noqa: E402


def oos(ts_type: pa.DataType = pa.timestamp("us", tz="UTC"), drop: str | None = None) -> pa.Table:
    start = dt.datetime(2020, 1, 2, tzinfo=dt.timezone.utc)
    cols = {
        "timestamp": pa.array([start + dt.timedelta(days=k) for k in range(3)], ts_type),
        "fold": pa.array([0, 0, 1], pa.int64()),
        "return": pa.array([0.01, -0.02, 0.0], pa.float64()),
        "equity": pa.array([1.01, 0.9898, 0.9898], pa.float64()),
        "extra": pa.array(["a", "b", "c"]),
    }
    if drop:
        del cols[drop]
    return pa.table(cols)


GATE = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="chloe gate" tests="{tests}" failures="1" skipped="1">
  <testcase name="min_avg_sharpe" classname="gate"/>
  <testcase name="max_drawdown" classname="gate"><failure message="0.28 &gt; 0.15"/></testcase>
  <testcase name="max_stress_var_99" classname="gate"><skipped message="all cash"/></testcase>
</testsuite>
"""


def folder(root: Path, name: str, files: dict[str, object]) -> Path:
    d = root / name
    d.mkdir()
    for fname, content in files.items():
        if isinstance(content, pa.Table):
            pq.write_table(content, d / fname)
        else:
            (d / fname).write_text(str(content), encoding="utf-8")
    return d


def main() -> int:
    failures = []

    def expect(d: Path, needles: list[str]) -> None:
        errors, _ = check_reports.check_folder(d)
        if not needles and errors:
            failures.append(f"{d.name}: expected no error, got {errors}")
        for needle in needles:
            if not any(needle in e for e in errors):
                failures.append(f"{d.name}: expected an error with {needle!r}, got {errors}")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        good = folder(
            root,
            "good",
            {
                "oos_returns.parquet": oos(),
                "unknown.parquet": pa.table({"x": [1, 2]}),
                "gate.xml": GATE.format(tests=3),
                "summary.json": '{"job": "x"}',
            },
        )
        expect(good, [])
        expect(folder(root, "empty", {"summary.json": "{}"}), ["no Parquet report"])
        expect(
            folder(root, "missing", {"oos_returns.parquet": oos(drop="equity")}),
            ["oos_returns.parquet: equity: contracted column is missing"],
        )
        expect(
            folder(root, "ns", {"oos_returns.parquet": oos(pa.timestamp("ns", tz="UTC"))}),
            ["oos_returns.parquet: timestamp: pyarrow type timestamp[ns, tz=UTC]"],
        )
        expect(
            folder(root, "naive", {"oos_returns.parquet": oos(pa.timestamp("us"))}),
            ["oos_returns.parquet: timestamp: polars type", "duckdb type TIMESTAMP"],
        )
        bad_type = oos().set_column(1, "fold", pa.array(["0", "0", "1"]))
        expect(
            folder(root, "type", {"oos_returns.parquet": bad_type}),
            ["oos_returns.parquet: fold: type string, expected integer"],
        )
        expect(
            folder(root, "gate", {"oos_returns.parquet": oos(), "gate.xml": GATE.format(tests=4)}),
            ["gate.xml: testsuite@tests: says 4, testcases give 3"],
        )
        expect(
            folder(root, "json", {"oos_returns.parquet": oos(), "summary.json": "{oops"}),
            ["summary.json: -: not valid JSON"],
        )
        # The verdicts below print their expected errors: keep them out of the log.
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            codes = (
                check_reports.main(["check_reports.py", str(root / "empty")]),
                check_reports.main(["check_reports.py", str(good)]),
                check_reports.main(["check_reports.py"]),
            )
        if codes != (1, 0, 2):
            failures.append(f"main: exit codes (empty, good, usage) {codes}, expected (1, 0, 2)")

    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    if not failures:
        print("ok check_reports.py rejects every planted defect")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
