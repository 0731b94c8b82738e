//! Flat decoding: of predicted spans that overlap, keep only the best.
//!
//! The span classifier judges every candidate on its own, so on data without nested entities
//! it still proposes overlapping variants of one mention ("Santiago" and "Santiago .", "Dr.
//! Ines Valdivia" and "Ines Valdivia"), which an expert would reject one by one. A model trained
//! on flat data cannot be right about both, so its decoding keeps the highest-scoring span of
//! every overlapping group ([`EntityDecoding::Flat`]). Data with nested entities keeps every
//! span ([`EntityDecoding::Nested`], the paper's decoding).

use serde::{Deserialize, Serialize};

use super::decode::PredictedEntity;
use crate::data::Sentence;

/// How predicted entities that share words are decoded; stored in the model's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityDecoding {
    /// Every span whose arg-max is not `none` (section 3.3); overlapping and nested spans stay.
    /// Checkpoints written before this setting existed decode this way.
    #[default]
    Nested,
    /// Of spans that share a word, only the highest-scoring one is kept.
    Flat,
}

impl EntityDecoding {
    /// The decoding that suits data like `sentences`: nested when any sentence has two
    /// annotated entities that share a word, flat otherwise.
    pub fn for_training_data(sentences: &[Sentence]) -> Self {
        let nested = sentences.iter().any(|s| {
            s.entities.iter().enumerate().any(|(i, a)| {
                s.entities[i + 1..].iter().any(|b| overlaps((a.start, a.end), (b.start, b.end)))
            })
        });
        if nested {
            Self::Nested
        } else {
            Self::Flat
        }
    }
}

/// Whether word ranges `[a.0, a.1)` and `[b.0, b.1)` share a word.
pub fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Keeps, among `found` (candidate index, entity), the highest-scoring entity of every
/// overlapping group, greedily: the best span is kept, every span that shares a word with it
/// goes, and so on. Ties go to the span that starts first, then the shorter one, so the result
/// does not depend on the input order. The result is ordered by start, then end.
pub fn keep_best_of_overlaps(
    found: Vec<(usize, PredictedEntity)>,
) -> Vec<(usize, PredictedEntity)> {
    let mut ranked = found;
    ranked.sort_by(|(_, a), (_, b)| {
        b.score.total_cmp(&a.score).then((a.start, a.end).cmp(&(b.start, b.end)))
    });
    let mut kept: Vec<(usize, PredictedEntity)> = Vec::with_capacity(ranked.len());
    for (i, entity) in ranked {
        let span = (entity.start, entity.end);
        if kept.iter().all(|(_, k)| !overlaps((k.start, k.end), span)) {
            kept.push((i, entity));
        }
    }
    kept.sort_by_key(|(_, e)| (e.start, e.end));
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Entity;

    fn entity(start: usize, end: usize, score: f32) -> PredictedEntity {
        PredictedEntity {
            start,
            end,
            entity_type: "Loc".into(),
            score,
            probabilities: vec![1.0 - score, score],
        }
    }

    fn spans(found: &[(usize, PredictedEntity)]) -> Vec<(usize, usize, usize)> {
        found.iter().map(|(i, e)| (*i, e.start, e.end)).collect()
    }

    #[test]
    fn the_best_of_overlapping_variants_stays_and_disjoint_spans_are_untouched() {
        // "Santiago" (0..1) beats "Santiago ." (0..2); "Ines Valdivia" (3..5) beats
        // "Dr. Ines Valdivia" (2..5) and "Valdivia" (4..5); 7..8 overlaps nothing.
        let found = vec![
            (0, entity(0, 1, 0.9)),
            (1, entity(0, 2, 0.6)),
            (2, entity(2, 5, 0.7)),
            (3, entity(3, 5, 0.8)),
            (4, entity(4, 5, 0.75)),
            (5, entity(7, 8, 0.3)),
        ];
        assert_eq!(spans(&keep_best_of_overlaps(found)), vec![(0, 0, 1), (3, 3, 5), (5, 7, 8)]);
    }

    #[test]
    fn a_chain_keeps_the_spans_that_do_not_touch_the_winner() {
        // 1..3 wins; 0..2 and 2..4 share a word with it; 4..5 touches 2..4 only, which is gone.
        let found = vec![
            (0, entity(0, 2, 0.5)),
            (1, entity(1, 3, 0.9)),
            (2, entity(2, 4, 0.8)),
            (3, entity(4, 5, 0.4)),
        ];
        assert_eq!(spans(&keep_best_of_overlaps(found)), vec![(1, 1, 3), (3, 4, 5)]);
    }

    #[test]
    fn ties_do_not_depend_on_the_input_order() {
        let a = vec![(0, entity(0, 2, 0.5)), (1, entity(1, 3, 0.5))];
        let b = vec![(1, entity(1, 3, 0.5)), (0, entity(0, 2, 0.5))];
        assert_eq!(spans(&keep_best_of_overlaps(a)), vec![(0, 0, 2)]);
        assert_eq!(spans(&keep_best_of_overlaps(b)), vec![(0, 0, 2)]);
    }

    #[test]
    fn adjacent_spans_do_not_overlap() {
        assert!(!overlaps((0, 2), (2, 4)));
        assert!(overlaps((0, 3), (2, 4)));
        assert!(overlaps((1, 2), (0, 4)));
    }

    #[test]
    fn training_data_with_a_nested_pair_asks_for_nested_decoding() {
        let sentence = |entities: Vec<Entity>| Sentence {
            tokens: vec!["a".into(); 6],
            entities,
            ..Sentence::default()
        };
        let flat = vec![sentence(vec![Entity::new("Loc", 0, 2), Entity::new("Org", 2, 4)])];
        assert_eq!(EntityDecoding::for_training_data(&flat), EntityDecoding::Flat);
        let nested = vec![
            flat[0].clone(),
            sentence(vec![
                Entity::new("Org", 3, 5),
                Entity::new("Loc", 0, 1),
                Entity::new("Loc", 4, 5),
            ]),
        ];
        assert_eq!(EntityDecoding::for_training_data(&nested), EntityDecoding::Nested);
    }
}
