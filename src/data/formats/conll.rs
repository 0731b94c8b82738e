//! CoNLL column files with one word a line and a BIO (IOB2) or BILOU tag in the last column,
//! sentences separated by blank lines, documents by `-DOCSTART-` lines; also the one sentence
//! a line `word|POS|TAG` layout spaCy's converter reads.
//!
//! Tags hold entities only: writing reports every relation, and every entity that overlaps
//! or nests in an earlier, longer one, as lost. Reading accepts IOB1 (`I-` opening an
//! entity), BIO, BIOES and BILOU.

use std::path::Path;

use serde_json::Value;

use super::loss::{LossKind, LossReport};
use super::{note_extras, DOC_KEY};
use crate::data::document::{Entity, Sentence};
use crate::data::io::{write_atomic, DataError};

/// The tag scheme to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `B-` begins, `I-` continues.
    Bio,
    /// `B-` begins, `I-` continues, `L-` ends, `U-` is a one-word entity.
    Bilou,
}

/// Reads a CoNLL file: the first column is the word, the last the tag.
pub fn read(path: &Path, report: &mut LossReport) -> Result<Vec<Sentence>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, "read", &e))?;
    let mut sentences = Vec::new();
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut document: Option<usize> = None;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
    let mut finish = |rows: &mut Vec<(String, String)>,
                      document: Option<usize>,
                      line: usize,
                      report: &mut LossReport| {
        if rows.is_empty() {
            return;
        }
        let mut sentence = decode(std::mem::take(rows), &format!("{name} line {line}"), report);
        if let Some(d) = document {
            sentence.extra.insert(DOC_KEY.into(), Value::from(format!("document-{d}")));
        }
        sentences.push(sentence);
    };
    for (number, line) in text.lines().enumerate() {
        let fields: Vec<&str> = if line.contains('\t') {
            line.split('\t').map(str::trim).collect()
        } else {
            line.split_whitespace().collect()
        };
        if is_sentence_line(line) {
            finish(&mut rows, document, number, report);
            for field in &fields {
                let word = field.split('|').next().unwrap_or(field);
                let tag = field.rsplit('|').next().unwrap_or("O");
                rows.push((word.to_string(), tag.to_string()));
            }
            finish(&mut rows, document, number + 1, report);
            continue;
        }
        match fields.as_slice() {
            [] => finish(&mut rows, document, number, report),
            [first, ..] if *first == "-DOCSTART-" => {
                finish(&mut rows, document, number, report);
                document = Some(document.map_or(1, |d| d + 1));
            }
            [word, .., tag] => rows.push((word.to_string(), tag.to_string())),
            [_] => {
                report.note(LossKind::UnknownLine, || format!("{name} line {}: {line}", number + 1))
            }
        }
    }
    finish(&mut rows, document, text.lines().count(), report);
    Ok(sentences)
}

/// Whether `line` is a whole sentence of `word|POS|TAG` fields (spaCy's layout).
fn is_sentence_line(line: &str) -> bool {
    !line.contains('\t')
        && !line.trim().is_empty()
        && line.split_whitespace().all(|f| f.matches('|').count() >= 2)
}

/// One sentence from its (word, tag) rows.
fn decode(rows: Vec<(String, String)>, place: &str, report: &mut LossReport) -> Sentence {
    let mut sentence = Sentence::default();
    let mut open: Option<(String, usize)> = None;
    for (i, (word, tag)) in rows.into_iter().enumerate() {
        sentence.tokens.push(word);
        let (prefix, label) = match tag.split_once('-') {
            Some((p, l)) if p.len() == 1 => (p.to_ascii_uppercase(), l.to_string()),
            _ => ("O".to_string(), String::new()),
        };
        let continues = open.as_ref().is_some_and(|(l, _)| *l == label);
        let close = |open: &mut Option<(String, usize)>, end: usize, sentence: &mut Sentence| {
            if let Some((label, start)) = open.take() {
                sentence.entities.push(Entity::new(label, start, end));
            }
        };
        match prefix.as_str() {
            "B" | "U" | "S" => {
                close(&mut open, i, &mut sentence);
                open = Some((label, i));
            }
            "I" | "L" | "E" if continues => {}
            "I" | "L" | "E" => {
                report.note(LossKind::TagWithoutBegin, || format!("{place}: {tag}"));
                close(&mut open, i, &mut sentence);
                open = Some((label, i));
            }
            _ => close(&mut open, i, &mut sentence),
        }
        if matches!(prefix.as_str(), "U" | "S" | "L" | "E") {
            close(&mut open, i + 1, &mut sentence);
        }
    }
    let end = sentence.tokens.len();
    if let Some((label, start)) = open {
        sentence.entities.push(Entity::new(label, start, end));
    }
    sentence
}

/// The tags of one sentence: entities that overlap an earlier kept one are reported.
pub fn tags(
    sentence: &Sentence,
    scheme: Scheme,
    place: &str,
    report: &mut LossReport,
) -> Vec<String> {
    let mut order: Vec<&Entity> = sentence.entities.iter().collect();
    order.sort_by_key(|e| (e.start, std::cmp::Reverse(e.end)));
    let mut tags = vec!["O".to_string(); sentence.tokens.len()];
    let mut taken = vec![false; sentence.tokens.len()];
    for entity in order {
        if taken[entity.start..entity.end].iter().any(|t| *t) {
            report.note(LossKind::OverlappingEntity, || {
                format!("{place}: {} [{}, {})", entity.entity_type, entity.start, entity.end)
            });
            continue;
        }
        for (i, tag) in tags[entity.start..entity.end].iter_mut().enumerate() {
            let prefix = match (scheme, i, entity.width()) {
                (Scheme::Bilou, _, 1) => "U",
                (_, 0, _) => "B",
                (Scheme::Bilou, i, w) if i + 1 == w => "L",
                _ => "I",
            };
            *tag = format!("{prefix}-{}", entity.entity_type);
        }
        taken[entity.start..entity.end].fill(true);
    }
    tags
}

/// Writes `WORD<TAB>TAG` lines, a blank line after each sentence, and `-DOCSTART-` before
/// each document when the records carry `doc_key`.
pub fn write(
    path: &Path,
    sentences: &[Sentence],
    scheme: Scheme,
    report: &mut LossReport,
) -> Result<(), DataError> {
    note_extras(sentences, &[DOC_KEY], report);
    let mut out = String::new();
    let mut document: Option<&Value> = None;
    for (i, sentence) in sentences.iter().enumerate() {
        let place = format!("record {i}");
        if let Some(key) = sentence.extra.get(DOC_KEY) {
            if document != Some(key) {
                out.push_str("-DOCSTART-\tO\n\n");
                document = Some(key);
            }
        }
        for (r, relation) in sentence.relations.iter().enumerate() {
            report.note(LossKind::RelationNotCarried, || {
                format!("{place} relation {r}: {}", relation.relation_type)
            });
        }
        for (word, tag) in sentence.tokens.iter().zip(tags(sentence, scheme, &place, report)) {
            out.push_str(&format!("{word}\t{tag}\n"));
        }
        out.push('\n');
    }
    write_atomic(path, out.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(tags: &[&str]) -> Vec<(String, String)> {
        tags.iter().enumerate().map(|(i, t)| (format!("w{i}"), t.to_string())).collect()
    }

    fn spans(sentence: &Sentence) -> Vec<(String, usize, usize)> {
        sentence.entities.iter().map(|e| (e.entity_type.clone(), e.start, e.end)).collect()
    }

    #[test]
    fn decodes_bio_bilou_and_iob1() {
        let mut report = LossReport::default();
        let bio = decode(rows(&["B-P", "I-P", "O", "B-L", "B-L"]), "x", &mut report);
        assert_eq!(spans(&bio), [("P".into(), 0, 2), ("L".into(), 3, 4), ("L".into(), 4, 5)]);
        let bilou = decode(rows(&["U-P", "B-L", "I-L", "L-L", "O"]), "x", &mut report);
        assert_eq!(spans(&bilou), [("P".into(), 0, 1), ("L".into(), 1, 4)]);
        assert!(report.is_empty());
        let iob1 = decode(rows(&["I-P", "I-P", "I-L"]), "x", &mut report);
        assert_eq!(spans(&iob1), [("P".into(), 0, 2), ("L".into(), 2, 3)]);
        assert_eq!(report.count(LossKind::TagWithoutBegin), 2);
    }

    #[test]
    fn tags_report_nested_entities() {
        let mut sentence = Sentence::from_tokens(vec!["a".into(), "b".into(), "c".into()]);
        sentence.entities =
            vec![Entity::new("In", 1, 2), Entity::new("Out", 0, 3), Entity::new("One", 2, 3)];
        let mut report = LossReport::default();
        assert_eq!(tags(&sentence, Scheme::Bilou, "r", &mut report), ["B-Out", "I-Out", "L-Out"]);
        assert_eq!(report.count(LossKind::OverlappingEntity), 2);
        sentence.entities.remove(1);
        assert_eq!(tags(&sentence, Scheme::Bio, "r", &mut report), ["O", "B-In", "B-One"]);
    }
}
