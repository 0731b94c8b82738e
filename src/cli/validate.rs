//! `spanscope validate FILE... [--types T]`.

use std::path::PathBuf;
use std::process::ExitCode;

use spanscope::data::types::Types;
use spanscope::data::validate::{validate_file, validate_types_file};

/// Arguments of `spanscope validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// SpERT datasets to check (.json arrays or .jsonl).
    #[arg(required = true, value_name = "FILE")]
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
    for file in &args.files {
        problems.extend(validate_file(file, types.as_ref()));
    }
    for problem in &problems {
        println!("{problem}");
    }
    if problems.is_empty() {
        eprintln!("{} file(s): no problems", args.files.len());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} problem(s)", problems.len());
        Ok(ExitCode::from(1))
    }
}
