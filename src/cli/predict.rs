//! `spanscope predict --input FILE [--model DIR] [--output FILE]`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use candle_core::DType;
use spanscope::data::io::{read_sentences, write_sentences};
use spanscope::data::types::Types;
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

    /// Drop predicted relations that break a relation rule (the head and tail entity types
    /// each relation type allows) of --types, or else of the checkpoint's types.
    #[arg(long)]
    constrain_relations: bool,

    /// Types file whose relation rules --constrain-relations applies.
    #[arg(long, value_name = "FILE", requires = "constrain_relations")]
    types: Option<PathBuf>,
}

/// Loads the model and the input, predicts, writes SpERT JSON.
pub fn run(args: Args, device: DeviceSpec) -> anyhow::Result<ExitCode> {
    let loaded = read_sentences(&args.input)?;
    for problem in &loaded.problems {
        eprintln!("spanscope: warning: {problem}");
    }
    let dir = checkpoint_dir(args.model.as_deref())?;
    let device = device.open()?;
    let (model, _config, pieces, types) = checkpoint::load(&dir, &device, DType::F32)
        .with_context(|| format!("loading model {}", dir.display()))?;

    let mut annotated = predict_all(&model, &pieces, &loaded.sentences, args.batch_size, &device)?;
    if args.constrain_relations {
        let rules = match &args.types {
            Some(path) => Types::read(path)?,
            None => types,
        };
        let dropped: usize = annotated.iter_mut().map(|s| rules.drop_violations(s)).sum();
        eprintln!("--constrain-relations: {dropped} predicted relation(s) broke a rule, dropped");
    }

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
