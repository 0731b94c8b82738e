//! `spanscope fetch-model HUB_ID`: download an encoder into the Hugging Face cache.

use std::process::ExitCode;

use spanscope::model::source;

/// Arguments of `spanscope fetch-model`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A hub id such as `bert-base-cased` or `allenai/scibert_scivocab_cased`.
    #[arg(value_name = "HUB_ID")]
    id: String,
}

/// Resolves the id (downloading what the cache lacks) and prints where it is.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let files = source::resolve(&args.id)?;
    println!("{}", files.dir.display());
    Ok(ExitCode::SUCCESS)
}
