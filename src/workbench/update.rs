//! `update(&mut App, Msg) -> Vec<Effect>`: the one place state changes. Messages are keys and
//! what the workers report; effects are what the workers should do next. No I/O happens here,
//! so every path is testable without a terminal, a model or a disk.

use std::path::PathBuf;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::annotation::{self, Item};
use super::commands::{self, apply_type, cycle_tail, goto, open_picker_for};
use super::explanation::Wanted;
use super::inference::InferenceReply;
use super::inspection;
use super::keymap::{self, LinkAction, PickAction};
use super::state::{
    App, Disk, Document, Level, LoadState, Mode, ModelStatus, PickTarget, Picker, Question,
    SpanKey, Training, TrainingPhase,
};
use super::training::TrainingReply;
use crate::data::types::{EntityType, RelationType, Types};
use crate::data::Sentence;
use crate::explain::prediction::Target;
use crate::model::versions::VersionRef;
use crate::store::files::DocumentSource;
use crate::store::journal::replay;
use crate::store::watch::FileEvent;
use crate::store::worker::{StoreReply, StoreRequest};
use crate::train::finetune::{FinetuneOutcome, FinetuneProgress};

/// Something that happened: a key, or a worker's report.
#[derive(Debug)]
pub enum Msg {
    /// A key press.
    Key(KeyEvent),
    /// The store worker's answer.
    Store(StoreReply),
    /// The model worker's answer.
    Model(InferenceReply),
    /// A watched folder changed.
    File(FileEvent),
    /// The training worker's report.
    Training(TrainingReply),
}

/// Work for the workers, produced by `update`.
#[derive(Debug)]
pub enum Effect {
    /// For the store worker.
    Store(StoreRequest),
    /// Predict sentences `(index, words)` of document `doc`.
    Predict {
        /// Document id.
        doc: u64,
        /// Sentences to predict.
        sentences: Vec<(usize, Vec<String>)>,
    },
    /// Drop queued predictions of a document (it is being reloaded).
    CancelPredictions {
        /// Document id.
        doc: u64,
    },
    /// Fine-tune the current model on these reviewed sentences.
    StartTraining {
        /// The reviewed sentences.
        reviewed: Vec<Sentence>,
    },
    /// Stop the run in progress.
    CancelTraining,
    /// Keep a run's candidate as the next version (`forced` when it scored worse).
    AcceptModel {
        /// The run.
        outcome: Box<FinetuneOutcome>,
        /// Whether the reviewer overrode a worse score.
        forced: bool,
    },
    /// Throw a run's candidate away.
    DiscardModel {
        /// Its directory.
        candidate: PathBuf,
    },
    /// Make another version current.
    SwitchModel(VersionRef),
    /// List the versions (for the picker).
    ListModels,
    /// Load another checkpoint in the model worker.
    ReloadModel {
        /// Its directory.
        dir: PathBuf,
    },
    /// Explain a span for the inspector.
    Inspect {
        /// Request id; only the newest is answered.
        request: u64,
        /// The sentence's words.
        tokens: Vec<String>,
        /// First word.
        start: usize,
        /// One past the last word.
        end: usize,
    },
    /// Explain a prediction for the inspector's causal views.
    Explain {
        /// Request id; only the newest is answered.
        request: u64,
        /// The sentence's words.
        tokens: Vec<String>,
        /// The span or the relation.
        target: Target,
        /// The parts still missing.
        wanted: Wanted,
    },
}

/// Opens `sources` as documents (loaded by the store worker).
pub fn open(app: &mut App, sources: Vec<DocumentSource>) -> Vec<Effect> {
    sources.into_iter().map(|source| add_document(app, source)).collect()
}

fn add_document(app: &mut App, source: DocumentSource) -> Effect {
    let id = app.next_doc_id;
    app.next_doc_id += 1;
    app.docs.push(Document::new(id, source.clone()));
    Effect::Store(StoreRequest::Load { doc: id, source })
}

/// Applies one message.
pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    let mut effects = match msg {
        Msg::Key(key) if key.kind != KeyEventKind::Release => key_pressed(app, key),
        Msg::Key(_) => Vec::new(),
        Msg::Store(reply) => store_reply(app, reply),
        Msg::Model(reply) => model_reply(app, reply),
        Msg::File(event) => file_event(app, event),
        Msg::Training(reply) => training_reply(app, reply),
    };
    if matches!(app.mode, Mode::Normal) {
        if let Some(question) = app.questions.pop_front() {
            app.mode = Mode::Confirm(question);
        }
    }
    effects.extend(refresh_inspector(app));
    if matches!(app.model, ModelStatus::Ready(_)) {
        effects.extend(inspection::refresh_explanation(app));
    }
    effects
}

fn key_pressed(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        // Ctrl-c is a quit request, never an instant kill: unsaved edits are asked about.
        return commands::run(app, keymap::Action::Quit);
    }
    match app.mode.clone() {
        Mode::Normal => match app.keymap.normal_action(&key) {
            Some(action) => commands::run(app, action),
            None => Vec::new(),
        },
        Mode::Pick(mut picker) => match app.keymap.picker_action(&key) {
            Some(PickAction::Down) => {
                picker.index = (picker.index + 1) % picker.options.len();
                app.mode = Mode::Pick(picker);
                Vec::new()
            }
            Some(PickAction::Up) => {
                picker.index = (picker.index + picker.options.len() - 1) % picker.options.len();
                app.mode = Mode::Pick(picker);
                Vec::new()
            }
            Some(PickAction::Choose) => {
                app.mode = Mode::Normal;
                apply_type(app, picker.target, &picker.options[picker.index])
            }
            Some(PickAction::Number(n)) => match picker.options.get(usize::from(n) - 1) {
                Some(ty) => {
                    app.mode = Mode::Normal;
                    apply_type(app, picker.target, &ty.clone())
                }
                None => Vec::new(),
            },
            Some(PickAction::Cancel) => {
                app.mode = Mode::Normal;
                Vec::new()
            }
            None => Vec::new(),
        },
        Mode::Link { head, tail } => {
            match app.keymap.link_action(&key) {
                Some(LinkAction::Next) => {
                    app.mode = Mode::Link { head, tail: cycle_tail(app, head, tail, true) }
                }
                Some(LinkAction::Prev) => {
                    app.mode = Mode::Link { head, tail: cycle_tail(app, head, tail, false) }
                }
                Some(LinkAction::Choose) => {
                    app.mode = Mode::Normal;
                    open_picker_for(app, PickTarget::NewRelation { head, tail });
                }
                Some(LinkAction::Cancel) => app.mode = Mode::Normal,
                None => {}
            }
            Vec::new()
        }
        Mode::Search(mut query) => {
            match key.code {
                KeyCode::Esc => app.mode = Mode::Normal,
                KeyCode::Enter => {
                    app.mode = Mode::Normal;
                    if !query.is_empty() {
                        app.search = query;
                    }
                    commands::search(app, true);
                }
                KeyCode::Backspace => {
                    query.pop();
                    app.mode = Mode::Search(query);
                }
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    query.push(c);
                    app.mode = Mode::Search(query);
                }
                _ => {}
            }
            Vec::new()
        }
        Mode::Help { scroll } => {
            app.mode = match key.code {
                KeyCode::Char('j') | KeyCode::Down => Mode::Help { scroll: scroll + 1 },
                KeyCode::Char('k') | KeyCode::Up => Mode::Help { scroll: scroll.saturating_sub(1) },
                KeyCode::PageDown | KeyCode::Char(' ') => Mode::Help { scroll: scroll + 10 },
                KeyCode::PageUp => Mode::Help { scroll: scroll.saturating_sub(10) },
                _ => Mode::Normal,
            };
            Vec::new()
        }
        Mode::Confirm(question) => answer(app, question, key),
        Mode::Inspect => {
            if let Some(action) = app.keymap.inspect_action(&key) {
                inspection::run(app, action);
            }
            Vec::new()
        }
    }
}

/// The answers each question takes: key, what it does. The dialog lists them.
pub fn answers(question: &Question) -> &'static [(char, &'static str)] {
    match question {
        Question::Quit => &[
            ('s', "save everything, then quit"),
            ('y', "quit without saving (see above where the edits stay)"),
            ('n', "stay"),
        ],
        Question::Recover { .. } => {
            &[('y', "recover the edits"), ('n', "set them aside (kept in .spanscope/recovery)")]
        }
        Question::KeepModel { .. } => &[
            ('k', "keep the current model (the new one is discarded)"),
            ('u', "use the new model anyway"),
        ],
        Question::DiskChanged { .. } | Question::SaveConflict { .. } => &[
            ('r', "reload from disk (your edits are kept in .spanscope/conflicts)"),
            ('o', "keep yours; saving overwrites (theirs kept in .spanscope/conflicts)"),
        ],
        Question::BreakRules { .. } => {
            &[('y', "make the change anyway"), ('n', "leave the sentence as it is")]
        }
    }
}

fn answer(app: &mut App, question: Question, key: KeyEvent) -> Vec<Effect> {
    let KeyCode::Char(c) = key.code else {
        if key.code == KeyCode::Esc && matches!(question, Question::Quit) {
            app.mode = Mode::Normal;
        }
        return Vec::new();
    };
    if !answers(&question).iter().any(|(k, _)| *k == c) {
        return Vec::new();
    }
    app.mode = Mode::Normal;
    match (question, c) {
        (Question::Quit, 's') => {
            app.quit_after_save = true;
            let effects = commands::save_all(app);
            finish_quit_after_save(app);
            effects
        }
        (Question::Quit, 'y') => {
            app.quit = true;
            Vec::new()
        }
        (Question::Recover { doc, recovered }, 'y') => recover(app, doc, recovered),
        (Question::Recover { doc, recovered }, _) => {
            let save_path = recovered_save_path(app, doc);
            app.say(Level::Info, format!("unsaved edits set aside: {}", recovered.path.display()));
            save_path
                .map(|save_path| {
                    Effect::Store(StoreRequest::SetAsideJournal {
                        doc,
                        save_path,
                        why: "declined".into(),
                    })
                })
                .into_iter()
                .collect()
        }
        (Question::KeepModel { outcome }, 'u') => {
            set_phase(app, TrainingPhase::Done("the new model is used (you chose it)".into()));
            vec![Effect::AcceptModel { outcome, forced: true }]
        }
        (Question::BreakRules { edit, .. }, 'y') => commands::apply_rule_edit(app, edit),
        (Question::BreakRules { .. }, _) => {
            app.say(Level::Info, "left as it was: the change would break a relation rule");
            Vec::new()
        }
        (Question::KeepModel { outcome }, _) => {
            set_phase(app, TrainingPhase::Done("the current model was kept".into()));
            vec![Effect::DiscardModel { candidate: outcome.candidate }]
        }
        (Question::DiskChanged { doc } | Question::SaveConflict { doc }, 'r') => reload(app, doc),
        (Question::DiskChanged { doc }, _) => {
            if let Some(i) = app.doc_index(doc) {
                app.docs[i].disk = Disk::Changed;
                app.say(Level::Warning, format!("keeping your edits of {}", app.docs[i].name()));
            }
            Vec::new()
        }
        (Question::SaveConflict { doc }, _) => {
            if let Some(i) = app.doc_index(doc) {
                app.docs[i].disk = Disk::Changed;
            }
            commands::save_all(app)
        }
        _ => Vec::new(),
    }
}

fn recovered_save_path(app: &App, doc: u64) -> Option<PathBuf> {
    app.doc_index(doc).map(|i| app.docs[i].source.save_path.clone())
}

fn recover(app: &mut App, doc: u64, recovered: crate::store::journal::Recovered) -> Vec<Effect> {
    let Some(i) = app.doc_index(doc) else { return Vec::new() };
    let mut sentences = app.docs[i].sentences.clone();
    if let Err(err) = replay(&mut sentences, &recovered.entries) {
        app.say(Level::Error, format!("cannot recover: {err}; the journal is set aside"));
        let save_path = app.docs[i].source.save_path.clone();
        return vec![Effect::Store(StoreRequest::SetAsideJournal {
            doc,
            save_path,
            why: "unreadable".into(),
        })];
    }
    let d = &mut app.docs[i];
    let mut changed = 0;
    for (s, after) in sentences.into_iter().enumerate() {
        if d.sentences[s] != after {
            let before = std::mem::replace(&mut d.sentences[s], after.clone());
            d.refresh_edited(s);
            app.history.record(super::history::Change {
                doc,
                sentence: s,
                before,
                after,
                label: "recovered edit".into(),
            });
            changed += 1;
        }
    }
    // The journal already holds these edits; new ones are appended to it.
    app.docs[i].journal_started = true;
    app.say(
        Level::Info,
        format!(
            "recovered {changed} edited sentence(s) of {}; Ctrl-s saves them",
            app.docs[i].name()
        ),
    );
    Vec::new()
}

fn reload(app: &mut App, doc: u64) -> Vec<Effect> {
    let Some(i) = app.doc_index(doc) else { return Vec::new() };
    let d = &mut app.docs[i];
    let mut effects = Vec::new();
    if d.is_dirty() {
        effects.push(Effect::Store(StoreRequest::KeepCopy {
            doc,
            source: d.source.clone(),
            sentences: d.sentences.clone(),
            tag: "mine".into(),
        }));
    }
    d.load = LoadState::Loading;
    effects.push(Effect::CancelPredictions { doc });
    effects.push(Effect::Store(StoreRequest::Load { doc, source: d.source.clone() }));
    effects
}

fn finish_quit_after_save(app: &mut App) {
    if app.quit_after_save && app.docs.iter().all(|d| d.saving.is_none()) {
        if app.dirty_docs().next().is_none() {
            app.quit = true;
        } else {
            app.quit_after_save = false;
        }
    }
}

fn store_reply(app: &mut App, reply: StoreReply) -> Vec<Effect> {
    match reply {
        StoreReply::Loaded { doc, result, recovery } => loaded(app, doc, result, recovery),
        StoreReply::Saved { doc, result } => {
            let Some(i) = app.doc_index(doc) else { return Vec::new() };
            let d = &mut app.docs[i];
            let written = d.saving.take();
            match result {
                Ok(fingerprint) => {
                    if let Some(written) = written {
                        d.baseline = written;
                    }
                    d.fingerprint = Some(fingerprint);
                    d.disk = Disk::InSync;
                    d.journal_started = true;
                    d.journal_failed = None;
                    d.source.read_path = d.source.save_path.clone();
                    d.source.read_format = d.source.save_format;
                    d.edited.clear();
                    for s in 0..d.sentences.len() {
                        d.refresh_edited(s);
                    }
                    let (name, n) = (d.name(), d.sentences.len());
                    app.say(Level::Info, format!("wrote {name} ({n} sentences)"));
                }
                Err(crate::store::files::SaveError::Conflict { .. }) => {
                    app.quit_after_save = false;
                    app.questions.push_back(Question::SaveConflict { doc });
                }
                Err(err) => {
                    app.quit_after_save = false;
                    app.say(Level::Error, format!("not saved, your edits are kept: {err}"));
                }
            }
            finish_quit_after_save(app);
            Vec::new()
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
    }
}

fn loaded(
    app: &mut App,
    doc: u64,
    result: Result<crate::store::files::LoadedDocument, crate::data::io::DataError>,
    recovery: Option<crate::store::journal::Recovered>,
) -> Vec<Effect> {
    let Some(i) = app.doc_index(doc) else { return Vec::new() };
    let loaded = match result {
        Ok(loaded) => loaded,
        Err(err) => {
            app.docs[i].load = LoadState::Failed(err.to_string());
            return Vec::new();
        }
    };
    app.history.forget(doc);
    let d = &mut app.docs[i];
    d.load = LoadState::Loaded;
    d.source = loaded.source;
    d.sentences = loaded.sentences.clone();
    d.baseline = loaded.sentences;
    d.edited.clear();
    d.problems = loaded.problems.iter().map(ToString::to_string).collect();
    d.notes = loaded.notes.iter().map(ToString::to_string).collect();
    d.fingerprint = loaded.fingerprint;
    d.locked = loaded.read_only;
    d.disk = Disk::InSync;
    d.journal_started = false;
    d.saving = None;
    if !app.types_from_file {
        merge_types(&mut app.types, &Types::infer(&app.docs[i].sentences));
    }
    if app.cursor.doc == i {
        let c = app.cursor;
        let len = app.docs[i].sentences.len();
        goto(app, i, c.sentence.min(len.saturating_sub(1)));
        if len > 0 {
            commands::say_problems(app);
        }
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
    if matches!(app.model, ModelStatus::Failed(_)) {
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

fn merge_types(types: &mut Types, more: &Types) {
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

fn checked(
    app: &mut App,
    doc: u64,
    disk: Result<Option<crate::store::files::Fingerprint>, crate::data::io::DataError>,
) -> Vec<Effect> {
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
    } else {
        let name = d.name();
        app.say(Level::Info, format!("{name} changed on disk and was reloaded"));
        reload(app, doc)
    }
}

fn file_event(app: &mut App, event: FileEvent) -> Vec<Effect> {
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

fn model_reply(app: &mut App, reply: InferenceReply) -> Vec<Effect> {
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
            if std::mem::take(&mut app.repredict_on_ready) {
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
        InferenceReply::Predicted { doc, sentence, annotation, .. } => {
            let Some(i) = app.doc_index(doc) else { return Vec::new() };
            let d = &mut app.docs[i];
            if !d.predicting.remove(&sentence) || d.edited.contains(&sentence) {
                return Vec::new();
            }
            if let Some(current) = d.sentences.get(sentence) {
                let untouched =
                    annotation::only_proposals(current) && !annotation::is_reviewed(current);
                if current.tokens == annotation.tokens && untouched {
                    let mut filled = current.clone();
                    filled.entities = annotation.entities;
                    filled.relations = annotation.relations;
                    d.sentences[sentence] = filled.clone();
                    d.baseline[sentence] = filled;
                }
            }
        }
        InferenceReply::Inspected { request, result } => {
            if request == app.inspector.request {
                app.inspector.result = Some(result);
            }
        }
        InferenceReply::Explained { request, result } => {
            inspection::explained(app, request, result)
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

/// The span the inspector should explain: the selected entity, else the word range, else
/// the cursor's word; none while a relation is selected (it is explained as a relation, see
/// [`inspection::explained_target`]).
pub fn inspected_span(app: &App) -> Option<SpanKey> {
    let doc = app.doc()?;
    let s = app.sentence()?;
    let (start, end) = match (app.cursor.anchor, app.cursor.item) {
        (None, Some(Item::Entity(i))) => s.entities.get(i).map(|e| (e.start, e.end))?,
        (None, Some(Item::Relation(_))) => return None,
        _ => app.cursor.range(),
    };
    if start >= end || end > s.tokens.len() {
        return None;
    }
    Some(SpanKey {
        doc: doc.id,
        sentence: app.cursor.sentence,
        start,
        end,
        tokens: s.tokens.clone(),
    })
}

fn refresh_inspector(app: &mut App) -> Option<Effect> {
    if !matches!(app.model, ModelStatus::Ready(_)) {
        return None;
    }
    let key = inspected_span(app)?;
    if app.inspector.key.as_ref() == Some(&key) {
        return None;
    }
    app.inspector.request = app.next_request;
    app.next_request += 1;
    app.inspector.result = None;
    let effect = Effect::Inspect {
        request: app.inspector.request,
        tokens: key.tokens.clone(),
        start: key.start,
        end: key.end,
    };
    app.inspector.key = Some(key);
    Some(effect)
}

fn set_phase(app: &mut App, phase: TrainingPhase) {
    app.training.get_or_insert_with(Training::new).phase = phase;
}

fn training_reply(app: &mut App, reply: TrainingReply) -> Vec<Effect> {
    let t = app.training.get_or_insert_with(Training::new);
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
        }
        TrainingReply::Progress(FinetuneProgress::Epoch(_)) => {}
        TrainingReply::Progress(FinetuneProgress::Fold { fold, folds }) => {
            t.phase = TrainingPhase::Scoring;
            app.say(Level::Info, format!("judging by cross-validation: fold {fold} of {folds}"));
        }
        TrainingReply::Progress(FinetuneProgress::Scoring { .. }) => {
            t.phase = TrainingPhase::Scoring
        }
        TrainingReply::Finished(outcome) => {
            t.scores = Some((outcome.before, outcome.after));
            let (b, a) = (outcome.before.relations.f1, outcome.after.relations.f1);
            if outcome.not_worse {
                t.phase = TrainingPhase::Done(format!(
                    "kept: relations F1 {b:.1} → {a:.1} on {} held-out",
                    outcome.held_out
                ));
                app.say(
                    Level::Info,
                    format!(
                        "the fine-tuned model is {} ({b:.1} → {a:.1}); switching to it",
                        outcome.verdict
                    ),
                );
                return vec![Effect::AcceptModel { outcome, forced: false }];
            }
            t.phase = TrainingPhase::Deciding;
            app.questions.push_back(Question::KeepModel { outcome });
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
            app.repredict_on_ready = true;
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
                    && !d.edited.contains(i)
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
