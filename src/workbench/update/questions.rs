//! The dialog's questions: the answers each takes, and what each answer does.

use std::path::PathBuf;

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::store::{finish_quit_after_save, reload};
use super::training::set_phase;
use super::Effect;
use crate::data::split;
use crate::store::journal::{replayed, restructured, JournalEntry, Recovered, ReplayError};
use crate::workbench::commands;
use crate::workbench::history::Change;
use crate::workbench::state::{App, Disk, Level, Mode, Question, Quitting, TrainingPhase};
use crate::worker::store::StoreRequest;

/// What the reviewer can answer. Each question takes a few of these ([`answers`]); the key
/// pressed is read once, into one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Quit: save everything, then quit.
    SaveAndQuit,
    /// Quit without saving.
    QuitWithoutSaving,
    /// Do not quit.
    Stay,
    /// Replay the recovery journal.
    Recover,
    /// Set the recovery journal aside.
    SetAside,
    /// Keep the current model; the candidate is discarded.
    KeepCurrentModel,
    /// Use the candidate although the gate did not keep it.
    UseNewModel,
    /// Reload the document from disk (the reviewer's edits are kept as a copy).
    Reload,
    /// Keep the reviewer's edits; saving overwrites the file.
    KeepMine,
    /// Make the change that breaks a relation rule.
    BreakRule,
    /// Leave the sentence as it is.
    LeaveAsItIs,
    /// Save without what the format cannot carry.
    SaveWithLosses,
    /// Do not save the document.
    DoNotSave,
    /// Split or merge although it loses what the question names.
    Restructure,
}

/// One answer a question takes: its key, the answer, and what it does (the dialog lists them).
pub type Choice = (char, Answer, &'static str);

/// The answers each question takes.
pub fn answers(question: &Question) -> &'static [Choice] {
    use Answer::*;
    match question {
        Question::Quit => &[
            ('s', SaveAndQuit, "save everything, then quit"),
            ('y', QuitWithoutSaving, "quit without saving (see above where the edits stay)"),
            ('n', Stay, "stay"),
        ],
        Question::Recover { .. } => &[
            ('y', Recover, "recover the edits"),
            ('n', SetAside, "set them aside (kept in .spanscope/recovery)"),
        ],
        Question::KeepModel { .. } => &[
            ('k', KeepCurrentModel, "keep the current model (the new one is discarded)"),
            ('u', UseNewModel, "use the new model anyway"),
        ],
        Question::DiskChanged { .. } | Question::SaveConflict { .. } => &[
            ('r', Reload, "reload from disk (your edits are kept in .spanscope/conflicts)"),
            ('o', KeepMine, "keep yours; saving overwrites (theirs kept in .spanscope/conflicts)"),
        ],
        Question::BreakRules { .. } => &[
            ('y', BreakRule, "make the change anyway"),
            ('n', LeaveAsItIs, "leave the sentence as it is"),
        ],
        Question::Restructure { .. } => &[
            ('y', Restructure, "do it (u undoes it, and brings back what it drops)"),
            ('n', LeaveAsItIs, "leave the sentences as they are"),
        ],
        Question::SaveLosses { .. } => &[
            ('y', SaveWithLosses, "save without them (not asked again for this file)"),
            ('n', DoNotSave, "do not save it; the edits stay open and in the journal"),
        ],
    }
}

/// Reads a key in the dialog: one of the question's answers closes it; Esc closes the quit
/// question only; any other key is ignored.
pub(super) fn answer_key(app: &mut App, question: Question, key: KeyEvent) -> Vec<Effect> {
    let chosen = match key.code {
        KeyCode::Char(c) => answers(&question).iter().find(|(k, ..)| *k == c).map(|(_, a, _)| *a),
        KeyCode::Esc if matches!(question, Question::Quit) => Some(Answer::Stay),
        KeyCode::Esc if matches!(question, Question::SaveLosses { .. }) => Some(Answer::DoNotSave),
        _ => None,
    };
    match chosen {
        Some(chosen) => answer(app, question, chosen),
        None => Vec::new(),
    }
}

/// Applies an answer the question takes; the dialog closes.
fn answer(app: &mut App, question: Question, chosen: Answer) -> Vec<Effect> {
    use Answer::*;
    app.mode = Mode::Normal;
    match (question, chosen) {
        (Question::Quit, SaveAndQuit) => {
            app.quitting = Quitting::AfterSaves;
            let effects = commands::save_all(app);
            finish_quit_after_save(app);
            effects
        }
        (Question::Quit, QuitWithoutSaving) => {
            app.quitting = Quitting::Now;
            Vec::new()
        }
        (Question::Recover { doc, recovered }, Recover) => recover(app, doc, recovered),
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
        // The status line still holds the run's last progress message: the answer replaces it.
        (Question::KeepModel { outcome }, UseNewModel) => {
            set_phase(app, TrainingPhase::Done("the new model is used (you chose it)".into()));
            app.say(Level::Info, "switching to the fine-tuned model (you chose it)");
            vec![Effect::AcceptModel { outcome, forced: true }]
        }
        (Question::KeepModel { outcome }, _) => {
            set_phase(app, TrainingPhase::Done("the current model was kept".into()));
            app.say(Level::Info, "the current model was kept; the fine-tuned one is discarded");
            vec![Effect::DiscardModel { candidate: outcome.candidate }]
        }
        (Question::BreakRules { edit, .. }, BreakRule) => commands::apply_rule_edit(app, edit),
        (Question::Restructure { edit, .. }, Restructure) => commands::apply_restructure(app, edit),
        (Question::Restructure { edit, .. }, _) => {
            app.say(Level::Info, format!("not done: {}", edit.label));
            Vec::new()
        }
        (Question::BreakRules { .. }, _) => {
            app.say(Level::Info, "left as it was: the change would break a relation rule");
            Vec::new()
        }
        (Question::DiskChanged { doc } | Question::SaveConflict { doc }, Reload) => {
            reload(app, doc)
        }
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
        (Question::SaveLosses { doc, .. }, SaveWithLosses) => {
            if let Some(i) = app.doc_index(doc) {
                app.docs[i].losses_accepted = true;
            }
            commands::save_all(app)
        }
        (Question::SaveLosses { doc, .. }, _) => {
            if app.quitting == Quitting::AfterSaves {
                app.quitting = Quitting::No;
            }
            if let Some(i) = app.doc_index(doc) {
                app.say(Level::Info, format!("{} not saved", app.docs[i].name()));
            }
            Vec::new()
        }
        (Question::Quit, _) => Vec::new(),
    }
}

fn recovered_save_path(app: &App, doc: u64) -> Option<PathBuf> {
    app.doc_index(doc).map(|i| app.docs[i].source.save_path.clone())
}

fn recover(app: &mut App, doc: u64, recovered: Recovered) -> Vec<Effect> {
    let Some(i) = app.doc_index(doc) else { return Vec::new() };
    if recovered.entries.iter().any(JournalEntry::restructures) {
        return recover_restructured(app, doc, i, &recovered);
    }
    let replayed = match replayed(app.docs[i].sentences.as_slice(), &recovered.entries) {
        Ok(replayed) => replayed,
        Err(err) => return cannot_recover(app, doc, i, &err),
    };
    let d = &mut app.docs[i];
    let mut changed = 0;
    for (s, after) in replayed {
        if d.sentences[s] != *after {
            let before = d.sentences.edit(s, after.clone());
            app.history.record(Change {
                doc,
                sentence: s,
                before: vec![before],
                after: vec![after.clone()],
                label: "recovered edit".into(),
            });
            changed += 1;
        }
    }
    recovered_said(app, i, changed)
}

/// Recovers a journal that splits or merges sentences: the sentences from the first that
/// differs to the last come back as one edit (one `u` undoes them all).
fn recover_restructured(app: &mut App, doc: u64, i: usize, recovered: &Recovered) -> Vec<Effect> {
    let sentences = match restructured(app.docs[i].sentences.as_slice(), &recovered.entries) {
        Ok(sentences) => sentences,
        Err(err) => return cannot_recover(app, doc, i, &err),
    };
    let now = app.docs[i].sentences.to_vec();
    let (prefix, suffix) = split::common_ends(&now, &sentences);
    let after = sentences[prefix..sentences.len() - suffix].to_vec();
    let count = now.len() - suffix - prefix;
    let changed = after.len();
    if count > 0 || changed > 0 {
        let d = &mut app.docs[i];
        d.predicting.retain(|&s| s < prefix);
        let before = d.sentences.splice(prefix, count, after.clone());
        let label = "recovered edits".to_string();
        app.history.record(Change { doc, sentence: prefix, before, after, label });
    }
    recovered_said(app, i, changed)
}

fn recovered_said(app: &mut App, i: usize, changed: usize) -> Vec<Effect> {
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

fn cannot_recover(app: &mut App, doc: u64, i: usize, err: &ReplayError) -> Vec<Effect> {
    app.say(Level::Error, format!("cannot recover: {err}; the journal is set aside"));
    let save_path = app.docs[i].source.save_path.clone();
    vec![Effect::Store(StoreRequest::SetAsideJournal { doc, save_path, why: "unreadable".into() })]
}
