//! Checkpoints: save → load round trips (f32 and f16), fresh models from an encoder directory,
//! seeded initialisation, and the errors of broken checkpoints.

use std::collections::HashMap;

use crate::tiny_model::*;
use candle_core::{DType, Device, Tensor};
use spanscope::model::aspert::{Aspert, ModelConfig};
use spanscope::model::batch::{PairBatch, PieceBatch, SpanBatch};
use spanscope::model::candidates::span_candidates;
use spanscope::model::checkpoint::{
    init_from_encoder, load, load_trainable, save, CheckpointError, Trainable, CONFIG_FILE,
    WEIGHTS_FILE,
};
use spanscope::model::decode::predict;

/// Span and relation logits of the tiny sentences.
fn logits(model: &Aspert, t: &Trainable) -> (Tensor, Tensor) {
    let encoded: Vec<_> =
        sentences().iter().map(|s| t.pieces.encode(&s.tokens, t.config.max_pieces)).collect();
    let ids: Vec<Vec<u32>> = encoded.iter().map(|e| e.ids.clone()).collect();
    let words = encoded.iter().map(|e| e.word_pieces.clone()).collect();
    let batch = PieceBatch::from_ids(&ids, words, t.pieces.pad_id, &Device::Cpu).unwrap();
    let candidates: Vec<_> = encoded.iter().map(|e| span_candidates(&e.word_pieces, 4)).collect();
    let spans = SpanBatch::from_candidates(&candidates);
    let pairs = PairBatch {
        pairs: spans
            .pieces
            .iter()
            .map(|l| if l.len() > 3 { vec![(0, 3), (3, 1), (2, 0)] } else { vec![] })
            .collect(),
    };
    model.forward(&batch, &spans, &pairs, false).unwrap()
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()).collect()
}

fn saved_model(dir: &std::path::Path, seed: u64) -> Trainable {
    let mut t = model(&aspert_config(), dir, seed);
    favour_class(&mut t, 3, 6.0);
    t
}

#[test]
fn save_then_load_gives_identical_logits_and_predictions() {
    let tmp = tempfile::tempdir().unwrap();
    let t = saved_model(tmp.path(), 21);
    let ckpt = tmp.path().join("ckpt");
    save(&ckpt, &t.varmap, &t.config, &types(), &t.pieces, DType::F32).unwrap();
    for file in [CONFIG_FILE, WEIGHTS_FILE, "vocab.txt"] {
        assert!(ckpt.join(file).is_file(), "{file} is written");
    }
    let (span0, rel0) = logits(&t.model, &t);

    // Trainable load: the same code path as the fresh model, bit for bit.
    let (trainable, loaded_types) = load_trainable(&ckpt, &Device::Cpu, DType::F32).unwrap();
    assert_eq!(loaded_types, types());
    assert_eq!(trainable.config, t.config);
    let (span1, rel1) = logits(&trainable.model, &t);
    assert_eq!(bits(&span0), bits(&span1));
    assert_eq!(bits(&rel0), bits(&rel1));

    // Inference load: same weights bit for bit; the encoder's fused inference path may round
    // differently, so logits agree to 1e-5 and predictions exactly.
    let (model, config, pieces, loaded_types) = load(&ckpt, &Device::Cpu, DType::F32).unwrap();
    assert_eq!(config, t.config);
    assert_eq!(loaded_types.relations[2].verbose, "Near (verbose)");
    assert!(loaded_types.relations[2].symmetric);
    let (span2, rel2) = logits(&model, &t);
    assert!(max_abs_diff(&span0, &span2) < 1e-5 && max_abs_diff(&rel0, &rel2) < 1e-5);
    let before = predict(&t.model, &t.pieces, &sentences(), 2, &Device::Cpu).unwrap();
    let after = predict(&model, &pieces, &sentences(), 2, &Device::Cpu).unwrap();
    let keys = |p: &[spanscope::model::decode::SentencePrediction]| {
        p.iter()
            .map(|s| {
                let e: Vec<_> =
                    s.entities.iter().map(|e| (e.start, e.end, e.entity_type.clone())).collect();
                let r: Vec<_> =
                    s.relations.iter().map(|r| (r.head, r.tail, r.relation_type.clone())).collect();
                (e, r)
            })
            .collect::<Vec<_>>()
    };
    assert!(keys(&before) == keys(&after), "predictions survive the round trip");
    let stored = candle_core::safetensors::load(ckpt.join(WEIGHTS_FILE), &Device::Cpu).unwrap();
    let data = t.varmap.data().lock().unwrap();
    assert_eq!(stored.len(), data.len());
    for (name, var) in data.iter() {
        assert_eq!(bits(&stored[name]), bits(var.as_tensor()), "{name} is stored exactly");
    }
    assert!(stored.contains_key("bert.embeddings.word_embeddings.weight"));
}

#[test]
fn f16_checkpoints_are_half_the_size_and_still_predict() {
    let tmp = tempfile::tempdir().unwrap();
    let t = saved_model(tmp.path(), 22);
    let (full, half) = (tmp.path().join("f32"), tmp.path().join("f16"));
    save(&full, &t.varmap, &t.config, &types(), &t.pieces, DType::F32).unwrap();
    save(&half, &t.varmap, &t.config, &types(), &t.pieces, DType::F16).unwrap();
    let size = |d: &std::path::Path| std::fs::metadata(d.join(WEIGHTS_FILE)).unwrap().len();
    assert!(size(&half) * 10 < size(&full) * 6, "{} vs {}", size(&half), size(&full));
    let stored = candle_core::safetensors::load(half.join(WEIGHTS_FILE), &Device::Cpu).unwrap();
    assert!(stored.values().all(|t| t.dtype() == DType::F16));
    let (model, ..) = load(&half, &Device::Cpu, DType::F32).unwrap();
    let (span0, _) = logits(&t.model, &t);
    let (span1, _) = logits(&model, &t);
    assert!(max_abs_diff(&span0, &span1) < 0.05);
    let (model16, ..) = load(&half, &Device::Cpu, DType::F16).unwrap();
    let preds = predict(&model16, &t.pieces, &sentences(), 4, &Device::Cpu).unwrap();
    assert_eq!(preds.len(), 4);
    assert!(preds[0].entities.iter().all(|e| e.entity_type == "Org"));
}

#[test]
fn saving_over_a_checkpoint_replaces_it_and_leaves_no_temporaries() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("ckpt");
    let a = saved_model(tmp.path(), 23);
    save(&ckpt, &a.varmap, &a.config, &types(), &a.pieces, DType::F32).unwrap();
    let mut cfg = a.config.clone();
    cfg.relation_threshold = 0.7;
    save(&ckpt, &a.varmap, &cfg, &types(), &a.pieces, DType::F32).unwrap();
    let (_, config, ..) = load(&ckpt, &Device::Cpu, DType::F32).unwrap();
    assert_eq!(config.relation_threshold, 0.7);
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp-") && !n.contains(".old-")), "{names:?}");
}

#[test]
fn the_same_seed_gives_the_same_fresh_model() {
    let tmp = tempfile::tempdir().unwrap();
    let snapshot = |t: &Trainable| -> HashMap<String, Vec<u32>> {
        t.varmap
            .data()
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), bits(v.as_tensor())))
            .collect()
    };
    let a = snapshot(&model(&aspert_config(), tmp.path(), 7));
    let b = snapshot(&model(&aspert_config(), tmp.path(), 7));
    let c = snapshot(&model(&aspert_config(), tmp.path(), 8));
    assert_eq!(a, b);
    assert_ne!(a["span_classifier.hidden.weight"], c["span_classifier.hidden.weight"]);
    let ln = &a["bert.encoder.layer.0.attention.output.LayerNorm.weight"];
    assert!(ln.iter().all(|v| f32::from_bits(*v) == 1.0), "layer norms start at 1");
}

#[test]
fn fresh_model_from_an_encoder_directory_keeps_its_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let enc_dir = tmp.path().join("tiny-bert");
    std::fs::create_dir(&enc_dir).unwrap();
    let encoder_tensors = tiny_encoder(&enc_dir, 31);
    let spec = enc_dir.to_string_lossy().into_owned();
    let fresh = init_from_encoder(
        &spec,
        |enc| ModelConfig::spert(enc, &types()),
        &Device::Cpu,
        DType::F32,
        5,
    )
    .unwrap();
    assert_eq!(fresh.config.variant(), "SpERT");
    let data = fresh.varmap.data().lock().unwrap();
    for (name, tensor) in &encoder_tensors {
        assert_eq!(bits(data[name].as_tensor()), bits(tensor), "{name} comes from the encoder");
    }
    assert!(data.contains_key("span_classifier.out.weight"));
    assert!(!data.contains_key("span_classifier.hidden.weight"));
}

fn error_text(dir: &std::path::Path) -> String {
    match load(dir, &Device::Cpu, DType::F32) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn broken_checkpoints_say_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let t = saved_model(tmp.path(), 24);
    let good = tmp.path().join("good");
    save(&good, &t.varmap, &t.config, &types(), &t.pieces, DType::F32).unwrap();
    let copy = |name: &str| {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        for entry in std::fs::read_dir(&good).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
        dir
    };

    let missing = tmp.path().join("nowhere");
    assert!(error_text(&missing).contains("is not a spanscope checkpoint: no such directory"));

    let plain = tmp.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    assert!(error_text(&plain).contains("is not a spanscope checkpoint: it has no spanscope.json"));

    let foreign = copy("foreign");
    std::fs::write(foreign.join(CONFIG_FILE), r#"{"architectures": ["BertModel"]}"#).unwrap();
    assert!(error_text(&foreign).contains("has no \"format\": \"spanscope-checkpoint\""));

    let garbled = copy("garbled");
    std::fs::write(garbled.join(CONFIG_FILE), "{\"format\": ").unwrap();
    let text = error_text(&garbled);
    assert!(
        text.starts_with("bad checkpoint configuration") && text.contains(CONFIG_FILE),
        "{text}"
    );

    let no_weights = copy("no-weights");
    std::fs::remove_file(no_weights.join(WEIGHTS_FILE)).unwrap();
    let text = error_text(&no_weights);
    assert!(text.contains("model.safetensors") && text.ends_with("is missing"), "{text}");

    let truncated = copy("truncated");
    let bytes = std::fs::read(truncated.join(WEIGHTS_FILE)).unwrap();
    std::fs::write(truncated.join(WEIGHTS_FILE), &bytes[..bytes.len() / 2]).unwrap();
    let text = error_text(&truncated);
    assert!(text.starts_with("bad checkpoint weights") && text.contains(WEIGHTS_FILE), "{text}");

    // Weights of a model with a different number of entity types: the shape error names the
    // file and the tensor.
    let reshaped = copy("reshaped");
    let mut other = aspert_config();
    other.entity_types.push("Misc".into());
    let donor = model(&other, tmp.path(), 25);
    donor.varmap.save(reshaped.join(WEIGHTS_FILE)).unwrap();
    let text = error_text(&reshaped);
    assert!(text.contains(WEIGHTS_FILE) && text.contains("span_classifier.out"), "{text}");

    let no_vocab = copy("no-vocab");
    std::fs::remove_file(no_vocab.join("vocab.txt")).unwrap();
    let text = error_text(&no_vocab);
    assert!(text.contains("tokenizer.json") || text.contains("vocab.txt"), "{text}");

    let err = load(&no_weights, &Device::Cpu, DType::F32).err().unwrap();
    assert!(matches!(err, CheckpointError::MissingFile { .. }));
}

#[test]
fn a_frozen_copy_predicts_the_same_and_ignores_later_training() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = saved_model(tmp.path(), 26);
    let frozen = t.model.frozen().unwrap();
    let (span0, rel0) = logits(&t.model, &t);
    let (span1, rel1) = logits(&frozen, &t);
    assert!(max_abs_diff(&span0, &span1) < 1e-5 && max_abs_diff(&rel0, &rel1) < 1e-5);
    favour_class(&mut t, 1, 20.0);
    let (span2, _) = logits(&frozen, &t);
    assert_eq!(bits(&span1), bits(&span2), "the copy owns its weights");
    assert!(max_abs_diff(&logits(&t.model, &t).0, &span1) > 1.0, "the original did change");
}

#[test]
fn fresh_heads_start_from_the_class_priors() {
    use spanscope::model::checkpoint::{ENTITY_PRIOR, RELATION_PRIOR};
    let dir = tempfile::tempdir().unwrap();
    let t = model(&aspert_config(), dir.path(), 5);
    let data = t.varmap.data().lock().unwrap();
    let span_bias = data["span_classifier.out.bias"].as_tensor();
    let probs: Vec<f32> = candle_nn::ops::softmax_last_dim(span_bias).unwrap().to_vec1().unwrap();
    assert!((probs[0] as f64 - (1.0 - ENTITY_PRIOR)).abs() < 1e-6, "{probs:?}");
    let each = ENTITY_PRIOR / (probs.len() - 1) as f64;
    assert!(probs[1..].iter().all(|&p| (p as f64 - each).abs() < 1e-6), "{probs:?}");
    let relation: Vec<f32> = candle_nn::ops::sigmoid(data["relation_classifier.bias"].as_tensor())
        .unwrap()
        .to_vec1()
        .unwrap();
    assert!(relation.iter().all(|&p| (p as f64 - RELATION_PRIOR).abs() < 1e-6), "{relation:?}");
}

#[cfg(unix)]
#[test]
fn saved_weights_are_as_readable_as_the_configuration() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let t = model(&aspert_config(), dir.path(), 2);
    let out = dir.path().join("model");
    save(&out, &t.varmap, &t.config, &types(), &t.pieces, DType::F32).unwrap();
    let mode = |name: &str| std::fs::metadata(out.join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("model.safetensors"), mode("spanscope.json"));
}
