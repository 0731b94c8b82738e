//! `spanscope stats FILES|DIR... [--json]`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
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
        println!("== {file} ==\n{}", block(stats));
    }
    if each.len() > 1 {
        println!("== total: {} files ==\n{}", each.len(), block(&total));
    }
    Ok(ExitCode::SUCCESS)
}

/// The counts of one file (or the total) as a few labelled lines.
fn block(s: &Stats) -> String {
    let mut out = format!(
        "sentences {}   words {}   entities {}   relations {}\n",
        s.sentences, s.words, s.entities, s.relations
    );
    if s.with_review_key == 0 {
        out.push_str("reviewed:    not tracked (no record has a \"reviewed\" key)\n");
    } else {
        let share = 100.0 * s.reviewed as f64 / s.sentences as f64;
        let _ = writeln!(
            out,
            "reviewed:    {} of {} sentences ({share:.1} %)",
            s.reviewed, s.sentences
        );
    }
    let _ = writeln!(out, "entities:    {}", counts(&s.entity_types));
    let _ = writeln!(out, "relations:   {}", counts(&s.relation_types));
    let _ = writeln!(
        out,
        "provenance:  entities {}; relations {}",
        counts(&s.entity_sources),
        counts(&s.relation_sources)
    );
    if !s.signatures.is_empty() {
        out.push_str("relation types by head and tail entity type:\n");
        let width = s.signatures.keys().map(|(r, _, _)| r.chars().count()).max().unwrap_or(0);
        let arrow: Vec<String> =
            s.signatures.keys().map(|(_, h, t)| format!("{h} -> {t}")).collect();
        let arrow_width = arrow.iter().map(|a| a.chars().count()).max().unwrap_or(0);
        for (((relation, _, _), n), arrow) in s.signatures.iter().zip(&arrow) {
            let _ = writeln!(out, "  {relation:<width$}  {arrow:<arrow_width$}  {n:>6}");
        }
    }
    out
}

/// `name n, name n, ...`, or `none`.
fn counts(map: &BTreeMap<String, usize>) -> String {
    if map.is_empty() {
        return "none".to_string();
    }
    map.iter().map(|(name, n)| format!("{name} {n}")).collect::<Vec<_>>().join(", ")
}
