//! Label Studio JSON: an array of tasks, each with `data.text`, `annotations` (legacy exports:
//! `completions`) and `predictions`, whose `result` lists `labels` regions (`value.start`,
//! `value.end` in characters, `value.labels`) and `relation` items (`from_id`, `to_id`,
//! `direction`, `labels`). See <https://labelstud.io/guide/export.html> and
//! <https://labelstud.io/guide/predictions.html>.
//!
//! Read: the first annotation that was not cancelled is gold; the first prediction's regions
//! and relations become model proposals (`"source": "model"`, the region's `score`, else the
//! prediction's, and `"model"` its `model_version`), except those that repeat a gold one.
//! Written: one task per sentence with its words under `data.tokens`; model proposals go to
//! `predictions` (with copies of the gold regions their relations need), the rest to
//! `annotations`.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::loss::{LossKind, LossReport};
use super::standoff::{CharIndex, Link, Span, Standoff};
use super::{bad_record, note_extras};
use crate::data::document::Sentence;
use crate::data::io::{kind_of, write_atomic, DataError, ErrorKind, Place};

const SOURCE: &str = "source";
const SCORE: &str = "score";
const MODEL: &str = "model";

/// Reads a Label Studio JSON export (an array of tasks, or one task).
pub fn read(path: &Path, report: &mut LossReport) -> Result<Vec<Sentence>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, "read", &e))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| DataError::syntax(path, &e))?;
    let tasks = match value {
        Value::Array(tasks) => tasks,
        task @ Value::Object(_) => vec![task],
        other => {
            let reason =
                format!("a Label Studio export is an array of tasks, found {}", kind_of(&other));
            return Err(DataError::new(path, Place::File, ErrorKind::Structure, reason));
        }
    };
    let mut sentences = Vec::new();
    for (index, task) in tasks.iter().enumerate() {
        let place = format!("task {index}");
        let Some(data) = task.get("data") else {
            return Err(bad_record(path, index, "missing `data`"));
        };
        let text = data
            .get("text")
            .and_then(Value::as_str)
            .or_else(|| data.as_object()?.values().find_map(Value::as_str));
        let Some(text) = text else {
            report.note(LossKind::NoText, || place.clone());
            continue;
        };
        let mut doc = Standoff { text: text.to_string(), ..Standoff::default() };
        let chars = CharIndex::new(text);
        let annotations = task.get("annotations").or_else(|| task.get("completions"));
        let mut gold = None;
        for (a, annotation) in
            annotations.and_then(Value::as_array).into_iter().flatten().enumerate()
        {
            if annotation.get("was_cancelled").and_then(Value::as_bool) == Some(true) {
                report.note(LossKind::Cancelled, || format!("{place} annotation {a}"));
            } else if gold.is_none() {
                gold = Some(annotation);
            } else {
                report.note(LossKind::OtherAnnotation, || format!("{place} annotation {a}"));
            }
        }
        let gold_spans = match gold {
            Some(annotation) => add_result(
                &mut doc,
                &chars,
                annotation,
                None,
                &format!("{place} annotation"),
                report,
            ),
            None => 0,
        };
        let predictions = task.get("predictions").and_then(Value::as_array);
        for (p, prediction) in predictions.into_iter().flatten().enumerate() {
            if p > 0 {
                report.note(LossKind::OtherAnnotation, || format!("{place} prediction {p}"));
                continue;
            }
            let mut proposal = Map::new();
            proposal.insert(SOURCE.into(), Value::from(MODEL));
            if let Some(score) = prediction.get("score").filter(|s| s.is_number()) {
                proposal.insert(SCORE.into(), score.clone());
            }
            if let Some(version) = prediction.get("model_version").filter(|v| !v.is_null()) {
                proposal.insert(MODEL.into(), version.clone());
            }
            add_result(
                &mut doc,
                &chars,
                prediction,
                Some((proposal, gold_spans)),
                &format!("{place} prediction"),
                report,
            );
        }
        in_text_order(&mut doc);
        let tokens: Option<Vec<String>> =
            data.get("tokens").and_then(|t| serde_json::from_value(t.clone()).ok());
        sentences.extend(doc.to_sentences(tokens.as_deref(), &place, report));
    }
    Ok(sentences)
}

/// Adds an annotation's or prediction's `result` to `doc`; for a prediction, `proposal` holds
/// the keys its items get and how many of `doc`'s spans are gold (a region repeating one of
/// those is that gold span, not a new proposal). Returns the number of spans in `doc`.
fn add_result(
    doc: &mut Standoff,
    chars: &CharIndex,
    annotation: &Value,
    proposal: Option<(Map<String, Value>, usize)>,
    place: &str,
    report: &mut LossReport,
) -> usize {
    let items = annotation.get("result").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut ids: Vec<(Value, usize)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(value) = item
            .get("value")
            .filter(|_| item.get("type").and_then(Value::as_str) != Some("relation"))
        else {
            continue;
        };
        let labels = value.get("labels").and_then(Value::as_array).cloned().unwrap_or_default();
        let Some(label) = labels.first().and_then(Value::as_str) else {
            report.note(LossKind::UnknownLine, || format!("{place} result {i}: no `labels`"));
            continue;
        };
        if labels.len() > 1 {
            report.note(LossKind::MultipleLabels, || format!("{place} result {i}"));
        }
        let offset = |k: &str| {
            value
                .get(k)
                .and_then(Value::as_u64)
                .and_then(|c| usize::try_from(c).ok())
                .and_then(|c| chars.byte(c))
        };
        let (Some(start), Some(end)) = (offset("start"), offset("end")) else {
            report.note(LossKind::SpanOutOfText, || format!("{place} result {i}"));
            continue;
        };
        let name = format!("{place} result {i}");
        let mut extra = Map::new();
        if let Some((keys, gold)) = &proposal {
            let same =
                doc.spans[..*gold].iter().position(|s| s.range == (start..end) && s.label == label);
            if let Some(same) = same {
                ids.extend(item.get("id").map(|id| (id.clone(), same)));
                continue;
            }
            extra = keys.clone();
            if let Some(score) = item.get("score").filter(|s| s.is_number()) {
                extra.insert(SCORE.into(), score.clone());
            }
        }
        ids.extend(item.get("id").map(|id| (id.clone(), doc.spans.len())));
        doc.spans.push(Span { label: label.to_string(), range: start..end, name, extra });
    }
    for (i, item) in items.iter().enumerate() {
        if item.get("type").and_then(Value::as_str) != Some("relation") {
            continue;
        }
        let find = |key: &str| {
            item.get(key).and_then(|id| ids.iter().find(|(i, _)| i == id)).map(|(_, s)| *s)
        };
        let label = item
            .get("labels")
            .and_then(Value::as_array)
            .and_then(|l| l.first())
            .and_then(Value::as_str)
            .unwrap_or("Relation");
        let name = format!("{place} result {i}");
        let (Some(from), Some(to)) = (find("from_id"), find("to_id")) else {
            report.note(LossKind::RelationArgumentMissing, || name.clone());
            continue;
        };
        let (head, tail) = match item.get("direction").and_then(Value::as_str) {
            Some("left") => (to, from),
            _ => (from, to),
        };
        let mut extra = Map::new();
        if let Some((keys, _)) = &proposal {
            // A predicted relation that repeats a gold one is that relation, as for regions.
            let gold = doc.links.iter().any(|l| {
                l.extra.is_empty() && l.label == label && (l.head, l.tail) == (head, tail)
            });
            if gold {
                continue;
            }
            extra = keys.clone();
            if let Some(score) = item.get("score").filter(|s| s.is_number()) {
                extra.insert(SCORE.into(), score.clone());
            }
        }
        doc.links.push(Link { label: label.to_string(), head, tail, name, extra });
    }
    doc.spans.len()
}

/// Writes a Label Studio task array, one task per sentence.
pub fn write(
    path: &Path,
    sentences: &[Sentence],
    report: &mut LossReport,
) -> Result<(), DataError> {
    let mut rest = sentences.to_vec();
    for sentence in &mut rest {
        for extra in sentence
            .entities
            .iter_mut()
            .map(|e| &mut e.extra)
            .chain(sentence.relations.iter_mut().map(|r| &mut r.extra))
        {
            if is_proposal(extra) {
                for key in [SOURCE, SCORE, MODEL] {
                    extra.remove(key);
                }
            }
        }
    }
    note_extras(&rest, &[], report);
    let mut tasks = Vec::with_capacity(sentences.len());
    for (i, sentence) in sentences.iter().enumerate() {
        let (doc, _) = Standoff::from_sentences(std::slice::from_ref(sentence));
        let chars = CharIndex::new(&doc.text);
        let region = |s: usize| {
            let span = &doc.spans[s];
            let (start, end) = (chars.char(span.range.start), chars.char(span.range.end));
            let mut item = json!({
                "id": format!("e{s}"), "from_name": "label", "to_name": "text", "type": "labels",
                "value": {"start": start, "end": end, "text": &doc.text[span.range.clone()], "labels": [span.label]},
            });
            if let Some(score) = span.extra.get(SCORE).filter(|_| is_proposal(&span.extra)) {
                item["score"] = score.clone();
            }
            item
        };
        let relation = |l: &Link| {
            let mut item = json!({
                "from_id": format!("e{}", l.head), "to_id": format!("e{}", l.tail),
                "type": "relation", "direction": "right", "labels": [l.label],
            });
            if let Some(score) = l.extra.get(SCORE).filter(|_| is_proposal(&l.extra)) {
                item["score"] = score.clone();
            }
            item
        };
        let mut proposed: Vec<usize> =
            (0..doc.spans.len()).filter(|s| is_proposal(&doc.spans[*s].extra)).collect();
        // A reviewed relation names regions of its own annotation only.
        for link in doc.links.iter().filter(|l| !is_proposal(&l.extra)) {
            for end in [link.head, link.tail] {
                if let Some(at) = proposed.iter().position(|&s| s == end) {
                    proposed.remove(at);
                    report.note(LossKind::ProposalWrittenAsGold, || {
                        format!("record {i} entity {end}")
                    });
                }
            }
        }
        let (mut gold, mut predicted) = (Vec::new(), Vec::new());
        for s in 0..doc.spans.len() {
            if !proposed.contains(&s) {
                gold.push(region(s));
            }
        }
        let mut needed: Vec<usize> = proposed.clone();
        let mut predicted_links = Vec::new();
        for link in &doc.links {
            if is_proposal(&link.extra) {
                needed.extend([link.head, link.tail]);
                predicted_links.push(relation(link));
            } else {
                gold.push(relation(link));
            }
        }
        needed.sort_unstable();
        needed.dedup();
        predicted.extend(needed.into_iter().map(region));
        predicted.extend(predicted_links);
        let mut task = json!({
            "id": i + 1,
            "data": {"text": doc.text, "tokens": sentence.tokens},
            "annotations": [{"result": gold}],
        });
        if !predicted.is_empty() {
            let model =
                proposals(sentence).find_map(|e| e.get(MODEL).cloned()).unwrap_or(Value::Null);
            let scores: Vec<f64> =
                proposals(sentence).filter_map(|e| e.get(SCORE).and_then(Value::as_f64)).collect();
            let mut prediction = json!({"model_version": model, "result": predicted});
            if !scores.is_empty() {
                prediction["score"] = json!(scores.iter().sum::<f64>() / scores.len() as f64);
            }
            task["predictions"] = json!([prediction]);
        }
        tasks.push(task);
    }
    let mut bytes = serde_json::to_vec_pretty(&Value::from(tasks))
        .map_err(|e| DataError::new(path, Place::File, ErrorKind::Structure, e.to_string()))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Spans by position in the text and relations by their arguments: Label Studio lists
/// results in the order they were drawn, and gold before predictions.
fn in_text_order(doc: &mut Standoff) {
    let mut order: Vec<usize> = (0..doc.spans.len()).collect();
    order.sort_by_key(|&i| (doc.spans[i].range.start, doc.spans[i].range.end));
    let mut new_index = vec![0; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    let mut spans: Vec<Option<Span>> =
        std::mem::take(&mut doc.spans).into_iter().map(Some).collect();
    doc.spans = order.iter().map(|&i| spans[i].take().expect("each once")).collect();
    for link in &mut doc.links {
        link.head = new_index[link.head];
        link.tail = new_index[link.tail];
    }
    doc.links.sort_by_key(|l| (l.head, l.tail));
}

fn is_proposal(extra: &Map<String, Value>) -> bool {
    extra.get(SOURCE).and_then(Value::as_str) == Some(MODEL)
}

/// The extras of a sentence's model proposals.
fn proposals(sentence: &Sentence) -> impl Iterator<Item = &Map<String, Value>> {
    sentence
        .entities
        .iter()
        .map(|e| &e.extra)
        .chain(sentence.relations.iter().map(|r| &r.extra))
        .filter(|e| is_proposal(e))
}
