//! `spanscope annotate FILES|DIR` (and `spanscope` alone, on the sample documents): the review
//! workbench.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Parser;
use spanscope::data::formats::Interchange;
use spanscope::data::types::{Types, ANNOTATION_CONF};
use spanscope::model::device::DeviceSpec;
use spanscope::model::versions::Versions;
use spanscope::store::files::{self, discover, DocumentSource};
use spanscope::store::watch::canonical_form;
use spanscope::train::finetune::FinetuneConfig;
use spanscope::workbench::adjudication::{document_name, Comparison};
use spanscope::workbench::app::{self, Setup};
use spanscope::workbench::config;
use spanscope::workbench::state::{App, ModelStatus};
use spanscope::workbench::theme::Theme;
use spanscope::worker::training::TrainingSetup;

use super::model_arg::{checkpoint_dir, installed};

/// Arguments of `annotate`.
#[derive(Debug, Parser)]
pub struct Args {
    /// Documents to review: SpERT .json, .jsonl or .txt files, brat .ann files (with their
    /// .txt), DyGIE JSON lines, or folders of them (a folder is watched: files added or
    /// changed there appear without a restart). Default: the sample documents.
    #[arg(value_name = "FILES|DIR")]
    pub inputs: Vec<PathBuf>,

    /// Checkpoint whose predictions fill unannotated sentences (default: $SPANSCOPE_MODEL,
    /// else the bundled model).
    #[arg(long, value_name = "DIR", conflicts_with = "no_model")]
    pub model: Option<PathBuf>,

    /// Open without a model: no proposals and no inspector, editing only.
    #[arg(long)]
    pub no_model: bool,

    /// Types file offering the entity and relation types (default: a types file in the
    /// folder, else the model's types and those found in the documents).
    #[arg(long, value_name = "FILE")]
    pub types: Option<PathBuf>,

    /// Colour theme: dark, light, colorblind, or a path to a theme .toml (default: `theme` in
    /// ~/.config/spanscope/config.toml, else dark). NO_COLOR turns colours off.
    #[arg(long, value_name = "NAME|FILE")]
    pub theme: Option<String>,

    /// Proposals the model scores below this are "low confidence" (`!` jumps to them; default:
    /// `review.low_confidence` in the config file, else 0.7).
    #[arg(long, value_name = "P")]
    pub low_confidence: Option<f32>,

    /// Settings file: keys, reviewing, theme (default: ~/.config/spanscope/config.toml;
    /// `spanscope config --default` writes one out).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The name recorded with every edit (default: `review.annotator` in the config file,
    /// else the user name from USER, USERNAME or LOGNAME).
    #[arg(long, value_name = "NAME")]
    pub annotator: Option<String>,

    /// Start fine-tuning by itself every N newly reviewed sentences (`T` starts it by hand).
    #[arg(long, value_name = "N")]
    pub auto_train: Option<usize>,

    /// Model versions to keep beside the documents once fine-tuning keeps a new one: the last
    /// N and the current; older ones are removed [default: 0, every version].
    #[arg(long, value_name = "N")]
    pub keep_versions: Option<usize>,

    /// Original training sentences mixed into each fine-tuning run so the model does not
    /// forget (drawn from the model's replay.jsonl) [default: 200].
    #[arg(long = "replay-size", alias = "replay", value_name = "N")]
    pub replay: Option<usize>,

    /// Passes of each fine-tuning run over its sentences [default: 5].
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,

    /// Peak learning rate of each fine-tuning run [default: 3e-5].
    #[arg(long, value_name = "X", value_parser = super::train::positive_number, allow_negative_numbers = true)]
    pub lr: Option<f64>,

    /// Sentences per optimiser step of each fine-tuning run [default: 4].
    #[arg(long, value_name = "N", value_parser = super::train::at_least_one)]
    pub batch_size: Option<usize>,

    /// Seed of each fine-tuning run's held-out split, replay sample, shuffling, negatives and
    /// dropout masks [default: 0].
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,

    /// Share of the reviewed sentences held out to judge a fine-tuned model [default: 0.2].
    #[arg(long, value_name = "F")]
    pub held_out: Option<f64>,

    /// Fewest held-out sentences to judge on; below it, cross-validation over the reviewed
    /// sentences, else "too few reviewed sentences to judge" [default: 5].
    #[arg(long, value_name = "N")]
    pub min_held_out: Option<usize>,

    /// Folds of that cross-validation [default: 5].
    #[arg(long, value_name = "K")]
    pub folds: Option<usize>,

    /// Original sentences kept aside to check what a fine-tuned model forgets [default: 100].
    #[arg(long, value_name = "N")]
    pub forgetting: Option<usize>,

    /// Examples a new type needs before the fine-tuned model predicts it [default: 10].
    #[arg(long, value_name = "N")]
    pub propose_after: Option<usize>,

    /// Another annotator's annotations of the same sentences (a file or folder, in any format
    /// the workbench opens), shown as a second layer to adjudicate: documents matched by
    /// name, sentences by position or words.
    #[arg(long, value_name = "OTHER")]
    pub compare: Option<PathBuf>,
    #[command(flatten)]
    pub(super) device: super::device_arg::DeviceArgs,
}

impl Args {
    /// `spanscope` with no argument: the sample documents and the bundled model.
    pub fn samples() -> Args {
        Args {
            inputs: Vec::new(),
            model: None,
            no_model: false,
            types: None,
            theme: None,
            low_confidence: None,
            config: None,
            annotator: None,
            auto_train: None,
            keep_versions: None,
            replay: None,
            epochs: None,
            lr: None,
            batch_size: None,
            seed: None,
            held_out: None,
            min_held_out: None,
            folds: None,
            forgetting: None,
            propose_after: None,
            compare: None,
            device: Default::default(),
        }
    }
}

/// The sample documents shipped with spanscope.
fn sample_docs() -> anyhow::Result<PathBuf> {
    let candidates = installed(Path::new("sample_docs"));
    candidates.iter().find(|dir| dir.is_dir()).cloned().with_context(|| {
        format!(
            "no documents given and no sample_docs folder found (looked in {}); \
             run `spanscope annotate FILES|DIR`",
            candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )
    })
}

/// Opens the workbench.
pub fn run(args: Args, device: DeviceSpec) -> anyhow::Result<ExitCode> {
    // The inputs are checked first, so a wrong path is reported even without a terminal.
    let inputs = if args.inputs.is_empty() { vec![sample_docs()?] } else { args.inputs.clone() };
    let found = discover(&inputs)?;
    for (path, why) in &found.skipped {
        tracing::warn!("skipped {}: {why}", path.display());
    }
    if found.documents.is_empty() {
        if let Some(types) = &found.types {
            // Its top level opens an object: a types file, or a broken file of some kind.
            if let Err(broken) = Types::read(types) {
                bail!(
                    "{broken} (its top level opens a JSON object, so it was read as a types \
                     file; documents are JSON arrays of records, JSON Lines or text)"
                );
            }
            bail!(
                "{}: a types file (its top level is a JSON object), not documents; documents \
                 are JSON arrays of records, JSON Lines or text: name them too",
                types.display()
            );
        }
        bail!("no .json, .jsonl, .txt or .ann documents in {}", describe(&inputs));
    }
    let compare = args.compare.as_deref().map(comparison).transpose()?;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        bail!(
            "the workbench needs a terminal; for scripts use `spanscope predict`, `eval` or \
             `validate`"
        );
    }
    let types_file = args.types.clone().or(found.types.clone());
    // brat documents without a types file: their annotation.conf gives the types and rules.
    let has_brat = found.documents.iter().any(|d| d.interchange == Some(Interchange::Brat));
    let conf =
        inputs
            .iter()
            .map(|p| {
                if p.is_dir() {
                    p.join(ANNOTATION_CONF)
                } else {
                    p.with_file_name(ANNOTATION_CONF)
                }
            })
            .find(|conf| has_brat && types_file.is_none() && conf.is_file());
    let types = match (&types_file, &conf) {
        (Some(path), _) => Types::read(path)?,
        (None, Some(conf)) => Types::from_annotation_conf(conf)?,
        (None, None) => Types::default(),
    };
    let base = if args.no_model { None } else { Some(checkpoint_dir(args.model.as_deref())?) };
    // Fine-tuned versions live beside the documents; the current one is what opens.
    let docs_dir = inputs
        .iter()
        .find(|p| p.is_dir())
        .cloned()
        .or_else(|| inputs[0].parent().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let model = match &base {
        Some(base) => Some(Versions::open(&docs_dir)?.current_dir(base)),
        None => None,
    };
    let config_dir = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    let settings = match args.config.clone().or_else(config::default_path) {
        Some(path) => config::read(&path)?,
        None => config::Settings::default(),
    };
    let config = finetune_config(&args, settings.finetune.clone());
    let training = base.map(|base| TrainingSetup {
        base,
        docs_dir: docs_dir.clone(),
        device,
        config,
        types_file: types_file.clone(),
    });
    let theme = Theme::resolve(args.theme.as_deref(), config_dir.as_deref())?;

    let status = match &model {
        Some(dir) => ModelStatus::Loading(dir_name(dir)),
        None => ModelStatus::Off,
    };
    let mut app = App::new(types, types_file.is_some() || conf.is_some(), status);
    // With no types file the label editor starts one beside the documents.
    app.types_path = Some(types_file.clone().unwrap_or_else(|| docs_dir.join("types.json")));
    app.threshold = args.low_confidence.or(settings.low_confidence).unwrap_or(0.7);
    app.keymap = settings.keymap;
    app.review_accepts = settings.accept_open_proposals;
    app.annotator =
        config::annotator(args.annotator.as_deref(), settings.annotator.as_deref(), |name| {
            std::env::var(name).ok()
        });
    app.fine_tuning.auto = args.auto_train.filter(|&n| n > 0);
    app.compare = compare;
    // Paths as the folder watcher reports them, so events find their documents.
    let documents: Vec<DocumentSource> = found
        .documents
        .into_iter()
        .map(|mut source| {
            source.read_path = canonical_form(&source.read_path);
            source.save_path = canonical_form(&source.save_path);
            source
        })
        .collect();
    let watch = inputs.iter().filter(|p| p.is_dir()).map(|p| canonical_form(p)).collect();
    tracing::info!("workbench: {} documents, model {:?}", documents.len(), model);
    let mouse = settings.mouse.unwrap_or(true);
    app::run(Setup { app, documents, watch, model, device, theme, training, mouse })?;
    Ok(ExitCode::SUCCESS)
}

/// The other annotator's documents, read whole before the workbench starts.
fn comparison(other: &Path) -> anyhow::Result<Comparison> {
    let found = discover(&[other.to_path_buf()])?;
    if found.documents.is_empty() {
        bail!("--compare {}: no documents there", other.display());
    }
    let mut documents = Vec::new();
    for source in &found.documents {
        let loaded = files::load(source)?;
        if let Some(problem) = loaded.problems.first() {
            bail!("--compare: {problem}");
        }
        documents.push((document_name(&source.read_path), loaded.sentences));
    }
    Ok(Comparison { name: dir_name(other), documents, selected: None })
}

fn dir_name(dir: &Path) -> String {
    dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into())
}

fn describe(inputs: &[PathBuf]) -> String {
    inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// Fine-tuning settings: the flags, else `[finetune]` of the config file (`config`), else the
/// defaults.
fn finetune_config(args: &Args, mut config: FinetuneConfig) -> FinetuneConfig {
    let set = |field: &mut usize, flag: Option<usize>| *field = flag.unwrap_or(*field);
    set(&mut config.replay, args.replay);
    set(&mut config.epochs, args.epochs);
    set(&mut config.min_held_out, args.min_held_out);
    set(&mut config.folds, args.folds);
    set(&mut config.forgetting, args.forgetting);
    set(&mut config.propose_after, args.propose_after);
    set(&mut config.keep_versions, args.keep_versions);
    set(&mut config.batch_size, args.batch_size);
    config.held_out = args.held_out.unwrap_or(config.held_out);
    config.lr = args.lr.unwrap_or(config.lr);
    config.seed = args.seed.unwrap_or(config.seed);
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn config_of(line: &[&str], file: FinetuneConfig) -> FinetuneConfig {
        let cli = Cli::try_parse_from(std::iter::once("annotate").chain(line.iter().copied()))
            .expect("the flags parse");
        finetune_config(&cli.args, file)
    }

    #[test]
    fn fine_tuning_flags_override_the_config_file_and_the_rest_stays() {
        let file = FinetuneConfig { lr: 1e-5, epochs: 7, ..FinetuneConfig::default() };
        let got =
            config_of(&["--lr", "2e-5", "--batch-size", "8", "--seed", "3", "docs"], file.clone());
        assert_eq!(got.lr, 2e-5);
        assert_eq!(got.batch_size, 8);
        assert_eq!(got.seed, 3);
        assert_eq!(got.epochs, 7, "from the file");
        assert_eq!(config_of(&["docs"], file.clone()), file, "no flag, the file's settings");
    }

    #[test]
    fn a_bad_learning_rate_or_batch_size_is_refused_at_parse_time() {
        for bad in [["--lr", "0"], ["--lr", "-1e-5"], ["--batch-size", "0"]] {
            assert!(Cli::try_parse_from(["annotate", bad[0], bad[1]]).is_err(), "{bad:?}");
        }
    }
}
