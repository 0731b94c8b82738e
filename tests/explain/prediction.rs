//! Explanations of ASpERT predictions with the bundled model (CPU): masking a head through
//! the gate equals a model whose attention output projection has that head's columns zeroed,
//! masking nothing reproduces the prediction, the f_a-path ablation equals zeroing that f_a
//! entry by hand, importance agrees with finite differences of ξ, integrated gradients add
//! up, and masking words moves the score the way their attributions rank.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use spanscope::data::wordpiece::WordPieces;
use spanscope::explain::heads::{gates, Head};
use spanscope::explain::prediction::{Explainer, FlipLimits, Mode, Target, Words};
use spanscope::model::aspert::Aspert;
use spanscope::model::batch::{PieceBatch, SpanBatch};
use spanscope::model::candidates::span_pieces;
use spanscope::model::checkpoint;
use spanscope::model::decode::inspect_span;

fn bundled_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/conll04-aspert-minilm")
}

fn bundled() -> (Aspert, WordPieces) {
    let (model, _, pieces, _) =
        checkpoint::load(&bundled_dir(), &Device::Cpu, DType::F32).expect("bundled model");
    (model, pieces)
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// From sample_docs/harbour-bridge.txt's style: a person, an organisation, a place.
const SENTENCE: &str =
    "Dr. Amara Okafor , who works for the Lagos Port Authority , lives in Ikoyi .";

fn person() -> Target {
    Target::Entity { span: Words::new(1, 3) }
}

/// A CoNLL04 dev sentence whose "Chisholm" the bundled model calls Loc at P .52, and masking
/// L3·H9 alone in the encoder flips to none.
const FLIP_SENTENCE: &str = "Composer Thomas is a native of Chisholm , Minn .";

fn place() -> Target {
    Target::Entity { span: Words::new(6, 7) }
}

fn relative(a: f32, b: f32) -> f32 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-6)
}

#[test]
fn masking_a_head_equals_zeroing_its_output_columns() {
    let (model, pieces) = bundled();
    let tokens = words(FLIP_SENTENCE);
    let (config, _) = checkpoint::read_manifest(&bundled_dir()).unwrap();
    let head_size = config.encoder.hidden_size / config.encoder.num_attention_heads;
    let mut tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load(bundled_dir().join("model.safetensors"), &Device::Cpu)
            .unwrap();
    for (target, head) in [(place(), Head { layer: 2, head: 8 })] {
        let explained = Explainer::new(&model, &pieces, &tokens, target.clone()).unwrap();
        let masked = explained.ablate(&[vec![head]], Mode::Encoder).unwrap().remove(0);
        let name = format!("bert.encoder.layer.{}.attention.output.dense.weight", head.layer);
        let w = tensors[&name].clone();
        let keep: Vec<f32> = (0..config.encoder.hidden_size)
            .map(|c| if c / head_size == head.head { 0.0 } else { 1.0 })
            .collect();
        let keep = Tensor::from_vec(keep, (1, config.encoder.hidden_size), &Device::Cpu).unwrap();
        tensors.insert(name.clone(), w.to_dtype(DType::F32).unwrap().broadcast_mul(&keep).unwrap());
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, &Device::Cpu);
        let zeroed = Aspert::new(vb, &config).unwrap();
        let by_hand = Explainer::new(&zeroed, &pieces, &tokens, target).unwrap();
        // The zeroed model explains its own prediction (here another type): compare all
        // class probabilities.
        let zeroed_reading = by_hand.prediction();
        for (a, b) in masked.probabilities.iter().zip(&zeroed_reading.probabilities) {
            assert_eq!(a.0, b.0);
            assert!(relative(a.1, b.1) < 1e-5, "gate {masked:?} against zeroed {zeroed_reading:?}");
        }
        assert_eq!(masked.predicted, zeroed_reading.predicted);
        assert_ne!(masked.predicted, "Loc", "masking L3·H9 flips Chisholm");
        tensors.insert(name, w);
    }
}

#[test]
fn masking_nothing_reproduces_the_prediction() {
    let (model, pieces) = bundled();
    let tokens = words(SENTENCE);
    let explained = Explainer::new(&model, &pieces, &tokens, person()).unwrap();
    // Bit for bit on the explanation path, in both modes and in a batch beside other rows.
    let nothing = explained.ablate(&[vec![]], Mode::Encoder).unwrap().remove(0);
    assert_eq!(&nothing, explained.prediction());
    let rows = explained
        .ablate(&[vec![Head { layer: 0, head: 0 }], vec![]], Mode::AttentionFeature)
        .unwrap();
    assert_eq!(&rows[1], explained.prediction());
    // The ordinary inference path rounds in another order.
    let inspected = inspect_span(&model, &pieces, &tokens, 1, 3).unwrap();
    let shown: Vec<f32> = explained.prediction().probabilities.iter().map(|p| p.1).collect();
    for (a, b) in shown.iter().zip(&inspected.probabilities) {
        assert!((a - b).abs() < 1e-4, "{shown:?} against {:?}", inspected.probabilities);
    }
    assert_eq!(explained.label(), "Peop");
    assert_eq!(explained.prediction().predicted, "Peop");
}

#[test]
fn the_attention_path_ablation_zeroes_that_f_a_entry() {
    let (model, pieces) = bundled();
    let tokens = words(SENTENCE);
    let explained = Explainer::new(&model, &pieces, &tokens, person()).unwrap();
    let cfg = model.config();
    let (layers, heads) = explained.shape();
    let chosen =
        [Head { layer: 2, head: 8 }, Head { layer: 5, head: 11 }, Head { layer: 0, head: 3 }];
    let sets: Vec<Vec<Head>> = chosen.iter().map(|h| vec![*h]).collect();
    let readings = explained.ablate(&sets, Mode::AttentionFeature).unwrap();

    // By hand: one pass, E(s) built, the f_a entry of the head set to zero, classified.
    let encoded = pieces.encode(&tokens, cfg.max_pieces);
    let range = span_pieces(&encoded.word_pieces, 1, 3);
    let batch = PieceBatch::from_ids(
        std::slice::from_ref(&encoded.ids),
        vec![encoded.word_pieces.clone()],
        pieces.pad_id,
        &Device::Cpu,
    )
    .unwrap();
    let gate = gates(model.encoder(), &[vec![]]).unwrap();
    let out =
        model.encoder().forward_gated(&batch.input_ids, &batch.attention_mask, &gate).unwrap();
    let enc = model.encoding_of(out, &batch).unwrap();
    let spans = SpanBatch { pieces: vec![vec![range]], widths: vec![vec![2]] };
    let repr = model.span_representations(&enc, &spans).unwrap();
    let dim = repr.dim(2).unwrap();
    for (head, reading) in chosen.iter().zip(&readings) {
        let column = cfg.encoder.hidden_size + head.layer * heads + head.head;
        let keep: Vec<f32> = (0..dim).map(|c| if c == column { 0.0 } else { 1.0 }).collect();
        let keep = Tensor::from_vec(keep, (1, 1, dim), &Device::Cpu).unwrap();
        let zeroed = repr.broadcast_mul(&keep).unwrap();
        let logits = model.span_logits(&enc, &zeroed, false).unwrap();
        let log_p = candle_nn::ops::log_softmax(&logits, D::Minus1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let peop = 1 + cfg.entity_types.iter().position(|t| t == "Peop").unwrap();
        assert!(
            relative(reading.score, log_p[peop]) < 1e-5,
            "{head:?}: {} against {} by hand",
            reading.score,
            log_p[peop]
        );
    }
    assert_eq!(layers * heads, cfg.head_count());
}

#[test]
fn importance_agrees_with_finite_differences() {
    let (model, pieces) = bundled();
    let tokens = words(SENTENCE);
    let relation =
        Target::Relation { head: Words::new(1, 3), tail: Words::new(8, 11), relation: None };
    for target in [person(), relation] {
        let explained = Explainer::new(&model, &pieces, &tokens, target).unwrap();
        let importance = explained.importance().unwrap();
        let (layers, heads) = explained.shape();
        assert!(importance.values.iter().all(|v| v.is_finite() && *v >= 0.0));
        // The strongest heads and a few others, each at ξ_h = 1 ± ε.
        let mut chosen: Vec<Head> = importance.ranked().iter().take(3).map(|h| h.0).collect();
        chosen.extend([Head { layer: 0, head: 5 }, Head { layer: 4, head: 1 }]);
        let eps = 0.01f32;
        let mut rows = Vec::new();
        for h in &chosen {
            for sign in [1.0, -1.0] {
                let mut g = vec![1f32; layers * heads];
                g[h.layer * heads + h.head] = 1.0 + sign * eps;
                rows.extend(g);
            }
        }
        let gate = Tensor::from_vec(rows, (2 * chosen.len(), layers, heads), &Device::Cpu).unwrap();
        let scores = explained.scores_with_gate(&gate).unwrap();
        for (i, h) in chosen.iter().enumerate() {
            let fd = ((scores[2 * i] - scores[2 * i + 1]) / (2.0 * eps)).abs();
            let grad = importance.get(*h);
            assert!(
                (fd - grad).abs() <= 0.02 * grad.max(fd) + 2e-3,
                "{:?} {h:?}: |∂/∂ξ| {grad} against finite differences {fd}",
                explained.target()
            );
        }
        // A real explanation: the heads differ by far more than rounding.
        let ranked = importance.ranked();
        assert!(ranked[0].1 > 5.0 * ranked[ranked.len() / 2].1, "{:?}", &ranked[..5]);
    }
}

#[test]
fn a_real_case_flips_and_the_sweep_and_search_agree() {
    let (model, pieces) = bundled();
    let tokens = words(FLIP_SENTENCE);
    let explained = Explainer::new(&model, &pieces, &tokens, place()).unwrap();
    let importance = explained.importance().unwrap();
    let sweep = explained.sweep(Mode::Encoder).unwrap();
    assert_eq!(sweep.len(), 72);
    let flips: Vec<Head> =
        sweep.iter().filter(|(_, r)| explained.flips(r)).map(|(h, _)| *h).collect();
    assert!(!flips.is_empty(), "some single head flips Chisholm");
    let found = explained.flip_set(&importance, Mode::Encoder, FlipLimits::default()).unwrap();
    assert!(found.flipped);
    let after = found.after.as_ref().unwrap();
    assert_ne!(after.predicted, "Loc");
    // A one-head flip set is one of the sweep's flipping heads, read the same.
    if found.heads.len() == 1 {
        assert!(flips.contains(&found.heads[0]));
        let (_, swept) = sweep.iter().find(|(h, _)| *h == found.heads[0]).unwrap();
        // Batches of other sizes round in another order.
        assert!(relative(swept.score, after.score) < 1e-5, "{swept:?} against {after:?}");
        assert_eq!(swept.predicted, after.predicted);
    }
    // The f_a path alone carries less: no single f_a feature flips this span.
    let fa = explained.sweep(Mode::AttentionFeature).unwrap();
    let lowest = fa.iter().map(|(_, r)| r.probability).fold(1.0f32, f32::min);
    assert!(lowest > after.probability);
}

#[test]
fn integrated_gradients_add_up_and_rank_word_masking() {
    let (model, pieces) = bundled();
    let tokens = words(SENTENCE);
    let explained = Explainer::new(&model, &pieces, &tokens, person()).unwrap();
    let attributions = explained.words(64).unwrap();
    assert_eq!(attributions.words.len(), tokens.len());
    let total: f32 = attributions.words.iter().map(|w| w.attribution).sum();
    let change = explained.prediction().score - attributions.baseline_score;
    assert!(
        (total - change).abs() < 0.05 * change.abs(),
        "attributions sum to {total}, the score moved {change} from the baseline"
    );
    // Masking the word that pushed the prediction most lowers the score more than masking
    // the word with the least attribution of either sign.
    let ranked = attributions.ranked();
    let top = ranked.iter().find(|w| w.attribution > 0.0).unwrap();
    let least = ranked.last().unwrap();
    let readings = explained.mask_words(&[vec![top.word], vec![least.word]]).unwrap();
    let base = explained.prediction().score;
    let (drop_top, drop_least) = (base - readings[0].score, base - readings[1].score);
    assert!(drop_top > 0.0, "masking {:?} should lower the score: {drop_top}", top.token);
    assert!(
        drop_top > drop_least.abs(),
        "{:?} {drop_top} against {:?} {drop_least}",
        top.token,
        least.token
    );
}

#[test]
fn a_relation_is_explained_as_a_relation() {
    let (model, pieces) = bundled();
    let tokens = words(SENTENCE);
    let target =
        Target::Relation { head: Words::new(1, 3), tail: Words::new(8, 11), relation: None };
    let explained = Explainer::new(&model, &pieces, &tokens, target).unwrap();
    assert_eq!(explained.label(), "Work_For");
    assert_eq!(explained.prediction().predicted, "Work_For");
    assert_eq!(explained.contribution().unwrap().len(), 2);
    // Its words cover the whole sentence, the context between the entities included.
    let attributions = explained.words(8).unwrap();
    assert_eq!(attributions.words.len(), tokens.len());
    let between = attributions.words[4..8].iter().map(|w| w.attribution.abs()).sum::<f32>();
    assert!(between > 0.0);
    // An unknown type, a span too wide and a span past the end are errors that say so.
    let bad = |t: Target| Explainer::new(&model, &pieces, &tokens, t).err().unwrap().to_string();
    let unknown = bad(Target::Relation {
        head: Words::new(1, 3),
        tail: Words::new(8, 11),
        relation: Some("Married_To".into()),
    });
    assert!(unknown.contains("Married_To"), "{unknown}");
    assert!(bad(Target::Entity { span: Words::new(0, 12) }).contains("wide"));
    assert!(bad(Target::Entity { span: Words::new(15, 17) }).contains("not a span"));
}

#[test]
fn the_layer_nodes_give_the_composed_gradients() {
    // The explained layer node's hand-written backward pass against candle's own, for the
    // gates and the word scale, through the hidden states and every layer's attentions.
    let (model, pieces) = bundled();
    let encoder = model.encoder();
    let cfg = encoder.config();
    let (layers, heads) = (cfg.num_hidden_layers, cfg.num_attention_heads);
    let tokens = words(SENTENCE);
    let encoded = pieces.encode(&tokens, 512);
    let t = encoded.ids.len();
    let ids = Tensor::from_vec(encoded.ids.clone(), (1, t), &Device::Cpu).unwrap();
    let mask = Tensor::ones((1, t), DType::U32, &Device::Cpu).unwrap();
    // Some heads half open, so ξ ≠ 1 is exercised too.
    let mut g = vec![1f32; layers * heads];
    g[3] = 0.5;
    g[heads + 7] = 0.0;
    let gate = candle_core::Var::from_vec(g, (1, layers, heads), &Device::Cpu).unwrap();
    let scale = candle_core::Var::ones((1, t), DType::F32, &Device::Cpu).unwrap();
    let hidden_dir = Tensor::randn(0f32, 1.0, (1, t, cfg.hidden_size), &Device::Cpu).unwrap();
    let attn_dir = Tensor::randn(0f32, 1.0, (1, layers, heads, t, t), &Device::Cpu).unwrap();
    let grads = |fast: bool| {
        let out = if fast {
            encoder.forward_explained(&ids, &mask, gate.as_tensor(), Some(scale.as_tensor()))
        } else {
            encoder.forward_explained_composed(
                &ids,
                &mask,
                gate.as_tensor(),
                Some(scale.as_tensor()),
            )
        }
        .unwrap();
        let score = ((out.hidden * &hidden_dir).unwrap().sum_all().unwrap()
            + (out.attentions * &attn_dir).unwrap().sum_all().unwrap())
        .unwrap();
        let store = score.backward().unwrap();
        let flat = |v: &candle_core::Var| {
            store.get(v.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()
        };
        (score.to_scalar::<f32>().unwrap(), flat(&gate), flat(&scale))
    };
    let (fast, reference) = (grads(true), grads(false));
    assert!(relative(fast.0, reference.0) < 1e-5, "scores {} and {}", fast.0, reference.0);
    for (what, a, b) in [("gate", &fast.1, &reference.1), ("word scale", &fast.2, &reference.2)] {
        let largest = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(largest > 0.0, "{what}: no gradient at all");
        for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
            assert!((x - y).abs() <= 1e-4 * largest, "{what} {i}: nodes {x}, composed {y}");
        }
    }
}
