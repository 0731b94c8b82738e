//! `spanscope validate FILE|DIR... [--types T]`.

use std::path::PathBuf;
use std::process::ExitCode;

use spanscope::data::types::Types;
use spanscope::data::validate::{validate_file, validate_types_file};

/// Arguments of `spanscope validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// SpERT datasets to check (.json arrays or .jsonl), or folders of them (every .json and
    /// .jsonl file in the folder, types.json excepted, as `annotate` opens them).
    #[arg(required = true, value_name = "FILE|DIR")]
    files: Vec<PathBuf>,

    /// A SpERT types file: also report entity and relation types it does not declare.
    #[arg(long, value_name = "TYPES")]
    types: Option<PathBuf>,
}

/// Prints every problem as `FILE: record N: reason`; exits 1 when there is any.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut problems = Vec::new();
    let types = match &args.types {
        Some(path) => {
            let found = validate_types_file(path);
            let usable = found.is_empty();
            problems.extend(found);
            if usable {
                Some(Types::read(path)?)
            } else {
                None
            }
        }
        None => None,
    };
    let files = datasets(&args.files)?;
    for file in &files {
        problems.extend(validate_file(file, types.as_ref()));
    }
    for problem in &problems {
        println!("{problem}");
    }
    if problems.is_empty() {
        eprintln!("{} file(s): no problems", files.len());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} problem(s)", problems.len());
        Ok(ExitCode::from(1))
    }
}

/// The datasets named: each file named, and the .json and .jsonl files of each folder named
/// (sorted, not recursing; a folder's types.json is a types file, not a dataset, and hidden
/// files are left out, as the workbench leaves them out). `stats` reads folders the same way.
pub(super) fn datasets(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if !input.is_dir() {
            files.push(input.clone());
            continue;
        }
        let entries = std::fs::read_dir(input)
            .map_err(|e| anyhow::anyhow!("{}: cannot list the folder: {e}", input.display()))?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| p.extension().is_some_and(|x| x == "json" || x == "jsonl"))
            .filter(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy())
                    .is_some_and(|n| n != "types.json" && !n.starts_with('.'))
            })
            .collect();
        if found.is_empty() {
            anyhow::bail!("{}: no .json or .jsonl datasets in the folder", input.display());
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}
