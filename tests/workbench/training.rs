//! Fine-tuning from the workbench, at the state level: starting, progress, the held-out
//! decision, switching models and renewing proposals; and the real training worker running
//! while the UI thread keeps answering keys.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::*;
use spanscope::model::versions::{Score, Scores};
use spanscope::train::finetune::{ChangedSentence, FinetuneOutcome, FinetuneProgress, Judge};
use spanscope::train::trainer::{StepProgress, TrainReport};
use spanscope::workbench::state::{Mode, ModelStatus, Question, TrainingPhase};
use spanscope::workbench::update::{update, Effect, Msg};
use spanscope::worker::model::{InferenceReply, ModelInfo};
use spanscope::worker::training::TrainingReply;

fn scores(relations: f64) -> Scores {
    Scores {
        sentences: 4,
        entities: Score { f1: 80.0, ..Score::default() },
        relations: Score { f1: relations, ..Score::default() },
    }
}

fn outcome(before: f64, after: f64) -> Box<FinetuneOutcome> {
    Box::new(FinetuneOutcome {
        candidate: PathBuf::from("/nowhere/.spanscope/models/.candidate"),
        before: scores(before),
        after: scores(after),
        not_worse: after >= before,
        trained_on: 8,
        replayed: 20,
        held_out: 2,
        seconds: 3.0,
        training: TrainReport {
            epochs: Vec::new(),
            best_epoch: None,
            averaged: None,
            losses: Vec::new(),
            seconds: 3.0,
        },
        judged_by: Judge::HeldOut,
        forgetting: (Scores::default(), Scores::default()),
        changed: Vec::new(),
        grown: Vec::new(),
        verdict: if after >= before {
            "not worse on 4 held-out reviewed sentences".into()
        } else {
            "scored worse on 4 held-out reviewed sentences".into()
        },
    })
}

fn info(name: &str, generation: u64) -> ModelInfo {
    ModelInfo {
        name: name.into(),
        dir: PathBuf::from("/nowhere/models").join(name),
        device: "cpu".into(),
        types: types(),
        entity_types: vec!["Peop".into(), "Org".into(), "Loc".into()],
        layers: 6,
        heads: 12,
        generation,
    }
}

/// Effects other than the inspector's requests.
fn work(effects: Vec<Effect>) -> Vec<Effect> {
    effects.into_iter().filter(|e| !matches!(e, Effect::Inspect { .. })).collect()
}

fn trainable_app() -> spanscope::workbench::state::App {
    let mut app = app_with(vec![proposed(), gold(), proposed(), plain()]);
    app.model = ModelStatus::Ready(info("base", 1));
    app.fine_tuning.possible = true;
    // Marking reviewed accepts the open proposals, as the config file can ask.
    app.review_accepts = true;
    app
}

#[test]
fn fine_tuning_needs_reviewed_sentences_then_starts_and_cancels_with_one_key() {
    let mut app = trainable_app();
    assert!(work(press(&mut app, "T")).is_empty());
    assert!(app.message.as_ref().unwrap().1.contains("review at least 2"));
    press(&mut app, "<Enter><Enter>");
    let effects = work(press(&mut app, "T"));
    let Some(Effect::StartTraining { reviewed }) = effects.first() else { panic!("{effects:?}") };
    assert_eq!(reviewed.len(), 2);
    assert!(app.fine_tuning.run.as_ref().unwrap().is_running() && app.fine_tuning.panel);
    let effects = work(press(&mut app, "T"));
    assert!(matches!(effects[..], [Effect::CancelTraining]));
    update(&mut app, Msg::Training(TrainingReply::Cancelled));
    assert_eq!(app.fine_tuning.run.as_ref().unwrap().phase, TrainingPhase::Cancelled);
    assert!(matches!(app.model, ModelStatus::Ready(ref i) if i.name == "base"), "the model stays");
}

#[test]
fn progress_reaches_the_panel_and_a_model_that_is_not_worse_takes_over() {
    let mut app = trainable_app();
    press(&mut app, "<Enter><Enter>T");
    let started = FinetuneProgress::Started {
        device: "cpu".into(),
        trained_on: 2,
        replayed: 20,
        held_out: 0,
        epochs: 3,
        total_steps: 33,
    };
    update(&mut app, Msg::Training(TrainingReply::Progress(started)));
    let t = app.fine_tuning.run.as_ref().unwrap();
    assert_eq!(
        (t.phase.clone(), t.step, t.device.as_str()),
        (TrainingPhase::Training, (0, 33), "cpu")
    );

    let effects =
        work(update(&mut app, Msg::Training(TrainingReply::Finished(outcome(50.0, 60.0)))));
    assert!(matches!(&effects[..], [Effect::AcceptModel { forced: false, .. }]));
    let effects = update(
        &mut app,
        Msg::Training(TrainingReply::Switched {
            dir: "/nowhere/v1".into(),
            name: "v1".into(),
            version: None,
        }),
    );
    assert!(matches!(&effects[..], [Effect::ReloadModel { dir }] if dir.ends_with("v1")));
    assert!(matches!(app.model, ModelStatus::Loading(ref n) if n == "v1"));

    // The new model renews the proposals of sentences nobody touched: not the two reviewed
    // ones, not gold, not the sentence being edited.
    press(&mut app, "Gv1");
    let effects = update(&mut app, Msg::Model(InferenceReply::Ready(info("v1", 2))));
    let asked: Vec<usize> = effects
        .iter()
        .flat_map(|e| match e {
            Effect::Predict { sentences, .. } => sentences.iter().map(|s| s.0).collect(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(asked, vec![2]);
    let mut renewed = proposed();
    renewed.entities.truncate(1);
    renewed.relations.clear();
    for i in [0, 2] {
        let reply = InferenceReply::Predicted {
            doc: 1,
            sentence: i,
            generation: 2,
            annotation: renewed.clone(),
            notes: Vec::new(),
        };
        update(&mut app, Msg::Model(reply));
    }
    assert_eq!(entities(&app, 2).len(), 1, "renewed");
    assert_eq!(entities(&app, 0).len(), 3, "a reviewed sentence is never touched");
    assert!(!app.docs[0].sentences.is_edited(2), "renewed proposals are not edits");
}

#[test]
fn a_worse_model_is_used_only_when_the_reviewer_says_so() {
    let mut app = trainable_app();
    press(&mut app, "<Enter><Enter>T");
    update(&mut app, Msg::Training(TrainingReply::Finished(outcome(60.0, 40.0))));
    assert!(matches!(app.mode, Mode::Confirm(Question::KeepModel { .. })));
    let effects = work(press(&mut app, "k"));
    assert!(matches!(&effects[..], [Effect::DiscardModel { .. }]));
    let said = app.message.as_ref().map(|m| m.1.clone()).unwrap_or_default();
    assert!(said.contains("the current model was kept"), "the run's message is gone: {said}");

    press(&mut app, "T");
    update(&mut app, Msg::Training(TrainingReply::Finished(outcome(60.0, 40.0))));
    let effects = work(press(&mut app, "u"));
    assert!(matches!(&effects[..], [Effect::AcceptModel { forced: true, .. }]));
}

#[test]
fn a_failed_run_is_shown_and_changes_nothing() {
    let mut app = trainable_app();
    press(&mut app, "<Enter><Enter>T");
    update(&mut app, Msg::Training(TrainingReply::Failed("the loss became NaN at step 3".into())));
    assert!(
        matches!(app.fine_tuning.run.as_ref().unwrap().phase, TrainingPhase::Failed(ref w) if w.contains("NaN"))
    );
    assert!(app.message.as_ref().unwrap().1.contains("nothing changed"));
    assert!(matches!(app.model, ModelStatus::Ready(ref i) if i.name == "base"));
}

#[test]
fn auto_train_starts_every_n_reviewed_sentences() {
    let mut app = trainable_app();
    app.fine_tuning.auto = Some(3);
    assert!(press(&mut app, "<Enter><Enter>")
        .iter()
        .all(|e| !matches!(e, Effect::StartTraining { .. })));
    let effects = press(&mut app, "<Enter>");
    assert!(effects.iter().any(|e| matches!(e, Effect::StartTraining { .. })));
}

#[test]
fn the_version_picker_switches_models() {
    let mut app = trainable_app();
    assert!(matches!(work(press(&mut app, "M"))[..], [Effect::ListModels]));
    let listed = TrainingReply::Listed {
        versions: vec![
            ("base".into(), "bundled".into()),
            ("v1".into(), "…".into()),
            ("v2".into(), "…".into()),
        ],
        current: "v2".into(),
    };
    update(&mut app, Msg::Training(listed));
    assert!(matches!(app.mode, Mode::Pick(ref p) if p.index == 2));
    let effects = work(press(&mut app, "k<Enter>"));
    assert!(matches!(&effects[..], [Effect::SwitchModel(v)] if v.to_string() == "v1"));
}

/// A candidate the reviewer declined that cannot be removed is reported, as the command line
/// reports it (the worker once dropped the error): a whole checkpoint stays on disk.
#[test]
fn a_discarded_candidate_that_cannot_be_removed_is_reported() {
    use spanscope::model::device::DeviceSpec;
    use spanscope::train::finetune::FinetuneConfig;
    use spanscope::workbench::state::Level;
    use spanscope::worker::training::{TrainingSetup, TrainingWorker};

    let dir = tempfile::tempdir().unwrap();
    // A file where the candidate directory should be cannot be removed as a directory.
    let candidate = dir.path().join(".candidate");
    std::fs::write(&candidate, "not a checkpoint").unwrap();
    let setup = TrainingSetup {
        base: dir.path().join("base"),
        docs_dir: dir.path().to_path_buf(),
        device: DeviceSpec::Cpu,
        config: FinetuneConfig::default(),
        types_file: None,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = TrainingWorker::spawn(setup, move |reply| {
        let _ = tx.send(reply);
    });
    worker.discard(candidate);
    drop(worker); // handles what was sent, then stops
    let replies: Vec<TrainingReply> = rx.try_iter().collect();
    let [reply @ TrainingReply::VersionsFailed(why)] = &replies[..] else {
        panic!("expected one failure, got {replies:?}")
    };
    assert!(why.contains("could not be removed") && why.contains(".candidate"), "{why}");

    let mut app = trainable_app();
    update(&mut app, Msg::Training(reply.clone()));
    let (level, text) = app.message.clone().unwrap();
    assert!(level == Level::Error && text.contains("could not be removed"), "{text}");
}

#[test]
fn a_model_the_gate_keeps_still_shows_the_judged_sentences_it_changed_and_how_it_was_judged() {
    let mut app = trainable_app();
    press(&mut app, "<Enter><Enter>T");
    let fold = FinetuneProgress::Fold { fold: 1, folds: 2 };
    update(&mut app, Msg::Training(TrainingReply::Progress(fold)));
    let mut kept = outcome(50.0, 60.0);
    kept.judged_by = Judge::CrossValidation(2);
    kept.changed = vec![ChangedSentence {
        text: "Acme hired Bo".into(),
        gold: "Org[0:1] Peop[2:3]".into(),
        before: "Org[0:1]".into(),
        after: "Org[0:1] Peop[2:3]".into(),
    }];
    let effects = work(update(&mut app, Msg::Training(TrainingReply::Finished(kept))));
    assert!(matches!(&effects[..], [Effect::AcceptModel { forced: false, .. }]));
    assert!(app.message.as_ref().unwrap().1.contains("1 judged sentence(s) changed"));
    let screen = crate::screens::screen(&app, 120, 40);
    assert!(screen.contains("judged by 2-fold cross-validation"), "{screen}");
    assert!(screen.contains("changed «Acme hired Bo»: Org[0:1] → Org[0:1] Peop[2:3]"), "{screen}");
}

#[test]
fn the_panel_shows_how_fast_the_run_learns() {
    let mut app = trainable_app();
    press(&mut app, "<Enter><Enter>T");
    let started = FinetuneProgress::Started {
        device: "cpu".into(),
        trained_on: 2,
        replayed: 4,
        held_out: 0,
        epochs: 5,
        total_steps: 10,
    };
    update(&mut app, Msg::Training(TrainingReply::Progress(started)));
    let screen = crate::screens::screen(&app, 100, 30);
    assert!(!screen.contains("steps/s"), "no speed before the first step: {screen}");
    for step in 1..=4 {
        let p = StepProgress {
            epoch: 2,
            epochs: 5,
            step,
            total_steps: 10,
            sentences: 4 * step,
            loss: 1.0 / step as f32,
            epoch_loss: 0.5,
            lr: 3e-5,
            elapsed: Duration::from_millis(500 * step as u64),
            eta: Duration::from_secs(3),
        };
        update(&mut app, Msg::Training(TrainingReply::Progress(FinetuneProgress::Step(p))));
    }
    // Four steps of four sentences in two seconds.
    assert_eq!(app.fine_tuning.run.as_ref().unwrap().rate, Some((2.0, 8.0)));
    let screen = crate::screens::screen(&app, 100, 30);
    assert!(screen.contains("2.0 steps/s · 8.0 sentences/s"), "{screen}");
    insta::assert_snapshot!(screen);
}
