//! Walk-forward reports: folds, out-of-sample returns, predictions, regimes,
//! and the continuous account's trades and risk decisions.
//!
//! Timestamps are `timestamp[us, UTC]`; a statistic that cannot be computed is
//! null. Rows are written in fold order, so the files do not depend on the
//! thread count.

use std::sync::Arc;

use arrow::{
    array::{
        ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
        TimestampMicrosecondArray,
    },
    datatypes::{DataType, Field, Schema, TimeUnit},
};

use super::parquet::ParquetOut;
use crate::{
    data::Panel, strategy::risk::CONSTRAINTS, stress::BackendKind, walkforward::Walkforward,
};

fn ts_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    )
}

fn ts(values: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
}

fn f64s(values: Vec<f64>) -> ArrayRef {
    Arc::new(Float64Array::from(values))
}

fn opt_f64s(values: Vec<Option<f64>>) -> ArrayRef {
    Arc::new(Float64Array::from(values))
}

fn i64s(values: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(values))
}

fn batch(schema: &Arc<Schema>, cols: Vec<ArrayRef>) -> anyhow::Result<RecordBatch> {
    Ok(RecordBatch::try_new(schema.clone(), cols)?)
}

/// Schema of `folds.parquet`.
pub fn folds_schema() -> Arc<Schema> {
    let f = |n: &str, null: bool| Field::new(n, DataType::Float64, null);
    Arc::new(Schema::new(vec![
        Field::new("fold", DataType::Int64, false),
        ts_field("train_start"),
        ts_field("train_end"),
        ts_field("test_start"),
        ts_field("test_end"),
        f("sharpe", true),
        f("sortino", true),
        f("max_drawdown", false),
        f("total_return", false),
        f("win_rate", true),
        f("edge_precision", true),
        Field::new("n_trades", DataType::Int64, false),
        f("turnover", true),
        f("brier", true),
    ]))
}

/// Schema of `trades.parquet` (the report contract's columns, then
/// `spread_cost` and `participation`). `requested_quantity` is what the
/// parent order still wanted when the bar began (repeated on each venue's
/// row of that bar); `venue` is `none` for a delisting.
pub fn trades_schema() -> Arc<Schema> {
    let f = |n: &str| Field::new(n, DataType::Float64, false);
    Arc::new(Schema::new(vec![
        ts_field("timestamp"),
        Field::new("fold", DataType::Int64, false),
        Field::new("symbol", DataType::Utf8, false),
        Field::new("side", DataType::Utf8, false),
        f("requested_quantity"),
        f("filled_quantity"),
        f("price"),
        f("notional"),
        Field::new("venue", DataType::Utf8, false),
        Field::new("parent_id", DataType::Int64, false),
        Field::new("slice", DataType::Int64, false),
        f("impact_cost"),
        f("fees"),
        Field::new("reason", DataType::Utf8, false),
        f("spread_cost"),
        f("participation"),
    ]))
}

/// Schema of `decisions.parquet`: one `cut_<constraint>` column per constraint.
pub fn decisions_schema() -> Arc<Schema> {
    let mut fields = vec![
        ts_field("timestamp"),
        Field::new("fold", DataType::Int64, false),
        Field::new("symbol", DataType::Utf8, false),
        Field::new("edge_probability", DataType::Float64, true),
        Field::new("kelly_fraction", DataType::Float64, false),
        Field::new("regime_multiplier", DataType::Float64, false),
        Field::new("size_before", DataType::Float64, false),
        Field::new("size_after", DataType::Float64, false),
    ];
    fields.extend(
        CONSTRAINTS
            .iter()
            .map(|c| Field::new(format!("cut_{}", c.name()), DataType::Float64, false)),
    );
    fields.push(Field::new("binding", DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

fn strs<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

/// Writes `trades.parquet` and `decisions.parquet` of the continuous replay.
fn write_account(out: &ParquetOut<'_>, panel: &Panel, wf: &Walkforward) -> anyhow::Result<()> {
    let cpu = BackendKind::Cpu;
    let stamp = |bar: usize| panel.timestamps[bar];
    let trades = &wf.replay.trades;
    let schema = trades_schema();
    let venue =
        |t: &crate::walkforward::Trade| t.venue.map_or("none", |v| wf.replay.venues[v].as_str());
    // Hedge instrument j trades as asset index n_assets + j.
    let hedged: &[String] = wf.replay.hedge.as_ref().map_or(&[], |h| &h.symbols);
    let symbol = |a: usize| {
        panel
            .symbols
            .get(a)
            .or_else(|| hedged.get(a - panel.n_assets()))
            .map_or("?", String::as_str)
    };
    let cols = vec![
        ts(trades.iter().map(|t| stamp(t.bar)).collect()),
        i64s(trades.iter().map(|t| t.fold as i64).collect()),
        strs(trades.iter().map(|t| symbol(t.asset))),
        strs(
            trades
                .iter()
                .map(|t| if t.quantity > 0.0 { "buy" } else { "sell" }),
        ),
        f64s(trades.iter().map(|t| t.requested.abs()).collect()),
        f64s(trades.iter().map(|t| t.quantity.abs()).collect()),
        f64s(trades.iter().map(|t| t.price).collect()),
        f64s(trades.iter().map(|t| t.notional).collect()),
        strs(trades.iter().map(venue)),
        i64s(trades.iter().map(|t| t.parent_id as i64).collect()),
        i64s(trades.iter().map(|t| i64::from(t.slice)).collect()),
        f64s(trades.iter().map(|t| t.impact_cost).collect()),
        f64s(trades.iter().map(|t| t.fee).collect()),
        strs(trades.iter().map(|t| t.reason.name())),
        f64s(trades.iter().map(|t| t.spread_cost).collect()),
        f64s(trades.iter().map(|t| t.participation).collect()),
    ];
    let mut sink = out.sink("trades.parquet", schema.clone(), cpu)?;
    sink.write(&batch(&schema, cols)?)?;
    sink.finish()?;

    let d = &wf.replay.decisions;
    let schema = decisions_schema();
    let mut cols = vec![
        ts(d.iter().map(|r| stamp(r.bar)).collect()),
        i64s(d.iter().map(|r| r.fold as i64).collect()),
        strs(d.iter().map(|r| panel.symbols[r.record.asset].as_str())),
        opt_f64s(
            d.iter()
                .map(|r| {
                    let p = r.record.edge_probability;
                    p.is_finite().then_some(p)
                })
                .collect(),
        ),
        f64s(d.iter().map(|r| r.record.kelly_fraction).collect()),
        f64s(d.iter().map(|r| r.record.regime_multiplier).collect()),
        f64s(d.iter().map(|r| r.record.size_before).collect()),
        f64s(d.iter().map(|r| r.record.size_after).collect()),
    ];
    for k in 0..CONSTRAINTS.len() {
        cols.push(f64s(d.iter().map(|r| r.record.cuts[k]).collect()));
    }
    let binding: Vec<String> = d
        .iter()
        .map(|r| {
            CONSTRAINTS
                .iter()
                .zip(&r.record.cuts)
                .filter(|&(_, &c)| c > 0.0)
                .map(|(c, _)| c.name())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    cols.push(strs(binding.iter().map(String::as_str)));
    let mut sink = out.sink("decisions.parquet", schema.clone(), cpu)?;
    sink.write(&batch(&schema, cols)?)?;
    sink.finish()?;
    if let Some(h) = &wf.replay.hedge {
        write_hedges(out, panel, h)?;
    }
    Ok(())
}

/// Schema of `hedges.parquet`.
pub fn hedges_schema() -> Arc<Schema> {
    let f = |n: &str| Field::new(n, DataType::Float64, false);
    Arc::new(Schema::new(vec![
        ts_field("timestamp"),
        Field::new("instrument", DataType::Utf8, false),
        f("beta_before"),
        f("beta_after"),
        f("correlation"),
        f("hedge_weight"),
    ]))
}

/// Writes `hedges.parquet`: per decision bar and instrument, the book's beta
/// before and after hedging, its correlation and the hedge weight.
fn write_hedges(
    out: &ParquetOut<'_>,
    panel: &Panel,
    h: &crate::walkforward::HedgeOutcome,
) -> anyhow::Result<()> {
    let rows = &h.rows;
    let schema = hedges_schema();
    let e = |f: fn(&crate::walkforward::hedge::Exposure) -> f64| {
        f64s(rows.iter().map(|r| f(&r.exposure)).collect())
    };
    let cols = vec![
        ts(rows.iter().map(|r| panel.timestamps[r.bar]).collect()),
        strs(rows.iter().map(|r| h.symbols[r.instrument].as_str())),
        e(|x| x.beta_before),
        e(|x| x.beta_after),
        e(|x| x.correlation),
        e(|x| x.weight),
    ];
    let mut sink = out.sink("hedges.parquet", schema.clone(), BackendKind::Cpu)?;
    sink.write(&batch(&schema, cols)?)?;
    sink.finish()
}

/// Writes the walk-forward Parquet reports (computed on the CPU).
pub fn write_parquet(out: &ParquetOut<'_>, panel: &Panel, wf: &Walkforward) -> anyhow::Result<()> {
    let cpu = BackendKind::Cpu;
    let stamp = |bar: usize| panel.timestamps[bar];
    let folds = &wf.folds;
    write_account(out, panel, wf)?;
    write_strategies(out, panel, wf)?;

    let schema = folds_schema();
    let m = |f: &dyn Fn(&crate::walkforward::FoldResult) -> Option<f64>| -> ArrayRef {
        opt_f64s(folds.iter().map(f).collect())
    };
    let cols = vec![
        i64s(folds.iter().map(|f| f.fold.index as i64).collect()),
        ts(folds.iter().map(|f| stamp(f.fold.train_start)).collect()),
        ts(folds.iter().map(|f| stamp(f.fold.train_end)).collect()),
        ts(folds.iter().map(|f| stamp(f.fold.test_start)).collect()),
        ts(folds.iter().map(|f| stamp(f.fold.test_end)).collect()),
        m(&|f| f.metrics.sharpe),
        m(&|f| f.metrics.sortino),
        f64s(folds.iter().map(|f| f.metrics.max_drawdown).collect()),
        f64s(folds.iter().map(|f| f.metrics.total_return).collect()),
        m(&|f| f.metrics.win_rate),
        m(&|f| f.metrics.edge_precision),
        i64s(folds.iter().map(|f| f.metrics.n_trades as i64).collect()),
        m(&|f| f.metrics.turnover),
        m(&|f| f.metrics.brier),
    ];
    let mut sink = out.sink("folds.parquet", schema.clone(), cpu)?;
    sink.write(&batch(&schema, cols)?)?;
    sink.finish()?;

    let schema = Arc::new(Schema::new(vec![
        ts_field("timestamp"),
        Field::new("fold", DataType::Int64, false),
        Field::new("return", DataType::Float64, false),
        Field::new("equity", DataType::Float64, false),
    ]));
    let mut sink = out.sink("oos_returns.parquet", schema.clone(), cpu)?;
    let mut equity = 1.0;
    for f in folds {
        let n = f.returns.len();
        let mut eq = Vec::with_capacity(n);
        for r in &f.returns {
            equity *= 1.0 + r;
            eq.push(equity);
        }
        let cols = vec![
            ts((0..n).map(|k| stamp(f.fold.test_start + 1 + k)).collect()),
            i64s(vec![f.fold.index as i64; n]),
            f64s(f.returns.clone()),
            f64s(eq),
        ];
        sink.write(&batch(&schema, cols)?)?;
    }
    sink.finish()?;

    let schema = Arc::new(Schema::new(vec![
        ts_field("timestamp"),
        Field::new("symbol", DataType::Utf8, false),
        Field::new("fold", DataType::Int64, false),
        Field::new("regime", DataType::Utf8, false),
        Field::new("edge_probability", DataType::Float64, false),
        Field::new("edge_strength", DataType::Float64, false),
        Field::new("label", DataType::Boolean, true),
    ]));
    let mut sink = out.sink("predictions.parquet", schema.clone(), cpu)?;
    for f in folds {
        let p = &f.predictions;
        let cols: Vec<ArrayRef> = vec![
            ts(p.iter().map(|p| stamp(p.bar)).collect()),
            Arc::new(StringArray::from_iter_values(
                p.iter().map(|p| panel.symbols[p.asset].as_str()),
            )),
            i64s(vec![f.fold.index as i64; p.len()]),
            Arc::new(StringArray::from_iter_values(
                p.iter()
                    .map(|p| f.regimes[p.bar - f.fold.test_start].name()),
            )),
            f64s(p.iter().map(|p| p.edge_probability).collect()),
            f64s(p.iter().map(|p| p.edge_strength).collect()),
            Arc::new(BooleanArray::from(
                p.iter().map(|p| p.label).collect::<Vec<_>>(),
            )),
        ];
        sink.write(&batch(&schema, cols)?)?;
    }
    sink.finish()?;

    let regime_set = folds.first().map(|f| f.regime_set).unwrap_or(&[]);
    let mut fields = vec![
        ts_field("timestamp"),
        Field::new("fold", DataType::Int64, false),
        Field::new("regime", DataType::Utf8, false),
    ];
    fields.extend(
        regime_set
            .iter()
            .map(|r| Field::new(format!("p_{}", r.name()), DataType::Float64, false)),
    );
    let schema = Arc::new(Schema::new(fields));
    let mut sink = out.sink("regimes.parquet", schema.clone(), cpu)?;
    for f in folds {
        let n = f.regimes.len();
        let mut cols = vec![
            ts((0..n).map(|k| stamp(f.fold.test_start + k)).collect()),
            i64s(vec![f.fold.index as i64; n]),
            Arc::new(StringArray::from_iter_values(
                f.regimes.iter().map(|r| r.name()),
            )) as ArrayRef,
        ];
        for j in 0..regime_set.len() {
            cols.push(f64s(f.regime_probs.column(j).to_vec()));
        }
        sink.write(&batch(&schema, cols)?)?;
    }
    sink.finish()
}

/// Schema of `strategies.parquet`: each strategy's continuous account per bar.
pub fn strategies_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        ts_field("timestamp"),
        Field::new("strategy", DataType::Utf8, false),
        Field::new("return", DataType::Float64, false),
        Field::new("equity", DataType::Float64, false),
    ]))
}

/// Writes `strategies.parquet`: the replayed strategy, then each compared one,
/// on the out-of-sample calendar (equity starts at 1.0 before the first bar).
fn write_strategies(out: &ParquetOut<'_>, panel: &Panel, wf: &Walkforward) -> anyhow::Result<()> {
    let schema = strategies_schema();
    let mut sink = out.sink("strategies.parquet", schema.clone(), BackendKind::Cpu)?;
    let start = wf.replay.start;
    for s in &wf.strategies {
        let n = s.returns.len();
        let mut equity = 1.0;
        let eq: Vec<f64> = s
            .returns
            .iter()
            .map(|r| {
                equity *= 1.0 + r;
                equity
            })
            .collect();
        let cols = vec![
            ts((0..n).map(|k| panel.timestamps[start + 1 + k]).collect()),
            strs((0..n).map(|_| s.name.as_str())),
            f64s(s.returns.clone()),
            f64s(eq),
        ];
        sink.write(&batch(&schema, cols)?)?;
    }
    sink.finish()
}
