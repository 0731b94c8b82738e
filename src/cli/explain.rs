//! `spanscope explain`: one prediction explained (`--text` with `--span` or `--relation`), or
//! mean head importance per type over a dataset (`--dataset`, in [`super::explain_corpus`]).
//! The numbers come from `spanscope::explain::prediction`; this file gathers them into one
//! [`Explanation`], printed by [`super::explain_report`] or as JSON, drawn by
//! [`super::explain_svg`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use candle_core::DType;
use serde::Serialize;
use spanscope::data::io::write_atomic;
use spanscope::data::text::words;
use spanscope::explain::prediction::{FlipSet, Reading, WordAttributions};
use spanscope::explain::{
    Contribution, Explainer, FlipLimits, Head, HeadGrid, Mode, Target, Words,
};
use spanscope::model::aspert::Aspert;
use spanscope::model::checkpoint;
use spanscope::model::device::DeviceSpec;

use super::heads::parse_span;
use super::model_arg::checkpoint_dir;
use super::{explain_corpus, explain_report, explain_svg};

/// Arguments of `spanscope explain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sentence, as plain text (split into words like a .txt document).
    #[arg(long, required_unless_present = "dataset", conflicts_with = "dataset")]
    text: Option<String>,

    /// Explain the entity prediction of this span: words FIRST-LAST, from 1, LAST included
    /// (`4-5`; `4` for one word). The older START:END, from 0 with END excluded, is still read.
    #[arg(long, value_name = "FIRST-LAST", conflicts_with = "relation")]
    span: Option<String>,

    /// Explain a relation: head and tail spans, numbered as --span, and optionally the
    /// relation type (default: the type the model scores highest for the pair).
    #[arg(long, value_name = "A-B,C-D[,TYPE]")]
    relation: Option<String>,

    /// A spanscope checkpoint. Default: the bundled model.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,

    /// Mask these heads and show the reading before and after: layer.head from 1, comma
    /// separated (`3.9,4.1`).
    #[arg(long, value_name = "L.H,..", conflicts_with_all = ["ablate_layer", "ablate_top"])]
    ablate: Option<String>,

    /// Mask every head of layer L (from 1).
    #[arg(long, value_name = "L", conflicts_with = "ablate_top")]
    ablate_layer: Option<usize>,

    /// Mask the K most important heads.
    #[arg(long, value_name = "K")]
    ablate_top: Option<usize>,

    /// Where heads are masked (sweep, flip sets, --ablate*): in the encoder, only their f_a
    /// feature, or both.
    #[arg(long, value_enum, default_value_t = ModeArg::Both)]
    mode: ModeArg,

    /// Integration steps of the word attributions (integrated gradients).
    #[arg(long, default_value_t = 32, value_name = "N")]
    steps: usize,

    /// How many heads and words the report lists.
    #[arg(long, default_value_t = 5, value_name = "K")]
    top: usize,

    /// Print one JSON object (keys in docs/EXPLAIN.md) instead of the report.
    #[arg(long)]
    json: bool,

    /// Also draw the f_a, importance and word maps as SVG into FILE (written atomically).
    #[arg(long, value_name = "FILE", conflicts_with = "dataset")]
    svg: Option<PathBuf>,

    /// Mean head importance per type over the gold entities and relations of a SpERT
    /// dataset, instead of one prediction.
    #[arg(long, value_name = "FILE")]
    dataset: Option<PathBuf>,

    /// How the dataset's targets are grouped.
    #[arg(long, value_enum, default_value_t = By::Type, requires = "dataset")]
    by: By,

    /// Use at most the first N sentences of the dataset.
    #[arg(long, value_name = "N", requires = "dataset")]
    limit: Option<usize>,

    /// A second checkpoint: show per type the heads whose mean importance changed most.
    #[arg(long, value_name = "DIR", requires = "dataset")]
    compare_model: Option<PathBuf>,

    #[command(flatten)]
    pub(super) device: super::device_arg::DeviceArgs,
}

/// The modes `--mode` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ModeArg {
    Encoder,
    #[value(name = "f_a")]
    AttentionFeature,
    Both,
}

/// How `--dataset` groups its targets (the type is the only grouping so far).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    Type,
}

/// Runs `spanscope explain`.
pub fn run(args: Args, device: DeviceSpec) -> anyhow::Result<ExitCode> {
    let device = device.open()?;
    let dir = checkpoint_dir(args.model.as_deref())?;
    let load = |dir: &Path| {
        checkpoint::load(dir, &device, DType::F32)
            .with_context(|| format!("loading model {}", dir.display()))
    };
    if let Some(dataset) = &args.dataset {
        let (model, _, pieces, _) = load(&dir)?;
        let other_dir =
            args.compare_model.as_deref().map(|d| checkpoint_dir(Some(d))).transpose()?;
        let other = other_dir.as_deref().map(load).transpose()?;
        let other = other_dir.as_deref().zip(other.as_ref()).map(|(d, (m, _, p, _))| (d, m, p));
        let corpus = explain_corpus::Request { dataset, limit: args.limit, by: args.by };
        return explain_corpus::run(&corpus, (&dir, &model, &pieces), other, args.json);
    }
    let text = args.text.as_deref().expect("clap requires --text without --dataset");
    let tokens = words(text);
    if tokens.is_empty() {
        bail!("--text has no words");
    }
    let (model, _, pieces, _) = load(&dir)?;
    let target = parse_target(&args, &tokens, &model)?;
    let ablate = ablation_arg(&args);
    if let Some(arg) = &ablate {
        // Checked against the model's shape before any pass: the ranking does not matter yet.
        let cfg = &model.config().encoder;
        let shape = (cfg.num_hidden_layers, cfg.num_attention_heads);
        let flat =
            HeadGrid { layers: shape.0, heads: shape.1, values: vec![0.0; shape.0 * shape.1] };
        ablated_heads(arg, shape, &flat)?;
    }
    let explainer = Explainer::new(&model, &pieces, &tokens, target)
        .with_context(|| format!("explaining with model {}", dir.display()))?;
    let modes = modes(args.mode, &model)?;
    let request = Request { modes, steps: args.steps, top: args.top, ablate };
    let explanation = explain(&explainer, &model, &dir, &request, pieces.mask_id.is_some())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&explanation)?);
    } else {
        print!("{}", explain_report::render(&explanation, args.top));
    }
    if let Some(path) = &args.svg {
        write_atomic(path, explain_svg::render(&explanation).as_bytes())?;
        eprintln!("maps written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `--span` or `--relation`, checked against the sentence and the model's types.
fn parse_target(args: &Args, tokens: &[String], model: &Aspert) -> anyhow::Result<Target> {
    let span = |flag: &str, text: &str| -> anyhow::Result<Words> {
        let (start, end) = parse_span(flag, text, tokens.len())?;
        Ok(Words::new(start, end))
    };
    match (&args.span, &args.relation) {
        (Some(s), None) => Ok(Target::Entity { span: span("--span", s)? }),
        (None, Some(r)) => {
            let parts: Vec<&str> = r.split(',').map(str::trim).collect();
            let (head, tail, relation) = match parts.as_slice() {
                [h, t] => (h, t, None),
                [h, t, ty] => (h, t, Some(ty.to_string())),
                _ => bail!("--relation {r:?}: expected HEAD,TAIL[,TYPE], e.g. 2-3,9-11,Work_For"),
            };
            let types = &model.config().relation_types;
            if let Some(ty) = &relation {
                if !types.contains(ty) {
                    bail!(
                        "--relation {r:?}: the model has no relation type {ty:?} (it has {})",
                        types.join(", ")
                    );
                }
            }
            Ok(Target::Relation {
                head: span("--relation head", head)?,
                tail: span("--relation tail", tail)?,
                relation,
            })
        }
        _ => bail!("give --span FIRST-LAST or --relation A-B,C-D[,TYPE] (or --dataset FILE)"),
    }
}

/// The masking modes asked for that the model has: f_a only exists when it feeds ASpERT's
/// classifier.
fn modes(arg: ModeArg, model: &Aspert) -> anyhow::Result<Vec<Mode>> {
    let has_fa = model.config().attention_contribution;
    Ok(match arg {
        ModeArg::Encoder => vec![Mode::Encoder],
        ModeArg::AttentionFeature if !has_fa => bail!(
            "--mode f_a: the model ({}) has no f_a features to mask",
            model.config().variant()
        ),
        ModeArg::AttentionFeature => vec![Mode::AttentionFeature],
        ModeArg::Both if has_fa => vec![Mode::Encoder, Mode::AttentionFeature],
        ModeArg::Both => vec![Mode::Encoder],
    })
}

/// Which heads `--ablate*` masks, before they are checked against the model.
#[derive(Debug, Clone, PartialEq)]
enum AblationArg {
    Heads(String),
    Layer(usize),
    Top(usize),
}

fn ablation_arg(args: &Args) -> Option<AblationArg> {
    match (&args.ablate, args.ablate_layer, args.ablate_top) {
        (Some(h), _, _) => Some(AblationArg::Heads(h.clone())),
        (_, Some(l), _) => Some(AblationArg::Layer(l)),
        (_, _, Some(k)) => Some(AblationArg::Top(k)),
        _ => None,
    }
}

/// Parses `L.H,L.H,..` (from 1) and checks every head against the model's shape.
fn parse_heads(text: &str, (layers, heads): (usize, usize)) -> anyhow::Result<Vec<Head>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        let Some((l, h)) = part.split_once('.') else {
            bail!("--ablate {text:?}: {part:?} is not LAYER.HEAD (from 1, e.g. 3.9)");
        };
        let number = |s: &str, what: &str, count: usize| -> anyhow::Result<usize> {
            let n: usize = s
                .parse()
                .with_context(|| format!("--ablate {text:?}: {part:?} has a bad {what}"))?;
            if n == 0 || n > count {
                bail!(
                    "--ablate {text:?}: {what} {n} of {part:?} is outside the model's \
                     {layers} layers x {heads} heads (both count from 1)"
                );
            }
            Ok(n - 1)
        };
        let head = Head { layer: number(l, "layer", layers)?, head: number(h, "head", heads)? };
        if !out.contains(&head) {
            out.push(head);
        }
    }
    Ok(out)
}

/// The heads an `--ablate*` argument names.
fn ablated_heads(
    arg: &AblationArg,
    shape: (usize, usize),
    importance: &HeadGrid,
) -> anyhow::Result<Vec<Head>> {
    let (layers, heads) = shape;
    match arg {
        AblationArg::Heads(text) => parse_heads(text, shape),
        AblationArg::Layer(l) if *l == 0 || *l > layers => {
            bail!("--ablate-layer {l}: the model has layers 1 to {layers}")
        }
        AblationArg::Layer(l) => Ok((0..heads).map(|head| Head { layer: l - 1, head }).collect()),
        AblationArg::Top(k) if *k == 0 || *k > layers * heads => {
            bail!("--ablate-top {k}: the model has {} heads", layers * heads)
        }
        AblationArg::Top(k) => {
            Ok(importance.ranked().into_iter().take(*k).map(|(h, _)| h).collect())
        }
    }
}

/// What one explanation computes.
struct Request {
    modes: Vec<Mode>,
    steps: usize,
    top: usize,
    ablate: Option<AblationArg>,
}

/// A head as the tools write it: `L3·H9`, both from 1.
pub(super) fn head_name(h: Head) -> String {
    format!("L{}·H{}", h.layer + 1, h.head + 1)
}

/// A head with a value, for lists.
#[derive(Debug, Clone, Serialize)]
pub(super) struct HeadValue {
    pub head: Head,
    pub name: String,
    pub value: f32,
}

impl HeadValue {
    pub(super) fn new(head: Head, value: f32) -> Self {
        Self { head, name: head_name(head), value }
    }
}

/// One ablation of a set of heads (or of words) and what it did.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Ablated {
    pub reading: Reading,
    /// Unmasked score minus this one: positive means the masking lowered the score.
    pub drop: f32,
    pub flips: bool,
}

/// A single head's ablation.
#[derive(Debug, Clone, Serialize)]
pub(super) struct HeadAblated {
    pub head: Head,
    pub name: String,
    #[serde(flatten)]
    pub ablated: Ablated,
}

/// The single-head sweep of one mode, summarised.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Sweep {
    /// Heads examined (all of them).
    pub heads: usize,
    /// Every head whose masking alone changes the prediction, largest drop first.
    pub flips: Vec<HeadAblated>,
    /// The `top` largest drops of the score.
    pub largest_drops: Vec<HeadAblated>,
}

/// Sweep and flip set of one masking mode.
#[derive(Debug, Clone, Serialize)]
pub(super) struct ModeReport {
    pub sweep: Sweep,
    pub flip_set: FlipSet,
}

/// Values kept per masking mode; a mode not run is absent.
#[derive(Debug, Clone, Serialize)]
pub(super) struct PerMode<T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoder: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f_a: Option<T>,
}

impl<T> Default for PerMode<T> {
    fn default() -> Self {
        Self { encoder: None, f_a: None }
    }
}

impl<T> PerMode<T> {
    fn set(&mut self, mode: Mode, value: T) {
        match mode {
            Mode::Encoder => self.encoder = Some(value),
            Mode::AttentionFeature => self.f_a = Some(value),
        }
    }

    /// The modes present, encoder first.
    pub(super) fn iter(&self) -> impl Iterator<Item = (Mode, &T)> {
        [(Mode::Encoder, &self.encoder), (Mode::AttentionFeature, &self.f_a)]
            .into_iter()
            .filter_map(|(m, v)| v.as_ref().map(|v| (m, v)))
    }
}

/// Words replaced by `[MASK]`.
#[derive(Debug, Clone, Serialize)]
pub(super) struct WordMasking {
    pub words: Vec<usize>,
    pub tokens: Vec<String>,
    #[serde(flatten)]
    pub ablated: Ablated,
}

/// `--ablate*`: the heads masked and the reading in each mode.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Ablation {
    pub heads: Vec<HeadValue>,
    pub modes: PerMode<Ablated>,
}

/// Everything `spanscope explain` reports about one prediction (the JSON object).
#[derive(Debug, Clone, Serialize)]
pub(super) struct Explanation {
    pub model: String,
    pub variant: String,
    pub tokens: Vec<String>,
    pub target: Target,
    /// The label explained: the entity type predicted (or `none`), or the relation type.
    pub label: String,
    pub prediction: Reading,
    /// α: a relation is predicted when the sigmoid of its logit exceeds it.
    pub relation_threshold: f32,
    /// |∂score/∂ξ| per layer and head.
    pub importance: HeadGrid,
    pub top_heads: Vec<HeadValue>,
    pub modes: PerMode<ModeReport>,
    pub words: WordAttributions,
    /// Each of the top words masked alone, then all of them together; empty when the
    /// tokenizer has no `[MASK]`.
    pub word_masking: Vec<WordMasking>,
    /// f_a of the span (a relation: head, then tail); absent for a model without f_a.
    pub contribution: Option<Vec<Contribution>>,
    pub ablation: Option<Ablation>,
}

impl Explanation {
    pub(super) fn is_relation(&self) -> bool {
        matches!(self.target, Target::Relation { .. })
    }
}

/// Runs every explanation the request asks for.
fn explain(
    ex: &Explainer,
    model: &Aspert,
    dir: &Path,
    req: &Request,
    can_mask_words: bool,
) -> anyhow::Result<Explanation> {
    let base = ex.prediction();
    let ablated = |reading: Reading| Ablated {
        drop: base.score - reading.score,
        flips: ex.flips(&reading),
        reading,
    };
    let importance = ex.importance()?;
    let ablated_set = match &req.ablate {
        Some(arg) => Some(ablated_heads(arg, ex.shape(), &importance)?),
        None => None,
    };
    let top_heads: Vec<HeadValue> =
        importance.ranked().into_iter().take(req.top).map(|(h, v)| HeadValue::new(h, v)).collect();

    let mut modes = PerMode::default();
    for &mode in &req.modes {
        let mut all: Vec<HeadAblated> = ex
            .sweep(mode)?
            .into_iter()
            .map(|(head, r)| HeadAblated { head, name: head_name(head), ablated: ablated(r) })
            .collect();
        all.sort_by(|a, b| b.ablated.drop.total_cmp(&a.ablated.drop).then(a.head.cmp(&b.head)));
        let sweep = Sweep {
            heads: all.len(),
            flips: all.iter().filter(|a| a.ablated.flips).cloned().collect(),
            largest_drops: all.iter().take(req.top).cloned().collect(),
        };
        let flip_set = ex.flip_set(&importance, mode, FlipLimits::default())?;
        modes.set(mode, ModeReport { sweep, flip_set });
    }

    let words = ex.words(req.steps)?;
    let mut word_masking = Vec::new();
    if can_mask_words {
        let top: Vec<usize> = words.ranked().iter().take(req.top).map(|w| w.word).collect();
        let mut sets: Vec<Vec<usize>> = top.iter().map(|&w| vec![w]).collect();
        if top.len() > 1 {
            sets.push(top.clone());
        }
        let readings = ex.mask_words(&sets)?;
        word_masking = sets
            .into_iter()
            .zip(readings)
            .map(|(set, r)| WordMasking {
                tokens: set.iter().map(|&w| ex.tokens()[w].clone()).collect(),
                words: set,
                ablated: ablated(r),
            })
            .collect();
    }

    let ablation = match ablated_set {
        None => None,
        Some(heads) => {
            let mut per = PerMode::default();
            for &mode in &req.modes {
                let reading = ex.ablate(std::slice::from_ref(&heads), mode)?.remove(0);
                per.set(mode, ablated(reading));
            }
            let heads = heads.into_iter().map(|h| HeadValue::new(h, importance.get(h))).collect();
            Some(Ablation { heads, modes: per })
        }
    };

    let contribution =
        if model.config().attention_contribution { Some(ex.contribution()?) } else { None };

    Ok(Explanation {
        model: dir.display().to_string(),
        variant: model.config().variant().to_string(),
        tokens: ex.tokens().to_vec(),
        target: ex.target().clone(),
        label: ex.label(),
        prediction: base.clone(),
        relation_threshold: model.config().relation_threshold,
        importance,
        top_heads,
        modes,
        words,
        word_masking,
        contribution,
        ablation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_read_from_one_and_checked_against_the_model() {
        let h = parse_heads("3.9, 1.1,3.9", (6, 12)).unwrap();
        assert_eq!(h, [Head { layer: 2, head: 8 }, Head { layer: 0, head: 0 }]);
        assert_eq!(head_name(h[0]), "L3·H9");
        let err = parse_heads("7.1", (6, 12)).unwrap_err().to_string();
        assert!(err.contains("layer 7") && err.contains("6 layers x 12 heads"), "{err}");
        assert!(parse_heads("1.13", (6, 12)).is_err());
        assert!(parse_heads("0.1", (6, 12)).is_err());
        assert!(parse_heads("3", (6, 12)).unwrap_err().to_string().contains("LAYER.HEAD"));
        assert!(parse_heads("a.b", (6, 12)).is_err());
    }

    #[test]
    fn a_layer_or_the_top_heads_name_their_heads() {
        let grid = HeadGrid { layers: 2, heads: 2, values: vec![0.1, 0.4, 0.3, 0.2] };
        let layer = ablated_heads(&AblationArg::Layer(2), (2, 2), &grid).unwrap();
        assert_eq!(layer, [Head { layer: 1, head: 0 }, Head { layer: 1, head: 1 }]);
        let top = ablated_heads(&AblationArg::Top(2), (2, 2), &grid).unwrap();
        assert_eq!(top, [Head { layer: 0, head: 1 }, Head { layer: 1, head: 0 }]);
        assert!(ablated_heads(&AblationArg::Layer(3), (2, 2), &grid).is_err());
        assert!(ablated_heads(&AblationArg::Top(5), (2, 2), &grid).is_err());
    }
}
