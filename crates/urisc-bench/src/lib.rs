//! urisc's benchmark (SPEC §9): a suite of methods × datasets × seeds trained (or loaded),
//! run on each dataset's test split and scored with every metric of `urisc-eval`, into a
//! leaderboard (Markdown, CSV, JSON, bar plots) with human-level rows and an HTML report.
//!
//! Each run lives in `OUT/runs/ID/` where ID carries a hash of its resolved settings and of
//! its data's bytes; training lives in `OUT/train/ID/` (shared by methods that differ only in
//! how they predict). Re-running a suite reuses finished runs, resumes interrupted training
//! exactly, and retries failed runs; a failed run is a row with its error, never a stop.

pub mod cells;
pub mod dataset_files;
pub mod error;
pub mod hash;
pub mod human;
pub mod leaderboard;
pub mod overlay;
pub mod plot;
pub mod report;
pub mod runner;
pub mod suite;

use std::path::{Path, PathBuf};

pub use error::BenchError;
pub use leaderboard::Leaderboard;
pub use runner::{Event, PlannedRun, RunRecord, Status};
pub use suite::Suite;

/// How a suite is run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The output folder.
    pub out: PathBuf,
    /// Only these methods and/or datasets (empty: all).
    pub only: Vec<String>,
    /// Re-run the selected runs from scratch (training included) instead of reusing them.
    pub force: bool,
}

/// What a suite run did.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The leaderboard written.
    pub leaderboard: Leaderboard,
    /// Every record in it (method runs, then human rows), with whether it is human.
    pub records: Vec<(RunRecord, bool)>,
    /// Runs carried out by this invocation.
    pub executed: usize,
    /// Runs that trained (or resumed training) in this invocation.
    pub trained: usize,
    /// Finished runs reused.
    pub reused: usize,
    /// Failed runs (of this invocation).
    pub failed: usize,
    /// Files written for people to read.
    pub files: Vec<PathBuf>,
}

/// The marker naming the suite an output folder belongs to.
const OWNER_FILE: &str = "suite-name";

/// Runs the suite into `options.out`: refuses an output that is, lies inside or holds one of the
/// suite's inputs ([`Suite::inputs`]) whatever `force` says, holds the output's
/// [`urisc_io::lock::FolderLock`] (a second run into it is refused, naming the first), plans
/// every run, carries out the selected ones that are not finished, and writes the leaderboard,
/// plots and report over all finished runs.
pub fn run_suite(
    suite: &Suite,
    options: &Options,
    events: &mut dyn FnMut(Event),
) -> Result<Outcome, BenchError> {
    suite.check_only(&options.only)?;
    let out = &options.out;
    urisc_io::paths::refuse_input(out, &suite.inputs)?;
    std::fs::create_dir_all(out).map_err(|e| BenchError::io(out, e))?;
    let _lock = urisc_io::lock::FolderLock::take(out)?;
    claim_output(out, suite, options.force)?;
    let plan = runner::plan(suite, out)?;
    let chosen: Vec<&PlannedRun> = plan
        .iter()
        .filter(|r| runner::selected(suite, r, &options.only))
        .collect();
    if options.force {
        for run in &chosen {
            remove_dir(&out.join("runs").join(&run.id))?;
            if let Some(t) = &run.train_id {
                remove_dir(&out.join("train").join(t))?;
            }
        }
    }
    let reused = chosen
        .iter()
        .filter(|r| runner::finished(out, r).is_some())
        .count();
    events(Event::Plan {
        total: chosen.len(),
        reused,
    });
    let (mut executed, mut trained, mut failed) = (0, 0, 0);
    let mut index = 0;
    for run in &chosen {
        if runner::finished(out, run).is_some() {
            continue;
        }
        events(Event::RunStart { index, id: &run.id });
        index += 1;
        let record = runner::execute(suite, out, run, events);
        executed += 1;
        trained += record.trained_now as usize;
        failed += (record.status == Status::Failed) as usize;
        events(Event::RunEnd(&record));
    }
    // The leaderboard covers every finished (or failed) run of the whole plan, so `--only`
    // adds to it instead of replacing it.
    let mut records: Vec<(RunRecord, bool)> = Vec::new();
    for run in &plan {
        let path = out.join("runs").join(&run.id).join("result.json");
        if let Ok(text) = std::fs::read_to_string(&path) {
            match serde_json::from_str::<RunRecord>(&text) {
                Ok(r) => records.push((r, false)),
                Err(e) => {
                    return Err(BenchError::Output {
                        path,
                        message: format!("unreadable run record ({e}); remove it or use --force"),
                    })
                }
            }
        }
    }
    for d in &suite.datasets {
        records.extend(human::human_records(d).into_iter().map(|r| (r, true)));
    }
    let board = leaderboard::build(suite, &records);
    let files = write_outputs(out, suite, &board, &records)?;
    Ok(Outcome {
        leaderboard: board,
        records,
        executed,
        trained,
        reused,
        failed,
        files,
    })
}

/// Refuses an output folder (created, and locked) that holds another suite's results (unless
/// `force`); marks it as this suite's and keeps a copy of the suite file.
fn claim_output(out: &Path, suite: &Suite, force: bool) -> Result<(), BenchError> {
    let owner = out.join(OWNER_FILE);
    if let Ok(name) = std::fs::read_to_string(&owner) {
        if name.trim() != suite.name && !force {
            return Err(BenchError::Output {
                path: out.to_path_buf(),
                message: format!(
                    "holds the results of suite {:?}, not {:?} (use another --out, or --force)",
                    name.trim(),
                    suite.name
                ),
            });
        }
    } else if !force
        && std::fs::read_dir(out)
            .map_err(|e| BenchError::io(out, e))?
            .flatten()
            .any(|e| e.file_name() != urisc_io::lock::LOCK_FILE)
    {
        return Err(BenchError::Output {
            path: out.to_path_buf(),
            message: "is not empty and holds no suite's results (use another --out, or --force)"
                .into(),
        });
    }
    urisc_io::write_atomically(&owner, true, |f| {
        std::io::Write::write_all(f, suite.name.as_bytes())
    })?;
    urisc_io::write_atomically(&out.join("suite.toml"), true, |f| {
        std::io::Write::write_all(f, suite.text.as_bytes())
    })?;
    Ok(())
}

fn remove_dir(dir: &Path) -> Result<(), BenchError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| BenchError::io(dir, e))?;
    }
    Ok(())
}

fn write_outputs(
    out: &Path,
    suite: &Suite,
    board: &Leaderboard,
    records: &[(RunRecord, bool)],
) -> Result<Vec<PathBuf>, BenchError> {
    let write = |name: &str, bytes: &[u8]| -> Result<PathBuf, BenchError> {
        let path = out.join(name);
        urisc_io::write_atomically(&path, true, |f| std::io::Write::write_all(f, bytes))?;
        Ok(path)
    };
    let mut files = vec![
        write("leaderboard.md", board.markdown().as_bytes())?,
        write("leaderboard.csv", board.csv().as_bytes())?,
        write("leaderboard.json", board.json().as_bytes())?,
    ];
    let mut svgs = Vec::new();
    for d in &board.datasets {
        if d.rows.is_empty() {
            continue;
        }
        let svg = plot::bars_svg(d);
        files.push(write(&format!("bars-{}.svg", d.name), svg.as_bytes())?);
        files.push(write(&format!("bars-{}.png", d.name), &plot::bars_png(d))?);
        svgs.push((d.name.clone(), svg));
    }
    report::write_report(out, suite, board, records, &svgs)?;
    files.push(out.join("report.html"));
    Ok(files)
}
