//! The workbench's state: the open documents, where the reviewer is, what dialog is up, and
//! what the workers last said. Rendering reads it; only `update` changes it.

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;

use crate::data::formats::LossReport;
use crate::data::types::Types;
use crate::data::Sentence;
use crate::explain::prediction::{Mode as MaskMode, Target};
use crate::explain::Head;
use crate::store::files::{DocumentSource, Fingerprint};
use crate::store::journal::Recovered;

use super::adjudication::Comparison;
use super::filter::Filter;
use super::history::History;
use super::hits::HitMap;
use super::keymap::Keymap;
use super::labels::LabelEditor;
use super::sentences::{Sentences, Snapshot};
use crate::data::annotation::Item;
use crate::model::versions::Scores;
use crate::train::finetune::{ChangedSentence, FinetuneOutcome};
use crate::worker::explanation::{Ablation, Explanation, Wanted};
use crate::worker::model::{Inspection, ModelInfo};

/// How far a document's loading has come.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadState {
    /// The store worker is reading it.
    Loading,
    /// Its sentences are here.
    Loaded,
    /// It could not be read at all; the reason names file and place.
    Failed(String),
}

/// What we know of a document's file on disk, compared with what we loaded or saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disk {
    /// The file is as we last read or wrote it.
    InSync,
    /// Someone else changed it and the reviewer chose to keep their own edits.
    Changed,
    /// The file was removed; our copy is still open.
    Removed,
}

/// One open document.
#[derive(Debug, Clone)]
pub struct Document {
    /// Stable id, used in messages to and from workers.
    pub id: u64,
    /// Where it is read from and saved to.
    pub source: DocumentSource,
    /// Whether its sentences are here.
    pub load: LoadState,
    /// The sentences as the reviewer sees them, and which differ from the file: the unsaved
    /// edits.
    pub sentences: Sentences,
    /// The file's fingerprint when we last read or wrote it (`None`: not on disk yet).
    pub fingerprint: Option<Fingerprint>,
    /// Records that could not be read. A document with problems is read-only, because saving
    /// it would drop them.
    pub problems: Vec<String>,
    /// What `spanscope validate` reports about records that did load (they stay editable).
    pub notes: Vec<String>,
    /// The file's state on disk.
    pub disk: Disk,
    /// The sentences handed to the store worker by a save in flight.
    pub saving: Option<Snapshot>,
    /// Whether this document's recovery journal has been started since the last load or save.
    pub journal_started: bool,
    /// Why the last journal write failed, until a save succeeds: unsaved edits are then not
    /// recoverable, and quitting must say so.
    pub journal_failed: Option<String>,
    /// Why it must not be edited here (another workbench holds its folder), if so.
    pub locked: Option<String>,
    /// Sentences sent to the model and not yet answered.
    pub predicting: BTreeSet<usize>,
    /// The `.txt` its annotations were made from changed while it had unsaved edits: it is
    /// read again once they are saved, which brings the text's new sentences in.
    pub text_changed: bool,
    /// What the file (brat, DyGIE) holds that is not shown, and so a save would not write back.
    pub losses: LossReport,
    /// Whether the reviewer agreed to save this document without what its format cannot
    /// carry (asked before the first save, again after a reload).
    pub losses_accepted: bool,
}

impl Document {
    /// A document about to be loaded.
    pub fn new(id: u64, source: DocumentSource) -> Self {
        Self {
            id,
            source,
            load: LoadState::Loading,
            sentences: Sentences::default(),
            fingerprint: None,
            problems: Vec::new(),
            notes: Vec::new(),
            disk: Disk::InSync,
            saving: None,
            journal_started: false,
            journal_failed: None,
            locked: None,
            predicting: BTreeSet::new(),
            text_changed: false,
            losses: LossReport::default(),
            losses_accepted: false,
        }
    }

    /// The file name shown in lists.
    pub fn name(&self) -> String {
        self.source.display_name()
    }

    /// Whether there are edits not yet on disk.
    pub fn is_dirty(&self) -> bool {
        self.sentences.edited_count() > 0
    }

    /// Why the document cannot be edited, if it cannot.
    pub fn read_only_reason(&self) -> Option<String> {
        match &self.load {
            LoadState::Loading => Some("still loading".into()),
            LoadState::Failed(why) => Some(why.clone()),
            LoadState::Loaded if self.locked.is_some() => self.locked.clone(),
            LoadState::Loaded if !self.problems.is_empty() => Some(self.problems_note()),
            LoadState::Loaded => None,
        }
    }

    /// Why a document with unreadable records is read-only, with the first reason (as
    /// `spanscope validate` gives it, less the file name the screen shows already).
    pub fn problems_note(&self) -> String {
        let (first, more) = self.first_and_more(&self.problems).unwrap_or_default();
        format!(
            "read-only: {} record(s) could not be read and saving would drop them: {first}{more}",
            self.problems.len()
        )
    }

    /// What `validate` reports about the records that loaded, with the first finding.
    pub fn notes_note(&self) -> Option<String> {
        let (first, more) = self.first_and_more(&self.notes)?;
        Some(format!(
            "`spanscope validate` reports {} problem(s) here: {first}{more}",
            self.notes.len()
        ))
    }

    /// The first of `found` without this file's name, and what says how many more there are.
    fn first_and_more<'a>(&self, found: &'a [String]) -> Option<(&'a str, String)> {
        let prefix = format!("{}: ", self.source.read_path.display());
        let first = found.first()?;
        let more = match found.len() {
            1 => String::new(),
            n => format!(" ({} more: `spanscope validate` lists them)", n - 1),
        };
        Some((first.strip_prefix(&prefix).unwrap_or(first), more))
    }

    /// Sentences reviewed so far.
    pub fn reviewed_count(&self) -> usize {
        self.sentences.reviewed_count()
    }
}

/// Where the reviewer is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Index into [`App::docs`].
    pub doc: usize,
    /// Sentence index in the document.
    pub sentence: usize,
    /// Word index in the sentence.
    pub token: usize,
    /// The other end of a word range being selected, if one is.
    pub anchor: Option<usize>,
    /// The entity or relation that accept, reject, retype and delete act on.
    pub item: Option<Item>,
}

impl Cursor {
    /// The selected word range `[start, end)`: anchor to cursor, or the cursor's word.
    pub fn range(&self) -> (usize, usize) {
        match self.anchor {
            Some(a) => (a.min(self.token), a.max(self.token) + 1),
            None => (self.token, self.token + 1),
        }
    }
}

/// What a type picker will give the chosen type to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickTarget {
    /// A new entity over words `[start, end)`.
    NewEntity {
        /// First word.
        start: usize,
        /// One past the last word.
        end: usize,
    },
    /// The type of an existing entity.
    EntityType(usize),
    /// A new relation from `head` to `tail`.
    NewRelation {
        /// Head entity.
        head: usize,
        /// Tail entity.
        tail: usize,
    },
    /// The type of an existing relation.
    RelationType(usize),
    /// Which model version is current.
    ModelVersion,
}

/// An open type picker.
#[derive(Debug, Clone, PartialEq)]
pub struct Picker {
    /// What the type is for.
    pub target: PickTarget,
    /// Type names offered, in the types file's order.
    pub options: Vec<String>,
    /// The highlighted option.
    pub index: usize,
}

/// A question the reviewer must answer before going on.
#[derive(Debug, Clone)]
pub enum Question {
    /// Quit with unsaved edits?
    Quit,
    /// Recover the unsaved edits a journal holds for a document?
    Recover {
        /// The document.
        doc: u64,
        /// What the journal holds.
        recovered: Recovered,
    },
    /// The file changed on disk while the reviewer holds unsaved edits of it.
    DiskChanged {
        /// The document.
        doc: u64,
    },
    /// A save found the file changed on disk since it was read.
    SaveConflict {
        /// The document.
        doc: u64,
    },
    /// Saving a document back in an other tool's format would lose what is listed.
    SaveLosses {
        /// The document.
        doc: u64,
        /// What would be lost.
        losses: LossReport,
    },
    /// A fine-tuned model scored worse than the current one on the held-out sentences.
    KeepModel {
        /// The run's result.
        outcome: Box<FinetuneOutcome>,
    },
    /// A split would drop relations across the cut, or a merge lose record keys.
    Restructure {
        /// The split or merge.
        edit: Restructure,
        /// What it loses, each in words.
        losses: Vec<String>,
    },
    /// A retype or flip of the current sentence would break relation rules of the types file.
    BreakRules {
        /// The edit asked for.
        edit: RuleEdit,
        /// Each rule it breaks, in words.
        reasons: Vec<String>,
    },
}

/// A split or merge that waits for the reviewer to allow what it loses.
#[derive(Debug, Clone, PartialEq)]
pub struct Restructure {
    /// The document's id.
    pub doc: u64,
    /// The first sentence replaced.
    pub sentence: usize,
    /// The sentences replaced, as they were when asked (the edit is refused if they changed).
    pub before: Vec<Sentence>,
    /// What replaces them.
    pub after: Vec<Sentence>,
    /// What the edit is ("split before word 4").
    pub label: String,
}

/// An edit of the current sentence that waits for the reviewer to allow breaking a rule.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleEdit {
    /// Give `target` the type `ty` (as the type picker does).
    Retype {
        /// What gets the type.
        target: PickTarget,
        /// The type.
        ty: String,
    },
    /// Flip relation `relation`.
    Flip {
        /// Its index in the sentence.
        relation: usize,
    },
}

/// The input mode: what keys mean right now.
#[derive(Debug, Clone, Default)]
pub enum Mode {
    /// Moving and editing.
    #[default]
    Normal,
    /// Choosing a type.
    Pick(Picker),
    /// Choosing the tail of a new relation whose head is `head`; `tail` is the candidate.
    Link {
        /// Head entity.
        head: usize,
        /// Candidate tail entity.
        tail: usize,
    },
    /// Typing a search.
    Search(String),
    /// Typing a filter line ([`crate::workbench::filter`]).
    Filter(String),
    /// The help overlay, scrolled by `scroll` lines.
    Help {
        /// Lines scrolled.
        scroll: u16,
    },
    /// A question (quit, recover, reload) waiting for an answer.
    Confirm(Question),
    /// Keys go to the inspector: its views, its head and word cursors, what to mask.
    Inspect,
    /// The statistics of the open documents, scrolled by `scroll` lines.
    Stats {
        /// Lines scrolled.
        scroll: u16,
    },
    /// The label editor: adding, renaming and retiring types.
    Labels(LabelEditor),
}

/// The model as the workbench sees it.
#[derive(Debug, Clone)]
pub enum ModelStatus {
    /// Loading a checkpoint.
    Loading(String),
    /// Ready.
    Ready(ModelInfo),
    /// The checkpoint could not be loaded; editing still works.
    Failed(String),
    /// No model was asked for (`annotate --no-model`): no proposals, editing works.
    Off,
}

/// How urgent a status message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something done.
    Info,
    /// Something the reviewer should know.
    Warning,
    /// Something failed.
    Error,
}

/// The word span the inspector explains, in one sentence of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanKey {
    /// Document id.
    pub doc: u64,
    /// Sentence index.
    pub sentence: usize,
    /// First word.
    pub start: usize,
    /// One past the last word.
    pub end: usize,
    /// The sentence's words when asked (a reload may change them).
    pub tokens: Vec<String>,
}

/// What the inspector shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InspectorView {
    /// f_a per layer and head, with P(type).
    #[default]
    Contribution,
    /// |∂score/∂ξ| per layer and head, the top heads and the words' attributions.
    Importance,
    /// P(label) with each head masked alone, the flip set and the custom ablation.
    Ablation,
}

impl InspectorView {
    /// The next view, round.
    pub fn next(self) -> Self {
        match self {
            InspectorView::Contribution => InspectorView::Importance,
            InspectorView::Importance => InspectorView::Ablation,
            InspectorView::Ablation => InspectorView::Contribution,
        }
    }

    /// How the title names it.
    pub fn name(self) -> &'static str {
        match self {
            InspectorView::Contribution => "f_a",
            InspectorView::Importance => "importance",
            InspectorView::Ablation => "ablation",
        }
    }
}

/// The prediction the causal views explain, in one sentence of one document.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainKey {
    /// Document id.
    pub doc: u64,
    /// Sentence index.
    pub sentence: usize,
    /// The sentence's words when asked.
    pub tokens: Vec<String>,
    /// The span, or the relation with its type.
    pub target: Target,
}

/// The span inspector: what was asked, and the answer when it came.
#[derive(Debug, Clone)]
pub struct Inspector {
    /// The span asked about last (f_a and P(type); `None` for a relation).
    pub key: Option<SpanKey>,
    /// The id of that request.
    pub request: u64,
    /// The answer, once it arrived.
    pub result: Option<Result<Inspection, String>>,
    /// The view shown.
    pub view: InspectorView,
    /// The prediction explained by the causal views.
    pub explain_key: Option<ExplainKey>,
    /// The first explain request for `explain_key`: answers from then on are merged.
    pub explain_since: u64,
    /// The newest explain request.
    pub explain_request: u64,
    /// What the newest explain request asked, until it is answered.
    pub asked: Wanted,
    /// What is known of the prediction, merged from every answer.
    pub explanation: Option<Explanation>,
    /// Why the last explain request failed, if it did.
    pub explain_error: Option<String>,
    /// What that failed request asked: not asked again until the view wants something else.
    pub refused: Wanted,
    /// The head under the grid's cursor.
    pub head: Head,
    /// The heads toggled into the set to mask.
    pub chosen: BTreeSet<Head>,
    /// Where ablations mask heads.
    pub mode: MaskMode,
    /// The custom ablation asked for, until another target is selected.
    pub ablation: Option<Ablation>,
    /// Whether the flip set was asked for outside the ablation view.
    pub flip: bool,
    /// The word under the words line's cursor (a sentence word index).
    pub word: usize,
    /// The words masked with `[MASK]`, until another target is selected.
    pub masked_words: BTreeSet<usize>,
}

impl Default for Inspector {
    fn default() -> Self {
        Inspector {
            key: None,
            request: 0,
            result: None,
            view: InspectorView::default(),
            explain_key: None,
            explain_since: 0,
            explain_request: 0,
            asked: Wanted::default(),
            explanation: None,
            explain_error: None,
            refused: Wanted::default(),
            head: Head { layer: 0, head: 0 },
            chosen: BTreeSet::new(),
            mode: MaskMode::Encoder,
            ablation: None,
            flip: false,
            word: 0,
            masked_words: BTreeSet::new(),
        }
    }
}

/// Where a fine-tuning run is.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainingPhase {
    /// Asked for; the worker is preparing the data.
    Preparing,
    /// Optimiser steps running.
    Training,
    /// Both models are being scored on the held-out reviewed sentences.
    Scoring,
    /// Waiting for the reviewer to keep or refuse a model that scored worse.
    Deciding,
    /// Finished; the text says what became of the new model.
    Done(String),
    /// Stopped by the reviewer.
    Cancelled,
    /// Failed; the text says why. Nothing changed.
    Failed(String),
}

/// A fine-tuning run as the workbench shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Training {
    /// Where it is.
    pub phase: TrainingPhase,
    /// Where it runs (`cpu`, `cuda:0`).
    pub device: String,
    /// Current epoch (1-based) and epochs of the run.
    pub epoch: (usize, usize),
    /// Steps taken and steps of the run.
    pub step: (usize, usize),
    /// Loss of each step taken, in order.
    pub losses: Vec<f32>,
    /// Seconds since the start, and the estimate of seconds left.
    pub seconds: (f64, f64),
    /// Optimiser steps and sentences learnt per second so far, once a step is taken.
    pub rate: Option<(f64, f64)>,
    /// Reviewed sentences learnt, original ones mixed in, reviewed ones held out.
    pub sentences: (usize, usize, usize),
    /// Scores of the current and of the new model on the held-out sentences.
    pub scores: Option<(Scores, Scores)>,
    /// Folds of the cross-validation that judges the run, when too few sentences are held out.
    pub folds: Option<usize>,
    /// The judged sentences whose prediction the new model changed, before and after.
    pub changed: Vec<ChangedSentence>,
}

impl Training {
    /// A run just asked for.
    pub fn new() -> Self {
        Training {
            phase: TrainingPhase::Preparing,
            device: String::new(),
            epoch: (0, 0),
            step: (0, 0),
            losses: Vec::new(),
            seconds: (0.0, 0.0),
            rate: None,
            sentences: (0, 0, 0),
            scores: None,
            folds: None,
            changed: Vec::new(),
        }
    }

    /// Whether the run is still going.
    pub fn is_running(&self) -> bool {
        matches!(
            self.phase,
            TrainingPhase::Preparing | TrainingPhase::Training | TrainingPhase::Scoring
        )
    }
}

impl Default for Training {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether and when the workbench ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quitting {
    /// It goes on.
    No,
    /// Once the saves in flight succeed ("save everything, then quit"); a failed one cancels.
    AfterSaves,
    /// At once.
    Now,
}

/// Fine-tuning from the workbench: the last run and what starts the next.
#[derive(Debug, Default)]
pub struct FineTuning {
    /// The last run, if any.
    pub run: Option<Training>,
    /// Whether the training panel is shown (in place of the relations).
    pub panel: bool,
    /// Start a run by itself every this many newly reviewed sentences.
    pub auto: Option<usize>,
    /// Sentences marked reviewed since the last run started.
    pub reviewed_since: usize,
    /// Whether fine-tuning is possible (a model to fine-tune, a folder for versions).
    pub possible: bool,
    /// Set when another model became current: once it is loaded, proposals are renewed.
    pub renew_on_load: bool,
}

/// The whole workbench state.
#[derive(Debug)]
pub struct App {
    /// Open documents, in list order.
    pub docs: Vec<Document>,
    /// Where the reviewer is.
    pub cursor: Cursor,
    /// What keys mean now.
    pub mode: Mode,
    /// Undo and redo.
    pub history: History,
    /// Entity and relation types offered in pickers.
    pub types: Types,
    /// Whether `types` came from a file (else from the model or the documents).
    pub types_from_file: bool,
    /// The types file the label editor writes (`None`: the editor is not offered).
    pub types_path: Option<PathBuf>,
    /// The model.
    pub model: ModelStatus,
    /// The span inspector.
    pub inspector: Inspector,
    /// The last status message.
    pub message: Option<(Level, String)>,
    /// The last search.
    pub search: String,
    /// The filter in force, if any: `n` / `N` step through its matches instead of the
    /// search's, and the document list counts them.
    pub filter: Option<Filter>,
    /// Proposals scoring below this are "low confidence".
    pub threshold: f32,
    /// Whether and when the workbench ends.
    pub quitting: Quitting,
    /// When the key being applied was pressed (seconds since the Unix epoch, from its
    /// [`crate::workbench::update::Msg::Key`]): the time journal entries record.
    pub now: u64,
    /// Questions waiting for the current dialog to close.
    pub questions: VecDeque<Question>,
    /// Next document id.
    pub next_doc_id: u64,
    /// Next inspector request id.
    pub next_request: u64,
    /// Fine-tuning: the last run, the panel, what starts the next.
    pub fine_tuning: FineTuning,
    /// The keys in force (the defaults, remapped by the config file).
    pub keymap: Keymap,
    /// Whether marking a sentence reviewed accepts its open proposals (config
    /// `review.accept_open_proposals`); when not, it refuses while proposals are open.
    pub review_accepts: bool,
    /// Another annotator's annotations to adjudicate against (`annotate --compare`).
    pub compare: Option<Comparison>,
    /// Who is reviewing: recorded with every edit (`annotate --annotator`, the config file's
    /// `review.annotator`, else the user name; see [`super::config::annotator`]).
    pub annotator: String,
    /// What the last frame drew where, for reading mouse clicks.
    pub hits: HitMap,
    /// The word a left-button drag started on, until the button is released.
    pub drag: Option<usize>,
}

impl App {
    /// An empty workbench offering `types` (from a file when `types_from_file`).
    pub fn new(types: Types, types_from_file: bool, model: ModelStatus) -> Self {
        Self {
            docs: Vec::new(),
            cursor: Cursor::default(),
            mode: Mode::Normal,
            history: History::default(),
            types,
            types_from_file,
            types_path: None,
            model,
            inspector: Inspector::default(),
            message: None,
            search: String::new(),
            filter: None,
            threshold: 0.7,
            quitting: Quitting::No,
            now: 0,
            questions: VecDeque::new(),
            next_doc_id: 1,
            next_request: 1,
            fine_tuning: FineTuning::default(),
            keymap: Keymap::default(),
            review_accepts: false,
            compare: None,
            annotator: "unknown".into(),
            hits: HitMap::default(),
            drag: None,
        }
    }

    /// Whether the workbench should exit now.
    pub fn should_quit(&self) -> bool {
        self.quitting == Quitting::Now
    }

    /// The document under the cursor.
    pub fn doc(&self) -> Option<&Document> {
        self.docs.get(self.cursor.doc)
    }

    /// The sentence under the cursor.
    pub fn sentence(&self) -> Option<&Sentence> {
        self.doc()?.sentences.get(self.cursor.sentence)
    }

    /// Index of the document with id `id`.
    pub fn doc_index(&self, id: u64) -> Option<usize> {
        self.docs.iter().position(|d| d.id == id)
    }

    /// Documents with unsaved edits.
    pub fn dirty_docs(&self) -> impl Iterator<Item = &Document> {
        self.docs.iter().filter(|d| d.is_dirty())
    }

    /// Entity type names, in order.
    pub fn entity_types(&self) -> Vec<String> {
        self.types.entities.iter().map(|t| t.name.clone()).collect()
    }

    /// Relation type names, in order.
    pub fn relation_types(&self) -> Vec<String> {
        self.types.relations.iter().map(|t| t.name.clone()).collect()
    }

    /// Sets the status message.
    pub fn say(&mut self, level: Level, text: impl Into<String>) {
        let text = text.into();
        if level == Level::Error {
            // The log keeps every error whole, as the screen shows it.
            tracing::error!("{text}");
        }
        self.message = Some((level, text));
    }
}
