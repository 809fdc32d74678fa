//! `chloe gate`: verdicts and JUnit output on a real walk-forward folder of the
//! shipped nightly job, the baseline comparison, input errors.

use std::{
    collections::BTreeMap,
    fs::File,
    path::{Path, PathBuf},
};

use parquet::{
    arrow::{ArrowWriter, arrow_reader::ParquetRecordBatchReaderBuilder},
    file::{metadata::KeyValue, properties::WriterProperties},
};
use quick_xml::{Reader, events::Event};

use crate::util::{chloe, root, tempdir};

const HASH_KEY: &str = "chloe.data_sha256";

/// Runs today's walk-forward of the nightly job into `dir/name`.
/// The shipped nightly job without its `[gate]` section (these tests set
/// thresholds with flags), run into `dir/name`.
fn nightly(dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let text = std::fs::read_to_string(root().join("jobs/nightly.toml")).unwrap();
    let text = text.split("\n[gate]").next().unwrap().replace(
        "\"../datasets/",
        &format!("\"{}/", root().join("datasets").display()),
    );
    let job = dir.join("nightly-no-gate.toml");
    std::fs::write(&job, text).unwrap();
    let r = chloe(
        dir,
        &[
            "walkforward",
            job.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

/// Rewrites `oos_returns.parquet` of `dir` with `chloe.data_sha256 = hash`.
fn stamp_hash(dir: &Path, hash: &str) {
    let path = dir.join("oos_returns.parquet");
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
    let schema = reader.schema().clone();
    let batches: Vec<_> = reader.build().unwrap().map(|b| b.unwrap()).collect();
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(vec![KeyValue::new(HASH_KEY.into(), hash.to_string())]))
        .build();
    let mut w = ArrowWriter::try_new(File::create(&path).unwrap(), schema, Some(props)).unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

fn has_hash(dir: &Path) -> bool {
    let f = File::open(dir.join("oos_returns.parquet")).unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    b.metadata()
        .file_metadata()
        .key_value_metadata()
        .is_some_and(|kv| kv.iter().any(|k| k.key == HASH_KEY))
}

fn gate(dir: &Path, args: &[&str]) -> crate::util::Run {
    let mut all = vec!["gate", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    chloe(dir, &all)
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every file of `dir` except the gate files, with its bytes.
fn reports(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("gate.json") && !p.ends_with("gate.xml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// `(testsuite attributes, [(testcase name, failure message, skipped message)])`
/// as read by quick-xml.
type Cases = Vec<(String, Option<String>, Option<String>)>;

fn junit(path: &Path) -> (BTreeMap<String, String>, Cases) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut reader = Reader::from_str(&text);
    let (mut suite, mut cases) = (BTreeMap::new(), Cases::new());
    loop {
        let e = match reader.read_event().unwrap() {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => e,
            _ => continue,
        };
        let attrs: BTreeMap<String, String> = e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                (
                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                    a.unescape_value().unwrap().into_owned(),
                )
            })
            .collect();
        match e.name().as_ref() {
            b"testsuite" => suite = attrs,
            b"testcase" => cases.push((attrs["name"].clone(), None, None)),
            b"failure" => cases.last_mut().unwrap().1 = attrs.get("message").cloned(),
            b"skipped" => cases.last_mut().unwrap().2 = attrs.get("message").cloned(),
            _ => {}
        }
    }
    (suite, cases)
}

#[test]
fn nightly_folder_gates_pass_fail_and_baseline() {
    let tmp = tempdir();
    let out = nightly(tmp.path(), "run");
    let before = reports(&out);

    let r = gate(&out, &["--min-avg-sharpe", "-100"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(json(&out.join("gate.json"))["verdict"], "pass");
    let (suite, cases) = junit(&out.join("gate.xml"));
    assert_eq!(suite["name"], "chloe gate");
    assert_eq!(
        (suite["tests"].as_str(), suite["failures"].as_str()),
        ("1", "0")
    );
    assert_eq!(cases, [("min_avg_sharpe".into(), None, None)]);

    let r = gate(
        &out,
        &["--min-avg-sharpe", "100", "--max-stress-var-99", "0.1"],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAIL min_avg_sharpe"), "{}", r.stdout);
    let (suite, cases) = junit(&out.join("gate.xml"));
    assert_eq!(suite["tests"], "2");
    assert_eq!(suite["failures"], "1");
    assert_eq!(suite["skipped"], "1");
    let fail = cases[0].1.as_deref().unwrap();
    assert!(fail.starts_with("min_avg_sharpe: measured ") && fail.ends_with("required >= 100"));
    assert_eq!(cases[1].0, "max_stress_var_99");
    assert!(
        cases[1]
            .2
            .as_deref()
            .unwrap()
            .contains("stress_summary.parquet is absent")
    );
    assert_eq!(json(&out.join("gate.json"))["verdict"], "fail");

    // The gate's values from the files equal the walk-forward's in-memory aggregate.
    let loose = [
        "--min-avg-sharpe",
        "-100",
        "--min-stitched-sharpe",
        "-100",
        "--min-psr",
        "0",
        "--min-dsr",
        "0",
        "--min-edge-precision",
        "0",
        "--min-precision-lift",
        "-1",
        "--min-consistency",
        "0",
        "--max-drawdown",
        "1",
    ];
    let r = gate(&out, &loose);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let g = json(&out.join("gate.json"));
    let agg = &json(&out.join("summary.json"))["walkforward"]["aggregate"];
    let value = |name: &str| {
        g["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))["value"]
            .as_f64()
            .unwrap()
    };
    let a = |k: &str| agg[k].as_f64().unwrap();
    for (check, key) in [
        ("min_avg_sharpe", "avg_sharpe"),
        ("min_stitched_sharpe", "stitched_sharpe"),
        ("min_psr", "psr"),
        ("min_dsr", "dsr"),
        ("min_edge_precision", "edge_precision"),
        ("min_consistency", "consistency"),
        ("max_drawdown.worst_fold", "worst_drawdown"),
    ] {
        assert!((value(check) - a(key)).abs() < 1e-12, "{check} vs {key}");
    }
    let lift = a("edge_precision") - a("base_rate");
    assert!((value("min_precision_lift") - lift).abs() < 1e-12);
    assert_eq!(g["counts"]["passed"], 9);

    // A job file without [gate] configures nothing: pass with no testcases.
    let job = tmp.path().join("nightly-no-gate.toml");
    let r = gate(&out, &["--job", job.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(junit(&out.join("gate.xml")).0["tests"], "0");
    // The shipped job's [gate]: its four thresholds (max_drawdown is two
    // checks: the worst fold and the stitched account).
    let shipped = root().join("jobs/nightly.toml");
    let r = gate(&out, &["--job", shipped.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(junit(&out.join("gate.xml")).0["tests"], "5");

    // Only the gate files were ever rewritten.
    assert_eq!(reports(&out), before);

    // Baseline with itself: refused while the data hash is unknown, unless allowed.
    let relative = [
        "--max-sharpe-drop",
        "0",
        "--max-drawdown-increase",
        "0",
        "--max-precision-drop",
        "0",
        "--min-prob-better",
        "0.5",
    ];
    let with = |base: &Path, extra: &[&str]| {
        let mut args = vec!["--baseline", base.to_str().unwrap()];
        args.extend_from_slice(&relative);
        args.extend_from_slice(extra);
        gate(&out, &args)
    };
    if !has_hash(&out) {
        let r = with(&out, &[]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("data hash unknown"), "{}", r.stderr);
        let r = with(&out, &["--allow-different-data"]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        stamp_hash(&out, &"0f".repeat(32));
    }
    let r = with(&out, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let (_, cases) = junit(&out.join("gate.xml"));
    assert_eq!(cases.len(), 4);
    assert!(
        cases.iter().all(|c| c.1.is_none() && c.2.is_none()),
        "{cases:?}"
    );
    let b = &json(&out.join("gate.json"))["baseline"];
    assert_eq!(b["sharpe_difference"], 0.0);
    assert_eq!(b["prob_better"], 0.5);
    assert_eq!(b["common_bars"], agg["oos_bars"]);

    // A run on different data is refused, naming what differs.
    let other = tmp.path().join("other");
    copy_dir(&out, &other);
    stamp_hash(&other, &"1e".repeat(32));
    let r = with(&other, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("data hash differs"), "{}", r.stderr);
    assert!(r.stderr.contains("--allow-different-data"), "{}", r.stderr);

    // A missing baseline folder, or one that is not a chloe output.
    let r = with(&tmp.path().join("missing"), &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--baseline") && r.stderr.contains("missing"),
        "{}",
        r.stderr
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let r = with(&empty, &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("not a chloe output folder"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_gate_input_exits_2_naming_it() {
    let tmp = tempdir();
    let dir = tmp.path();
    let job = |name: &str, gate: &str| {
        std::fs::write(
            dir.join(name),
            format!("[job]\nname = \"j\"\n\n[gate]\n{gate}\n"),
        )
        .unwrap();
        name.to_string()
    };
    let wrong_type = job("type.toml", "min_avg_sharpe = \"high\"");
    let r = chloe(dir, &["gate", "anywhere", "--job", &wrong_type]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("min_avg_sharpe"), "{}", r.stderr);
    let unknown = job("unknown.toml", "min_sharpe = 1.0");
    let r = chloe(dir, &["gate", "anywhere", "--job", &unknown]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("min_sharpe"), "{}", r.stderr);
    let range = job("range.toml", "max_drawdown = 15");
    let r = chloe(dir, &["gate", "anywhere", "--job", &range]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("gate.max_drawdown"), "{}", r.stderr);

    let r = chloe(dir, &["gate", "anywhere", "--min-avg-sharpe", "abc"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--min-avg-sharpe"), "{}", r.stderr);

    let r = chloe(dir, &["gate", "nowhere"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("nowhere") && r.stderr.contains("no such output folder"));
}
