#!/usr/bin/env python3
"""Reads chloe's reports with the tools users have and checks the report contract.

    python check_reports.py OUT_DIR [OUT_DIR ...]

For each output folder:
- every `*.parquet` is read with pyarrow, polars and duckdb, which must agree on
  the row count and the column names; timestamps must read as timezone-aware
  UTC microseconds in all three;
- each file the contract names (DESIGN.md, "Report contract") has its contracted
  columns with their types: timestamps `timestamp[us, UTC]`, integers of any
  width, floats, strings, booleans. Extra columns are fine; a missing contracted
  column is an error;
- `gate.xml`, when present, parses with junitparser as one testsuite whose
  `tests`, `failures` and `skipped` counts match its testcases;
- `summary.json`, when present, parses as a JSON object;
- a folder without any Parquet report is an error.

Every problem is printed as `FILE: COLUMN: what` and the exit code is 1; a
usage error exits 2. This replaces nothing in the Rust tests: it proves the
files are what other tools expect.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from junitparser import Failure, JUnitXml, Skipped, TestSuite

TS, INT, FLOAT, STR, BOOL = "timestamp[us, UTC]", "integer", "float", "string", "bool"

# Column -> kind per report file, from DESIGN.md's report contract. Only what the
# contract names is checked; decisions.parquet lists its first columns by name
# ("size before and after constraints, the binding constraints..." are not named).
CONTRACT: dict[str, dict[str, str]] = {
    "folds.parquet": {
        "fold": INT,
        "train_start": TS,
        "train_end": TS,
        "test_start": TS,
        "test_end": TS,
        "sharpe": FLOAT,
        "sortino": FLOAT,
        "max_drawdown": FLOAT,
        "total_return": FLOAT,
        "win_rate": FLOAT,
        "edge_precision": FLOAT,
        "n_trades": INT,
        "turnover": FLOAT,
    },
    "oos_returns.parquet": {"timestamp": TS, "fold": INT, "return": FLOAT, "equity": FLOAT},
    "trades.parquet": {
        "timestamp": TS,
        "fold": INT,
        "symbol": STR,
        "side": STR,
        "requested_quantity": FLOAT,
        "filled_quantity": FLOAT,
        "price": FLOAT,
        "notional": FLOAT,
        "venue": STR,
        "parent_id": INT,
        "slice": INT,
        "impact_cost": FLOAT,
        "fees": FLOAT,
        "reason": STR,
    },
    "decisions.parquet": {
        "timestamp": TS,
        "symbol": STR,
        "edge_probability": FLOAT,
        "kelly_fraction": FLOAT,
        "regime_multiplier": FLOAT,
    },
    "predictions.parquet": {
        "timestamp": TS,
        "symbol": STR,
        "fold": INT,
        "regime": STR,
        "edge_probability": FLOAT,
        "edge_strength": FLOAT,
        "label": BOOL,
    },
    "regimes.parquet": {"timestamp": TS, "fold": INT, "regime": STR},
    "stress_paths.parquet": {
        "scenario": STR,
        "path": INT,
        "terminal_value": FLOAT,
        "max_drawdown": FLOAT,
        "liquidations": INT,
        "liquidation_cost": FLOAT,
        "breach_day": INT,
    },
    "stress_summary.parquet": {
        "scenario": STR,
        "paths": INT,
        "backend": STR,
        "mean_terminal": FLOAT,
        "median_terminal": FLOAT,
        "var_95": FLOAT,
        "var_99": FLOAT,
        "cvar_95": FLOAT,
        "cvar_99": FLOAT,
        "prob_drawdown_breach": FLOAT,
        "mean_max_drawdown": FLOAT,
        "mean_liquidation_cost": FLOAT,
    },
    "stress_bands.parquet": {
        "scenario": STR,
        "day": INT,
        "p01": FLOAT,
        "p05": FLOAT,
        "p50": FLOAT,
        "p95": FLOAT,
        "p99": FLOAT,
    },
    "alerts.parquet": {
        "timestamp": TS,
        "severity": STR,
        "rule": STR,
        "value": FLOAT,
        "limit": FLOAT,
        "symbol": STR,
        "message": STR,
    },
    "monitor.parquet": {
        "timestamp": TS,
        "equity": FLOAT,
        "drawdown": FLOAT,
        "gross": FLOAT,
        "net": FLOAT,
        "max_single_name": FLOAT,
        "top_symbol": STR,
        "avg_correlation": FLOAT,
        "n_held": INT,
    },
    "correlation.parquet": {
        "symbol_a": STR,
        "symbol_b": STR,
        "correlation": FLOAT,
    },
    "strategies.parquet": {
        "timestamp": TS,
        "strategy": STR,
        "return": FLOAT,
        "equity": FLOAT,
    },
}


def kind_of(t: pa.DataType) -> str:
    """The contract kind of an Arrow type, or its own name when it fits none."""
    if pa.types.is_dictionary(t):
        return kind_of(t.value_type)
    if pa.types.is_timestamp(t):
        return TS if t.unit == "us" and t.tz in ("UTC", "+00:00") else str(t)
    if pa.types.is_integer(t):
        return INT
    if pa.types.is_floating(t):
        return FLOAT
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return STR
    if pa.types.is_boolean(t):
        return BOOL
    return str(t)


def check_parquet(path: Path) -> list[str]:
    """Problems of one Parquet file, as `file: column: what` lines."""
    name = path.name
    errors: list[str] = []
    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - any reader failure is the finding
        return [f"{path}: -: pyarrow cannot read it: {e}"]
    try:
        frame = pl.read_parquet(path)
    except Exception as e:  # noqa: BLE001
        return [f"{path}: -: polars cannot read it: {e}"]
    try:
        con = duckdb.connect()
        described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
        (duck_rows,) = con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone()
        con.close()
    except Exception as e:  # noqa: BLE001
        return [f"{path}: -: duckdb cannot read it: {e}"]

    rows = {"pyarrow": table.num_rows, "polars": frame.height, "duckdb": duck_rows}
    if len(set(rows.values())) != 1:
        errors.append(f"{path}: -: row counts differ: {rows}")
    duck_types = {row[0]: row[1] for row in described}
    names = {
        "pyarrow": table.schema.names,
        "polars": frame.columns,
        "duckdb": [row[0] for row in described],
    }
    if not (names["pyarrow"] == names["polars"] == names["duckdb"]):
        errors.append(f"{path}: -: column names differ: {names}")

    # Timestamps must stay instants in every tool, not naive local times.
    for field in table.schema:
        if not pa.types.is_timestamp(field.type):
            continue
        col = field.name
        if kind_of(field.type) != TS:
            errors.append(f"{path}: {col}: pyarrow type {field.type}, expected {TS}")
        pl_type = frame.schema.get(col)
        if pl_type != pl.Datetime("us", "UTC"):
            errors.append(f"{path}: {col}: polars type {pl_type}, expected Datetime(us, UTC)")
        if duck_types.get(col) != "TIMESTAMP WITH TIME ZONE":
            errors.append(
                f"{path}: {col}: duckdb type {duck_types.get(col)}, expected TIMESTAMP WITH TIME ZONE"
            )

    contract = CONTRACT.get(name)
    if contract is None:
        return errors
    schema = table.schema
    for col, kind in contract.items():
        if col not in schema.names:
            errors.append(f"{path}: {col}: contracted column is missing")
            continue
        got = kind_of(schema.field(col).type)
        if got != kind:
            errors.append(f"{path}: {col}: type {schema.field(col).type}, expected {kind}")
    if name == "regimes.parquet":
        probs = [c for c in schema.names if c.startswith("p_")]
        if not probs:
            errors.append(f"{path}: p_<REGIME>: no regime probability column")
        for col in probs:
            if kind_of(schema.field(col).type) != FLOAT:
                errors.append(f"{path}: {col}: type {schema.field(col).type}, expected {FLOAT}")
    return errors


def check_gate_xml(path: Path) -> list[str]:
    """Problems of a JUnit gate file."""
    try:
        xml = JUnitXml.fromfile(str(path))
    except Exception as e:  # noqa: BLE001
        return [f"{path}: -: junitparser cannot read it: {e}"]
    suites = [xml] if isinstance(xml, TestSuite) else list(xml)
    if len(suites) != 1:
        return [f"{path}: testsuite: expected one testsuite, found {len(suites)}"]
    suite = suites[0]
    cases = list(suite)
    failed = sum(any(isinstance(r, Failure) for r in c.result) for c in cases)
    skipped = sum(any(isinstance(r, Skipped) for r in c.result) for c in cases)
    errors = []
    for attr, want in (("tests", len(cases)), ("failures", failed), ("skipped", skipped)):
        got = getattr(suite, attr)
        if got is None:
            got = 0
        if int(got) != want:
            errors.append(f"{path}: testsuite@{attr}: says {got}, testcases give {want}")
    return errors


def check_summary(path: Path) -> list[str]:
    """Problems of summary.json."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return [f"{path}: -: not valid JSON: {e}"]
    if not isinstance(doc, dict):
        return [f"{path}: -: top level is {type(doc).__name__}, expected an object"]
    return []


def check_folder(folder: Path) -> tuple[list[str], int]:
    """Problems of one output folder and the number of Parquet reports read."""
    if not folder.is_dir():
        return [f"{folder}: -: not a folder"], 0
    reports = sorted(folder.glob("*.parquet"))
    errors: list[str] = []
    if not reports:
        errors.append(f"{folder}: -: no Parquet report in the folder")
    for path in reports:
        errors += check_parquet(path)
    gate = folder / "gate.xml"
    if gate.exists():
        errors += check_gate_xml(gate)
    summary = folder / "summary.json"
    if summary.exists():
        errors += check_summary(summary)
    return errors, len(reports)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or any(a.startswith("-") for a in argv[1:]):
        print(f"usage: {Path(argv[0]).name} OUT_DIR [OUT_DIR ...]", file=sys.stderr)
        return 2
    errors: list[str] = []
    for arg in argv[1:]:
        found, n = check_folder(Path(arg))
        errors += found
        if not found:
            print(f"ok {arg}: {n} Parquet reports read alike by pyarrow, polars and duckdb")
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
