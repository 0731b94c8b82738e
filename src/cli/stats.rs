//! `spanscope stats FILES|DIR... [--json]`.

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;
use spanscope::data::io::read_sentences_strict;
use spanscope::data::stats::Stats;

use super::validate::datasets;

/// Arguments of `spanscope stats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// SpERT datasets (.json arrays or .jsonl), or folders of them (every .json and .jsonl file
    /// in the folder, types.json and hidden files excepted, as `validate` reads folders).
    #[arg(required = true, value_name = "FILE|DIR")]
    files: Vec<PathBuf>,

    /// Print one JSON object (`files`, each with its counts, and `total`) instead of tables.
    #[arg(long)]
    json: bool,
}

/// One file's counts, for the JSON output.
#[derive(Serialize)]
struct FileStats<'a> {
    file: String,
    #[serde(flatten)]
    stats: &'a Stats,
}

/// Counts every file and the total; any unreadable record stops it, named.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let files = datasets(&args.files)?;
    let mut each = Vec::with_capacity(files.len());
    let mut total = Stats::default();
    for file in &files {
        let stats = Stats::of(&read_sentences_strict(file)?);
        total.add(&stats);
        each.push((file.display().to_string(), stats));
    }
    if args.json {
        let files: Vec<FileStats> =
            each.iter().map(|(file, stats)| FileStats { file: file.clone(), stats }).collect();
        let out = serde_json::json!({ "files": files, "total": total });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    for (file, stats) in &each {
        println!("== {file} ==\n{}", stats.summary());
    }
    if each.len() > 1 {
        println!("== total: {} files ==\n{}", each.len(), total.summary());
    }
    Ok(ExitCode::SUCCESS)
}
