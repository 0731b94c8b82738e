//! The expert's own schema, on the CPU with the tiny model: growing the classifiers by new
//! types keeps the old predictions bit for bit, a new type is learnt from a handful of
//! reviewed sentences, and the keep-or-discard gate judges only on enough sentences (a
//! minimum held out, cross-validation below it, or "too few to judge").

use crate::tiny_model;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use crate::tiny_model::{annotated, quiet_config};
use candle_core::{DType, Device};
use spanscope::data::types::Types;
use spanscope::data::Sentence;
use spanscope::model::checkpoint::{self, Trainable};
use spanscope::model::decode::{predict, SentencePrediction};
use spanscope::model::device::DeviceSpec;
use spanscope::train::finetune::{
    finetune, FinetuneConfig, FinetuneJob, FinetuneOutcome, FinetuneProgress, Judge, REVIEWED_KEY,
};
use spanscope::train::trainer::{train, TrainConfig, TrainData};

fn reviewed(mut s: Sentence) -> Sentence {
    s.extra.insert(REVIEWED_KEY.into(), true.into());
    s
}

/// A random tiny model that finds entities and relations (so that every output matters).
fn busy_model(dir: &Path, linear: bool) -> Trainable {
    let mut cfg = tiny_model::aspert_config();
    if linear {
        cfg = cfg.with_linear_classifier();
    }
    let mut t = tiny_model::model(&cfg, dir, 11);
    tiny_model::favour_class(&mut t, 1, 6.0);
    tiny_model::set_relation_bias(&mut t, 0.5);
    t
}

fn predictions(dir: &Path) -> Vec<SentencePrediction> {
    let (model, _, pieces, _) = checkpoint::load(dir, &Device::Cpu, DType::F32).unwrap();
    predict(&model, &pieces, &tiny_model::sentences(), 2, &Device::Cpu).unwrap()
}

fn grown_types() -> Types {
    let mut types = tiny_model::types();
    types.add_entity("Animal").unwrap();
    types.add_relation("Lives_In").unwrap();
    types
}

#[test]
fn growing_the_classifiers_keeps_the_old_predictions_bit_for_bit() {
    for linear in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let t = busy_model(dir.path(), linear);
        let base = dir.path().join("base");
        checkpoint::save(&base, &t.varmap, &t.config, &tiny_model::types(), &t.pieces, DType::F32)
            .unwrap();
        let old = predictions(&base);
        assert!(old.iter().any(|p| !p.entities.is_empty()), "the model predicts entities");
        assert!(old.iter().any(|p| !p.relations.is_empty()), "and relations");
        let frozen_old = predict(
            &t.model.frozen().unwrap(),
            &t.pieces,
            &tiny_model::sentences(),
            2,
            &Device::Cpu,
        )
        .unwrap();

        let (trainable, _) = checkpoint::load_trainable(&base, &Device::Cpu, DType::F32).unwrap();
        let relations = [("Lives_In".to_string(), false)];
        let grown = checkpoint::grow(trainable, &["Animal".into()], &relations, 3).unwrap();
        assert_eq!(grown.config.entity_types.len(), 4);
        assert_eq!(grown.config.learning_entity_types, ["Animal"]);
        assert_eq!(grown.config.learning_relation_types, ["Lives_In"]);
        let frozen_new = predict(
            &grown.model.frozen().unwrap(),
            &grown.pieces,
            &tiny_model::sentences(),
            2,
            &Device::Cpu,
        )
        .unwrap();
        assert_eq!(frozen_new, frozen_old, "linear {linear}: the frozen copy predicts the same");

        let out = dir.path().join("grown");
        checkpoint::save(
            &out,
            &grown.varmap,
            &grown.config,
            &grown_types(),
            &grown.pieces,
            DType::F32,
        )
        .unwrap();
        // Every probability, every score: the same bits.
        assert_eq!(predictions(&out), old, "linear {linear}");
        let (config, types) = checkpoint::read_manifest(&out).unwrap();
        assert_eq!(types, grown_types());
        assert_eq!(config.predicting().entity_types, ["Peop", "Loc", "Org"]);
    }
}

/// A base that knows "P works for O", taught by the training loop.
fn trained_base(dir: &Path) -> PathBuf {
    let mut t = tiny_model::model(&quiet_config(), dir, 4);
    let types = tiny_model::types();
    let sentences = old_pattern();
    let data = TrainData { types: &types, train: &sentences, dev: None };
    let cfg =
        TrainConfig { epochs: 40, batch_size: 2, lr: 1e-2, seed: 4, ..TrainConfig::default() };
    let out = dir.join("trained");
    train(&mut t, &data, &cfg, &out, &AtomicBool::new(false), &mut |_| {}).unwrap();
    out
}

fn old_pattern() -> Vec<Sentence> {
    let work = |text: &str, p: (usize, usize), o: (usize, usize)| {
        annotated(text, &[("Peop", p.0, p.1), ("Org", o.0, o.1)], &[("Work_For", 0, 1)])
    };
    vec![
        work("john works for acme .", (0, 1), (3, 4)),
        work("mary works for acme .", (0, 1), (3, 4)),
        work("john smith works for acme .", (0, 2), (4, 5)),
        work("mary works for acme in paris .", (0, 1), (3, 4)),
    ]
}

/// A handful of reviewed sentences with a type the model lacks: animals living in places.
fn animals() -> Vec<Sentence> {
    let lives = |text: &str, a: (usize, usize), l: (usize, usize)| {
        annotated(text, &[("Animal", a.0, a.1), ("Loc", l.0, l.1)], &[("Lives_In", 0, 1)])
    };
    [
        lives("the cat lives in paris .", (1, 2), (4, 5)),
        lives("the dog lives in paris .", (1, 2), (4, 5)),
        lives("the big dog lives in new york city .", (1, 3), (5, 8)),
        lives("a cat lives in new york .", (1, 2), (4, 6)),
        lives("the big cat lives in paris .", (1, 3), (5, 6)),
        lives("a dog lives in new york city .", (1, 2), (4, 7)),
    ]
    .into_iter()
    .map(reviewed)
    .collect()
}

fn config() -> FinetuneConfig {
    FinetuneConfig {
        epochs: 40,
        batch_size: 2,
        lr: 1e-2,
        held_out: 0.2,
        seed: 6,
        neg_entity_count: 20,
        neg_relation_count: 20,
        min_held_out: 1,
        forgetting: 2,
        propose_after: 3,
        replay_per_reviewed: 0.0,
        ..FinetuneConfig::default()
    }
}

fn job(base: &Path, reviewed: Vec<Sentence>, config: FinetuneConfig, work: PathBuf) -> FinetuneJob {
    // The first two sentences are the forgetting slice, the rest is mixed in.
    let mut replay = old_pattern();
    replay.extend(old_pattern());
    FinetuneJob {
        base: base.into(),
        reviewed,
        replay,
        config,
        device: DeviceSpec::Cpu,
        work_dir: work,
        types: Some(grown_types()),
    }
}

fn run(job: &FinetuneJob, heard: &mut Vec<FinetuneProgress>) -> FinetuneOutcome {
    finetune(job, &AtomicBool::new(false), &mut |p| heard.push(p)).unwrap()
}

#[test]
fn a_new_type_is_learnt_from_a_handful_of_sentences_and_the_old_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let base = trained_base(dir.path());
    let work = dir.path().join("candidate");
    let outcome = run(&job(&base, animals(), config(), work.clone()), &mut Vec::new());
    assert_eq!(outcome.grown, [("Animal".to_string(), true), ("Lives_In".to_string(), true)]);
    assert_eq!(outcome.forgetting.0.sentences, 2, "{outcome:?}");

    let (model, config, pieces, types) = checkpoint::load(&work, &Device::Cpu, DType::F32).unwrap();
    assert!(config.learning_entity_types.is_empty() && types.entity_index("Animal") == Some(3));
    let found = predict(
        &model,
        &pieces,
        &[
            tiny_model::sentence("the cat lives in paris ."),
            tiny_model::sentence("john works for acme ."),
        ],
        2,
        &Device::Cpu,
    )
    .unwrap();
    let typed = |p: &SentencePrediction| -> Vec<(usize, usize, String)> {
        p.entities.iter().map(|e| (e.start, e.end, e.entity_type.clone())).collect()
    };
    assert!(typed(&found[0]).contains(&(1, 2, "Animal".into())), "{:?}", found[0]);
    assert!(found[0].relations.iter().any(|r| r.relation_type == "Lives_In"), "{:?}", found[0]);
    assert_eq!(typed(&found[1]), [(0, 1, "Peop".into()), (3, 4, "Org".into())], "old types kept");
}

#[test]
fn a_new_type_with_too_few_examples_is_learnt_but_not_predicted() {
    let dir = tempfile::tempdir().unwrap();
    let base = trained_base(dir.path());
    let work = dir.path().join("candidate");
    let config = FinetuneConfig { propose_after: 50, epochs: 2, ..config() };
    let outcome = run(&job(&base, animals(), config, work.clone()), &mut Vec::new());
    assert_eq!(outcome.grown, [("Animal".to_string(), false), ("Lives_In".to_string(), false)]);
    let (config, types) = checkpoint::read_manifest(&work).unwrap();
    assert_eq!(config.learning_entity_types, ["Animal"]);
    assert_eq!(types.entities.len(), 4, "the candidate has the output, to go on learning it");
}

#[test]
fn too_few_reviewed_sentences_are_not_judged() {
    let dir = tempfile::tempdir().unwrap();
    let base = trained_base(dir.path());
    let config = FinetuneConfig { min_held_out: 5, epochs: 1, ..config() };
    let outcome =
        run(&job(&base, animals()[..3].to_vec(), config, dir.path().join("c")), &mut Vec::new());
    assert_eq!(outcome.judged_by, Judge::TooFew);
    assert_eq!(outcome.verdict, "too few reviewed sentences to judge (3)");
    assert!(!outcome.not_worse);
    assert_eq!((outcome.trained_on, outcome.held_out), (3, 0), "all of them are learnt");
}

#[test]
fn below_the_minimum_held_out_cross_validation_judges_every_reviewed_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let base = trained_base(dir.path());
    // 6 reviewed, 0.2 held out gives 1 or 2: fewer than 4, so 3-fold cross-validation.
    let config = FinetuneConfig { min_held_out: 4, folds: 3, epochs: 20, ..config() };
    let mut heard = Vec::new();
    let outcome = run(&job(&base, animals(), config, dir.path().join("c")), &mut heard);
    assert_eq!(outcome.judged_by, Judge::CrossValidation(3));
    assert_eq!((outcome.before.sentences, outcome.after.sentences), (6, 6));
    assert_eq!(outcome.trained_on, 6, "the candidate itself learns every reviewed sentence");
    let folds: Vec<usize> = heard
        .iter()
        .filter_map(|p| match p {
            FinetuneProgress::Fold { fold, folds: 3 } => Some(*fold),
            _ => None,
        })
        .collect();
    assert_eq!(folds, [1, 2, 3]);
    // The base knows no animal: the fold models, which learnt them, change every sentence.
    assert_eq!(outcome.before.entities.f1, 0.0, "{:?}", outcome.before);
    assert!(outcome.after.entities.f1 > 0.0, "{:?}", outcome.after);
    assert!(!outcome.changed.is_empty());
    let c = &outcome.changed[0];
    assert_ne!(c.before, c.after);
    assert!(c.gold.contains("[Animal]") && c.gold.contains("Lives_In("), "{c:?}");
    assert!(outcome.verdict.contains("by 3-fold cross-validation"), "{}", outcome.verdict);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".fold-")), "fold models are removed: {names:?}");
}
