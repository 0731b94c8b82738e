//! `spanscope predict --input FILE [--model DIR] [--output FILE]`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use candle_core::DType;
use spanscope::data::io::{read_sentences, write_sentences};
use spanscope::model::checkpoint;
use spanscope::model::device::DeviceSpec;

use super::model_arg::checkpoint_dir;
use super::prediction::{output_format, predict_all};

/// Arguments of `spanscope predict`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sentences to annotate: SpERT .json, .jsonl, or plain .txt. Gold annotations in the
    /// input are ignored; tokens and extra keys are kept exactly.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,

    /// A spanscope checkpoint directory (default: the bundled model).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,

    /// Where to write the predictions (default: standard output). The format follows the
    /// extension: .jsonl gives JSON Lines, anything else a SpERT JSON array.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Sentences per forward pass.
    #[arg(long, default_value_t = 8, value_name = "N")]
    batch_size: usize,
}

/// Loads the model and the input, predicts, writes SpERT JSON.
pub fn run(args: Args, device: DeviceSpec) -> anyhow::Result<ExitCode> {
    let loaded = read_sentences(&args.input)?;
    for problem in &loaded.problems {
        eprintln!("spanscope: warning: {problem}");
    }
    let dir = checkpoint_dir(args.model.as_deref())?;
    let device = device.open()?;
    let (model, _config, pieces, _types) = checkpoint::load(&dir, &device, DType::F32)
        .with_context(|| format!("loading model {}", dir.display()))?;

    let annotated = predict_all(&model, &pieces, &loaded.sentences, args.batch_size, &device)?;

    match &args.output {
        Some(path) => {
            write_sentences(path, &annotated, output_format(path))?;
            eprintln!("{} sentence(s) written to {}", annotated.len(), path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &annotated)?;
            writeln!(out)?;
        }
    }
    // Records that could not be read are not in the output: say so through the exit code.
    Ok(if loaded.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
