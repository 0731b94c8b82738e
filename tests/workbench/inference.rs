//! The model worker on the CPU with tiny random checkpoints: load replies, predictions equal to
//! `decode::predict`, inspect priority and superseding, cancel, reload; and
//! `decode::inspect_span` against the functions it combines.
//!
//! No sleeps: where an order must be forced, the `notify` callback holds the worker thread at a
//! chosen reply until the test lets it go.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::Duration;

use crate::tiny_model::*;
use candle_core::{DType, Device};
use serde_json::Value;
use spanscope::data::Sentence;
use spanscope::model::batch::{PieceBatch, SpanBatch};
use spanscope::model::candidates::span_pieces;
use spanscope::model::checkpoint::{load, save};
use spanscope::model::decode::{explain_span, inspect_span, predict, span_probabilities};
use spanscope::model::device::DeviceSpec;
use spanscope::worker::model::{InferenceReply, InferenceWorker, CPU_BATCH};

/// Long enough for a loaded machine; replies normally take milliseconds.
const WAIT: Duration = Duration::from_secs(60);

/// Saves a tiny model that finds entities and relations to `parent/name`.
fn checkpoint(parent: &Path, name: &str, seed: u64) -> PathBuf {
    let mut t = model(&aspert_config(), parent, seed);
    favour_class(&mut t, 3, 6.0);
    set_relation_bias(&mut t, 2.0);
    let dir = parent.join(name);
    save(&dir, &t.varmap, &t.config, &types(), &t.pieces, DType::F32).unwrap();
    dir
}

/// A worker whose replies arrive on a channel; `hold` picks replies after which the worker
/// thread waits for [`Harness::resume`].
struct Harness {
    replies: Receiver<InferenceReply>,
    gate: Sender<()>,
    worker: InferenceWorker,
}

impl Harness {
    fn new(dir: PathBuf, hold: impl Fn(&InferenceReply) -> bool + Send + 'static) -> Self {
        let (tx, replies) = channel();
        let (gate, wait) = channel::<()>();
        let worker = InferenceWorker::spawn(dir, DeviceSpec::Cpu, move |reply| {
            let held = hold(&reply);
            let _ = tx.send(reply);
            if held {
                let _ = wait.recv_timeout(WAIT);
            }
        });
        Harness { replies, gate, worker }
    }

    fn free(dir: PathBuf) -> Self {
        Self::new(dir, |_| false)
    }

    fn next(&self) -> InferenceReply {
        self.replies.recv_timeout(WAIT).expect("the worker replies")
    }

    fn ready(&self) -> spanscope::worker::model::ModelInfo {
        match self.next() {
            InferenceReply::Ready(info) => info,
            other => panic!("expected Ready, got {other:?}"),
        }
    }

    fn resume(&self) {
        self.gate.send(()).unwrap();
    }

    /// Every reply up to and without the next `Idle`.
    fn until_idle(&self) -> Vec<InferenceReply> {
        let mut seen = Vec::new();
        loop {
            match self.next() {
                InferenceReply::Idle => return seen,
                reply => seen.push(reply),
            }
        }
    }
}

fn words(text: &str) -> Vec<String> {
    sentence(text).tokens
}

fn numbered(texts: &[Sentence]) -> Vec<(usize, Vec<String>)> {
    texts.iter().enumerate().map(|(i, s)| (i, s.tokens.clone())).collect()
}

/// The worker's annotation of `doc`'s sentences, by index, from the given replies.
fn predicted(replies: &[InferenceReply], doc: u64) -> BTreeMap<usize, (u64, Sentence)> {
    replies
        .iter()
        .filter_map(|r| match r {
            InferenceReply::Predicted { doc: d, sentence, generation, annotation, .. }
                if *d == doc =>
            {
                Some((*sentence, (*generation, annotation.clone())))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn ready_describes_the_loaded_model() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = checkpoint(tmp.path(), "tiny-a", 1);
    let h = Harness::free(dir.clone());
    let info = h.ready();
    assert_eq!(info.name, "tiny-a");
    assert_eq!(info.dir, dir);
    assert_eq!(info.device, "cpu");
    assert_eq!(info.types, types());
    assert_eq!(info.entity_types, ["Peop", "Loc", "Org"]);
    assert_eq!((info.layers, info.heads, info.generation), (2, 4, 1));
    assert_eq!(h.worker.queued(), 0);
}

#[test]
fn predictions_equal_decode_predict_and_carry_their_provenance() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = checkpoint(tmp.path(), "tiny-a", 2);
    let h = Harness::free(dir.clone());
    h.ready();
    h.worker.predict(7, numbered(&sentences()));
    let replies = h.until_idle();
    assert_eq!(h.worker.queued(), 0);
    let got = predicted(&replies, 7);
    assert_eq!(got.len(), sentences().len(), "every sentence is answered: {replies:?}");

    let (model, _, pieces, _) = load(&dir, &Device::Cpu, DType::F32).unwrap();
    // The worker predicts the four sentences as one batch, as this call does.
    assert!(sentences().len() <= CPU_BATCH);
    let expected = predict(&model, &pieces, &sentences(), CPU_BATCH, &Device::Cpu).unwrap();
    let (mut entities, mut relations) = (0, 0);
    for (i, (s, p)) in sentences().iter().zip(expected).enumerate() {
        let (generation, annotation) = &got[&i];
        assert_eq!(*generation, 1);
        let mut want = p.to_sentence(&s.tokens);
        let extras = want.entities.iter_mut().map(|e| &mut e.extra);
        for extra in extras.chain(want.relations.iter_mut().map(|r| &mut r.extra)) {
            extra.insert("model".into(), Value::from("tiny-a"));
        }
        assert_eq!(annotation, &want, "sentence {i}");
        for extra in annotation
            .entities
            .iter()
            .map(|e| &e.extra)
            .chain(annotation.relations.iter().map(|r| &r.extra))
        {
            assert_eq!(extra["source"], "model");
            assert_eq!(extra["model"], "tiny-a");
            assert!(extra["score"].as_f64().is_some_and(|p| p > 0.0 && p <= 1.0));
        }
        entities += annotation.entities.len();
        relations += annotation.relations.len();
    }
    assert!(entities > 0 && relations > 0, "the test model finds something to check");
}

#[test]
fn an_inspect_is_served_before_the_queued_predictions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = checkpoint(tmp.path(), "tiny-a", 3);
    // Hold the worker at its first prediction, so that the inspect arrives mid-queue.
    let first = AtomicBool::new(true);
    let h = Harness::new(dir, move |r| {
        matches!(r, InferenceReply::Predicted { .. }) && first.swap(false, Ordering::SeqCst)
    });
    h.ready();
    let text = words("John Smith works for Acme in Paris .");
    h.worker.predict(1, (0..200).map(|i| (i, text.clone())).collect());
    assert!(matches!(h.next(), InferenceReply::Predicted { doc: 1, sentence: 0, .. }));
    assert_eq!(h.worker.queued(), 200 - CPU_BATCH, "one batch taken from the queue");
    h.worker.inspect(5, text.clone(), 0, 2);
    h.resume();
    let replies = h.until_idle();
    let inspected =
        replies.iter().position(|r| matches!(r, InferenceReply::Inspected { request: 5, .. }));
    let last = replies.iter().rposition(|r| matches!(r, InferenceReply::Predicted { .. }));
    // Only the rest of the batch that was running is answered first.
    assert_eq!(inspected, Some(CPU_BATCH - 1), "the inspect waits for no further batch");
    assert!(inspected < last);
    assert_eq!(predicted(&replies, 1).len(), 199);
    assert_eq!(h.worker.queued(), 0);
}

#[test]
fn a_superseded_inspect_gets_no_reply() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = checkpoint(tmp.path(), "tiny-a", 4);
    let h = Harness::new(dir, |r| matches!(r, InferenceReply::Ready(_)));
    h.ready();
    let text = words("Mary lives in New York City");
    h.worker.inspect(1, text.clone(), 0, 1);
    h.worker.inspect(2, text.clone(), 3, 6);
    h.resume();
    let replies = h.until_idle();
    assert_eq!(replies.len(), 1, "{replies:?}");
    match &replies[0] {
        InferenceReply::Inspected { request: 2, result: Ok(i) } => {
            assert_eq!((i.start, i.end), (3, 6))
        }
        other => panic!("expected request 2 inspected, got {other:?}"),
    }
}

#[test]
fn cancel_drops_the_queued_work_of_a_document() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = checkpoint(tmp.path(), "tiny-a", 5);
    let h = Harness::new(dir, |r| matches!(r, InferenceReply::Ready(_)));
    h.ready();
    h.worker.predict(1, numbered(&sentences()[..3]));
    h.worker.predict(2, numbered(&sentences()[..2]));
    h.worker.cancel(1);
    assert_eq!(h.worker.queued(), 5, "counted as soon as asked");
    h.resume();
    let replies = h.until_idle();
    assert!(predicted(&replies, 1).is_empty(), "{replies:?}");
    assert_eq!(predicted(&replies, 2).keys().copied().collect::<Vec<_>>(), [0, 1]);
    assert_eq!(replies.len(), 2);
    assert_eq!(h.worker.queued(), 0);
}

#[test]
fn a_bad_model_dir_fails_to_load_and_requests_fail_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-model");
    let h = Harness::free(missing.clone());
    match h.next() {
        InferenceReply::LoadFailed { dir, error } => {
            assert_eq!(dir, missing);
            assert!(error.contains(&missing.display().to_string()), "{error}");
        }
        other => panic!("expected LoadFailed, got {other:?}"),
    }
    h.worker.predict(3, vec![(4, words("the cat sat"))]);
    let replies = h.until_idle();
    assert!(
        matches!(&replies[..], [InferenceReply::Failed { doc: 3, sentence: 4, .. }]),
        "{replies:?}"
    );
    h.worker.inspect(9, words("the cat sat"), 0, 1);
    let replies = h.until_idle();
    assert!(matches!(&replies[..], [InferenceReply::Inspected { request: 9, result: Err(_) }]));
}

#[test]
fn reload_switches_the_model_and_the_generation() {
    let tmp = tempfile::tempdir().unwrap();
    let a = checkpoint(tmp.path(), "tiny-a", 6);
    let b = checkpoint(tmp.path(), "tiny-b", 7);
    let h = Harness::free(a);
    assert_eq!(h.ready().generation, 1);
    let one = vec![(0, words("John Smith works for Acme in Paris ."))];
    h.worker.predict(1, one.clone());
    assert_eq!(predicted(&h.until_idle(), 1)[&0].0, 1);

    h.worker.reload(b.clone());
    let info = h.ready();
    assert_eq!((info.name.as_str(), info.dir, info.generation), ("tiny-b", b, 2));
    h.worker.predict(1, one.clone());
    let (generation, annotation) = predicted(&h.until_idle(), 1)[&0].clone();
    assert_eq!(generation, 2);
    assert!(annotation.entities.iter().all(|e| e.extra["model"] == "tiny-b"));

    // A failed reload keeps the model in use.
    h.worker.reload(tmp.path().join("gone"));
    assert!(matches!(h.next(), InferenceReply::LoadFailed { .. }));
    h.worker.predict(1, one);
    assert_eq!(predicted(&h.until_idle(), 1)[&0].0, 2);
}

#[test]
fn an_inspection_has_probabilities_and_a_head_per_cell() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = checkpoint(tmp.path(), "tiny-a", 8);
    let h = Harness::free(dir);
    h.ready();
    let text = words("John Smith works for Acme in Paris .");
    h.worker.inspect(1, text.clone(), 0, 2);
    h.worker.inspect(2, text.clone(), 0, 5);
    let replies = h.until_idle();
    // Sent back to back: the first may or may not be superseded, the second is always served.
    let too_wide = replies.iter().find_map(|r| match r {
        InferenceReply::Inspected { request: 2, result } => Some(result.clone()),
        _ => None,
    });
    let error = too_wide.expect("request 2 is answered").unwrap_err();
    assert!(error.contains("at most 4"), "{error}");

    h.worker.inspect(3, text, 0, 2);
    let inspection = match &h.until_idle()[..] {
        [InferenceReply::Inspected { request: 3, result: Ok(i) }] => i.clone(),
        other => panic!("expected request 3 inspected, got {other:?}"),
    };
    assert_eq!((inspection.start, inspection.end), (0, 2));
    let names: Vec<&str> = inspection.probabilities.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["none", "Peop", "Loc", "Org"]);
    let total: f32 = inspection.probabilities.iter().map(|(_, p)| p).sum();
    assert!((total - 1.0).abs() < 1e-5, "{total}");
    let c = &inspection.contribution;
    assert_eq!((c.layers, c.heads, c.values.len()), (2, 4, 8));
}

#[test]
fn inspect_span_agrees_with_explain_span_and_span_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = model(&aspert_config(), dir.path(), 9);
    favour_class(&mut t, 2, 3.0);
    let tokens = words("Mary lives in New York City and John runs for the big dogs .");
    let encoded = t.pieces.encode(&tokens, t.config.max_pieces);
    let batch =
        PieceBatch::from_encoded(std::slice::from_ref(&encoded), t.pieces.pad_id, &Device::Cpu)
            .unwrap();
    for (start, end) in [(0, 1), (3, 6), (10, 13), (13, 14)] {
        let found = inspect_span(&t.model, &t.pieces, &tokens, start, end).unwrap();
        let c = explain_span(&t.model, &t.pieces, &tokens, start, end).unwrap();
        assert_eq!(found.contribution, c, "span {start}..{end}");
        let spans = SpanBatch {
            pieces: vec![vec![span_pieces(&encoded.word_pieces, start, end)]],
            widths: vec![vec![end - start]],
        };
        let want = span_probabilities(&t.model, &batch, &spans).unwrap().to_vec3::<f32>().unwrap();
        assert_eq!(found.probabilities.len(), 4);
        for (a, b) in found.probabilities.iter().zip(&want[0][0]) {
            assert!((a - b).abs() < 1e-6, "span {start}..{end}: {a} vs {b}");
        }
    }
    let wide = inspect_span(&t.model, &t.pieces, &tokens, 0, 5).unwrap_err().to_string();
    assert!(wide.contains("5 words wide") && wide.contains("at most 4"), "{wide}");
    assert!(inspect_span(&t.model, &t.pieces, &tokens, 14, 15).is_err());
    assert!(inspect_span(&t.model, &t.pieces, &tokens, 3, 3).is_err());
}

#[test]
fn a_sentence_longer_than_the_encoder_comes_with_notes_and_a_short_one_without() {
    let tmp = tempfile::tempdir().unwrap();
    let h = Harness::free(checkpoint(tmp.path(), "tiny-a", 2));
    h.ready();
    // The tiny encoder reads 64 pieces: twelve copies of a 7-word sentence do not fit.
    let long = sentence(&["John Smith works for Acme in Paris ."; 12].join(" "));
    h.worker.predict(3, numbered(&[sentences()[0].clone(), long]));
    let notes: BTreeMap<usize, Vec<String>> = h
        .until_idle()
        .into_iter()
        .filter_map(|r| match r {
            InferenceReply::Predicted { sentence, notes, .. } => Some((sentence, notes)),
            _ => None,
        })
        .collect();
    assert_eq!(notes[&0], Vec::<String>::new());
    assert!(
        notes[&1].iter().any(|n| n.contains("overlapping windows")),
        "the long sentence's reply says how it was predicted: {notes:?}"
    );
}
