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
//! - a split copies the record's extra keys (`orig_id`, provenance, ...) to both halves; a
//!   merge keeps the first record's and adds the keys only the second has; keys both have with
//!   different values are named in [`Restructured::conflicts`] (the first's value is kept);
//! - the result is never marked reviewed: the sentences are new and must be looked at again.

use serde_json::{Map, Value};

use super::annotation::REVIEWED_KEY;
use super::edit::EditError;
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

fn record_keys(extra: &Map<String, Value>) -> Map<String, Value> {
    let mut keys = extra.clone();
    keys.shift_remove(REVIEWED_KEY);
    keys
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
}
