//! The `spanscope` command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::logging::init(args.log_file.as_deref());
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("spanscope: {err:#}");
            ExitCode::FAILURE
        }
    }
}
