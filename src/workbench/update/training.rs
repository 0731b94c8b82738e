//! What the training worker reports: a run's progress and end, versions switched or listed.

use super::Effect;
use crate::train::finetune::{Decision, FinetuneProgress};
use crate::workbench::state::{
    App, Level, Mode, ModelStatus, PickTarget, Picker, Question, Training, TrainingPhase,
};
use crate::worker::training::TrainingReply;

pub(super) fn set_phase(app: &mut App, phase: TrainingPhase) {
    app.fine_tuning.run.get_or_insert_with(Training::new).phase = phase;
}

pub(super) fn training_reply(app: &mut App, reply: TrainingReply) -> Vec<Effect> {
    let t = app.fine_tuning.run.get_or_insert_with(Training::new);
    match reply {
        TrainingReply::Progress(FinetuneProgress::Started {
            device,
            trained_on,
            replayed,
            held_out,
            epochs,
            total_steps,
        }) => {
            t.phase = TrainingPhase::Training;
            t.device = device;
            t.sentences = (trained_on, replayed, held_out);
            t.epoch = (1, epochs);
            t.step = (0, total_steps);
        }
        TrainingReply::Progress(FinetuneProgress::Step(p)) => {
            t.epoch = (p.epoch, p.epochs);
            t.step = (p.step, p.total_steps);
            t.losses.push(p.loss);
            t.seconds = (p.elapsed.as_secs_f64(), p.eta.as_secs_f64());
            let elapsed = p.elapsed.as_secs_f64();
            if elapsed > 0.0 {
                t.rate = Some((p.step as f64 / elapsed, p.sentences as f64 / elapsed));
            }
        }
        TrainingReply::Progress(FinetuneProgress::Epoch(_)) => {}
        TrainingReply::Progress(FinetuneProgress::Fold { fold, folds }) => {
            t.phase = TrainingPhase::Scoring;
            t.folds = Some(folds);
            app.say(Level::Info, format!("judging by cross-validation: fold {fold} of {folds}"));
        }
        TrainingReply::Progress(FinetuneProgress::Scoring { .. }) => {
            t.phase = TrainingPhase::Scoring
        }
        TrainingReply::Finished(outcome) => {
            t.scores = Some((outcome.before, outcome.after));
            // Shown in the panel whether the reviewer decides or the gate keeps the model.
            t.changed = outcome.changed.clone();
            let (b, a) = (outcome.before.relations.f1, outcome.after.relations.f1);
            // The gate keeps a candidate that is not worse; the reviewer decides on the rest.
            let Decision::Keep { forced } = Decision::of(&outcome, false) else {
                t.phase = TrainingPhase::Deciding;
                app.questions.push_back(Question::KeepModel { outcome });
                return Vec::new();
            };
            t.phase = TrainingPhase::Done(format!(
                "kept: relations F1 {b:.1} → {a:.1} on {} held-out",
                outcome.held_out
            ));
            app.say(
                Level::Info,
                format!(
                    "the fine-tuned model is {} ({b:.1} → {a:.1}){}; switching to it",
                    outcome.verdict,
                    match outcome.changed.len() {
                        0 => String::new(),
                        n => format!(", {n} judged sentence(s) changed (panel: P)"),
                    }
                ),
            );
            return vec![Effect::AcceptModel { outcome, forced }];
        }
        TrainingReply::Cancelled => {
            t.phase = TrainingPhase::Cancelled;
            app.say(Level::Info, "fine-tuning cancelled; the current model stays");
        }
        TrainingReply::Failed(why) => {
            t.phase = TrainingPhase::Failed(why.clone());
            app.say(Level::Error, format!("fine-tuning failed, nothing changed: {why}"));
        }
        TrainingReply::Switched { dir, name, version } => {
            let detail = version.map_or_else(String::new, |v| {
                format!(
                    " (relations F1 {:.1} → {:.1} on {} held-out)",
                    v.record.before.relations.f1, v.record.after.relations.f1, v.record.held_out
                )
            });
            app.say(
                Level::Info,
                format!("model {name} is now current{detail}; renewing proposals"),
            );
            app.model = ModelStatus::Loading(name);
            app.fine_tuning.renew_on_load = true;
            return vec![Effect::ReloadModel { dir }];
        }
        TrainingReply::VersionsFailed(why) => {
            // A run that could not even set up its versions folder is over.
            if t.phase == TrainingPhase::Preparing {
                t.phase = TrainingPhase::Failed(format!("model versions: {why}"));
            }
            app.say(Level::Error, format!("model versions: {why}"))
        }
        TrainingReply::Listed { versions, current } => {
            let index = versions.iter().position(|(n, _)| *n == current).unwrap_or(0);
            let options = versions.into_iter().map(|(n, d)| format!("{n}  {d}")).collect();
            app.mode = Mode::Pick(Picker { target: PickTarget::ModelVersion, options, index });
        }
    }
    Vec::new()
}
