//! `spanscope predict --input FILE [--model DIR] [--output FILE]`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use candle_core::DType;
use indicatif::{ProgressBar, ProgressStyle};
use spanscope::data::io::{read_sentences, write_sentences, Format};
use spanscope::data::Sentence;
use spanscope::model::checkpoint;
use spanscope::model::decode::predict;
use spanscope::model::device::DeviceSpec;

use super::model_arg::checkpoint_dir;

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

/// Sentences handed to the model between two progress updates.
const CHUNK: usize = 64;

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

    let bar = progress_bar(loaded.sentences.len() as u64);
    let mut annotated = Vec::with_capacity(loaded.sentences.len());
    for chunk in loaded.sentences.chunks(CHUNK) {
        let predictions = predict(&model, &pieces, chunk, args.batch_size.max(1), &device)?;
        for (sentence, prediction) in chunk.iter().zip(predictions) {
            annotated.push(with_prediction(sentence, prediction.to_sentence(&sentence.tokens)));
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();

    match &args.output {
        Some(path) => {
            let format = match Format::from_path(path) {
                Some(Format::JsonLines) => Format::JsonLines,
                _ => Format::Json,
            };
            write_sentences(path, &annotated, format)?;
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

/// The input record with the model's entities and relations in place of its own; tokens and
/// extra keys (`orig_id`, ...) are the input's.
fn with_prediction(input: &Sentence, predicted: Sentence) -> Sentence {
    Sentence {
        tokens: input.tokens.clone(),
        entities: predicted.entities,
        relations: predicted.relations,
        extra: input.extra.clone(),
    }
}

/// A bar on standard error, hidden when that is not a terminal.
fn progress_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {pos}/{len} sentences [{bar:30}] {per_sec} eta {eta}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar
}
