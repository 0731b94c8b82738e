//! What the store worker and the folder watcher report: loads, saves, journals, files changed
//! on disk.

use super::{add_document, Effect};
use std::path::Path;

use crate::data::annotation;
use crate::data::io::DataError;
use crate::data::io::Format;
use crate::data::origin::origin_in;
use crate::data::types::{EntityType, RelationType, Types};
use crate::store::files::{DocumentSource, Fingerprint, LoadedDocument, SaveError};
use crate::store::journal::Recovered;
use crate::store::watch::FileEvent;
use crate::workbench::commands::{self, goto};
use crate::workbench::sentences::Sentences;
use crate::workbench::state::{App, Disk, Level, LoadState, ModelStatus, Question, Quitting};
use crate::worker::store::{StoreReply, StoreRequest};

pub(super) fn store_reply(app: &mut App, reply: StoreReply) -> Vec<Effect> {
    match reply {
        StoreReply::Loaded { doc, result, recovery } => loaded(app, doc, result, recovery),
        StoreReply::Saved { doc, result } => {
            let Some(i) = app.doc_index(doc) else { return Vec::new() };
            let d = &mut app.docs[i];
            let written = d.saving.take();
            match result {
                Ok(fingerprint) => {
                    if let Some(written) = written {
                        d.sentences.saved(&written);
                    }
                    d.fingerprint = Some(fingerprint);
                    d.disk = Disk::InSync;
                    d.journal_started = true;
                    d.journal_failed = None;
                    d.source.read_path = d.source.save_path.clone();
                    d.source.read_format = d.source.save_format;
                    let (name, n) = (d.name(), d.sentences.len());
                    app.say(Level::Info, format!("wrote {name} ({n} sentences)"));
                }
                Err(SaveError::Conflict { .. }) => {
                    cancel_quit_after_save(app);
                    app.questions.push_back(Question::SaveConflict { doc });
                }
                Err(err) => {
                    cancel_quit_after_save(app);
                    app.say(Level::Error, format!("not saved, your edits are kept: {err}"));
                }
            }
            finish_quit_after_save(app);
            read_changed_text(app, doc)
        }
        StoreReply::JournalFailed { doc, error } => {
            if let Some(i) = app.doc_index(doc) {
                app.docs[i].journal_failed = Some(error.clone());
            }
            app.say(Level::Error, format!("recovery journal: {error}"));
            Vec::new()
        }
        StoreReply::SetAside { .. } => Vec::new(),
        StoreReply::CopyKept { result, .. } => {
            match result {
                Ok(path) => {
                    app.say(Level::Info, format!("your edits were kept in {}", path.display()))
                }
                Err(err) => {
                    app.say(Level::Error, format!("could not keep a copy of your edits: {err}"))
                }
            }
            Vec::new()
        }
        StoreReply::Checked { doc, disk } => checked(app, doc, disk),
        StoreReply::TypesWritten { result, .. } => {
            if let Err(err) = result {
                // The workbench offers the edited types still; the file holds the old ones.
                app.say(Level::Error, format!("the label editor's change was not saved: {err}"));
            }
            Vec::new()
        }
    }
}

pub(super) fn finish_quit_after_save(app: &mut App) {
    if app.quitting == Quitting::AfterSaves && app.docs.iter().all(|d| d.saving.is_none()) {
        app.quitting = if app.dirty_docs().next().is_none() { Quitting::Now } else { Quitting::No };
    }
}

/// A save that failed or met a conflict: "save everything, then quit" stops there.
fn cancel_quit_after_save(app: &mut App) {
    if app.quitting == Quitting::AfterSaves {
        app.quitting = Quitting::No;
    }
}

fn loaded(
    app: &mut App,
    doc: u64,
    result: Result<LoadedDocument, DataError>,
    recovery: Option<Recovered>,
) -> Vec<Effect> {
    let Some(i) = app.doc_index(doc) else { return Vec::new() };
    let mut loaded = match result {
        Ok(loaded) => loaded,
        Err(err) => {
            app.docs[i].load = LoadState::Failed(err.to_string());
            return Vec::new();
        }
    };
    app.history.forget(doc);
    let text_update = loaded.text_update.take();
    let d = &mut app.docs[i];
    d.load = LoadState::Loaded;
    d.source = loaded.source;
    d.sentences = Sentences::loaded(loaded.sentences);
    d.problems = loaded.problems.iter().map(ToString::to_string).collect();
    d.notes = loaded.notes.iter().map(ToString::to_string).collect();
    d.fingerprint = loaded.fingerprint;
    d.locked = loaded.read_only;
    d.losses = loaded.losses;
    d.losses_accepted = false;
    d.disk = Disk::InSync;
    d.journal_started = false;
    d.saving = None;
    d.text_changed = false;
    if !app.types_from_file {
        merge_types(&mut app.types, &Types::infer(app.docs[i].sentences.iter()));
    }
    if app.cursor.doc == i {
        let c = app.cursor;
        let len = app.docs[i].sentences.len();
        goto(app, i, c.sentence.min(len.saturating_sub(1)));
        if len > 0 {
            commands::say_problems(app);
        }
    }
    if let Some(update) = text_update {
        // Not an edit: the same merge is made on every load until a save writes it.
        let name = app.docs[i].name();
        app.say(Level::Info, format!("{update} ({name} takes them in with the next save)"));
    }
    let d = &mut app.docs[i];
    if let Some(recovered) = recovery {
        if recovered.base == d.fingerprint {
            app.questions.push_back(Question::Recover { doc, recovered });
        } else {
            let save_path = d.source.save_path.clone();
            let name = d.name();
            app.say(
                Level::Warning,
                format!(
                    "{name} changed since its unsaved edits were journaled; they are kept in {}",
                    recovered.path.display()
                ),
            );
            let aside = Effect::Store(StoreRequest::SetAsideJournal {
                doc,
                save_path,
                why: "stale".into(),
            });
            return std::iter::once(aside).chain(predict_unannotated(app, i)).collect();
        }
    }
    predict_unannotated(app, i).into_iter().collect()
}

/// Asks the model for every sentence of document `i` that has no annotation.
fn predict_unannotated(app: &mut App, i: usize) -> Option<Effect> {
    if matches!(app.model, ModelStatus::Failed(_) | ModelStatus::Off) {
        return None;
    }
    let d = &mut app.docs[i];
    let sentences: Vec<(usize, Vec<String>)> = d
        .sentences
        .iter()
        .enumerate()
        .filter(|(_, s)| annotation::is_unannotated(s) && !s.tokens.is_empty())
        .map(|(n, s)| (n, s.tokens.clone()))
        .collect();
    d.predicting = sentences.iter().map(|(n, _)| *n).collect();
    (!sentences.is_empty()).then_some(Effect::Predict { doc: d.id, sentences })
}

pub(super) fn merge_types(types: &mut Types, more: &Types) {
    for e in &more.entities {
        if types.entity_index(&e.name).is_none() {
            types.entities.push(EntityType { ..e.clone() });
        }
    }
    for r in &more.relations {
        if types.relation_index(&r.name).is_none() {
            types.relations.push(RelationType { ..r.clone() });
        }
    }
}

fn checked(app: &mut App, doc: u64, disk: Result<Option<Fingerprint>, DataError>) -> Vec<Effect> {
    let Some(i) = app.doc_index(doc) else { return Vec::new() };
    let d = &mut app.docs[i];
    let disk = match disk {
        Ok(disk) => disk,
        Err(err) => {
            let name = d.name();
            app.say(Level::Warning, format!("cannot check {name}: {err}"));
            return Vec::new();
        }
    };
    let reads_other_file = d.source.read_path != d.source.save_path;
    if disk == d.fingerprint && !(reads_other_file && disk.is_none()) {
        return Vec::new();
    }
    if disk.is_none() && !reads_other_file {
        d.disk = Disk::Removed;
        let name = d.name();
        app.say(
            Level::Warning,
            format!("{name} was removed from disk; it stays open, Ctrl-s writes it back"),
        );
        return Vec::new();
    }
    if d.saving.is_some() {
        return Vec::new();
    }
    if d.is_dirty() {
        if !app
            .questions
            .iter()
            .any(|q| matches!(q, Question::DiskChanged { doc: d2 } if *d2 == doc))
        {
            app.questions.push_back(Question::DiskChanged { doc });
        }
        Vec::new()
    } else if d.load == LoadState::Loading {
        // A file that just appeared is often written in several steps: the reviewer was told
        // of the new document and has seen none of it, so reading it again is no news.
        reload(app, doc)
    } else {
        let name = d.name();
        app.say(Level::Info, format!("{name} changed on disk and was reloaded"));
        reload(app, doc)
    }
}

pub(super) fn reload(app: &mut App, doc: u64) -> Vec<Effect> {
    let Some(i) = app.doc_index(doc) else { return Vec::new() };
    let d = &mut app.docs[i];
    let mut effects = Vec::new();
    if d.is_dirty() {
        effects.push(Effect::Store(StoreRequest::KeepCopy {
            doc,
            source: d.source.clone(),
            sentences: d.sentences.snapshot(),
            tag: "mine".into(),
        }));
    }
    d.load = LoadState::Loading;
    effects.push(Effect::CancelPredictions { doc });
    effects.push(Effect::Store(StoreRequest::Load { doc, source: d.source.clone() }));
    effects
}

pub(super) fn file_event(app: &mut App, event: FileEvent) -> Vec<Effect> {
    let path = match &event {
        FileEvent::Changed(p) | FileEvent::Removed(p) => p.clone(),
        FileEvent::Rescan => {
            // Events were lost: compare every open document with its file.
            return app
                .docs
                .iter()
                .map(|d| {
                    Effect::Store(StoreRequest::Check {
                        doc: d.id,
                        source: d.source.clone(),
                        known: d.fingerprint,
                    })
                })
                .collect();
        }
    };
    let known = app
        .docs
        .iter()
        .find(|d| d.source.save_path == path || d.source.read_path == path)
        .map(|d| (d.id, d.source.clone()));
    match (known, event) {
        (Some((doc, source)), _) => {
            let known = app.doc_index(doc).and_then(|i| app.docs[i].fingerprint);
            vec![Effect::Store(StoreRequest::Check { doc, source, known })]
        }
        (None, FileEvent::Changed(path)) => {
            if let Some(doc) = made_from_text(app, &path) {
                return text_changed(app, doc, &path);
            }
            let is_types = path.file_name().is_some_and(|n| n == "types.json");
            match DocumentSource::for_path(&path) {
                Some(source)
                    if !is_types
                        && !app.docs.iter().any(|d| d.source.save_path == source.save_path) =>
                {
                    app.say(Level::Info, format!("new document: {}", source.display_name()));
                    vec![add_document(app, source)]
                }
                _ => Vec::new(),
            }
        }
        (None, _) => Vec::new(),
    }
}

/// The open document whose annotations (the `.json` or `.jsonl` beside it, as
/// [`crate::store::files::load`] pairs them) were made from the text `path`.
fn made_from_text(app: &App, path: &Path) -> Option<u64> {
    if Format::from_path(path) != Some(Format::Text) {
        return None;
    }
    let file = path.file_name()?.to_string_lossy();
    app.docs
        .iter()
        .find(|d| {
            d.source.interchange.is_none()
                && d.source.read_format != Format::Text
                && d.source.read_path.with_extension("txt") == path
                && d.sentences.iter().any(|s| origin_in(s, &file).is_some())
        })
        .map(|d| d.id)
}

/// The text a document's annotations were made from changed: the document is read again, as
/// at opening, which brings the text's new or changed sentences in and says what came. With
/// unsaved edits that waits for their save, so no edit is lost and nothing needs asking.
fn text_changed(app: &mut App, doc: u64, path: &Path) -> Vec<Effect> {
    let Some(i) = app.doc_index(doc) else { return Vec::new() };
    let d = &mut app.docs[i];
    if d.is_dirty() || d.saving.is_some() {
        d.text_changed = true;
        let (text, name) = (file_name(path), d.name());
        app.say(
            Level::Info,
            format!("{text} changed: its new sentences come in once {name} is saved (Ctrl-s)"),
        );
        return Vec::new();
    }
    reload(app, doc)
}

/// After a save: reads the document again when its text changed meanwhile and every edit is
/// now saved.
fn read_changed_text(app: &mut App, doc: u64) -> Vec<Effect> {
    let Some(i) = app.doc_index(doc) else { return Vec::new() };
    let d = &app.docs[i];
    if !d.text_changed || d.is_dirty() || d.saving.is_some() || app.quitting != Quitting::No {
        return Vec::new();
    }
    app.docs[i].text_changed = false;
    reload(app, doc)
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into())
}
