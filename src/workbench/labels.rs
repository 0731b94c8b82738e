//! The label editor: the types file's entity and relation types, added, renamed and retired
//! from the workbench. Every change is written to the types file at once (atomically, by the
//! store worker), so the pickers offer it now and the next fine-tuning run grows the model by
//! it; a rename also renames the annotations of the open documents, as unsaved edits.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::commands::commit;
use super::keymap::{self, LabelAction};
use super::state::{App, Level, Mode};
use super::update::Effect;
use crate::data::types::Types;
use crate::worker::store::StoreRequest;

/// The open label editor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelEditor {
    /// The highlighted row: entity types first, then relation types, in file order.
    pub index: usize,
    /// The name being typed, if a name is asked for.
    pub prompt: Option<Prompt>,
}

/// A name being typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// What the name is for.
    pub purpose: Purpose,
    /// The name so far.
    pub name: String,
}

/// What a typed name is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Purpose {
    /// A new entity type (`true`) or relation type (`false`).
    Add(bool),
    /// A new name for the entity (`true`) or relation (`false`) type named `from`.
    Rename(bool, String),
}

impl LabelEditor {
    /// The type of row `index`: whether it is an entity type, and its name.
    pub fn row(types: &Types, index: usize) -> Option<(bool, &str)> {
        match types.entities.get(index) {
            Some(e) => Some((true, &e.name)),
            None => types.relations.get(index - types.entities.len()).map(|r| (false, &*r.name)),
        }
    }
}

/// Opens the editor, or says why it cannot write.
pub fn open(app: &mut App) {
    if app.types_path.is_none() {
        app.say(Level::Warning, "no types file to edit: open the documents with --types FILE");
        return;
    }
    app.mode = Mode::Labels(LabelEditor::default());
}

/// A key pressed in the editor.
pub fn key(app: &mut App, mut editor: LabelEditor, key: KeyEvent) -> Vec<Effect> {
    if let Some(mut prompt) = editor.prompt.take() {
        match key.code {
            KeyCode::Esc => {}
            KeyCode::Enter => return finish(app, editor, prompt),
            KeyCode::Backspace => {
                prompt.name.pop();
                editor.prompt = Some(prompt);
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                prompt.name.push(c);
                editor.prompt = Some(prompt);
            }
            _ => editor.prompt = Some(prompt),
        }
        app.mode = Mode::Labels(editor);
        return Vec::new();
    }
    let rows = app.types.entities.len() + app.types.relations.len();
    let mut effects = Vec::new();
    match keymap::lookup(keymap::LABELS, &key) {
        Some(LabelAction::Down) if rows > 0 => editor.index = (editor.index + 1) % rows,
        Some(LabelAction::Up) if rows > 0 => editor.index = (editor.index + rows - 1) % rows,
        Some(LabelAction::AddEntity) => {
            editor.prompt = Some(Prompt { purpose: Purpose::Add(true), name: String::new() })
        }
        Some(LabelAction::AddRelation) => {
            editor.prompt = Some(Prompt { purpose: Purpose::Add(false), name: String::new() })
        }
        Some(LabelAction::Rename) => {
            if let Some((entity, name)) = LabelEditor::row(&app.types, editor.index) {
                let purpose = Purpose::Rename(entity, name.to_string());
                editor.prompt = Some(Prompt { purpose, name: name.to_string() });
            }
        }
        Some(LabelAction::Retire) => effects = retire(app, editor.index),
        Some(LabelAction::Close) => {
            app.mode = Mode::Normal;
            return Vec::new();
        }
        _ => {}
    }
    app.mode = Mode::Labels(editor);
    effects
}

/// Retires the type of row `index`, or brings a retired one back.
fn retire(app: &mut App, index: usize) -> Vec<Effect> {
    let mut types = app.types.clone();
    let entities = types.entities.len();
    let (name, retired) = match (types.entities.get_mut(index), index.checked_sub(entities)) {
        (Some(e), _) => (e.name.clone(), &mut e.retired),
        (None, Some(r)) => match types.relations.get_mut(r) {
            Some(r) => (r.name.clone(), &mut r.retired),
            None => return Vec::new(),
        },
        (None, None) => return Vec::new(),
    };
    *retired = !*retired;
    let said = if *retired {
        format!("retired {name}: no longer offered; its annotations stay")
    } else {
        format!("{name} is offered again")
    };
    write(app, types, said)
}

/// Applies a typed name.
fn finish(app: &mut App, mut editor: LabelEditor, prompt: Prompt) -> Vec<Effect> {
    let name = prompt.name.trim().to_string();
    let mut types = app.types.clone();
    let done = match &prompt.purpose {
        Purpose::Add(true) => types.add_entity(&name).map(|()| types.entities.len() - 1),
        Purpose::Add(false) => {
            types.add_relation(&name).map(|()| types.entities.len() + types.relations.len() - 1)
        }
        Purpose::Rename(true, from) => types.rename_entity(from, &name).map(|()| editor.index),
        Purpose::Rename(false, from) => types.rename_relation(from, &name).map(|()| editor.index),
    };
    let index = match done {
        Ok(index) => index,
        Err(why) => {
            // The name stays to be corrected.
            app.say(Level::Warning, why);
            editor.prompt = Some(prompt);
            app.mode = Mode::Labels(editor);
            return Vec::new();
        }
    };
    // Later entity rows move down by one when an entity type is added.
    editor.index = index;
    app.mode = Mode::Labels(editor);
    let said = match &prompt.purpose {
        Purpose::Add(entity) => {
            let kind = if *entity { "entity" } else { "relation" };
            format!("added the {kind} type {name}: offered now, learnt at the next fine-tuning")
        }
        Purpose::Rename(entity, from) => {
            let renamed = rename_annotations(app, from, &name, *entity);
            format!("renamed {from} to {name} in the types file and in {renamed} annotation(s)")
        }
    };
    let mut effects = write(app, types, said);
    if let Purpose::Rename(entity, from) = &prompt.purpose {
        effects.extend(rename_journal(app, from, &name, *entity));
    }
    effects
}

/// How many annotations of the open documents a rename will change.
fn rename_annotations(app: &App, from: &str, to: &str, entity: bool) -> usize {
    app.docs
        .iter()
        .filter(|d| d.read_only_reason().is_none())
        .flat_map(|d| d.sentences.iter())
        .map(|s| Types::rename_in(&mut s.clone(), from, to, entity))
        .sum()
}

/// Renames the annotations of every editable open document, each sentence one undoable,
/// journaled edit.
fn rename_journal(app: &mut App, from: &str, to: &str, entity: bool) -> Vec<Effect> {
    let label = format!("rename {from} to {to}");
    let message = app.message.clone();
    let mut effects = Vec::new();
    for doc in 0..app.docs.len() {
        if app.docs[doc].read_only_reason().is_some() {
            continue;
        }
        for index in 0..app.docs[doc].sentences.len() {
            let mut after = app.docs[doc].sentences[index].clone();
            if Types::rename_in(&mut after, from, to, entity) > 0 {
                effects.extend(commit(app, doc, index, after, &label));
            }
        }
    }
    app.message = message;
    effects
}

/// Takes `types` as the workbench's and has the store worker write them to the types file.
fn write(app: &mut App, types: Types, said: String) -> Vec<Effect> {
    let Some(path) = app.types_path.clone() else { return Vec::new() };
    app.types = types.clone();
    app.types_from_file = true;
    app.say(Level::Info, said);
    vec![Effect::Store(StoreRequest::WriteTypes { path, types })]
}
