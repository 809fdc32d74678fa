//! Alert routing: `[monitor] on_warning` / `on_critical` name a shell command
//! run once per alert of that severity, with the alert as one JSON object on
//! stdin (how users wire Slack, PagerDuty or mail; chloe itself talks to no
//! network).
//!
//! A command that fails, cannot start or outlives `command_timeout_s` (then
//! killed) is logged with its exit status and never fails the run. All
//! commands of a run share `routing_budget_s`: once it is spent, the remaining
//! alerts are logged as not routed, so an alert storm cannot hold a run.

use std::{
    io::Write,
    process::{Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use super::{Alert, Severity};
use crate::config::monitor::MonitorSpec;

/// How one routed alert ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The command exited 0.
    Delivered,
    /// The command exited non-zero or was killed by a signal.
    Failed(String),
    /// The command did not start.
    NotStarted(String),
    /// The command ran past the timeout and was killed.
    TimedOut,
    /// The routing budget was spent before this alert.
    OverBudget,
}

/// Counts of routed alerts by how they ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RoutingReport {
    /// Commands that exited 0.
    pub delivered: usize,
    /// Commands that failed, did not start or timed out.
    pub failed: usize,
    /// Alerts not routed because the budget was spent.
    pub not_routed: usize,
}

/// The JSON object a routing command reads on stdin.
pub fn alert_json(job: &str, a: &Alert) -> String {
    let ts = a
        .timestamp
        .and_then(chrono::DateTime::from_timestamp_micros);
    let num = |v: f64| v.is_finite().then_some(v);
    serde_json::json!({
        "job": job,
        "timestamp": ts.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        "severity": a.severity.name(),
        "rule": a.rule,
        "value": num(a.value),
        "limit": a.limit.and_then(num),
        "symbol": a.symbol,
        "message": a.message,
    })
    .to_string()
}

fn status_text(s: ExitStatus) -> String {
    match s.code() {
        Some(c) => format!("exit status {c}"),
        None => format!("{s}"),
    }
}

/// Runs `command` with `stdin` as its input, killing it after `timeout`.
pub fn run_command(command: &str, stdin: &str, timeout: Duration) -> Delivery {
    let mut child = match Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Delivery::NotStarted(e.to_string()),
    };
    // A command that does not read its input closes the pipe: not an error here.
    if let Some(mut pipe) = child.stdin.take() {
        let _ = pipe.write_all(stdin.as_bytes());
        let _ = pipe.write_all(b"\n");
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return Delivery::Delivered,
            Ok(Some(s)) => return Delivery::Failed(status_text(s)),
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Delivery::TimedOut;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Delivery::Failed(e.to_string()),
        }
    }
}

/// Routes every alert to its severity's command, in alert order.
pub fn route(spec: &MonitorSpec, job: &str, alerts: &[Alert]) -> RoutingReport {
    let mut report = RoutingReport::default();
    let budget = Duration::from_secs_f64(spec.routing_budget_s);
    let timeout = Duration::from_secs_f64(spec.command_timeout_s);
    let started = Instant::now();
    for a in alerts {
        let cmd = match a.severity {
            Severity::Warning => spec.on_warning.as_deref(),
            Severity::Critical => spec.on_critical.as_deref(),
        };
        let Some(cmd) = cmd else { continue };
        let left = budget.saturating_sub(started.elapsed());
        let d = if left.is_zero() {
            Delivery::OverBudget
        } else {
            run_command(cmd, &alert_json(job, a), timeout.min(left))
        };
        let key = if a.severity == Severity::Warning {
            "monitor.on_warning"
        } else {
            "monitor.on_critical"
        };
        match d {
            Delivery::Delivered => report.delivered += 1,
            Delivery::OverBudget => report.not_routed += 1,
            Delivery::Failed(s) => {
                report.failed += 1;
                tracing::warn!(
                    "{key} command failed ({s}) for the {} alert: {}",
                    a.rule,
                    a.message
                );
            }
            Delivery::NotStarted(e) => {
                report.failed += 1;
                tracing::warn!("{key} command did not start ({e}) for the {} alert", a.rule);
            }
            Delivery::TimedOut => {
                report.failed += 1;
                tracing::warn!(
                    "{key} command ran past {:.1} s and was killed (the {} alert)",
                    timeout.min(left).as_secs_f64(),
                    a.rule
                );
            }
        }
    }
    if report.not_routed > 0 {
        tracing::warn!(
            "monitor.routing_budget_s ({} s) spent: {} alerts not routed (all are in alerts.parquet)",
            spec.routing_budget_s,
            report.not_routed
        );
    }
    report
}

/// One stderr line per alert, the first `max` of them, then a count of the rest.
pub fn log(alerts: &[Alert], max: usize) {
    for a in alerts.iter().take(max) {
        let when = a
            .timestamp
            .and_then(chrono::DateTime::from_timestamp_micros)
            .map_or("-".to_string(), |t| t.format("%Y-%m-%d").to_string());
        match a.severity {
            Severity::Critical => tracing::error!("CRITICAL {when} {}: {}", a.rule, a.message),
            Severity::Warning => tracing::warn!("WARNING {when} {}: {}", a.rule, a.message),
        }
    }
    if alerts.len() > max {
        let crit = alerts[max..]
            .iter()
            .filter(|a| a.severity == Severity::Critical)
            .count();
        tracing::warn!(
            "... and {} more alerts ({crit} CRITICAL); all are in alerts.parquet",
            alerts.len() - max
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_deliver_fail_and_time_out() {
        let t = Duration::from_secs(5);
        assert_eq!(run_command("cat > /dev/null", "{}", t), Delivery::Delivered);
        assert_eq!(
            run_command("exit 3", "{}", t),
            Delivery::Failed("exit status 3".into())
        );
        let started = Instant::now();
        assert_eq!(
            run_command("sleep 30", "{}", Duration::from_millis(200)),
            Delivery::TimedOut
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn json_has_every_field() {
        let a = Alert {
            timestamp: Some(86_400_000_000),
            severity: Severity::Critical,
            rule: "drawdown",
            value: 0.2,
            limit: Some(0.15),
            symbol: None,
            message: "m".into(),
        };
        let v: serde_json::Value = serde_json::from_str(&alert_json("j", &a)).unwrap();
        assert_eq!(v["timestamp"], "1970-01-02T00:00:00Z");
        assert_eq!(v["severity"], "CRITICAL");
        assert_eq!(v["limit"], 0.15);
        assert!(v["symbol"].is_null());
    }
}
