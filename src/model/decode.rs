//! Prediction: candidates → span classifier → entities (arg-max not `none`, section 3.3) →
//! every ordered pair of predicted entities → relation classifier → types above α (section 3.4).

use std::collections::BTreeMap;
use std::ops::Range;

use candle_core::{DType, Device, Result, Tensor, D};
use serde_json::{Map, Value};

use super::aspert::{encoding_contribution, Aspert, Encoding};
use super::batch::{budget_passes, Batching, PairBatch, PieceBatch, SpanBatch, PACKED_PIECES};
use super::candidates::{span_candidates, span_pieces, SpanCandidate};
use super::contribution::{span_contribution, Contribution, Fusion};
use super::encoder::{pad_batch, BertEncoder};
use super::overlap::{keep_best_of_overlaps, EntityDecoding};
use super::windows::predict_in_windows;
use crate::data::wordpiece::{EncodedSentence, WordPieces};
use crate::data::{Entity, Relation, Sentence};

/// The value of the `"source"` key on predicted entities and relations.
pub const MODEL_SOURCE: &str = "model";

/// A predicted entity.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictedEntity {
    /// First word.
    pub start: usize,
    /// One past the last word.
    pub end: usize,
    /// Entity type name.
    pub entity_type: String,
    /// Probability of `entity_type`.
    pub score: f32,
    /// Softmax over `none` (index 0) and every entity type (eq. 9 or 3).
    pub probabilities: Vec<f32>,
}

/// A predicted relation between two predicted entities.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictedRelation {
    /// Index of the head in [`SentencePrediction::entities`].
    pub head: usize,
    /// Index of the tail in [`SentencePrediction::entities`].
    pub tail: usize,
    /// Relation type name.
    pub relation_type: String,
    /// Sigmoid of the type (eq. 5).
    pub score: f32,
}

/// What the model predicts for one sentence.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SentencePrediction {
    /// Entities ordered by start, then end; overlapping and nested spans are allowed unless the
    /// model decodes flat ([`EntityDecoding::Flat`]).
    pub entities: Vec<PredictedEntity>,
    /// Relations ordered by head, tail, then type.
    pub relations: Vec<PredictedRelation>,
    /// What the user must know about how the sentence was predicted: that it was longer than
    /// the encoder and predicted in windows, and what no window could score. Empty for a
    /// sentence that fits.
    pub notes: Vec<String>,
}

impl SentencePrediction {
    /// A SpERT record with `tokens` kept exactly; each entity and relation carries its score
    /// under `"score"` and `"source": "model"`.
    pub fn to_sentence(&self, tokens: &[String]) -> Sentence {
        let extra = |score: f32| {
            let mut m = Map::new();
            m.insert("score".into(), Value::from(score as f64));
            m.insert("source".into(), Value::from(MODEL_SOURCE));
            m
        };
        let entities = self
            .entities
            .iter()
            .map(|e| Entity {
                extra: extra(e.score),
                ..Entity::new(&e.entity_type, e.start, e.end)
            })
            .collect();
        let relations = self
            .relations
            .iter()
            .map(|r| Relation {
                extra: extra(r.score),
                ..Relation::new(&r.relation_type, r.head, r.tail)
            })
            .collect();
        Sentence { tokens: tokens.to_vec(), entities, relations, extra: Map::new() }
    }
}

/// Entities from span class probabilities: every candidate whose arg-max is not `none`
/// (section 3.3), ordered by start then end.
pub fn decode_entities<P: AsRef<[f32]>>(
    candidates: &[SpanCandidate],
    probabilities: &[P],
    entity_types: &[String],
) -> Vec<(usize, PredictedEntity)> {
    let mut found: Vec<(usize, PredictedEntity)> = candidates
        .iter()
        .zip(probabilities)
        .enumerate()
        .filter_map(|(i, (span, probs))| {
            let probs = probs.as_ref();
            let (best, score) = probs
                .iter()
                .copied()
                .enumerate()
                .fold((0, f32::MIN), |acc, (k, p)| if p > acc.1 { (k, p) } else { acc });
            let entity_type = entity_types.get(best.checked_sub(1)?)?.clone();
            let entity = PredictedEntity {
                start: span.start,
                end: span.end,
                entity_type,
                score,
                probabilities: probs.to_vec(),
            };
            Some((i, entity))
        })
        .collect();
    found.sort_by_key(|(_, e)| (e.start, e.end));
    found
}

/// Relations from the sigmoid outputs of ordered entity pairs: a type fires above `alpha`
/// (section 3.4). For symmetric types one direction is kept, headed by the entity that starts
/// first, with the higher score of the two directions.
pub fn decode_relations(
    entities: &[PredictedEntity],
    pairs: &[(usize, usize)],
    probabilities: &[Vec<f32>],
    relation_types: &[String],
    symmetric: &[bool],
    alpha: f32,
) -> Vec<PredictedRelation> {
    let mut found: BTreeMap<(usize, usize, usize), f32> = BTreeMap::new();
    for (&(head, tail), probs) in pairs.iter().zip(probabilities) {
        for (r, &p) in probs.iter().enumerate().filter(|(r, _)| *r < relation_types.len()) {
            if p <= alpha {
                continue;
            }
            let key_of = |e: usize| entities.get(e).map(|x| (x.start, x.end, e));
            let (head, tail) =
                if symmetric.get(r).copied().unwrap_or(false) && key_of(tail) < key_of(head) {
                    (tail, head)
                } else {
                    (head, tail)
                };
            let best = found.entry((head, tail, r)).or_insert(p);
            *best = best.max(p);
        }
    }
    found
        .into_iter()
        .map(|((head, tail, r), score)| PredictedRelation {
            head,
            tail,
            relation_type: relation_types[r].clone(),
            score,
        })
        .collect()
}

/// Predicts entities and relations for `sentences` (their annotations are ignored), in
/// batches of up to `batch_size`, and returns the predictions in the order of `sentences`.
/// A sentence longer than the encoder's piece budget is predicted in overlapping windows
/// ([`super::windows`]).
///
/// Batches group sentences of similar length, since every sentence of a batch is padded to its
/// longest member and batches in file order classify far more padded candidate spans
/// (docs/BENCHMARKS.md, "Figures that were code comments"). A sentence's prediction does not
/// depend on the others in its batch. On the CPU the encoder packs the sentences
/// ([`Batching::Packed`]).
pub fn predict(
    model: &Aspert,
    pieces: &WordPieces,
    sentences: &[Sentence],
    batch_size: usize,
    device: &Device,
) -> Result<Vec<SentencePrediction>> {
    let batching = batching_of(model);
    predict_batched(model, pieces, sentences, batch_size, batching, device)
}

/// [`predict`] with the batching named rather than chosen by the model.
pub fn predict_batched(
    model: &Aspert,
    pieces: &WordPieces,
    sentences: &[Sentence],
    batch_size: usize,
    batching: Batching,
    device: &Device,
) -> Result<Vec<SentencePrediction>> {
    predict_over(model, pieces, sentences, batch_size, batching, false, device)
}

/// Packed where the model can pack ([`Aspert::packs`]: an inference copy on the CPU), padded
/// elsewhere (the GPU replays recorded graphs of padded batches).
fn batching_of(model: &Aspert) -> Batching {
    if model.packs() {
        Batching::Packed
    } else {
        Batching::Padded
    }
}

/// [`predict`] with the sentences' annotated entities in place of the predicted ones:
/// relations are classified between the annotated entities (relation extraction with given
/// entities). Each returned entity is an annotated one, with the model's probabilities for its
/// span; entities the model cannot see (wider than its maximum span width, or beyond its piece
/// budget) are left out, with their relations.
pub fn predict_relations_between_annotated(
    model: &Aspert,
    pieces: &WordPieces,
    sentences: &[Sentence],
    batch_size: usize,
    device: &Device,
) -> Result<Vec<SentencePrediction>> {
    predict_over(model, pieces, sentences, batch_size, batching_of(model), true, device)
}

fn predict_over(
    model: &Aspert,
    pieces: &WordPieces,
    sentences: &[Sentence],
    batch_size: usize,
    batching: Batching,
    annotated: bool,
    device: &Device,
) -> Result<Vec<SentencePrediction>> {
    let max_pieces = model.config().max_pieces;
    let encoded: Vec<EncodedSentence> =
        sentences.iter().map(|s| pieces.encode(&s.tokens, max_pieces)).collect();
    let fits = |i: usize| encoded[i].words_kept == sentences[i].tokens.len();
    let mut out = vec![SentencePrediction::default(); sentences.len()];
    for i in (0..sentences.len()).filter(|&i| !fits(i)) {
        let given = annotated.then_some(&sentences[i]);
        out[i] =
            predict_in_windows(model, pieces, &sentences[i].tokens, given, i, batch_size, device)?;
    }
    let mut order: Vec<usize> = (0..encoded.len()).filter(|&i| fits(i)).collect();
    // Stable: equal lengths keep the input order.
    order.sort_by_key(|&i| encoded[i].ids.len());
    let given = |chunk: &[usize]| -> Option<Vec<&Sentence>> {
        annotated.then(|| chunk.iter().map(|&i| &sentences[i]).collect())
    };
    if batching == Batching::Packed {
        let group = batch_size.max(1);
        for pass in budget_passes(&order, |i| encoded[i].ids.len(), PACKED_PIECES) {
            let ids: Vec<&[u32]> = pass.iter().map(|&i| encoded[i].ids.as_slice()).collect();
            let encodings = model.encode_packed(&ids, group)?;
            for (chunk, enc) in pass.chunks(group).zip(encodings) {
                let batch: Vec<&EncodedSentence> = chunk.iter().map(|&i| &encoded[i]).collect();
                let queued = QueuedBatch::with_encoding(model, &batch, || Ok(enc))?;
                let probabilities = queued.span_probabilities()?;
                let predictions = queued.finish(model, probabilities, given(chunk).as_deref())?;
                for (&i, prediction) in chunk.iter().zip(predictions) {
                    out[i] = prediction;
                }
            }
        }
        return Ok(out);
    }
    let chunks: Vec<&[usize]> = order.chunks(batch_size.max(1)).collect();
    let queue = |chunk: &[usize]| {
        let batch: Vec<&EncodedSentence> = chunk.iter().map(|&i| &encoded[i]).collect();
        QueuedBatch::queue(model, pieces, &batch, device)
    };
    let mut next = chunks.first().map(|chunk| queue(chunk)).transpose()?;
    for (k, chunk) in chunks.iter().enumerate() {
        let Some(current) = next.take() else { break };
        let probabilities = current.span_probabilities()?;
        // The next batch's encoder runs on the device while the host decodes this batch and
        // queues its relations (which the device runs after it).
        next = chunks.get(k + 1).map(|chunk| queue(chunk)).transpose()?;
        let predictions = current.finish(model, probabilities, given(chunk).as_deref())?;
        for (&i, prediction) in chunk.iter().zip(predictions) {
            out[i] = prediction;
        }
    }
    Ok(out)
}

/// `sentence`'s annotated entities that are candidates, as (candidate index, entity with the
/// span's probabilities), ordered by start then end like [`decode_entities`].
fn annotated_entities<P: AsRef<[f32]>>(
    candidates: &[SpanCandidate],
    probabilities: &[P],
    entity_types: &[String],
    sentence: &Sentence,
) -> Vec<(usize, PredictedEntity)> {
    let mut found: Vec<(usize, PredictedEntity)> = sentence
        .entities
        .iter()
        .filter_map(|e| {
            let i = candidates.iter().position(|c| c.start == e.start && c.end == e.end)?;
            let probs = probabilities[i].as_ref();
            let class = entity_types.iter().position(|t| *t == e.entity_type).map(|k| k + 1);
            let entity = PredictedEntity {
                start: e.start,
                end: e.end,
                entity_type: e.entity_type.clone(),
                score: class.and_then(|k| probs.get(k)).copied().unwrap_or(0.0),
                probabilities: probs.to_vec(),
            };
            Some((i, entity))
        })
        .collect();
    found.sort_by_key(|(_, e)| (e.start, e.end));
    found.dedup_by_key(|(i, _)| *i);
    found
}

/// A batch whose encoder and span classifier are queued on the device.
struct QueuedBatch {
    candidates: Vec<Vec<SpanCandidate>>,
    /// `None` when no sentence of the batch has a candidate span.
    work: Option<SpanWork>,
}

struct SpanWork {
    enc: Encoding,
    spans: SpanBatch,
    repr: Tensor,
    /// `[B, S, 1 + entity types]`, on the device.
    probabilities: Tensor,
}

impl QueuedBatch {
    /// Uploads the batch and queues its encoder pass, span representations and span
    /// probabilities, without waiting for the device.
    fn queue(
        model: &Aspert,
        pieces: &WordPieces,
        encoded: &[&EncodedSentence],
        device: &Device,
    ) -> Result<Self> {
        Self::with_encoding(model, encoded, || {
            model.encode(&PieceBatch::from_encoded(encoded, pieces.pad_id, device)?, false)
        })
    }

    /// [`QueuedBatch::queue`] with the batch's encoding from `encode`, called only when a
    /// sentence of the batch has a candidate span.
    fn with_encoding(
        model: &Aspert,
        encoded: &[&EncodedSentence],
        encode: impl FnOnce() -> Result<Encoding>,
    ) -> Result<Self> {
        let cfg = model.config();
        let candidates: Vec<Vec<SpanCandidate>> =
            encoded.iter().map(|e| span_candidates(&e.word_pieces, cfg.max_span_width)).collect();
        if candidates.iter().all(Vec::is_empty) {
            return Ok(Self { candidates, work: None });
        }
        let enc = encode()?;
        let spans = SpanBatch::from_candidates(&candidates);
        let repr = model.span_representations(&enc, &spans)?;
        let probabilities = model.span_probabilities(&enc, &repr, &spans)?;
        Ok(Self { candidates, work: Some(SpanWork { enc, spans, repr, probabilities }) })
    }

    /// The span probabilities on the host, flat (waits for the device).
    fn span_probabilities(&self) -> Result<Vec<f32>> {
        match &self.work {
            // One flat copy to the host: a nested Vec would allocate once per candidate.
            Some(work) => work.probabilities.flatten_all()?.to_vec1::<f32>(),
            None => Ok(Vec::new()),
        }
    }

    /// Decodes the entities (or takes the `annotated` ones) and classifies their relations.
    fn finish(
        self,
        model: &Aspert,
        probs: Vec<f32>,
        annotated: Option<&[&Sentence]>,
    ) -> Result<Vec<SentencePrediction>> {
        let Some(work) = self.work else {
            return Ok(vec![SentencePrediction::default(); self.candidates.len()]);
        };
        let (_, rows, classes) = work.probabilities.dims3()?;
        let mut predictions = Vec::with_capacity(self.candidates.len());
        let mut chosen = Vec::with_capacity(self.candidates.len());
        let decode = tracing::span!(tracing::Level::TRACE, "decode").entered();
        for (b, cands) in self.candidates.iter().enumerate() {
            let own = &probs[b * rows * classes..][..cands.len() * classes];
            let rows: Vec<&[f32]> = own.chunks_exact(classes).collect();
            let found = entities_of(model, cands, &rows, annotated.map(|s| s[b]));
            chosen.push(found.iter().map(|(i, _)| *i).collect::<Vec<_>>());
            let entities = found.into_iter().map(|(_, e)| e).collect();
            predictions.push(SentencePrediction { entities, ..Default::default() });
        }
        drop(decode);
        relate(model, &work.enc, &work.repr, &work.spans, &chosen, &mut predictions)?;
        Ok(predictions)
    }
}

/// Classifies every ordered pair of distinct predicted entities, `max_pairs` per sentence and
/// forward pass, and fills in the relations.
fn relate(
    model: &Aspert,
    enc: &Encoding,
    repr: &Tensor,
    spans: &SpanBatch,
    chosen: &[Vec<usize>],
    predictions: &mut [SentencePrediction],
) -> Result<()> {
    let cfg = model.config();
    if cfg.relation_types.is_empty() {
        return Ok(());
    }
    // Pairs as entity indices; the span index of entity e of sentence b is chosen[b][e].
    let all_pairs: Vec<Vec<(usize, usize)>> = chosen
        .iter()
        .map(|c| {
            let n = c.len();
            (0..n).flat_map(|h| (0..n).filter(move |&t| t != h).map(move |t| (h, t))).collect()
        })
        .collect();
    let span_pairs: Vec<Vec<(usize, usize)>> = all_pairs
        .iter()
        .zip(chosen)
        .map(|(p, c)| p.iter().map(|&(h, t)| (c[h], c[t])).collect())
        .collect();
    let scores = pair_probabilities(model, enc, repr, spans, &span_pairs)?;
    let _decode = tracing::span!(tracing::Level::TRACE, "decode").entered();
    for (b, prediction) in predictions.iter_mut().enumerate() {
        prediction.relations = relations_of(model, &prediction.entities, &all_pairs[b], &scores[b]);
    }
    Ok(())
}

/// A sentence's entities from its candidates' class probabilities, as every prediction path
/// decides them: the predicted types (or, with `annotated`, its gold spans), flat decoding
/// where the model says so, then calibrated scores. Each entity comes with its candidate index.
pub(super) fn entities_of<P: AsRef<[f32]>>(
    model: &Aspert,
    candidates: &[SpanCandidate],
    probabilities: &[P],
    annotated: Option<&Sentence>,
) -> Vec<(usize, PredictedEntity)> {
    let cfg = model.config();
    let mut found = match annotated {
        None => decode_entities(candidates, probabilities, &cfg.entity_types),
        Some(sentence) => {
            annotated_entities(candidates, probabilities, &cfg.entity_types, sentence)
        }
    };
    // Flat decoding ranks the raw scores, so calibration never changes which span stays.
    if annotated.is_none() && cfg.decoding == EntityDecoding::Flat {
        found = keep_best_of_overlaps(found);
    }
    cfg.calibration.apply_to_entities(&mut found, &cfg.entity_types);
    found
}

/// The relations of `entities` from the sigmoids of their ordered `pairs`, with calibrated
/// scores (α applies to the raw sigmoid, module calibration: only the reported score changes).
pub(super) fn relations_of(
    model: &Aspert,
    entities: &[PredictedEntity],
    pairs: &[(usize, usize)],
    scores: &[Vec<f32>],
) -> Vec<PredictedRelation> {
    let cfg = model.config();
    let mut relations = decode_relations(
        entities,
        pairs,
        scores,
        &cfg.relation_types,
        &cfg.symmetric_relations,
        cfg.relation_threshold,
    );
    for relation in &mut relations {
        relation.score = cfg.calibration.relation_score(relation.score);
    }
    relations
}

/// The relation sigmoids `[pair][relation type]` of each sentence's ordered `pairs` (indices
/// into its spans), `max_pairs` per sentence and forward pass.
pub(super) fn pair_probabilities(
    model: &Aspert,
    enc: &Encoding,
    repr: &Tensor,
    spans: &SpanBatch,
    pairs: &[Vec<(usize, usize)>],
) -> Result<Vec<Vec<Vec<f32>>>> {
    let max_pairs = model.config().max_pairs;
    let mut scores: Vec<Vec<Vec<f32>>> = vec![Vec::new(); pairs.len()];
    let rounds = pairs.iter().map(|p| p.len().div_ceil(max_pairs)).max().unwrap_or(0);
    for round in 0..rounds {
        let this_round = |p: &Vec<(usize, usize)>| {
            let lo = (round * max_pairs).min(p.len());
            lo..(lo + max_pairs).min(p.len())
        };
        let batch = PairBatch { pairs: pairs.iter().map(|p| p[this_round(p)].to_vec()).collect() };
        let logits = model.relation_logits(enc, repr, spans, &batch, false)?;
        let probs = candle_nn::ops::sigmoid(&logits)?.to_dtype(DType::F32)?.to_vec3::<f32>()?;
        for (b, p) in pairs.iter().enumerate() {
            scores[b].extend(probs[b][..this_round(p).len()].iter().cloned());
        }
    }
    Ok(scores)
}

fn word_span_pieces(encoded: &EncodedSentence, start: usize, end: usize) -> Result<Range<usize>> {
    let range = span_pieces(&encoded.word_pieces, start, end);
    if start >= end || range.is_empty() {
        candle_core::bail!(
            "words {start}..{end} are not a span of the {} words the encoder sees (a longer \
             sentence is cut where its word pieces reach the encoder's limit)",
            encoded.word_pieces.len()
        );
    }
    Ok(range)
}

/// f_a of words `[start, end)` of `tokens` as the model computes it (its own θ and fusion),
/// from one forward pass.
pub fn explain_span(
    model: &Aspert,
    pieces: &WordPieces,
    tokens: &[String],
    start: usize,
    end: usize,
) -> Result<Contribution> {
    let cfg = model.config();
    let (enc, range) = encode_one(model, pieces, tokens, start, end)?;
    encoding_contribution(&enc, 0, range, cfg.theta, cfg.fusion)
}

/// One sentence through the model's encoder, with the pieces of words `[start, end)`.
fn encode_one(
    model: &Aspert,
    pieces: &WordPieces,
    tokens: &[String],
    start: usize,
    end: usize,
) -> Result<(Encoding, Range<usize>)> {
    let encoded = pieces.encode(tokens, model.config().max_pieces);
    let range = word_span_pieces(&encoded, start, end)?;
    let device = model.encoder().device().clone();
    let batch = PieceBatch::from_ids(
        std::slice::from_ref(&encoded.ids),
        vec![encoded.word_pieces],
        pieces.pad_id,
        &device,
    )?;
    Ok((model.encode(&batch, false)?, range))
}

/// f_a of words `[start, end)` of `tokens` from a plain BERT encoder, with θ and fusion given
/// (for `spanscope heads` on a Hugging Face checkpoint).
pub fn explain_span_with_encoder(
    encoder: &BertEncoder,
    pieces: &WordPieces,
    tokens: &[String],
    start: usize,
    end: usize,
    theta: f32,
    fusion: Fusion,
) -> Result<Contribution> {
    let max_pieces = encoder.config().max_position_embeddings.min(512);
    let encoded = pieces.encode(tokens, max_pieces);
    let range = word_span_pieces(&encoded, start, end)?;
    let (ids, mask) =
        pad_batch(std::slice::from_ref(&encoded.ids), pieces.pad_id, encoder.device())?;
    let out = encoder.forward(&ids, &mask, false)?;
    let attentions = out.attentions.get(0)?.to_dtype(DType::F32)?;
    span_contribution(&attentions, range, encoded.ids.len(), theta, fusion)
}

/// Softmax probabilities `[B, S, 1 + E]` for explicit spans of a batch, for tests and tools.
pub fn span_probabilities(model: &Aspert, batch: &PieceBatch, spans: &SpanBatch) -> Result<Tensor> {
    let enc = model.encode(batch, false)?;
    let repr = model.span_representations(&enc, spans)?;
    candle_nn::ops::softmax(&model.span_logits(&enc, &repr, false)?, D::Minus1)
}

/// What the span inspector shows for one span: why the model sees it (f_a) and what it calls it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanInspection {
    /// f_a of the span, with the model's own θ and fusion (as [`explain_span`] gives it).
    pub contribution: Contribution,
    /// Softmax of the span classifier, calibrated by the model's entity temperature: index 0
    /// is `none`, then the model's entity types in configuration order.
    pub probabilities: Vec<f32>,
}

/// f_a and class probabilities of words `[start, end)` of `tokens`, from one encoder pass.
/// Spans wider than the model's maximum span width, or outside the words the encoder sees,
/// are an error: the model never classifies them.
pub fn inspect_span(
    model: &Aspert,
    pieces: &WordPieces,
    tokens: &[String],
    start: usize,
    end: usize,
) -> Result<SpanInspection> {
    let cfg = model.config();
    let width = end.saturating_sub(start);
    if width > cfg.max_span_width {
        candle_core::bail!(
            "words {start}..{end} are {width} words wide; the model classifies spans of at most {}",
            cfg.max_span_width
        );
    }
    let (enc, range) = encode_one(model, pieces, tokens, start, end)?;
    let contribution = encoding_contribution(&enc, 0, range.clone(), cfg.theta, cfg.fusion)?;
    let spans = SpanBatch { pieces: vec![vec![range]], widths: vec![vec![width]] };
    let repr = model.span_representations(&enc, &spans)?;
    let probabilities = candle_nn::ops::softmax_last_dim(&model.span_logits(&enc, &repr, false)?)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let probabilities = cfg.calibration.entity_probabilities(&probabilities);
    Ok(SpanInspection { contribution, probabilities })
}
