//! Fine-tuning on reviewed sentences and model versions, on the CPU with the tiny random model
//! (seconds): reviewed sentences are learnt, the candidate is compared with the current model
//! on held-out reviewed sentences, a cancelled or exploding run leaves nothing behind and the
//! base untouched, and accepted models become versions that can be rolled back.

use crate::tiny_model;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::tiny_model::{annotated, quiet_config};
use candle_core::{DType, Device};
use spanscope::data::io::{write_sentences, Format};
use spanscope::data::Sentence;
use spanscope::model::checkpoint;
use spanscope::model::device::DeviceSpec;
use spanscope::model::versions::{
    Scores, VersionRecord, VersionRef, Versions, VersionsError, VERSIONS_FILE,
};
use spanscope::train::finetune::{
    finetune, is_not_worse, replay_sample, reviewed_sentences, score_checkpoint, split_held_out,
    FinetuneConfig, FinetuneError, FinetuneJob, FinetuneOutcome, FinetuneProgress, REPLAY_FILE,
    REPORT_FILE, REVIEWED_KEY,
};
use spanscope::train::trainer::{train, TrainConfig, TrainData, TrainError};

fn reviewed(mut s: Sentence) -> Sentence {
    s.extra.insert(REVIEWED_KEY.into(), true.into());
    s
}

/// Reviewed sentences of two patterns over the tiny vocabulary: "P works for O" and
/// "P killed P".
fn corrections() -> Vec<Sentence> {
    let work = |text: &str, p: (usize, usize), o: (usize, usize)| {
        annotated(text, &[("Peop", p.0, p.1), ("Org", o.0, o.1)], &[("Work_For", 0, 1)])
    };
    let kill = |text: &str, a: (usize, usize), b: (usize, usize)| {
        annotated(text, &[("Peop", a.0, a.1), ("Peop", b.0, b.1)], &[("Kill", 0, 1)])
    };
    [
        work("john works for acme .", (0, 1), (3, 4)),
        work("mary works for acme .", (0, 1), (3, 4)),
        work("john smith works for acme .", (0, 2), (4, 5)),
        work("mary works for acme in paris .", (0, 1), (3, 4)),
        kill("john killed mary .", (0, 1), (2, 3)),
        kill("mary killed john .", (0, 1), (2, 3)),
        kill("john smith killed mary .", (0, 2), (3, 4)),
        kill("mary killed john smith .", (0, 1), (2, 4)),
    ]
    .into_iter()
    .map(reviewed)
    .collect()
}

/// Original training data to replay: a sentence with nothing in it and one with a place.
fn replay() -> Vec<Sentence> {
    vec![
        annotated("the big dog sat on the mat .", &[], &[]),
        annotated("mary lives in new york city .", &[("Peop", 0, 1), ("Loc", 3, 6)], &[]),
    ]
}

/// A random tiny model saved as a checkpoint in `dir/name`.
fn random_checkpoint(dir: &Path, name: &str, seed: u64) -> PathBuf {
    let t = tiny_model::model(&quiet_config(), dir, seed);
    let out = dir.join(name);
    checkpoint::save(&out, &t.varmap, &t.config, &tiny_model::types(), &t.pieces, DType::F32)
        .unwrap();
    out
}

/// Every file of a directory with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else { return BTreeMap::new() };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect()
}

/// Names in a directory (files and folders), sorted.
fn names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> =
        entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// Enough steps at a high learning rate for the tiny model to learn eight sentences.
fn tiny_config() -> FinetuneConfig {
    FinetuneConfig {
        epochs: 40,
        batch_size: 2,
        lr: 1e-2,
        held_out: 0.25,
        seed: 6,
        neg_entity_count: 20,
        neg_relation_count: 20,
        // Two held-out sentences are enough to judge these crafted cases, and the replay
        // sample is small: all of it is mixed in (tests/train/new_types.rs checks the gate).
        min_held_out: 1,
        forgetting: 0,
        replay_per_reviewed: 0.0,
        ..FinetuneConfig::default()
    }
}

fn job(
    base: &Path,
    reviewed: Vec<Sentence>,
    config: FinetuneConfig,
    work_dir: PathBuf,
) -> FinetuneJob {
    FinetuneJob {
        base: base.into(),
        reviewed,
        replay: replay(),
        config,
        device: DeviceSpec::Cpu,
        work_dir,
        types: None,
    }
}

fn run(job: &FinetuneJob) -> Result<FinetuneOutcome, FinetuneError> {
    finetune(job, &AtomicBool::new(false), &mut |_| {})
}

#[test]
fn reviewed_sentences_are_learnt_and_the_candidate_is_not_worse() {
    let dir = tempfile::tempdir().unwrap();
    let base = random_checkpoint(dir.path(), "base", 1);
    let base_files = snapshot(&base);
    let all = corrections();
    let config = tiny_config();
    let (train_part, held_part) = split_held_out(&all, config.held_out, config.seed);
    assert_eq!((train_part.len(), held_part.len()), (6, 2));
    let before = score_checkpoint(&base, &train_part, &Device::Cpu).unwrap();
    assert!(before.entities.f1 < 100.0 && before.relations.f1 < 100.0, "{before:?}");

    let work = dir.path().join("candidate");
    let mut steps = 0;
    let mut started = None;
    let outcome = finetune(
        &job(&base, all, config, work.clone()),
        &AtomicBool::new(false),
        &mut |p| match p {
            FinetuneProgress::Started { device, total_steps, .. } => {
                started = Some((device, total_steps))
            }
            FinetuneProgress::Step(s) => {
                steps += 1;
                assert!(s.step <= s.total_steps && s.loss.is_finite());
            }
            _ => {}
        },
    )
    .unwrap();
    assert_eq!(started, Some(("cpu".to_string(), 4 * 40)));
    assert_eq!(steps, 4 * 40);
    assert_eq!((outcome.trained_on, outcome.replayed, outcome.held_out), (6, 2, 2));
    assert_eq!(outcome.candidate, work);

    // The candidate predicts the sentences it was taught exactly.
    let taught = score_checkpoint(&work, &train_part, &Device::Cpu).unwrap();
    assert_eq!((taught.entities.f1, taught.relations.f1), (100.0, 100.0), "{taught:?}");
    // The held-out ones follow the same patterns: it does at least as well as the base.
    assert!(outcome.not_worse, "before {:?}\nafter {:?}", outcome.before, outcome.after);
    assert!(outcome.after.entities.f1 > outcome.before.entities.f1, "{outcome:?}");
    assert_eq!(outcome.before.sentences, 2);

    for file in [REPORT_FILE, "training.json", checkpoint::CONFIG_FILE, checkpoint::WEIGHTS_FILE] {
        assert!(work.join(file).is_file(), "{file}");
    }
    assert_eq!(snapshot(&base), base_files, "the base checkpoint is never written");
}

#[test]
fn cancelling_leaves_the_versions_and_the_base_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let base = random_checkpoint(dir.path(), "base", 2);
    let docs = dir.path().join("docs");
    let mut versions = Versions::open(&docs).unwrap();
    let candidate = random_checkpoint(dir.path(), "earlier", 5);
    versions.accept(&candidate, record("base")).unwrap();
    let before = (names(versions.root()), snapshot(versions.root()), snapshot(&base));

    let work = versions.work_dir().unwrap();
    let cancel = AtomicBool::new(false);
    let err =
        finetune(&job(&base, corrections(), tiny_config(), work.clone()), &cancel, &mut |p| {
            if let FinetuneProgress::Step(_) = p {
                cancel.store(true, Ordering::Relaxed);
            }
        })
        .unwrap_err();
    assert!(matches!(err, FinetuneError::Cancelled), "{err}");
    assert!(err.to_string().contains("current model is unchanged"), "{err}");
    assert!(!work.exists());
    assert_eq!((names(versions.root()), snapshot(versions.root()), snapshot(&base)), before);
    let reopened = Versions::open(&docs).unwrap();
    assert_eq!(reopened.current_ref(), VersionRef::Number(1));
}

#[test]
fn a_nan_loses_only_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let base = random_checkpoint(dir.path(), "base", 2);
    let files = snapshot(&base);
    let work = dir.path().join("candidate");
    let config = FinetuneConfig { lr: 1e30, epochs: 3, batch_size: 1, ..tiny_config() };
    let err = run(&job(&base, corrections(), config, work.clone())).unwrap_err();
    let non_finite = |e: &TrainError| {
        matches!(e, TrainError::NonFiniteLoss { .. } | TrainError::NonFiniteWeights { .. })
    };
    assert!(matches!(&err, FinetuneError::Train(e) if non_finite(e)), "{err}");
    assert!(!work.exists());
    assert_eq!(snapshot(&base), files);
}

/// A base that knows the "P killed P" pattern, taught by the training loop.
fn trained_base(dir: &Path, sentences: &[Sentence]) -> PathBuf {
    let mut t = tiny_model::model(&quiet_config(), dir, 4);
    let types = tiny_model::types();
    let data = TrainData { types: &types, train: sentences, dev: None };
    let cfg =
        TrainConfig { epochs: 40, batch_size: 2, lr: 1e-2, seed: 4, ..TrainConfig::default() };
    let out = dir.join("trained");
    train(&mut t, &data, &cfg, &out, &AtomicBool::new(false), &mut |_| {}).unwrap();
    out
}

#[test]
fn a_candidate_that_unlearns_the_held_out_pattern_is_worse() {
    let dir = tempfile::tempdir().unwrap();
    let kills: Vec<Sentence> =
        corrections().into_iter().filter(|s| s.relations[0].relation_type == "Kill").collect();
    let base = trained_base(dir.path(), &kills);
    // The expert "corrects" the training side to say there is nothing in these sentences;
    // the held-out side keeps its gold, which the base gets right.
    let config = FinetuneConfig { held_out: 0.3, seed: 1, ..tiny_config() };
    let (_, held) = split_held_out(&kills, config.held_out, config.seed);
    let contradicting: Vec<Sentence> = kills
        .iter()
        .map(|s| {
            if held.contains(s) {
                s.clone()
            } else {
                reviewed(Sentence::from_tokens(s.tokens.clone()))
            }
        })
        .collect();
    let outcome = run(&job(&base, contradicting, config, dir.path().join("candidate"))).unwrap();
    assert!(outcome.held_out >= 1);
    assert!(outcome.before.relations.f1 > 0.0, "{:?}", outcome.before);
    assert!(!outcome.not_worse, "before {:?}\nafter {:?}", outcome.before, outcome.after);
    assert!(outcome.after.relations.f1 < outcome.before.relations.f1);

    // The same comparison through the scoring function: a random model against the trained.
    let random = random_checkpoint(dir.path(), "random", 9);
    let good = score_checkpoint(&base, &kills, &Device::Cpu).unwrap();
    let bad = score_checkpoint(&random, &kills, &Device::Cpu).unwrap();
    assert!(is_not_worse(&good, &bad) && !is_not_worse(&bad, &good), "{good:?} {bad:?}");
}

#[test]
fn one_reviewed_sentence_holds_nothing_out_and_is_never_not_worse() {
    let dir = tempfile::tempdir().unwrap();
    let base = random_checkpoint(dir.path(), "base", 1);
    let config = FinetuneConfig { epochs: 1, ..tiny_config() };
    let outcome =
        run(&job(&base, corrections()[..1].to_vec(), config, dir.path().join("c"))).unwrap();
    assert_eq!((outcome.trained_on, outcome.held_out), (1, 0));
    assert_eq!((outcome.before, outcome.after), (Scores::default(), Scores::default()));
    assert!(!outcome.not_worse);
    assert!(outcome.record("base".into()).forced);
    outcome.discard().unwrap();
    assert!(!outcome.candidate.exists());
}

#[test]
fn a_run_works_on_a_background_thread_reporting_over_a_channel() {
    let dir = tempfile::tempdir().unwrap();
    let base = random_checkpoint(dir.path(), "base", 1);
    let config = FinetuneConfig { epochs: 2, ..tiny_config() };
    let job = job(&base, corrections(), config, dir.path().join("c"));
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let flag = cancel.clone();
    let worker = std::thread::spawn(move || finetune(&job, &flag, &mut |p| tx.send(p).unwrap()));
    let heard: Vec<FinetuneProgress> = rx.iter().collect();
    let outcome = worker.join().unwrap().unwrap();
    assert!(matches!(heard.first(), Some(FinetuneProgress::Started { .. })));
    assert!(matches!(heard.last(), Some(FinetuneProgress::Scoring { sentences: 2 })));
    let last_step = heard.iter().rev().find_map(|p| match p {
        FinetuneProgress::Step(s) => Some(s.clone()),
        _ => None,
    });
    assert_eq!(last_step.map(|s| (s.step, s.total_steps, s.eta)), Some((8, 8, Default::default())));
    assert!(outcome.candidate.is_dir());
}

#[test]
fn bad_jobs_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let base = random_checkpoint(dir.path(), "base", 1);
    let work = dir.path().join("c");
    let err = run(&job(&base, Vec::new(), tiny_config(), work.clone())).unwrap_err();
    assert!(matches!(err, FinetuneError::NoReviewed), "{err}");

    let mut odd = corrections();
    odd[2].entities[1].entity_type = "Misc".into();
    let err = run(&job(&base, odd, tiny_config(), work.clone())).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("reviewed sentence 2") && text.contains("`Misc`"), "{text}");
    assert!(text.contains("john smith works for acme"), "{text}");

    // An existing directory is never replaced.
    let err = run(&job(&base, corrections(), tiny_config(), base.clone())).unwrap_err();
    assert!(matches!(err, FinetuneError::WorkDirExists(_)), "{err}");
    assert!(base.join(checkpoint::CONFIG_FILE).is_file());
    assert!(!work.exists());
}

#[test]
fn only_reviewed_sentences_are_taken_and_replay_comes_from_the_checkpoint() {
    let mut all = corrections();
    all.push(tiny_model::sentence("the cat sat"));
    all[0].extra.insert(REVIEWED_KEY.into(), false.into());
    assert_eq!(reviewed_sentences(&all).len(), 7);

    let dir = tempfile::tempdir().unwrap();
    let base = random_checkpoint(dir.path(), "base", 1);
    assert!(replay_sample(&base, 10, 0).unwrap().is_empty());
    let pool: Vec<Sentence> = (0..30)
        .map(|i| {
            let mut s = tiny_model::sentence("the cat sat on the mat .");
            s.extra.insert("orig_id".into(), i.into());
            s
        })
        .collect();
    write_sentences(&base.join(REPLAY_FILE), &pool, Format::JsonLines).unwrap();
    let drawn = replay_sample(&base, 10, 0).unwrap();
    assert_eq!(drawn.len(), 10);
    assert_eq!(drawn, replay_sample(&base, 10, 0).unwrap());
    assert_eq!(replay_sample(&base, 100, 0).unwrap(), pool);

    // A candidate carries the replay sample on, for the next round.
    let config = FinetuneConfig { epochs: 1, replay: 4, ..tiny_config() };
    let mut job = job(&base, corrections(), config, dir.path().join("c"));
    job.replay = replay_sample(&base, 4, 0).unwrap();
    let outcome = run(&job).unwrap();
    assert_eq!(outcome.replayed, 4);
    assert_eq!(replay_sample(&outcome.candidate, 100, 0).unwrap(), pool);
}

fn record(parent: &str) -> VersionRecord {
    VersionRecord {
        parent: parent.into(),
        before: Scores::default(),
        after: Scores { sentences: 2, ..Scores::default() },
        trained_on: 6,
        replayed: 2,
        held_out: 2,
        forced: false,
    }
}

#[test]
fn accepted_models_become_versions_that_can_be_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let base = random_checkpoint(dir.path(), "base", 1);
    let docs = dir.path().join("docs");
    let mut versions = Versions::open(&docs).unwrap();
    assert!(versions.list().is_empty() && versions.current().is_none());
    assert_eq!(versions.current_dir(&base), base);
    assert!(!docs.exists(), "opening creates nothing");

    let first = random_checkpoint(dir.path(), "first", 2);
    let weights = spanscope::model::delta::read_weights(&first).unwrap();
    let v1 = versions.accept(&first, record(&versions.name_of(&base))).unwrap();
    assert_eq!((v1.number, v1.name()), (1, "v1".to_string()));
    assert!(!first.exists(), "the candidate is moved in");
    let v1_dir = docs.join(".spanscope/models/v1");
    assert_eq!(versions.current_dir(&base), v1_dir);
    // Stored as the changes to the base, composing to the candidate's very weights.
    assert!(spanscope::model::delta::is_compact(&v1_dir));
    assert_eq!(spanscope::model::delta::read_weights(&v1_dir).unwrap(), weights);
    assert_eq!(v1.record.parent, base.display().to_string());

    let second = random_checkpoint(dir.path(), "second", 3);
    let v2 = versions.accept(&second, record(&versions.name_of(&v1_dir))).unwrap();
    assert_eq!(v2.number, 2);
    assert_eq!(v2.record.parent, "v1");
    assert_eq!(versions.current().map(|v| v.number), Some(2));
    assert_eq!(v2.created.len(), "20261124T143200Z".len());

    versions.roll_back(VersionRef::Number(1)).unwrap();
    assert_eq!(versions.current_dir(&base), v1_dir);
    let reopened = Versions::open(&docs).unwrap();
    assert_eq!(reopened.current_ref(), VersionRef::Number(1));
    assert_eq!(reopened.list(), versions.list());
    assert!(checkpoint::load(&reopened.current_dir(&base), &Device::Cpu, DType::F32).is_ok());

    versions.roll_back(VersionRef::Base).unwrap();
    assert_eq!(Versions::open(&docs).unwrap().current_dir(&base), base);
    assert_eq!(versions.list().len(), 2, "rolling back deletes nothing");
    assert!(docs.join(".spanscope/models/v2").is_dir());

    let err = versions.roll_back(VersionRef::Number(7)).unwrap_err();
    assert!(matches!(err, VersionsError::NoSuchVersion { .. }), "{err}");
    assert!(err.to_string().contains("v7") && err.to_string().contains(VERSIONS_FILE), "{err}");
    let err = versions.accept(&dir.path().join("nothing"), record("base")).unwrap_err();
    assert!(matches!(err, VersionsError::NotACheckpoint { .. }), "{err}");

    // A folder left by a crash before the list was written is skipped, not reused.
    std::fs::create_dir(docs.join(".spanscope/models/v3")).unwrap();
    let fourth = random_checkpoint(dir.path(), "fourth", 4);
    assert_eq!(versions.accept(&fourth, record("v2")).unwrap().number, 4);
}

#[test]
fn a_damaged_versions_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".spanscope/models");
    std::fs::create_dir_all(&root).unwrap();
    let file = root.join(VERSIONS_FILE);
    for text in ["{ not json", r#"{"format": "something else"}"#, "[]"] {
        std::fs::write(&file, text).unwrap();
        let err = Versions::open(dir.path()).unwrap_err();
        assert!(matches!(err, VersionsError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains(&file.display().to_string()), "{err}");
    }
}

mod cli {
    use super::*;
    use crate::binary::{path, spanscope, stderr, stdout};

    #[test]
    fn train_continue_from_fine_tunes_and_keeps_a_version_beside_the_documents() {
        let dir = tempfile::tempdir().unwrap();
        let base = random_checkpoint(dir.path(), "base", 1);
        write_sentences(&base.join(REPLAY_FILE), &replay(), Format::JsonLines).unwrap();
        let docs = dir.path().join("docs");
        std::fs::create_dir(&docs).unwrap();
        let doc = docs.join("news.json");
        let mut sentences = corrections();
        sentences.insert(3, tiny_model::sentence("the cat sat on the mat ."));
        write_sentences(&doc, &sentences, Format::Json).unwrap();

        let args = |base: &Path, extra: &[&str]| -> Vec<String> {
            let mut a: Vec<String> = [
                "train",
                "--continue-from",
                path(base),
                "--reviewed",
                path(&doc),
                "--epochs",
                "40",
                "--lr",
                "1e-2",
                "--batch-size",
                "2",
                "--neg-entities",
                "20",
                "--neg-relations",
                "20",
                "--held-out",
                "0.25",
                "--seed",
                "6",
                "--min-held-out",
                "1",
                "--forgetting",
                "0",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            a.extend(extra.iter().map(|s| s.to_string()));
            a
        };
        let call = |a: Vec<String>| spanscope(&a.iter().map(String::as_str).collect::<Vec<_>>());

        let out = call(args(&base, &[]));
        let (o, e) = (stdout(&out), stderr(&out));
        assert!(out.status.success(), "{o}\n{e}");
        assert!(e.contains("6 reviewed + 2 original sentence(s)") && e.contains("on cpu"), "{e}");
        assert!(e.contains("epoch 40: loss"), "{e}");
        assert!(o.contains("held out: 2 reviewed sentence(s)"), "{o}");
        assert!(
            o.contains("current model: entities F1") && o.contains("new model:     entities F1")
        );
        let models = docs.join(".spanscope/models");
        assert!(
            o.contains(&format!("new model v1 (not worse): {}", models.join("v1").display())),
            "{o}"
        );
        assert!(models.join("v1").join(REPLAY_FILE).is_file());
        let listed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(models.join(VERSIONS_FILE)).unwrap())
                .unwrap();
        assert_eq!(listed["current"], "v1");
        assert_eq!(listed["versions"][0]["parent"], path(&base));
        assert_eq!(listed["versions"][0]["trained_on"], 6);

        // From v1, one epoch, forced: v2 whose parent is v1; no work directory is left.
        let mut again = args(&models.join("v1"), &["--force"]);
        again[6] = "1".into();
        let out = call(again);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains("new model v2"), "{}", stdout(&out));
        let v = Versions::open(&docs).unwrap();
        assert_eq!(v.current_ref(), VersionRef::Number(2));
        assert_eq!(v.list()[1].record.parent, "v1");
        assert_eq!(names(&models), ["v1", "v2", VERSIONS_FILE]);

        // Fresh-training flags do not go with --continue-from.
        let out = call(args(&base, &["--train", path(&doc)]));
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("'--continue-from <DIR>' cannot be used with '--train <FILE>'")
        );
        let out = call(args(&base, &["--encoder", "x"]));
        assert!(stderr(&out).contains("cannot be used with '--encoder"), "{}", stderr(&out));
    }

    /// `--continue-from` names the base of the versions folder, as the workbench's `--model`
    /// does: with v1 current, the run learns from v1 and is judged against it, as the
    /// workbench's runs are (the two once drifted: the command line trained from the base).
    #[test]
    fn continue_from_starts_from_the_current_version_as_the_workbench_does() {
        let dir = tempfile::tempdir().unwrap();
        let base = random_checkpoint(dir.path(), "base", 1);
        let docs = dir.path().join("docs");
        std::fs::create_dir(&docs).unwrap();
        let doc = docs.join("news.json");
        write_sentences(&doc, &corrections(), Format::Json).unwrap();
        let trained = random_checkpoint(dir.path(), "trained", 2);
        Versions::open(&docs).unwrap().accept(&trained, record(path(&base))).unwrap();
        let v1 = docs.join(".spanscope/models/v1");

        let out = spanscope(&[
            "train",
            "--continue-from",
            path(&base),
            "--reviewed",
            path(&doc),
            "--epochs",
            "1",
            "--force",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("fine-tuning {}", v1.display())),
            "{}",
            stderr(&out)
        );
        let v = Versions::open(&docs).unwrap();
        assert_eq!(v.current_ref(), VersionRef::Number(2));
        assert_eq!(v.list()[1].record.parent, "v1");
    }

    #[test]
    fn without_a_held_out_sentence_the_current_model_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let base = random_checkpoint(dir.path(), "base", 1);
        let doc = dir.path().join("one.jsonl");
        write_sentences(&doc, &corrections()[..1], Format::JsonLines).unwrap();
        let out = spanscope(&[
            "train",
            "--continue-from",
            path(&base),
            "--reviewed",
            path(&doc),
            "--epochs",
            "1",
        ]);
        let o = stdout(&out);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(o.contains("current model: not scored (no held-out sentence)"), "{o}");
        assert!(
            o.contains("kept the current model")
                && o.contains("too few reviewed sentences to judge (1)"),
            "{o}"
        );
        let models = dir.path().join(".spanscope/models");
        assert!(names(&models).is_empty(), "{:?}", names(&models));
        assert!(Versions::open(dir.path()).unwrap().list().is_empty());
    }

    #[test]
    fn a_document_without_reviewed_sentences_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let base = random_checkpoint(dir.path(), "base", 1);
        let doc = dir.path().join("draft.jsonl");
        write_sentences(&doc, &[tiny_model::sentence("the cat sat")], Format::JsonLines).unwrap();
        let out = spanscope(&["train", "--continue-from", path(&base), "--reviewed", path(&doc)]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("no reviewed sentence in"), "{}", stderr(&out));
        assert!(!dir.path().join(".spanscope").exists());
    }
}

/// The workbench's training worker runs a real fine-tuning while the UI thread goes on:
/// every key is applied and drawn while the run is still going, and cancelling leaves the
/// base model and the versions folder as they were.
#[test]
fn the_ui_thread_answers_keys_while_the_training_worker_trains() {
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::Terminal;
    use spanscope::workbench::state::{App, ModelStatus};
    use spanscope::workbench::theme::Theme;
    use spanscope::workbench::update::{update, Msg};
    use spanscope::worker::training::{TrainingReply, TrainingSetup, TrainingWorker};
    use std::sync::mpsc;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let base = random_checkpoint(dir.path(), "base", 3);
    let before = snapshot(&base);
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    let models = docs.join(".spanscope/models");
    // A candidate that a crashed run left behind two days ago (no process has its id): the
    // next run removes it. Processes are looked up in /proc.
    let abandoned = models.join(format!(".candidate-20261201T000000Z-{}-0", u32::MAX));
    if cfg!(target_os = "linux") {
        std::fs::create_dir_all(abandoned.join("inner")).unwrap();
        let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(48 * 3600);
        std::fs::File::open(&abandoned).unwrap().set_modified(two_days_ago).unwrap();
    }
    let setup = TrainingSetup {
        base: base.clone(),
        docs_dir: docs.clone(),
        device: DeviceSpec::Cpu,
        config: FinetuneConfig { epochs: 10_000, ..tiny_config() },
        types_file: None,
    };
    let (tx, rx) = mpsc::channel();
    let worker = TrainingWorker::spawn(setup, move |reply| {
        let _ = tx.send(reply);
    });
    worker.start(corrections());
    // Wait until optimiser steps are running.
    loop {
        match rx.recv_timeout(Duration::from_secs(60)).expect("the run reports") {
            TrainingReply::Progress(FinetuneProgress::Step(_)) => break,
            TrainingReply::Progress(_) => {}
            other => panic!("the run ended early: {other:?}"),
        }
    }
    let mut app = App::new(tiny_model::types(), true, ModelStatus::Failed("none".into()));
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    let theme = Theme::builtin("dark").unwrap();
    for i in 0..200 {
        let code = if i % 2 == 0 { KeyCode::Char('j') } else { KeyCode::Char('?') };
        update(&mut app, Msg::key(KeyEvent::new(code, KeyModifiers::NONE)));
        terminal.draw(|f| spanscope::workbench::view::draw(f, &app, &theme)).unwrap();
    }
    assert!(worker.is_running(), "200 keys were answered while the run went on");
    worker.cancel();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)).expect("the run stops") {
            TrainingReply::Cancelled => break,
            TrainingReply::Progress(_) => {}
            other => panic!("expected a cancel, got {other:?}"),
        }
    }
    drop(worker);
    assert_eq!(snapshot(&base), before, "the base checkpoint is untouched");
    assert!(!abandoned.exists(), "the abandoned candidate was removed");
    assert!(
        names(&models).iter().all(|n| n == "versions.json"),
        "no version: {:?}",
        names(&models)
    );
}
