//! `update(&mut App, Msg) -> Vec<Effect>`: the one place state changes. Messages are keys and
//! what the workers report; effects are what the workers should do next. No I/O happens here,
//! so every path is testable without a terminal, a model or a disk.

mod keys;
mod model;
mod mouse;
mod questions;
mod store;
mod training;

pub use questions::{answers, Answer, Choice};

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use ratatui::crossterm::event::{KeyEvent, KeyEventKind, MouseEvent};

use super::inspection;
use super::state::{App, Document, Mode, ModelStatus, SpanKey};
use crate::data::annotation::Item;
use crate::data::Sentence;
use crate::explain::prediction::Target;
use crate::model::versions::VersionRef;
use crate::store::files::DocumentSource;
use crate::store::watch::FileEvent;
use crate::train::finetune::FinetuneOutcome;
use crate::worker::explanation::Wanted;
use crate::worker::model::InferenceReply;
use crate::worker::store::{StoreReply, StoreRequest};
use crate::worker::training::TrainingReply;

/// Something that happened: a key, or a worker's report.
#[derive(Debug)]
pub enum Msg {
    /// A key press, and when it happened (seconds since the Unix epoch): the time its edit is
    /// journaled with. The clock is read where the key is read ([`Msg::key`]), never in
    /// `update`, so a test can say what time it is.
    Key(KeyEvent, u64),
    /// A mouse click, drag, release or wheel turn, read against the last frame's
    /// [`crate::workbench::hits::HitMap`].
    Mouse(MouseEvent),
    /// The store worker's answer.
    Store(StoreReply),
    /// The model worker's answer.
    Model(InferenceReply),
    /// A watched folder changed.
    File(FileEvent),
    /// The training worker's report.
    Training(TrainingReply),
}

impl Msg {
    /// A key pressed now.
    pub fn key(key: KeyEvent) -> Msg {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |t| t.as_secs());
        Msg::Key(key, now)
    }
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
        Msg::Key(key, at) if key.kind != KeyEventKind::Release => {
            app.now = at;
            keys::key_pressed(app, key)
        }
        Msg::Key(..) => Vec::new(),
        Msg::Mouse(event) => mouse::mouse(app, event),
        Msg::Store(reply) => store::store_reply(app, reply),
        Msg::Model(reply) => model::model_reply(app, reply),
        Msg::File(event) => store::file_event(app, event),
        Msg::Training(reply) => training::training_reply(app, reply),
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
