//! Dataset validation: everything a SpERT dataset (and its types file) can get wrong.
//!
//! Every problem names the file and, where there is one, the record (0-based), the token,
//! entity or relation inside it (0-based), and the reason; in JSON Lines files the record's
//! line is added: `F: record 3 (line 5): reason`. Lines and columns are 1-based.
//!
//! Checks, with the message each produces (`F` is the dataset, `T` the types file):
//!
//! File level (when one of these fails, nothing more of the file is checked; in JSON Lines
//! only the bad line is lost):
//! 1. unreadable file: `F: could not read: <os error>`
//! 2. unknown extension: `F: unknown file type: expected a .json, .jsonl or .txt file`
//! 3. invalid UTF-8: `F: byte B: invalid UTF-8`
//! 4. unparsable JSON: `F: line L, column C: invalid JSON: <serde_json's reason>`
//! 5. top level not an array: `F: the top level must be a JSON array of records, found <kind>`
//!
//! Record structure (a record with one of these is skipped when loading):
//! 6. record not an object: `F: record N: a record must be a JSON object, found <kind>`
//! 7. `tokens` missing: ``F: record N: missing `tokens` ``
//! 8. `tokens` not an array: ``F: record N: `tokens` must be an array of strings, found <kind>``
//! 9. token not a string: `F: record N: token T: a token must be a string, found <kind>`
//! 10. empty tokens list: ``F: record N: `tokens` is empty``
//! 11. `entities`/`relations` not an array:
//!     ``F: record N: `entities` must be an array of objects, found <kind>``
//! 12. entity/relation not an object:
//!     `F: record N: entity E: an entity must be a JSON object, found <kind>`
//!     (`relation R: a relation must be ...`)
//! 13. `type` missing or not a string: ``F: record N: entity E: missing `type` `` /
//!     ``F: record N: relation R: `type` must be a string, found <kind>``
//! 14. `start`/`end`/`head`/`tail` missing, or not a non-negative integer (a string, negative,
//!     fractional, ...): ``F: record N: entity E: missing `end` `` /
//!     ``F: record N: entity E: `start` must be a non-negative integer, found number -1``
//! 15. span out of range: `F: record N: entity E: span [S, X) is out of range: the record has K tokens`
//! 16. empty span (start == end): `F: record N: entity E: span [S, S) is empty`
//! 17. reversed span (start > end): `F: record N: entity E: span [S, X) is reversed (start > end)`
//! 18. dangling head/tail: ``F: record N: relation R: `head` H points past the record's K entities``
//!
//! Record content (reported by validation; the record still loads):
//! 19. `entities`/`relations` missing: ``F: record N: missing `entities` ``
//! 20. empty token string: `F: record N: token T: the token is an empty string`
//! 21. relation from an entity to itself: `F: record N: relation R: head and tail are the same entity (E)`
//! 22. duplicate entity (same span and type):
//!     `F: record N: entity E: same span [S, X) and type "Peop" as entity D`
//! 23. unknown entity type (types given): `F: record N: entity E: unknown entity type "Org"`
//! 24. unknown relation type (types given): `F: record N: relation R: unknown relation type "Kill"`
//!
//! Types file ([`validate_types_file`], [`Types::read_all_problems`]):
//! 25. not JSON / not UTF-8: as 3 and 4, for `T`
//! 26. not an object: ``T: the types file must be an object with `entities` and `relations` objects, found <kind>``
//! 27. `entities`/`relations` missing or not an object: ``T: the types file must be ...; `relations` is missing``
//!     / ``...; `entities` is an array``
//! 28. a type not an object: `T: entity type "Loc" must be an object, found <kind>`
//! 29. `short`/`verbose` missing or not a string: ``T: entity type "Loc": missing `verbose` `` /
//!     ``T: relation type "Kill": `short` must be a string, found number 1``
//! 30. `symmetric` missing or not a boolean:
//!     ``T: relation type "Kill": `symmetric` must be a boolean, found string "no"``

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::document::Sentence;
use super::io::{each_json_array_record, each_json_line, DataError, ErrorKind, Format, Part};
use super::record::parse_record;
use super::types::Types;

/// A validation finding; the same type as a load error, displayed `FILE: record N: reason`.
pub type Problem = DataError;

/// Validates a dataset file (`.json`, `.jsonl`; `.txt` is only checked for UTF-8) and, when
/// given, the types its labels must come from. Returns every problem found; empty means clean.
pub fn validate_file(path: &Path, types: Option<&Types>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let format = match Format::of(path) {
        Ok(format) => format,
        Err(e) => return vec![e],
    };
    let bytes = match super::io::read_file(path) {
        Ok(bytes) => bytes,
        Err(e) => return vec![e],
    };
    // Records are checked as they are parsed, so memory stays that of the file's bytes.
    let mut record_problems = Vec::new();
    let mut check = |record: super::io::RawRecord| {
        let found = match &record.duplicate_key {
            Some(_) => record.parse(path).err().unwrap_or_default(),
            None => validate_record(path, record.index, &record.value, types),
        };
        record_problems.extend(record.locate(found));
    };
    match format {
        Format::Json => {
            if let Err(e) = each_json_array_record(path, &bytes, &mut check) {
                return vec![e]; // as if nothing was read: the file is not a JSON array
            }
        }
        Format::JsonLines => each_json_line(path, &bytes, &mut problems, &mut check),
        Format::Text => {
            if let Err(e) = super::io::utf8_text(path, &bytes) {
                problems.push(e);
            }
        }
    }
    problems.extend(record_problems);
    problems
}

/// Validates a types file and then a dataset against it: the types file's problems first; when
/// the types file cannot be used, the dataset is still checked, without type names.
pub fn validate_with_types_file(path: &Path, types_path: &Path) -> Vec<Problem> {
    match Types::read_all_problems(types_path) {
        Ok(types) => validate_file(path, Some(&types)),
        Err(mut problems) => {
            problems.extend(validate_file(path, None));
            problems
        }
    }
}

/// Validates a types file: shape, and `short`/`verbose`/`symmetric` of every type.
pub fn validate_types_file(path: &Path) -> Vec<Problem> {
    match Types::read_all_problems(path) {
        Ok(_) => Vec::new(),
        Err(problems) => problems,
    }
}

/// Every problem of one record (parsed JSON value) at `index` of `file`.
pub fn validate_record(
    file: &Path,
    index: usize,
    record: &Value,
    types: Option<&Types>,
) -> Vec<Problem> {
    let mut problems = match parse_record(file, index, record) {
        Err(problems) => problems,
        Ok(sentence) => {
            let mut problems = Vec::new();
            if let Value::Object(map) = record {
                for key in ["entities", "relations"] {
                    if !map.contains_key(key) {
                        problems.push(content(file, index, None, format!("missing `{key}`")));
                    }
                }
            }
            problems.extend(check_content(file, index, &sentence));
            if let Some(types) = types {
                for v in types.violations(&sentence) {
                    problems.push(content(file, index, Some(Part::Relation(v.relation)), v.reason));
                }
            }
            problems
        }
    };
    if let Some(types) = types {
        problems.extend(check_type_names(file, index, record, types));
    }
    problems
}

fn content(file: &Path, index: usize, part: Option<Part>, reason: String) -> DataError {
    DataError::record(file, index, part, ErrorKind::Content, reason)
}

/// Content checks of a well-formed sentence: empty tokens, self-relations, duplicate
/// entities. Type names are checked on the raw record by `check_type_names`.
pub fn check_content(file: &Path, index: usize, sentence: &Sentence) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (i, token) in sentence.tokens.iter().enumerate() {
        let reason = if token.is_empty() {
            "the token is an empty string"
        } else if token.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
            "the token has no visible character (only spaces or zero-width characters)"
        } else {
            continue;
        };
        problems.push(content(file, index, Some(Part::Token(i)), reason.to_string()));
    }
    let mut seen: HashMap<(&str, usize, usize), usize> = HashMap::new();
    for (i, e) in sentence.entities.iter().enumerate() {
        let part = Some(Part::Entity(i));
        if let Some(first) = seen.insert((e.entity_type.as_str(), e.start, e.end), i) {
            seen.insert((e.entity_type.as_str(), e.start, e.end), first);
            let reason = format!(
                "same span [{}, {}) and type {} as entity {first}",
                e.start,
                e.end,
                Value::String(e.entity_type.clone())
            );
            problems.push(content(file, index, part, reason));
        }
    }
    for (i, e) in sentence.entities.iter().enumerate() {
        if e.entity_type.trim().is_empty() {
            let reason = "the entity type is an empty name".to_string();
            problems.push(content(file, index, Some(Part::Entity(i)), reason));
        }
    }
    let mut seen: HashMap<(&str, usize, usize), usize> = HashMap::new();
    for (i, r) in sentence.relations.iter().enumerate() {
        let part = Some(Part::Relation(i));
        if r.relation_type.trim().is_empty() {
            let reason = "the relation type is an empty name".to_string();
            problems.push(content(file, index, part, reason));
        }
        if let Some(&first) = seen.get(&(r.relation_type.as_str(), r.head, r.tail)) {
            let reason = format!("same type and entities as relation {first}");
            problems.push(content(file, index, part, reason));
        } else {
            seen.insert((r.relation_type.as_str(), r.head, r.tail), i);
        }
        if r.head == r.tail {
            let reason = format!("head and tail are the same entity ({})", r.head);
            problems.push(content(file, index, part, reason));
        }
    }
    problems
}

/// Characters that take no room on screen: a token made of them looks like no token at all.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{00ad}')
}

/// Entity and relation types the types file does not declare. Read from the raw record, so
/// they are reported even when the record has structural problems too.
fn check_type_names(file: &Path, index: usize, record: &Value, types: &Types) -> Vec<Problem> {
    let mut problems = Vec::new();
    let named = |key: &str| -> Vec<(usize, String)> {
        record
            .get(key)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| Some((i, item.get("type")?.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    };
    for (i, name) in named("entities") {
        if types.entity_index(&name).is_none() {
            let reason = format!("unknown entity type {}", Value::String(name));
            problems.push(content(file, index, Some(Part::Entity(i)), reason));
        }
    }
    for (i, name) in named("relations") {
        if types.relation_index(&name).is_none() {
            let reason = format!("unknown relation type {}", Value::String(name));
            problems.push(content(file, index, Some(Part::Relation(i)), reason));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(record: Value, types: Option<&Types>) -> Vec<String> {
        validate_record(Path::new("F.json"), 7, &record, types)
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn relation_rules_are_checked() {
        let t = Types::from_json_str(
            r#"{"entities": {"Peop": {"short": "P", "verbose": "People"}, "Org": {"short": "O", "verbose": "Org"}},
                "relations": {"Kill": {"short": "K", "verbose": "Kill", "symmetric": false, "head": ["Peop"], "tail": ["Peop"]}}}"#,
        )
        .unwrap();
        assert!(messages(good(), Some(&t)).is_empty());
        let m = messages(with("/entities/1/type", json!("Org")), Some(&t));
        assert_eq!(
            m,
            vec!["F.json: record 7: relation 0: Kill from Peop to Org breaks its rule (Peop -> Peop)"]
        );
    }

    #[test]
    fn invisible_tokens_empty_type_names_and_duplicate_relations_are_reported() {
        let record = json!({
            "tokens": ["a", "  ", "\u{200b}", "b"],
            "entities": [
                {"type": "", "start": 0, "end": 1},
                {"type": "Peop", "start": 3, "end": 4}
            ],
            "relations": [
                {"type": "Kill", "head": 0, "tail": 1},
                {"type": "Kill", "head": 0, "tail": 1},
                {"type": " ", "head": 1, "tail": 0}
            ]
        });
        let no_glyph = "the token has no visible character (only spaces or zero-width characters)";
        assert_eq!(
            messages(record, None),
            vec![
                format!("F.json: record 7: token 1: {no_glyph}"),
                format!("F.json: record 7: token 2: {no_glyph}"),
                "F.json: record 7: entity 0: the entity type is an empty name".to_string(),
                "F.json: record 7: relation 1: same type and entities as relation 0".to_string(),
                "F.json: record 7: relation 2: the relation type is an empty name".to_string(),
            ]
        );
    }

    fn one(record: Value) -> String {
        let m = messages(record, None);
        assert_eq!(m.len(), 1, "{m:?}");
        m[0].clone()
    }

    fn types() -> Types {
        Types::from_json_str(
            r#"{"entities": {"Peop": {"short": "P", "verbose": "People"}},
                "relations": {"Kill": {"short": "K", "verbose": "Kill", "symmetric": false}}}"#,
        )
        .unwrap()
    }

    fn good() -> Value {
        json!({"tokens": ["a", "b", "c"], "entities": [{"type": "Peop", "start": 0, "end": 1},
               {"type": "Peop", "start": 1, "end": 3}], "relations": [{"type": "Kill", "head": 0, "tail": 1}]})
    }

    fn with(path: &str, value: Value) -> Value {
        let mut record = good();
        *record.pointer_mut(path).unwrap() = value;
        record
    }

    #[test]
    fn a_good_record_is_clean() {
        assert!(messages(good(), Some(&types())).is_empty());
    }

    #[test]
    fn record_not_an_object() {
        assert_eq!(
            one(json!([1])),
            "F.json: record 7: a record must be a JSON object, found an array"
        );
    }

    #[test]
    fn missing_tokens() {
        assert_eq!(
            one(json!({"entities": [], "relations": []})),
            "F.json: record 7: missing `tokens`"
        );
    }

    #[test]
    fn tokens_not_an_array() {
        let m = one(with("/tokens", json!("a b c")));
        assert!(
            m.starts_with(
                "F.json: record 7: `tokens` must be an array of strings, found string \"a b c\""
            ),
            "{m}"
        );
    }

    #[test]
    fn token_not_a_string() {
        assert_eq!(
            one(with("/tokens/1", json!(5))),
            "F.json: record 7: token 1: a token must be a string, found number 5"
        );
    }

    #[test]
    fn empty_tokens() {
        let record = json!({"tokens": [], "entities": [], "relations": []});
        assert_eq!(one(record), "F.json: record 7: `tokens` is empty");
    }

    #[test]
    fn empty_token_string() {
        assert_eq!(
            one(with("/tokens/2", json!(""))),
            "F.json: record 7: token 2: the token is an empty string"
        );
    }

    #[test]
    fn missing_entities_and_relations() {
        let m = messages(json!({"tokens": ["a"]}), None);
        assert_eq!(
            m,
            vec!["F.json: record 7: missing `entities`", "F.json: record 7: missing `relations`"]
        );
    }

    #[test]
    fn entities_or_relations_not_arrays() {
        assert_eq!(
            one(with("/entities", json!({}))),
            "F.json: record 7: `entities` must be an array of objects, found an object"
        );
        assert_eq!(
            one(with("/relations", json!(null))),
            "F.json: record 7: `relations` must be an array of objects, found null"
        );
    }

    #[test]
    fn entity_or_relation_not_an_object() {
        let record = json!({"tokens": ["a"], "entities": ["Peop"], "relations": [[0, 1]]});
        assert_eq!(
            messages(record, None),
            vec![
                "F.json: record 7: entity 0: an entity must be a JSON object, found string \"Peop\"",
                "F.json: record 7: relation 0: a relation must be a JSON object, found an array",
            ]
        );
    }

    #[test]
    fn missing_or_wrongly_typed_type() {
        let mut record = good();
        record["entities"][0].as_object_mut().unwrap().remove("type");
        assert_eq!(one(record), "F.json: record 7: entity 0: missing `type`");
        assert_eq!(
            one(with("/relations/0/type", json!(3))),
            "F.json: record 7: relation 0: `type` must be a string, found number 3"
        );
    }

    #[test]
    fn missing_or_wrongly_typed_indices() {
        let mut record = good();
        record["entities"][1].as_object_mut().unwrap().remove("end");
        assert_eq!(one(record), "F.json: record 7: entity 1: missing `end`");
        assert_eq!(
            one(with("/entities/0/start", json!("0"))),
            "F.json: record 7: entity 0: `start` must be a non-negative integer, found string \"0\""
        );
        assert_eq!(
            one(with("/entities/0/start", json!(-1))),
            "F.json: record 7: entity 0: `start` must be a non-negative integer, found number -1"
        );
        assert_eq!(
            one(with("/entities/0/end", json!(1.5))),
            "F.json: record 7: entity 0: `end` must be a non-negative integer, found number 1.5"
        );
        assert_eq!(
            one(with("/relations/0/head", json!(true))),
            "F.json: record 7: relation 0: `head` must be a non-negative integer, found boolean true"
        );
        let mut record = good();
        record["relations"][0].as_object_mut().unwrap().remove("tail");
        assert_eq!(one(record), "F.json: record 7: relation 0: missing `tail`");
    }

    #[test]
    fn span_out_of_range_empty_reversed() {
        assert_eq!(
            one(with("/entities/1/end", json!(4))),
            "F.json: record 7: entity 1: span [1, 4) is out of range: the record has 3 tokens"
        );
        assert_eq!(
            one(with("/entities/1/end", json!(1))),
            "F.json: record 7: entity 1: span [1, 1) is empty"
        );
        assert_eq!(
            one(with("/entities/1/start", json!(3))),
            "F.json: record 7: entity 1: span [3, 3) is empty"
        );
        let mut record = good();
        record["entities"][1]["start"] = json!(2);
        record["entities"][1]["end"] = json!(1);
        assert_eq!(
            one(record),
            "F.json: record 7: entity 1: span [2, 1) is reversed (start > end)"
        );
    }

    #[test]
    fn dangling_relation() {
        assert_eq!(
            one(with("/relations/0/tail", json!(2))),
            "F.json: record 7: relation 0: `tail` 2 points past the record's 2 entities"
        );
    }

    #[test]
    fn self_relation() {
        assert_eq!(
            one(with("/relations/0/tail", json!(0))),
            "F.json: record 7: relation 0: head and tail are the same entity (0)"
        );
    }

    #[test]
    fn duplicate_entity() {
        let mut record = good();
        record["entities"][1] = json!({"type": "Peop", "start": 0, "end": 1});
        assert_eq!(
            one(record),
            "F.json: record 7: entity 1: same span [0, 1) and type \"Peop\" as entity 0"
        );
        let mut record = good();
        record["entities"][1] = json!({"type": "Loc", "start": 0, "end": 1});
        assert!(messages(record, None).is_empty(), "same span, other type is fine (nested typing)");
    }

    #[test]
    fn unknown_types() {
        let t = types();
        let m = messages(with("/entities/0/type", json!("Org")), Some(&t));
        assert_eq!(m, vec!["F.json: record 7: entity 0: unknown entity type \"Org\""]);
        let m = messages(with("/relations/0/type", json!("Work_For")), Some(&t));
        assert_eq!(m, vec!["F.json: record 7: relation 0: unknown relation type \"Work_For\""]);
    }

    #[test]
    fn several_problems_in_one_record_are_all_reported() {
        let record = json!({"tokens": ["a", 1], "entities": [{"type": "X", "start": -1, "end": 1}],
                            "relations": [{"type": "R", "head": 0, "tail": 3}]});
        assert_eq!(messages(record, None).len(), 3);
    }

    #[test]
    fn file_level_checks() {
        let dir = tempfile::tempdir().unwrap();
        let check = |name: &str, bytes: &[u8]| -> Vec<String> {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let prefix = format!("{}: ", path.display());
            validate_file(&path, None)
                .iter()
                .map(|p| p.to_string().replacen(&prefix, "F: ", 1))
                .collect()
        };
        assert_eq!(check("a.json", b"[1, \xff]"), vec!["F: byte 4: invalid UTF-8"]);
        assert_eq!(
            check("b.json", b"[\n  {\"tokens\": [\"a\"],}\n]"),
            vec!["F: line 2, column 20: invalid JSON: trailing comma"]
        );
        assert_eq!(
            check("c.json", b"\"x\""),
            vec!["F: the top level must be a JSON array of records, found string \"x\""]
        );
        assert_eq!(
            check("d.csv", b""),
            vec!["F: unknown file type: expected a .json, .jsonl or .txt file"]
        );
        assert_eq!(
            check("e.jsonl", b"{\"tokens\":[\"a\"],\"entities\":[],\"relations\":[]}\n7\n"),
            vec!["F: record 1 (line 2): a record must be a JSON object, found number 7"]
        );
        assert!(check("f.txt", "Ünïcode text.".as_bytes()).is_empty());
        let missing = validate_file(&dir.path().join("none.json"), None);
        assert!(missing[0].to_string().contains(": could not read: "), "{}", missing[0]);
    }

    fn arbitrary_record() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..6).prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            "[a-zA-Z]{0,3}".prop_map(Value::String),
        ];
        let keys = prop::sample::select(vec![
            "tokens",
            "entities",
            "relations",
            "type",
            "start",
            "end",
            "head",
            "tail",
            "x",
        ]);
        leaf.prop_recursive(3, 24, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..5).prop_map(|kv| {
                    Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn any_json_record_is_checked_without_panicking(record in arbitrary_record()) {
            let t = types();
            let problems = validate_record(Path::new("F"), 0, &record, Some(&t));
            // A record that loads has no structural problem, and the other way round.
            let loads = parse_record(Path::new("F"), 0, &record).is_ok();
            let structural = problems.iter().any(|p| p.kind == ErrorKind::Structure);
            proptest::prop_assert_eq!(loads, !structural);
        }
    }
}
