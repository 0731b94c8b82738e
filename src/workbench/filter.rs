//! The filter line: which entities, relations and sentences the reviewer wants to go through
//! ("all Org proposals under .7", "all my manual edits"). `n` / `N` step through its matches
//! and the document list counts them.
//!
//! The syntax is terms separated by spaces, all of which must hold; a term's values separated
//! by commas are alternatives:
//!
//! ```text
//! type:Org,Loc       an entity of one of these types (a relation: its head or its tail)
//! rel:Work_For       a relation of this type (only relations match then)
//! source:model       gold, model (or proposed), accepted, corrected, manual
//! score<.7           the model's score: <, <=, >, >= a number from 0 to 1
//! reviewed:no        the sentence is (yes) or is not (no) marked reviewed
//! ```
//!
//! Names compare as search does (case and accents folded). Without `rel:` and `type:` both
//! entities and relations match; with only `reviewed:` every such sentence is one match.

use std::fmt;

use super::search::fold;
use crate::data::annotation::{self, Item, Source};
use crate::data::Sentence;

/// A parsed filter line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    /// The line as typed, for the prompt and the status line.
    pub text: String,
    /// Entity types (folded), any of which matches.
    types: Vec<String>,
    /// Relation types (folded), any of which matches.
    relations: Vec<String>,
    /// Sources, any of which matches.
    sources: Vec<Source>,
    /// Bounds on the score, all of which must hold.
    scores: Vec<(Compare, f32)>,
    /// Whether the sentence must be reviewed (or not).
    reviewed: Option<bool>,
}

/// How a score is compared with a bound.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Compare {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// Why a filter line cannot be read: what is wrong and the column (from 1) where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// Column of the offending term, from 1.
    pub column: usize,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "filter, column {}: {}", self.column, self.reason)
    }
}

impl std::error::Error for FilterError {}

/// The keys a term may have, for error messages.
const KEYS: &str = "type:, rel:, source:, score<, score>, reviewed:";

impl Filter {
    /// Reads a filter line. An empty line is no filter (`Ok(None)`).
    pub fn parse(text: &str) -> Result<Option<Filter>, FilterError> {
        let mut filter = Filter { text: text.trim().to_string(), ..Filter::default() };
        let mut any = false;
        for (column, term) in terms(text) {
            let fail = |reason: String| FilterError { column, reason };
            any = true;
            if let Some(bound) = term.strip_prefix("score") {
                let (compare, number) = if let Some(n) = bound.strip_prefix("<=") {
                    (Compare::LessOrEqual, n)
                } else if let Some(n) = bound.strip_prefix(">=") {
                    (Compare::GreaterOrEqual, n)
                } else if let Some(n) = bound.strip_prefix('<') {
                    (Compare::Less, n)
                } else if let Some(n) = bound.strip_prefix('>') {
                    (Compare::Greater, n)
                } else {
                    return Err(fail(format!(
                        "\"{term}\": write the score as score<.7, score<=.7, score>.9 or score>=.9"
                    )));
                };
                match number.parse::<f32>() {
                    Ok(p) if (0.0..=1.0).contains(&p) => filter.scores.push((compare, p)),
                    _ => {
                        return Err(fail(format!(
                            "\"{term}\": the score must be a number from 0 to 1"
                        )))
                    }
                }
                continue;
            }
            let Some((key, values)) = term.split_once(':') else {
                return Err(fail(format!("\"{term}\" is not a term; terms are {KEYS}")));
            };
            let values: Vec<&str> = values.split(',').filter(|v| !v.is_empty()).collect();
            if values.is_empty() {
                return Err(fail(format!("\"{term}\" gives no value after the colon")));
            }
            match key {
                "type" => filter.types.extend(values.iter().map(|v| fold(v))),
                "rel" => filter.relations.extend(values.iter().map(|v| fold(v))),
                "source" => {
                    for value in values {
                        filter.sources.push(source(value).map_err(fail)?);
                    }
                }
                "reviewed" => {
                    let [value] = values[..] else {
                        return Err(fail("reviewed: takes one value, yes or no".into()));
                    };
                    filter.reviewed = Some(match value {
                        "yes" | "true" => true,
                        "no" | "false" => false,
                        other => {
                            return Err(fail(format!("reviewed:{other}: write reviewed:yes or no")))
                        }
                    });
                }
                other => {
                    return Err(fail(format!("\"{other}:\" is no key; terms are {KEYS}")));
                }
            }
        }
        Ok(any.then_some(filter))
    }

    /// Whether only the sentence is filtered (no term about entities or relations).
    fn sentence_only(&self) -> bool {
        self.types.is_empty()
            && self.relations.is_empty()
            && self.sources.is_empty()
            && self.scores.is_empty()
    }

    /// The matches in `sentence`, in reviewing order: its items that pass, or `None` for the
    /// sentence itself when the filter says nothing about items.
    pub fn matches_in(&self, sentence: &Sentence) -> Vec<Option<Item>> {
        if self.reviewed.is_some_and(|r| r != annotation::is_reviewed(sentence)) {
            return Vec::new();
        }
        if self.sentence_only() {
            return vec![None];
        }
        let mut items = Vec::new();
        if self.relations.is_empty() {
            for (i, e) in sentence.entities.iter().enumerate() {
                if self.item_passes(&e.entity_type, &[], &e.extra) {
                    items.push((annotation::order_key(sentence, Item::Entity(i)), Item::Entity(i)));
                }
            }
        }
        if !self.types.is_empty() && self.relations.is_empty() {
            // `type:` alone asks for entities.
            return sorted(items);
        }
        for (i, r) in sentence.relations.iter().enumerate() {
            let ends: Vec<&str> = [r.head, r.tail]
                .iter()
                .filter_map(|&e| sentence.entities.get(e))
                .map(|e| e.entity_type.as_str())
                .collect();
            if self.relation_type_passes(&r.relation_type) && self.item_passes("", &ends, &r.extra)
            {
                items.push((annotation::order_key(sentence, Item::Relation(i)), Item::Relation(i)));
            }
        }
        sorted(items)
    }

    fn relation_type_passes(&self, ty: &str) -> bool {
        self.relations.is_empty() || self.relations.contains(&fold(ty))
    }

    /// Whether an entity of type `ty` (or a relation whose ends have types `ends`) with
    /// `extra` passes the type, source and score terms.
    fn item_passes(
        &self,
        ty: &str,
        ends: &[&str],
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> bool {
        let type_ok = self.types.is_empty()
            || if ends.is_empty() {
                self.types.contains(&fold(ty))
            } else {
                ends.iter().any(|t| self.types.contains(&fold(t)))
            };
        let source_ok = self.sources.is_empty() || self.sources.contains(&Source::of(extra));
        let score_ok = self.scores.is_empty()
            || annotation::score(extra).is_some_and(|s| {
                self.scores.iter().all(|&(compare, bound)| match compare {
                    Compare::Less => s < bound,
                    Compare::LessOrEqual => s <= bound,
                    Compare::Greater => s > bound,
                    Compare::GreaterOrEqual => s >= bound,
                })
            });
        type_ok && source_ok && score_ok
    }
}

fn sorted(mut items: Vec<(Option<annotation::OrderKey>, Item)>) -> Vec<Option<Item>> {
    items.sort();
    items.into_iter().map(|(_, item)| Some(item)).collect()
}

/// The source a filter value names.
fn source(value: &str) -> Result<Source, String> {
    match value {
        "gold" => Ok(Source::Gold),
        "model" | "proposed" => Ok(Source::Model),
        "accepted" => Ok(Source::Accepted),
        "corrected" => Ok(Source::Corrected),
        "manual" => Ok(Source::Manual),
        "rejected" => Err("source:rejected finds nothing: a rejected proposal is removed from \
                           the document (u brings it back)"
            .into()),
        other => {
            Err(format!("source:{other}: sources are gold, model, accepted, corrected, manual"))
        }
    }
}

/// The terms of a line with the column (from 1) each starts at.
fn terms(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut column = 0;
    text.split(' ').filter_map(move |term| {
        let at = column + 1;
        column += term.chars().count() + 1;
        (!term.is_empty()).then_some((at, term))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sentence() -> Sentence {
        serde_json::from_value(json!({
            "tokens": ["Ana", "Weiß", "works", "for", "Café", "Nord", "in", "Oslo", "."],
            "entities": [
                {"type": "Peop", "start": 0, "end": 2},
                {"type": "Org", "start": 4, "end": 6, "source": "model", "score": 0.62},
                {"type": "Loc", "start": 7, "end": 8, "source": "model", "score": 0.95},
                {"type": "Org", "start": 7, "end": 8, "source": "manual"}
            ],
            "relations": [
                {"type": "Work_For", "head": 0, "tail": 1, "source": "model", "score": 0.5},
                {"type": "Located_In", "head": 1, "tail": 2}
            ]
        }))
        .unwrap()
    }

    fn matches(line: &str) -> Vec<Option<Item>> {
        Filter::parse(line).unwrap().unwrap().matches_in(&sentence())
    }

    #[test]
    fn terms_narrow_the_items_and_commas_widen_a_term() {
        use Item::{Entity as E, Relation as R};
        assert_eq!(matches("type:Org"), vec![Some(E(1)), Some(E(3))]);
        assert_eq!(matches("type:org source:model score<.7"), vec![Some(E(1))]);
        assert_eq!(matches("type:Org,Loc source:model"), vec![Some(E(1)), Some(E(2))]);
        assert_eq!(matches("source:manual"), vec![Some(E(3))]);
        assert_eq!(
            matches("source:model"),
            vec![Some(E(1)), Some(E(2)), Some(R(0))],
            "entities then relations, as the reviewer goes through them"
        );
        assert_eq!(matches("rel:work_for"), vec![Some(R(0))]);
        assert_eq!(matches("rel:Work_For,Located_In type:Loc"), vec![Some(R(1))]);
        assert_eq!(matches("score>=.95"), vec![Some(E(2))]);
        assert_eq!(matches("score>.5 score<.9"), vec![Some(E(1))]);
        assert_eq!(matches("source:gold"), vec![Some(E(0)), Some(R(1))]);
    }

    #[test]
    fn the_reviewed_state_filters_sentences() {
        assert_eq!(matches("reviewed:no"), vec![None], "the sentence itself is the match");
        assert!(matches("reviewed:yes").is_empty());
        assert!(matches("reviewed:yes type:Org").is_empty());
        let mut s = sentence();
        s.extra.insert(annotation::REVIEWED_KEY.into(), json!(true));
        let f = Filter::parse("reviewed:yes  source:manual").unwrap().unwrap();
        assert_eq!(f.matches_in(&s), vec![Some(Item::Entity(3))]);
    }

    #[test]
    fn an_empty_line_is_no_filter() {
        assert_eq!(Filter::parse("").unwrap(), None);
        assert_eq!(Filter::parse("   ").unwrap(), None);
    }

    #[test]
    fn mistakes_say_where_and_what() {
        let err = |line: &str| Filter::parse(line).unwrap_err();
        let e = err("type:Org typ:Loc");
        assert_eq!(e.column, 10);
        assert_eq!(
            e.to_string(),
            format!("filter, column 10: \"typ:\" is no key; terms are {KEYS}")
        );
        assert_eq!(err("Org").column, 1);
        assert!(err("Org").reason.contains("is not a term"));
        assert!(err("score<1.5").reason.contains("from 0 to 1"));
        assert!(err("score=.5").reason.contains("score<.7"));
        assert!(err("source:robot").reason.contains("gold, model"));
        assert!(err("source:rejected").reason.contains("removed"));
        assert!(err("reviewed:maybe").reason.contains("yes or no"));
        assert!(err("type:").reason.contains("no value"));
        assert_eq!(err("  rel:X  score<x").column, 10);
    }
}
