//! What a dataset holds, counted: `spanscope stats`.
//!
//! Sentences, words, entities and relations per type; review progress (records whose
//! `"reviewed"` key is `true`, out of those that have the key at all, so data that never went
//! through the workbench says so rather than showing 0 % reviewed); provenance, the `"source"`
//! key the workbench and `predict` put on entities and relations (`model`, `accepted`,
//! `corrected`, `manual`, any other value as written, and `gold` for none); and relation types
//! by the entity types of their head and tail.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::annotation::REVIEWED_KEY;
use super::document::Sentence;
use super::provenance::rejected_counts;

/// The extra key of an entity or relation that says where it came from.
pub const SOURCE_KEY: &str = "source";
/// The provenance of an entity or relation with no [`SOURCE_KEY`]: it was in the file.
pub const GOLD_SOURCE: &str = "gold";
/// The provenance counted for proposals a person rejected (the workbench keeps them in the
/// sentence's `"rejected_entities"` and `"rejected_relations"`; another tool may keep them
/// inline with this `"source"`).
pub use super::provenance::REJECTED_SOURCE;

/// Counts over a set of sentences. Maps are sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Records.
    pub sentences: usize,
    /// Word tokens.
    pub words: usize,
    /// Entity mentions.
    pub entities: usize,
    /// Relations.
    pub relations: usize,
    /// Entity mentions per type.
    pub entity_types: BTreeMap<String, usize>,
    /// Relations per type.
    pub relation_types: BTreeMap<String, usize>,
    /// Records with a `"reviewed"` key, whatever its value (0: the data does not track review).
    pub with_review_key: usize,
    /// Records whose `"reviewed"` is `true`.
    pub reviewed: usize,
    /// Entities per `"source"` value ([`GOLD_SOURCE`] for none).
    pub entity_sources: BTreeMap<String, usize>,
    /// Relations per `"source"` value ([`GOLD_SOURCE`] for none).
    pub relation_sources: BTreeMap<String, usize>,
    /// Relations per (relation type, head entity type, tail entity type).
    #[serde(serialize_with = "signature_list")]
    pub signatures: BTreeMap<(String, String, String), usize>,
}

impl Stats {
    /// The counts of `sentences`. A relation whose head or tail is not an entity of its
    /// sentence is counted under its type, and in `signatures` with `?` for the missing side.
    pub fn of<'a>(sentences: impl IntoIterator<Item = &'a Sentence>) -> Stats {
        let mut stats = Stats::default();
        for s in sentences {
            stats.sentences += 1;
            stats.words += s.tokens.len();
            stats.entities += s.entities.len();
            stats.relations += s.relations.len();
            if let Some(value) = s.extra.get(REVIEWED_KEY) {
                stats.with_review_key += 1;
                stats.reviewed += usize::from(value.as_bool() == Some(true));
            }
            // Rejected proposals are kept on the sentence, not among its entities.
            let (rejected_entities, rejected_relations) = rejected_counts(s);
            if rejected_entities > 0 {
                bump(&mut stats.entity_sources, REJECTED_SOURCE, rejected_entities);
            }
            if rejected_relations > 0 {
                bump(&mut stats.relation_sources, REJECTED_SOURCE, rejected_relations);
            }
            for e in &s.entities {
                bump(&mut stats.entity_types, &e.entity_type, 1);
                bump(&mut stats.entity_sources, source(&e.extra), 1);
            }
            for r in &s.relations {
                bump(&mut stats.relation_types, &r.relation_type, 1);
                bump(&mut stats.relation_sources, source(&r.extra), 1);
                let side = |at: usize| {
                    s.entities.get(at).map_or_else(|| "?".to_string(), |e| e.entity_type.clone())
                };
                let key = (r.relation_type.clone(), side(r.head), side(r.tail));
                *stats.signatures.entry(key).or_default() += 1;
            }
        }
        stats
    }

    /// Adds another set's counts to these.
    pub fn add(&mut self, other: &Stats) {
        self.sentences += other.sentences;
        self.words += other.words;
        self.entities += other.entities;
        self.relations += other.relations;
        self.with_review_key += other.with_review_key;
        self.reviewed += other.reviewed;
        let maps = [
            (&mut self.entity_types, &other.entity_types),
            (&mut self.relation_types, &other.relation_types),
            (&mut self.entity_sources, &other.entity_sources),
            (&mut self.relation_sources, &other.relation_sources),
        ];
        for (mine, theirs) in maps {
            for (name, n) in theirs {
                bump(mine, name, *n);
            }
        }
        for (key, n) in &other.signatures {
            *self.signatures.entry(key.clone()).or_default() += n;
        }
    }
}

impl Stats {
    /// The counts as a few labelled lines, as `spanscope stats` prints them and the
    /// workbench's statistics show them.
    pub fn summary(&self) -> String {
        let s = self;
        let mut out = format!(
            "sentences {}   words {}   entities {}   relations {}\n",
            s.sentences, s.words, s.entities, s.relations
        );
        if s.with_review_key == 0 {
            out.push_str("reviewed:    not tracked (no record has a \"reviewed\" key)\n");
        } else {
            let share = 100.0 * s.reviewed as f64 / s.sentences as f64;
            let _ = writeln!(
                out,
                "reviewed:    {} of {} sentences ({share:.1} %)",
                s.reviewed, s.sentences
            );
        }
        let _ = writeln!(out, "entities:    {}", counts(&s.entity_types));
        let _ = writeln!(out, "relations:   {}", counts(&s.relation_types));
        let _ = writeln!(
            out,
            "provenance:  entities {}; relations {}",
            counts(&s.entity_sources),
            counts(&s.relation_sources)
        );
        if !s.signatures.is_empty() {
            out.push_str("relation types by head and tail entity type:\n");
            let width = s.signatures.keys().map(|(r, _, _)| r.chars().count()).max().unwrap_or(0);
            let arrow: Vec<String> =
                s.signatures.keys().map(|(_, h, t)| format!("{h} -> {t}")).collect();
            let arrow_width = arrow.iter().map(|a| a.chars().count()).max().unwrap_or(0);
            for (((relation, _, _), n), arrow) in s.signatures.iter().zip(&arrow) {
                let _ = writeln!(out, "  {relation:<width$}  {arrow:<arrow_width$}  {n:>6}");
            }
        }
        out
    }
}

/// `name n, name n, ...`, or `none`.
fn counts(map: &BTreeMap<String, usize>) -> String {
    if map.is_empty() {
        return "none".to_string();
    }
    map.iter().map(|(name, n)| format!("{name} {n}")).collect::<Vec<_>>().join(", ")
}

fn bump(map: &mut BTreeMap<String, usize>, name: &str, n: usize) {
    match map.get_mut(name) {
        Some(count) => *count += n,
        None => {
            map.insert(name.to_string(), n);
        }
    }
}

/// The `"source"` of an entity or relation; a value that is not a string reads as gold, as
/// the workbench reads it.
fn source(extra: &Map<String, Value>) -> &str {
    extra.get(SOURCE_KEY).and_then(Value::as_str).unwrap_or(GOLD_SOURCE)
}

/// `signatures` as a JSON list of `{"relation", "head", "tail", "count"}` (JSON object keys
/// cannot be triples).
fn signature_list<S: Serializer>(
    map: &BTreeMap<(String, String, String), usize>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Signature<'a> {
        relation: &'a str,
        head: &'a str,
        tail: &'a str,
        count: usize,
    }
    serializer.collect_seq(map.iter().map(|((relation, head, tail), &count)| Signature {
        relation,
        head,
        tail,
        count,
    }))
}
