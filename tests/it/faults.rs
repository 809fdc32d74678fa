//! Faults injected through test hooks: a panic in one fold's fit
//! (`CHLOE_FAULT_PANIC_FOLD`) is an internal error (exit 3) that leaves the
//! previous output folder as it was, and a shard it stops resumes into the
//! same bytes. (benches/soak.py draws these faults at random, many times.)

use std::{collections::BTreeMap, path::Path};

use crate::util::{chloe, chloe_env, root, tempdir};

fn tiny() -> String {
    root().join("tests/cluster/tiny.toml").display().to_string()
}

/// Every file directly in `dir` (reports; not `shards/`), summary.json without its `run` part.
fn reports(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if !p.is_file() {
            continue;
        }
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name == "report.html" {
            // The page prints the run's provenance ("merged from N shards"
            // or the backend flag); its charts come from the files compared here.
            continue;
        }
        let mut bytes = std::fs::read(&p).unwrap();
        if name == "summary.json" {
            let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            v.as_object_mut().unwrap().remove("run");
            bytes = serde_json::to_vec(&v).unwrap();
        }
        out.insert(name, bytes);
    }
    out
}

#[test]
fn fold_panic_exits_3_and_keeps_the_previous_folder() {
    let tmp = tempdir();
    let out = tmp.path().join("out");
    let out_s = out.to_str().unwrap();
    let job = tiny();
    let clean = chloe(
        tmp.path(),
        &["run", &job, "--out", out_s, "--backend", "cpu"],
    );
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    let before = reports(&out);
    assert!(before.contains_key("folds.parquet"), "{:?}", before.keys());

    let r = chloe_env(
        tmp.path(),
        &["run", &job, "--out", out_s, "--backend", "cpu"],
        &[("CHLOE_FAULT_PANIC_FOLD", "2")],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("internal error") && r.stderr.contains("fold 2"),
        "{}",
        r.stderr
    );
    assert_eq!(reports(&out), before, "a panicking run changed the reports");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "out")
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

#[test]
fn shard_stopped_by_a_fold_panic_resumes_into_the_same_bytes() {
    let tmp = tempdir();
    let job = tiny();
    let single = tmp.path().join("single");
    let r = chloe(
        tmp.path(),
        &[
            "run",
            &job,
            "--out",
            single.to_str().unwrap(),
            "--backend",
            "cpu",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    let out = tmp.path().join("out");
    let out_s = out.to_str().unwrap();
    let shard = |i: usize, env: &[(&str, &str)]| {
        let s = format!("{i}/2");
        chloe_env(
            tmp.path(),
            &[
                "run",
                &job,
                "--out",
                out_s,
                "--backend",
                "cpu",
                "--shard",
                &s,
            ],
            env,
        )
    };
    // Fold 0 is some shard's unit: that shard (and any that needs it for
    // the deployment book) stops with exit 3; none ends otherwise.
    let codes: Vec<i32> = (0..2)
        .map(|i| shard(i, &[("CHLOE_FAULT_PANIC_FOLD", "0")]).code)
        .collect();
    assert!(codes.contains(&3), "no shard hit the panic: {codes:?}");
    assert!(codes.iter().all(|c| *c == 0 || *c == 3), "{codes:?}");
    let m = chloe(tmp.path(), &["merge", out_s]);
    assert_eq!(m.code, 2, "{}", m.stderr);
    assert!(m.stderr.contains("fit-f0000"), "{}", m.stderr);
    assert!(!out.join("summary.json").exists());

    for i in 0..2 {
        let r = shard(i, &[]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let m = chloe(tmp.path(), &["merge", out_s]);
    assert_eq!(m.code, 0, "{}", m.stderr);
    assert_eq!(reports(&out), reports(&single));
}
