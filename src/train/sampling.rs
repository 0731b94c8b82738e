//! Training samples as SpERT draws them (docs/MODEL.md, the paper's section 3.1; SpERT's
//! `create_train_sample`): per sentence every gold span plus up to `neg_entity_count` random
//! non-entity spans, and every related pair of gold entities plus up to `neg_relation_count`
//! unrelated pairs of gold entities. A fresh draw every epoch, from the caller's seeded generator.

use std::collections::BTreeMap;

use rand::seq::index;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::data::types::Types;
use crate::data::Sentence;

/// How many negatives to draw and how wide a negative span may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplingConfig {
    /// Negative spans per sentence (docs/DESIGN.md: 100; the paper's Table 3: 150).
    pub neg_entity_count: usize,
    /// Negative entity pairs per sentence.
    pub neg_relation_count: usize,
    /// Widest negative span, in words (the model's `max_span_width`).
    pub max_span_width: usize,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self { neg_entity_count: 100, neg_relation_count: 100, max_span_width: 10 }
    }
}

/// A gold annotation names a type that the types file lacks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sentence {sentence}: {kind} type `{name}` is not in the types file")]
pub struct UnknownType {
    /// Index of the sentence in the training set.
    pub sentence: usize,
    /// `entity` or `relation`.
    pub kind: &'static str,
    /// The unknown name.
    pub name: String,
}

/// A span to classify: words `[start, end)` and its class (0 `none`, `i + 1` entity type `i`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampledSpan {
    /// First word.
    pub start: usize,
    /// One past the last word.
    pub end: usize,
    /// Class index of the span classifier.
    pub label: u32,
}

impl SampledSpan {
    /// Width in words.
    pub fn width(&self) -> usize {
        self.end - self.start
    }
}

/// An ordered pair of sampled spans and the relation types that hold from head to tail
/// (empty for a negative pair).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampledPair {
    /// Index of the head span in [`TrainSample::spans`].
    pub head: usize,
    /// Index of the tail span.
    pub tail: usize,
    /// Relation type indices, ascending; the multi-label target.
    pub relation_types: Vec<usize>,
}

/// One sentence's draw: spans (gold first, then negatives) and pairs (gold first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrainSample {
    /// Spans to classify.
    pub spans: Vec<SampledSpan>,
    /// Pairs to classify; they index `spans`.
    pub pairs: Vec<SampledPair>,
}

/// A sentence's gold annotations as class indices, prepared once and sampled every epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoldSentence {
    /// Words the encoder sees (gold beyond them is dropped).
    pub words: usize,
    /// Distinct gold spans with their class index (`type + 1`), in annotation order.
    pub entities: Vec<SampledSpan>,
    /// Related ordered pairs of `entities` and their relation types; the reverse of a
    /// symmetric relation is included.
    pub relations: BTreeMap<(usize, usize), Vec<usize>>,
}

impl GoldSentence {
    /// Maps the gold annotations of sentence `index` to class indices. Only the first `words`
    /// words count (the encoder's piece budget may cut a sentence): entities beyond them and
    /// their relations are left out. Duplicate spans keep their first type.
    pub fn new(
        sentence: &Sentence,
        index: usize,
        words: usize,
        types: &Types,
    ) -> Result<Self, UnknownType> {
        let unknown = |kind, name: &str| UnknownType { sentence: index, kind, name: name.into() };
        let mut entities: Vec<SampledSpan> = Vec::new();
        // Annotation index → position in `entities`, for the relations.
        let mut position = Vec::with_capacity(sentence.entities.len());
        for entity in &sentence.entities {
            let label = types
                .entity_index(&entity.entity_type)
                .ok_or_else(|| unknown("entity", &entity.entity_type))?;
            if entity.start >= entity.end || entity.end > words {
                position.push(None);
                continue;
            }
            let existing =
                entities.iter().position(|s| (s.start, s.end) == (entity.start, entity.end));
            position.push(Some(existing.unwrap_or_else(|| {
                entities.push(SampledSpan {
                    start: entity.start,
                    end: entity.end,
                    label: label as u32 + 1,
                });
                entities.len() - 1
            })));
        }
        let mut relations: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
        for relation in &sentence.relations {
            let kind = types
                .relation_index(&relation.relation_type)
                .ok_or_else(|| unknown("relation", &relation.relation_type))?;
            let lookup = |i: usize| position.get(i).copied().flatten();
            let (Some(head), Some(tail)) = (lookup(relation.head), lookup(relation.tail)) else {
                continue;
            };
            if head == tail {
                continue;
            }
            let mut add = |pair| {
                let list = relations.entry(pair).or_default();
                if !list.contains(&kind) {
                    list.push(kind);
                    list.sort_unstable();
                }
            };
            add((head, tail));
            if types.relations[kind].symmetric {
                add((tail, head));
            }
        }
        Ok(Self { words, entities, relations })
    }

    /// One draw: every gold span and pair, plus random negatives as `config` says.
    pub fn sample(&self, config: &SamplingConfig, rng: &mut impl Rng) -> TrainSample {
        let mut spans = self.entities.clone();
        let negatives: Vec<SampledSpan> = (1..=config.max_span_width.min(self.words))
            .flat_map(|width| (0..=self.words - width).map(move |start| (start, start + width)))
            .filter(|&(start, end)| !self.entities.iter().any(|e| (e.start, e.end) == (start, end)))
            .map(|(start, end)| SampledSpan { start, end, label: 0 })
            .collect();
        let take = negatives.len().min(config.neg_entity_count);
        spans.extend(index::sample(rng, negatives.len(), take).into_iter().map(|i| negatives[i]));

        let mut pairs: Vec<SampledPair> = self
            .relations
            .iter()
            .map(|(&(head, tail), kinds)| SampledPair { head, tail, relation_types: kinds.clone() })
            .collect();
        let n = self.entities.len();
        let unrelated: Vec<(usize, usize)> = (0..n)
            .flat_map(|h| (0..n).map(move |t| (h, t)))
            .filter(|&(h, t)| h != t && !self.relations.contains_key(&(h, t)))
            .collect();
        let take = unrelated.len().min(config.neg_relation_count);
        pairs.extend(index::sample(rng, unrelated.len(), take).into_iter().map(|i| {
            let (head, tail) = unrelated[i];
            SampledPair { head, tail, relation_types: Vec::new() }
        }));
        TrainSample { spans, pairs }
    }
}
