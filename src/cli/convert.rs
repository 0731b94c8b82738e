//! `spanscope convert IN OUT [--from F] [--to F]`: between SpERT and other tools' formats.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use spanscope::data::formats::{self, Interchange};

/// Arguments of `spanscope convert`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = FORMATS_HELP)]
pub struct Args {
    /// The dataset to read: a file, or a folder of brat `.txt`/`.ann` pairs.
    #[arg(value_name = "IN")]
    input: PathBuf,

    /// Where to write: a file, or a folder for brat.
    #[arg(value_name = "OUT")]
    output: PathBuf,

    /// IN's format, when its extension does not say (see the list below).
    #[arg(long, value_name = "FORMAT", value_parser = Interchange::parse_name)]
    from: Option<Interchange>,

    /// OUT's format, when its extension does not say (see the list below).
    #[arg(long, value_name = "FORMAT", value_parser = Interchange::parse_name)]
    to: Option<Interchange>,
}

const FORMATS_HELP: &str = "\
Formats (--from/--to; from the extension where it says):
  spert         SpERT JSON array (.json)
  spert-jsonl   SpERT JSON lines (.jsonl)
  brat          brat standoff: a folder (or one .ann) of .txt + .ann, and annotation.conf
  dygie         DyGIE++/SciERC JSON lines (doc_key, sentences, ner, relations)
  bio, bilou    CoNLL columns, word and tag (.bio/.iob/.conll, .bilou); no relations
  conll04       the original CoNLL04 corpus columns of Roth & Yih (.corp); read only
  doccano       doccano JSON lines (entities + relations, or label lists)
  label-studio  Label Studio JSON tasks (annotations, predictions as model proposals)
  spacy         spaCy/Prodigy relation JSON lines (tokens, spans, relations); write only

Every conversion prints what the output cannot hold (counts and the first examples) on
standard error. See docs/FORMATS.md.";

fn format_of(path: &Path, given: Option<Interchange>, flag: &str) -> anyhow::Result<Interchange> {
    match given {
        Some(format) => Ok(format),
        None => Interchange::for_path(path, flag).map_err(anyhow::Error::msg),
    }
}

/// Reads IN, writes OUT, prints the loss report; exits 0 (the report is not a failure).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let from = format_of(&args.input, args.from, "--from")?;
    let to = format_of(&args.output, args.to, "--to")?;
    let (sentences, read_losses) = formats::read(&args.input, from)?;
    let write_losses = formats::write(&args.output, to, &sentences)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let entities: usize = sentences.iter().map(|s| s.entities.len()).sum();
    let relations: usize = sentences.iter().map(|s| s.relations.len()).sum();
    eprintln!(
        "{} ({}) -> {} ({}): {} sentences, {entities} entities, {relations} relations",
        args.input.display(),
        from.name(),
        args.output.display(),
        to.name(),
        sentences.len(),
    );
    eprint!("reading {}: {read_losses}", from.name());
    eprint!("writing {}: {write_losses}", to.name());
    Ok(ExitCode::SUCCESS)
}
