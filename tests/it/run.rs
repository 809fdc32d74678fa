//! `chloe run` end to end: every report in one folder, provenance metadata,
//! byte-identical Parquet across runs and thread counts, a killed run, bad input.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use parquet::file::reader::{FileReader, SerializedFileReader};
use sha2::{Digest, Sha256};

use crate::util::{chloe, datasets, root, tempdir};

const WALKFORWARD_REPORTS: [&str; 6] = [
    "decisions.parquet",
    "folds.parquet",
    "oos_returns.parquet",
    "predictions.parquet",
    "regimes.parquet",
    "trades.parquet",
];
const STRESS_REPORTS: [&str; 3] = [
    "stress_paths.parquet",
    "stress_summary.parquet",
    "stress_bands.parquet",
];

/// A small whole job: walk-forward on six large caps, stress of its deployment book.
fn small_job(dir: &Path, paths: u64) -> String {
    let job = format!(
        "[job]\nname = \"small\"\nseed = 11\noutput = \"out\"\n\n\
         [data]\npath = \"{}\"\nsymbols = [\"AAPL\", \"MSFT\", \"JPM\", \"XOM\", \"JNJ\", \"WMT\"]\n\
         start = \"2012-01-01\"\nend = \"2016-12-31\"\n\n\
         [walkforward]\nin_sample_days = 126\nout_of_sample_days = 42\nbootstrap_resamples = 100\n\n\
         [sizing]\nmin_edge = 0.3\n\n\
         [stress]\npaths = {paths}\nhorizon = 20\n\n\
         [stress.market]\nestimate_from_data = true\nestimation_days = 252\n\n\
         [stress.portfolio]\nfrom_walkforward = true\n",
        datasets()
            .join("us_equities_daily_skfolio.parquet")
            .display()
    );
    std::fs::write(dir.join("job.toml"), job).unwrap();
    "job.toml".into()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `chloe.*` key-value metadata of a Parquet file.
fn chloe_metadata(path: &Path) -> Vec<(String, String)> {
    let r = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    let mut kv: Vec<(String, String)> = r
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter(|kv| kv.key.starts_with("chloe."))
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
        .collect();
    kv.sort();
    kv
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn whole_job_writes_every_report_with_provenance() {
    let d = tempdir();
    let job = small_job(d.path(), 300);
    let r = chloe(d.path(), &["run", &job, "--backend", "cpu"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = d.path().join("out");
    let mut expected: Vec<String> = WALKFORWARD_REPORTS
        .iter()
        .chain(&STRESS_REPORTS)
        .chain(&["summary.json", "gate.json", "gate.xml"])
        .chain(&[
            "alerts.parquet",
            "monitor.parquet",
            "correlation.parquet",
            "strategies.parquet",
            "report.html",
        ])
        .map(|s| s.to_string())
        .collect();
    expected.sort();
    assert_eq!(listing(&out), expected);
    // Nothing else next to it: no staging folder left.
    assert_eq!(listing(d.path()), ["job.toml", "out"]);

    let s = json(&out.join("summary.json"));
    let job_sha = sha256(&std::fs::read(d.path().join("job.toml")).unwrap());
    assert_eq!(s["inputs"]["job_file"]["sha256"], job_sha.as_str());
    let data = std::fs::read(datasets().join("us_equities_daily_skfolio.parquet")).unwrap();
    let files = s["inputs"]["data_files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["sha256"], sha256(&data).as_str());
    // The data hash is over the files' digests in path order.
    let data_sha = sha256(&Sha256::digest(&data));
    assert_eq!(s["inputs"]["data_sha256"], data_sha.as_str());
    // The gate reads these keys.
    assert_eq!(s["data"]["bars_per_year"], 252.0);
    assert_eq!(s["walkforward"]["config"]["n_trials"], 1);
    assert!(s["walkforward"]["config"]["trials_sharpe_std"].is_number());
    assert!(s["walkforward"]["aggregate"]["n_folds"].as_u64().unwrap() > 10);
    let scenarios = s["stress"]["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 4, "four presets");
    assert!(s["stress"].get("skipped").is_none());
    // The stressed book is the deployment book, handed over in memory.
    assert_eq!(s["stress"]["weights"], s["deployment_book"]["weights"]);
    assert_eq!(s["deployment_book"]["timestamp"], s["data"]["last"]);
    // Targets beside measured values.
    let m = &s["success_metrics"];
    assert_eq!(m["edge_precision"]["target"], 0.6);
    assert_eq!(
        m["edge_precision"]["measured"],
        s["walkforward"]["aggregate"]["edge_precision"]
    );
    assert_eq!(m["max_drawdown_stress"].as_object().unwrap().len(), 4);
    assert_eq!(m["assets_handled"]["measured"], 6.0);
    assert!(m["sharpe_improvement_risk_first"]["measured"].is_null());
    // Fallbacks are listed: the data is close-only, so ADV falls back per symbol.
    let notes = s["notes"].as_array().unwrap();
    let kinds: Vec<&str> = notes.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    for k in ["close_only", "no_volume", "no_benchmark", "default_adv"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    // The market is estimated for the book's symbols, none of which has volume.
    let adv = notes.iter().find(|n| n["kind"] == "default_adv").unwrap();
    let book = s["stress"]["weights"].as_object().unwrap();
    assert_eq!(adv["count"], book.len());
    let symbols: Vec<&str> = adv["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(symbols, book.keys().map(String::as_str).collect::<Vec<_>>());
    assert!(s["run"]["wall_times"]["walkforward_s"].is_number());

    // Every Parquet report carries exactly the deterministic provenance.
    for f in WALKFORWARD_REPORTS.iter().chain(&STRESS_REPORTS) {
        let kv = chloe_metadata(&out.join(f));
        let want: Vec<(String, String)> = [
            ("chloe.backend", "cpu"),
            ("chloe.data_sha256", data_sha.as_str()),
            ("chloe.job_sha256", job_sha.as_str()),
            ("chloe.seed", "11"),
            ("chloe.version", env!("CARGO_PKG_VERSION")),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(kv, want, "{f}");
    }
}

/// The shipped nightly job with `min_edge` raised so no position is ever
/// taken: its deployment book is all cash. Without a single call the edge
/// precision is null, so the gate's `min_precision_lift` (which fails a null)
/// is dropped.
fn all_cash_nightly(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("jobs/nightly.toml")).unwrap();
    assert!(
        text.contains("min_edge = 0.55") && text.contains("\nmin_precision_lift = 0.0"),
        "the nightly job's sizing or gate changed"
    );
    let text = text
        .replace("min_edge = 0.55", "min_edge = 0.999")
        .replace("\nmin_precision_lift = 0.0", "\n# min_precision_lift = 0.0")
        .replace("\"../datasets/", &format!("\"{}/", datasets().display()));
    let job = dir.join("all-cash.toml");
    std::fs::write(&job, text).unwrap();
    job
}

#[test]
fn an_all_cash_book_skips_the_stress_and_says_why() {
    let d = tempdir();
    let job = all_cash_nightly(d.path());
    let r = chloe(
        d.path(),
        &[
            "run",
            job.to_str().unwrap(),
            "--out",
            "o",
            "--paths",
            "64",
            "--backend",
            "cpu",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = d.path().join("o");
    for f in WALKFORWARD_REPORTS.iter().chain(&["summary.json"]) {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let s = json(&out.join("summary.json"));
    let book = &s["deployment_book"];
    assert_eq!(book["timestamp"], s["data"]["last"]);
    assert_eq!(book["all_cash"], true, "{book}");
    let why = s["stress"]["skipped"].as_str().unwrap();
    assert!(why.contains("all cash"), "{why}");
    assert!(r.stderr.contains("all cash"), "said in the log too");
    for f in STRESS_REPORTS {
        assert!(!out.join(f).exists(), "{f} written for a skipped stress");
    }
    assert!(
        s["success_metrics"]["max_drawdown_stress"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    // The job's stress thresholds are not applicable: skipped, never passed.
    let g = json(&out.join("gate.json"));
    let stress_checks: Vec<_> = g["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with("max_stress"))
        .collect();
    assert_eq!(stress_checks.len(), 2, "{g}");
    assert!(
        stress_checks.iter().all(|c| c["status"] == "skipped"),
        "{g}"
    );
}

#[test]
fn parquet_reports_are_byte_identical_across_runs_and_threads() {
    let d = tempdir();
    let job = small_job(d.path(), 500);
    for (threads, out) in [("1", "a"), ("2", "b"), ("2", "c")] {
        let r = chloe(
            d.path(),
            &[
                "--threads",
                threads,
                "run",
                &job,
                "--backend",
                "cpu",
                "--out",
                out,
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    for f in WALKFORWARD_REPORTS.iter().chain(&STRESS_REPORTS) {
        let a = std::fs::read(d.path().join("a").join(f)).unwrap();
        for other in ["b", "c"] {
            let b = std::fs::read(d.path().join(other).join(f)).unwrap();
            assert!(a == b, "{f} differs between a and {other}");
        }
    }
    // A different seed is a different run.
    let r = chloe(
        d.path(),
        &[
            "run",
            &job,
            "--backend",
            "cpu",
            "--out",
            "s",
            "--seed",
            "12",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let a = std::fs::read(d.path().join("a/stress_paths.parquet")).unwrap();
    let s = std::fs::read(d.path().join("s/stress_paths.parquet")).unwrap();
    assert_ne!(a, s);
    assert_eq!(json(&d.path().join("s/summary.json"))["seed"], 12);
}

fn staging_dirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .contains(".staging.")
        })
        .collect()
}

#[test]
fn a_killed_run_leaves_the_previous_folder_and_the_rerun_succeeds() {
    let d = tempdir();
    let job = small_job(d.path(), 200);
    let r = chloe(d.path(), &["run", &job, "--backend", "cpu"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let before = std::fs::read(d.path().join("out/summary.json")).unwrap();

    // A long run into the same folder, killed while it writes its staged reports.
    let mut child = Command::new(env!("CARGO_BIN_EXE_chloe"))
        .current_dir(d.path())
        .args(["run", &job, "--backend", "cpu", "--paths", "100000000"])
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while staging_dirs(d.path()).is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "no staging folder appeared"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(
        std::fs::read(d.path().join("out/summary.json")).unwrap(),
        before,
        "the previous complete folder is untouched"
    );
    assert!(!d.path().join("out/stress_paths.parquet.tmp").exists());
    assert_eq!(
        staging_dirs(d.path()).len(),
        1,
        "the dead run's staging folder"
    );

    // The rerun succeeds, replaces the folder, and clears the dead run's staging.
    let r = chloe(
        d.path(),
        &["run", &job, "--backend", "cpu", "--paths", "300"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(listing(d.path()), ["job.toml", "out"]);
    let s = json(&d.path().join("out/summary.json"));
    assert_eq!(s["stress"]["paths"], 300);

    // Killed with no previous folder: nothing that looks complete is left.
    std::fs::remove_dir_all(d.path().join("out")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chloe"))
        .current_dir(d.path())
        .args(["run", &job, "--backend", "cpu", "--paths", "100000000"])
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while staging_dirs(d.path()).is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "no staging folder appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !d.path().join("out").exists(),
        "no output folder from a killed run"
    );
    let r = chloe(d.path(), &["run", &job, "--backend", "cpu"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(listing(d.path()), ["job.toml", "out"]);
}

fn bad(dir: &Path, args: &[&str], name: &str) {
    let r = chloe(dir, args);
    assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    assert!(
        r.stderr.contains(name),
        "stderr should name {name}: {}",
        r.stderr
    );
    assert!(!dir.join("out").exists(), "no output for bad input");
}

#[test]
fn bad_input_is_exit_2_naming_it() {
    let d = tempdir();
    let job = small_job(d.path(), 100);
    let text = std::fs::read_to_string(d.path().join(&job)).unwrap();
    let write = |name: &str, from: &str, to: &str| {
        assert!(text.contains(from), "{from}");
        std::fs::write(d.path().join(name), text.replacen(from, to, 1)).unwrap();
    };
    write("unknown.toml", "seed = 11", "seed = 11\nbogus_key = 1");
    bad(d.path(), &["run", "unknown.toml"], "bogus_key");
    write("type.toml", "seed = 11", "seed = \"eleven\"");
    bad(d.path(), &["run", "type.toml"], "seed");
    write("paths.toml", "paths = 100", "paths = 1000000000000");
    bad(d.path(), &["run", "paths.toml"], "stress.paths");
    bad(d.path(), &["run", &job, "--paths", "0"], "--paths");
    bad(
        d.path(),
        &["run", &job, "--paths", "1000000000001"],
        "--paths",
    );
    bad(d.path(), &["run", &job, "--paths", "many"], "--paths");
    bad(d.path(), &["run", &job, "--horizon", "0"], "--horizon");
    bad(d.path(), &["run", &job, "--backend", "tpu"], "--backend");
    bad(d.path(), &["run", &job, "--seed=-1"], "--seed");
    bad(d.path(), &["run", &job, "--threads", "0"], "--threads");
    bad(d.path(), &["run", "missing.toml"], "missing.toml");
    // A folder that is not a chloe output is never replaced.
    std::fs::create_dir_all(d.path().join("mine")).unwrap();
    std::fs::write(d.path().join("mine/notes.txt"), "keep").unwrap();
    let r = chloe(d.path(), &["run", &job, "--out", "mine"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--out"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(d.path().join("mine/notes.txt")).unwrap(),
        "keep"
    );
}

#[test]
fn run_gates_its_reports_and_chloe_gate_agrees() {
    let d = tempdir();
    let job = small_job(d.path(), 64);
    let run = |out: &str, flags: &[&str]| {
        let mut args = vec!["run", job.as_str(), "--out", out, "--backend", "cpu"];
        args.extend_from_slice(flags);
        chloe(d.path(), &args)
    };
    // Loose thresholds pass: exit 0, every check passed or skipped.
    let r = run(
        "pass",
        &["--min-avg-sharpe", "-100", "--max-drawdown", "1.0"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let g = json(&d.path().join("pass/gate.json"));
    assert_eq!(g["verdict"], "pass", "{g}");
    let s = json(&d.path().join("pass/summary.json"));
    assert_eq!(s["gate"]["spec"]["min_avg_sharpe"], -100.0, "{s}");
    // Strict ones fail: exit 1, the reports are still written, and gate.xml
    // names the failed thresholds with value and limit.
    let r = run(
        "fail",
        &["--min-avg-sharpe", "100", "--min-edge-precision", "0.999"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(d.path().join("fail/folds.parquet").exists());
    let xml = std::fs::read_to_string(d.path().join("fail/gate.xml")).unwrap();
    for name in ["min_avg_sharpe", "min_edge_precision"] {
        let at = xml.find(&format!("name=\"{name}\"")).expect(name);
        assert!(
            xml[at..]
                .split("</testcase>")
                .next()
                .unwrap()
                .contains("<failure"),
            "{xml}"
        );
    }
    // `chloe gate` re-evaluates a finished folder with the thresholds the run
    // used (from summary.json) and reaches the same verdicts.
    assert_eq!(chloe(d.path(), &["gate", "fail"]).code, 1);
    assert_eq!(chloe(d.path(), &["gate", "pass"]).code, 0);
    assert_eq!(
        std::fs::read(d.path().join("fail/gate.xml")).unwrap(),
        xml.as_bytes()
    );
    // Against itself as the production model: no Sharpe drop, prob_better 0.5.
    let r = run(
        "cand",
        &[
            "--baseline",
            "pass",
            "--max-sharpe-drop",
            "0.0",
            "--min-prob-better",
            "0.5",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // A baseline folder that is missing is bad input, before anything runs.
    let r = run("none", &["--baseline", "no-such-folder"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no-such-folder"), "{}", r.stderr);
    assert!(!d.path().join("none").exists());
}
