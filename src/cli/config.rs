//! `spanscope config`: the workbench's settings file (keys, reviewing, theme).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use spanscope::workbench::config;

/// Arguments of `spanscope config`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("what").required(true).multiple(false))]
pub struct Args {
    /// Print the default settings, every key and option with what it does (redirect into
    /// ~/.config/spanscope/config.toml and edit).
    #[arg(long = "default", group = "what")]
    default: bool,

    /// Print where the workbench looks for the settings file.
    #[arg(long, group = "what")]
    path: bool,

    /// Check a settings file (default: the one the workbench reads) and say what is wrong.
    #[arg(long, group = "what", value_name = "FILE", num_args = 0..=1)]
    check: Option<Option<PathBuf>>,
}

/// Prints the defaults or the path, or checks a file.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.default {
        print!("{}", config::default_text());
        return Ok(ExitCode::SUCCESS);
    }
    let usual = config::default_path();
    if args.path {
        let path = usual.context("neither XDG_CONFIG_HOME nor HOME is set")?;
        println!("{}", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let Some(path) = args.check.flatten().or(usual) else {
        bail!("neither XDG_CONFIG_HOME nor HOME is set; name the file: --check FILE");
    };
    if !path.exists() {
        bail!("{}: no such file (the workbench uses the defaults)", path.display());
    }
    config::read(&path)?;
    eprintln!("{}: no problems", path.display());
    Ok(ExitCode::SUCCESS)
}
