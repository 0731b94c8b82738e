//! Sub-commands, one file each; `anyhow` lives here and in `main.rs` only.

mod annotate;
mod bench;
mod bench_finetune;
mod bench_ui;
mod calibrate;
mod compare;
mod config;
mod convert;
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
use spanscope::model::device::DeviceSpec;

/// Joint entity and relation extraction with the ASpERT model: review and correct in a
/// terminal workbench, predict, explain, train, evaluate, validate.
///
/// With no command, opens the workbench on the sample documents with the bundled model.
///
/// Models run on an NVIDIA GPU when this build has CUDA (`--features cuda`) and the machine
/// a GPU, else on the CPU; `--device` chooses. Every command reads and writes SpERT JSON (`.json`), JSON Lines
/// (`.jsonl`) or plain text (`.txt`, split into sentences and words on load).
#[derive(Debug, Parser)]
#[command(name = "spanscope", version, about, long_about)]
pub struct Cli {
    /// Where the model runs: auto (the first GPU in a CUDA build on a machine with one,
    /// else the CPU), cpu, cuda or cuda:N.
    #[arg(long, global = true, default_value = "auto", value_name = "DEVICE")]
    pub device: DeviceSpec,

    /// On the GPU, run f32 matrix products on TF32 tensor cores: faster for large encoders,
    /// with about three significant digits fewer in each product (as PyTorch's
    /// `allow_tf32`; off by default, and no effect on the CPU).
    #[arg(long, global = true)]
    pub tf32: bool,

    /// On the GPU, run every encoder pass op by op instead of replaying it as a CUDA graph
    /// (graphs are recorded for each batch shape seen twice; the results are the same).
    #[arg(long, global = true)]
    pub no_cuda_graphs: bool,

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

/// Runs the chosen sub-command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    candle_core::cuda::set_gemm_reduced_precision_f32(cli.tf32);
    spanscope::model::graphs::set_enabled(!cli.no_cuda_graphs);
    match cli.command {
        Some(Command::Annotate(args)) => annotate::run(args, cli.device),
        Some(Command::Predict(args)) => predict::run(args, cli.device),
        Some(Command::Heads(args)) => heads::run(args, cli.device),
        Some(Command::Explain(args)) => explain::run(args, cli.device),
        Some(Command::Convert(args)) => convert::run(args),
        Some(Command::Validate(args)) => validate::run(args),
        Some(Command::Compare(args)) => compare::run(args),
        Some(Command::Stats(args)) => stats::run(args),
        Some(Command::Types(args)) => types::run(args),
        Some(Command::Init(args)) => init::run(args, cli.device),
        Some(Command::Train(args)) => train::run(args, cli.device),
        Some(Command::Calibrate(args)) => calibrate::run(args, cli.device),
        Some(Command::Eval(args)) => eval::run(args, cli.device),
        Some(Command::FetchModel(args)) => fetch_model::run(args),
        Some(Command::Config(args)) => config::run(args),
        Some(Command::Bench(args)) => bench::run(args, cli.device),
        Some(Command::BenchUi(args)) => bench_ui::run(args, cli.device),
        Some(Command::Encode(args)) => encode::run(args, cli.device),
        None => annotate::run(annotate::Args::samples(), cli.device),
    }
}
