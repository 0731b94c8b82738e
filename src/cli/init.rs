//! `spanscope init --encoder DIR|HUB_ID --types F --out DIR`: an untrained checkpoint.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use candle_core::DType;
use spanscope::data::types::Types;
use spanscope::model::checkpoint;
use spanscope::model::device::DeviceSpec;

use super::variant::VariantArgs;

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

    #[command(flatten)]
    variant: VariantArgs,

    /// Seed of the heads' random initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u64,

    /// Store the weights in half precision (f16).
    #[arg(long)]
    half: bool,

    #[command(flatten)]
    pub(super) device: super::device_arg::DeviceArgs,
}

/// Builds the model from the encoder with freshly initialised heads and saves it.
pub fn run(args: Args, device: DeviceSpec) -> anyhow::Result<ExitCode> {
    if args.out.exists() {
        bail!("{} exists already: choose a new directory", args.out.display());
    }
    let types = Types::read(&args.types)?;
    let device = device.open()?;
    let configure = |encoder| args.variant.model_config(encoder, &types);
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
