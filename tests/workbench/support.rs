//! A workbench state with one loaded document, driven by key strings, for state-level tests.

#![allow(dead_code)]

use std::path::Path;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;
use spanscope::data::types::{EntityType, RelationType, Types};
use spanscope::data::Sentence;
use spanscope::store::files::{DocumentSource, Fingerprint, LoadedDocument};
use spanscope::workbench::state::{App, ModelStatus};
use spanscope::workbench::update::{self, Effect, Msg};
use spanscope::worker::store::StoreReply;

/// CoNLL04-like types: Peop, Org, Loc; Work_For, Located_In (symmetric: none).
pub fn types() -> Types {
    let entity = |n: &str| EntityType {
        name: n.into(),
        short: n.into(),
        verbose: n.into(),
        ..EntityType::default()
    };
    let relation = |n: &str| RelationType {
        name: n.into(),
        short: n.into(),
        verbose: n.into(),
        symmetric: false,
        ..RelationType::default()
    };
    Types {
        entities: vec![entity("Peop"), entity("Org"), entity("Loc")],
        relations: vec![relation("Work_For"), relation("Located_In")],
    }
}

/// A sentence from SpERT JSON.
pub fn sentence(value: serde_json::Value) -> Sentence {
    serde_json::from_value(value).unwrap()
}

/// "John Smith works for Acme in Paris ." with no annotation.
pub fn plain() -> Sentence {
    sentence(json!({"tokens": ["John", "Smith", "works", "for", "Acme", "in", "Paris", "."]}))
}

/// The same sentence with gold Peop(0..2), Org(4..5) and Work_For(0 → 1).
pub fn gold() -> Sentence {
    sentence(json!({
        "tokens": ["John", "Smith", "works", "for", "Acme", "in", "Paris", "."],
        "entities": [{"type": "Peop", "start": 0, "end": 2}, {"type": "Org", "start": 4, "end": 5}],
        "relations": [{"type": "Work_For", "head": 0, "tail": 1}],
        "orig_id": "s1"
    }))
}

/// The same sentence with model proposals: Peop(0..2) .95, Loc(6..7) .40, Org(4..5) .9 and
/// Work_For(0 → 2) .8.
pub fn proposed() -> Sentence {
    sentence(json!({
        "tokens": ["John", "Smith", "works", "for", "Acme", "in", "Paris", "."],
        "entities": [
            {"type": "Peop", "start": 0, "end": 2, "score": 0.95, "source": "model"},
            {"type": "Loc", "start": 6, "end": 7, "score": 0.40, "source": "model"},
            {"type": "Org", "start": 4, "end": 5, "score": 0.9, "source": "model"}
        ],
        "relations": [{"type": "Work_For", "head": 0, "tail": 2, "score": 0.8, "source": "model"}]
    }))
}

/// The fingerprint the test document was "read" with.
pub fn base() -> Fingerprint {
    Fingerprint::of(b"on disk")
}

/// The source of the test document.
pub fn source() -> DocumentSource {
    DocumentSource::for_path(Path::new("/nowhere/doc.json")).unwrap()
}

/// The reply of a load of `sentences` as document 1.
pub fn loaded(sentences: Vec<Sentence>) -> Msg {
    loaded_reply(loaded_document(sentences))
}

/// Document 1 as loaded with `sentences`, nothing wrong with it.
pub fn loaded_document(sentences: Vec<Sentence>) -> LoadedDocument {
    LoadedDocument {
        source: source(),
        sentences,
        problems: Vec::new(),
        notes: Vec::new(),
        fingerprint: Some(base()),
        read_only: None,
        losses: Default::default(),
        text_update: None,
    }
}

/// The store's reply carrying `document` as document 1.
pub fn loaded_reply(document: LoadedDocument) -> Msg {
    Msg::Store(StoreReply::Loaded { doc: 1, result: Ok(document), recovery: None })
}

/// A workbench with document 1 holding `sentences`, types from a file, no model.
pub fn app_with(sentences: Vec<Sentence>) -> App {
    let mut app = App::new(types(), true, ModelStatus::Failed("no model".into()));
    update::open(&mut app, vec![source()]);
    update::update(&mut app, loaded(sentences));
    app
}

/// Key events for a string: characters, with `<Tab>`, `<S-Tab>`, `<Enter>`, `<Esc>`, `<Del>`,
/// `<Bksp>`, `<Left>`, `<Right>`, `<Up>`, `<Down>`, `<C-s>`, `<C-r>`, `<C-c>`.
pub fn keys(text: &str) -> Vec<KeyEvent> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            if let Some(end) = rest.find('>') {
                let name = &rest[1..end];
                let (code, mods) = match name {
                    "Tab" => (KeyCode::Tab, KeyModifiers::NONE),
                    "S-Tab" => (KeyCode::BackTab, KeyModifiers::SHIFT),
                    "Enter" => (KeyCode::Enter, KeyModifiers::NONE),
                    "Esc" => (KeyCode::Esc, KeyModifiers::NONE),
                    "Del" => (KeyCode::Delete, KeyModifiers::NONE),
                    "Bksp" => (KeyCode::Backspace, KeyModifiers::NONE),
                    "Left" => (KeyCode::Left, KeyModifiers::NONE),
                    "Right" => (KeyCode::Right, KeyModifiers::NONE),
                    "Up" => (KeyCode::Up, KeyModifiers::NONE),
                    "Down" => (KeyCode::Down, KeyModifiers::NONE),
                    c if c.starts_with("C-") => {
                        (KeyCode::Char(c.chars().nth(2).unwrap()), KeyModifiers::CONTROL)
                    }
                    other => panic!("unknown key <{other}>"),
                };
                out.push(KeyEvent::new(code, mods));
                rest = &rest[end + 1..];
                continue;
            }
        }
        let mods = if c.is_ascii_uppercase() { KeyModifiers::SHIFT } else { KeyModifiers::NONE };
        out.push(KeyEvent::new(KeyCode::Char(c), mods));
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Presses `text`'s keys and returns every effect they produced.
pub fn press(app: &mut App, text: &str) -> Vec<Effect> {
    keys(text).into_iter().flat_map(|k| update::update(app, Msg::key(k))).collect()
}

/// Sentence `i` of document 1.
pub fn sent(app: &App, i: usize) -> &Sentence {
    &app.docs[0].sentences[i]
}

/// Entities of sentence `i` as (type, start, end, source key).
pub fn entities(app: &App, i: usize) -> Vec<(String, usize, usize, Option<String>)> {
    sent(app, i)
        .entities
        .iter()
        .map(|e| {
            let source = e.extra.get("source").and_then(|v| v.as_str()).map(str::to_string);
            (e.entity_type.clone(), e.start, e.end, source)
        })
        .collect()
}

/// Relations of sentence `i` as (type, head, tail).
pub fn relations(app: &App, i: usize) -> Vec<(String, usize, usize)> {
    sent(app, i).relations.iter().map(|r| (r.relation_type.clone(), r.head, r.tail)).collect()
}
