//! `chloe stress` and `chloe devices` end to end: exit codes, report files,
//! determinism across thread counts, GPU fallback.

use std::path::Path;

use crate::util::{chloe, chloe_env, root, tempdir};

const MARKET: &str = r#"
[job]
name = "st"
seed = 5
output = "out"

[stress]
paths = 300
horizon = 30
shock_threshold = 0.03

[stress.market]
symbols = ["AAA", "BBB", "CCC"]
mu = [0.0003, 0.0002, 0.0001]
sigma = [0.012, 0.018, 0.02]
adv = [5.0e8, 2.0e8, 1.0e8]
spread = [0.0005, 0.001, 0.002]
correlation = [[1.0, 0.3, 0.2], [0.3, 1.0, 0.4], [0.2, 0.4, 1.0]]

[stress.portfolio]
weights = { AAA = 0.6, BBB = 0.4, CCC = 0.3 }
"#;

fn write_job(dir: &Path, text: &str) -> String {
    std::fs::write(dir.join("job.toml"), text).unwrap();
    "job.toml".into()
}

fn bad(replace: (&str, &str), key: &str) {
    let d = tempdir();
    assert!(MARKET.contains(replace.0), "{}", replace.0);
    let job = write_job(d.path(), &MARKET.replace(replace.0, replace.1));
    let r = chloe(d.path(), &["stress", &job, "--backend", "cpu"]);
    assert_eq!(r.code, 2, "{key}: {}", r.stderr);
    assert!(
        r.stderr.contains(key),
        "stderr should name {key}: {}",
        r.stderr
    );
    assert!(!d.path().join("out").exists(), "no partial report");
}

#[test]
fn bad_values_are_exit_2_naming_the_key() {
    bad(
        ("sigma = [0.012,", "sigma = [-0.012,"),
        "stress.market.sigma[0]",
    );
    bad(
        ("[0.3, 1.0, 0.4]", "[0.3, 1.0, -0.99]"),
        "stress.market.correlation",
    );
    bad(
        (
            "[[1.0, 0.3, 0.2], [0.3, 1.0, 0.4], [0.2, 0.4, 1.0]]",
            "[[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]]",
        ),
        "not positive semi-definite",
    );
    bad(("AAA = 0.6", "AAA = 2.6"), "stress.portfolio.weights");
    bad(("CCC = 0.3", "ZZZ = 0.3"), "stress.portfolio.weights.ZZZ");
    bad(
        ("adv = [5.0e8, 2.0e8, 1.0e8]", "adv = [5.0e8, 2.0e8]"),
        "stress.market.adv",
    );
    bad(("horizon = 30", "horizon = 30\nbogus = 1"), "bogus");
    bad(
        (
            "weights = {",
            "from_walkforward = \"wf/summary.json\"\nweights = {",
        ),
        "stress.portfolio",
    );
    bad(
        (
            "shock_threshold = 0.03",
            "shock_threshold = 0.03\nliquidation = \"fire_sale\"",
        ),
        "stress.liquidation",
    );
    bad(
        (
            "shock_threshold = 0.03",
            "shock_threshold = 0.03\nfactors = 4",
        ),
        "stress.factors",
    );
    bad(
        (
            "shock_threshold = 0.03",
            "shock_threshold = 0.03\nfactors = 0",
        ),
        "stress.factors",
    );
}

#[test]
fn writes_report_and_is_independent_of_threads() {
    let d = tempdir();
    let job = write_job(d.path(), MARKET);
    let r1 = chloe(
        d.path(),
        &[
            "stress",
            &job,
            "--backend",
            "cpu",
            "--threads",
            "1",
            "--out",
            "a",
        ],
    );
    assert_eq!(r1.code, 0, "{}", r1.stderr);
    let r2 = chloe(
        d.path(),
        &[
            "stress",
            &job,
            "--backend",
            "cpu",
            "--threads",
            "2",
            "--out",
            "b",
        ],
    );
    assert_eq!(r2.code, 0, "{}", r2.stderr);
    for f in [
        "stress_paths.parquet",
        "stress_summary.parquet",
        "stress_bands.parquet",
    ] {
        let a = std::fs::read(d.path().join("a").join(f)).unwrap();
        let b = std::fs::read(d.path().join("b").join(f)).unwrap();
        assert_eq!(a, b, "{f} differs between thread counts");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("a/summary.json")).unwrap()).unwrap();
    assert_eq!(json["backend"]["used"], "cpu");
    assert_eq!(
        json["stress"]["scenarios"].as_array().unwrap().len(),
        4,
        "four presets by default"
    );
    assert_eq!(json["seed"], 5);
    assert_eq!(json["stress"]["correlation_model"], "full Cholesky");
}

#[test]
fn gpu_without_adapter_is_exit_3() {
    let d = tempdir();
    let job = write_job(d.path(), MARKET);
    // A backend that does not exist on this platform leaves no adapter.
    let other = if cfg!(target_os = "macos") {
        "dx12"
    } else {
        "metal"
    };
    let r = chloe_env(
        d.path(),
        &["stress", &job, "--backend", "gpu"],
        &[("WGPU_BACKEND", other)],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("adapter"), "{}", r.stderr);
    let r = chloe_env(
        d.path(),
        &["stress", &job, "--backend", "auto"],
        &[("WGPU_BACKEND", other)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json = std::fs::read_to_string(d.path().join("out/summary.json")).unwrap();
    assert!(json.contains("no usable GPU"), "{json}");
}

fn gpu_present() -> bool {
    let d = tempdir();
    let r = chloe(d.path(), &["devices"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ok = !r.stdout.contains("auto would pick: cpu");
    if !ok {
        assert_ne!(
            std::env::var("CHLOE_REQUIRE_GPU").as_deref(),
            Ok("1"),
            "no adapter: {}",
            r.stdout
        );
        eprintln!("skipping GPU test: no adapter");
    }
    ok
}

#[test]
fn device_failure_falls_back_to_cpu() {
    if !gpu_present() {
        return;
    }
    let d = tempdir();
    let job = write_job(
        d.path(),
        &MARKET.replace("horizon = 30", "horizon = 30\nchunk_paths = 100"),
    );
    let r = chloe_env(
        d.path(),
        &["stress", &job, "--backend", "gpu", "--out", "g"],
        &[("CHLOE_GPU_FAIL_AFTER_CHUNKS", "2")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("g/summary.json")).unwrap()).unwrap();
    assert_eq!(json["backend"]["used"], "gpu+cpu");
    assert_eq!(json["backend"]["fallback_chunks"], 10);
    assert!(
        json["backend"]["fallback_reason"]
            .as_str()
            .unwrap()
            .contains("injected")
    );
}

#[test]
fn shipped_job_runs_with_estimates_and_bootstrap() {
    let d = tempdir();
    let job = root().join("jobs/stress.toml");
    let r = chloe(
        d.path(),
        &[
            "stress",
            job.to_str().unwrap(),
            "--paths",
            "64",
            "--horizon",
            "20",
            "--backend",
            "cpu",
            "--out",
            "o",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json = std::fs::read_to_string(d.path().join("o/summary.json")).unwrap();
    for s in [
        "base",
        "liquidity_crunch",
        "correlation_spike",
        "flash_crash",
        "crisis_2008",
    ] {
        assert!(json.contains(s), "{s} missing");
    }
}

#[test]
fn devices_lists_the_auto_pick() {
    let d = tempdir();
    let r = chloe(d.path(), &["devices"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("auto would pick"), "{}", r.stdout);
}

#[test]
fn stresses_the_walkforward_deployment_book() {
    let d = tempdir();
    let data = format!(
        "[data]\npath = \"{}\"\nsymbols = [\"AAPL\", \"MSFT\", \"JPM\", \"XOM\", \"JNJ\", \"WMT\"]\n\
         start = \"2012-01-01\"\nend = \"2016-12-31\"\n",
        crate::util::datasets()
            .join("us_equities_daily_skfolio.parquet")
            .display()
    );
    let wf_section = "[walkforward]\nin_sample_days = 126\nout_of_sample_days = 42\nbootstrap_resamples = 100\n\n\
         [sizing]\nmin_edge = 0.3\n";
    let wf = format!("[job]\nname = \"wf\"\nseed = 5\noutput = \"wf\"\n\n{data}\n{wf_section}");
    std::fs::write(d.path().join("wf.toml"), wf).unwrap();
    let r = chloe(d.path(), &["walkforward", "wf.toml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("wf/summary.json")).unwrap())
            .unwrap();
    let book = &summary["deployment_book"];
    // The book is decided on the last bar of the data.
    assert_eq!(book["timestamp"], summary["data"]["last"], "{book}");
    let weights = book["weights"].as_object().unwrap();
    assert!(!weights.is_empty(), "{summary}");
    assert!(weights.values().all(|w| w.as_f64().unwrap() > 0.0));

    let stress = |from: &str, extra: &str| {
        format!(
            "[job]\nname = \"st\"\nseed = 5\noutput = \"out\"\n\n{data}\n{extra}\n\
             [stress]\n\n[stress.market]\nestimate_from_data = true\n\n\
             [stress.portfolio]\nfrom_walkforward = {from}\n"
        )
    };
    let args = [
        "stress",
        "st.toml",
        "--paths",
        "200",
        "--horizon",
        "20",
        "--backend",
        "cpu",
    ];
    // A previous run's summary.json.
    std::fs::write(d.path().join("st.toml"), stress("\"wf/summary.json\"", "")).unwrap();
    let r = chloe(d.path(), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(d.path().join("out/stress_paths.parquet").exists());
    let from_file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("out/summary.json")).unwrap())
            .unwrap();
    assert_eq!(&from_file["stress"]["weights"], &book["weights"]);

    // This run's book, in memory: the same weights, both stages' reports in one folder.
    std::fs::write(d.path().join("st.toml"), stress("true", wf_section)).unwrap();
    let r = chloe(d.path(), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let both: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("out/summary.json")).unwrap())
            .unwrap();
    assert_eq!(&both["stress"]["weights"], &book["weights"]);
    assert_eq!(both["stress"]["portfolio_source"], "deployment_book");
    for f in [
        "folds.parquet",
        "stress_paths.parquet",
        "stress_summary.parquet",
    ] {
        assert!(d.path().join("out").join(f).exists(), "{f}");
    }

    std::fs::write(
        d.path().join("st.toml"),
        stress("\"nope/summary.json\"", ""),
    )
    .unwrap();
    let r = chloe(d.path(), &args);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("stress.portfolio.from_walkforward") && r.stderr.contains("nope"),
        "{}",
        r.stderr
    );
}

#[test]
fn canary_catches_a_wrong_gpu() {
    if !gpu_present() {
        return;
    }
    let d = tempdir();
    let job = write_job(d.path(), MARKET);
    let wrong = [("CHLOE_GPU_CORRUPT_PATHS", "1")];
    // auto: the run completes on the CPU and says why, in the log and summary.json.
    let r = chloe_env(
        d.path(),
        &["stress", &job, "--backend", "auto", "--out", "a"],
        &wrong,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("WARN") && r.stderr.contains("disagrees with the CPU"),
        "{}",
        r.stderr
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("a/summary.json")).unwrap()).unwrap();
    assert_eq!(json["backend"]["used"], "cpu", "{json}");
    let run = &json["run"];
    assert_eq!(run["canary"]["passed"], false, "{run}");
    assert!(
        run["canary"]["total"]["max_rel_diff"].as_f64().unwrap() > 1e-3,
        "{run}"
    );
    let warning = run["backend_warning"].as_str().unwrap();
    assert!(warning.contains("disagrees with the CPU"), "{warning}");
    assert!(run["adapter"].is_string(), "{run}");
    // --backend gpu: exit 3, nothing written.
    let r = chloe_env(
        d.path(),
        &["stress", &job, "--backend", "gpu", "--out", "g"],
        &wrong,
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("cannot be trusted"), "{}", r.stderr);
    assert!(!d.path().join("g").exists());
    // A correct device passes, and summary.json carries the canary's figures.
    let r = chloe(
        d.path(),
        &["stress", &job, "--backend", "gpu", "--out", "ok"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("ok/summary.json")).unwrap()).unwrap();
    assert_eq!(json["backend"]["used"], "gpu");
    assert_eq!(json["run"]["canary"]["passed"], true);
}

#[test]
fn devices_check_runs_the_canary_on_every_adapter_quietly() {
    if !gpu_present() {
        return;
    }
    let d = tempdir();
    // A headless server: no XDG_RUNTIME_DIR. The driver's complaint about
    // it must not reach chloe's output.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chloe"))
        .current_dir(d.path())
        .args(["devices", "--check"])
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(": PASS in"), "{stdout}");
    assert!(
        stdout.contains("flash_crash: 0 of 64 paths differ"),
        "{stdout}"
    );
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
    let wrong = chloe_env(
        d.path(),
        &["devices", "--check"],
        &[("CHLOE_GPU_CORRUPT_PATHS", "1")],
    );
    assert_eq!(wrong.code, 1, "{}", wrong.stdout);
    assert!(wrong.stdout.contains(": FAIL in"), "{}", wrong.stdout);
}
