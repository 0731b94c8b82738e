//! `spanscope train --train F --dev F --types F --encoder DIR|HUB_ID --out DIR`: fine-tunes a
//! fresh model (pretrained encoder, new heads) with SpERT's recipe and keeps the best epoch.
//!
//! `spanscope train --continue-from DIR --reviewed FILES...`: fine-tunes a copy of a trained
//! model on the sentences an expert reviewed, mixed with a sample of its original training
//! data, compares it with the model on held-out reviewed sentences, and keeps it as a new
//! version beside the documents when it is not worse (see `train::finetune`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context};
use candle_core::DType;
use indicatif::{ProgressBar, ProgressStyle};
use spanscope::data::io::{read_sentences, read_sentences_strict};
use spanscope::data::provenance::without_rejected;
use spanscope::data::types::Types;
use spanscope::data::validate::validate_file;
use spanscope::data::Sentence;
use spanscope::model::aspert::ModelConfig;
use spanscope::model::checkpoint::{self, Trainable};
use spanscope::model::device::DeviceSpec;
use spanscope::model::overlap::EntityDecoding;
use spanscope::model::versions::{VersionRef, Versions};
use spanscope::store::files::DocumentSource;
use spanscope::train::finetune::{
    finetune, reviewed_sentences, Decision, FinetuneConfig, FinetuneFlow, FinetuneProgress,
    REPLAY_FILE,
};
use spanscope::train::trainer::{self, EpochRecord, Progress, TrainConfig, TrainData, REPORT_FILE};

use super::calibrate::{calibrate, summary};
use super::model_arg::is_checkpoint;
use super::variant::VariantArgs;

/// Flags of a fresh training run, which fine-tuning (`--continue-from`) does not take.
const FRESH_ONLY: [&str; 13] = [
    "train",
    "dev",
    "encoder",
    "lambda",
    "variant",
    "no_attention_contribution",
    "linear_span_classifier",
    "fusion",
    "threshold",
    "max_span_width",
    "average_last",
    "decoding",
    "no_calibration",
];

/// Arguments of `spanscope train`; defaults are the paper's Table 3 (docs/MODEL.md), CoNLL04
/// column, or, with `--continue-from`, those of `FinetuneConfig`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Training sentences with gold entities and relations (SpERT .json or .jsonl).
    #[arg(long, value_name = "FILE", required_unless_present = "continue_from")]
    train: Option<PathBuf>,

    /// Development sentences: evaluated after every epoch, the best epoch is kept. Without
    /// it the last epoch is kept.
    #[arg(long, value_name = "FILE")]
    dev: Option<PathBuf>,

    /// SpERT types file: the entity and relation types the model will predict. With
    /// --continue-from: the expert's types file; the model grows by the types of it that the
    /// reviewed sentences use and the model lacks.
    #[arg(long, value_name = "FILE", required_unless_present = "continue_from")]
    types: Option<PathBuf>,

    /// The pretrained encoder: directory, Hugging Face cache, or hub id.
    #[arg(long, value_name = "DIR|HUB_ID", required_unless_present = "continue_from")]
    encoder: Option<String>,

    /// The checkpoint directory to write (new, or an earlier spanscope checkpoint to replace).
    /// With --continue-from: the versions folder to add the new model to (default:
    /// `.spanscope/models` beside the first --reviewed file).
    #[arg(long, value_name = "DIR", required_unless_present = "continue_from")]
    out: Option<PathBuf>,

    #[command(flatten)]
    variant: VariantArgs,

    /// Passes over the training set [default: 20; with --continue-from 5].
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    epochs: Option<usize>,

    /// Sentences per optimiser step.
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = at_least_one)]
    batch_size: usize,

    /// Peak learning rate (linear warm-up over 10% of the steps, then linear decay)
    /// [default: 5e-5; with --continue-from 3e-5].
    #[arg(long, value_name = "X", value_parser = positive_number, allow_negative_numbers = true)]
    lr: Option<f64>,

    /// Seed of the heads' initialisation, the shuffling, the negative sampling and the dropout
    /// masks (and, with --continue-from, of the held-out split and the replay sample).
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed: u64,

    /// Negative spans sampled per sentence.
    #[arg(long, default_value_t = 100, value_name = "N")]
    neg_entities: usize,

    /// Negative entity pairs sampled per sentence.
    #[arg(long, default_value_t = 100, value_name = "N")]
    neg_relations: usize,

    /// Weight λ of the span loss against the relation loss.
    #[arg(long, default_value_t = 1.0, value_name = "X", value_parser = positive_number, allow_negative_numbers = true)]
    lambda: f64,

    /// Store the checkpoint in half precision (f16).
    #[arg(long)]
    half: bool,

    /// Widest span, in words, that the model samples as a negative and classifies.
    #[arg(long, default_value_t = 10, value_name = "N")]
    max_span_width: usize,

    /// Keep the mean of the weights at the end of the last N epochs (1: the last epoch)
    /// instead of the epoch with the best dev score; dev is then only scored, so the score
    /// does not flatter the model.
    #[arg(long, default_value_t = 0, value_name = "N")]
    average_last: usize,

    /// How overlapping predicted entities are decoded: flat keeps only the best of spans
    /// that share a word, nested keeps all; auto is flat unless the training data has
    /// entities that share a word.
    #[arg(long, default_value = "auto", value_parser = ["auto", "flat", "nested"])]
    decoding: String,

    /// Leave the scores uncalibrated (by default the temperatures of the entity and relation
    /// scores are fitted on --dev at the end, as `spanscope calibrate` does).
    #[arg(long)]
    no_calibration: bool,

    #[command(flatten)]
    finetune: FinetuneArgs,

    #[command(flatten)]
    pub(super) device: super::device_arg::DeviceArgs,
}

/// A count that must be at least 1 (a batch of 0 sentences would divide by zero).
pub(crate) fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A finite number above 0 (a NaN or negative rate or weight trains nothing useful).
pub(crate) fn positive_number(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        Ok(_) => Err("must be a finite number above 0".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// The flags of fine-tuning on reviewed sentences.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Fine-tuning on reviewed sentences")]
struct FinetuneArgs {
    /// Fine-tune this trained checkpoint on reviewed sentences instead of training a fresh
    /// model: the base of the versions folder, so a run starts from its current version (this
    /// checkpoint until a version is kept). Only read; the result becomes a new version if it
    /// is not worse.
    #[arg(long, value_name = "DIR", requires = "reviewed", conflicts_with_all = FRESH_ONLY)]
    continue_from: Option<PathBuf>,

    /// Documents whose reviewed sentences (`"reviewed": true`) to learn; every annotation of a
    /// reviewed sentence counts as gold.
    #[arg(long, value_name = "FILE", num_args = 1.., requires = "continue_from")]
    reviewed: Vec<PathBuf>,

    /// Original training data to mix in (default: the checkpoint's own replay.jsonl, if any).
    /// `--replay` is its old name, still read; `--replay-size` says how many of it.
    #[arg(long = "replay-file", alias = "replay", value_name = "FILE", requires = "continue_from")]
    replay: Option<PathBuf>,

    /// Original training sentences mixed in, at most [default: 200].
    #[arg(long, value_name = "N", requires = "continue_from")]
    replay_size: Option<usize>,

    /// Original sentences mixed in per reviewed sentence trained on, up to --replay-size; 0
    /// mixes in all of --replay-size [default: 2].
    #[arg(long, value_name = "X", requires = "continue_from")]
    replay_per_reviewed: Option<f64>,

    /// Share of the reviewed sentences held out to compare the new model with the old
    /// [default: 0.2].
    #[arg(long, value_name = "F", requires = "continue_from")]
    held_out: Option<f64>,

    /// Fewest held-out sentences to judge the new model on; below it, cross-validation over
    /// all reviewed sentences (at least this many), else no judgement [default: 5].
    #[arg(long, value_name = "N", requires = "continue_from")]
    min_held_out: Option<usize>,

    /// Folds of that cross-validation [default: 5].
    #[arg(long, value_name = "K", requires = "continue_from")]
    folds: Option<usize>,

    /// Original sentences (the first of the replay data) kept aside to check what the new
    /// model forgets [default: 100].
    #[arg(long, value_name = "N", requires = "continue_from")]
    forgetting: Option<usize>,

    /// F1 points the new model may lose on those sentences and still be kept [default: 1].
    #[arg(long, value_name = "X", requires = "continue_from")]
    max_forgetting: Option<f64>,

    /// Examples a new type needs in the sentences trained on before it is predicted
    /// [default: 10].
    #[arg(long, value_name = "N", requires = "continue_from")]
    propose_after: Option<usize>,

    /// Model versions to keep in the versions folder once the new one is kept: the last N and
    /// the current; older ones are removed [default: 0, every version].
    #[arg(long, value_name = "N", requires = "continue_from")]
    keep_versions: Option<usize>,

    /// Keep the new model even if it scores worse on the held-out sentences (or none were
    /// held out).
    #[arg(long, requires = "continue_from")]
    force: bool,
}

impl Args {
    /// The fine-tuning settings these flags give over `defaults` (the workbench's config file
    /// or [`FinetuneConfig::default`]): the workbench takes the same flags.
    pub fn finetune_config(&self, defaults: FinetuneConfig) -> FinetuneConfig {
        let f = &self.finetune;
        FinetuneConfig {
            epochs: self.epochs.unwrap_or(defaults.epochs),
            batch_size: self.batch_size,
            lr: self.lr.unwrap_or(defaults.lr),
            replay: f.replay_size.unwrap_or(defaults.replay),
            replay_per_reviewed: f.replay_per_reviewed.unwrap_or(defaults.replay_per_reviewed),
            held_out: f.held_out.unwrap_or(defaults.held_out),
            seed: self.seed,
            neg_entity_count: self.neg_entities,
            neg_relation_count: self.neg_relations,
            half: self.half || defaults.half,
            min_held_out: f.min_held_out.unwrap_or(defaults.min_held_out),
            folds: f.folds.unwrap_or(defaults.folds),
            forgetting: f.forgetting.unwrap_or(defaults.forgetting),
            max_forgetting: f.max_forgetting.unwrap_or(defaults.max_forgetting),
            propose_after: f.propose_after.unwrap_or(defaults.propose_after),
            keep_versions: f.keep_versions.unwrap_or(defaults.keep_versions),
        }
    }
}

/// Validates the data, builds the fresh model, trains it and reports.
pub fn run(args: Args, device: DeviceSpec) -> anyhow::Result<ExitCode> {
    if let Some(base) = args.finetune.continue_from.clone() {
        return run_finetune(&args, &base, device);
    }
    // clap requires these without --continue-from.
    let (Some(out), Some(types), Some(train), Some(encoder)) =
        (&args.out, &args.types, &args.train, &args.encoder)
    else {
        bail!("--train, --types, --encoder and --out are required to train a fresh model");
    };
    if out.exists() && !(out.is_dir() && is_checkpoint(out)) {
        bail!("{} exists and is not a spanscope checkpoint: choose a new directory", out.display());
    }
    let types = Types::read(types)?;
    let train_file = train;
    let train = load_checked(train_file, &types)?;
    let dev = args.dev.as_deref().map(|path| load_checked(path, &types)).transpose()?;
    if train.is_empty() {
        bail!("{}: no sentences to train on", train_file.display());
    }
    if let (Some(path), Some([])) = (&args.dev, dev.as_deref()) {
        bail!("{}: no sentences: an empty dev set cannot choose the best epoch", path.display());
    }
    let decoding = match args.decoding.as_str() {
        "flat" => EntityDecoding::Flat,
        "nested" => EntityDecoding::Nested,
        _ => EntityDecoding::for_training_data(&train),
    };
    let device = device.open()?;
    let mut trainable = checkpoint::init_from_encoder(
        encoder,
        |encoder| ModelConfig {
            max_span_width: args.max_span_width,
            decoding,
            ..args.variant.model_config(encoder, &types)
        },
        &device,
        DType::F32,
        args.seed,
    )
    .with_context(|| format!("initialising from encoder {encoder}"))?;
    warn_of_annotations_past_the_encoder(train_file, &train, &trainable);
    let defaults = TrainConfig::default();
    let cfg = TrainConfig {
        epochs: args.epochs.unwrap_or(defaults.epochs),
        batch_size: args.batch_size,
        lr: args.lr.unwrap_or(defaults.lr),
        neg_entity_count: args.neg_entities,
        neg_relation_count: args.neg_relations,
        lambda: args.lambda,
        seed: args.seed,
        half: args.half,
        average_last: args.average_last,
        ..TrainConfig::default()
    };
    eprintln!(
        "training {} ({:?} decoding) on {} sentence(s){} for {} epoch(s), batch size {}, on {}",
        trainable.config,
        trainable.config.decoding,
        train.len(),
        dev.as_ref().map_or(String::new(), |d| format!(", dev {}", d.len())),
        cfg.epochs,
        cfg.batch_size,
        encoder
    );

    let total = (train.len().div_ceil(cfg.batch_size) * cfg.epochs) as u64;
    let bar = progress_bar(total);
    let mut on_progress = |p: Progress| match p {
        Progress::Step(s) => {
            bar.set_position(s.step as u64);
            bar.set_message(format!("epoch {}/{} loss {:.4}", s.epoch, s.epochs, s.epoch_loss));
        }
        Progress::Epoch(e) => say(&bar, epoch_line(&e)),
    };
    let cancel = AtomicBool::new(false);
    let data = TrainData { types: &types, train: &train, dev: dev.as_deref() };
    let report = trainer::train(&mut trainable, &data, &cfg, out, &cancel, &mut on_progress);
    bar.finish_and_clear();
    let report = report?;
    eprintln!(
        "{}: epoch {} of {} kept ({:.0} s); report in {}",
        out.display(),
        report.best_epoch.unwrap_or(cfg.epochs),
        cfg.epochs,
        report.seconds,
        out.join(REPORT_FILE).display()
    );
    if let (Some(dev), false) = (&dev, args.no_calibration) {
        let (mut model, _, pieces, _) = checkpoint::load(out, &device, DType::F32)?;
        let report = calibrate(out, &mut model, &pieces, dev, &device, true)?;
        eprint!("calibrated on dev: {}", summary(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// Names each gold entity that lies past the words the encoder sees of its sentence: training
/// reads a sentence's first window only, so it leaves them out (docs/DESIGN-NOTES.md, "Long
/// sentences"), and says so rather than train on a sentence cut short in silence.
fn warn_of_annotations_past_the_encoder(file: &Path, train: &[Sentence], trainable: &Trainable) {
    let max_pieces = trainable.config.max_pieces;
    for (record, sentence) in train.iter().enumerate() {
        let seen = trainable.pieces.encode(&sentence.tokens, max_pieces).words_kept;
        for e in sentence.entities.iter().filter(|e| e.end > seen) {
            eprintln!(
                "{}: record {record}: the {} entity at words {}..{} lies past word {seen}, where \
                 the encoder's {max_pieces} word pieces end; training leaves it out, with its \
                 relations",
                file.display(),
                e.entity_type,
                e.start,
                e.end
            );
        }
    }
}

/// `--continue-from`: fine-tunes a copy of the current model of the versions folder (`base`
/// until a version is kept) on the reviewed sentences, prints both scores and the judged
/// sentences that changed, and adds the new model as a version when it is not worse (or
/// `--force`). The flow is `train::finetune`'s, as the workbench's.
fn run_finetune(args: &Args, base: &Path, device: DeviceSpec) -> anyhow::Result<ExitCode> {
    if !is_checkpoint(base) {
        bail!(
            "{} is not a spanscope checkpoint: --continue-from needs a trained model",
            base.display()
        );
    }
    let config = args.finetune_config(FinetuneConfig::default());
    let files = &args.finetune.reviewed;
    let mut reviewed = Vec::new();
    for path in files {
        reviewed.extend(load_reviewed(path)?);
    }
    if reviewed.is_empty() {
        bail!(
            "no reviewed sentence in {}: mark sentences reviewed in the workbench first",
            files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    let replay = args
        .finetune
        .replay
        .as_deref()
        .map(read_sentences_strict)
        .transpose()?
        .map(without_rejected);
    let types = args.types.as_deref().map(Types::read).transpose()?;
    let versions = match &args.out {
        Some(dir) => Versions::open_folder(dir)?,
        None => Versions::open(&parent_dir(&files[0]))?,
    };
    let mut flow = FinetuneFlow::new(versions, base.to_path_buf());
    flow.keep_versions = config.keep_versions;
    let job = flow.job(reviewed, replay, types, config, device)?;
    let start = job.base.clone();
    if job.replay.is_empty() && job.config.replay > 0 {
        eprintln!(
            "spanscope: no original training data to mix in ({} has no {REPLAY_FILE} and no \
             --replay-file was given): the model may forget what the reviewed sentences do not show",
            start.display()
        );
    }

    let bar = progress_bar(0);
    let mut on_progress = |p: FinetuneProgress| match p {
        FinetuneProgress::Started {
            device,
            trained_on,
            replayed,
            held_out,
            epochs,
            total_steps,
        } => {
            bar.set_length(total_steps as u64);
            say(
                &bar,
                format!(
                    "fine-tuning {} on {trained_on} reviewed + {replayed} original sentence(s) for \
                     {epochs} epoch(s) on {device}; {held_out} reviewed sentence(s) held out",
                    start.display()
                ),
            );
        }
        FinetuneProgress::Step(s) => {
            bar.set_position(s.step as u64);
            bar.set_message(format!("epoch {}/{} loss {:.4}", s.epoch, s.epochs, s.epoch_loss));
        }
        FinetuneProgress::Epoch(e) => say(&bar, epoch_line(&e)),
        FinetuneProgress::Fold { fold, folds } => {
            say(&bar, format!("cross-validation: training fold {fold} of {folds}"));
        }
        FinetuneProgress::Scoring { sentences } => {
            say(&bar, format!("scoring both models on {sentences} judged sentence(s)"));
        }
    };
    let outcome = finetune(&job, &AtomicBool::new(false), &mut on_progress);
    bar.finish_and_clear();
    let outcome = outcome?;

    println!("held out: {} reviewed sentence(s)", outcome.held_out);
    println!("current model: {}", outcome.before);
    println!("new model:     {}", outcome.after);
    if outcome.forgetting.0.sentences > 0 {
        println!("forgetting, current model: {}", outcome.forgetting.0);
        println!("forgetting, new model:     {}", outcome.forgetting.1);
    }
    for (name, predicted) in &outcome.grown {
        let state = if *predicted { "predicted" } else { "learnt, not predicted yet" };
        println!("new type {name}: {state}");
    }
    for c in &outcome.changed {
        println!(
            "changed: {}\n  gold:   {}\n  before: {}\n  after:  {}",
            c.text, c.gold, c.before, c.after
        );
    }
    let Some(version) = flow.decide(&outcome, Decision::of(&outcome, args.finetune.force))? else {
        println!(
            "kept the current model {}: {}; --force keeps the new one anyway",
            start.display(),
            outcome.verdict
        );
        return Ok(ExitCode::SUCCESS);
    };
    let dir = flow.versions.dir_of(VersionRef::Number(version.number), base);
    let how = if version.record.forced {
        "kept by --force although it scored worse or was not scored"
    } else {
        "not worse"
    };
    println!("new model {} ({how}): {}", version.name(), dir.display());
    Ok(ExitCode::SUCCESS)
}

/// The reviewed sentences of a document (`X.txt` is read from its `X.json` twin, as the
/// workbench saves it); a file with any unreadable record is refused, each one named.
fn load_reviewed(path: &Path) -> anyhow::Result<Vec<Sentence>> {
    let source = DocumentSource::for_path(path).with_context(|| {
        format!("{}: expected a .json, .jsonl or .txt document", path.display())
    })?;
    let loaded = read_sentences(&source.read_path)?;
    for problem in &loaded.problems {
        eprintln!("spanscope: {problem}");
    }
    if !loaded.problems.is_empty() {
        bail!(
            "{}: {} unreadable record(s); fix them before fine-tuning",
            source.read_path.display(),
            loaded.problems.len()
        );
    }
    Ok(without_rejected(reviewed_sentences(&loaded.sentences)))
}

/// The folder a file is in (`.` for a bare name).
fn parent_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// One finished epoch, as printed under the bar.
fn epoch_line(e: &EpochRecord) -> String {
    let dev = e.dev.map_or(String::new(), |d| {
        format!(", dev entities F1 {:.2}, relations F1 {:.2}", d.entities.f1, d.relations_strict.f1)
    });
    format!(
        "epoch {}: loss {:.4}, {:.1} sentences/s{dev}{}",
        e.epoch,
        e.loss,
        e.sentences_per_second,
        if e.saved { " (saved)" } else { "" }
    )
}

/// Prints a line above the bar; a hidden bar (standard error is not a terminal) swallows
/// `println`, so then it goes to standard error directly.
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
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
    // A proposal someone rejected is no gold.
    Ok(without_rejected(loaded.sentences))
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
