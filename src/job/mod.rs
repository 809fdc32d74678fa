//! The job runner: the layer between the command line and the stages.
//!
//! A run has three phases. [`prepare`] loads the job file once
//! (command-line [`Overrides`] are applied to the raw file before the one
//! validation), hashes its inputs, loads the panel once and plans the folds.
//! The units ([`crate::cluster`]: each fold's fits, blocks of stress paths)
//! are then computed, here in one process, or by the shards of a cluster
//! job. [`finish`] runs the cheap serial rest from the units' outputs: the
//! continuous replay ([`crate::walkforward::replay_fitted`]), the metrics,
//! the stress summaries of the deployment book, the reports ([`crate::report`]),
//! summary.json and the gate. `chloe merge` calls the same [`finish`] on
//! units read from disk; a single run passes its units through the same
//! encoding, so both write the same bytes.
//!
//! A single run writes every file into one staged folder, which replaces the
//! output folder whole when the run succeeds; a failed or killed run leaves
//! the previous output folder or none. `chloe run` runs every stage the job
//! has; `chloe walkforward` and `chloe stress` run one.

pub mod gate;
mod monitor_stage;
mod notes;
pub mod provenance;
mod stress_stage;
mod summary;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context;

use self::stress_stage::stress_stage;
pub use self::stress_stage::{BackendInfo, StressInputs, StressRun, StressStage, resolve_book};
pub use crate::config::Overrides;
use crate::{
    cluster::{self, UnitSource},
    config::{
        JobSpec,
        stress::{PortfolioSource, StressSpec},
    },
    data::{Loaded, Panel},
    error::{ConfigError, Exit},
    features::FeatureSet,
    progress::Progress,
    report::{self, ParquetOut, Provenance, StagedDir, summary::StageTimes},
    strategy::signals::Signals,
    stress::{self, BackendChoice},
    walkforward::{self, Walkforward},
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
    /// Exit code: the gate's verdict.
    pub exit: Exit,
}

/// Everything a run knows before its first unit: the job, its inputs'
/// hashes, the panel, the fold plan and what the stress stage will read.
pub struct Prepared {
    /// The options the run was started with.
    pub opts: Options,
    /// Which stages run.
    pub stages: Stages,
    /// The validated job.
    pub job: LoadedJob,
    /// The output folder.
    pub out: PathBuf,
    /// Provenance written into every Parquet report.
    pub prov: Provenance,
    /// Input data files with their hashes.
    pub data_files: Vec<report::summary::HashedFile>,
    /// Hash over every input data file.
    pub data_sha256: Option<String>,
    /// The panel, when a stage reads data.
    pub loaded: Option<Loaded>,
    /// Feature names, warm-up and notes, when the walk-forward runs (the
    /// values are computed only where a fold is fitted: [`Prepared::feature_values`]).
    pub features: Option<FeatureSet>,
    /// The fold plan, when the walk-forward runs.
    pub layout: Option<walkforward::Layout>,
    /// The signals file, aligned to the panel (strategy `signals`).
    pub signals: Option<Signals>,
    /// The hedge instruments aligned to the panel, when the job hedges.
    pub hedging: Option<walkforward::Hedging>,
    /// The stress spec, when the stress stage runs.
    pub stress_spec: Option<StressSpec>,
    /// A previous run's book, for `from_walkforward = "path"`.
    pub file_book: Option<BTreeMap<String, f64>>,
    /// Notes so far (data, features).
    pub notes: Vec<report::summary::Note>,
    /// Wall times so far.
    pub times: StageTimes,
    /// When the run started.
    pub started: Instant,
}

impl Prepared {
    /// The walk-forward settings of the job.
    pub fn settings(&self) -> walkforward::Settings<'_> {
        let spec = &self.job.spec;
        walkforward::Settings {
            spec: &spec.walkforward,
            sizing: &spec.sizing,
            strategy: &spec.strategy,
            portfolio: &spec.portfolio,
            execution: &spec.execution,
            signals: self.signals.as_ref(),
            hedge: self.hedging.as_ref(),
        }
    }

    /// The panel, when loaded.
    pub fn panel(&self) -> Option<&Panel> {
        self.loaded.as_ref().map(|l| &l.panel)
    }

    /// The feature values the fits read (`[bars, assets, features]`).
    pub fn feature_values(&self) -> anyhow::Result<FeatureSet> {
        let panel = self
            .panel()
            .ok_or_else(|| anyhow::anyhow!("internal error: fits without a panel"))?;
        Ok(crate::features::compute(panel, &self.job.spec.features))
    }
}

/// Loads and validates the job, hashes and loads its data, plans the folds.
pub fn prepare(opts: &Options, stages: Stages) -> anyhow::Result<Prepared> {
    let started = Instant::now();
    let mut times = StageTimes::default();
    let job = load(&opts.job, &opts.overrides)?;
    let spec = &job.spec;
    let out = opts.out.clone().unwrap_or_else(|| spec.output.clone());
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
    let mut notes = Vec::new();
    if let Some(l) = &loaded {
        notes.extend(notes::data(l));
    }
    let (mut features, mut layout, mut signals, mut hedging) = (None, None, None, None);
    if run_wf {
        let l = loaded.as_ref().expect("walk-forward loads data");
        let fs = crate::features::describe(&l.panel, &spec.features);
        notes.extend(notes::features(&fs, l));
        layout = Some(walkforward::layout(&l.panel, fs.warmup, &spec.walkforward)?);
        signals = spec
            .strategy
            .signals
            .as_deref()
            .map(|p| crate::strategy::signals::load(p, &l.panel))
            .transpose()?;
        hedging = match (&spec.hedge, &spec.data) {
            (Some(h), Some(d)) => Some(load_hedging(h, d, &l.panel, &mut notes)?),
            _ => None,
        };
        features = Some(fs);
    }
    Ok(Prepared {
        opts: opts.clone(),
        stages,
        job,
        out,
        prov,
        data_files,
        data_sha256,
        loaded,
        features,
        layout,
        signals,
        hedging,
        stress_spec,
        file_book,
        notes,
        times,
        started,
    })
}

/// Runs `stages` of the job in `opts` and writes its reports: prepare, the
/// units in this process, finish, then the staged folder replaces the output folder.
pub fn run(opts: &Options, stages: Stages) -> anyhow::Result<RunOutput> {
    let prep = prepare(opts, stages)?;
    check_out_folder(&prep.out)?;
    let progress = Progress::new("starting", 0);
    let mut units = cluster::Local::new(&prep, &progress);
    let stage = StagedDir::new(&prep.out)?;
    let done = finish(&prep, &mut units, &stage, &progress)?;
    stage.commit()?;
    done.route(&prep);
    Ok(RunOutput {
        out: prep.out.clone(),
        summary: done.summary,
        exit: done.exit,
    })
}

/// The walk-forward from the folds' fits (the serial replay, metrics, aggregates).
pub fn walkforward_from_units(
    prep: &Prepared,
    units: &mut dyn UnitSource,
) -> anyhow::Result<Option<Walkforward>> {
    let (Some(layout), Some(fs), Some(panel)) = (&prep.layout, &prep.features, prep.panel()) else {
        return Ok(None);
    };
    let fits = units.fits(prep)?;
    let wf = walkforward::replay_fitted(
        panel,
        &fs.names,
        layout,
        &prep.settings(),
        prep.job.spec.seed,
        &fits,
    )?;
    Ok(Some(wf))
}

/// This run's deployment book (symbol -> non-zero weight).
pub fn deployment_book(prep: &Prepared, wf: Option<&Walkforward>) -> Option<BTreeMap<String, f64>> {
    let d = wf?.deployment.as_ref()?;
    Some(summary::book_weights(&prep.panel()?.symbols, &d.weights))
}

/// What the stress stage reads, from the prepared run and its walk-forward.
pub fn stress_inputs<'a>(
    prep: &'a Prepared,
    wf: Option<&'a Walkforward>,
    book: Option<&'a BTreeMap<String, f64>>,
) -> StressInputs<'a> {
    StressInputs {
        deployment: book,
        deployment_fit: wf.is_some_and(|wf| wf.deployment.is_some()),
        file_book: prep.file_book.as_ref(),
        panel: prep.panel(),
        seed: prep.job.spec.seed,
        block_paths: prep.job.spec.cluster.block_paths,
    }
}

/// What the finish phase wrote: the summary, the gate's exit code and the
/// monitor's alerts (routed once the folder is in place).
pub struct Finished {
    /// summary.json as written.
    pub summary: report::summary::Summary,
    /// The gate's exit code.
    pub exit: Exit,
    monitor: crate::monitor::Monitor,
}

impl Finished {
    /// Hands the alerts to the job's routing commands; call after the reports are in place.
    pub fn route(&self, prep: &Prepared) {
        monitor_stage::route(&prep.job.spec, &self.monitor);
    }
}

/// The finish phase a single run and a merge share: the replay from the
/// fold fits, the stress summaries from the path blocks, every report,
/// summary.json and the gate, written into `stage`.
pub fn finish(
    prep: &Prepared,
    units: &mut dyn UnitSource,
    stage: &StagedDir,
    progress: &Progress,
) -> anyhow::Result<Finished> {
    let spec = &prep.job.spec;
    let mut times = prep.times.clone();
    let mut all_notes = prep.notes.clone();
    let t = Instant::now();
    let wf_out = walkforward_from_units(prep, units)?;
    if let (Some(wf), Some(panel)) = (&wf_out, prep.panel()) {
        times.walkforward_s = Some(t.elapsed().as_secs_f64());
        all_notes.extend(notes::walkforward(wf));
        all_notes.extend(notes::account(
            wf,
            &panel.symbols,
            &spec.portfolio,
            &spec.execution,
        ));
        all_notes.extend(notes::deployment(wf.deployment.as_ref(), &panel.symbols));
    }

    let parquet = ParquetOut::new(stage, &prep.prov);
    let t_report = Instant::now();
    if let (Some(wf), Some(panel)) = (&wf_out, prep.panel()) {
        report::walkforward::write_parquet(&parquet, panel, wf)?;
    }
    let mut report_s = t_report.elapsed().as_secs_f64();

    let book = deployment_book(prep, wf_out.as_ref());
    let stress_stage = match &prep.stress_spec {
        None => None,
        Some(s) => Some(stress_stage(
            s.clone(),
            stress_inputs(prep, wf_out.as_ref(), book.as_ref()),
            units,
            &parquet,
            progress,
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
    let panel = prep.panel();
    let mon = monitor_stage::run(
        spec,
        panel,
        wf_out.as_ref(),
        stress_stage.as_ref(),
        &parquet,
        &mut times,
    )?;
    notes::log(&all_notes);
    times.report_s = report_s;
    times.total_s = prep.started.elapsed().as_secs_f64();
    let mut summary = summary::build(summary::Parts {
        job: &prep.job,
        data_files: prep.data_files.clone(),
        data_sha256: prep.data_sha256.clone(),
        loaded: prep.loaded.as_ref(),
        wf: wf_out.as_ref(),
        stress: stress_stage.as_ref(),
        notes: all_notes,
        times,
    });
    units.annotate(&mut summary);
    summary.monitor = Some(monitor_stage::section(spec, &mon));
    report::write_summary(stage, &summary)?;

    // The release gate reads the staged reports (the same files `chloe gate`
    // reads later), so both give one verdict; its files go into the same folder.
    let gate_spec = spec.gate.clone().unwrap_or_default();
    let outcome = gate::evaluate(
        stage.dir(),
        &gate_spec,
        prep.opts.baseline.as_deref(),
        prep.opts.allow_different_data,
    )?;
    gate::write_gate_files(stage.dir(), &outcome)?;
    gate::print(&outcome);
    let exit = outcome.exit();
    monitor_stage::page(stage.dir(), &mut summary, prep.started)?;
    Ok(Finished {
        summary,
        exit,
        monitor: mon,
    })
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
    print_result(&r);
    Ok(r.exit)
}

/// `chloe run --shard I/N` (or a shard chosen by the scheduler's
/// environment): the shard's units under `OUT/shards/`, exit 0; without a
/// shard, a whole run.
pub fn run_command(
    opts: &Options,
    shard: Option<cluster::Shard>,
    shards: Option<u32>,
) -> anyhow::Result<Exit> {
    let env = |k: &str| std::env::var(k).ok();
    let job_shards = || Ok(load(&opts.job, &opts.overrides)?.spec.cluster.shards);
    let Some(shard) = cluster::plan::select(shard, shards, &env, &job_shards)? else {
        return command(opts, Stages::All);
    };
    let prep = prepare(opts, Stages::All)?;
    cluster::shard::run(&prep, shard)?;
    println!(
        "shard {shard}: units in {}",
        cluster::store::shards_dir(&prep.out).display()
    );
    Ok(Exit::Ok)
}

/// Prints the short result of a run or merge.
pub fn print_result(r: &RunOutput) {
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
}
