//! `spanscope eval --dataset FILE [--model DIR | --predictions FILE] [--types FILE] [--json]
//! [--only-types FILE] [--batch-size N] [--output-predictions FILE]`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use candle_core::DType;
use spanscope::data::io::{read_sentences, write_sentences};
use spanscope::data::provenance::without_rejected;
use spanscope::data::{Sentence, Types};
use spanscope::model::checkpoint;
use spanscope::model::device::DeviceSpec;
use spanscope::train::evaluate::evaluate;

use super::model_arg::checkpoint_dir;
use super::prediction::{output_format, predict_all};

/// Arguments of `spanscope eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The gold dataset: SpERT .json or .jsonl. Every record must be readable.
    #[arg(long, value_name = "FILE")]
    dataset: PathBuf,

    /// A spanscope checkpoint directory to predict with (default: the bundled model).
    #[arg(long, value_name = "DIR", conflicts_with = "predictions")]
    model: Option<PathBuf>,

    /// Score these predictions instead of running a model: a SpERT file with the gold
    /// dataset's sentences, in the same order, with the same tokens.
    #[arg(long, value_name = "FILE")]
    predictions: Option<PathBuf>,

    /// Types file: which relation types are symmetric, and the order of the tables (default:
    /// the checkpoint's types; with --predictions, the types seen in the gold data, none of
    /// them symmetric).
    #[arg(long, value_name = "FILE")]
    types: Option<PathBuf>,

    /// Score only the entity and relation types of this types file: gold and predicted
    /// entities of other types are left out, with their relations (a model grown by new
    /// types, scored on its old types alone or on its new ones).
    #[arg(long, value_name = "FILE")]
    only_types: Option<PathBuf>,

    /// Print one JSON object instead of the tables.
    #[arg(long)]
    json: bool,

    /// Sentences per forward pass.
    #[arg(long, default_value_t = 8, value_name = "N")]
    batch_size: usize,

    /// Also write the model's predictions here (.jsonl gives JSON Lines, anything else a
    /// SpERT JSON array).
    #[arg(long, value_name = "FILE", conflicts_with = "predictions")]
    output_predictions: Option<PathBuf>,

    /// Drop predicted relations that break a relation rule (the head and tail entity types
    /// each relation type allows) of --types, or else of the checkpoint's types.
    #[arg(long, conflicts_with = "predictions")]
    constrain_relations: bool,

    #[command(flatten)]
    pub(super) device: super::device_arg::DeviceArgs,
}

/// Reads the gold data, gets predictions (from the model or a file), prints the scores.
pub fn run(args: Args, device: DeviceSpec) -> anyhow::Result<ExitCode> {
    let gold = read_all(&args.dataset, "gold dataset")?;
    let given_types = args.types.as_deref().map(Types::read).transpose()?;
    let (predicted, types, source) = match &args.predictions {
        Some(path) => {
            let predicted = read_all(path, "predictions file")?;
            let types = given_types.unwrap_or_else(|| {
                eprintln!(
                    "spanscope: no --types given: scoring the types seen in {}, none of them \
                     symmetric",
                    args.dataset.display()
                );
                Types::infer(&gold)
            });
            (predicted, types, path.display().to_string())
        }
        None => {
            let (predicted, model_types, dir) = run_model(&args, &gold, device)?;
            (predicted, given_types.unwrap_or(model_types), dir.display().to_string())
        }
    };
    let (gold, predicted, types) = match &args.only_types {
        Some(path) => {
            let only = Types::read(path)?;
            let restricted = |mut sentences: Vec<Sentence>| {
                sentences.iter_mut().for_each(|s| only.restrict(s));
                sentences
            };
            // Symmetry and order from the scored types, as the tables list only those.
            (restricted(gold), restricted(predicted), only)
        }
        None => (gold, predicted, types),
    };
    let evaluation = evaluate(&gold, &predicted, &types)
        .with_context(|| format!("scoring {source} against {}", args.dataset.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&evaluation)?);
    } else {
        println!(
            "Evaluation of {source} on {} ({} sentences)\n",
            args.dataset.display(),
            evaluation.sentences
        );
        println!("{evaluation}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Every record of a dataset; a file with unreadable records is refused, each one named.
fn read_all(path: &Path, what: &str) -> anyhow::Result<Vec<Sentence>> {
    let loaded = read_sentences(path)?;
    if !loaded.problems.is_empty() {
        for problem in &loaded.problems {
            eprintln!("spanscope: {problem}");
        }
        bail!(
            "the {what} {} has {} problem(s) (listed above); scores on part of it would not \
             compare, so nothing was scored",
            path.display(),
            loaded.problems.len()
        );
    }
    Ok(without_rejected(loaded.sentences))
}

/// Predicts every gold sentence with the model; writes the predictions when asked.
fn run_model(
    args: &Args,
    gold: &[Sentence],
    device: DeviceSpec,
) -> anyhow::Result<(Vec<Sentence>, Types, PathBuf)> {
    let dir = checkpoint_dir(args.model.as_deref())?;
    let device = device.open()?;
    let (model, _config, pieces, types) = checkpoint::load(&dir, &device, DType::F32)
        .with_context(|| format!("loading model {}", dir.display()))?;

    let mut predicted = predict_all(&model, &pieces, gold, args.batch_size, &device)?;
    if args.constrain_relations {
        let rules = match &args.types {
            Some(path) => Types::read(path)?,
            None => types.clone(),
        };
        let dropped: usize = predicted.iter_mut().map(|s| rules.drop_violations(s)).sum();
        eprintln!("--constrain-relations: {dropped} predicted relation(s) broke a rule, dropped");
    }

    if let Some(path) = &args.output_predictions {
        write_sentences(path, &predicted, output_format(path))?;
        eprintln!("{} prediction(s) written to {}", predicted.len(), path.display());
    }
    Ok((predicted, types, dir))
}
