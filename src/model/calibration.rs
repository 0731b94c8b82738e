//! Temperature scaling (Guo et al., 2017, "On Calibration of Modern Neural Networks"): one
//! temperature for the span classifier's softmax and one for the relation sigmoids, fitted on
//! dev by likelihood, so that a score of 0.7 is right about 70 % of the time.
//!
//! A temperature divides the logits. The softmax's arg-max does not move, so entity decisions
//! stay as they are. Relations fire when their raw sigmoid exceeds α (Table 3's 0.4, chosen
//! for F1 on uncalibrated scores); the decision is kept on the raw score and only the reported
//! score is calibrated, so calibration changes what the scores say, never what is predicted.

use serde::{Deserialize, Serialize};

use super::decode::PredictedEntity;

/// Temperatures fitted on dev, stored in the model's configuration; 1 leaves scores as the
/// classifiers give them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Divides the span classifier's logits.
    pub entity_temperature: f32,
    /// Divides the relation classifier's logits.
    pub relation_temperature: f32,
}

impl Default for Calibration {
    fn default() -> Self {
        Self { entity_temperature: 1.0, relation_temperature: 1.0 }
    }
}

/// Smallest and largest temperature the fit considers.
const TEMPERATURES: (f64, f64) = (0.05, 20.0);

/// Probabilities are kept this far from 0 and 1 before taking logits, as f32 saturates.
const EPS: f64 = 1e-7;

impl Calibration {
    /// Whether both temperatures are 1 (nothing to apply).
    pub fn is_identity(&self) -> bool {
        self.entity_temperature == 1.0 && self.relation_temperature == 1.0
    }

    /// A softmax output rescaled by the entity temperature: `softmax(ln p / T)`, which is the
    /// softmax of the logits divided by T.
    pub fn entity_probabilities(&self, probabilities: &[f32]) -> Vec<f32> {
        tempered_softmax(probabilities, f64::from(self.entity_temperature))
    }

    /// A relation sigmoid rescaled by the relation temperature: `σ(logit(p) / T)`.
    pub fn relation_score(&self, p: f32) -> f32 {
        tempered_sigmoid(f64::from(p), f64::from(self.relation_temperature)) as f32
    }

    /// Rescales each entity's probabilities and its score (the probability of its type).
    pub fn apply_to_entities(
        &self,
        found: &mut [(usize, PredictedEntity)],
        entity_types: &[String],
    ) {
        if self.entity_temperature == 1.0 {
            return;
        }
        for (_, entity) in found {
            entity.probabilities = self.entity_probabilities(&entity.probabilities);
            let class = entity_types.iter().position(|t| *t == entity.entity_type);
            entity.score =
                class.and_then(|k| entity.probabilities.get(k + 1)).copied().unwrap_or(0.0);
        }
    }
}

fn tempered_softmax(probabilities: &[f32], t: f64) -> Vec<f32> {
    if t == 1.0 {
        return probabilities.to_vec();
    }
    let logits: Vec<f64> = probabilities.iter().map(|&p| f64::from(p).max(EPS).ln() / t).collect();
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = logits.iter().map(|z| (z - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| (e / sum) as f32).collect()
}

fn tempered_sigmoid(p: f64, t: f64) -> f64 {
    if t == 1.0 {
        return p;
    }
    let p = p.clamp(EPS, 1.0 - EPS);
    let z = (p / (1.0 - p)).ln() / t;
    1.0 / (1.0 + (-z).exp())
}

/// The temperature that maximises the likelihood of the gold classes: `samples` are softmax
/// outputs with the index of the right class. The negative log-likelihood is convex in 1/T, so
/// a golden-section search over log T finds its minimum. 1 when there is nothing to fit.
pub fn fit_softmax_temperature(samples: &[(Vec<f32>, usize)]) -> f32 {
    if samples.is_empty() {
        return 1.0;
    }
    let nll = |t: f64| -> f64 {
        samples
            .iter()
            .map(|(p, gold)| {
                let q = tempered_softmax(p, t);
                -f64::from(q.get(*gold).copied().unwrap_or(0.0)).max(1e-12).ln()
            })
            .sum()
    };
    golden_section(nll) as f32
}

/// The temperature that maximises the likelihood of `samples`, sigmoid outputs with whether
/// each was right. 1 when there is nothing to fit or every sample has the same label (any
/// sharper temperature would then look better without bound).
pub fn fit_sigmoid_temperature(samples: &[(f32, bool)]) -> f32 {
    let positives = samples.iter().filter(|(_, y)| *y).count();
    if positives == 0 || positives == samples.len() {
        return 1.0;
    }
    let nll = |t: f64| -> f64 {
        samples
            .iter()
            .map(|&(p, y)| {
                let q = tempered_sigmoid(f64::from(p), t).clamp(1e-12, 1.0 - 1e-12);
                -if y { q.ln() } else { (1.0 - q).ln() }
            })
            .sum()
    };
    golden_section(nll) as f32
}

/// Minimum of a unimodal function of T over [`TEMPERATURES`], searched on log T.
fn golden_section(f: impl Fn(f64) -> f64) -> f64 {
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut lo, mut hi) = (TEMPERATURES.0.ln(), TEMPERATURES.1.ln());
    let mut a = hi - ratio * (hi - lo);
    let mut b = lo + ratio * (hi - lo);
    let (mut fa, mut fb) = (f(a.exp()), f(b.exp()));
    while hi - lo > 1e-5 {
        if fa < fb {
            hi = b;
            b = a;
            fb = fa;
            a = hi - ratio * (hi - lo);
            fa = f(a.exp());
        } else {
            lo = a;
            a = b;
            fa = fb;
            b = lo + ratio * (hi - lo);
            fb = f(b.exp());
        }
    }
    ((lo + hi) / 2.0).exp()
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReliabilityBin {
    /// Lower edge of the bin's confidence range.
    pub lower: f32,
    /// Upper edge.
    pub upper: f32,
    /// Predictions whose score falls in the bin.
    pub count: usize,
    /// Their mean score.
    pub confidence: f32,
    /// The share of them that is right.
    pub accuracy: f32,
}

/// `bins` equal-width bins over [0, 1] of (score, right) pairs; the last bin includes 1.
pub fn reliability(samples: &[(f32, bool)], bins: usize) -> Vec<ReliabilityBin> {
    let bins = bins.max(1);
    let mut sums = vec![(0usize, 0f64, 0usize); bins];
    for &(p, right) in samples {
        let k = ((f64::from(p) * bins as f64) as usize).min(bins - 1);
        sums[k].0 += 1;
        sums[k].1 += f64::from(p);
        sums[k].2 += usize::from(right);
    }
    sums.iter()
        .enumerate()
        .map(|(k, &(count, score, right))| ReliabilityBin {
            lower: k as f32 / bins as f32,
            upper: (k + 1) as f32 / bins as f32,
            count,
            confidence: if count == 0 { 0.0 } else { (score / count as f64) as f32 },
            accuracy: if count == 0 { 0.0 } else { right as f32 / count as f32 },
        })
        .collect()
}

/// Expected calibration error: the count-weighted mean gap between confidence and accuracy
/// over the bins (0 when there are no samples).
pub fn expected_calibration_error(bins: &[ReliabilityBin]) -> f32 {
    let total: usize = bins.iter().map(|b| b.count).sum();
    if total == 0 {
        return 0.0;
    }
    bins.iter().map(|b| b.count as f32 / total as f32 * (b.confidence - b.accuracy).abs()).sum()
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    fn sigmoid(z: f64) -> f64 {
        1.0 / (1.0 + (-z).exp())
    }

    #[test]
    fn a_sigmoid_fit_recovers_the_temperature_the_labels_were_drawn_with() {
        // Logits z; labels drawn with P(right) = σ(z / 2.5); the model reports σ(z).
        let mut rng = StdRng::seed_from_u64(7);
        let samples: Vec<(f32, bool)> = (0..20_000)
            .map(|_| {
                let z: f64 = rng.random_range(-8.0..8.0);
                let right = rng.random::<f64>() < sigmoid(z / 2.5);
                (sigmoid(z) as f32, right)
            })
            .collect();
        let t = fit_sigmoid_temperature(&samples);
        assert!((t - 2.5).abs() < 0.15, "fitted {t}, drew with 2.5");
    }

    #[test]
    fn a_softmax_fit_recovers_the_temperature_the_classes_were_drawn_with() {
        // Three-class logits; the class is drawn from softmax(z / 0.5): the model is too timid.
        let mut rng = StdRng::seed_from_u64(11);
        let softmax = |z: &[f64], t: f64| -> Vec<f64> {
            let e: Vec<f64> = z.iter().map(|v| (v / t).exp()).collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|v| v / s).collect()
        };
        let samples: Vec<(Vec<f32>, usize)> = (0..20_000)
            .map(|_| {
                let z: Vec<f64> = (0..3).map(|_| rng.random_range(-2.0..2.0)).collect();
                let truth = softmax(&z, 0.5);
                let u: f64 = rng.random();
                let gold = if u < truth[0] {
                    0
                } else if u < truth[0] + truth[1] {
                    1
                } else {
                    2
                };
                (softmax(&z, 1.0).iter().map(|&p| p as f32).collect(), gold)
            })
            .collect();
        let t = fit_softmax_temperature(&samples);
        assert!((t - 0.5).abs() < 0.04, "fitted {t}, drew with 0.5");
    }

    #[test]
    fn tempering_keeps_the_arg_max_and_the_order_of_sigmoids() {
        let c = Calibration { entity_temperature: 2.0, relation_temperature: 0.5 };
        let q = c.entity_probabilities(&[0.1, 0.7, 0.2]);
        assert!((q.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(q[1] > q[2] && q[2] > q[0] && q[1] < 0.7, "{q:?}");
        assert!(c.relation_score(0.6) > c.relation_score(0.55));
        assert!(c.relation_score(0.6) > 0.6 && (c.relation_score(0.5) - 0.5).abs() < 1e-6);
        assert_eq!(Calibration::default().entity_probabilities(&[0.3, 0.7]), vec![0.3, 0.7]);
    }

    #[test]
    fn one_label_everywhere_leaves_the_temperature_alone() {
        assert_eq!(fit_sigmoid_temperature(&[(0.9, true), (0.6, true)]), 1.0);
        assert_eq!(fit_softmax_temperature(&[]), 1.0);
    }

    #[test]
    fn the_calibration_error_weighs_each_bin_by_its_count() {
        // Bin 0.9..1: 4 at 0.95, 2 right (gap 0.45); bin 0.1..0.2: 1 at 0.15, wrong (gap 0.15).
        let samples = [(0.95, true), (0.95, true), (0.95, false), (0.95, false), (0.15, false)];
        let bins = reliability(&samples, 10);
        assert_eq!(bins[9].count, 4);
        assert!((bins[9].accuracy - 0.5).abs() < 1e-6);
        let ece = expected_calibration_error(&bins);
        assert!((ece - (0.8 * 0.45 + 0.2 * 0.15)).abs() < 1e-5, "{ece}");
        assert_eq!(reliability(&[(1.0, true)], 10)[9].count, 1);
    }
}
