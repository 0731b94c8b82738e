//! Fixing where a sentence ends: splitting one record in two at a word, and merging a record
//! with the next. Like [`super::edit`], pure functions from the records before to the records
//! after; the workbench records both for undo and journals the result.
//!
//! What moves with the words, and what a record's own keys become:
//! - entities and relations move with their words (offsets and indices shift); an entity
//!   across the cut refuses the split (shorten or delete it first);
//! - a relation whose arguments end up on both sides of a split cannot be written in SpERT
//!   format (relations are within one record), so it is dropped and named in
//!   [`Restructured::dropped`] for the caller to ask about;
//! - a split copies the record's extra keys (`orig_id`, ...) to both halves; a merge keeps the
//!   first record's and adds the keys only the second has; keys both have with different
//!   values are named in [`Restructured::conflicts`] (the first's value is kept);
//! - the keys that describe the words themselves follow them instead (docs/DATA.md,
//!   "Provenance and text positions"): token offsets and the origin in the source text are cut
//!   or joined, rejected proposals go with their words (shifted; one across the cut is
//!   dropped), and the sentence id stays with the first sentence, a split's second half
//!   getting a new one derived from it;
//! - the result is never marked reviewed: the sentences are new and must be looked at again.

use serde_json::{Map, Value};

use super::annotation::REVIEWED_KEY;
use super::edit::EditError;
use super::origin::{OFFSETS_KEY, ORIGIN_KEY};
use super::provenance::{sentence_id, ID_KEY, REJECTED_ENTITIES_KEY, REJECTED_RELATIONS_KEY};
use crate::data::{Entity, Relation, Sentence};

/// Records that replace one (split) or two (merge), with what the change cannot keep.
#[derive(Debug, Clone, PartialEq)]
pub struct Restructured {
    /// The new records, in order.
    pub sentences: Vec<Sentence>,
    /// Relations that cannot be kept, in words (`Work_For: "Smith" → "Acme"`).
    pub dropped: Vec<String>,
    /// Record keys whose second value a merge loses (`orig_id: 7, not 8`).
    pub conflicts: Vec<String>,
}

fn describe(s: &Sentence, r: &Relation) -> String {
    let words = |e: &Entity| s.tokens[e.start..e.end].join(" ");
    let (head, tail) = (&s.entities[r.head], &s.entities[r.tail]);
    format!("{}: \"{}\" → \"{}\"", r.relation_type, words(head), words(tail))
}

/// Keys that describe a record's words, recomputed for each new sentence, never copied.
const WORD_KEYS: [&str; 5] =
    [ID_KEY, OFFSETS_KEY, ORIGIN_KEY, REJECTED_ENTITIES_KEY, REJECTED_RELATIONS_KEY];

fn record_keys(extra: &Map<String, Value>) -> Map<String, Value> {
    let mut keys = extra.clone();
    keys.shift_remove(REVIEWED_KEY);
    for key in WORD_KEYS {
        keys.shift_remove(key);
    }
    keys
}

/// `[start, end)` of a rejected proposal's span, from its record.
fn span_of(record: &Value) -> Option<(usize, usize)> {
    let at = |k: &str| record.get(k).and_then(Value::as_u64).map(|v| v as usize);
    Some((at("start")?, at("end")?))
}

/// `record` (a rejected entity's) moved `by` words left.
fn shifted(record: &Value, by: isize) -> Value {
    let mut record = record.clone();
    for key in ["start", "end"] {
        if let Some(v) = record.get(key).and_then(Value::as_u64) {
            record[key] = Value::from((v as isize + by) as u64);
        }
    }
    record
}

/// A rejected relation's record moved `by` words left, both arguments.
fn shifted_relation(record: &Value, by: isize) -> Value {
    let mut record = record.clone();
    for arg in ["head", "tail"] {
        if let Some(a) = record.get(arg).filter(|a| a.is_object()).cloned() {
            record[arg] = shifted(&a, by);
        }
    }
    record
}

/// Which side of a cut before word `at` the span lies on, or `None` across it.
fn side(span: (usize, usize), at: usize) -> Option<usize> {
    if span.1 <= at {
        Some(0)
    } else if span.0 >= at {
        Some(1)
    } else {
        None
    }
}

/// The origin of the words whose offsets are `offsets`, in the file `origin` names.
fn origin_of(origin: &Value, offsets: &[Value]) -> Option<Value> {
    let file = origin.get("file")?.clone();
    let start = offsets.first()?.get(0)?.clone();
    let end = offsets.last()?.get(1)?.clone();
    Some(serde_json::json!({"file": file, "start": start, "end": end}))
}

/// Gives the two halves of `s`, cut before word `at`, the keys that describe their words.
fn split_word_keys(s: &Sentence, at: usize, halves: &mut [Sentence; 2]) {
    if let Some(Value::String(id)) = s.extra.get(ID_KEY) {
        halves[0].extra.insert(ID_KEY.into(), id.clone().into());
        halves[1].extra.insert(ID_KEY.into(), sentence_id(&[id, "split", &at.to_string()]).into());
    }
    let offsets = s.extra.get(OFFSETS_KEY).and_then(Value::as_array);
    if let Some(offsets) = offsets.filter(|o| o.len() == s.tokens.len()) {
        let parts = [&offsets[..at], &offsets[at..]];
        for (half, part) in halves.iter_mut().zip(parts) {
            half.extra.insert(OFFSETS_KEY.into(), Value::Array(part.to_vec()));
            if let Some(origin) = s.extra.get(ORIGIN_KEY).and_then(|o| origin_of(o, part)) {
                half.extra.insert(ORIGIN_KEY.into(), origin);
            }
        }
    }
    let list = |key: &str| s.extra.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    for record in list(REJECTED_ENTITIES_KEY) {
        if let Some(side) = span_of(&record).and_then(|span| side(span, at)) {
            let by = if side == 1 { -(at as isize) } else { 0 };
            push_record(&mut halves[side], REJECTED_ENTITIES_KEY, shifted(&record, by));
        }
    }
    for record in list(REJECTED_RELATIONS_KEY) {
        let arg = |k: &str| record.get(k).and_then(span_of).and_then(|span| side(span, at));
        if let (Some(h), Some(t)) = (arg("head"), arg("tail")) {
            if h == t {
                let by = if h == 1 { -(at as isize) } else { 0 };
                push_record(&mut halves[h], REJECTED_RELATIONS_KEY, shifted_relation(&record, by));
            }
        }
    }
}

/// Gives `merged` (`first` then `second`) the keys that describe its words.
fn merge_word_keys(first: &Sentence, second: &Sentence, merged: &mut Sentence) {
    if let Some(id) = first.extra.get(ID_KEY).or_else(|| second.extra.get(ID_KEY)) {
        merged.extra.insert(ID_KEY.into(), id.clone());
    }
    fn offsets(s: &Sentence) -> Option<&Vec<Value>> {
        s.extra.get(OFFSETS_KEY).and_then(Value::as_array).filter(|o| o.len() == s.tokens.len())
    }
    if let (Some(a), Some(b)) = (offsets(first), offsets(second)) {
        let joined: Vec<Value> = a.iter().chain(b).cloned().collect();
        let same_file = first.extra.get(ORIGIN_KEY).and_then(|o| o.get("file"))
            == second.extra.get(ORIGIN_KEY).and_then(|o| o.get("file"));
        if let Some(origin) =
            first.extra.get(ORIGIN_KEY).filter(|_| same_file).and_then(|o| origin_of(o, &joined))
        {
            merged.extra.insert(ORIGIN_KEY.into(), origin);
        }
        merged.extra.insert(OFFSETS_KEY.into(), Value::Array(joined));
    }
    let by = first.tokens.len() as isize;
    for (key, shift) in [
        (REJECTED_ENTITIES_KEY, shifted as fn(&Value, isize) -> Value),
        (REJECTED_RELATIONS_KEY, shifted_relation),
    ] {
        let records = |s: &Sentence| s.extra.get(key).and_then(Value::as_array).cloned();
        for record in records(first).unwrap_or_default() {
            push_record(merged, key, record);
        }
        for record in records(second).unwrap_or_default() {
            push_record(merged, key, shift(&record, by));
        }
    }
}

fn push_record(s: &mut Sentence, key: &str, record: Value) {
    let list = s.extra.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = list {
        list.push(record);
    }
}

/// Splits `s` before word `at`: the second sentence starts with that word.
pub fn split(s: &Sentence, at: usize) -> Result<Restructured, EditError> {
    if at == 0 || at >= s.tokens.len() {
        return Err(EditError::BadSplit { at, len: s.tokens.len() });
    }
    if let Some(e) = s.entities.iter().find(|e| e.start < at && at < e.end) {
        return Err(EditError::EntityAcrossSplit(s.tokens[e.start..e.end].join(" ")));
    }
    let extra = record_keys(&s.extra);
    let mut halves = [
        Sentence { tokens: s.tokens[..at].to_vec(), extra: extra.clone(), ..Sentence::default() },
        Sentence { tokens: s.tokens[at..].to_vec(), extra, ..Sentence::default() },
    ];
    // Where each entity went: which half, and its index there.
    let mut placed = Vec::with_capacity(s.entities.len());
    for e in &s.entities {
        let side = usize::from(e.start >= at);
        let mut moved = e.clone();
        if side == 1 {
            (moved.start, moved.end) = (e.start - at, e.end - at);
        }
        placed.push((side, halves[side].entities.len()));
        halves[side].entities.push(moved);
    }
    split_word_keys(s, at, &mut halves);
    let mut dropped = Vec::new();
    for r in &s.relations {
        let ((head_side, head), (tail_side, tail)) = (placed[r.head], placed[r.tail]);
        if head_side == tail_side {
            halves[head_side].relations.push(Relation { head, tail, ..r.clone() });
        } else {
            dropped.push(describe(s, r));
        }
    }
    Ok(Restructured { sentences: halves.into(), dropped, conflicts: Vec::new() })
}

/// Merges `first` with the sentence that follows it, `second`.
pub fn merge(first: &Sentence, second: &Sentence) -> Restructured {
    let mut merged = first.clone();
    merged.extra = record_keys(&first.extra);
    let mut conflicts = Vec::new();
    for (key, value) in record_keys(&second.extra) {
        match merged.extra.get(&key) {
            None => {
                merged.extra.insert(key, value);
            }
            Some(kept) if *kept != value => conflicts.push(format!("{key}: {kept}, not {value}")),
            Some(_) => {}
        }
    }
    let (words, entities) = (first.tokens.len(), first.entities.len());
    merged.tokens.extend(second.tokens.iter().cloned());
    merged.entities.extend(second.entities.iter().map(|e| Entity {
        start: e.start + words,
        end: e.end + words,
        ..e.clone()
    }));
    merged.relations.extend(second.relations.iter().map(|r| Relation {
        head: r.head + entities,
        tail: r.tail + entities,
        ..r.clone()
    }));
    merge_word_keys(first, second, &mut merged);
    Restructured { sentences: vec![merged], dropped: Vec::new(), conflicts }
}

/// How many sentences `now` and `was` share at the start and, of the rest, at the end: what
/// lies between is what a run of edits, splits and merges changed.
pub fn common_ends(now: &[Sentence], was: &[Sentence]) -> (usize, usize) {
    let prefix = now.iter().zip(was).take_while(|(a, b)| a == b).count();
    let room = now.len().min(was.len()) - prefix;
    let suffix =
        now.iter().rev().zip(was.iter().rev()).take(room).take_while(|(a, b)| a == b).count();
    (prefix, suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentence(json: &str) -> Sentence {
        serde_json::from_str(json).unwrap()
    }

    /// "Washington , D.C. Dr. Smith joined Acme": two sentences read as one.
    fn washington() -> Sentence {
        sentence(
            r#"{"tokens":["Washington",",","D.C.","Dr.","Smith","joined","Acme"],
            "entities":[{"type":"Loc","start":0,"end":3},{"type":"Peop","start":4,"end":5,"source":"accepted"},
                        {"type":"Org","start":6,"end":7}],
            "relations":[{"type":"Work_For","head":1,"tail":2},{"type":"Live_In","head":1,"tail":0}],
            "orig_id":7,"reviewed":true}"#,
        )
    }

    #[test]
    fn a_split_moves_entities_and_relations_with_their_words_and_names_what_crosses() {
        let out = split(&washington(), 3).unwrap();
        let [left, right] = &out.sentences[..] else { panic!("two halves") };
        assert_eq!(left.tokens, ["Washington", ",", "D.C."]);
        assert_eq!(right.tokens, ["Dr.", "Smith", "joined", "Acme"]);
        assert_eq!((left.entities.len(), right.entities.len()), (1, 2));
        assert_eq!((right.entities[0].start, right.entities[0].end), (1, 2));
        assert_eq!(right.entities[0].extra["source"], "accepted", "provenance moves along");
        assert_eq!(right.relations, vec![Relation::new("Work_For", 0, 1)]);
        assert!(left.relations.is_empty());
        assert_eq!(out.dropped, vec!["Live_In: \"Smith\" → \"Washington , D.C.\""]);
        for half in [left, right] {
            assert_eq!(half.extra.get("orig_id"), Some(&Value::from(7)));
            assert!(!half.extra.contains_key(REVIEWED_KEY), "new sentences are not reviewed");
        }
    }

    #[test]
    fn a_split_inside_an_entity_or_at_an_end_is_refused() {
        let s = washington();
        assert_eq!(split(&s, 1), Err(EditError::EntityAcrossSplit("Washington , D.C.".into())));
        assert!(matches!(split(&s, 0), Err(EditError::BadSplit { at: 0, len: 7 })));
        assert!(matches!(split(&s, 7), Err(EditError::BadSplit { at: 7, .. })));
    }

    #[test]
    fn merging_the_halves_of_a_split_gives_the_sentence_back_less_the_dropped_relation() {
        let s = washington();
        let out = split(&s, 3).unwrap();
        let merged = merge(&out.sentences[0], &out.sentences[1]);
        assert!(merged.conflicts.is_empty(), "both halves have the same keys");
        let mut expected = s.clone();
        expected.relations.truncate(1);
        expected.extra.shift_remove(REVIEWED_KEY);
        assert_eq!(merged.sentences, vec![expected]);
    }

    #[test]
    fn a_merge_keeps_the_first_records_keys_and_names_those_the_second_disagrees_on() {
        let first = sentence(r#"{"tokens":["a"],"orig_id":1,"lang":"en","reviewed":true}"#);
        let second = sentence(r#"{"tokens":["b"],"orig_id":2,"lang":"en","corpus":"x"}"#);
        let out = merge(&first, &second);
        let merged = &out.sentences[0];
        assert_eq!(merged.extra["orig_id"], 1);
        assert_eq!(merged.extra["corpus"], "x", "a key only the second has is kept");
        assert!(!merged.extra.contains_key(REVIEWED_KEY));
        assert_eq!(out.conflicts, vec!["orig_id: 1, not 2"]);
    }

    #[test]
    fn offsets_origin_id_and_rejections_follow_the_words() {
        let s = sentence(
            r#"{"tokens": ["Ann", "left", ".", "Bo", "came"], "entities": [], "relations": [],
                "id": "abc", "origin": {"file": "t.txt", "start": 10, "end": 27},
                "offsets": [[10, 13], [14, 18], [18, 19], [20, 22], [23, 27]],
                "rejected_entities": [{"type": "Peop", "start": 3, "end": 4},
                                      {"type": "Org", "start": 1, "end": 4}],
                "rejected_relations": [{"type": "Kill", "head": {"type": "Peop", "start": 3,
                    "end": 4}, "tail": {"type": "Peop", "start": 4, "end": 5}}]}"#,
        );
        let halves = split(&s, 3).unwrap().sentences;
        let [a, b] = [&halves[0], &halves[1]];
        assert_eq!(a.extra["offsets"], serde_json::json!([[10, 13], [14, 18], [18, 19]]));
        assert_eq!(b.extra["offsets"], serde_json::json!([[20, 22], [23, 27]]));
        assert_eq!(a.extra["origin"], serde_json::json!({"file": "t.txt", "start": 10, "end": 19}));
        assert_eq!(b.extra["origin"], serde_json::json!({"file": "t.txt", "start": 20, "end": 27}));
        assert_eq!(a.extra["id"], "abc");
        assert!(b.extra["id"].as_str().is_some_and(|id| id != "abc"), "ids stay unique");
        // The rejection across the cut is dropped; the others move with their words.
        assert!(!a.extra.contains_key("rejected_entities"));
        assert_eq!(
            b.extra["rejected_entities"],
            serde_json::json!([{"type": "Peop", "start": 0, "end": 1}])
        );
        assert_eq!(b.extra["rejected_relations"][0]["tail"]["start"], 1);
        let merged = merge(a, b).sentences.remove(0);
        assert!(merge(a, b).conflicts.is_empty(), "word keys are no conflict");
        for key in ["offsets", "origin", "id", "rejected_relations"] {
            assert_eq!(merged.extra[key], s.extra[key], "{key}");
        }
        assert_eq!(
            merged.extra["rejected_entities"],
            serde_json::json!([{"type": "Peop", "start": 3, "end": 4}])
        );
    }
}
