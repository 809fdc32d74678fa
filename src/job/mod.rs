//! The job runner: the layer between the command line and the stages.
//!
//! [`run`] loads the job file once (command-line [`Overrides`] are applied to
//! the raw file before the one validation), hashes its inputs, loads the panel
//! once, calls the stages as functions ([`crate::walkforward::run`], then
//! [`crate::stress::plan`] and [`crate::stress::engine::run`] on the
//! walk-forward's deployment book, handed over in memory), and gives their
//! results to the report layer ([`crate::report`]), which writes every file
//! of the run into one staged folder. The staged folder replaces the output
//! folder whole when the run succeeds; a failed or killed run leaves the
//! previous output folder or none. `chloe run` runs every stage the job has;
//! `chloe walkforward` and `chloe stress` run one.

pub mod gate;
mod notes;
pub mod provenance;
mod stress_stage;
mod summary;

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context;

use self::stress_stage::{StressInputs, stress_stage};
pub use self::stress_stage::{StressRun, StressStage};
pub use crate::config::Overrides;
use crate::{
    config::{JobSpec, stress::PortfolioSource},
    data::Loaded,
    error::{ConfigError, Exit},
    progress::Progress,
    report::{self, ParquetOut, Provenance, StagedDir, summary::StageTimes},
    stress::{self, BackendChoice},
    walkforward::{self, FeatureInput, Walkforward},
};

/// Which stages a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stages {
    /// Every stage the job file has (`chloe run`).
    All,
    /// The walk-forward only (`chloe walkforward`).
    Walkforward,
    /// The stress test only (`chloe stress`); with `from_walkforward = true`
    /// the walk-forward runs first for the deployment book.
    Stress,
}

/// What the command line asks of the runner.
#[derive(Debug, Clone)]
pub struct Options {
    /// Job file.
    pub job: PathBuf,
    /// Output folder, replacing the job file's.
    pub out: Option<PathBuf>,
    /// Values replacing job-file values before validation.
    pub overrides: Overrides,
    /// Stress compute backend.
    pub backend: BackendChoice,
    /// A previous run's output folder for the gate's baseline thresholds.
    pub baseline: Option<PathBuf>,
    /// Gate against a baseline whose data hash or fold plan differs.
    pub allow_different_data: bool,
}

/// A validated job with its file's bytes hashed.
pub struct LoadedJob {
    /// The validated spec.
    pub spec: JobSpec,
    /// The job file and its SHA-256.
    pub file: report::summary::HashedFile,
}

/// Reads, overrides and validates a job file (the one parse -> validate path).
pub fn load(path: &Path, overrides: &Overrides) -> anyhow::Result<LoadedJob> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes.clone()).map_err(|_| ConfigError::Parse {
        path: path.to_path_buf(),
        message: "is not UTF-8 text".into(),
    })?;
    let spec = JobSpec::from_str_with(&text, path, overrides)?;
    Ok(LoadedJob {
        spec,
        file: report::summary::HashedFile {
            path: path.display().to_string(),
            bytes: bytes.len() as u64,
            sha256: provenance::sha256_hex(&bytes),
        },
    })
}

/// What a run produced and where its reports are.
pub struct RunOutput {
    /// The output folder (committed).
    pub out: PathBuf,
    /// The summary written to summary.json.
    pub summary: report::summary::Summary,
    /// Exit code: the gate's verdict (0 until the gate is wired in).
    pub exit: Exit,
}

/// Runs `stages` of the job in `opts` and writes its reports.
pub fn run(opts: &Options, stages: Stages) -> anyhow::Result<RunOutput> {
    let started = Instant::now();
    let mut times = StageTimes::default();
    let job = load(&opts.job, &opts.overrides)?;
    let spec = &job.spec;
    let out = opts.out.clone().unwrap_or_else(|| spec.output.clone());
    check_out_folder(&out)?;
    if let Some(b) = &opts.baseline {
        gate::check_folder(b)?;
    }
    let stress_spec = match stages {
        Stages::Walkforward => None,
        Stages::All => spec.stress.clone(),
        Stages::Stress => Some(spec.stress.clone().ok_or_else(|| {
            ConfigError::invalid(
                "stress",
                format!("section is missing from {}", opts.job.display()),
            )
        })?),
    };
    let needs_book = stress_spec
        .as_ref()
        .is_some_and(|s| s.portfolio == PortfolioSource::Deployment);
    let run_wf = match stages {
        Stages::Walkforward => true,
        Stages::All => spec.has_walkforward || needs_book,
        Stages::Stress => needs_book,
    };
    if !run_wf && stress_spec.is_none() {
        return Err(ConfigError::invalid(
            "job",
            "has neither a [walkforward] nor a [stress] section: nothing to run",
        )
        .into());
    }
    if needs_book && stages == Stages::Stress {
        tracing::info!(
            "stress.portfolio.from_walkforward = true: running the walk-forward first for the deployment book"
        );
    }
    // A previous run's book is read now, so a bad path fails before any work.
    let file_book = match stress_spec.as_ref().map(|s| &s.portfolio) {
        Some(PortfolioSource::Summary(p)) => Some(summary::read_deployment_book(p)?),
        _ => None,
    };
    let needs_data = run_wf || stress_spec.as_ref().is_some_and(stress::needs_panel);
    if run_wf && spec.data.is_none() {
        return Err(ConfigError::invalid(
            "data",
            "is required by the walk-forward (add a [data] section with a path)",
        )
        .into());
    }
    times.job_s = started.elapsed().as_secs_f64();

    let t = Instant::now();
    let files = if needs_data {
        provenance::data_files(spec)?
    } else {
        Vec::new()
    };
    let (data_files, data_sha256) = provenance::hash_data(&files).context("hashing input data")?;
    times.hash_s = t.elapsed().as_secs_f64();
    let prov = Provenance {
        job_sha256: job.file.sha256.clone(),
        data_sha256: data_sha256.clone().unwrap_or_else(|| "none".into()),
        version: env!("CARGO_PKG_VERSION").into(),
        seed: spec.seed,
    };

    let loaded: Option<Loaded> = match (&spec.data, needs_data) {
        (Some(d), true) => {
            let t = Instant::now();
            let l = crate::data::load_panel(d).context("loading data")?;
            times.load_s = Some(t.elapsed().as_secs_f64());
            Some(l)
        }
        _ => None,
    };
    let mut all_notes = Vec::new();
    if let Some(l) = &loaded {
        all_notes.extend(notes::data(l));
    }

    let progress = Progress::new("starting", 0);
    let mut wf_out: Option<Walkforward> = None;
    if run_wf {
        let l = loaded.as_ref().expect("walk-forward loads data");
        let t = Instant::now();
        let fs = crate::features::compute(&l.panel, &spec.features);
        times.features_s = Some(t.elapsed().as_secs_f64());
        all_notes.extend(notes::features(&fs, l));
        let t = Instant::now();
        let n_folds = walkforward::n_folds(&l.panel, fs.warmup, &spec.walkforward)?;
        progress.stage("walk-forward folds", n_folds as u64 + 1);
        let signals = spec
            .strategy
            .signals
            .as_deref()
            .map(|p| crate::strategy::signals::load(p, &l.panel))
            .transpose()?;
        let hedging = match (&spec.hedge, &spec.data) {
            (Some(h), Some(d)) => Some(load_hedging(h, d, &l.panel, &mut all_notes)?),
            _ => None,
        };
        let wf = walkforward::run_with(
            &l.panel,
            FeatureInput {
                names: &fs.names,
                values: fs.values.view(),
                warmup: fs.warmup,
            },
            &walkforward::Settings {
                spec: &spec.walkforward,
                sizing: &spec.sizing,
                strategy: &spec.strategy,
                portfolio: &spec.portfolio,
                signals: signals.as_ref(),
                hedge: hedging.as_ref(),
            },
            spec.seed,
            Some(&progress),
        )?;
        progress.inc(1);
        times.walkforward_s = Some(t.elapsed().as_secs_f64());
        all_notes.extend(notes::walkforward(&wf));
        all_notes.extend(notes::account(&wf, &l.panel.symbols, &spec.portfolio));
        all_notes.extend(notes::deployment(wf.deployment.as_ref(), &l.panel.symbols));
        // The feature array (bars x assets x features) is not needed past here.
        drop(fs);
        wf_out = Some(wf);
    }

    let stage = StagedDir::new(&out)?;
    let parquet = ParquetOut::new(&stage, &prov);
    let t_report = Instant::now();
    if let (Some(wf), Some(l)) = (&wf_out, &loaded) {
        report::walkforward::write_parquet(&parquet, &l.panel, wf)?;
    }
    let mut report_s = t_report.elapsed().as_secs_f64();

    let book = wf_out.as_ref().and_then(|wf| {
        let l = loaded.as_ref()?;
        let d = wf.deployment.as_ref()?;
        Some(summary::book_weights(&l.panel.symbols, &d.weights))
    });
    let stress_stage = match stress_spec {
        None => None,
        Some(s) => Some(stress_stage(
            s,
            StressInputs {
                deployment: book.as_ref(),
                deployment_fit: wf_out.as_ref().is_some_and(|wf| wf.deployment.is_some()),
                file_book: file_book.as_ref(),
                panel: loaded.as_ref().map(|l| &l.panel),
                seed: spec.seed,
                backend: opts.backend,
            },
            &parquet,
            &progress,
            &mut times,
            &mut all_notes,
        )?),
    };
    progress.finish();

    let t = Instant::now();
    if let Some(StressStage::Ran(r)) = &stress_stage {
        let (schema, batch) = report::stress::summary_batch(&r.outcome.summaries)?;
        parquet.write("stress_summary.parquet", schema, &[batch], r.kind)?;
        let (schema, batch) = report::stress::bands_batch(&r.outcome.bands)?;
        parquet.write("stress_bands.parquet", schema, &[batch], r.kind)?;
    }
    report_s += t.elapsed().as_secs_f64();
    notes::log(&all_notes);
    times.report_s = report_s;
    times.total_s = started.elapsed().as_secs_f64();
    let summary = summary::build(summary::Parts {
        job: &job,
        data_files,
        data_sha256,
        loaded: loaded.as_ref(),
        wf: wf_out.as_ref(),
        stress: stress_stage.as_ref(),
        notes: all_notes,
        times,
    });
    report::write_summary(&stage, &summary)?;

    // The release gate reads the staged reports (the same files `chloe gate`
    // reads later), so both give one verdict; its files go into the same folder.
    let gate_spec = spec.gate.clone().unwrap_or_default();
    let outcome = gate::evaluate(
        stage.dir(),
        &gate_spec,
        opts.baseline.as_deref(),
        opts.allow_different_data,
    )?;
    gate::write_gate_files(stage.dir(), &outcome)?;
    gate::print(&outcome);
    let exit = outcome.exit();

    stage.commit()?;
    Ok(RunOutput { out, summary, exit })
}

/// Reads the `[[hedge.instruments]]` series and aligns them to the panel calendar.
fn load_hedging(
    h: &crate::config::hedge::HedgeSpec,
    d: &crate::config::DataSpec,
    panel: &crate::data::Panel,
    notes: &mut Vec<report::summary::Note>,
) -> anyhow::Result<walkforward::Hedging> {
    let mut instruments = Vec::with_capacity(h.instruments.len());
    for (k, i) in h.instruments.iter().enumerate() {
        let columns = i.columns.as_ref().unwrap_or(&d.columns);
        let series = crate::data::load::load_aligned(d, &i.path, &i.symbol, columns, panel)
            .with_context(|| format!("loading hedge.instruments[{k}] ({})", i.symbol))?;
        let missing = series.available.iter().filter(|a| !**a).count();
        if missing > 0 {
            notes.push(notes::hedge_gaps(&i.symbol, missing, panel.n_bars()));
        }
        instruments.push(series);
    }
    Ok(walkforward::Hedging {
        spec: h.clone(),
        instruments,
    })
}

/// Refuses to replace an existing folder that is not a chloe output: the
/// staged folder replaces the output folder whole.
fn check_out_folder(out: &Path) -> anyhow::Result<()> {
    let Ok(mut entries) = std::fs::read_dir(out) else {
        return Ok(());
    };
    let empty = entries.next().is_none();
    if !empty && !out.join("summary.json").is_file() {
        return Err(crate::error::UsageError(format!(
            "--out {}: the folder exists and is not a chloe output folder (no summary.json); \
             chloe replaces the output folder whole, so choose a new or empty folder",
            out.display()
        ))
        .into());
    }
    Ok(())
}

/// `chloe run`, `chloe walkforward`, `chloe stress`: run, print a short result, exit code.
pub fn command(opts: &Options, stages: Stages) -> anyhow::Result<Exit> {
    let r = run(opts, stages)?;
    let s = &r.summary;
    if let Some(wf) = &s.walkforward {
        let a = &wf.aggregate;
        let f = |v: Option<f64>| v.map_or_else(|| "null".to_string(), |x| format!("{x:.3}"));
        println!(
            "walk-forward {}: {} folds, {} out-of-sample bars; avg Sharpe {}, stitched Sharpe {}, \
             worst drawdown {}, consistency {}, PSR {}, DSR {}, edge precision {} (base rate {})",
            s.job,
            a.n_folds,
            a.oos_bars,
            f(a.avg_sharpe),
            f(a.stitched_sharpe),
            f(a.worst_drawdown),
            f(a.consistency),
            f(a.psr),
            f(a.dsr),
            f(a.edge_precision),
            f(a.base_rate),
        );
    }
    if let Some(b) = &s.deployment_book {
        if b.all_cash {
            println!("deployment book on {}: all cash", b.timestamp);
        } else {
            println!(
                "deployment book on {}: {} positions, gross {:.3}",
                b.timestamp,
                b.weights.len(),
                b.gross
            );
        }
    }
    match s.stress.as_ref() {
        Some(st) if st.skipped.is_some() => {
            println!("stress: skipped ({})", st.skipped.as_deref().unwrap_or(""));
        }
        Some(st) => {
            if let Some(res) = &st.result {
                for sc in &res.scenarios {
                    println!(
                        "stress {}: VaR99 {:.4}, CVaR99 {:.4}, P(drawdown breach) {:.3}",
                        sc.scenario, sc.var_99, sc.cvar_99, sc.prob_drawdown_breach
                    );
                }
            }
        }
        None => {}
    }
    println!("reports in {}", r.out.display());
    Ok(r.exit)
}
