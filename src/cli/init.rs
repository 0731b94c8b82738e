//! `spanscope init --encoder DIR|HUB_ID --types F --out DIR`: an untrained checkpoint.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use candle_core::DType;
use spanscope::data::types::Types;
use spanscope::explain::contribution::Fusion;
use spanscope::model::aspert::ModelConfig;
use spanscope::model::checkpoint;
use spanscope::model::device::DeviceSpec;

/// Arguments of `spanscope init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pretrained encoder: directory, Hugging Face cache, or hub id.
    #[arg(long, value_name = "DIR|HUB_ID")]
    encoder: String,

    /// SpERT types file: the entity and relation types the model will predict.
    #[arg(long, value_name = "FILE")]
    types: PathBuf,

    /// The checkpoint directory to create (must not exist).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,

    /// aspert (f_a and MLP span classifier) or spert (neither).
    #[arg(long, default_value = "aspert", value_parser = ["aspert", "spert"])]
    variant: String,

    /// Leave the attention contribution out of the span representation (-AC).
    #[arg(long)]
    no_attention_contribution: bool,

    /// A linear span classifier instead of the MLP (-MLP).
    #[arg(long)]
    linear_span_classifier: bool,

    /// How f_a fuses the kept attention: mean, max or sum.
    #[arg(long, default_value = "mean")]
    fusion: Fusion,

    /// Contribution threshold θ.
    #[arg(long, default_value_t = 0.5)]
    threshold: f32,

    /// Seed of the heads' random initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u64,

    /// Store the weights in half precision (f16).
    #[arg(long)]
    half: bool,
}

/// Builds the model from the encoder with freshly initialised heads and saves it.
pub fn run(args: Args, device: DeviceSpec) -> anyhow::Result<ExitCode> {
    if args.out.exists() {
        bail!("{} exists already: choose a new directory", args.out.display());
    }
    let types = Types::read(&args.types)?;
    let device = device.open()?;
    let configure = |encoder| {
        let mut config = match args.variant.as_str() {
            "spert" => ModelConfig::spert(encoder, &types),
            _ => ModelConfig::aspert(encoder, &types),
        };
        if args.no_attention_contribution {
            config = config.without_attention_contribution();
        }
        if args.linear_span_classifier {
            config = config.with_linear_classifier();
        }
        config.fusion = args.fusion;
        config.theta = args.threshold;
        config
    };
    let fresh =
        checkpoint::init_from_encoder(&args.encoder, configure, &device, DType::F32, args.seed)
            .with_context(|| format!("initialising from encoder {}", args.encoder))?;
    let dtype = if args.half { DType::F16 } else { DType::F32 };
    checkpoint::save(&args.out, &fresh.varmap, &fresh.config, &types, &fresh.pieces, dtype)?;
    eprintln!(
        "{}: untrained {} model ({} entity, {} relation types) on {}",
        args.out.display(),
        fresh.config.variant(),
        types.entities.len(),
        types.relations.len(),
        args.encoder
    );
    Ok(ExitCode::SUCCESS)
}
