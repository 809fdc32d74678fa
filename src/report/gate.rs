//! The gate's verdict as files: `gate.json` (serde) and `gate.xml` (JUnit XML).
//!
//! One JUnit testcase per check: a failed check is a `<failure>` whose message
//! has the measured value and the limit; a check that does not apply (no stress
//! report, no baseline, an all-cash book) is `<skipped>` with the reason. GitLab,
//! Jenkins and the GitHub test-report actions read this layout.

use std::{fmt::Write as _, path::Path};

use serde::Serialize;

use crate::{atomic::write_atomic, error::Exit};

/// File name of the JSON verdict.
pub const GATE_JSON: &str = "gate.json";
/// File name of the JUnit verdict.
pub const GATE_XML: &str = "gate.xml";

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The value is within the limit.
    Passed,
    /// The value is beyond the limit, or could not be computed.
    Failed,
    /// The check does not apply to this run; it neither passes nor fails it.
    Skipped,
}

/// Verdict of the whole gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No check failed (skipped checks do not fail the gate).
    Pass,
    /// At least one check failed.
    Fail,
}

/// One threshold checked against one measured value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Testcase name: the job key, with a suffix when one key gives several checks.
    pub name: String,
    /// The `[gate]` key that set the limit.
    pub threshold: String,
    /// Measured value; null when it could not be measured.
    pub value: Option<f64>,
    /// The limit.
    pub limit: f64,
    /// passed, failed or skipped.
    pub status: Status,
    /// What was measured and why the check has this status.
    pub why: String,
}

/// Comparison of the candidate run with a baseline run on common out-of-sample bars.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselineComparison {
    /// The baseline output folder, as given.
    pub dir: String,
    /// Out-of-sample bars present in both runs.
    pub common_bars: usize,
    /// Candidate stitched Sharpe on the common bars.
    pub candidate_sharpe: Option<f64>,
    /// Baseline stitched Sharpe on the common bars.
    pub baseline_sharpe: Option<f64>,
    /// Candidate minus baseline Sharpe on the common bars.
    pub sharpe_difference: Option<f64>,
    /// Paired stationary-bootstrap interval of the difference.
    pub sharpe_difference_ci: Option<[f64; 2]>,
    /// Two-sided level of that interval.
    pub ci_level: f64,
    /// Share of resamples where the candidate's Sharpe is higher (ties count one half).
    pub prob_better: Option<f64>,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Candidate stitched max drawdown on the common bars.
    pub candidate_max_drawdown: Option<f64>,
    /// Baseline stitched max drawdown on the common bars.
    pub baseline_max_drawdown: Option<f64>,
    /// Candidate edge precision (all its predictions).
    pub candidate_edge_precision: Option<f64>,
    /// Baseline edge precision (all its predictions).
    pub baseline_edge_precision: Option<f64>,
    /// What differs between the two runs (data hash, fold plan); empty when comparable.
    pub differences: Vec<String>,
}

/// Check counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Checks that passed.
    pub passed: usize,
    /// Checks that failed.
    pub failed: usize,
    /// Checks that were skipped.
    pub skipped: usize,
}

/// Everything `gate.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateOutcome {
    /// pass or fail.
    pub verdict: Verdict,
    /// Checks by status.
    pub counts: Counts,
    /// Every configured check, in threshold order.
    pub checks: Vec<Check>,
    /// The comparison with `--baseline`, when one was given.
    pub baseline: Option<BaselineComparison>,
}

impl GateOutcome {
    /// Builds the outcome; the verdict is fail when any check failed.
    pub fn new(checks: Vec<Check>, baseline: Option<BaselineComparison>) -> Self {
        let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
        let counts = Counts {
            passed: count(Status::Passed),
            failed: count(Status::Failed),
            skipped: count(Status::Skipped),
        };
        let verdict = if counts.failed > 0 {
            Verdict::Fail
        } else {
            Verdict::Pass
        };
        Self {
            verdict,
            counts,
            checks,
            baseline,
        }
    }

    /// True when the gate passed.
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }

    /// The process exit code of this verdict: 0 pass, 1 fail.
    pub fn exit(&self) -> Exit {
        match self.verdict {
            Verdict::Pass => Exit::Ok,
            Verdict::Fail => Exit::GateFailed,
        }
    }
}

/// Writes `gate.json` and `gate.xml` into `dir` atomically; touches no other file.
pub fn write_gate_files(dir: &Path, outcome: &GateOutcome) -> anyhow::Result<()> {
    let mut json = serde_json::to_string_pretty(outcome)?;
    json.push('\n');
    write_atomic(&dir.join(GATE_JSON), json.as_bytes())?;
    write_atomic(&dir.join(GATE_XML), junit_xml(outcome).as_bytes())
}

/// A number for a message: up to 6 decimals, trailing zeros dropped.
pub fn fmt_value(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// The JUnit XML document of an outcome.
pub fn junit_xml(outcome: &GateOutcome) -> String {
    let c = outcome.counts;
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"chloe\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
        outcome.checks.len(),
        c.failed,
        c.skipped
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"chloe gate\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
        outcome.checks.len(),
        c.failed,
        c.skipped
    );
    for check in &outcome.checks {
        let _ = write!(
            x,
            "    <testcase classname=\"chloe.gate\" name=\"{}\"",
            escape(&check.name)
        );
        match check.status {
            Status::Passed => {
                let _ = writeln!(
                    x,
                    ">\n      <system-out>{}</system-out>\n    </testcase>",
                    escape(&check.why)
                );
            }
            Status::Skipped => {
                let _ = writeln!(
                    x,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(&check.why)
                );
            }
            Status::Failed => {
                let value = check.value.map_or_else(|| "null".into(), fmt_value);
                let relation = if check.threshold.starts_with("max_") {
                    "<="
                } else {
                    ">="
                };
                let message = format!(
                    "{}: measured {value}, required {relation} {}",
                    check.name,
                    fmt_value(check.limit)
                );
                let _ = writeln!(
                    x,
                    ">\n      <failure message=\"{}\" type=\"threshold\">{}</failure>\n    </testcase>",
                    escape(&message),
                    escape(&check.why)
                );
            }
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// Escapes text for XML 1.0 attributes and content; characters XML cannot hold
/// (most C0 controls) become U+FFFD.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Character references keep line breaks and tabs in attribute values,
            // which parsers otherwise normalise to spaces.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use quick_xml::{Reader, events::Event};

    use super::*;

    fn check(name: &str, value: Option<f64>, limit: f64, status: Status, why: &str) -> Check {
        Check {
            name: name.into(),
            threshold: name.split('.').next().unwrap().into(),
            value,
            limit,
            status,
            why: why.into(),
        }
    }

    /// One testcase as read back by an independent parser.
    #[derive(Debug, Default)]
    struct Case {
        name: String,
        classname: String,
        failure: Option<String>,
        skipped: Option<String>,
    }

    /// Parses the document with quick-xml; returns suite attributes and cases.
    fn parse(xml: &str) -> (Vec<(String, String)>, Vec<Case>) {
        let mut reader = Reader::from_str(xml);
        let mut suite = Vec::new();
        let mut cases: Vec<Case> = Vec::new();
        let mut stack: Vec<String> = Vec::new();
        let attrs = |e: &quick_xml::events::BytesStart| -> Vec<(String, String)> {
            e.attributes()
                .map(|a| {
                    let a = a.unwrap();
                    (
                        String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                        a.unescape_value().unwrap().into_owned(),
                    )
                })
                .collect()
        };
        let get = |v: &[(String, String)], k: &str| {
            v.iter().find(|(a, _)| a == k).map(|(_, b)| b.clone())
        };
        loop {
            let (e, empty) = match reader.read_event().unwrap() {
                Event::Eof => break,
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(_) => {
                    stack.pop();
                    continue;
                }
                _ => continue,
            };
            let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
            let a = attrs(&e);
            let parent = stack.last().cloned().unwrap_or_default();
            match name.as_str() {
                "testsuite" => {
                    assert_eq!(parent, "testsuites");
                    suite = a;
                }
                "testcase" => {
                    assert_eq!(parent, "testsuite");
                    cases.push(Case {
                        name: get(&a, "name").unwrap(),
                        classname: get(&a, "classname").unwrap(),
                        ..Default::default()
                    });
                }
                "failure" => {
                    assert_eq!(parent, "testcase");
                    cases.last_mut().unwrap().failure = get(&a, "message");
                }
                "skipped" => {
                    assert_eq!(parent, "testcase");
                    cases.last_mut().unwrap().skipped = get(&a, "message");
                }
                _ => {}
            }
            if !empty {
                stack.push(name);
            }
        }
        assert!(stack.is_empty(), "unclosed elements {stack:?}");
        (suite, cases)
    }

    #[test]
    fn junit_reads_back_with_an_independent_parser() {
        let nasty = "fold 3 <worst> & \"quoted\" 'x'\nsecond line\u{1}";
        let outcome = GateOutcome::new(
            vec![
                check(
                    "min_avg_sharpe",
                    Some(0.3125),
                    0.8,
                    Status::Failed,
                    "mean of 12 folds",
                ),
                check(
                    "max_drawdown.stitched",
                    Some(0.1),
                    0.15,
                    Status::Passed,
                    "ok",
                ),
                check(
                    "max_drawdown.worst_fold",
                    Some(0.2),
                    0.15,
                    Status::Failed,
                    nasty,
                ),
                check("min_psr", None, 0.9, Status::Failed, "too few bars"),
                check("max_stress_var_99", None, 0.1, Status::Skipped, nasty),
            ],
            None,
        );
        assert_eq!(outcome.verdict, Verdict::Fail);
        let xml = junit_xml(&outcome);
        let (suite, cases) = parse(&xml);
        let attr = |k: &str| suite.iter().find(|(a, _)| a == k).unwrap().1.clone();
        assert_eq!(attr("name"), "chloe gate");
        assert_eq!(attr("tests"), "5");
        assert_eq!(attr("failures"), "3");
        assert_eq!(attr("skipped"), "1");
        assert_eq!(cases.len(), 5);
        assert!(cases.iter().all(|c| c.classname == "chloe.gate"));
        assert_eq!(cases[0].name, "min_avg_sharpe");
        assert_eq!(
            cases[0].failure.as_deref(),
            Some("min_avg_sharpe: measured 0.3125, required >= 0.8")
        );
        assert!(cases[1].failure.is_none() && cases[1].skipped.is_none());
        assert_eq!(
            cases[2].failure.as_deref(),
            Some("max_drawdown.worst_fold: measured 0.2, required <= 0.15")
        );
        assert_eq!(
            cases[3].failure.as_deref(),
            Some("min_psr: measured null, required >= 0.9")
        );
        // The reason survives escaping, line break included; the control char is replaced.
        assert_eq!(
            cases[4].skipped.as_deref(),
            Some("fold 3 <worst> & \"quoted\" 'x'\nsecond line\u{FFFD}")
        );
    }

    #[test]
    fn empty_gate_is_a_passing_empty_suite() {
        let outcome = GateOutcome::new(vec![], None);
        assert!(outcome.passed());
        let (suite, cases) = parse(&junit_xml(&outcome));
        assert!(cases.is_empty());
        assert!(suite.contains(&("tests".into(), "0".into())));
    }

    #[test]
    fn files_are_written_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("summary.json"), "{}").unwrap();
        let outcome = GateOutcome::new(
            vec![check("min_psr", Some(0.95), 0.9, Status::Passed, "ok")],
            None,
        );
        write_gate_files(dir.path(), &outcome).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["gate.json", "gate.xml", "summary.json"]);
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("gate.json")).unwrap()).unwrap();
        assert_eq!(json["verdict"], "pass");
        assert_eq!(json["checks"][0]["status"], "passed");
        assert_eq!(json["checks"][0]["value"], 0.95);
        assert_eq!(json["counts"]["passed"], 1);
        assert!(json["baseline"].is_null());
    }

    #[test]
    fn numbers_in_messages() {
        assert_eq!(fmt_value(0.15), "0.15");
        assert_eq!(fmt_value(2.0), "2");
        assert_eq!(fmt_value(-0.0000001), "0");
        assert_eq!(fmt_value(-1.25), "-1.25");
    }
}
