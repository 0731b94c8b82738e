//! `spanscope bench-ui --finetune FILE`: the time from pressing `T` in the workbench to the
//! fine-tuned model in place (trained, scored, kept as a version, loaded), through the same
//! workers and messages as the workbench.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{bail, Context};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use spanscope::data::io::read_sentences_strict;
use spanscope::data::types::Types;
use spanscope::model::device::DeviceSpec;
use spanscope::store::files::{DocumentSource, LoadedDocument};
use spanscope::train::finetune::{FinetuneConfig, REVIEWED_KEY};
use spanscope::workbench::state::{App, Mode, ModelStatus, Question};
use spanscope::workbench::update::{self, Effect, Msg};
use spanscope::worker::model::{InferenceReply, InferenceWorker};
use spanscope::worker::store::StoreReply;
use spanscope::worker::training::{TrainingReply, TrainingSetup, TrainingWorker};

/// Runs the measurement: `reviewed` sentences (all marked reviewed), the checkpoint `base`,
/// versions written under `scratch`.
pub fn run(
    reviewed: &Path,
    base: PathBuf,
    scratch: &Path,
    device: DeviceSpec,
) -> anyhow::Result<()> {
    let mut sentences = read_sentences_strict(reviewed)?;
    if sentences.len() < 2 {
        bail!("{}: fine-tuning needs at least 2 sentences", reviewed.display());
    }
    for s in &mut sentences {
        s.extra.insert(REVIEWED_KEY.into(), true.into());
    }
    std::fs::create_dir_all(scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let (tx, rx) = mpsc::channel::<Msg>();
    let model_tx = tx.clone();
    let model = InferenceWorker::spawn(base.clone(), device, move |r| {
        let _ = model_tx.send(Msg::Model(r));
    });
    let setup = TrainingSetup {
        base,
        docs_dir: scratch.to_path_buf(),
        device,
        config: FinetuneConfig::default(),
        types_file: None,
    };
    let training_tx = tx.clone();
    let trainer = TrainingWorker::spawn(setup, move |r| {
        let _ = training_tx.send(Msg::Training(r));
    });
    let mut app = App::new(Types::default(), false, ModelStatus::Loading("model".into()));
    app.fine_tuning.possible = true;
    let source =
        DocumentSource::for_path(&scratch.join("reviewed.json")).context("a .json path")?;
    update::open(&mut app, vec![source.clone()]);
    let loaded = LoadedDocument {
        source,
        sentences,
        problems: Vec::new(),
        notes: Vec::new(),
        fingerprint: None,
        read_only: None,
        losses: Default::default(),
        text_update: None,
    };
    let _ = update::update(
        &mut app,
        Msg::Store(StoreReply::Loaded { doc: 1, result: Ok(loaded), recovery: None }),
    );
    loop {
        match rx.recv()? {
            Msg::Model(InferenceReply::Ready(info)) => {
                let _ = update::update(&mut app, Msg::Model(InferenceReply::Ready(info)));
                break;
            }
            Msg::Model(InferenceReply::LoadFailed { error, .. }) => bail!("model: {error}"),
            _ => {}
        }
    }
    let reviewed_count = app.docs[0].reviewed_count();
    println!(
        "fine-tuning on {reviewed_count} reviewed sentences ({}), {device}",
        reviewed.display()
    );
    let started = Instant::now();
    let mut pending =
        update::update(&mut app, Msg::key(KeyEvent::new(KeyCode::Char('T'), KeyModifiers::SHIFT)));
    let mut trained_at = None;
    loop {
        for effect in pending.drain(..) {
            match effect {
                Effect::StartTraining { reviewed } => trainer.start(reviewed),
                Effect::AcceptModel { outcome, forced } => trainer.accept(*outcome, forced),
                Effect::DiscardModel { candidate } => trainer.discard(candidate),
                Effect::ReloadModel { dir } => model.reload(dir),
                Effect::Predict { doc, sentences } => model.predict(doc, sentences),
                _ => {}
            }
        }
        let msg = rx.recv()?;
        if let Msg::Training(TrainingReply::Finished(outcome)) = &msg {
            trained_at = Some(started.elapsed());
            println!(
                "  trained and scored in {:.1} s: held-out ({} sentences) relations F1 {:.2} -> {:.2}, entities F1 {:.2} -> {:.2}",
                outcome.seconds,
                outcome.held_out,
                outcome.before.relations.f1,
                outcome.after.relations.f1,
                outcome.before.entities.f1,
                outcome.after.entities.f1
            );
        }
        if let Msg::Training(TrainingReply::Failed(why)) = &msg {
            bail!("fine-tuning failed: {why}");
        }
        let swapped =
            matches!(&msg, Msg::Model(InferenceReply::Ready(info)) if info.generation > 1);
        pending = update::update(&mut app, msg);
        if let Mode::Confirm(Question::KeepModel { .. }) = app.mode {
            println!("  the new model scored worse on the held-out sentences; using it anyway to time the swap");
            pending.extend(update::update(
                &mut app,
                Msg::key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::NONE)),
            ));
        }
        if swapped {
            break;
        }
    }
    let total = started.elapsed();
    println!(
        "  key -> new model in place: {:.1} s (training and scoring {:.1} s, keeping the version and loading it {:.1} s)",
        total.as_secs_f64(),
        trained_at.unwrap_or_default().as_secs_f64(),
        (total - trained_at.unwrap_or_default()).as_secs_f64()
    );
    if let ModelStatus::Ready(info) = &app.model {
        println!("  current model: {} ({})", info.name, info.dir.display());
    }
    Ok(())
}
