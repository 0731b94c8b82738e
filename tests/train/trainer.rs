//! The training loop on the tiny random model (CPU, seconds): the loss falls, a few sentences
//! are learnt by heart, runs repeat for a seed (dropout included), a NaN stops the run without
//! harming the saved checkpoint, and the saved best checkpoint predicts what the trained
//! weights predict.

use crate::tiny_model;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::tiny_model::{annotated, quiet_config};
use candle_core::{DType, Device, Tensor};
use spanscope::data::Sentence;
use spanscope::model::aspert::Aspert;
use spanscope::model::checkpoint::{self, Trainable};
use spanscope::model::decode::{predict, SentencePrediction};
use spanscope::train::evaluate::evaluate;
use spanscope::train::trainer::{
    train, Progress, TrainConfig, TrainData, TrainError, TrainReport, REPORT_FILE,
};

/// Four sentences over the tiny vocabulary: three relation types (Near symmetric), entities of
/// one to three words, and a sentence without any.
fn corpus() -> Vec<Sentence> {
    vec![
        annotated(
            "john smith works for acme in paris .",
            &[("Peop", 0, 2), ("Org", 4, 5), ("Loc", 6, 7)],
            &[("Work_For", 0, 1)],
        ),
        annotated(
            "mary lives in new york city and paris .",
            &[("Peop", 0, 1), ("Loc", 3, 6), ("Loc", 7, 8)],
            &[("Near", 1, 2)],
        ),
        annotated("john killed mary .", &[("Peop", 0, 1), ("Peop", 2, 3)], &[("Kill", 0, 1)]),
        annotated("the big dog sat on the mat .", &[], &[]),
    ]
}

fn fast(epochs: usize, batch_size: usize, lr: f64, seed: u64) -> TrainConfig {
    TrainConfig { epochs, batch_size, lr, seed, ..TrainConfig::default() }
}

fn run(
    t: &mut Trainable,
    sentences: &[Sentence],
    dev: Option<&[Sentence]>,
    cfg: &TrainConfig,
    out: &Path,
) -> Result<TrainReport, TrainError> {
    let types = tiny_model::types();
    let data = TrainData { types: &types, train: sentences, dev };
    train(t, &data, cfg, out, &AtomicBool::new(false), &mut |_| {})
}

fn predictions(model: &Aspert, t: &Trainable, s: &[Sentence]) -> Vec<SentencePrediction> {
    predict(model, &t.pieces, s, 4, &Device::Cpu).unwrap()
}

#[test]
fn loss_goes_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = tiny_model::model(&tiny_model::aspert_config(), dir.path(), 1);
    let report =
        run(&mut t, &corpus(), None, &fast(40, 4, 3e-3, 1), &dir.path().join("out")).unwrap();
    assert_eq!(report.losses.len(), 40);
    let mean = |xs: &[f32]| xs.iter().sum::<f32>() / xs.len() as f32;
    let (first, last) = (mean(&report.losses[..5]), mean(&report.losses[35..]));
    assert!(last < 0.5 * first, "loss {first} → {last}: {:?}", report.losses);
}

#[test]
fn a_few_sentences_are_learnt_by_heart_and_the_best_checkpoint_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("best");
    let sentences = corpus();
    let mut t = tiny_model::model(&quiet_config(), dir.path(), 3);
    let mut epochs_seen = 0;
    let types = tiny_model::types();
    let data = TrainData { types: &types, train: &sentences, dev: Some(&sentences) };
    let report =
        train(&mut t, &data, &fast(60, 2, 1e-2, 3), &out, &AtomicBool::new(false), &mut |p| {
            if let Progress::Epoch(_) = p {
                epochs_seen += 1;
            }
        })
        .unwrap();
    assert_eq!(epochs_seen, 60);
    let best = report.best_epoch.expect("a best epoch");
    let scores = report.epochs[best - 1].dev.unwrap();
    assert_eq!(
        (scores.entities.f1, scores.relations_strict.f1),
        (100.0, 100.0),
        "best epoch {best}: {:?}",
        report.epochs.iter().map(|e| e.dev.unwrap().relations_strict.f1).collect::<Vec<_>>()
    );
    assert!(out.join(REPORT_FILE).is_file());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(REPORT_FILE)).unwrap()).unwrap();
    assert_eq!(json["best_epoch"], best);
    assert_eq!(json["epochs"].as_array().unwrap().len(), 60);

    // The saved checkpoint holds the best epoch: its predictions score 100 as well.
    let (loaded, _, pieces, loaded_types) =
        checkpoint::load(&out, &Device::Cpu, DType::F32).unwrap();
    let saved = predict(&loaded, &pieces, &sentences, 4, &Device::Cpu).unwrap();
    let as_sentences: Vec<Sentence> =
        sentences.iter().zip(&saved).map(|(s, p)| p.to_sentence(&s.tokens)).collect();
    let evaluation = evaluate(&sentences, &as_sentences, &loaded_types).unwrap();
    assert_eq!(evaluation.entities.micro.f1, 100.0);
    assert_eq!(evaluation.relations_strict.micro.f1, 100.0);
}

#[test]
fn the_saved_checkpoint_predicts_what_the_trained_weights_predict() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("last");
    let sentences = corpus();
    let mut t = tiny_model::model(&quiet_config(), dir.path(), 4);
    let report = run(&mut t, &sentences, None, &fast(25, 2, 1e-2, 4), &out).unwrap();
    assert_eq!(report.best_epoch, Some(25), "without dev data the last epoch is kept");
    let trained = predictions(&t.model.frozen().unwrap(), &t, &sentences);
    assert!(trained.iter().any(|p| !p.relations.is_empty()), "{trained:?}");
    let (loaded, _, pieces, _) = checkpoint::load(&out, &Device::Cpu, DType::F32).unwrap();
    assert_eq!(predict(&loaded, &pieces, &sentences, 4, &Device::Cpu).unwrap(), trained);
}

#[test]
fn the_same_seed_gives_the_same_losses_and_weights_with_dropout_on() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_model::aspert_config();
    assert!(cfg.dropout > 0.0 && cfg.encoder.hidden_dropout_prob > 0.0);
    let run_with = |seed, name: &str| {
        let mut t = tiny_model::model(&cfg, dir.path(), 5);
        let report =
            run(&mut t, &corpus(), None, &fast(3, 2, 1e-3, seed), &dir.path().join(name)).unwrap();
        let weights = t.varmap.data().lock().unwrap()["span_classifier.out.weight"]
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        (report.losses, weights)
    };
    let (losses, weights) = run_with(11, "a");
    assert_eq!(losses.len(), 6);
    let (again, weights_again) = run_with(11, "b");
    assert_eq!(losses, again, "dropout masks, negatives and order repeat for a seed");
    assert_eq!(weights, weights_again);
    assert_ne!(losses, run_with(12, "c").0, "another seed samples other negatives and masks");
}

#[test]
fn dropout_masks_follow_the_seed_alone() {
    // The same negatives and order (dropout off) against dropout on: the masks change the
    // losses, so the test above is not passing on sampling alone.
    let dir = tempfile::tempdir().unwrap();
    let losses = |cfg: &spanscope::model::aspert::ModelConfig, name: &str| {
        let mut t = tiny_model::model(cfg, dir.path(), 5);
        run(&mut t, &corpus(), None, &fast(2, 2, 1e-3, 3), &dir.path().join(name)).unwrap().losses
    };
    assert_ne!(losses(&tiny_model::aspert_config(), "on"), losses(&quiet_config(), "off"));
}

fn poison(t: &Trainable, name: &str) {
    let data = t.varmap.data().lock().unwrap();
    let var = &data[name];
    var.set(&Tensor::full(f32::NAN, var.dims(), &Device::Cpu).unwrap()).unwrap();
}

#[test]
fn a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let sentences = corpus();
    let mut t = tiny_model::model(&tiny_model::aspert_config(), dir.path(), 2);
    run(&mut t, &sentences, None, &fast(1, 4, 1e-3, 2), &out).unwrap();
    let (good, _, pieces, _) = checkpoint::load(&out, &Device::Cpu, DType::F32).unwrap();
    let before = predict(&good, &pieces, &sentences, 4, &Device::Cpu).unwrap();

    poison(&t, "span_classifier.out.weight");
    let err = run(&mut t, &sentences, None, &fast(2, 2, 1e-3, 2), &out).unwrap_err();
    assert!(matches!(err, TrainError::NonFiniteLoss { epoch: 1, step: 1, .. }), "{err}");
    assert!(err.to_string().contains("epoch 1, step 1"), "{err}");

    // An exploding learning rate: the run stops (at the loss, or at the weights before saving).
    let mut wild = tiny_model::model(&tiny_model::aspert_config(), dir.path(), 2);
    let dev = &sentences[..2];
    let err = run(&mut wild, &sentences, Some(dev), &fast(3, 1, 1e30, 2), &out);
    assert!(
        matches!(err, Err(TrainError::NonFiniteLoss { .. } | TrainError::NonFiniteWeights { .. })),
        "{err:?}"
    );

    let (kept, _, pieces, _) = checkpoint::load(&out, &Device::Cpu, DType::F32).unwrap();
    assert_eq!(predict(&kept, &pieces, &sentences, 4, &Device::Cpu).unwrap(), before);
}

#[test]
fn cancelling_stops_between_steps() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = tiny_model::model(&tiny_model::aspert_config(), dir.path(), 2);
    let types = tiny_model::types();
    let sentences = corpus();
    let data = TrainData { types: &types, train: &sentences, dev: None };
    let cancel = AtomicBool::new(false);
    let out = dir.path().join("out");
    let err = train(&mut t, &data, &fast(5, 1, 1e-3, 0), &out, &cancel, &mut |p| {
        if let Progress::Step(s) = p {
            if s.step == 3 {
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    })
    .unwrap_err();
    assert!(matches!(err, TrainError::Cancelled { epoch: 1, step: 3 }), "{err}");
    assert!(!out.exists(), "nothing saved before the last epoch without dev data");
}
