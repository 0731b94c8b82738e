//! `spanscope explain --dataset FILE`: mean head importance per entity type (over the gold
//! entities) and per relation type (over the gold relations), and with `--compare-model`
//! which heads changed most between two models.
//!
//! An entity's score is the log-probability of its gold type ([`Explainer::explaining`]),
//! a relation's the logit of its gold type; `agree` counts the items the model predicts as
//! gold.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use serde::Serialize;
use spanscope::data::io::read_sentences;
use spanscope::data::wordpiece::WordPieces;
use spanscope::data::Sentence;
use spanscope::explain::{Explainer, HeadGrid, Target, Words};
use spanscope::model::aspert::Aspert;

use super::explain::{By, HeadValue};
use super::explain_report::compact_grid;
use super::prediction::progress_bar;

/// How many heads each type lists.
const TOP: usize = 5;

/// What `--dataset` asks for.
pub struct Request<'a> {
    pub dataset: &'a Path,
    pub limit: Option<usize>,
    pub by: By,
}

/// A model as the corpus view uses it: its directory, the model and its word pieces.
pub type Loaded<'a> = (&'a Path, &'a Aspert, &'a WordPieces);

/// Targets left out, by reason.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Skipped {
    /// Sentences with more word pieces than the model reads.
    pub sentences_too_long: usize,
    /// Entities wider than the model's widest span (and the relations that use them).
    pub spans_too_wide: usize,
    pub relations_with_wide_spans: usize,
    /// Relations whose type the model does not have.
    pub unknown_relation_types: usize,
    /// Relations whose head or tail is not an entity of the sentence.
    pub broken_relations: usize,
}

/// The mean importance of one type.
#[derive(Debug, Clone, Serialize)]
pub struct TypeMeans {
    #[serde(rename = "type")]
    pub type_name: String,
    /// Targets averaged.
    pub count: usize,
    /// Entities: spans whose predicted type is the gold type. Relations: pairs the model
    /// predicts the gold type for (sigmoid above α).
    pub agree: usize,
    pub mean: HeadGrid,
    pub top_heads: Vec<HeadValue>,
}

/// One model's means.
#[derive(Debug, Clone, Serialize)]
pub struct Means {
    pub model: String,
    pub entities: Vec<TypeMeans>,
    pub relations: Vec<TypeMeans>,
    pub skipped: Skipped,
}

/// A head whose mean importance changed between the two models.
#[derive(Debug, Clone, Serialize)]
pub struct HeadChange {
    #[serde(flatten)]
    pub head: HeadValue,
    /// The mean in the first model (`--model`) and in the second (`--compare-model`);
    /// `value` is the second minus the first.
    pub before: f32,
    pub after: f32,
}

/// One type's largest changes.
#[derive(Debug, Clone, Serialize)]
pub struct TypeChange {
    #[serde(rename = "type")]
    pub type_name: String,
    pub changes: Vec<HeadChange>,
}

/// What changed, per type present in both models' means.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub entities: Vec<TypeChange>,
    pub relations: Vec<TypeChange>,
}

/// The corpus view's JSON object.
#[derive(Debug, Clone, Serialize)]
pub struct Corpus {
    pub dataset: String,
    pub by: By,
    /// Sentences read (after `--limit`).
    pub sentences: usize,
    #[serde(flatten)]
    pub means: Means,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare: Option<CompareOut>,
}

/// The second model's means and the changes.
#[derive(Debug, Clone, Serialize)]
pub struct CompareOut {
    pub means: Means,
    pub changes: Comparison,
}

/// Runs the corpus view.
pub fn run(
    req: &Request,
    model: Loaded,
    other: Option<Loaded>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let loaded = read_sentences(req.dataset)?;
    for problem in &loaded.problems {
        eprintln!("spanscope: {problem}");
    }
    if !loaded.problems.is_empty() {
        bail!(
            "{}: {} unreadable record(s); means over part of the data would mislead",
            req.dataset.display(),
            loaded.problems.len()
        );
    }
    let mut sentences = loaded.sentences;
    sentences.truncate(req.limit.unwrap_or(usize::MAX));
    let shape = |m: &Aspert| {
        let e = &m.config().encoder;
        (e.num_hidden_layers, e.num_attention_heads)
    };
    if let Some(o) = other {
        if shape(o.1) != shape(model.1) {
            bail!(
                "--compare-model {}: its encoder has {:?} layers x heads, {} has {:?}",
                o.0.display(),
                shape(o.1),
                model.0.display(),
                shape(model.1)
            );
        }
    }
    let means = means_of(model, &sentences, req.dataset)?;
    let compare = match other {
        None => None,
        Some(o) => {
            let other = means_of(o, &sentences, req.dataset)?;
            let changes = Comparison {
                entities: changes(&means.entities, &other.entities),
                relations: changes(&means.relations, &other.relations),
            };
            Some(CompareOut { means: other, changes })
        }
    };
    let corpus = Corpus {
        dataset: req.dataset.display().to_string(),
        by: req.by,
        sentences: sentences.len(),
        means,
        compare,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&corpus)?);
    } else {
        print!("{}", render(&corpus));
    }
    Ok(ExitCode::SUCCESS)
}

/// Sums of importance per type, and how many targets went in.
#[derive(Default)]
struct Sums {
    by_type: BTreeMap<String, (usize, usize, Vec<f32>)>,
}

impl Sums {
    fn add(&mut self, name: &str, agree: bool, grid: &HeadGrid) {
        let entry = self
            .by_type
            .entry(name.to_string())
            .or_insert_with(|| (0, 0, vec![0.0; grid.values.len()]));
        entry.0 += 1;
        entry.1 += agree as usize;
        entry.2.iter_mut().zip(&grid.values).for_each(|(s, v)| *s += v);
    }

    fn means(self, (layers, heads): (usize, usize)) -> Vec<TypeMeans> {
        self.by_type
            .into_iter()
            .map(|(type_name, (count, agree, sum))| {
                let mean = HeadGrid {
                    layers,
                    heads,
                    values: sum.iter().map(|s| s / count as f32).collect(),
                };
                let top_heads = mean
                    .ranked()
                    .into_iter()
                    .take(TOP)
                    .map(|(h, v)| HeadValue::new(h, v))
                    .collect();
                TypeMeans { type_name, count, agree, mean, top_heads }
            })
            .collect()
    }
}

/// Importance of every gold entity and relation of `sentences` with one model.
fn means_of(
    (dir, model, pieces): Loaded,
    sentences: &[Sentence],
    dataset: &Path,
) -> anyhow::Result<Means> {
    let cfg = model.config();
    let shape = (cfg.encoder.num_hidden_layers, cfg.encoder.num_attention_heads);
    let mut entities = Sums::default();
    let mut relations = Sums::default();
    let mut skipped = Skipped::default();
    let bar = progress_bar(sentences.len() as u64);
    for (record, sentence) in sentences.iter().enumerate() {
        bar.inc(1);
        let tokens = &sentence.tokens;
        if tokens.is_empty() {
            continue;
        }
        if pieces.encode(tokens, cfg.max_pieces).words_kept < tokens.len() {
            skipped.sentences_too_long += 1;
            continue;
        }
        let at = |what: String| {
            format!("{}: record {record}: {what} (model {})", dataset.display(), dir.display())
        };
        let fits = |s: usize, e: usize| e > s && e - s <= cfg.max_span_width && e <= tokens.len();
        for (i, e) in sentence.entities.iter().enumerate() {
            if !fits(e.start, e.end) {
                skipped.spans_too_wide += 1;
                continue;
            }
            let target = Target::Entity { span: Words::new(e.start, e.end) };
            let ex = Explainer::new(model, pieces, tokens, target)
                .and_then(|ex| ex.explaining(&e.entity_type))
                .with_context(|| at(format!("entity {i}")))?;
            let grid = ex.importance().with_context(|| at(format!("entity {i}")))?;
            entities.add(&e.entity_type, ex.prediction().predicted == e.entity_type, &grid);
        }
        for (i, r) in sentence.relations.iter().enumerate() {
            let (Some(h), Some(t)) = (sentence.entities.get(r.head), sentence.entities.get(r.tail))
            else {
                skipped.broken_relations += 1;
                continue;
            };
            if !cfg.relation_types.contains(&r.relation_type) {
                skipped.unknown_relation_types += 1;
                continue;
            }
            if !fits(h.start, h.end) || !fits(t.start, t.end) {
                skipped.relations_with_wide_spans += 1;
                continue;
            }
            let target = Target::Relation {
                head: Words::new(h.start, h.end),
                tail: Words::new(t.start, t.end),
                relation: Some(r.relation_type.clone()),
            };
            let ex = Explainer::new(model, pieces, tokens, target)
                .with_context(|| at(format!("relation {i}")))?;
            let grid = ex.importance().with_context(|| at(format!("relation {i}")))?;
            relations.add(&r.relation_type, ex.prediction().predicted == r.relation_type, &grid);
        }
    }
    bar.finish_and_clear();
    Ok(Means {
        model: dir.display().to_string(),
        entities: entities.means(shape),
        relations: relations.means(shape),
        skipped,
    })
}

/// Per type in both, the heads whose mean moved most (by absolute change).
fn changes(before: &[TypeMeans], after: &[TypeMeans]) -> Vec<TypeChange> {
    before
        .iter()
        .filter_map(|b| {
            let a = after.iter().find(|a| a.type_name == b.type_name)?;
            let diff = HeadGrid {
                layers: b.mean.layers,
                heads: b.mean.heads,
                values: a
                    .mean
                    .values
                    .iter()
                    .zip(&b.mean.values)
                    .map(|(x, y)| (x - y).abs())
                    .collect(),
            };
            let changes = diff
                .ranked()
                .into_iter()
                .take(TOP)
                .map(|(h, _)| {
                    let (was, now) = (b.mean.get(h), a.mean.get(h));
                    HeadChange { head: HeadValue::new(h, now - was), before: was, after: now }
                })
                .collect();
            Some(TypeChange { type_name: b.type_name.clone(), changes })
        })
        .collect()
}

/// The table: per type its count, top heads and a compact grid; then what was skipped and,
/// when comparing, the largest changes.
fn render(c: &Corpus) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "mean head importance |∂score/∂ξ| by type: {} sentences of {}, model {}",
        c.sentences, c.dataset, c.means.model
    );
    section(&mut out, "entity", &c.means.entities);
    section(&mut out, "relation", &c.means.relations);
    skipped(&mut out, &c.means.skipped);
    if let Some(cmp) = &c.compare {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "changed most from {} to {} (mean importance before → after):",
            c.means.model, cmp.means.model
        );
        for (kind, list) in
            [("entity", &cmp.changes.entities), ("relation", &cmp.changes.relations)]
        {
            for t in list {
                if t.changes.iter().all(|h| h.head.value == 0.0) {
                    let _ = writeln!(out, "  {kind} {}: no head's mean changed", t.type_name);
                    continue;
                }
                let heads: Vec<String> = t
                    .changes
                    .iter()
                    .map(|h| {
                        format!(
                            "{} {:.3} → {:.3} ({:+.3})",
                            h.head.name, h.before, h.after, h.head.value
                        )
                    })
                    .collect();
                let _ = writeln!(out, "  {kind} {}: {}", t.type_name, heads.join(", "));
            }
        }
        skipped(&mut out, &cmp.means.skipped);
    }
    out
}

fn section(out: &mut String, kind: &str, types: &[TypeMeans]) {
    for t in types {
        let _ = writeln!(out);
        let heads: Vec<String> =
            t.top_heads.iter().map(|h| format!("{} {:.3}", h.name, h.value)).collect();
        let _ = writeln!(
            out,
            "{kind} {} ({} gold, {} predicted as such): {}",
            t.type_name,
            t.count,
            t.agree,
            heads.join(", ")
        );
        out.push_str(&compact_grid(&t.mean));
    }
}

fn skipped(out: &mut String, s: &Skipped) {
    let parts: Vec<String> = [
        (s.sentences_too_long, "sentences longer than the model reads"),
        (s.spans_too_wide, "entities wider than the widest span"),
        (s.relations_with_wide_spans, "relations on such entities"),
        (s.unknown_relation_types, "relations of types the model lacks"),
        (s.broken_relations, "relations pointing past the entities"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if !parts.is_empty() {
        let _ = writeln!(out, "skipped: {}", parts.join(", "));
    }
}
