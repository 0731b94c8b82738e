//! What the inspector asks the model worker to explain about one prediction, and what comes
//! back: the parts of [`crate::explain::prediction`] the inspector's views show, heads and
//! words masked included.
//!
//! A request names only the parts still missing ([`Wanted`]), so the newest request can
//! supersede older ones without losing what they were for; the answers are merged into one
//! [`Explanation`] per target.

use crate::data::wordpiece::WordPieces;
use crate::explain::prediction::{Explainer, FlipLimits, FlipSet, Mode, Reading, Target};
use crate::explain::{Contribution, Head, HeadGrid, WordAttributions};
use crate::model::aspert::Aspert;

/// Integration steps of the word attributions: 16 keep them interactive on the CPU for the
/// bundled model, and complete to within a few percent (docs/BENCHMARKS.md, "Figures that
/// were code comments").
pub const WORD_STEPS: usize = 16;

/// Which heads a custom ablation masks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Masked {
    /// These heads.
    Heads(Vec<Head>),
    /// The `n` most important heads (by |∂score/∂ξ|), resolved where importance is known.
    Top(usize),
}

/// A custom ablation: heads and where they are masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ablation {
    /// The heads.
    pub masked: Masked,
    /// Encoder or f_a only.
    pub mode: Mode,
}

/// The parts of an explanation asked for. The prediction itself always comes (and, for a
/// relation, f_a of its two spans).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// The prediction alone: nothing else is missing but nothing is known yet.
    pub prediction: bool,
    /// Head importance.
    pub importance: bool,
    /// Word attributions.
    pub words: bool,
    /// Every single-head ablation, in this mode.
    pub sweep: Option<Mode>,
    /// The smallest flip set, in this mode.
    pub flip: Option<Mode>,
    /// A custom ablation.
    pub ablation: Option<Ablation>,
    /// Words masked with `[MASK]` (sorted sentence word indices; never empty).
    pub word_mask: Option<Vec<usize>>,
}

impl Wanted {
    /// Whether nothing is asked.
    pub fn is_empty(&self) -> bool {
        *self == Wanted::default()
    }

    /// Whether everything `other` asks is asked here too.
    pub fn covers(&self, other: &Wanted) -> bool {
        let part = |mine: bool, theirs: bool| mine || !theirs;
        fn same<T: PartialEq>(mine: &Option<T>, theirs: &Option<T>) -> bool {
            theirs.is_none() || mine == theirs
        }
        part(self.prediction, other.prediction)
            && part(self.importance, other.importance)
            && part(self.words, other.words)
            && same(&self.sweep, &other.sweep)
            && same(&self.flip, &other.flip)
            && same(&self.ablation, &other.ablation)
            && same(&self.word_mask, &other.word_mask)
    }

    /// What of `self` `have` does not answer yet.
    pub fn missing(&self, have: Option<&Explanation>) -> Wanted {
        let Some(have) = have else { return self.clone() };
        Wanted {
            prediction: false,
            importance: self.importance && have.importance.is_none(),
            words: self.words && have.words.is_none(),
            sweep: self.sweep.filter(|m| have.sweep.as_ref().is_none_or(|s| s.mode != *m)),
            flip: self.flip.filter(|m| have.flip.as_ref().is_none_or(|f| f.mode != *m)),
            ablation: self
                .ablation
                .clone()
                .filter(|a| have.ablation.as_ref().is_none_or(|done| done.asked != *a)),
            word_mask: self
                .word_mask
                .clone()
                .filter(|w| have.word_masking.as_ref().is_none_or(|done| done.words != *w)),
        }
    }
}

/// Every single-head ablation of one mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// Where the heads were masked.
    pub mode: Mode,
    /// P(label) (or the relation's score) with each head masked alone, `layers x heads`.
    pub probability: HeadGrid,
    /// Whether masking that head alone changes the prediction, in the same order.
    pub flips: Vec<bool>,
}

/// A custom ablation's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Ablated {
    /// What was asked.
    pub asked: Ablation,
    /// The heads masked (a top-n resolved).
    pub heads: Vec<Head>,
    /// The reading with them masked.
    pub after: Reading,
    /// Whether the prediction changed.
    pub flips: bool,
}

/// The prediction with some words masked.
#[derive(Debug, Clone, PartialEq)]
pub struct WordMasked {
    /// The words masked, as asked.
    pub words: Vec<usize>,
    /// The reading with them masked.
    pub after: Reading,
    /// Whether the prediction changed.
    pub flips: bool,
}

/// What the model worker found about one prediction; parts not asked are `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The target, a relation's type filled in.
    pub target: Target,
    /// The label explained: the entity type predicted (or `none`), or the relation type.
    pub label: String,
    /// The prediction with nothing masked.
    pub prediction: Reading,
    /// A relation's f_a: of its head span, then of its tail span (empty for an entity, whose
    /// f_a comes with the inspection).
    pub contributions: Vec<Contribution>,
    /// |∂score/∂ξ| per head.
    pub importance: Option<HeadGrid>,
    /// Integrated gradients per word.
    pub words: Option<WordAttributions>,
    /// The single-head sweep.
    pub sweep: Option<Sweep>,
    /// The smallest flip set.
    pub flip: Option<FlipSet>,
    /// The last custom ablation.
    pub ablation: Option<Ablated>,
    /// The last set of words masked.
    pub word_masking: Option<WordMasked>,
}

impl Explanation {
    /// Takes the parts `newer` has.
    pub fn merge(&mut self, newer: Explanation) {
        self.prediction = newer.prediction;
        if !newer.contributions.is_empty() {
            self.contributions = newer.contributions;
        }
        self.importance = newer.importance.or(self.importance.take());
        self.words = newer.words.or(self.words.take());
        self.sweep = newer.sweep.or(self.sweep.take());
        self.flip = newer.flip.or(self.flip.take());
        self.ablation = newer.ablation.or(self.ablation.take());
        self.word_masking = newer.word_masking.or(self.word_masking.take());
    }

    /// Whether the prediction is a relation's.
    pub fn is_relation(&self) -> bool {
        matches!(self.target, Target::Relation { .. })
    }
}

/// Computes the `wanted` parts of the explanation of `target` in `tokens`.
pub fn explain(
    model: &Aspert,
    pieces: &WordPieces,
    tokens: &[String],
    target: Target,
    wanted: &Wanted,
) -> candle_core::Result<Explanation> {
    let explainer = Explainer::new(model, pieces, tokens, target)?;
    let contributions = match explainer.target() {
        Target::Relation { .. } => explainer.contribution()?,
        Target::Entity { .. } => Vec::new(),
    };
    // A top-n ablation and the flip set both rank heads by importance.
    let needs_importance = wanted.importance
        || wanted.flip.is_some()
        || matches!(wanted.ablation, Some(Ablation { masked: Masked::Top(_), .. }));
    let importance = if needs_importance { Some(explainer.importance()?) } else { None };
    let words = if wanted.words { Some(explainer.words(WORD_STEPS)?) } else { None };
    let sweep = match wanted.sweep {
        Some(mode) => {
            let (layers, heads) = explainer.shape();
            let readings = explainer.sweep(mode)?;
            Some(Sweep {
                mode,
                probability: HeadGrid {
                    layers,
                    heads,
                    values: readings.iter().map(|(_, r)| r.probability).collect(),
                },
                flips: readings.iter().map(|(_, r)| explainer.flips(r)).collect(),
            })
        }
        None => None,
    };
    let flip = match (wanted.flip, &importance) {
        (Some(mode), Some(grid)) => Some(explainer.flip_set(grid, mode, FlipLimits::default())?),
        _ => None,
    };
    let ablation = match &wanted.ablation {
        Some(asked) => {
            let heads = match (&asked.masked, &importance) {
                (Masked::Heads(heads), _) => heads.clone(),
                (Masked::Top(n), Some(grid)) => {
                    grid.ranked().into_iter().take(*n).map(|(h, _)| h).collect()
                }
                (Masked::Top(_), None) => Vec::new(),
            };
            let after = explainer.ablate(std::slice::from_ref(&heads), asked.mode)?.remove(0);
            let flips = explainer.flips(&after);
            Some(Ablated { asked: asked.clone(), heads, after, flips })
        }
        None => None,
    };
    let word_masking = match &wanted.word_mask {
        Some(words) => {
            let after = explainer.mask_words(std::slice::from_ref(words))?.remove(0);
            let flips = explainer.flips(&after);
            Some(WordMasked { words: words.clone(), after, flips })
        }
        None => None,
    };
    Ok(Explanation {
        target: explainer.target().clone(),
        label: explainer.label(),
        prediction: explainer.prediction().clone(),
        contributions,
        // Importance asked only for a flip set or a top-n is sent along: it is what ranked them.
        importance,
        words,
        sweep,
        flip,
        ablation,
        word_masking,
    })
}
