//! One SpERT record from its JSON: the structure checks that decide whether a record can be
//! loaded at all (see the list in [`super::validate`], checks 6-18), and the conversion into a
//! [`Sentence`] that keeps every key it does not know, in order.

use std::path::Path;

use serde_json::{Map, Value};

use super::document::{Entity, Relation, Sentence};
use super::io::{kind_of, DataError, ErrorKind, Part};

fn structure(file: &Path, index: usize, part: Option<Part>, reason: String) -> DataError {
    DataError::record(file, index, part, ErrorKind::Structure, reason)
}

/// Turns one record into a [`Sentence`], or says everything that keeps it from being one:
/// the structure checks, spans out of range, empty or reversed, and dangling relations.
/// Missing `entities`/`relations` default to empty (prediction inputs have only tokens).
pub(crate) fn parse_record(
    file: &Path,
    index: usize,
    record: &Value,
) -> Result<Sentence, Vec<DataError>> {
    let mut problems = Vec::new();
    let Value::Object(map) = record else {
        let reason = format!("a record must be a JSON object, found {}", kind_of(record));
        return Err(vec![structure(file, index, None, reason)]);
    };
    let tokens = parse_tokens(file, index, map, &mut problems);
    let mut entities: Vec<Entity> = parse_list(file, index, map, "entities", &mut problems)
        .iter()
        .enumerate()
        .filter_map(|(i, v)| parse_entity(file, index, i, v, &mut problems))
        .collect();
    let mut relations: Vec<Relation> = parse_list(file, index, map, "relations", &mut problems)
        .iter()
        .enumerate()
        .filter_map(|(i, v)| parse_relation(file, index, i, v, &mut problems))
        .collect();
    // Collecting through a filter leaves room for four; the workbench holds a million records.
    entities.shrink_to_fit();
    relations.shrink_to_fit();
    if let Some(tokens) = &tokens {
        for (i, e) in entities.iter().enumerate() {
            if let Some(reason) = span_problem(e.start, e.end, tokens.len()) {
                problems.push(structure(file, index, Some(Part::Entity(i)), reason));
            }
        }
    }
    // When `entities` is not an array that is already reported; indices cannot be checked.
    let entity_count = match map.get("entities") {
        Some(Value::Array(items)) => Some(items.len()),
        Some(_) => None,
        None => Some(0),
    };
    for (i, r) in relations.iter().enumerate() {
        let Some(entity_count) = entity_count else { break };
        for (key, value) in [("head", r.head), ("tail", r.tail)] {
            if value >= entity_count {
                let reason =
                    format!("`{key}` {value} points past the record's {entity_count} entities");
                problems.push(structure(file, index, Some(Part::Relation(i)), reason));
            }
        }
    }
    match tokens {
        Some(tokens) if problems.is_empty() => {
            let extra = rest(map, &["tokens", "entities", "relations"]);
            Ok(Sentence { tokens, entities, relations, extra })
        }
        _ => Err(problems),
    }
}

fn span_problem(start: usize, end: usize, len: usize) -> Option<String> {
    if start > end {
        Some(format!("span [{start}, {end}) is reversed (start > end)"))
    } else if end > len {
        Some(format!("span [{start}, {end}) is out of range: the record has {len} tokens"))
    } else if start == end {
        Some(format!("span [{start}, {end}) is empty"))
    } else {
        None
    }
}

fn parse_tokens(
    file: &Path,
    index: usize,
    map: &Map<String, Value>,
    problems: &mut Vec<DataError>,
) -> Option<Vec<String>> {
    let Some(value) = map.get("tokens") else {
        problems.push(structure(file, index, None, "missing `tokens`".into()));
        return None;
    };
    let Value::Array(items) = value else {
        let reason = format!("`tokens` must be an array of strings, found {}", kind_of(value));
        problems.push(structure(file, index, None, reason));
        return None;
    };
    if items.is_empty() {
        problems.push(structure(file, index, None, "`tokens` is empty".into()));
        return None;
    }
    let mut tokens = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) => tokens.push(s.clone()),
            other => {
                let reason = format!("a token must be a string, found {}", kind_of(other));
                problems.push(structure(file, index, Some(Part::Token(i)), reason));
            }
        }
    }
    (tokens.len() == items.len()).then_some(tokens)
}

/// The array under `key`, or empty (with a problem when present but not an array).
fn parse_list<'a>(
    file: &Path,
    index: usize,
    map: &'a Map<String, Value>,
    key: &str,
    problems: &mut Vec<DataError>,
) -> &'a [Value] {
    match map.get(key) {
        None => &[],
        Some(Value::Array(items)) => items,
        Some(other) => {
            let reason = format!("`{key}` must be an array of objects, found {}", kind_of(other));
            problems.push(structure(file, index, None, reason));
            &[]
        }
    }
}

/// Reads `type` and two index fields of an entity or relation object; reports what is wrong.
fn parse_labelled(
    file: &Path,
    index: usize,
    part: Part,
    value: &Value,
    keys: [&str; 2],
    problems: &mut Vec<DataError>,
) -> Option<(String, usize, usize, Map<String, Value>)> {
    let what = match part {
        Part::Relation(_) => "a relation",
        _ => "an entity",
    };
    let Value::Object(map) = value else {
        let reason = format!("{what} must be a JSON object, found {}", kind_of(value));
        problems.push(structure(file, index, Some(part), reason));
        return None;
    };
    let before = problems.len();
    let label = match map.get("type") {
        Some(Value::String(s)) => Some(s.clone()),
        None => {
            problems.push(structure(file, index, Some(part), "missing `type`".into()));
            None
        }
        Some(other) => {
            let reason = format!("`type` must be a string, found {}", kind_of(other));
            problems.push(structure(file, index, Some(part), reason));
            None
        }
    };
    let mut numbers = [0usize; 2];
    for (slot, key) in numbers.iter_mut().zip(keys) {
        match map.get(key) {
            Some(v) => match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
                Some(n) => *slot = n,
                None => {
                    let reason =
                        format!("`{key}` must be a non-negative integer, found {}", kind_of(v));
                    problems.push(structure(file, index, Some(part), reason));
                }
            },
            None => problems.push(structure(file, index, Some(part), format!("missing `{key}`"))),
        }
    }
    if problems.len() > before {
        return None;
    }
    let extra = rest(map, &["type", keys[0], keys[1]]);
    label.map(|label| (label, numbers[0], numbers[1], extra))
}

fn parse_entity(
    file: &Path,
    index: usize,
    i: usize,
    value: &Value,
    problems: &mut Vec<DataError>,
) -> Option<Entity> {
    let (entity_type, start, end, extra) =
        parse_labelled(file, index, Part::Entity(i), value, ["start", "end"], problems)?;
    Some(Entity { entity_type, start, end, extra })
}

fn parse_relation(
    file: &Path,
    index: usize,
    i: usize,
    value: &Value,
    problems: &mut Vec<DataError>,
) -> Option<Relation> {
    let (relation_type, head, tail, extra) =
        parse_labelled(file, index, Part::Relation(i), value, ["head", "tail"], problems)?;
    Some(Relation { relation_type, head, tail, extra })
}

/// The keys of `map` other than `known`, in their original order, in a map of just their size.
fn rest(map: &Map<String, Value>, known: &[&str]) -> Map<String, Value> {
    let kept = |(k, _): &(&String, &Value)| !known.contains(&k.as_str());
    let mut rest = Map::with_capacity(map.iter().filter(kept).count());
    rest.extend(map.iter().filter(kept).map(|(k, v)| (k.clone(), v.clone())));
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sentence_holds_no_spare_room() {
        let record = serde_json::json!({
            "tokens": ["John", "works", "."],
            "entities": [{"type": "Peop", "start": 0, "end": 1}],
            "relations": [],
            "orig_id": 7
        });
        let s = parse_record(Path::new("d.jsonl"), 0, &record).unwrap();
        let room = (s.tokens.capacity(), s.entities.capacity(), s.relations.capacity());
        assert_eq!(room, (3, 1, 0));
        assert_eq!(s.extra.keys().collect::<Vec<_>>(), ["orig_id"]);
    }
}
