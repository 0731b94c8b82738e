//! The ASpERT heads on a tiny random encoder: span pooling, f_a, relation context, variants,
//! batching invariance.

use crate::tiny_model::*;
use candle_core::{DType, Device, IndexOp, Tensor};
use spanscope::data::wordpiece::EncodedSentence;
use spanscope::explain::{span_contribution, Fusion};
use spanscope::model::aspert::ModelConfig;
use spanscope::model::batch::{PairBatch, PieceBatch, SpanBatch};
use spanscope::model::candidates::{candidate_count, context_pieces, span_candidates};
use spanscope::model::checkpoint::Trainable;

fn encode_all(t: &Trainable) -> Vec<EncodedSentence> {
    sentences().iter().map(|s| t.pieces.encode(&s.tokens, t.config.max_pieces)).collect()
}

fn batch_of(t: &Trainable, encoded: &[EncodedSentence]) -> PieceBatch {
    let ids: Vec<Vec<u32>> = encoded.iter().map(|e| e.ids.clone()).collect();
    let words = encoded.iter().map(|e| e.word_pieces.clone()).collect();
    PieceBatch::from_ids(&ids, words, t.pieces.pad_id, &Device::Cpu).unwrap()
}

fn all_spans(t: &Trainable, encoded: &[EncodedSentence]) -> SpanBatch {
    let candidates: Vec<_> =
        encoded.iter().map(|e| span_candidates(&e.word_pieces, t.config.max_span_width)).collect();
    SpanBatch::from_candidates(&candidates)
}

/// Every ordered pair of the first `n` spans of each sentence.
fn pairs_of(spans: &SpanBatch, n: usize) -> PairBatch {
    PairBatch {
        pairs: spans
            .pieces
            .iter()
            .map(|list| {
                let n = n.min(list.len());
                (0..n).flat_map(|h| (0..n).filter(move |&t| t != h).map(move |t| (h, t))).collect()
            })
            .collect(),
    }
}

#[test]
fn candidate_counts_are_the_sum_over_widths() {
    let dir = tempfile::tempdir().unwrap();
    let t = model(&aspert_config(), dir.path(), 1);
    for (e, s) in encode_all(&t).iter().zip(sentences()) {
        let n = s.tokens.len();
        let expected: usize = (1..=4).map(|k| (n + 1).saturating_sub(k)).sum();
        assert_eq!(span_candidates(&e.word_pieces, 4).len(), expected);
        assert_eq!(candidate_count(n, 4), expected);
    }
}

#[test]
fn span_pooling_and_fa_equal_naive_per_span_loops() {
    let dir = tempfile::tempdir().unwrap();
    for fusion in [Fusion::Mean, Fusion::Max, Fusion::Sum] {
        let mut cfg = aspert_config();
        cfg.fusion = fusion;
        let t = model(&cfg, dir.path(), 2);
        let encoded = encode_all(&t);
        let batch = batch_of(&t, &encoded);
        let spans = all_spans(&t, &encoded);
        let enc = t.model.encode(&batch, false).unwrap();
        let repr = t.model.span_representations(&enc, &spans).unwrap();
        let (hidden, heads) = (32, 8);
        assert_eq!(repr.dims(), &[4, spans.max_spans(), hidden + heads + 25]);
        for (b, list) in spans.pieces.iter().enumerate() {
            let hid = enc.hidden.i(b).unwrap();
            let att = enc.attentions().unwrap().i(b).unwrap();
            for (i, r) in list.iter().enumerate() {
                let naive = hid.narrow(0, r.start, r.len()).unwrap().max(0).unwrap();
                let ours = repr.i((b, i)).unwrap();
                assert_eq!(
                    ours.narrow(0, 0, hidden).unwrap().to_vec1::<f32>().unwrap(),
                    naive.to_vec1::<f32>().unwrap(),
                    "max-pool of span {r:?} of sentence {b}"
                );
                let fa = span_contribution(&att, r.clone(), batch.lengths[b], cfg.theta, fusion)
                    .unwrap();
                let got = ours.narrow(0, hidden, heads).unwrap().to_vec1::<f32>().unwrap();
                for (x, y) in got.iter().zip(&fa.values) {
                    assert!((x - y).abs() < 1e-5, "{fusion} f_a of {r:?}: {got:?} vs {fa:?}");
                }
                assert!(fa.values.iter().any(|v| *v > 0.0), "θ leaves something");
            }
        }
    }
}

#[test]
fn relation_logits_use_the_context_between_the_spans() {
    let dir = tempfile::tempdir().unwrap();
    let t = model(&aspert_config(), dir.path(), 3);
    let encoded = encode_all(&t);
    let batch = batch_of(&t, &encoded);
    let spans = all_spans(&t, &encoded);
    let pairs = pairs_of(&spans, 12);
    let enc = t.model.encode(&batch, false).unwrap();
    let repr = t.model.span_representations(&enc, &spans).unwrap();
    let logits = t.model.relation_logits(&enc, &repr, &spans, &pairs, false).unwrap();
    let data = t.varmap.data().lock().unwrap();
    let w = data["relation_classifier.weight"].as_tensor().clone();
    let bias = data["relation_classifier.bias"].as_tensor().clone();
    let (mut touching, mut apart) = (0, 0);
    for (b, list) in pairs.pairs.iter().enumerate() {
        let hid = enc.hidden.i(b).unwrap();
        for (p, &(h, tl)) in list.iter().enumerate() {
            let between = context_pieces(&spans.pieces[b][h], &spans.pieces[b][tl]);
            let context = if between.is_empty() {
                touching += 1;
                Tensor::zeros(32, DType::F32, &Device::Cpu).unwrap()
            } else {
                apart += 1;
                hid.narrow(0, between.start, between.len()).unwrap().max(0).unwrap()
            };
            let x = Tensor::cat(&[repr.i((b, h)).unwrap(), context, repr.i((b, tl)).unwrap()], 0)
                .unwrap();
            let want = w.matmul(&x.unsqueeze(1).unwrap()).unwrap().squeeze(1).unwrap();
            let want = (want + &bias).unwrap();
            let got = logits.i((b, p)).unwrap();
            assert!(max_abs_diff(&got, &want) < 1e-5, "pair {p} of sentence {b}");
        }
    }
    assert!(touching > 0 && apart > 0, "both cases are exercised");
}

#[test]
fn variants_change_the_classifier_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let base = aspert_config();
    let (hidden, heads, width) = (32, 8, 25);
    let cases = [
        (base.clone(), "ASpERT", hidden + heads + width, true),
        (base.clone().without_attention_contribution(), "ASpERT-AC", hidden + width, true),
        (base.clone().with_linear_classifier(), "ASpERT-MLP", hidden + heads + width, false),
        (ModelConfig::spert(encoder_config(), &types()), "SpERT", hidden + width, false),
    ];
    for (cfg, name, span_dim, mlp) in cases {
        assert_eq!(cfg.variant(), name);
        assert_eq!(cfg.span_dim(), span_dim);
        let t = model(&cfg, dir.path(), 4);
        let data = t.varmap.data().lock().unwrap();
        let shape = |n: &str| data.get(n).map(|v| v.dims().to_vec());
        if mlp {
            assert_eq!(
                shape("span_classifier.hidden.weight"),
                Some(vec![cfg.mlp_size, span_dim + hidden])
            );
            assert_eq!(shape("span_classifier.out.weight"), Some(vec![4, cfg.mlp_size]));
        } else {
            assert_eq!(shape("span_classifier.hidden.weight"), None);
            assert_eq!(shape("span_classifier.out.weight"), Some(vec![4, span_dim + hidden]));
        }
        assert_eq!(shape("relation_classifier.weight"), Some(vec![3, 2 * span_dim + hidden]));
        assert_eq!(shape("width_embedding.weight"), Some(vec![100, 25]));
        drop(data);
        let encoded = encode_all(&t);
        let spans = all_spans(&t, &encoded);
        let (s, r) =
            t.model.forward(&batch_of(&t, &encoded), &spans, &pairs_of(&spans, 3), false).unwrap();
        assert_eq!(s.dims(), &[4, spans.max_spans(), 4]);
        assert_eq!(r.dims(), &[4, 6, 3]);
    }
}

#[test]
fn padding_is_invisible_batch_equals_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    for cfg in [aspert_config(), ModelConfig::spert(encoder_config(), &types())] {
        let t = model(&cfg, dir.path(), 5);
        let encoded = encode_all(&t);
        let spans = all_spans(&t, &encoded);
        let pairs = pairs_of(&spans, 5);
        let (span_all, rel_all) =
            t.model.forward(&batch_of(&t, &encoded), &spans, &pairs, false).unwrap();
        for b in 0..encoded.len() {
            let one_spans = SpanBatch {
                pieces: vec![spans.pieces[b].clone()],
                widths: vec![spans.widths[b].clone()],
            };
            let one_pairs = PairBatch { pairs: vec![pairs.pairs[b].clone()] };
            let (s, r) = t
                .model
                .forward(&batch_of(&t, &encoded[b..=b]), &one_spans, &one_pairs, false)
                .unwrap();
            let n = one_spans.pieces[0].len();
            let p = one_pairs.pairs[0].len();
            let d =
                max_abs_diff(&s.i(0).unwrap(), &span_all.i(b).unwrap().narrow(0, 0, n).unwrap());
            assert!(d < 1e-5, "{} span logits of sentence {b} differ by {d}", cfg.variant());
            if p > 0 {
                let d =
                    max_abs_diff(&r.i(0).unwrap(), &rel_all.i(b).unwrap().narrow(0, 0, p).unwrap());
                assert!(
                    d < 1e-5,
                    "{} relation logits of sentence {b} differ by {d}",
                    cfg.variant()
                );
            }
        }
    }
}

#[test]
fn training_forward_is_differentiable_down_to_the_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let t = model(&aspert_config(), dir.path(), 6);
    let encoded = encode_all(&t);
    let spans = all_spans(&t, &encoded);
    let (s, r) =
        t.model.forward(&batch_of(&t, &encoded), &spans, &pairs_of(&spans, 4), true).unwrap();
    let loss =
        (s.sqr().unwrap().mean_all().unwrap() + r.sqr().unwrap().mean_all().unwrap()).unwrap();
    let grads = loss.backward().unwrap();
    let data = t.varmap.data().lock().unwrap();
    for name in [
        "width_embedding.weight",
        "span_classifier.hidden.weight",
        "relation_classifier.weight",
        "bert.embeddings.word_embeddings.weight",
    ] {
        let g =
            grads.get(data[name].as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
        let norm: f32 = g.sqr().unwrap().sum_all().unwrap().to_scalar().unwrap();
        assert!(norm > 0.0 && norm.is_finite(), "gradient of {name} is {norm}");
    }
}

#[test]
fn training_and_inference_paths_agree_without_dropout() {
    let dir = tempfile::tempdir().unwrap();
    let mut quiet = aspert_config();
    quiet.dropout = 0.0;
    quiet.encoder.hidden_dropout_prob = 0.0;
    quiet.encoder.attention_probs_dropout_prob = 0.0;
    // Inference cuts the first span layer and the relation classifier by input columns: for
    // the MLP and the linear span classifier, with weights that train (cut on each call) and
    // frozen (cut once).
    for cfg in [quiet.clone(), quiet.with_linear_classifier()] {
        let t = model(&cfg, dir.path(), 7);
        let encoded = encode_all(&t);
        let spans = all_spans(&t, &encoded);
        let pairs = pairs_of(&spans, 6);
        let batch = batch_of(&t, &encoded);
        let (s0, r0) = t.model.forward(&batch, &spans, &pairs, true).unwrap();
        let frozen = t.model.frozen().unwrap();
        for m in [&t.model, &frozen] {
            let (s1, r1) = m.forward(&batch, &spans, &pairs, false).unwrap();
            assert!(max_abs_diff(&s0, &s1) < 1e-5, "{}", cfg.variant());
            assert!(max_abs_diff(&r0, &r1) < 1e-5, "{}", cfg.variant());
        }
    }
}
