//! `spanscope encode`: hidden states and attention probabilities of an encoder, written to a
//! safetensors file, so that they can be compared with a reference implementation
//! (scripts/parity.py does that against PyTorch transformers).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use candle_core::DType;
use spanscope::data::text::words;
use spanscope::data::wordpiece::WordPieces;
use spanscope::model::device::DeviceSpec;
use spanscope::model::encoder::dump_outputs;
use spanscope::model::source;

/// Arguments of `spanscope encode`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Any BERT encoder: directory, Hugging Face cache, or hub id.
    #[arg(long, value_name = "DIR|HUB_ID")]
    model: String,

    /// A sentence to encode; repeat for a padded batch.
    #[arg(long = "text", required = true)]
    texts: Vec<String>,

    /// The safetensors file to write (input_ids, attention_mask, hidden, attentions).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,

    #[command(flatten)]
    pub(super) device: super::device_arg::DeviceArgs,
}

/// Tokenises the texts like every other command and dumps the encoder's outputs.
pub fn run(args: Args, device: DeviceSpec) -> anyhow::Result<ExitCode> {
    let device = device.open()?;
    let (encoder, files) = source::load_encoder(&args.model, DType::F32, &device)?;
    let pieces = WordPieces::from_dir(&files.dir)?;
    let max = encoder.config().max_position_embeddings;
    let mut batch = Vec::with_capacity(args.texts.len());
    for text in &args.texts {
        let words = words(text);
        if words.is_empty() {
            bail!("--text {text:?} has no words");
        }
        batch.push(pieces.encode(&words, max).ids);
    }
    dump_outputs(&encoder, &batch, &device, &args.out)?;
    eprintln!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
