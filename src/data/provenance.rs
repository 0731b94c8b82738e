//! The rest of provenance, beside [`super::annotation`]'s `"source"`: rejected proposals, the
//! proposal a correction replaced, who made an edit and when, and a stable id per sentence.
//! All of it lives in extra keys SpERT ignores (docs/DATA.md, "Provenance and text
//! positions").
//!
//! Rejected proposals are kept on the sentence, never among its entities or relations, so
//! every reader that takes `entities` as gold (SpERT, `train`, `eval`, `compare`) ignores them
//! without knowing about them.

use serde_json::{json, Map, Value};

use super::annotation::{entity_source, relation_source, Source, MODEL_KEY, SCORE_KEY, SOURCE_KEY};
use crate::data::{Entity, Relation, Sentence};

/// The sentence key listing the entity proposals a person rejected.
pub const REJECTED_ENTITIES_KEY: &str = "rejected_entities";
/// The sentence key listing the relation proposals a person rejected.
pub const REJECTED_RELATIONS_KEY: &str = "rejected_relations";
/// The key of a corrected entity or relation holding the model's proposal it replaced.
pub const PROPOSAL_KEY: &str = "proposal";
/// Who made the last edit of an entity, relation or sentence.
pub const ANNOTATOR_KEY: &str = "annotator";
/// When (UTC, `YYYYMMDDTHHMMSSZ`) the last edit of an entity, relation or sentence was made.
pub const TIME_KEY: &str = "time";
/// The sentence's stable id.
pub const ID_KEY: &str = "id";

/// Who edits and when, stamped on what an edit changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// The annotator's name.
    pub annotator: String,
    /// The UTC time of the edit, as [`super::time::utc_stamp`] writes it.
    pub time: String,
}

/// An entity as a rejection or a proposal records it: type, span, and its other keys but
/// `"source"`.
fn entity_record(e: &Entity) -> Value {
    let mut record = Map::new();
    record.insert("type".into(), e.entity_type.clone().into());
    record.insert("start".into(), e.start.into());
    record.insert("end".into(), e.end.into());
    record.extend(
        e.extra.iter().filter(|(k, _)| *k != SOURCE_KEY).map(|(k, v)| (k.clone(), v.clone())),
    );
    Value::Object(record)
}

/// A relation's argument by its entity's type and span (indices change as entities go).
fn argument(e: Option<&Entity>) -> Value {
    e.map_or(Value::Null, |e| json!({"type": e.entity_type, "start": e.start, "end": e.end}))
}

fn relation_record(s: &Sentence, r: &Relation) -> Value {
    let mut record = Map::new();
    record.insert("type".into(), r.relation_type.clone().into());
    record.insert("head".into(), argument(s.entities.get(r.head)));
    record.insert("tail".into(), argument(s.entities.get(r.tail)));
    record.extend(
        r.extra.iter().filter(|(k, _)| *k != SOURCE_KEY).map(|(k, v)| (k.clone(), v.clone())),
    );
    Value::Object(record)
}

fn push(s: &mut Sentence, key: &str, record: Value) {
    match s.extra.get_mut(key) {
        Some(Value::Array(list)) => list.push(record),
        _ => {
            s.extra.insert(key.into(), Value::Array(vec![record]));
        }
    }
}

/// Records entity `i` of `s` as rejected when it is a proposal (call before removing it).
pub fn note_rejected_entity(s: &mut Sentence, i: usize) {
    if let Some(e) = s.entities.get(i).filter(|e| entity_source(e) == Source::Model) {
        let record = entity_record(e);
        push(s, REJECTED_ENTITIES_KEY, record);
    }
}

/// Records relation `i` of `s` as rejected when it is a proposal (call before removing it or
/// its entities).
pub fn note_rejected_relation(s: &mut Sentence, i: usize) {
    if let Some(r) = s.relations.get(i).filter(|r| relation_source(r) == Source::Model) {
        let record = relation_record(s, r);
        push(s, REJECTED_RELATIONS_KEY, record);
    }
}

fn records<'a>(s: &'a Sentence, key: &str) -> impl Iterator<Item = &'a Map<String, Value>> {
    s.extra.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_object)
}

fn same_entity(record: Option<&Map<String, Value>>, e: &Entity) -> bool {
    let Some(record) = record else { return false };
    record.get("type").and_then(Value::as_str) == Some(e.entity_type.as_str())
        && record.get("start").and_then(Value::as_u64) == Some(e.start as u64)
        && record.get("end").and_then(Value::as_u64) == Some(e.end as u64)
}

/// Whether a person rejected `e` (same type and span) in `s`.
pub fn is_rejected_entity(s: &Sentence, e: &Entity) -> bool {
    records(s, REJECTED_ENTITIES_KEY).any(|r| same_entity(Some(r), e))
}

/// Whether a person rejected relation `r` of `proposals` (same type, same argument types and
/// spans) in `s`.
pub fn is_rejected_relation(s: &Sentence, proposals: &Sentence, r: &Relation) -> bool {
    let (Some(head), Some(tail)) = (proposals.entities.get(r.head), proposals.entities.get(r.tail))
    else {
        return false;
    };
    records(s, REJECTED_RELATIONS_KEY).any(|rec| {
        rec.get("type").and_then(Value::as_str) == Some(r.relation_type.as_str())
            && same_entity(rec.get("head").and_then(Value::as_object), head)
            && same_entity(rec.get("tail").and_then(Value::as_object), tail)
    })
}

/// Number of rejected entity and relation proposals recorded on `s`.
pub fn rejected_counts(s: &Sentence) -> (usize, usize) {
    (records(s, REJECTED_ENTITIES_KEY).count(), records(s, REJECTED_RELATIONS_KEY).count())
}

/// The value of `"source"` another tool may give a rejected proposal it keeps inline.
pub const REJECTED_SOURCE: &str = "rejected";

fn rejected_inline(extra: &Map<String, Value>) -> bool {
    extra.get(SOURCE_KEY).and_then(Value::as_str) == Some(REJECTED_SOURCE)
}

/// The sentences without the entities and relations another tool kept inline as rejected
/// (`"source": "rejected"`), nor the relations on such an entity: what `train`, `eval` and
/// `compare` take as annotations. (The workbench keeps rejections off the entity lists.)
pub fn without_rejected(mut sentences: Vec<Sentence>) -> Vec<Sentence> {
    for s in &mut sentences {
        s.relations.retain(|r| !rejected_inline(&r.extra));
        let mut i = s.entities.len();
        while i > 0 {
            i -= 1;
            if rejected_inline(&s.entities[i].extra) {
                remove_entity(s, i);
            }
        }
    }
    sentences
}

/// Removes entity `i` and the relations on it; later relations' indices follow.
fn remove_entity(s: &mut Sentence, i: usize) {
    s.entities.remove(i);
    s.relations.retain(|r| r.head != i && r.tail != i);
    for r in &mut s.relations {
        r.head -= usize::from(r.head > i);
        r.tail -= usize::from(r.tail > i);
    }
}

/// Takes out of the model's `proposals` for a sentence what a person rejected in `reviewed`
/// (the same sentence as saved), with the relations on a rejected entity: a rejected
/// proposal is not proposed again.
pub fn drop_rejected(proposals: &mut Sentence, reviewed: &Sentence) {
    let keep_relation: Vec<bool> =
        proposals.relations.iter().map(|r| !is_rejected_relation(reviewed, proposals, r)).collect();
    let mut keep = keep_relation.into_iter();
    proposals.relations.retain(|_| keep.next().unwrap_or(true));
    let mut i = proposals.entities.len();
    while i > 0 {
        i -= 1;
        if is_rejected_entity(reviewed, &proposals.entities[i]) {
            remove_entity(proposals, i);
        }
    }
}

/// Before a person changes entity `i` of `s`: when it is the model's proposal (open or
/// accepted), keeps that proposal (type, span, score, model) under [`PROPOSAL_KEY`], once,
/// and drops its score, which was the proposal's, not the correction's.
pub fn keep_entity_proposal(s: &mut Sentence, i: usize) {
    let Some(e) = s.entities.get(i) else { return };
    let record = proposal_of(&e.extra).then(|| entity_record(e));
    keep(&mut s.entities[i].extra, record);
}

/// As [`keep_entity_proposal`], for relation `i` (its arguments by type and span).
pub fn keep_relation_proposal(s: &mut Sentence, i: usize) {
    let Some(r) = s.relations.get(i) else { return };
    let record = proposal_of(&r.extra).then(|| relation_record(s, r));
    keep(&mut s.relations[i].extra, record);
}

fn proposal_of(extra: &Map<String, Value>) -> bool {
    matches!(Source::of(extra), Source::Model | Source::Accepted)
        && !extra.contains_key(PROPOSAL_KEY)
        && (extra.contains_key(SCORE_KEY) || extra.contains_key(MODEL_KEY))
}

/// Whatever score the item had was for what it was before the change (the proposal's, or the
/// model's current score for the earlier type or span): it goes, and the current one comes anew.
fn keep(extra: &mut Map<String, Value>, record: Option<Value>) {
    if let Some(record) = record {
        extra.insert(PROPOSAL_KEY.into(), record);
    }
    extra.shift_remove(SCORE_KEY);
    extra.shift_remove(MODEL_KEY);
}

/// Gives the entities of `s` over words `[start, end)` that a person wrote or corrected and
/// that have no score yet the model's current score for their type, from `probabilities`
/// (type name, probability) for that span; `model` names the model. Whether any changed.
pub fn set_current_scores(
    s: &mut Sentence,
    (start, end): (usize, usize),
    probabilities: &[(String, f32)],
    model: &str,
) -> bool {
    let mut changed = false;
    for e in &mut s.entities {
        let written = matches!(entity_source(e), Source::Corrected | Source::Manual);
        if written && (e.start, e.end) == (start, end) {
            changed |= set_score(&mut e.extra, &e.entity_type, probabilities, model);
        }
    }
    changed
}

/// As [`set_current_scores`], for the relations a person wrote or corrected from an entity
/// over words `head` to one over words `tail`; `scores` holds the model's score of each
/// relation type for that ordered pair (σ of its logit, calibrated as `predict` reports it).
pub fn set_current_relation_scores(
    s: &mut Sentence,
    head: (usize, usize),
    tail: (usize, usize),
    scores: &[(String, f32)],
    model: &str,
) -> bool {
    let span = |i: usize| s.entities.get(i).map(|e| (e.start, e.end));
    let over: Vec<bool> = s
        .relations
        .iter()
        .map(|r| span(r.head) == Some(head) && span(r.tail) == Some(tail))
        .collect();
    let mut changed = false;
    for (r, over) in s.relations.iter_mut().zip(over) {
        let written = matches!(relation_source(r), Source::Corrected | Source::Manual);
        if written && over {
            changed |= set_score(&mut r.extra, &r.relation_type, scores, model);
        }
    }
    changed
}

/// Gives an item of type `ty` without a score its score from `scores`, and the model's name.
fn set_score(
    extra: &mut Map<String, Value>,
    ty: &str,
    scores: &[(String, f32)],
    model: &str,
) -> bool {
    if extra.contains_key(SCORE_KEY) {
        return false;
    }
    let Some(&(_, p)) = scores.iter().find(|(name, _)| name == ty) else { return false };
    // Rounded as `predict` writes scores, so the file stays readable.
    let p = (f64::from(p) * 10_000.0).round() / 10_000.0;
    extra.insert(SCORE_KEY.into(), p.into());
    extra.insert(MODEL_KEY.into(), model.into());
    true
}

/// Stamps what an edit changed (`before` into `after`) with `stamp`: every entity, relation
/// and rejection of `after` not in `before` as it was, and the sentence itself. A sentence
/// without an [`ID_KEY`] gets one (from `seed`, the sentence's words and the time).
pub fn stamp_edit(before: &Sentence, after: &mut Sentence, stamp: &Stamp, seed: &str) {
    if before == after {
        return;
    }
    let marks = |extra: &mut Map<String, Value>| {
        extra.insert(ANNOTATOR_KEY.into(), stamp.annotator.clone().into());
        extra.insert(TIME_KEY.into(), stamp.time.clone().into());
    };
    for e in &mut after.entities {
        if !before.entities.contains(e) {
            marks(&mut e.extra);
        }
    }
    // A relation is itself by type, keys and argument spans: retyping an argument is no edit
    // of the relation, and indices shift as entities go.
    let key = |s: &Sentence, r: &Relation| {
        let span = |i: usize| s.entities.get(i).map(|e| (e.start, e.end));
        (r.relation_type.clone(), r.extra.clone(), span(r.head), span(r.tail))
    };
    let old: Vec<_> = before.relations.iter().map(|r| key(before, r)).collect();
    let changed: Vec<bool> =
        after.relations.iter().map(|r| !old.contains(&key(after, r))).collect();
    for (r, changed) in after.relations.iter_mut().zip(changed) {
        if changed {
            marks(&mut r.extra);
        }
    }
    for key in [REJECTED_ENTITIES_KEY, REJECTED_RELATIONS_KEY] {
        let known = before.extra.get(key).and_then(Value::as_array).map_or(0, Vec::len);
        if let Some(Value::Array(list)) = after.extra.get_mut(key) {
            for record in list.iter_mut().skip(known) {
                if let Value::Object(record) = record {
                    if !record.contains_key(ANNOTATOR_KEY) {
                        marks(record);
                    }
                }
            }
        }
    }
    if !after.extra.contains_key(ID_KEY) {
        let id = sentence_id(&[seed, &stamp.time, &after.tokens.join(" ")]);
        after.extra.insert(ID_KEY.into(), id.into());
    }
    marks(&mut after.extra);
}

/// A sentence id: 16 hex digits of the FNV-1a hash of `parts`. Ids only need to be unique
/// within a document and never to change once written; they are never recomputed.
pub fn sentence_id(parts: &[&str]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &byte in part.as_bytes().iter().chain([0u8].iter()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::edit;

    fn proposal(ty: &str, start: usize, end: usize, score: f64) -> Entity {
        let mut e = Entity::new(ty, start, end);
        e.extra =
            json!({"source": "model", "score": score, "model": "v1"}).as_object().unwrap().clone();
        e
    }

    fn sentence() -> Sentence {
        let mut s = Sentence::from_tokens(
            "Anna works for Acme in Oslo".split(' ').map(String::from).collect(),
        );
        s.entities = vec![proposal("Peop", 0, 1, 0.9), proposal("Org", 3, 4, 0.8)];
        let mut r = Relation::new("Work_For", 0, 1);
        r.extra =
            json!({"source": "model", "score": 0.7, "model": "v1"}).as_object().unwrap().clone();
        s.relations = vec![r];
        s
    }

    #[test]
    fn a_rejected_entity_is_kept_with_its_relations_and_not_proposed_again() {
        let rejected = edit::delete_entity(&sentence(), 1).unwrap();
        assert!(rejected.entities.len() == 1 && rejected.relations.is_empty());
        assert_eq!(
            rejected.extra[REJECTED_ENTITIES_KEY],
            json!([{"type": "Org", "start": 3, "end": 4, "score": 0.8, "model": "v1"}])
        );
        assert_eq!(
            rejected.extra[REJECTED_RELATIONS_KEY],
            json!([{"type": "Work_For", "head": {"type": "Peop", "start": 0, "end": 1},
                    "tail": {"type": "Org", "start": 3, "end": 4}, "score": 0.7, "model": "v1"}])
        );
        let mut again = sentence();
        drop_rejected(&mut again, &rejected);
        assert_eq!(again.entities, vec![proposal("Peop", 0, 1, 0.9)]);
        assert!(again.relations.is_empty());
        assert_eq!(rejected_counts(&rejected), (1, 1));
    }

    #[test]
    fn proposals_kept_inline_as_rejected_are_no_annotations() {
        let mut s = sentence();
        s.entities[0].extra.insert(SOURCE_KEY.into(), REJECTED_SOURCE.into());
        let mut rejected_relation = sentence();
        rejected_relation.relations[0].extra.insert(SOURCE_KEY.into(), REJECTED_SOURCE.into());
        let out = without_rejected(vec![s, rejected_relation, sentence()]);
        assert_eq!(out[0].entities, vec![proposal("Org", 3, 4, 0.8)]);
        assert!(out[0].relations.is_empty());
        assert_eq!(out[1].entities.len(), 2);
        assert!(out[1].relations.is_empty());
        assert_eq!(out[2], sentence());
    }

    #[test]
    fn a_rejected_relation_alone_leaves_its_entities_proposed() {
        let rejected = edit::delete_relation(&sentence(), 0).unwrap();
        let mut again = sentence();
        drop_rejected(&mut again, &rejected);
        assert_eq!(again.entities.len(), 2);
        assert!(again.relations.is_empty());
        // Another type on the same pair is a new proposal.
        let mut other = sentence();
        other.relations[0].relation_type = "Located_In".into();
        drop_rejected(&mut other, &rejected);
        assert_eq!(other.relations.len(), 1);
    }

    #[test]
    fn deleting_what_a_person_wrote_is_no_rejection() {
        let mut s = sentence();
        Source::Accepted.set(&mut s.entities[1].extra);
        let deleted = edit::delete_entity(&s, 1).unwrap();
        assert!(!deleted.extra.contains_key(REJECTED_ENTITIES_KEY));
        assert!(deleted.extra.contains_key(REJECTED_RELATIONS_KEY));
    }

    #[test]
    fn a_correction_keeps_the_first_proposal_and_loses_its_score() {
        let retyped = edit::set_entity_type(&sentence(), 1, "Loc").unwrap();
        let moved = edit::set_entity_span(&retyped, 1, 3, 6).unwrap();
        let e = &moved.entities[1];
        assert_eq!(
            serde_json::to_value(e).unwrap(),
            json!({"type": "Loc", "start": 3, "end": 6, "source": "corrected",
                   "proposal": {"type": "Org", "start": 3, "end": 4, "score": 0.8, "model": "v1"}})
        );
        let flipped = edit::flip_relation(&sentence(), 0).unwrap();
        assert_eq!(
            flipped.relations[0].extra[PROPOSAL_KEY]["head"],
            json!({"type": "Peop", "start": 0, "end": 1})
        );
        assert!(!flipped.relations[0].extra.contains_key(SCORE_KEY));
    }

    #[test]
    fn current_scores_go_to_written_entities_of_the_span_only() {
        let mut s = edit::set_entity_type(&sentence(), 1, "Loc").unwrap();
        let p = [("none".to_string(), 0.1), ("Loc".to_string(), 0.25), ("Org".into(), 0.65)];
        assert!(!set_current_scores(&mut s, (0, 1), &p, "v2"));
        assert!(set_current_scores(&mut s, (3, 4), &p, "v2"));
        assert_eq!(s.entities[1].extra[SCORE_KEY], json!(0.25));
        assert_eq!(s.entities[1].extra[MODEL_KEY], json!("v2"));
        assert_eq!(s.entities[1].extra[PROPOSAL_KEY]["score"], json!(0.8));
        // Once scored, it keeps its score.
        assert!(!set_current_scores(&mut s, (3, 4), &p, "v3"));
    }

    #[test]
    fn current_scores_go_to_written_relations_of_the_ordered_pair_only() {
        let mut s = edit::set_relation_type(&sentence(), 0, "Located_In").unwrap();
        let scores = [("Work_For".to_string(), 0.7), ("Located_In".to_string(), 0.123_456)];
        assert!(!set_current_relation_scores(&mut s, (3, 4), (0, 1), &scores, "v2"), "tail→head");
        assert!(set_current_relation_scores(&mut s, (0, 1), (3, 4), &scores, "v2"));
        assert_eq!(s.relations[0].extra[SCORE_KEY], json!(0.1235));
        assert_eq!(s.relations[0].extra[MODEL_KEY], json!("v2"));
        assert_eq!(s.relations[0].extra[PROPOSAL_KEY]["score"], json!(0.7));
        assert!(!set_current_relation_scores(&mut s, (0, 1), (3, 4), &scores, "v3"));
        // Retyped again, the score for the earlier type goes; the next answer brings the new one.
        let mut again = edit::set_relation_type(&s, 0, "Work_For").unwrap();
        assert!(!again.relations[0].extra.contains_key(SCORE_KEY));
        assert!(set_current_relation_scores(&mut again, (0, 1), (3, 4), &scores, "v3"));
        assert_eq!(again.relations[0].extra[SCORE_KEY], json!(0.7));
        // A proposal is the model's own: it keeps the score it came with.
        let mut proposed = sentence();
        assert!(!set_current_relation_scores(&mut proposed, (0, 1), (3, 4), &scores, "v2"));
    }

    #[test]
    fn a_written_entity_retyped_again_loses_the_score_of_its_earlier_type() {
        let mut s = edit::add_entity(&sentence(), 5, 6, "Loc").unwrap();
        let p = [("Loc".to_string(), 0.6), ("Org".to_string(), 0.3)];
        assert!(set_current_scores(&mut s, (5, 6), &p, "v2"));
        let retyped = edit::set_entity_type(&s, 2, "Org").unwrap();
        assert!(!retyped.entities[2].extra.contains_key(SCORE_KEY));
        assert!(!retyped.entities[2].extra.contains_key(MODEL_KEY));
    }

    #[test]
    fn stamps_go_on_what_changed_and_the_id_is_given_once() {
        let stamp = Stamp { annotator: "ada".into(), time: "20261207T120000Z".into() };
        let before = sentence();
        let mut after = edit::accept_entity(&before, 0).unwrap();
        stamp_edit(&before, &mut after, &stamp, "doc.json");
        assert_eq!(after.entities[0].extra[ANNOTATOR_KEY], json!("ada"));
        assert!(!after.entities[1].extra.contains_key(ANNOTATOR_KEY));
        assert!(!after.relations[0].extra.contains_key(ANNOTATOR_KEY));
        assert_eq!(after.extra[TIME_KEY], json!("20261207T120000Z"));
        let id = after.extra[ID_KEY].clone();
        assert_eq!(id.as_str().map(str::len), Some(16));

        let later = Stamp { annotator: "bo".into(), time: "20261208T120000Z".into() };
        let before = after.clone();
        let mut again = edit::delete_entity(&before, 1).unwrap();
        stamp_edit(&before, &mut again, &later, "doc.json");
        assert_eq!(again.extra[ID_KEY], id, "the id never changes");
        assert_eq!(again.extra[REJECTED_ENTITIES_KEY][0][ANNOTATOR_KEY], json!("bo"));
        assert_eq!(again.extra[ANNOTATOR_KEY], json!("bo"));
        assert_eq!(again.entities[0].extra[ANNOTATOR_KEY], json!("ada"), "untouched stays");
    }
}
