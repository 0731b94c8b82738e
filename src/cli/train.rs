//! `spanscope train --train F --dev F --types F --encoder DIR|HUB_ID --out DIR`: fine-tunes a
//! fresh model (pretrained encoder, new heads) with SpERT's recipe and keeps the best epoch.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context};
use candle_core::DType;
use indicatif::{ProgressBar, ProgressStyle};
use spanscope::data::io::read_sentences;
use spanscope::data::types::Types;
use spanscope::data::validate::validate_file;
use spanscope::data::Sentence;
use spanscope::model::checkpoint;
use spanscope::model::device::DeviceSpec;
use spanscope::train::trainer::{self, Progress, TrainConfig, TrainData, REPORT_FILE};

use super::model_arg::is_checkpoint;
use super::variant::VariantArgs;

/// Arguments of `spanscope train`; defaults are the paper's Table 3, CoNLL04 column.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Training sentences with gold entities and relations (SpERT .json or .jsonl).
    #[arg(long, value_name = "FILE")]
    train: PathBuf,

    /// Development sentences: evaluated after every epoch, the best epoch is kept. Without
    /// it the last epoch is kept.
    #[arg(long, value_name = "FILE")]
    dev: Option<PathBuf>,

    /// SpERT types file: the entity and relation types the model will predict.
    #[arg(long, value_name = "FILE")]
    types: PathBuf,

    /// The pretrained encoder: directory, Hugging Face cache, or hub id.
    #[arg(long, value_name = "DIR|HUB_ID")]
    encoder: String,

    /// The checkpoint directory to write (new, or an earlier spanscope checkpoint to replace).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,

    #[command(flatten)]
    variant: VariantArgs,

    /// Passes over the training set.
    #[arg(long, default_value_t = 20, value_name = "N")]
    epochs: usize,

    /// Sentences per optimiser step.
    #[arg(long, default_value_t = 4, value_name = "N")]
    batch_size: usize,

    /// Peak learning rate (linear warm-up over 10% of the steps, then linear decay).
    #[arg(long, default_value_t = 5e-5, value_name = "X")]
    lr: f64,

    /// Seed of the heads' initialisation, the shuffling and the negative sampling.
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed: u64,

    /// Negative spans sampled per sentence.
    #[arg(long, default_value_t = 100, value_name = "N")]
    neg_entities: usize,

    /// Negative entity pairs sampled per sentence.
    #[arg(long, default_value_t = 100, value_name = "N")]
    neg_relations: usize,

    /// Weight λ of the span loss against the relation loss.
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    lambda: f64,

    /// Store the checkpoint in half precision (f16).
    #[arg(long)]
    half: bool,
}

/// Validates the data, builds the fresh model, trains it and reports.
pub fn run(args: Args, device: DeviceSpec) -> anyhow::Result<ExitCode> {
    if args.out.exists() && !(args.out.is_dir() && is_checkpoint(&args.out)) {
        bail!(
            "{} exists and is not a spanscope checkpoint: choose a new directory",
            args.out.display()
        );
    }
    let types = Types::read(&args.types)?;
    let train = load_checked(&args.train, &types)?;
    let dev = args.dev.as_deref().map(|path| load_checked(path, &types)).transpose()?;
    let device = device.open()?;
    let mut trainable = checkpoint::init_from_encoder(
        &args.encoder,
        |encoder| args.variant.model_config(encoder, &types),
        &device,
        DType::F32,
        args.seed,
    )
    .with_context(|| format!("initialising from encoder {}", args.encoder))?;
    let cfg = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        neg_entity_count: args.neg_entities,
        neg_relation_count: args.neg_relations,
        lambda: args.lambda,
        seed: args.seed,
        half: args.half,
        ..TrainConfig::default()
    };
    eprintln!(
        "training {} on {} sentence(s){} for {} epoch(s), batch size {}, on {}",
        trainable.config,
        train.len(),
        dev.as_ref().map_or(String::new(), |d| format!(", dev {}", d.len())),
        cfg.epochs,
        cfg.batch_size,
        args.encoder
    );

    let total = (train.len().div_ceil(cfg.batch_size) * cfg.epochs) as u64;
    let bar = progress_bar(total);
    let mut on_progress = |p: Progress| match p {
        Progress::Step(s) => {
            bar.set_position(s.step as u64);
            bar.set_message(format!("epoch {}/{} loss {:.4}", s.epoch, s.epochs, s.epoch_loss));
        }
        Progress::Epoch(e) => {
            let dev = e.dev.map_or(String::new(), |d| {
                format!(
                    ", dev entities F1 {:.2}, relations F1 {:.2}",
                    d.entities.f1, d.relations_strict.f1
                )
            });
            let line = format!(
                "epoch {}: loss {:.4}, {:.1} sentences/s{dev}{}",
                e.epoch,
                e.loss,
                e.sentences_per_second,
                if e.saved { " (saved)" } else { "" }
            );
            // A hidden bar (standard error is not a terminal) swallows `println`.
            if bar.is_hidden() {
                eprintln!("{line}");
            } else {
                bar.println(line);
            }
        }
    };
    let cancel = AtomicBool::new(false);
    let data = TrainData { types: &types, train: &train, dev: dev.as_deref() };
    let report = trainer::train(&mut trainable, &data, &cfg, &args.out, &cancel, &mut on_progress);
    bar.finish_and_clear();
    let report = report?;
    eprintln!(
        "{}: epoch {} of {} kept ({:.0} s); report in {}",
        args.out.display(),
        report.best_epoch.unwrap_or(cfg.epochs),
        cfg.epochs,
        report.seconds,
        args.out.join(REPORT_FILE).display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads a dataset, printing every problem; refuses a file with any unreadable or invalid
/// record.
fn load_checked(path: &Path, types: &Types) -> anyhow::Result<Vec<Sentence>> {
    let problems = validate_file(path, Some(types));
    for problem in &problems {
        eprintln!("spanscope: {problem}");
    }
    if !problems.is_empty() {
        bail!("{}: {} problem(s); fix them before training", path.display(), problems.len());
    }
    let loaded = read_sentences(path)?;
    if !loaded.problems.is_empty() {
        bail!("{}: {} unreadable record(s)", path.display(), loaded.problems.len());
    }
    Ok(loaded.sentences)
}

/// A bar on standard error (hidden when that is not a terminal): step, loss, ETA.
fn progress_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} step {pos}/{len} [{bar:30}] eta {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar
}
