//! What the model worker reports: a model loaded, predictions, inspections.

use super::store::merge_types;
use super::Effect;
use crate::data::{annotation, provenance};
use crate::workbench::inspection;
use crate::workbench::provenance::score_answered;
use crate::workbench::state::{App, Level, ModelStatus};
use crate::worker::model::InferenceReply;

pub(super) fn model_reply(app: &mut App, reply: InferenceReply) -> Vec<Effect> {
    match reply {
        InferenceReply::Ready(info) => {
            if !app.types_from_file {
                let mut types = info.types.clone();
                merge_types(&mut types, &app.types);
                app.types = types;
            }
            app.model = ModelStatus::Ready(info);
            app.inspector.key = None;
            app.inspector.explain_key = None;
            if std::mem::take(&mut app.fine_tuning.renew_on_load) {
                return repredict(app);
            }
        }
        InferenceReply::LoadFailed { dir, error } => {
            app.model = ModelStatus::Failed(format!("{}: {error}", dir.display()));
            app.say(Level::Error, format!("model not loaded ({error}); editing still works"));
            for d in &mut app.docs {
                d.predicting.clear();
            }
        }
        InferenceReply::Predicted { doc, sentence, annotation, notes, .. } => {
            let Some(i) = app.doc_index(doc) else { return Vec::new() };
            let d = &mut app.docs[i];
            if !d.predicting.remove(&sentence) || d.sentences.is_edited(sentence) {
                return Vec::new();
            }
            if !notes.is_empty() {
                // A long sentence's limits are said where the reviewer looks, not only logged.
                let line = format!("{} sentence {}: {}", d.name(), sentence + 1, notes.join("; "));
                tracing::warn!("{line}");
                app.say(Level::Warning, line);
            }
            let d = &mut app.docs[i];
            if let Some(current) = d.sentences.get(sentence) {
                let untouched =
                    annotation::only_proposals(current) && !annotation::is_reviewed(current);
                if current.tokens == annotation.tokens && untouched {
                    let mut annotation = annotation;
                    provenance::drop_rejected(&mut annotation, current);
                    let mut filled = current.clone();
                    filled.entities = annotation.entities;
                    filled.relations = annotation.relations;
                    d.sentences.propose(sentence, filled);
                }
            }
        }
        InferenceReply::Inspected { request, result } => {
            if request == app.inspector.request {
                app.inspector.result = Some(result);
                let at = app.inspector.key.as_ref().map(|k| (k.doc, k.sentence));
                return at.map_or_else(Vec::new, |(id, index)| score_answered(app, id, index));
            }
        }
        InferenceReply::Explained { request, result } => {
            inspection::explained(app, request, result);
            let at = app.inspector.explain_key.as_ref().map(|k| (k.doc, k.sentence));
            return at.map_or_else(Vec::new, |(id, index)| score_answered(app, id, index));
        }
        InferenceReply::Failed { doc, sentence, error } => {
            if let Some(i) = app.doc_index(doc) {
                app.docs[i].predicting.remove(&sentence);
            }
            app.say(
                Level::Error,
                format!("the model failed on sentence {}: {error}", sentence + 1),
            );
        }
        InferenceReply::Idle => {}
    }
    Vec::new()
}

/// After another model became current: ask it again for every sentence nobody has touched
/// (only proposals, not reviewed, no unsaved edit).
fn repredict(app: &mut App) -> Vec<Effect> {
    let mut effects = Vec::new();
    for d in &mut app.docs {
        let sentences: Vec<(usize, Vec<String>)> = d
            .sentences
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                !s.tokens.is_empty()
                    && annotation::only_proposals(s)
                    && !annotation::is_reviewed(s)
                    && !d.sentences.is_edited(*i)
            })
            .map(|(i, s)| (i, s.tokens.clone()))
            .collect();
        if !sentences.is_empty() {
            d.predicting.extend(sentences.iter().map(|(i, _)| *i));
            effects.push(Effect::Predict { doc: d.id, sentences });
        }
    }
    effects
}
