//! The SpERT evaluation protocol: entity and relation precision, recall and F1, scored the way
//! SpERT's `evaluator.py` scores them, so numbers compare with the papers.
//!
//! - **Entities (NER)**: a predicted entity is right when `(start, end, type)` equals a gold one.
//!   A right span with a wrong type is both a false positive (predicted type) and a false
//!   negative (gold type).
//! - **Relations, strict** ("with NER"): right when the relation type and both entities, span
//!   and type, match.
//! - **Relations, boundaries only** ("without NER", the SciERC setting): right when the
//!   relation type and both entity spans match; entity types are ignored.
//!
//! Each sentence's gold and predicted items are sets: an item listed twice counts once. For a
//! symmetric relation type both sides are put in one direction first, head being the entity
//! that comes first by `(start, end)` (then type name, so the order is total), so `A → B` and
//! `B → A` are the same relation. SpERT orders by start only; the two differ only for two
//! entities starting at the same word, where SpERT would count the reverse direction wrong.
//!
//! Scores are in percent (0–100), as SpERT prints them. Per type, precision is 0 when the type
//! has no prediction and recall is 0 when it has no gold item (sklearn's `zero_division`
//! default, which SpERT inherits); F1 is 0 when precision + recall is 0. The labels scored are
//! the types that occur in the gold or the predicted items of that setting: a type absent from
//! both is left out of the per-type list and of the macro average, a type with gold items and
//! no prediction is in it with 0/0/0. Micro scores pool the counts of every type; macro scores
//! are the unweighted means of the per-type precision, recall and F1 (F1 is the mean of the
//! F1s, not the F1 of the means). With no item at all, every score is 0.

use std::collections::HashSet;
use std::fmt;
use std::hash::Hash;

use serde::Serialize;
use thiserror::Error;

use crate::data::{Sentence, Types};

/// Precision, recall and F1 in percent, with the number of gold items they are measured on.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Prf {
    /// Correct predictions over all predictions, in percent.
    pub precision: f64,
    /// Correct predictions over all gold items, in percent.
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0), in percent.
    pub f1: f64,
    /// Number of gold items (distinct per sentence).
    pub support: usize,
}

/// The score of one entity or relation type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeScore {
    /// The type's name, as in the dataset.
    #[serde(rename = "type")]
    pub name: String,
    /// Its precision, recall, F1 and support.
    #[serde(flatten)]
    pub score: Prf,
}

/// The scores of one setting (entities, strict relations or boundaries-only relations).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Report {
    /// Counts pooled over all types; `support` is the total number of gold items.
    pub micro: Prf,
    /// Unweighted means over the types scored; `support` is the total number of gold items.
    #[serde(rename = "macro")]
    pub macro_: Prf,
    /// Each type that occurs in the gold or the predicted items: types-file order first, then
    /// types the types file does not know, in order of first appearance.
    pub per_type: Vec<TypeScore>,
}

/// The three SpERT scores of a set of predictions against gold sentences.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Evaluation {
    /// Number of sentences scored.
    pub sentences: usize,
    /// Entities: span and type must match.
    pub entities: Report,
    /// Relations: type and both entities, span and type, must match.
    pub relations_strict: Report,
    /// Relations: type and both entity spans must match; entity types are ignored.
    pub relations_boundaries: Report,
}

/// Which side of the comparison a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The gold sentences.
    Gold,
    /// The predicted sentences.
    Predicted,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Gold => "gold",
            Side::Predicted => "predicted",
        })
    }
}

/// Why gold and predicted sentences cannot be compared. Sentence indices are 0-based.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvalError {
    /// The two lists have different lengths.
    #[error("the gold data has {gold} sentence(s) but the predictions have {predicted}")]
    SentenceCount {
        /// Number of gold sentences.
        gold: usize,
        /// Number of predicted sentences.
        predicted: usize,
    },
    /// A predicted sentence's tokens are not the gold sentence's.
    #[error(
        "sentence {sentence}: the predicted tokens are not the gold ones ({gold_len} gold, \
         {predicted_len} predicted; first difference at token {token}: gold {gold_token}, \
         predicted {predicted_token})"
    )]
    Tokens {
        /// 0-based sentence index.
        sentence: usize,
        /// 0-based index of the first token that differs.
        token: usize,
        /// Number of gold tokens.
        gold_len: usize,
        /// Number of predicted tokens.
        predicted_len: usize,
        /// The gold token there, quoted, or `none`.
        gold_token: String,
        /// The predicted token there, quoted, or `none`.
        predicted_token: String,
    },
    /// A relation's head or tail is not an entity of its sentence.
    #[error(
        "sentence {sentence}: {side} relation {relation} refers to entity {entity}, but the \
         sentence has {entities} entities"
    )]
    DanglingRelation {
        /// Gold or predicted.
        side: Side,
        /// 0-based sentence index.
        sentence: usize,
        /// 0-based relation index in the sentence.
        relation: usize,
        /// The entity index that does not exist.
        entity: usize,
        /// Number of entities in the sentence.
        entities: usize,
    },
}

/// Scores `predicted` against `gold`, sentence by sentence, with SpERT's protocol (see the
/// module documentation). `types` says which relation types are symmetric and fixes the order
/// of the per-type lists; types it does not know are scored too (as asymmetric).
///
/// Both lists must have the same length and equal tokens pair by pair.
pub fn evaluate(
    gold: &[Sentence],
    predicted: &[Sentence],
    types: &Types,
) -> Result<Evaluation, EvalError> {
    if gold.len() != predicted.len() {
        return Err(EvalError::SentenceCount { gold: gold.len(), predicted: predicted.len() });
    }
    let entity_order: Vec<&str> = types.entities.iter().map(|t| t.name.as_str()).collect();
    let relation_order: Vec<&str> = types.relations.iter().map(|t| t.name.as_str()).collect();
    let mut entities = Tally::new(&entity_order);
    let mut strict = Tally::new(&relation_order);
    let mut boundaries = Tally::new(&relation_order);
    for (index, (g, p)) in gold.iter().zip(predicted).enumerate() {
        check_tokens(index, g, p)?;
        entities.add(&entity_set(g), &entity_set(p));
        let gold_relations = relation_set(index, Side::Gold, g, types)?;
        let predicted_relations = relation_set(index, Side::Predicted, p, types)?;
        strict.add(&gold_relations, &predicted_relations);
        boundaries.add(
            &without_entity_types(&gold_relations),
            &without_entity_types(&predicted_relations),
        );
    }
    Ok(Evaluation {
        sentences: gold.len(),
        entities: entities.report(),
        relations_strict: strict.report(),
        relations_boundaries: boundaries.report(),
    })
}

/// An entity as scored: span, and type unless the setting ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Span<'a> {
    start: usize,
    end: usize,
    entity_type: Option<&'a str>,
}

/// A scored item: what must match, and the type it is counted under.
type Item<'a, K> = (K, &'a str);

/// A relation as scored: head, tail, and the relation type (the label).
type RelationItem<'a> = Item<'a, (Span<'a>, Span<'a>)>;

fn check_tokens(sentence: usize, gold: &Sentence, predicted: &Sentence) -> Result<(), EvalError> {
    if gold.tokens == predicted.tokens {
        return Ok(());
    }
    let token = gold.tokens.iter().zip(&predicted.tokens).take_while(|(a, b)| a == b).count();
    let quoted = |tokens: &[String]| match tokens.get(token) {
        Some(t) => format!("{t:?}"),
        None => "none".to_string(),
    };
    Err(EvalError::Tokens {
        sentence,
        token,
        gold_len: gold.tokens.len(),
        predicted_len: predicted.tokens.len(),
        gold_token: quoted(&gold.tokens),
        predicted_token: quoted(&predicted.tokens),
    })
}

fn entity_set(sentence: &Sentence) -> HashSet<Item<'_, (usize, usize)>> {
    sentence.entities.iter().map(|e| ((e.start, e.end), e.entity_type.as_str())).collect()
}

/// The sentence's relations with entity types, symmetric ones head-first.
fn relation_set<'a>(
    index: usize,
    side: Side,
    sentence: &'a Sentence,
    types: &Types,
) -> Result<HashSet<RelationItem<'a>>, EvalError> {
    let entity = |relation: usize, at: usize| {
        let e = sentence.entities.get(at).ok_or(EvalError::DanglingRelation {
            side,
            sentence: index,
            relation,
            entity: at,
            entities: sentence.entities.len(),
        })?;
        Ok(Span { start: e.start, end: e.end, entity_type: Some(e.entity_type.as_str()) })
    };
    let mut set = HashSet::new();
    for (i, r) in sentence.relations.iter().enumerate() {
        let (mut head, mut tail) = (entity(i, r.head)?, entity(i, r.tail)?);
        let symmetric =
            types.relation_index(&r.relation_type).is_some_and(|t| types.relations[t].symmetric);
        if symmetric && tail < head {
            std::mem::swap(&mut head, &mut tail);
        }
        set.insert(((head, tail), r.relation_type.as_str()));
    }
    Ok(set)
}

/// The boundaries-only view: entity types dropped (relations that become equal merge).
fn without_entity_types<'a>(relations: &HashSet<RelationItem<'a>>) -> HashSet<RelationItem<'a>> {
    let strip = |s: Span<'a>| Span { entity_type: None, ..s };
    relations.iter().map(|&((h, t), label)| ((strip(h), strip(t)), label)).collect()
}

/// True positive, gold and predicted counts of one label.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    correct: usize,
    gold: usize,
    predicted: usize,
}

/// Counts per label, labels in the order given, then in order of first appearance.
struct Tally {
    labels: Vec<(String, Counts)>,
}

impl Tally {
    fn new(order: &[&str]) -> Self {
        Self { labels: order.iter().map(|n| (n.to_string(), Counts::default())).collect() }
    }

    fn counts(&mut self, label: &str) -> &mut Counts {
        let at = match self.labels.iter().position(|(n, _)| n == label) {
            Some(at) => at,
            None => {
                self.labels.push((label.to_string(), Counts::default()));
                self.labels.len() - 1
            }
        };
        &mut self.labels[at].1
    }

    /// Adds one sentence's distinct gold and predicted items.
    fn add<K: Eq + Hash>(&mut self, gold: &HashSet<Item<'_, K>>, predicted: &HashSet<Item<'_, K>>) {
        // Sorted so that unknown labels are appended in a reproducible order.
        let mut gold_labels: Vec<(&str, bool)> =
            gold.iter().map(|item| (item.1, predicted.contains(item))).collect();
        gold_labels.sort_unstable();
        for (label, correct) in gold_labels {
            let counts = self.counts(label);
            counts.gold += 1;
            counts.correct += usize::from(correct);
        }
        let mut predicted_labels: Vec<&str> = predicted.iter().map(|item| item.1).collect();
        predicted_labels.sort_unstable();
        for label in predicted_labels {
            self.counts(label).predicted += 1;
        }
    }

    fn report(&self) -> Report {
        let present: Vec<&(String, Counts)> =
            self.labels.iter().filter(|(_, c)| c.gold + c.predicted > 0).collect();
        let per_type: Vec<TypeScore> = present
            .iter()
            .map(|(name, c)| TypeScore {
                name: name.clone(),
                score: prf(c.correct, c.gold, c.predicted),
            })
            .collect();
        let total = present.iter().fold(Counts::default(), |sum, (_, c)| Counts {
            correct: sum.correct + c.correct,
            gold: sum.gold + c.gold,
            predicted: sum.predicted + c.predicted,
        });
        let mean = |field: fn(&Prf) -> f64| match per_type.len() {
            0 => 0.0,
            n => per_type.iter().map(|t| field(&t.score)).sum::<f64>() / n as f64,
        };
        let macro_ = Prf {
            precision: mean(|p| p.precision),
            recall: mean(|p| p.recall),
            f1: mean(|p| p.f1),
            support: total.gold,
        };
        Report { micro: prf(total.correct, total.gold, total.predicted), macro_, per_type }
    }
}

/// Scores in percent from counts; a ratio with a zero denominator is 0.
fn prf(correct: usize, gold: usize, predicted: usize) -> Prf {
    let ratio = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    let precision = ratio(correct, predicted);
    let recall = ratio(correct, gold);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Prf { precision: precision * 100.0, recall: recall * 100.0, f1: f1 * 100.0, support: gold }
}

/// Width of the type column, as in SpERT's printout.
const TYPE_WIDTH: usize = 20;
/// Width of each number column.
const NUMBER_WIDTH: usize = 12;

impl fmt::Display for Report {
    /// SpERT's table: a header, one row per type, a blank line, then micro and macro rows;
    /// scores with two decimals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (tw, nw) = (TYPE_WIDTH, NUMBER_WIDTH);
        writeln!(
            f,
            "{:>tw$} {:>nw$} {:>nw$} {:>nw$} {:>nw$}",
            "type", "precision", "recall", "f1-score", "support"
        )?;
        writeln!(f)?;
        let row = |f: &mut fmt::Formatter<'_>, label: &str, p: &Prf| {
            writeln!(
                f,
                "{label:>tw$} {:>nw$.2} {:>nw$.2} {:>nw$.2} {:>nw$}",
                p.precision, p.recall, p.f1, p.support
            )
        };
        for t in &self.per_type {
            row(f, &t.name, &t.score)?;
        }
        writeln!(f)?;
        row(f, "micro", &self.micro)?;
        row(f, "macro", &self.macro_)
    }
}

impl fmt::Display for Evaluation {
    /// The three tables under SpERT's headings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- Entities (NER) ---")?;
        writeln!(f)?;
        writeln!(f, "{}", self.entities)?;
        writeln!(f, "--- Relations ---")?;
        writeln!(f)?;
        writeln!(f, "Without NER (boundaries only)")?;
        writeln!(f, "{}", self.relations_boundaries)?;
        writeln!(f, "With NER (strict)")?;
        write!(f, "{}", self.relations_strict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Entity, Relation};

    fn types(symmetric: &[&str]) -> Types {
        let text = format!(
            r#"{{"entities": {{"Peop": {{"short": "P", "verbose": "People"}}, "Loc": {{"short": "L", "verbose": "Location"}}, "Org": {{"short": "O", "verbose": "Organization"}}}},
                "relations": {{"Live_In": {{"short": "L", "verbose": "Live in", "symmetric": {}}}, "Near": {{"short": "N", "verbose": "Near", "symmetric": {}}}}}}}"#,
            symmetric.contains(&"Live_In"),
            symmetric.contains(&"Near"),
        );
        Types::from_json_str(&text).unwrap()
    }

    fn sentence(entities: &[(&str, usize, usize)], relations: &[(&str, usize, usize)]) -> Sentence {
        let mut s = Sentence::from_tokens((0..8).map(|i| format!("w{i}")).collect());
        s.entities = entities.iter().map(|&(t, a, b)| Entity::new(t, a, b)).collect();
        s.relations = relations.iter().map(|&(t, h, r)| Relation::new(t, h, r)).collect();
        s
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn assert_prf(p: &Prf, precision: f64, recall: f64, f1: f64, support: usize) {
        assert!(
            close(p.precision, precision)
                && close(p.recall, recall)
                && close(p.f1, f1)
                && p.support == support,
            "got {p:?}, expected {precision}/{recall}/{f1} support {support}"
        );
    }

    #[test]
    fn perfect_prediction_scores_100() {
        let s = sentence(&[("Peop", 0, 1), ("Loc", 2, 4)], &[("Live_In", 0, 1)]);
        let e = evaluate(std::slice::from_ref(&s), std::slice::from_ref(&s), &types(&[])).unwrap();
        for report in [&e.entities, &e.relations_strict, &e.relations_boundaries] {
            assert_prf(&report.micro, 100.0, 100.0, 100.0, report.micro.support);
            assert_prf(&report.macro_, 100.0, 100.0, 100.0, report.micro.support);
        }
        assert_eq!(e.entities.micro.support, 2);
        assert_eq!(e.relations_strict.micro.support, 1);
    }

    #[test]
    fn nothing_predicted_scores_0() {
        let gold = sentence(&[("Peop", 0, 1)], &[]);
        let e = evaluate(&[gold], &[sentence(&[], &[])], &types(&[])).unwrap();
        assert_prf(&e.entities.micro, 0.0, 0.0, 0.0, 1);
        assert_eq!(e.relations_strict, Report::default());
    }

    #[test]
    fn wrong_type_is_a_false_positive_and_a_false_negative() {
        // Gold Peop(0,1), Loc(2,3); predicted Org(0,1), Loc(2,3): 1 correct of 2 and 2.
        let gold = sentence(&[("Peop", 0, 1), ("Loc", 2, 3)], &[]);
        let pred = sentence(&[("Org", 0, 1), ("Loc", 2, 3)], &[]);
        let e = evaluate(&[gold], &[pred], &types(&[])).unwrap();
        assert_prf(&e.entities.micro, 50.0, 50.0, 50.0, 2);
        let names: Vec<_> = e.entities.per_type.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Peop", "Loc", "Org"]);
        assert_prf(&e.entities.per_type[0].score, 0.0, 0.0, 0.0, 1);
        assert_prf(&e.entities.per_type[1].score, 100.0, 100.0, 100.0, 1);
        assert_prf(&e.entities.per_type[2].score, 0.0, 0.0, 0.0, 0);
        // Macro: (0 + 100 + 0) / 3 for each of P, R, F1.
        assert_prf(&e.entities.macro_, 100.0 / 3.0, 100.0 / 3.0, 100.0 / 3.0, 2);
    }

    #[test]
    fn symmetric_relations_match_in_either_direction_and_count_once() {
        let gold = sentence(&[("Loc", 0, 1), ("Loc", 3, 4)], &[("Near", 1, 0)]);
        let pred = sentence(&[("Loc", 0, 1), ("Loc", 3, 4)], &[("Near", 0, 1), ("Near", 1, 0)]);
        let e =
            evaluate(std::slice::from_ref(&gold), std::slice::from_ref(&pred), &types(&["Near"]))
                .unwrap();
        assert_prf(&e.relations_strict.micro, 100.0, 100.0, 100.0, 1);
        // Asymmetric: the reversed copy is a false positive, 1 of 2 predictions right.
        let e = evaluate(&[gold], &[pred], &types(&[])).unwrap();
        assert_prf(&e.relations_strict.micro, 50.0, 100.0, 200.0 / 3.0, 1);
    }

    #[test]
    fn mismatches_name_the_sentence() {
        let a = sentence(&[], &[]);
        let mut b = a.clone();
        b.tokens[3] = "x".into();
        let err = evaluate(&[a.clone(), a.clone()], &[a.clone(), b], &types(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sentence 1: the predicted tokens are not the gold ones (8 gold, 8 predicted; first \
             difference at token 3: gold \"w3\", predicted \"x\")"
        );
        let err = evaluate(std::slice::from_ref(&a), &[], &types(&[])).unwrap_err();
        assert_eq!(err, EvalError::SentenceCount { gold: 1, predicted: 0 });
        let bad = sentence(&[("Loc", 0, 1)], &[("Near", 0, 2)]);
        let err = evaluate(&[a], &[bad], &types(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sentence 0: predicted relation 0 refers to entity 2, but the sentence has 1 entities"
        );
    }

    #[test]
    fn table_lists_types_then_micro_and_macro() {
        let s = sentence(&[("Peop", 0, 1)], &[]);
        let e = evaluate(std::slice::from_ref(&s), std::slice::from_ref(&s), &types(&[])).unwrap();
        let table = e.entities.to_string();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["type", "precision", "recall", "f1-score", "support"]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["Peop", "100.00", "100.00", "100.00", "1"]
        );
        assert_eq!(lines[3], "");
        assert!(lines[4].trim_start().starts_with("micro"));
        assert!(lines[5].trim_start().starts_with("macro"));
    }
}
