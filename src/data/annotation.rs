//! Where an annotation came from, and whether a sentence was reviewed, kept in extra keys of
//! the SpERT record that SpERT ignores (`"source"` on entities and relations, `"reviewed"` on
//! the sentence).
//!
//! An entity or relation without a `"source"` key was in the file already: it is gold, and
//! the model never overwrites it. `"source": "model"` marks a proposal not yet looked at,
//! which is what `spanscope predict` writes, so its output opens here as proposals to review.

use serde_json::{Map, Value};

use crate::data::{Entity, Relation, Sentence};

/// The extra key holding an annotation's [`Source`].
pub const SOURCE_KEY: &str = "source";
/// The extra key holding the model's probability for a proposal.
pub const SCORE_KEY: &str = "score";
/// The extra key naming the model that made a proposal.
pub const MODEL_KEY: &str = "model";
/// The sentence extra key set to `true` once a person has reviewed the sentence (the one
/// fine-tuning reads).
pub const REVIEWED_KEY: &str = "reviewed";

/// The provenance of an entity or relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// In the file when it was opened, with no `"source"` key.
    Gold,
    /// Proposed by the model and not yet accepted.
    Model,
    /// Proposed by the model and accepted as it was.
    Accepted,
    /// Proposed by the model or gold, then changed by a person (type, boundary, direction).
    Corrected,
    /// Added by a person.
    Manual,
}

impl Source {
    /// The value written under [`SOURCE_KEY`]; `None` for gold (no key).
    pub fn key(self) -> Option<&'static str> {
        match self {
            Source::Gold => None,
            Source::Model => Some("model"),
            Source::Accepted => Some("accepted"),
            Source::Corrected => Some("corrected"),
            Source::Manual => Some("manual"),
        }
    }

    /// The source recorded in `extra`. Unknown values read as gold: someone else's tool put
    /// them there, and they are annotations, not proposals.
    pub fn of(extra: &Map<String, Value>) -> Source {
        match extra.get(SOURCE_KEY).and_then(Value::as_str) {
            Some("model") => Source::Model,
            Some("accepted") => Source::Accepted,
            Some("corrected") => Source::Corrected,
            Some("manual") => Source::Manual,
            _ => Source::Gold,
        }
    }

    /// Records `self` in `extra`, keeping the key's position when it is already there.
    pub fn set(self, extra: &mut Map<String, Value>) {
        match self.key() {
            Some(value) => {
                extra.insert(SOURCE_KEY.into(), Value::from(value));
            }
            None => {
                extra.shift_remove(SOURCE_KEY);
            }
        }
    }

    /// What an annotation from this source becomes when a person changes it.
    pub fn corrected(self) -> Source {
        match self {
            Source::Manual => Source::Manual,
            _ => Source::Corrected,
        }
    }

    /// A short word for the screen.
    pub fn label(self) -> &'static str {
        match self {
            Source::Gold => "gold",
            Source::Model => "proposed",
            Source::Accepted => "accepted",
            Source::Corrected => "corrected",
            Source::Manual => "manual",
        }
    }
}

/// The model's probability recorded with a proposal, if any.
pub fn score(extra: &Map<String, Value>) -> Option<f32> {
    extra.get(SCORE_KEY).and_then(Value::as_f64).map(|s| s as f32)
}

/// The source of an entity.
pub fn entity_source(entity: &Entity) -> Source {
    Source::of(&entity.extra)
}

/// The source of a relation.
pub fn relation_source(relation: &Relation) -> Source {
    Source::of(&relation.extra)
}

/// Whether a person marked the sentence reviewed (`"reviewed": true`; any other value is not).
pub fn is_reviewed(sentence: &Sentence) -> bool {
    sentence.extra.get(REVIEWED_KEY).and_then(Value::as_bool).unwrap_or(false)
}

/// The sentences a person marked reviewed, in order: what fine-tuning learns from.
pub fn reviewed_sentences<'a>(sentences: impl IntoIterator<Item = &'a Sentence>) -> Vec<Sentence> {
    sentences.into_iter().filter(|s| is_reviewed(s)).cloned().collect()
}

/// Whether the sentence has nothing the model may fill in: no entity, no relation, not
/// reviewed (a reviewed sentence with no entities says "there are none").
pub fn is_unannotated(sentence: &Sentence) -> bool {
    sentence.entities.is_empty() && sentence.relations.is_empty() && !is_reviewed(sentence)
}

/// Whether the sentence still holds proposals not yet accepted or rejected.
pub fn has_proposals(sentence: &Sentence) -> bool {
    sentence.entities.iter().any(|e| entity_source(e) == Source::Model)
        || sentence.relations.iter().any(|r| relation_source(r) == Source::Model)
}

/// Whether every annotation of the sentence is a proposal (so a new model may replace them).
pub fn only_proposals(sentence: &Sentence) -> bool {
    sentence.entities.iter().all(|e| entity_source(e) == Source::Model)
        && sentence.relations.iter().all(|r| relation_source(r) == Source::Model)
}

/// The lowest score among the sentence's proposals below `threshold`, with what it belongs
/// to, for "next low-confidence prediction".
pub fn low_confidence(sentence: &Sentence, threshold: f32) -> Option<(Item, f32)> {
    let entities = sentence
        .entities
        .iter()
        .enumerate()
        .filter(|(_, e)| entity_source(e) == Source::Model)
        .map(|(i, e)| (Item::Entity(i), score(&e.extra)));
    let relations = sentence
        .relations
        .iter()
        .enumerate()
        .filter(|(_, r)| relation_source(r) == Source::Model)
        .map(|(i, r)| (Item::Relation(i), score(&r.extra)));
    entities
        .chain(relations)
        .filter_map(|(item, s)| s.map(|s| (item, s)))
        .filter(|(_, s)| *s < threshold)
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// An entity or relation of a sentence, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Item {
    /// `entities[i]`.
    Entity(usize),
    /// `relations[i]`.
    Relation(usize),
}

/// Where an item stands in the order the reviewer goes through a sentence: entities by
/// start, end and index, then relations by index.
pub type OrderKey = (u8, usize, usize, usize);

/// The [`OrderKey`] of `item`, if the sentence has it.
pub fn order_key(sentence: &Sentence, item: Item) -> Option<OrderKey> {
    match item {
        Item::Entity(i) => sentence.entities.get(i).map(|e| (0, e.start, e.end, i)),
        Item::Relation(i) => sentence.relations.get(i).map(|_| (1, i, 0, 0)),
    }
}

/// The proposals not yet accepted or rejected, in reviewing order.
pub fn open_items(sentence: &Sentence) -> Vec<(OrderKey, Item)> {
    let entities = (0..sentence.entities.len())
        .filter(|&i| entity_source(&sentence.entities[i]) == Source::Model)
        .map(Item::Entity);
    let relations = (0..sentence.relations.len())
        .filter(|&i| relation_source(&sentence.relations[i]) == Source::Model)
        .map(Item::Relation);
    let mut open: Vec<(OrderKey, Item)> = entities
        .chain(relations)
        .filter_map(|item| order_key(sentence, item).map(|k| (k, item)))
        .collect();
    open.sort();
    open
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entity(extra: Value) -> Entity {
        let mut e = Entity::new("Peop", 0, 1);
        e.extra = extra.as_object().unwrap().clone();
        e
    }

    #[test]
    fn source_reads_and_writes_the_extra_key() {
        assert_eq!(entity_source(&entity(json!({}))), Source::Gold);
        assert_eq!(entity_source(&entity(json!({"source": "model"}))), Source::Model);
        assert_eq!(entity_source(&entity(json!({"source": "brat"}))), Source::Gold);
        let mut e = entity(json!({"source": "model", "score": 0.5}));
        Source::Accepted.set(&mut e.extra);
        assert_eq!(
            serde_json::to_value(&e.extra).unwrap(),
            json!({"source": "accepted", "score": 0.5})
        );
        Source::Gold.set(&mut e.extra);
        assert_eq!(serde_json::to_value(&e.extra).unwrap(), json!({"score": 0.5}));
    }

    #[test]
    fn correcting_keeps_manual_and_marks_the_rest() {
        assert_eq!(Source::Manual.corrected(), Source::Manual);
        for s in [Source::Gold, Source::Model, Source::Accepted, Source::Corrected] {
            assert_eq!(s.corrected(), Source::Corrected);
        }
    }

    #[test]
    fn low_confidence_finds_the_weakest_proposal_below_the_threshold() {
        let mut s = Sentence::from_tokens(vec!["a".into(), "b".into(), "c".into()]);
        s.entities = vec![
            entity(json!({"source": "model", "score": 0.9})),
            entity(json!({"source": "model", "score": 0.4})),
            entity(json!({"score": 0.1})),
        ];
        assert_eq!(low_confidence(&s, 0.5), Some((Item::Entity(1), 0.4)));
        assert_eq!(low_confidence(&s, 0.3), None);
    }

    #[test]
    fn reviewed_sentences_are_not_unannotated() {
        let mut s = Sentence::from_tokens(vec!["a".into()]);
        assert!(is_unannotated(&s));
        s.extra.insert(REVIEWED_KEY.into(), Value::Bool(true));
        assert!(is_reviewed(&s) && !is_unannotated(&s));
    }

    fn sentence(words: &str) -> Sentence {
        Sentence::from_tokens(words.split_whitespace().map(String::from).collect())
    }

    #[test]
    fn only_marked_sentences_are_reviewed() {
        let mut yes = sentence("a b");
        yes.extra.insert(REVIEWED_KEY.into(), true.into());
        let mut no = sentence("c d");
        no.extra.insert(REVIEWED_KEY.into(), false.into());
        let text = {
            let mut s = sentence("e f");
            s.extra.insert(REVIEWED_KEY.into(), "true".into());
            s
        };
        assert_eq!(reviewed_sentences(&[no, yes.clone(), sentence("g"), text]), vec![yes]);
    }
}
