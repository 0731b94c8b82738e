//! The packed encoder path (`EncoderPath::Packed`): sentences laid end to end with no padding
//! must give what the padded batches give, for the bundled model on CoNLL04 dev.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, IndexOp, Tensor};
use spanscope::data::io::read_sentences;
use spanscope::data::wordpiece::WordPieces;
use spanscope::data::Sentence;
use spanscope::model::aspert::Aspert;
use spanscope::model::batch::{Batching, PieceBatch};
use spanscope::model::checkpoint;
use spanscope::model::decode::{predict_batched, SentencePrediction};

/// Probabilities of the two paths differ only by the order of f32 sums.
const TOLERANCE: f32 = 1e-5;

fn bundled() -> (Aspert, WordPieces) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/conll04-aspert-minilm");
    let (model, _, pieces, _) = checkpoint::load(&dir, &Device::Cpu, DType::F32).unwrap();
    assert!(model.packs(), "an f32 checkpoint on the CPU takes the packed path");
    (model, pieces)
}

fn conll04_dev() -> Vec<Sentence> {
    let dir = match std::env::var_os("SPANSCOPE_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
    };
    read_sentences(&dir.join("conll04/conll04_dev.json")).unwrap().sentences
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

#[test]
fn packed_pass_matches_the_padded_batch() {
    let (model, pieces) = bundled();
    // Unsorted, with two sentences of one length (a run of two) and a short one.
    let tokens: [&[&str]; 4] = [
        &["John", "Smith", "lives", "in", "Boston", "."],
        &["Rome", "is", "in", "Italy", "."],
        &["Mary", "works", "for", "IBM", "in", "New", "York", "City", "today", "."],
        &["Paris", "is", "in", "France", "."],
    ];
    let encoded: Vec<_> = tokens
        .iter()
        .map(|t| pieces.encode(&t.iter().map(|w| w.to_string()).collect::<Vec<_>>(), 512))
        .collect();
    let ids: Vec<&[u32]> = encoded.iter().map(|e| e.ids.as_slice()).collect();
    let batch = PieceBatch::from_encoded(&encoded, pieces.pad_id, &Device::Cpu).unwrap();
    let padded = model.encode(&batch, false).unwrap();
    let packed = model.encode_packed(&ids, 4).unwrap();
    assert_eq!(packed.len(), 1, "one group of 4");
    let packed = &packed[0];
    assert_eq!(packed.lengths, batch.lengths);
    assert!(packed.attentions().is_err(), "a packed encoding keeps no probabilities");
    let mut worst = 0f32;
    for (b, &n) in batch.lengths.iter().enumerate() {
        let rows = |t: &Tensor| flat(&t.i(b).unwrap().narrow(0, 0, n).unwrap());
        for (x, y) in rows(&padded.hidden).iter().zip(rows(&packed.hidden)) {
            worst = worst.max((x - y).abs());
        }
    }
    assert!(worst <= 1e-4, "hidden states differ by {worst}");
    // Every candidate span's class probabilities, f_a included.
    let spans = spanscope::model::batch::SpanBatch {
        pieces: encoded
            .iter()
            .map(|e| {
                let w = &e.word_pieces;
                (0..w.len()).flat_map(|i| (i..w.len()).map(move |j| w[i].start..w[j].end)).collect()
            })
            .collect(),
        widths: encoded
            .iter()
            .map(|e| {
                let n = e.word_pieces.len();
                (0..n).flat_map(|i| (i..n).map(move |j| j - i + 1)).collect()
            })
            .collect(),
    };
    let probs = |enc| {
        let repr = model.span_representations(enc, &spans).unwrap();
        flat(
            &candle_nn::ops::softmax_last_dim(&model.span_logits(enc, &repr, false).unwrap())
                .unwrap(),
        )
    };
    let (a, b) = (probs(&padded), probs(packed));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(worst <= TOLERANCE, "span probabilities differ by {worst}");
}

/// A typed pair of positions: an entity's words or a relation's entities.
type Decision = (usize, usize, String);

/// Entities and relations as decisions, without scores.
fn decisions(p: &SentencePrediction) -> (Vec<Decision>, Vec<Decision>) {
    (
        p.entities.iter().map(|e| (e.start, e.end, e.entity_type.clone())).collect(),
        p.relations.iter().map(|r| (r.head, r.tail, r.relation_type.clone())).collect(),
    )
}

#[test]
fn packed_batches_make_the_padded_batches_predictions() {
    let (model, pieces) = bundled();
    let dev = conll04_dev();
    assert_eq!(dev.len(), 231);
    let run = |batching| predict_batched(&model, &pieces, &dev, 8, batching, &Device::Cpu).unwrap();
    let (padded, packed) = (run(Batching::Padded), run(Batching::Packed));
    let mut worst = 0f32;
    for (i, (a, b)) in padded.iter().zip(&packed).enumerate() {
        assert_eq!(decisions(a), decisions(b), "sentence {i}");
        for (x, y) in a.entities.iter().zip(&b.entities) {
            for (p, q) in x.probabilities.iter().zip(&y.probabilities) {
                worst = worst.max((p - q).abs());
            }
        }
        for (x, y) in a.relations.iter().zip(&b.relations) {
            worst = worst.max((x.score - y.score).abs());
        }
    }
    assert!(worst <= TOLERANCE, "probabilities differ by {worst}");
    let entities: usize = packed.iter().map(|p| p.entities.len()).sum();
    assert!(entities > 500, "the bundled model finds CoNLL04's entities ({entities})");
}
