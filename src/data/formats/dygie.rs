//! DyGIE++/SciERC JSON lines: one document per line with `doc_key`, `sentences` (lists of
//! words), and per sentence `ner` (`[start, end, type]`) and `relations`
//! (`[start1, end1, start2, end2, type]`), with word indices counted over the whole document
//! and inclusive ends. See <https://github.com/dwadden/dygiepp/blob/master/doc/data.md>.
//!
//! Read: one SpERT record per sentence, with the document's `doc_key` (and `dataset`, when
//! there is one); coreference `clusters` and `events` are reported and dropped. Written: the
//! records grouped by `doc_key` (a record without one is a document by itself).

use std::path::Path;

use serde_json::{json, Map, Value};

use super::loss::{LossKind, LossReport};
use super::{bad_record, json_lines_of, note_extras, write_json_lines, DOC_KEY};
use crate::data::document::{Entity, Relation, Sentence};
use crate::data::io::{kind_of, DataError};

/// The document key DyGIE uses to pick a label namespace (kept on each sentence).
const DATASET_KEY: &str = "dataset";

/// Reads a DyGIE JSON lines file (SciERC's files end in `.json` but hold one object a line).
pub fn read(path: &Path, report: &mut LossReport) -> Result<Vec<Sentence>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, "read", &e))?;
    parse(path, &text, report)
}

/// The sentences of DyGIE JSON lines `text`, read from `path` (named in errors).
pub fn parse(path: &Path, text: &str, report: &mut LossReport) -> Result<Vec<Sentence>, DataError> {
    let mut sentences = Vec::new();
    for (index, (line, document)) in json_lines_of(path, text)?.into_iter().enumerate() {
        let bad = |reason: String| bad_record(path, index, format!("(line {line}) {reason}"));
        let Value::Object(map) = &document else {
            return Err(bad(format!("a document must be an object, found {}", kind_of(&document))));
        };
        let key = map.get(DOC_KEY).cloned().unwrap_or_else(|| Value::from(format!("line-{line}")));
        let words = lists(map, "sentences")
            .ok_or_else(|| bad("missing `sentences`, a list of word lists".into()))?;
        let ner = lists(map, "ner").unwrap_or_default();
        let relations = lists(map, "relations").unwrap_or_default();
        for (name, value) in map {
            match name.as_str() {
                "doc_key" | "sentences" | "ner" | "relations" | DATASET_KEY => {}
                "clusters" => {
                    for _ in value.as_array().into_iter().flatten() {
                        report.note(LossKind::Cluster, || format!("document {key}"));
                    }
                }
                _ => {
                    if !is_empty_lists(value) {
                        report.note(LossKind::ExtraKey, || format!("document {key}: `{name}`"))
                    }
                }
            }
        }
        let mut offset = 0;
        for (s, tokens) in words.iter().enumerate() {
            let tokens: Vec<String> = tokens
                .iter()
                .map(|t| t.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| bad(format!("sentence {s}: a word must be a string")))?;
            if tokens.is_empty() {
                continue;
            }
            let len = tokens.len();
            let mut sentence = Sentence::from_tokens(tokens);
            let place = |what: &str, i: usize| format!("document {key} sentence {s} {what} {i}");
            for (i, item) in ner.get(s).into_iter().flatten().enumerate() {
                match span_item(item, 0, offset, len) {
                    Some((start, end, label)) => {
                        sentence.entities.push(Entity::new(label, start, end))
                    }
                    None => report.note(LossKind::SpanOutOfText, || place("ner", i)),
                }
            }
            for (i, item) in relations.get(s).into_iter().flatten().enumerate() {
                let head = span_item(item, 0, offset, len);
                let tail = span_item(item, 2, offset, len);
                let label = item.get(4).and_then(Value::as_str);
                let find = |span: Option<(usize, usize, String)>, not: Option<usize>| {
                    let (start, end, _) = span?;
                    let at = |e: &Entity| e.start == start && e.end == end;
                    let mut same = sentence.entities.iter().enumerate().filter(|(_, e)| at(e));
                    let first = same.next()?.0;
                    // Two entities on one span (of two types): a relation between them names
                    // the span twice, and its tail is the other one, not the head again.
                    Some(match same.next() {
                        Some((second, _)) if not == Some(first) => second,
                        _ => first,
                    })
                };
                let h = find(head, None);
                match (h, find(tail, h), label) {
                    (Some(h), Some(t), Some(label)) => {
                        sentence.relations.push(Relation::new(label, h, t))
                    }
                    _ => report.note(LossKind::RelationArgumentMissing, || place("relation", i)),
                }
            }
            sentence.extra.insert(DOC_KEY.into(), key.clone());
            if let Some(dataset) = map.get(DATASET_KEY) {
                sentence.extra.insert(DATASET_KEY.into(), dataset.clone());
            }
            sentences.push(sentence);
            offset += len;
        }
    }
    Ok(sentences)
}

/// The array of arrays under `key`.
fn lists(map: &Map<String, Value>, key: &str) -> Option<Vec<Vec<Value>>> {
    map.get(key)?.as_array()?.iter().map(|v| v.as_array().cloned()).collect()
}

fn is_empty_lists(value: &Value) -> bool {
    value
        .as_array()
        .is_some_and(|items| items.iter().all(|i| i.as_array().is_some_and(Vec::is_empty)))
}

/// `[start, end, ...]` at `at` of a ner or relation item, as a sentence-level `[start, end)`
/// (and the item's label when it is a ner item); `None` when outside the sentence.
fn span_item(item: &Value, at: usize, offset: usize, len: usize) -> Option<(usize, usize, String)> {
    let number = |i: usize| item.get(i)?.as_u64().and_then(|n| usize::try_from(n).ok());
    let (start, last) = (number(at)?, number(at + 1)?);
    if start < offset || last < start || last >= offset + len {
        return None;
    }
    let label = item.get(2).and_then(Value::as_str).unwrap_or("").to_string();
    Some((start - offset, last + 1 - offset, label))
}

/// Writes DyGIE JSON lines, one document per `doc_key`.
pub fn write(
    path: &Path,
    sentences: &[Sentence],
    report: &mut LossReport,
) -> Result<(), DataError> {
    write_json_lines(path, &encode(sentences, report))
}

/// The sentence keys a DyGIE document carries (every other one is reported when written).
pub const DOCUMENT_KEYS: &[&str] = &[DOC_KEY, DATASET_KEY];

/// The DyGIE documents of `sentences`, one JSON object per `doc_key`, in order of first
/// appearance.
pub fn encode(sentences: &[Sentence], report: &mut LossReport) -> Vec<Value> {
    note_extras(sentences, DOCUMENT_KEYS, report);
    let mut documents: Vec<(Value, Vec<(usize, &Sentence)>)> = Vec::new();
    for (i, sentence) in sentences.iter().enumerate() {
        match sentence.extra.get(DOC_KEY) {
            Some(key) => match documents.iter_mut().find(|(k, _)| k == key) {
                Some((_, group)) => group.push((i, sentence)),
                None => documents.push((key.clone(), vec![(i, sentence)])),
            },
            None => documents.push((Value::from(format!("record-{i}")), vec![(i, sentence)])),
        }
    }
    let mut lines = Vec::with_capacity(documents.len());
    for (key, group) in documents {
        let (mut words, mut ner, mut relations) = (Vec::new(), Vec::new(), Vec::new());
        let mut offset = 0;
        for (i, sentence) in &group {
            words.push(json!(sentence.tokens));
            let span = |e: &Entity| (offset + e.start, offset + e.end - 1);
            ner.push(Value::from(
                sentence
                    .entities
                    .iter()
                    .map(|e| json!([span(e).0, span(e).1, e.entity_type]))
                    .collect::<Vec<_>>(),
            ));
            let mut items = Vec::new();
            for (r, relation) in sentence.relations.iter().enumerate() {
                let (head, tail) =
                    (&sentence.entities[relation.head], &sentence.entities[relation.tail]);
                for (which, entity) in [(relation.head, head), (relation.tail, tail)] {
                    let first = sentence
                        .entities
                        .iter()
                        .position(|e| e.start == entity.start && e.end == entity.end);
                    if first != Some(which) {
                        report.note(LossKind::SameSpanEntities, || {
                            format!("record {i} relation {r}")
                        });
                    }
                }
                let (h, t) = (span(head), span(tail));
                items.push(json!([h.0, h.1, t.0, t.1, relation.relation_type]));
            }
            relations.push(Value::from(items));
            offset += sentence.tokens.len();
        }
        let mut document = Map::new();
        document.insert(DOC_KEY.into(), key);
        if let Some(dataset) = group[0].1.extra.get(DATASET_KEY) {
            document.insert(DATASET_KEY.into(), dataset.clone());
        }
        document.insert("sentences".into(), Value::from(words));
        document.insert("ner".into(), Value::from(ner));
        document.insert("relations".into(), Value::from(relations));
        lines.push(Value::Object(document));
    }
    lines
}
