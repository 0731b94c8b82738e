//! `spanscope compare A B [--json] [--types FILE] [--limit-disagreements N]`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::anyhow;
use spanscope::data::io::read_sentences_strict;
use spanscope::data::provenance::without_rejected;
use spanscope::data::{Sentence, Types};
use spanscope::train::agreement::compare;
use spanscope::train::evaluate::EvalError;

/// Arguments of `spanscope compare`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The reference annotations (SpERT .json or .jsonl): precision and recall are B's
    /// against these (F1 is the same either way round).
    #[arg(value_name = "A")]
    a: PathBuf,

    /// The other annotations of the same sentences, in the same order, with the same tokens.
    #[arg(value_name = "B")]
    b: PathBuf,

    /// Types file: which relation types are symmetric, and the order of the tables (default:
    /// the types seen in A, then in B, none of them symmetric).
    #[arg(long, value_name = "FILE")]
    types: Option<PathBuf>,

    /// Print one JSON object (every disagreement included) instead of the tables.
    #[arg(long)]
    json: bool,

    /// Disagreements listed in the tables (--json lists all).
    #[arg(long, default_value_t = 20, value_name = "N")]
    limit_disagreements: usize,
}

/// Reads both sets, compares them, prints the agreement.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Rejected proposals kept inline are no one's annotations.
    let a = without_rejected(read_sentences_strict(&args.a)?);
    let b = without_rejected(read_sentences_strict(&args.b)?);
    let types = match &args.types {
        Some(path) => Types::read(path)?,
        None => {
            let both: Vec<Sentence> = a.iter().chain(&b).cloned().collect();
            Types::infer(&both)
        }
    };
    let agreement = compare(&a, &b, &types).map_err(|e| mismatch(e, &args.a, &args.b))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&agreement)?);
    } else {
        println!(
            "Agreement of {} with {} (the reference; F1 is symmetric): {} sentences, {} words\n",
            args.b.display(),
            args.a.display(),
            agreement.sentences,
            agreement.words
        );
        print!("{}", agreement.table(args.limit_disagreements));
    }
    Ok(ExitCode::SUCCESS)
}

/// The comparison error in the words of two annotation files rather than gold and predicted.
fn mismatch(err: EvalError, a: &Path, b: &Path) -> anyhow::Error {
    let (a, b) = (a.display(), b.display());
    match err {
        EvalError::SentenceCount { gold, predicted } => anyhow!(
            "{b}: {predicted} record(s), but {a} has {gold}: compare needs the same sentences \
             in the same order"
        ),
        EvalError::Tokens {
            sentence,
            token,
            gold_len,
            predicted_len,
            gold_token,
            predicted_token,
        } => {
            anyhow!(
                "{b}: record {sentence}: the tokens are not those of record {sentence} of {a} \
                 ({predicted_len} tokens against {gold_len}; first difference at token {token}: \
                 {predicted_token} against {gold_token})"
            )
        }
        // Reading already refuses relations that point past their sentence's entities.
        other => anyhow!("comparing {b} with {a}: {other}"),
    }
}
