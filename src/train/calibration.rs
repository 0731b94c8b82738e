//! Fitting a model's score temperatures on dev (`spanscope calibrate`, and `spanscope train`
//! at the end): what the model proposes on dev, scored against gold, with its scores before
//! and after (model::calibration says what is fitted and why decisions do not change).
//!
//! The fit uses the proposals the user sees: predicted entities (with the probabilities of
//! every class, the right class being the gold type of that span or `none`) and relations
//! above α (right when strict: type and both entities' spans and types match gold).

use candle_core::{Device, Result};
use serde::Serialize;

use crate::data::wordpiece::WordPieces;
use crate::data::Sentence;
use crate::model::aspert::Aspert;
use crate::model::calibration::{
    expected_calibration_error, fit_sigmoid_temperature, fit_softmax_temperature, reliability,
    Calibration, ReliabilityBin,
};
use crate::model::decode::{predict, SentencePrediction};

/// Bins of the reliability diagrams and of the expected calibration error.
pub const BINS: usize = 10;

/// One predicted entity on dev, with its uncalibrated probabilities.
#[derive(Debug, Clone, PartialEq)]
struct EntitySample {
    sentence: usize,
    probabilities: Vec<f32>,
    /// Index of the predicted class in `probabilities`.
    predicted: usize,
    /// Index of the gold class of the span (0, `none`, when it is no gold entity).
    gold: usize,
}

/// One predicted relation on dev, with its uncalibrated score.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RelationSample {
    sentence: usize,
    score: f32,
    right: bool,
}

/// How well one kind of score is calibrated, before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreCalibration {
    /// Predictions the fit saw.
    pub count: usize,
    /// The fitted temperature.
    pub temperature: f32,
    /// Expected calibration error of the raw scores.
    pub ece_before: f32,
    /// Expected calibration error of the calibrated scores, on the data fitted on.
    pub ece_after: f32,
    /// The same, fitting on half of the sentences (odd, then even) and measuring on the other
    /// half: what to expect on data the fit did not see.
    pub ece_after_held_out: f32,
    /// Reliability diagram of the raw scores.
    pub before: Vec<ReliabilityBin>,
    /// Reliability diagram of the calibrated scores.
    pub after: Vec<ReliabilityBin>,
}

/// What [`fit`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationReport {
    /// The temperatures to store in the model.
    pub calibration: Calibration,
    /// Predicted entities.
    pub entities: ScoreCalibration,
    /// Predicted relations.
    pub relations: ScoreCalibration,
}

/// Predicts `dev` with `model`'s raw scores and fits both temperatures. The model's own
/// calibration is left as it was.
pub fn fit(
    model: &mut Aspert,
    pieces: &WordPieces,
    dev: &[Sentence],
    batch_size: usize,
    device: &Device,
) -> Result<CalibrationReport> {
    let kept = model.config().calibration;
    let decoding = model.config().decoding;
    model.set_decoding(decoding, Calibration::default());
    let predictions = predict(model, pieces, dev, batch_size, device);
    model.set_decoding(decoding, kept);
    let predictions = predictions?;
    let types = &model.config().entity_types;
    let (entities, relations) = samples(dev, &predictions, types);
    Ok(report(&entities, &relations))
}

fn samples(
    gold: &[Sentence],
    predictions: &[SentencePrediction],
    entity_types: &[String],
) -> (Vec<EntitySample>, Vec<RelationSample>) {
    let class_of = |t: &str| entity_types.iter().position(|x| x == t).map_or(0, |k| k + 1);
    let mut entities = Vec::new();
    let mut relations = Vec::new();
    for (sentence, (gold, predicted)) in gold.iter().zip(predictions).enumerate() {
        for e in &predicted.entities {
            let gold_class = gold
                .entities
                .iter()
                .find(|g| (g.start, g.end) == (e.start, e.end))
                .map_or(0, |g| class_of(&g.entity_type));
            entities.push(EntitySample {
                sentence,
                probabilities: e.probabilities.clone(),
                predicted: class_of(&e.entity_type),
                gold: gold_class,
            });
        }
        let key = |e: &crate::data::Entity| (e.start, e.end, e.entity_type.clone());
        for r in &predicted.relations {
            let (h, t) = (&predicted.entities[r.head], &predicted.entities[r.tail]);
            let head = (h.start, h.end, h.entity_type.clone());
            let tail = (t.start, t.end, t.entity_type.clone());
            let right = gold.relations.iter().any(|g| {
                g.relation_type == r.relation_type
                    && gold.entities.get(g.head).map(key) == Some(head.clone())
                    && gold.entities.get(g.tail).map(key) == Some(tail.clone())
            });
            relations.push(RelationSample { sentence, score: r.score, right });
        }
    }
    (entities, relations)
}

fn report(entities: &[EntitySample], relations: &[RelationSample]) -> CalibrationReport {
    let fit_entities = |s: &[&EntitySample]| {
        let pairs: Vec<(Vec<f32>, usize)> =
            s.iter().map(|e| (e.probabilities.clone(), e.gold)).collect();
        fit_softmax_temperature(&pairs)
    };
    let entity_points = |s: &[&EntitySample], t: f32| -> Vec<(f32, bool)> {
        let c = Calibration { entity_temperature: t, ..Calibration::default() };
        s.iter()
            .map(|e| {
                let q = c.entity_probabilities(&e.probabilities);
                (q.get(e.predicted).copied().unwrap_or(0.0), e.predicted == e.gold)
            })
            .collect()
    };
    let fit_relations = |s: &[&RelationSample]| {
        fit_sigmoid_temperature(&s.iter().map(|r| (r.score, r.right)).collect::<Vec<_>>())
    };
    let relation_points = |s: &[&RelationSample], t: f32| -> Vec<(f32, bool)> {
        let c = Calibration { relation_temperature: t, ..Calibration::default() };
        s.iter().map(|r| (c.relation_score(r.score), r.right)).collect()
    };
    let entities = score_calibration(entities, |e| e.sentence, fit_entities, entity_points);
    let relations = score_calibration(relations, |r| r.sentence, fit_relations, relation_points);
    CalibrationReport {
        calibration: Calibration {
            entity_temperature: entities.temperature,
            relation_temperature: relations.temperature,
        },
        entities,
        relations,
    }
}

/// Fits on all `samples` and on each half of the sentences, and bins the scores.
fn score_calibration<S>(
    samples: &[S],
    sentence: impl Fn(&S) -> usize,
    fit: impl Fn(&[&S]) -> f32,
    points: impl Fn(&[&S], f32) -> Vec<(f32, bool)>,
) -> ScoreCalibration {
    let all: Vec<&S> = samples.iter().collect();
    let temperature = fit(&all);
    let before = reliability(&points(&all, 1.0), BINS);
    let after = reliability(&points(&all, temperature), BINS);
    let (odd, even): (Vec<&S>, Vec<&S>) = all.iter().partition(|s| sentence(s) % 2 == 1);
    let mut held_out = points(&even, fit(&odd));
    held_out.extend(points(&odd, fit(&even)));
    ScoreCalibration {
        count: samples.len(),
        temperature,
        ece_before: expected_calibration_error(&before),
        ece_after: expected_calibration_error(&after),
        ece_after_held_out: expected_calibration_error(&reliability(&held_out, BINS)),
        before,
        after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Entity, Relation};
    use crate::model::decode::{PredictedEntity, PredictedRelation};

    fn types() -> Vec<String> {
        vec!["Loc".into(), "Peop".into()]
    }

    #[test]
    fn samples_score_spans_and_types_against_gold() {
        let gold = Sentence {
            tokens: vec!["w".into(); 8],
            entities: vec![
                Entity::new("Peop", 0, 1),
                Entity::new("Loc", 3, 4),
                Entity::new("Peop", 6, 7),
            ],
            relations: vec![Relation::new("Live_In", 0, 1)],
            ..Sentence::default()
        };
        let entity = |start, end, t: &str| PredictedEntity {
            start,
            end,
            entity_type: t.into(),
            score: 0.8,
            probabilities: vec![0.1, 0.1, 0.8],
        };
        let relation = |head, tail| PredictedRelation {
            head,
            tail,
            relation_type: "Live_In".into(),
            score: 0.6,
        };
        let predicted = SentencePrediction {
            // Right; right; no gold span; a gold span with another type.
            entities: vec![
                entity(0, 1, "Peop"),
                entity(3, 4, "Loc"),
                entity(4, 6, "Peop"),
                entity(6, 7, "Loc"),
            ],
            // Right; a tail with no gold span; a tail of the wrong type.
            relations: vec![relation(0, 1), relation(0, 2), relation(0, 3)],
            notes: Vec::new(),
        };
        let (entities, relations) = samples(&[gold], &[predicted], &types());
        let classes: Vec<(usize, usize)> = entities.iter().map(|e| (e.predicted, e.gold)).collect();
        assert_eq!(classes, vec![(2, 2), (1, 1), (2, 0), (1, 2)]);
        let right: Vec<bool> = relations.iter().map(|r| r.right).collect();
        assert_eq!(right, vec![true, false, false]);
    }

    #[test]
    fn overconfident_relations_get_a_temperature_above_one_and_a_smaller_error() {
        // Scores of 0.95 that are right 60 % of the time, 0.45 that are right 40 %.
        let relations: Vec<RelationSample> = (0..200)
            .map(|i| RelationSample {
                sentence: i,
                score: if i < 100 { 0.95 } else { 0.45 },
                right: if i < 100 { i % 5 < 3 } else { i % 5 < 2 },
            })
            .collect();
        let r = report(&[], &relations);
        assert!(r.relations.temperature > 1.5, "{}", r.relations.temperature);
        assert!(r.relations.ece_after < r.relations.ece_before / 2.0, "{:?}", r.relations);
        assert_eq!(r.entities.temperature, 1.0);
    }
}
