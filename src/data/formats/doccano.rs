//! doccano JSON lines: one text a line, with `entities` (`id`, `start_offset`, `end_offset`,
//! `label`) and `relations` (`from_id`, `to_id`, `type`) as relation-extraction projects
//! export them, or `label`/`labels` (`[start, end, label]`) as sequence-labelling projects
//! do, or `annotations` with a `user` each (doccano 1.x). Offsets count characters. See
//! <https://doccano.github.io/doccano/tutorial/>.
//!
//! Read: each text split into sentences (see [`super::standoff`]); when a record carries
//! `tokens` that spell its text (as this module writes them) they are the words. A file that
//! holds one pretty-printed record (doccano's documented example does) is read as one record.
//! Written: one record per sentence, words joined by spaces, with the words under `tokens`
//! (doccano keeps unknown keys as metadata).

use std::path::Path;

use serde_json::{json, Map, Value};

use super::loss::{LossKind, LossReport};
use super::standoff::{CharIndex, Link, Span, Standoff};
use super::{bad_record, json_lines, note_extras, write_json_lines};
use crate::data::document::Sentence;
use crate::data::io::{kind_of, DataError};

/// Reads doccano JSON lines (or one JSON record, or an array of records).
pub fn read(path: &Path, report: &mut LossReport) -> Result<Vec<Sentence>, DataError> {
    let records = records(path)?;
    let mut sentences = Vec::new();
    for (index, (line, record)) in records.into_iter().enumerate() {
        let place = format!("record {index} (line {line})");
        let Value::Object(map) = &record else {
            let reason =
                format!("(line {line}) a record must be an object, found {}", kind_of(&record));
            return Err(bad_record(path, index, reason));
        };
        let Some(text) = map.get("text").and_then(Value::as_str) else {
            report.note(LossKind::NoText, || place.clone());
            continue;
        };
        let doc = standoff(text, map, &place, report);
        let tokens: Option<Vec<String>> =
            map.get("tokens").and_then(|t| serde_json::from_value(t.clone()).ok());
        sentences.extend(doc.to_sentences(tokens.as_deref(), &place, report));
    }
    Ok(sentences)
}

/// The file's records with their line numbers: JSON lines, or one JSON value for the whole
/// file when that is what it holds (an object, or an array of objects).
fn records(path: &Path) -> Result<Vec<(usize, Value)>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, "read", &e))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(items)) => Ok(items.into_iter().map(|v| (1, v)).collect()),
        Ok(value @ Value::Object(_)) => Ok(vec![(1, value)]),
        _ => json_lines(path),
    }
}

/// A record's spans and relations over its text.
fn standoff(
    text: &str,
    map: &Map<String, Value>,
    place: &str,
    report: &mut LossReport,
) -> Standoff {
    let chars = CharIndex::new(text);
    let mut doc = Standoff { text: text.to_string(), ..Standoff::default() };
    let mut ids: Vec<Option<Value>> = Vec::new();
    let mut add = |doc: &mut Standoff,
                   id: Option<Value>,
                   start: Option<u64>,
                   end: Option<u64>,
                   label: String,
                   report: &mut LossReport| {
        let byte =
            |c: Option<u64>| c.and_then(|c| usize::try_from(c).ok()).and_then(|c| chars.byte(c));
        let name = format!("{place} entity {}", doc.spans.len());
        match (byte(start), byte(end)) {
            (Some(s), Some(e)) => {
                doc.spans.push(Span { label, range: s..e, name, extra: Map::new() });
                ids.push(id);
            }
            _ => report.note(LossKind::SpanOutOfText, || format!("{name} [{start:?}, {end:?})")),
        }
    };
    for entity in map.get("entities").and_then(Value::as_array).into_iter().flatten() {
        let label = entity.get("label").map(label_text).unwrap_or_default();
        let offset = |k: &str| entity.get(k).and_then(Value::as_u64);
        add(
            &mut doc,
            entity.get("id").cloned(),
            offset("start_offset"),
            offset("end_offset"),
            label,
            report,
        );
    }
    for key in ["label", "labels"] {
        for item in map.get(key).and_then(Value::as_array).into_iter().flatten() {
            let at = |i: usize| item.get(i).and_then(Value::as_u64);
            let label = item.get(2).map(label_text).unwrap_or_default();
            add(&mut doc, None, at(0), at(1), label, report);
        }
    }
    let mut first_user = None;
    for annotation in map.get("annotations").and_then(Value::as_array).into_iter().flatten() {
        let user = annotation.get("user").cloned();
        if first_user.is_none() {
            first_user = Some(user.clone());
        }
        if first_user.as_ref() != Some(&user) {
            report.note(LossKind::OtherAnnotation, || {
                format!("{place}: user {}", user.unwrap_or(Value::Null))
            });
            continue;
        }
        let label = annotation.get("label").map(label_text).unwrap_or_default();
        let offset = |k: &str| annotation.get(k).and_then(Value::as_u64);
        add(
            &mut doc,
            annotation.get("id").cloned(),
            offset("start_offset"),
            offset("end_offset"),
            label,
            report,
        );
    }
    for (r, relation) in
        map.get("relations").and_then(Value::as_array).into_iter().flatten().enumerate()
    {
        let find = |key: &str| {
            let id = relation.get(key)?;
            ids.iter().position(|i| i.as_ref() == Some(id))
        };
        let label = relation
            .get("type")
            .or_else(|| relation.get("label"))
            .map(label_text)
            .unwrap_or_default();
        match (find("from_id"), find("to_id")) {
            (Some(head), Some(tail)) => doc.links.push(Link {
                label,
                head,
                tail,
                name: format!("{place} relation {r}"),
                extra: Map::new(),
            }),
            _ => report.note(LossKind::RelationArgumentMissing, || format!("{place} relation {r}")),
        }
    }
    doc
}

/// A label as text (doccano 1.x exports numeric label ids).
fn label_text(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_string)
}

/// Writes doccano JSON lines, one record per sentence.
pub fn write(
    path: &Path,
    sentences: &[Sentence],
    report: &mut LossReport,
) -> Result<(), DataError> {
    note_extras(sentences, &[], report);
    let mut lines = Vec::with_capacity(sentences.len());
    for (i, sentence) in sentences.iter().enumerate() {
        let (doc, _) = Standoff::from_sentences(std::slice::from_ref(sentence));
        let chars = CharIndex::new(&doc.text);
        let entities: Vec<Value> = doc
            .spans
            .iter()
            .enumerate()
            .map(|(id, s)| {
                let (start, end) = (chars.char(s.range.start), chars.char(s.range.end));
                json!({"id": id, "start_offset": start, "end_offset": end, "label": s.label})
            })
            .collect();
        let relations: Vec<Value> = doc
            .links
            .iter()
            .enumerate()
            .map(|(id, l)| json!({"id": id, "from_id": l.head, "to_id": l.tail, "type": l.label}))
            .collect();
        lines.push(json!({
            "id": i,
            "text": doc.text,
            "entities": entities,
            "relations": relations,
            "tokens": sentence.tokens,
        }));
    }
    write_json_lines(path, &lines)
}
