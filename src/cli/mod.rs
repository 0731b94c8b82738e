//! Sub-commands, one file each; `anyhow` lives here and in `main.rs` only.

mod annotate;
mod bench;
mod bench_finetune;
mod bench_ui;
mod calibrate;
mod compare;
mod config;
mod convert;
mod device_arg;
mod encode;
mod eval;
mod explain;
mod explain_corpus;
mod explain_report;
mod explain_svg;
mod fetch_model;
mod heads;
mod init;
pub mod logging;
mod model_arg;
mod predict;
mod prediction;
mod stats;
mod train;
mod types;
mod validate;
mod variant;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use device_arg::DeviceArgs;
use spanscope::model::device::DeviceSpec;

/// Joint entity and relation extraction with the ASpERT model: review and correct in a
/// terminal workbench, predict, explain, train, evaluate, validate.
///
/// With no command, opens the workbench on the sample documents with the bundled model.
///
/// Models run on an NVIDIA GPU when this build has CUDA (`--features cuda`) and the machine
/// a GPU, else on the CPU; the `--device` of each command that runs a model chooses. Every
/// command reads and writes SpERT JSON (`.json`), JSON Lines (`.jsonl`) or plain text
/// (`.txt`, split into sentences and words on load).
#[derive(Debug, Parser)]
#[command(name = "spanscope", version, about, long_about)]
pub struct Cli {
    // The device flags before the command name, as they were once given to every command;
    // still read, no longer listed (each command that runs a model lists its own).
    #[arg(long, hide = true, value_name = "DEVICE")]
    device: Option<DeviceSpec>,
    #[arg(long, hide = true)]
    tf32: bool,
    #[arg(long, hide = true)]
    no_cuda_graphs: bool,

    /// Append diagnostic logs to this file (default: $SPANSCOPE_LOG_FILE, else none).
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the review workbench on documents (a terminal UI; `spanscope` alone opens the
    /// sample documents with the bundled model).
    Annotate(annotate::Args),
    /// Predict entities and relations for every sentence of a file.
    Predict(predict::Args),
    /// Show the attention contribution f_a of one span over every layer and head.
    Heads(heads::Args),
    /// Explain one prediction (head importance, head and word ablation, flip sets, word
    /// attributions), or average head importance per type over a dataset.
    Explain(explain::Args),
    /// Convert a dataset between SpERT and brat, DyGIE, CoNLL, doccano, Label Studio or
    /// spaCy/Prodigy, reporting what the target cannot hold.
    Convert(convert::Args),
    /// Check datasets (and a types file) for everything that can be wrong in them.
    Validate(validate::Args),
    /// Agreement between two annotation sets of the same sentences: P/R/F1 (strict and
    /// boundaries-only), Cohen's kappa over word labels, type confusion, disagreements.
    Compare(compare::Args),
    /// Count what datasets hold: sentences, words, entities and relations per type, review
    /// progress, provenance, relation types by argument types.
    Stats(stats::Args),
    /// Edit a types file: add, rename or retire a type, set or learn relation rules.
    Types(types::Args),
    /// Create an untrained checkpoint: a pretrained encoder with new entity and relation heads.
    Init(init::Args),
    /// Train a model: a pretrained encoder with new heads, fine-tuned on SpERT data.
    Train(train::Args),
    /// Fit the temperatures of a model's entity and relation scores on dev, so that a score
    /// of 0.7 is right about 70 % of the time, and store them in the model.
    Calibrate(calibrate::Args),
    /// Score a model on a gold dataset (SpERT protocol: entities, relations strict and boundaries-only)
    Eval(eval::Args),
    /// The workbench's settings file: print the defaults (every key, remappable), its path, or
    /// check one.
    Config(config::Args),
    /// Download a BERT-family encoder from the Hugging Face hub into the local cache.
    FetchModel(fetch_model::Args),
    /// Measure prediction speed (sentences per second).
    Bench(bench::Args),
    /// Measure the workbench: frame render time and key-to-frame latency, idle and while the
    /// model predicts.
    BenchUi(bench_ui::Args),
    /// Dump an encoder's hidden states and attention probabilities (for parity checks).
    #[command(hide = true)]
    Encode(encode::Args),
}

impl Command {
    /// The device flags of a command that runs a model.
    fn device_args(&self) -> Option<DeviceArgs> {
        match self {
            Command::Annotate(args) => Some(args.device),
            Command::Predict(args) => Some(args.device),
            Command::Heads(args) => Some(args.device),
            Command::Explain(args) => Some(args.device),
            Command::Init(args) => Some(args.device),
            Command::Train(args) => Some(args.device),
            Command::Calibrate(args) => Some(args.device),
            Command::Eval(args) => Some(args.device),
            Command::Bench(args) => Some(args.device),
            Command::BenchUi(args) => Some(args.device),
            Command::Encode(args) => Some(args.device),
            _ => None,
        }
    }
}

/// Runs the chosen sub-command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let before =
        DeviceArgs { device: cli.device, tf32: cli.tf32, no_cuda_graphs: cli.no_cuda_graphs };
    let own = cli.command.as_ref().and_then(Command::device_args).unwrap_or_default();
    let device = own.or(before).apply();
    match cli.command {
        Some(Command::Annotate(args)) => annotate::run(args, device),
        Some(Command::Predict(args)) => predict::run(args, device),
        Some(Command::Heads(args)) => heads::run(args, device),
        Some(Command::Explain(args)) => explain::run(args, device),
        Some(Command::Convert(args)) => convert::run(args),
        Some(Command::Validate(args)) => validate::run(args),
        Some(Command::Compare(args)) => compare::run(args),
        Some(Command::Stats(args)) => stats::run(args),
        Some(Command::Types(args)) => types::run(args),
        Some(Command::Init(args)) => init::run(args, device),
        Some(Command::Train(args)) => train::run(args, device),
        Some(Command::Calibrate(args)) => calibrate::run(args, device),
        Some(Command::Eval(args)) => eval::run(args, device),
        Some(Command::FetchModel(args)) => fetch_model::run(args),
        Some(Command::Config(args)) => config::run(args),
        Some(Command::Bench(args)) => bench::run(args, device),
        Some(Command::BenchUi(args)) => bench_ui::run(args, device),
        Some(Command::Encode(args)) => encode::run(args, device),
        None => annotate::run(annotate::Args::samples(), device),
    }
}
