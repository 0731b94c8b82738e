//! The original CoNLL04 corpus file of Roth & Yih (2004): per sentence, rows
//! `sentence<TAB>entity type<TAB>row<TAB>O<TAB>POS<TAB>word<TAB>O<TAB>O<TAB>O` where one row
//! may hold a multi-word entity joined with `/` (`Associated/Press`, POS `NNP/NNP`) and a
//! comma is written `COMMA`; then relation lines `head row<TAB>tail row<TAB>type`. Read only.
//!
//! Each sentence becomes a SpERT record with `orig_id` the corpus's sentence number, the
//! rows split back into words, as SpERT's own conversion of the corpus does.

use std::path::Path;

use serde_json::Value;

use super::loss::{LossKind, LossReport};
use crate::data::document::{Entity, Relation, Sentence};
use crate::data::io::{DataError, ErrorKind, Place};

/// One sentence being read: its rows' first word and word count, and its entities' rows.
struct Reading {
    id: String,
    sentence: Sentence,
    /// For each row, the entity it is (index into `sentence.entities`), if any.
    entity_of_row: Vec<Option<usize>>,
}

/// Reads a CoNLL04 `.corp` file.
pub fn read(path: &Path, report: &mut LossReport) -> Result<Vec<Sentence>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, "read", &e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
    let mut sentences = Vec::new();
    let mut current: Option<Reading> = None;
    for (number, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        let at = || format!("{name} line {}", number + 1);
        match fields.as_slice() {
            [""] => {}
            [id, entity_type, row, _, pos, word, ..] => {
                if current.as_ref().is_none_or(|c| c.id != *id) {
                    sentences.extend(current.take().map(finish));
                    current = Some(Reading {
                        id: id.to_string(),
                        sentence: Sentence::default(),
                        entity_of_row: Vec::new(),
                    });
                }
                let reading = current.as_mut().expect("just set");
                if row.parse::<usize>().ok() != Some(reading.entity_of_row.len()) {
                    let reason = format!(
                        "row number {row} out of order (expected {})",
                        reading.entity_of_row.len()
                    );
                    return Err(DataError::new(
                        path,
                        Place::Line { line: number + 1, column: 1 },
                        ErrorKind::Structure,
                        reason,
                    ));
                }
                let words = split_row(word, pos);
                let start = reading.sentence.tokens.len();
                reading.sentence.tokens.extend(words);
                let end = reading.sentence.tokens.len();
                let entity = (*entity_type != "O").then(|| {
                    reading.sentence.entities.push(Entity::new(*entity_type, start, end));
                    reading.sentence.entities.len() - 1
                });
                reading.entity_of_row.push(entity);
            }
            [head, tail, label] => {
                let Some(reading) = current.as_mut() else {
                    report.note(LossKind::UnknownLine, || format!("{}: {line}", at()));
                    continue;
                };
                let entity = |row: &str| {
                    row.parse::<usize>()
                        .ok()
                        .and_then(|r| reading.entity_of_row.get(r).copied().flatten())
                };
                match (entity(head), entity(tail)) {
                    (Some(h), Some(t)) => {
                        reading.sentence.relations.push(Relation::new(*label, h, t))
                    }
                    _ => report
                        .note(LossKind::RelationArgumentMissing, || format!("{}: {line}", at())),
                }
            }
            _ => report.note(LossKind::UnknownLine, || format!("{}: {line}", at())),
        }
    }
    sentences.extend(current.map(finish));
    Ok(sentences)
}

fn finish(reading: Reading) -> Sentence {
    let mut sentence = reading.sentence;
    let id =
        reading.id.parse::<u64>().map_or_else(|_| Value::from(reading.id.clone()), Value::from);
    sentence.extra.insert("orig_id".into(), id);
    sentence
}

/// A row's words: split at `/` when its POS splits into as many parts (so `1/2` with POS
/// `CD` stays one word), `COMMA` read as `,`.
fn split_row(word: &str, pos: &str) -> Vec<String> {
    let parts: Vec<&str> = word.split('/').collect();
    let words =
        if parts.len() > 1 && pos.split('/').count() == parts.len() { parts } else { vec![word] };
    words.into_iter().map(|w| if w == "COMMA" { ",".to_string() } else { w.to_string() }).collect()
}

#[cfg(test)]
mod tests {
    use super::split_row;

    #[test]
    fn rows_split_where_the_tags_do() {
        assert_eq!(split_row("Associated/Press", "NNP/NNP"), ["Associated", "Press"]);
        assert_eq!(split_row("1/2", "CD"), ["1/2"]);
        assert_eq!(split_row("COMMA", ","), [","]);
    }
}
