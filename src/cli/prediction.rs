//! Predicting a whole file, as `predict` and `eval` do: batches with a progress bar, each
//! result keeping its input's tokens and extra keys.

use std::path::Path;

use candle_core::Device;
use indicatif::{ProgressBar, ProgressStyle};
use spanscope::data::io::Format;
use spanscope::data::wordpiece::WordPieces;
use spanscope::data::Sentence;
use spanscope::model::aspert::Aspert;
use spanscope::model::decode::predict;

/// Sentences handed to the model between two progress updates.
const CHUNK: usize = 64;

/// The model's entities and relations for every sentence, in place of the input's own;
/// tokens and extra keys (`orig_id`, ...) are the input's.
pub fn predict_all(
    model: &Aspert,
    pieces: &WordPieces,
    sentences: &[Sentence],
    batch_size: usize,
    device: &Device,
) -> anyhow::Result<Vec<Sentence>> {
    let bar = progress_bar(sentences.len() as u64);
    let mut annotated = Vec::with_capacity(sentences.len());
    for chunk in sentences.chunks(CHUNK) {
        annotated.extend(predict_chunk(model, pieces, chunk, batch_size, device)?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(annotated)
}

/// The model's predictions for `sentences`, each keeping its input's tokens and extra keys.
pub fn predict_chunk(
    model: &Aspert,
    pieces: &WordPieces,
    sentences: &[Sentence],
    batch_size: usize,
    device: &Device,
) -> anyhow::Result<Vec<Sentence>> {
    let predictions = predict(model, pieces, sentences, batch_size.max(1), device)?;
    Ok(sentences
        .iter()
        .zip(predictions)
        .map(|(sentence, prediction)| {
            for note in &prediction.notes {
                eprintln!("{}: {note}", sentence_name(&sentence.tokens));
            }
            let mut predicted = prediction.to_sentence(&sentence.tokens);
            predicted.extra = sentence.extra.clone();
            predicted
        })
        .collect())
}

/// A sentence named by its length and first words, for messages about it.
fn sentence_name(tokens: &[String]) -> String {
    let start = tokens.iter().take(6).map(String::as_str).collect::<Vec<_>>().join(" ");
    format!("the sentence of {} words \"{start} …\"", tokens.len())
}

/// How to write predictions to `path`: JSON Lines for `.jsonl`, else a SpERT JSON array.
pub fn output_format(path: &Path) -> Format {
    match Format::from_path(path) {
        Some(Format::JsonLines) => Format::JsonLines,
        _ => Format::Json,
    }
}

/// A bar on standard error, hidden when that is not a terminal.
pub(super) fn progress_bar(len: u64) -> ProgressBar {
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
