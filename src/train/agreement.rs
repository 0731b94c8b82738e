//! Agreement between two annotation sets of the same sentences (two annotators, an expert and
//! the model, two model versions): `spanscope compare A B`.
//!
//! - **P/R/F1** are [`evaluate`]'s, with A as the reference: precision is the share of B's
//!   items that A has, recall the share of A's items that B has. Swapping A and B swaps
//!   precision and recall and leaves F1 unchanged, so F1 is the symmetric agreement figure.
//!   Entities are scored strict (type and exact span) and boundaries-only (exact span, any
//!   type: every entity type is replaced by one label, [`ANY_TYPE`], before scoring, so the
//!   per-type list has that one row); relations strict (relation type, both argument spans
//!   and both entity types) and boundaries-only (relation type and both argument spans, entity
//!   types ignored), as SpERT's protocol defines them.
//! - **Cohen's kappa** over word labels: each word of every sentence gets the type of the
//!   entity covering it, or `O`. Where entities nest or overlap, the outermost one labels the
//!   word (the widest covering entity; of equally wide ones the first to start; of several
//!   types on one span the first by name).
//!   kappa = (p_o − p_e) / (1 − p_e), p_o the share of words with the same label, p_e the sum
//!   over labels of the product of A's and B's share of words with that label. When p_e is 1
//!   (both sides gave every word one and the same label) kappa is 1, and with no words at all
//!   p_o, p_e and kappa are 1.
//! - **Confusion** of entity types over spans: for each distinct span of a sentence, A's types
//!   there are paired with B's (equal types first, then the rest in order of appearance); a type
//!   of A left unpaired counts under column [`MISSING`] (B lacks it), one of B under row
//!   [`EXTRA`] (A lacks it). A span is a set entry per type, as in [`evaluate`]: an entity
//!   listed twice counts once.
//! - **Disagreements**: every off-diagonal pairing of the confusion, and the same pairing of
//!   relations by their argument spans (symmetric relation types put head-first, as
//!   [`evaluate`] does), with the sentence index and the words.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::evaluate::{evaluate, EvalError, Report};
use crate::data::{Entity, Sentence, Types};

/// The confusion column of A's entities that B does not have.
pub const MISSING: &str = "missing";
/// The confusion row of B's entities that A does not have.
pub const EXTRA: &str = "extra";
/// The one entity type left when scoring boundaries only.
pub const ANY_TYPE: &str = "(any type)";

/// How far B agrees with A (see the module documentation for every definition).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    /// Number of sentences compared.
    pub sentences: usize,
    /// Number of words in them.
    pub words: usize,
    /// Entities: type and span must match.
    pub entities_strict: Report,
    /// Entities: the span must match, any type.
    pub entities_boundaries: Report,
    /// Relations: type, both argument spans and their entity types must match.
    pub relations_strict: Report,
    /// Relations: type and both argument spans must match; entity types are ignored.
    pub relations_boundaries: Report,
    /// Cohen's kappa over word labels.
    pub kappa: Kappa,
    /// A's entity types against B's, over spans.
    pub confusion: Confusion,
    /// Every entity and relation the two sides label differently, in sentence order.
    pub disagreements: Vec<Disagreement>,
}

/// Cohen's kappa with the two agreements it is made of.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Kappa {
    /// (observed − expected) / (1 − expected).
    pub kappa: f64,
    /// Share of words with the same label on both sides.
    pub observed: f64,
    /// Agreement expected by chance from each side's label shares.
    pub expected: f64,
    /// Number of words labelled.
    pub words: usize,
}

/// Counts of A's type (row) against B's type (column) for the same span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    /// A's entity types, then [`EXTRA`].
    pub rows: Vec<String>,
    /// B's entity types (the same list), then [`MISSING`].
    pub columns: Vec<String>,
    /// `counts[row][column]`.
    pub counts: Vec<Vec<usize>>,
}

/// What a disagreement is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An entity span.
    Entity,
    /// A relation between two argument spans.
    Relation,
}

/// One span (or argument pair) labelled differently by A and B.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disagreement {
    /// 0-based sentence index.
    pub sentence: usize,
    /// Entity or relation.
    pub kind: Kind,
    /// The span's words; for a relation `head words -> tail words`.
    pub words: String,
    /// A's type, `None` where A has nothing there.
    pub a: Option<String>,
    /// B's type, `None` where B has nothing there.
    pub b: Option<String>,
}

/// Compares `b` with `a` sentence by sentence. `types` says which relation types are
/// symmetric and orders the tables; types it lacks follow in order of first appearance.
/// Both lists must have the same length and equal tokens pair by pair ([`evaluate`]'s errors).
pub fn compare(a: &[Sentence], b: &[Sentence], types: &Types) -> Result<Agreement, EvalError> {
    let scores = evaluate(a, b, types)?;
    let boundaries = evaluate(&untyped(a), &untyped(b), types)?;
    let mut confusion = Confusion::new(entity_labels(types, a, b));
    let mut kappa = KappaTally::default();
    let mut disagreements = Vec::new();
    for (index, (x, y)) in a.iter().zip(b).enumerate() {
        for ((start, end), la, lb) in pair_up(entity_items(x), entity_items(y)) {
            confusion.add(la, lb);
            if la != lb {
                let span = words(x, start, end);
                disagreements.push(Disagreement::new(index, Kind::Entity, span, la, lb));
            }
        }
        let relations = pair_up(relation_items(x, types), relation_items(y, types));
        for ((head, tail), la, lb) in relations {
            if la != lb {
                let pair = format!("{} -> {}", words(x, head.0, head.1), words(x, tail.0, tail.1));
                disagreements.push(Disagreement::new(index, Kind::Relation, pair, la, lb));
            }
        }
        kappa.add(&word_labels(x), &word_labels(y));
    }
    Ok(Agreement {
        sentences: a.len(),
        words: kappa.words,
        entities_strict: scores.entities,
        entities_boundaries: boundaries.entities,
        relations_strict: scores.relations_strict,
        relations_boundaries: scores.relations_boundaries,
        kappa: kappa.finish(),
        confusion,
        disagreements,
    })
}

/// What a disputed item is: an entity span, or a relation's pair of argument spans (symmetric
/// relation types with the earlier span first), word indices `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ItemKey {
    /// The words of an entity.
    Entity(SpanKey),
    /// The head's and the tail's words.
    Relation(SpanKey, SpanKey),
}

/// One span (or argument pair) of one sentence that A and B label differently: every label
/// each side gives it, in order of appearance. The unit `compare` lists as disagreements,
/// grouped by item, as the workbench adjudicates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    /// The span or the argument pair.
    pub key: ItemKey,
    /// A's labels there (none: A has nothing there).
    pub a: Vec<String>,
    /// B's labels there.
    pub b: Vec<String>,
}

/// The items of one sentence that A and B label differently, paired as [`compare`] pairs
/// them (the same tokens assumed); entities first, each kind in span order.
pub fn disputes(a: &Sentence, b: &Sentence, types: &Types) -> Vec<Dispute> {
    let mut out: Vec<Dispute> = Vec::new();
    let entities = pair_up(entity_items(a), entity_items(b));
    let entities = entities.into_iter().map(|(k, la, lb)| (ItemKey::Entity(k), la, lb));
    let relations = pair_up(relation_items(a, types), relation_items(b, types));
    let relations = relations.into_iter().map(|((h, t), la, lb)| (ItemKey::Relation(h, t), la, lb));
    let mut differs = Vec::new();
    for (key, la, lb) in entities.chain(relations) {
        if la != lb && !differs.contains(&key) {
            differs.push(key);
        }
        match out.iter_mut().find(|d| d.key == key) {
            Some(d) => {
                d.a.extend(la.map(String::from));
                d.b.extend(lb.map(String::from));
            }
            None => out.push(Dispute {
                key,
                a: la.map(String::from).into_iter().collect(),
                b: lb.map(String::from).into_iter().collect(),
            }),
        }
    }
    out.retain(|d| differs.contains(&d.key));
    out
}

/// The argument spans of `relation` of `sentence` as [`compare`] keys it: symmetric types
/// with the earlier span first; `None` when an argument is no entity of the sentence.
pub fn relation_key(
    sentence: &Sentence,
    relation: &crate::data::Relation,
    types: &Types,
) -> Option<(SpanKey, SpanKey)> {
    let span = |at: usize| sentence.entities.get(at).map(|e| (e.start, e.end));
    let (mut head, mut tail) = (span(relation.head)?, span(relation.tail)?);
    let symmetric =
        types.relation_index(&relation.relation_type).is_some_and(|t| types.relations[t].symmetric);
    if symmetric && tail < head {
        std::mem::swap(&mut head, &mut tail);
    }
    Some((head, tail))
}

/// The sentences with every entity type replaced by [`ANY_TYPE`].
fn untyped(sentences: &[Sentence]) -> Vec<Sentence> {
    let mut out = sentences.to_vec();
    for e in out.iter_mut().flat_map(|s| s.entities.iter_mut()) {
        e.entity_type = ANY_TYPE.to_string();
    }
    out
}

/// Entity type names: the types file's, then others in order of first appearance in A, B.
fn entity_labels(types: &Types, a: &[Sentence], b: &[Sentence]) -> Vec<String> {
    let mut names: Vec<String> = types.entities.iter().map(|t| t.name.clone()).collect();
    for e in a.iter().chain(b).flat_map(|s| &s.entities) {
        if !names.contains(&e.entity_type) {
            names.push(e.entity_type.clone());
        }
    }
    names
}

/// Words `[start, end)` of a sentence.
pub type SpanKey = (usize, usize);

fn entity_items(sentence: &Sentence) -> Vec<(SpanKey, &str)> {
    sentence.entities.iter().map(|e| ((e.start, e.end), e.entity_type.as_str())).collect()
}

/// Relations keyed by their argument spans, symmetric types with the earlier span as head.
fn relation_items<'a>(sentence: &'a Sentence, types: &Types) -> Vec<((SpanKey, SpanKey), &'a str)> {
    sentence
        .relations
        .iter()
        .filter_map(|r| Some((relation_key(sentence, r, types)?, r.relation_type.as_str())))
        .collect()
}

/// Pairs A's and B's labels at each key (keys in order): equal labels first, then the rest
/// in order of appearance, `None` for a side that runs out. Duplicate labels count once.
fn pair_up<'a, K: Ord + Copy>(
    a: Vec<(K, &'a str)>,
    b: Vec<(K, &'a str)>,
) -> Vec<(K, Option<&'a str>, Option<&'a str>)> {
    let mut at: BTreeMap<K, (Vec<&str>, Vec<&str>)> = BTreeMap::new();
    for (key, label) in a {
        let labels = &mut at.entry(key).or_default().0;
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    for (key, label) in b {
        let labels = &mut at.entry(key).or_default().1;
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    let mut pairs = Vec::new();
    for (key, (mut la, mut lb)) in at {
        la.retain(|label| {
            let shared = lb.contains(label);
            if shared {
                pairs.push((key, Some(*label), Some(*label)));
                lb.retain(|other| other != label);
            }
            !shared
        });
        for i in 0..la.len().max(lb.len()) {
            pairs.push((key, la.get(i).copied(), lb.get(i).copied()));
        }
    }
    pairs
}

fn words(sentence: &Sentence, start: usize, end: usize) -> String {
    sentence.tokens.get(start..end).map(|t| t.join(" ")).unwrap_or_default()
}

/// Each word's label: the type of the outermost entity covering it (the widest; of equally
/// wide ones the first to start; of one span's types the first by name, so that the order of
/// a record's list does not matter), `None` for outside every entity.
fn word_labels(sentence: &Sentence) -> Vec<Option<&str>> {
    fn outermost<'e>(e: &&'e Entity) -> (usize, Reverse<usize>, Reverse<&'e str>) {
        (e.width(), Reverse(e.start), Reverse(e.entity_type.as_str()))
    }
    (0..sentence.tokens.len())
        .map(|w| {
            let covering = sentence.entities.iter().filter(|e| e.start <= w && w < e.end);
            covering.max_by_key(outermost).map(|e| e.entity_type.as_str())
        })
        .collect()
}

/// Word label counts of both sides, for kappa.
#[derive(Default)]
struct KappaTally {
    words: usize,
    agreed: usize,
    /// Per label (`None` is `O`): words A gave it, words B gave it.
    labels: BTreeMap<Option<String>, (usize, usize)>,
}

impl KappaTally {
    fn add(&mut self, a: &[Option<&str>], b: &[Option<&str>]) {
        for (la, lb) in a.iter().zip(b) {
            self.words += 1;
            self.agreed += usize::from(la == lb);
            self.labels.entry(la.map(String::from)).or_default().0 += 1;
            self.labels.entry(lb.map(String::from)).or_default().1 += 1;
        }
    }

    fn finish(&self) -> Kappa {
        if self.words == 0 {
            return Kappa { kappa: 1.0, observed: 1.0, expected: 1.0, words: 0 };
        }
        let n = self.words as f64;
        let observed = self.agreed as f64 / n;
        let expected: f64 =
            self.labels.values().map(|&(ca, cb)| (ca as f64 / n) * (cb as f64 / n)).sum();
        // Chance agreement of 1 means both sides used a single, shared label: they agree.
        let kappa = if expected >= 1.0 { 1.0 } else { (observed - expected) / (1.0 - expected) };
        Kappa { kappa, observed, expected, words: self.words }
    }
}

impl Confusion {
    fn new(labels: Vec<String>) -> Self {
        let n = labels.len() + 1;
        let mut rows = labels.clone();
        rows.push(EXTRA.to_string());
        let mut columns = labels;
        columns.push(MISSING.to_string());
        Self { rows, columns, counts: vec![vec![0; n]; n] }
    }

    fn add(&mut self, a: Option<&str>, b: Option<&str>) {
        let last = self.counts.len() - 1;
        let index = |label: Option<&str>| {
            label.and_then(|l| self.rows[..last].iter().position(|r| r == l)).unwrap_or(last)
        };
        let (row, column) = (index(a), index(b));
        self.counts[row][column] += 1;
    }

    /// The count of A's type `a` against B's type `b` ([`EXTRA`] and [`MISSING`] included).
    pub fn count(&self, a: &str, b: &str) -> Option<usize> {
        let row = self.rows.iter().position(|r| r == a)?;
        let column = self.columns.iter().position(|c| c == b)?;
        Some(self.counts[row][column])
    }
}

impl Disagreement {
    fn new(sentence: usize, kind: Kind, words: String, a: Option<&str>, b: Option<&str>) -> Self {
        Self { sentence, kind, words, a: a.map(String::from), b: b.map(String::from) }
    }
}

/// What the tables show for a side that has nothing there.
const NOTHING: &str = "-";

impl Agreement {
    /// Every table, with the first `limit` disagreements.
    pub fn table(&self, limit: usize) -> String {
        let mut out = String::new();
        let sections = [
            ("Entities, strict (type and span)", &self.entities_strict),
            ("Entities, boundaries only (span, any type)", &self.entities_boundaries),
            ("Relations, strict (type, argument spans and types)", &self.relations_strict),
            ("Relations, boundaries only (type and argument spans)", &self.relations_boundaries),
        ];
        for (title, report) in sections {
            let _ = writeln!(out, "--- {title} ---\n\n{report}");
        }
        let k = &self.kappa;
        let _ = writeln!(
            out,
            "Cohen's kappa over word labels: {:.4} (observed {:.4}, chance {:.4}, {} words)\n",
            k.kappa, k.observed, k.expected, k.words
        );
        let _ = writeln!(out, "--- Entity types for the same span (rows A, columns B) ---\n");
        out.push_str(&self.confusion.table());
        let (total, shown) = (self.disagreements.len(), self.disagreements.len().min(limit));
        let listed = if shown == total {
            "all shown".to_string()
        } else {
            format!("first {shown} shown; --json lists all")
        };
        let _ = writeln!(out, "\n--- Disagreements: {total} ({listed}) ---\n");
        if shown > 0 {
            let _ =
                writeln!(out, "{:>8}  {:<8}  {:<16}  {:<16}  words", "sentence", "kind", "A", "B");
        }
        for d in &self.disagreements[..shown] {
            let kind = match d.kind {
                Kind::Entity => "entity",
                Kind::Relation => "relation",
            };
            let side = |l: &Option<String>| l.clone().unwrap_or_else(|| NOTHING.to_string());
            let _ = writeln!(
                out,
                "{:>8}  {kind:<8}  {:<16}  {:<16}  {}",
                d.sentence,
                side(&d.a),
                side(&d.b),
                d.words
            );
        }
        out
    }
}

impl Confusion {
    /// Rows and columns right-aligned to the widest label or count.
    fn table(&self) -> String {
        let width = self
            .rows
            .iter()
            .chain(&self.columns)
            .map(|l| l.chars().count())
            .chain(self.counts.iter().flatten().map(|c| c.to_string().len()))
            .max()
            .unwrap_or(1);
        let mut out = format!("{:>width$}", "A \\ B");
        for c in &self.columns {
            let _ = write!(out, " {c:>width$}");
        }
        out.push('\n');
        for (label, counts) in self.rows.iter().zip(&self.counts) {
            let _ = write!(out, "{label:>width$}");
            for n in counts {
                let _ = write!(out, " {n:>width$}");
            }
            out.push('\n');
        }
        out
    }
}
