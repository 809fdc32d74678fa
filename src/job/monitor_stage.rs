//! The monitor and the page as the runner calls them: limit checks over the
//! stages' results (alerts.parquet, monitor.parquet, correlation.parquet),
//! report.html from the staged folder, and alert routing once the run's
//! folder is committed.

use std::{path::Path, time::Instant};

use super::StressStage;
use crate::{
    config::JobSpec,
    data::Panel,
    monitor::{self, Inputs, Monitor},
    report::{
        self, ParquetOut,
        summary::{MonitorSection, StageTimes, Summary},
    },
    walkforward::Walkforward,
};

/// Alerts printed one per line before they are summarized.
const LOG_ALERTS: usize = 20;

/// Runs the monitor over the run's results and writes its reports.
pub fn run(
    spec: &JobSpec,
    panel: Option<&Panel>,
    wf: Option<&Walkforward>,
    stress: Option<&StressStage>,
    parquet: &ParquetOut<'_>,
    times: &mut StageTimes,
) -> anyhow::Result<Monitor> {
    let t = Instant::now();
    let summaries = match stress {
        Some(StressStage::Ran(r)) => Some(r.outcome.summaries.as_slice()),
        _ => None,
    };
    let inputs = Inputs::from_run(panel, wf, summaries);
    let mon = monitor::run(&spec.monitor, &inputs);
    report::alerts::write(parquet, inputs.symbols, &mon)?;
    monitor::route::log(&mon.alerts, LOG_ALERTS);
    times.monitor_s = Some(t.elapsed().as_secs_f64());
    Ok(mon)
}

/// summary.json `monitor`: counts per severity and rule, and the rules.
pub fn section(spec: &JobSpec, mon: &Monitor) -> MonitorSection {
    let mut by_rule = std::collections::BTreeMap::new();
    for a in &mon.alerts {
        *by_rule.entry(a.rule).or_default() += 1;
    }
    MonitorSection {
        alerts: mon.counts(),
        by_rule,
        rules: spec.monitor.clone(),
    }
}

/// Builds report.html from the staged folder (the same function as `chloe
/// report`), then rewrites summary.json with the page's wall time.
pub fn page(dir: &Path, summary: &mut Summary, started: Instant) -> anyhow::Result<()> {
    let t = Instant::now();
    report::html::write(dir)?;
    let w = &mut summary.run.wall_times;
    w.html_s = Some(t.elapsed().as_secs_f64());
    w.total_s = started.elapsed().as_secs_f64();
    let mut text = serde_json::to_string_pretty(summary)?;
    text.push('\n');
    report::write_atomic(&dir.join("summary.json"), text.as_bytes())
}

/// Hands the alerts to the job's routing commands (after the folder is committed).
pub fn route(spec: &JobSpec, mon: &Monitor) {
    let m = &spec.monitor;
    if m.on_warning.is_none() && m.on_critical.is_none() {
        return;
    }
    let r = monitor::route::route(m, &spec.name, &mon.alerts);
    tracing::info!(
        "alerts routed: {} delivered, {} failed, {} not routed",
        r.delivered,
        r.failed,
        r.not_routed
    );
}
