//! Cluster execution end to end: shards of one job merged into the same
//! bytes as a single run (N = 1, 3, 4, 7), resume, a corrupted unit, a
//! missing unit, mixed backends, shard selection from scheduler variables.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use crate::util::{Run, chloe, chloe_env, datasets, tempdir};

/// A small whole job: walk-forward on five large caps, three stress
/// scenarios of its deployment book, 130 paths in blocks of 32 (5 blocks
/// per scenario), histogram bands (the job's 130 paths exceed
/// `exact_band_paths`, each block's 32 do not).
fn job(dir: &Path) -> PathBuf {
    let text = format!(
        "[job]\nname = \"cluster\"\nseed = 5\n\n\
         [data]\npath = \"{}\"\nsymbols = [\"AAPL\", \"MSFT\", \"JPM\", \"XOM\", \"WMT\"]\n\
         start = \"2013-01-01\"\nend = \"2016-12-31\"\n\n\
         [walkforward]\nin_sample_days = 126\nout_of_sample_days = 63\nbootstrap_resamples = 50\n\n\
         [sizing]\nmin_edge = 0.3\n\n\
         [strategy]\ncompare = [\"prediction_first\", \"equal_weight\"]\n\n\
         [stress]\npaths = 130\nhorizon = 15\nexact_band_paths = 100\n\n\
         [stress.market]\nestimate_from_data = true\nestimation_days = 252\n\n\
         [stress.portfolio]\nfrom_walkforward = true\n\n\
         [[stress.scenarios]]\nname = \"base\"\n\
         [[stress.scenarios]]\nname = \"crunch\"\npreset = \"liquidity_crunch\"\n\
         [[stress.scenarios]]\nname = \"boot\"\nkind = \"bootstrap\"\n\n\
         [cluster]\nblock_paths = 32\n",
        datasets()
            .join("us_equities_daily_skfolio.parquet")
            .display()
    );
    let p = dir.join("job.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn ok(r: &Run, what: &str) {
    assert_eq!(r.code, 0, "{what}: {}\n{}", r.stdout, r.stderr);
}

fn run(dir: &Path, job: &Path, out: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "run",
        job.to_str().unwrap(),
        "--out",
        out,
        "--backend",
        "cpu",
    ];
    args.extend_from_slice(extra);
    chloe(dir, &args)
}

fn reports(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// summary.json without its `run` part.
fn deterministic(dir: &Path) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("run");
    v
}

fn units(out: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(out.join("shards"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && n != "job.json")
        .collect();
    v.sort();
    v
}

/// Runs every shard of `n` into `out` and returns their outputs.
fn shards(dir: &Path, job: &Path, out: &str, n: u32) -> Vec<Run> {
    (0..n)
        .map(|i| {
            let r = run(dir, job, out, &["--shard", &format!("{i}/{n}")]);
            ok(&r, &format!("shard {i}/{n}"));
            r
        })
        .collect()
}

/// `chloe plan --json` names every unit once, with the shard that wrote it
/// (or, for a fit unit, an earlier shard that needed it for the book).
fn check_plan(dir: &Path, job: &Path, out: &Path, n: u32) {
    let r = chloe(
        dir,
        &[
            "plan",
            job.to_str().unwrap(),
            "--shards",
            &n.to_string(),
            "--json",
        ],
    );
    ok(&r, "plan");
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let planned: Vec<(String, u64)> = plan["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["id"].as_str().unwrap().to_string(),
                u["shard"].as_u64().unwrap(),
            )
        })
        .collect();
    let ids: Vec<String> = planned.iter().map(|(id, _)| id.clone()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        units(out),
        "N = {n}: the plan's units are the units written"
    );
    assert_eq!(ids.iter().filter(|u| u.starts_with("stress-")).count(), 15);
    let loads: u64 = plan["loads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["units"].as_u64().unwrap())
        .sum();
    assert_eq!(loads as usize, ids.len());
    for (id, shard) in planned {
        let m: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("shards").join(&id).join("manifest.json")).unwrap(),
        )
        .unwrap();
        let writer: u64 = m["shard"]
            .as_str()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            writer == shard || (id.starts_with("fit-") && writer < shard),
            "N = {n}: {id} planned for shard {shard}, written by {writer}"
        );
    }
}

#[test]
fn merged_shards_are_byte_identical_to_a_single_run() {
    let d = tempdir();
    let job = job(d.path());
    ok(&run(d.path(), &job, "single", &[]), "single run");
    let single = reports(&d.path().join("single"));
    assert_eq!(single.len(), 13, "{:?}", single.keys());
    let stress = deterministic(&d.path().join("single"));
    assert_eq!(stress["stress"]["paths"], 130, "the stress ran: {stress}");
    assert!(
        stress["stress"]["bands"]
            .as_str()
            .unwrap()
            .starts_with("histogram"),
        "bands follow the job's 130 paths, not a block's 32"
    );
    for n in [1u32, 3, 4, 7] {
        let out = format!("sharded{n}");
        shards(d.path(), &job, &out, n);
        let dir = d.path().join(&out);
        // Shards write units only: no report, no summary, before the merge.
        let top: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(top, ["shards"], "N = {n}");
        check_plan(d.path(), &job, &dir, n);
        let r = chloe(d.path(), &["merge", &out]);
        ok(&r, &format!("merge N = {n}"));
        assert_eq!(reports(&dir), single, "N = {n}: Parquet reports differ");
        assert_eq!(
            deterministic(&dir),
            stress,
            "N = {n}: summary.json differs outside `run`"
        );
        assert!(dir.join("gate.json").is_file() && dir.join("gate.xml").is_file());
        assert!(dir.join("shards").is_dir(), "the merge keeps the units");
        // A second merge gives the same bytes (the reports are replaced in place).
        ok(&chloe(d.path(), &["merge", &out]), "merge again");
        assert_eq!(reports(&dir), single);
    }
}

#[test]
fn a_rerun_skips_verified_units_and_redoes_a_corrupted_one() {
    let d = tempdir();
    let job = job(d.path());
    shards(d.path(), &job, "out", 2);
    let out = d.path().join("out");
    let all = units(&out);
    let fits = out.join("shards/fit-f0002/fits.bin");
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before = mtime(&out.join("shards/fit-f0001/manifest.json"));

    // Corrupt one fit unit; the shard that owns it redoes it, the rest are skipped.
    let mut bytes = std::fs::read(&fits).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(&fits, &bytes).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("shards/fit-f0002/manifest.json")).unwrap(),
    )
    .unwrap();
    let owner = manifest["shard"].as_str().unwrap().to_string();
    let r = run(d.path(), &job, "out", &["--shard", &owner]);
    ok(&r, "rerun");
    assert!(
        r.stderr
            .contains("unit fit-f0002: fits.bin: checksum mismatch; redoing it"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("complete and verified, skipped"),
        "{}",
        r.stderr
    );
    let other = if owner == "0/2" { "1/2" } else { "0/2" };
    let r = run(d.path(), &job, "out", &["--shard", other]);
    ok(&r, "rerun of the other shard");
    assert!(!r.stderr.contains("redoing"), "{}", r.stderr);
    assert_eq!(units(&out), all);
    assert_eq!(mtime(&out.join("shards/fit-f0001/manifest.json")), before);
    ok(
        &chloe(d.path(), &["merge", "out"]),
        "merge after the repair",
    );
    ok(&run(d.path(), &job, "single", &[]), "single run");
    assert_eq!(reports(&out), reports(&d.path().join("single")));
}

#[test]
fn a_missing_unit_fails_the_merge_with_its_shard_index() {
    let d = tempdir();
    let job = job(d.path());
    shards(d.path(), &job, "out", 3);
    let out = d.path().join("out");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("shards/stress-s01-b00002/manifest.json")).unwrap(),
    )
    .unwrap();
    let shard = manifest["shard"]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    std::fs::remove_dir_all(out.join("shards/stress-s01-b00002")).unwrap();
    let r = chloe(d.path(), &["merge", "out"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("stress-s01-b00002 (shard {shard}): missing")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("resubmit array indices {shard} of 3")),
        "{}",
        r.stderr
    );
    assert!(
        !out.join("summary.json").exists(),
        "no reports from a failed merge"
    );
    // Resubmitting that index completes the folder.
    ok(
        &run(d.path(), &job, "out", &["--shard", &format!("{shard}/3")]),
        "resubmit",
    );
    ok(&chloe(d.path(), &["merge", "out"]), "merge");
}

#[test]
fn mixed_backends_are_refused_unless_allowed() {
    let d = tempdir();
    let job = job(d.path());
    shards(d.path(), &job, "out", 2);
    let out = d.path().join("out");
    // As if one block had run on a GPU node: its manifest says so.
    let m = out.join("shards/stress-s00-b00001/manifest.json");
    let text = std::fs::read_to_string(&m).unwrap();
    assert!(text.contains("\"backend\": \"cpu\""), "{text}");
    std::fs::write(
        &m,
        text.replace("\"backend\": \"cpu\"", "\"backend\": \"gpu\""),
    )
    .unwrap();
    let r = chloe(d.path(), &["merge", "out"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--allow-mixed-backends"), "{}", r.stderr);
    assert!(r.stderr.contains("1 on gpu"), "{}", r.stderr);
    let r = chloe(d.path(), &["merge", "out", "--allow-mixed-backends"]);
    ok(&r, "merge with mixed backends allowed");
    let s = deterministic(&out);
    assert_eq!(s["mixed_backends"]["units"]["gpu"], 1, "{s}");
    assert_eq!(s["mixed_backends"]["units"]["cpu"], 14, "{s}");
}

#[test]
fn scheduler_variables_pick_the_same_units_as_the_flag() {
    let d = tempdir();
    let job = job(d.path());
    let j = job.to_str().unwrap();
    let base = ["run", j, "--backend", "cpu", "--out"];
    ok(&run(d.path(), &job, "flag", &["--shard", "1/3"]), "--shard");
    let slurm = [
        ("SLURM_ARRAY_TASK_ID", "11"),
        ("SLURM_ARRAY_TASK_MIN", "10"),
        ("SLURM_ARRAY_TASK_COUNT", "3"),
    ];
    let mut args = base.to_vec();
    args.push("slurm");
    ok(&chloe_env(d.path(), &args, &slurm), "Slurm array task");
    let mut args = base.to_vec();
    args.extend(["k8s", "--shards", "3"]);
    ok(
        &chloe_env(d.path(), &args, &[("JOB_COMPLETION_INDEX", "1")]),
        "Indexed Job pod",
    );
    // The count from the job file's [cluster] shards.
    let text = std::fs::read_to_string(&job).unwrap();
    std::fs::write(
        &job,
        text.replace("block_paths = 32", "block_paths = 32\nshards = 3"),
    )
    .unwrap();
    let mut args = base.to_vec();
    args.push("k8s_job");
    ok(
        &chloe_env(d.path(), &args, &[("JOB_COMPLETION_INDEX", "1")]),
        "Indexed Job pod, count from the job",
    );
    let flag = units(&d.path().join("flag"));
    assert!(!flag.is_empty());
    for out in ["slurm", "k8s", "k8s_job"] {
        let got = units(&d.path().join(out));
        // A shard with stress blocks also writes the fit units it needed for
        // the book; compare the units each one owns.
        let owned = |dir: &str, v: &[String]| -> Vec<String> {
            v.iter()
                .filter(|u| {
                    let m: serde_json::Value = serde_json::from_str(
                        &std::fs::read_to_string(
                            d.path()
                                .join(dir)
                                .join("shards")
                                .join(u)
                                .join("manifest.json"),
                        )
                        .unwrap(),
                    )
                    .unwrap();
                    m["shard"] == "1/3"
                })
                .cloned()
                .collect()
        };
        assert_eq!(owned(out, &got), owned("flag", &flag), "{out}");
    }
    // Without the count, a pod is refused with the flag to add.
    let mut args = base.to_vec();
    args.push("nocount");
    std::fs::write(&job, text).unwrap();
    let r = chloe_env(d.path(), &args, &[("JOB_COMPLETION_INDEX", "1")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--shards N"), "{}", r.stderr);
    let r = chloe(d.path(), &["run", j, "--shard", "3/3"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}
