//! Keys as data. One table per mode maps keys to actions and says what each does; the key
//! handler and the help overlay both read these tables, so help is never stale.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Everything the reviewer can ask for in normal mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Next sentence.
    NextSentence,
    /// Previous sentence.
    PrevSentence,
    /// First sentence of the document.
    FirstSentence,
    /// Last sentence of the document.
    LastSentence,
    /// Next document.
    NextDoc,
    /// Previous document.
    PrevDoc,
    /// Cursor one word right.
    WordRight,
    /// Cursor one word left.
    WordLeft,
    /// Cursor to the first word.
    FirstWord,
    /// Cursor to the last word.
    LastWord,
    /// Select the next entity.
    NextEntity,
    /// Select the previous entity.
    PrevEntity,
    /// Select the next relation.
    NextRelation,
    /// Select the previous relation.
    PrevRelation,
    /// Start or end a word range selection at the cursor.
    ToggleRange,
    /// Drop the range selection and the selected item.
    Escape,
    /// Open the type picker for the range, the cursor's word or the selected item.
    PickType,
    /// Give type number n (1-based, in the types file's order) to the range or selected entity.
    TypeNumber(u8),
    /// Accept the selected proposal.
    Accept,
    /// Reject the selected proposal, or delete the selected annotation.
    Delete,
    /// Accept every proposal of the sentence.
    AcceptAll,
    /// Reject every proposal of the sentence.
    RejectAll,
    /// Move the selected entity's start one word left.
    StartLeft,
    /// Move the selected entity's start one word right.
    StartRight,
    /// Move the selected entity's end one word left.
    EndLeft,
    /// Move the selected entity's end one word right.
    EndRight,
    /// Start a relation from the selected entity.
    AddRelation,
    /// Swap the selected relation's head and tail.
    Flip,
    /// Mark the sentence reviewed, or not.
    ToggleReviewed,
    /// Mark the sentence reviewed and go to the next unreviewed one.
    ReviewAndNext,
    /// Go to the next sentence not yet reviewed.
    NextUnreviewed,
    /// Split the sentence before the cursor's word.
    SplitSentence,
    /// Merge the sentence with the next.
    MergeSentences,
    /// Go to the next proposal the model is unsure of.
    NextLowConfidence,
    /// Type a search.
    Search,
    /// Next match of the last search.
    SearchNext,
    /// Previous match of the last search.
    SearchPrev,
    /// Type a filter line (type, source, score, relation, reviewed).
    Filter,
    /// Save every document with unsaved edits.
    Save,
    /// Undo the last edit.
    Undo,
    /// Redo the last undone edit.
    Redo,
    /// Show every key.
    Help,
    /// Show the statistics of the open documents.
    Statistics,
    /// Quit (asks first when edits are unsaved).
    Quit,
    /// Start fine-tuning on the reviewed sentences, or cancel the run in progress.
    FineTune,
    /// Show or hide the training panel.
    TrainingPanel,
    /// Choose the current model among the fine-tuned versions.
    ModelVersions,
    /// Give the keys to the inspector (its head and word cursors, ablations, word masking).
    Inspect,
    /// Show the inspector's next view: f_a, importance, ablation.
    InspectorView,
    /// Select the next open disagreement with the other annotator.
    NextDisagreement,
    /// Select the previous open disagreement.
    PrevDisagreement,
    /// Take the other annotator's labels at the selected disagreement.
    TakeTheirs,
    /// Take theirs at every open disagreement of the sentence.
    TakeTheirsAll,
    /// Keep one's own labels at the selected disagreement.
    KeepMine,
    /// Keep one's own at every open disagreement of the sentence.
    KeepMineAll,
    /// Open the label editor: add, rename and retire types.
    Labels,
}

/// Actions while the inspector has the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectAction {
    /// Head cursor one head left.
    Left,
    /// Head cursor one head right.
    Right,
    /// Head cursor one layer up.
    Up,
    /// Head cursor one layer down.
    Down,
    /// Add the head under the cursor to the set, or take it out.
    Toggle,
    /// Empty the set.
    Clear,
    /// Mask the set.
    AblateSet,
    /// Mask the head under the cursor.
    AblateHead,
    /// Mask the whole layer under the cursor.
    AblateLayer,
    /// Mask the n most important heads.
    AblateTop(u8),
    /// Mask in the encoder or on f_a only.
    ToggleMode,
    /// Search the smallest set of heads that flips the prediction.
    FlipSet,
    /// Word cursor one word left.
    WordLeft,
    /// Word cursor one word right.
    WordRight,
    /// Mask the word under the word cursor with `[MASK]`, or unmask it.
    ToggleWord,
    /// Unmask every word.
    ClearWords,
    /// The next view.
    NextView,
    /// Give the keys back to the sentence.
    Leave,
}

/// Actions of the type picker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickAction {
    /// Highlight the next type.
    Down,
    /// Highlight the previous type.
    Up,
    /// Choose the highlighted type.
    Choose,
    /// Choose type number n.
    Number(u8),
    /// Close without choosing.
    Cancel,
}

/// Actions while choosing a relation's tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkAction {
    /// Next candidate tail.
    Next,
    /// Previous candidate tail.
    Prev,
    /// Take the candidate as tail and pick the relation type.
    Choose,
    /// Give up the relation.
    Cancel,
}

/// A key as written in the tables: a code and the modifiers that must be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key.
    pub code: KeyCode,
    /// Ctrl or Alt when they must be held (Shift is part of the character).
    pub mods: KeyModifiers,
}

const fn plain(c: char) -> Key {
    Key { code: KeyCode::Char(c), mods: KeyModifiers::NONE }
}

const fn ctrl(c: char) -> Key {
    Key { code: KeyCode::Char(c), mods: KeyModifiers::CONTROL }
}

const fn code(code: KeyCode) -> Key {
    Key { code, mods: KeyModifiers::NONE }
}

impl Key {
    /// Whether a terminal key event is this key. Shift is ignored for characters (the
    /// character already says it) and for BackTab.
    pub fn matches(&self, event: &KeyEvent) -> bool {
        let wanted = self.mods & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let held = event.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let code = match event.code {
            KeyCode::Char(c) if wanted.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            other => other,
        };
        code == self.code && held == wanted
    }

    /// How the key is written in help: `j`, `Ctrl-s`, `Tab`, `↓`.
    pub fn label(&self) -> String {
        let name = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "S-Tab".into(),
            KeyCode::Delete => "Del".into(),
            KeyCode::Backspace => "Bksp".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            other => format!("{other:?}"),
        };
        if self.mods.contains(KeyModifiers::CONTROL) {
            format!("Ctrl-{name}")
        } else {
            name
        }
    }
}

/// One line of a key table: keys, what they do, and the help group they are listed under.
#[derive(Debug, Clone, Copy)]
pub struct Binding<A: 'static> {
    /// Keys that trigger the action.
    pub keys: &'static [Key],
    /// The action.
    pub action: A,
    /// What it does, for the help overlay.
    pub help: &'static str,
    /// Help section.
    pub group: &'static str,
}

const MOVE: &str = "Move";
const REVIEW: &str = "Review";
const EDIT: &str = "Edit";
const FILE: &str = "Find, save, quit";
const MODEL: &str = "Model";
const INSPECTOR: &str = "Inspector (i gives it the keys)";
const ADJUDICATE: &str = "Adjudicate (annotate --compare OTHER)";

macro_rules! bind {
    ($group:expr, [$($key:expr),+], $action:expr, $help:expr) => {
        Binding { keys: &[$($key),+], action: $action, help: $help, group: $group }
    };
}

/// Normal mode. Digits 1-9 ([`Action::TypeNumber`]) are handled beside this table and listed
/// by the help overlay from [`DIGIT_HELP`].
pub const NORMAL: &[Binding<Action>] = &[
    bind!(MOVE, [plain('j'), code(KeyCode::Down)], Action::NextSentence, "next sentence"),
    bind!(MOVE, [plain('k'), code(KeyCode::Up)], Action::PrevSentence, "previous sentence"),
    bind!(MOVE, [plain('g')], Action::FirstSentence, "first sentence"),
    bind!(MOVE, [plain('G')], Action::LastSentence, "last sentence"),
    bind!(MOVE, [plain('J'), code(KeyCode::PageDown)], Action::NextDoc, "next document"),
    bind!(MOVE, [plain('K'), code(KeyCode::PageUp)], Action::PrevDoc, "previous document"),
    bind!(MOVE, [plain('l'), code(KeyCode::Right)], Action::WordRight, "next word"),
    bind!(MOVE, [plain('h'), code(KeyCode::Left)], Action::WordLeft, "previous word"),
    bind!(MOVE, [plain('0'), code(KeyCode::Home)], Action::FirstWord, "first word"),
    bind!(MOVE, [plain('$'), code(KeyCode::End)], Action::LastWord, "last word"),
    bind!(MOVE, [code(KeyCode::Tab)], Action::NextEntity, "select next entity"),
    bind!(MOVE, [code(KeyCode::BackTab)], Action::PrevEntity, "select previous entity"),
    bind!(MOVE, [plain(']')], Action::NextRelation, "select next relation"),
    bind!(MOVE, [plain('[')], Action::PrevRelation, "select previous relation"),
    bind!(MOVE, [plain('.')], Action::NextUnreviewed, "next unreviewed sentence"),
    bind!(MOVE, [plain('!')], Action::NextLowConfidence, "next low-confidence proposal"),
    bind!(REVIEW, [plain('a')], Action::Accept, "accept the selected proposal"),
    bind!(
        REVIEW,
        [plain('x'), plain('d'), code(KeyCode::Delete)],
        Action::Delete,
        "reject / delete the selected item"
    ),
    bind!(REVIEW, [plain('A')], Action::AcceptAll, "accept all proposals of the sentence"),
    bind!(REVIEW, [plain('X')], Action::RejectAll, "reject all proposals of the sentence"),
    bind!(REVIEW, [plain('r')], Action::ToggleReviewed, "mark the sentence reviewed / not"),
    bind!(
        REVIEW,
        [code(KeyCode::Enter)],
        Action::ReviewAndNext,
        "mark reviewed, go to next unreviewed"
    ),
    bind!(EDIT, [plain('v')], Action::ToggleRange, "start / end a word range"),
    bind!(EDIT, [code(KeyCode::Esc)], Action::Escape, "clear range and selection"),
    bind!(EDIT, [plain('t')], Action::PickType, "type picker: new entity or retype selected"),
    bind!(EDIT, [plain('{')], Action::StartLeft, "entity start one word left"),
    bind!(EDIT, [plain('}')], Action::StartRight, "entity start one word right"),
    bind!(EDIT, [plain('(')], Action::EndLeft, "entity end one word left"),
    bind!(EDIT, [plain(')')], Action::EndRight, "entity end one word right"),
    bind!(EDIT, [plain('R')], Action::AddRelation, "new relation from the selected entity"),
    bind!(EDIT, [plain('f')], Action::Flip, "flip the selected relation"),
    bind!(EDIT, [plain('-')], Action::SplitSentence, "split the sentence before the cursor word"),
    bind!(EDIT, [plain('+')], Action::MergeSentences, "merge the sentence with the next"),
    bind!(EDIT, [plain('L')], Action::Labels, "label editor: add, rename, retire types"),
    bind!(EDIT, [plain('u')], Action::Undo, "undo"),
    bind!(EDIT, [ctrl('r')], Action::Redo, "redo"),
    bind!(FILE, [plain('/')], Action::Search, "search the words of all documents"),
    bind!(FILE, [plain('n')], Action::SearchNext, "next match"),
    bind!(FILE, [plain('N')], Action::SearchPrev, "previous match"),
    bind!(FILE, [plain('|')], Action::Filter, "filter: type:Org source:model score<.7 …"),
    bind!(FILE, [ctrl('s')], Action::Save, "save every edited document"),
    bind!(FILE, [plain('S')], Action::Statistics, "statistics of the open documents"),
    bind!(FILE, [plain('?')], Action::Help, "this help"),
    bind!(FILE, [plain('q')], Action::Quit, "quit (asks when edits are unsaved)"),
    bind!(
        MODEL,
        [plain('T')],
        Action::FineTune,
        "fine-tune on the reviewed sentences / cancel the run"
    ),
    bind!(MODEL, [plain('P')], Action::TrainingPanel, "show / hide the training panel"),
    bind!(MODEL, [plain('M')], Action::ModelVersions, "model versions: roll back or forward"),
    bind!(MODEL, [plain('e')], Action::InspectorView, "inspector view: f_a, importance, ablation"),
    bind!(MODEL, [plain('i')], Action::Inspect, "inspector keys: mask heads and words"),
    bind!(ADJUDICATE, [plain('c')], Action::NextDisagreement, "next open disagreement"),
    bind!(ADJUDICATE, [plain('C')], Action::PrevDisagreement, "previous open disagreement"),
    bind!(ADJUDICATE, [plain('o')], Action::TakeTheirs, "take theirs (the selected one)"),
    bind!(ADJUDICATE, [plain('O')], Action::TakeTheirsAll, "take theirs, whole sentence"),
    bind!(ADJUDICATE, [plain('w')], Action::KeepMine, "keep mine (the selected one)"),
    bind!(ADJUDICATE, [plain('W')], Action::KeepMineAll, "keep mine, whole sentence"),
];

/// The help line for the digit keys.
pub const DIGIT_HELP: (&str, &str, &str) =
    (EDIT, "1-9", "give type n to the range, the cursor's word or the selected entity");

/// The type picker.
pub const PICKER: &[Binding<PickAction>] = &[
    bind!("Type picker", [plain('j'), code(KeyCode::Down)], PickAction::Down, "next type"),
    bind!("Type picker", [plain('k'), code(KeyCode::Up)], PickAction::Up, "previous type"),
    bind!("Type picker", [code(KeyCode::Enter)], PickAction::Choose, "choose"),
    bind!("Type picker", [code(KeyCode::Esc), plain('q')], PickAction::Cancel, "cancel"),
];

/// Choosing a relation's tail.
pub const LINK: &[Binding<LinkAction>] = &[
    bind!(
        "New relation",
        [code(KeyCode::Tab), plain('l'), code(KeyCode::Right)],
        LinkAction::Next,
        "next tail candidate"
    ),
    bind!(
        "New relation",
        [code(KeyCode::BackTab), plain('h'), code(KeyCode::Left)],
        LinkAction::Prev,
        "previous tail candidate"
    ),
    bind!(
        "New relation",
        [code(KeyCode::Enter)],
        LinkAction::Choose,
        "take it as tail, then pick the type"
    ),
    bind!("New relation", [code(KeyCode::Esc), plain('q')], LinkAction::Cancel, "cancel"),
];

/// The inspector, while it has the keys. Digits ([`InspectAction::AblateTop`]) are handled
/// beside this table and listed from [`INSPECT_DIGIT_HELP`].
pub const INSPECT: &[Binding<InspectAction>] = &[
    bind!(INSPECTOR, [plain('h'), code(KeyCode::Left)], InspectAction::Left, "head cursor left"),
    bind!(INSPECTOR, [plain('l'), code(KeyCode::Right)], InspectAction::Right, "head cursor right"),
    bind!(INSPECTOR, [plain('k'), code(KeyCode::Up)], InspectAction::Up, "head cursor up a layer"),
    bind!(INSPECTOR, [plain('j'), code(KeyCode::Down)], InspectAction::Down, "head cursor down"),
    bind!(INSPECTOR, [plain(' ')], InspectAction::Toggle, "add / remove the head to the set"),
    bind!(INSPECTOR, [plain('x')], InspectAction::Clear, "empty the set"),
    bind!(INSPECTOR, [code(KeyCode::Enter)], InspectAction::AblateSet, "mask the set"),
    bind!(INSPECTOR, [plain('c')], InspectAction::AblateHead, "mask the head under the cursor"),
    bind!(INSPECTOR, [plain('L')], InspectAction::AblateLayer, "mask the cursor's whole layer"),
    bind!(INSPECTOR, [plain('m')], InspectAction::ToggleMode, "mask in the encoder / on f_a only"),
    bind!(INSPECTOR, [plain('f')], InspectAction::FlipSet, "smallest flip set of heads"),
    bind!(INSPECTOR, [plain('[')], InspectAction::WordLeft, "word cursor left"),
    bind!(INSPECTOR, [plain(']')], InspectAction::WordRight, "word cursor right"),
    bind!(INSPECTOR, [plain('w')], InspectAction::ToggleWord, "mask / unmask the cursor's word"),
    bind!(INSPECTOR, [plain('W')], InspectAction::ClearWords, "unmask every word"),
    bind!(
        INSPECTOR,
        [plain('e'), code(KeyCode::Tab)],
        InspectAction::NextView,
        "next view: f_a, importance, ablation"
    ),
    bind!(
        INSPECTOR,
        [code(KeyCode::Esc), plain('i'), plain('q')],
        InspectAction::Leave,
        "give the keys back to the sentence"
    ),
];

/// Keys that mean the same in every mode, looked up before the mode's own table.
pub const ANYWHERE: &[Binding<Action>] = &[
    // A quit request, never an instant kill: unsaved edits are asked about.
    bind!("Questions", [ctrl('c')], Action::Quit, "quit, asking first when edits are unsaved"),
];

/// Actions while the help is shown; any other key closes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelpAction {
    /// One line down.
    Down,
    /// One line up.
    Up,
    /// Ten lines down.
    PageDown,
    /// Ten lines up.
    PageUp,
}

/// The help, while it is shown.
pub const HELP: &[Binding<HelpAction>] = &[
    bind!("Help", [plain('j'), code(KeyCode::Down)], HelpAction::Down, "scroll down"),
    bind!("Help", [plain('k'), code(KeyCode::Up)], HelpAction::Up, "scroll up"),
    bind!("Help", [plain(' '), code(KeyCode::PageDown)], HelpAction::PageDown, "page down"),
    bind!("Help", [code(KeyCode::PageUp)], HelpAction::PageUp, "page up"),
];

/// Actions of the search prompt; other characters are typed into the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchAction {
    /// Search for the query (the last one when it is empty).
    Run,
    /// Close the prompt.
    Cancel,
    /// Delete the query's last character.
    Erase,
}

/// The search prompt.
pub const SEARCH: &[Binding<SearchAction>] = &[
    bind!("Search", [code(KeyCode::Enter)], SearchAction::Run, "search"),
    bind!("Search", [code(KeyCode::Esc)], SearchAction::Cancel, "cancel"),
    bind!("Search", [code(KeyCode::Backspace)], SearchAction::Erase, "delete the last character"),
];

/// Actions of the label editor; while it asks for a name, characters are typed into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelAction {
    /// Highlight the next type.
    Down,
    /// Highlight the previous type.
    Up,
    /// Add an entity type.
    AddEntity,
    /// Add a relation type.
    AddRelation,
    /// Rename the highlighted type.
    Rename,
    /// Retire the highlighted type, or offer it again.
    Retire,
    /// Close the editor.
    Close,
}

/// The label editor.
pub const LABELS: &[Binding<LabelAction>] = &[
    bind!("Label editor", [plain('j'), code(KeyCode::Down)], LabelAction::Down, "next type"),
    bind!("Label editor", [plain('k'), code(KeyCode::Up)], LabelAction::Up, "previous type"),
    bind!("Label editor", [plain('e')], LabelAction::AddEntity, "add an entity type"),
    bind!("Label editor", [plain('r')], LabelAction::AddRelation, "add a relation type"),
    bind!("Label editor", [plain('c')], LabelAction::Rename, "rename the type"),
    bind!("Label editor", [plain('x')], LabelAction::Retire, "retire the type / offer it again"),
    bind!("Label editor", [code(KeyCode::Esc), plain('q')], LabelAction::Close, "close"),
];

/// The help line for the inspector's digit keys.
pub const INSPECT_DIGIT_HELP: (&str, &str, &str) =
    (INSPECTOR, "1-9", "mask the n most important heads");

/// The first action of `table` one of whose keys matches `event`.
pub fn lookup<A: Copy>(table: &[Binding<A>], event: &KeyEvent) -> Option<A> {
    table.iter().find(|b| b.keys.iter().any(|k| k.matches(event))).map(|b| b.action)
}

/// The digit 1-9 a plain key event carries, if any.
pub fn digit(event: &KeyEvent) -> Option<u8> {
    if event.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) {
        return None;
    }
    match event.code {
        KeyCode::Char(c @ '1'..='9') => Some(c as u8 - b'0'),
        _ => None,
    }
}

/// The normal-mode action for a key event.
pub fn normal_action(event: &KeyEvent) -> Option<Action> {
    digit(event).map(Action::TypeNumber).or_else(|| lookup(NORMAL, event))
}

/// The keys of a binding as help writes them: `j / ↓`.
pub fn keys_label<A>(binding: &Binding<A>) -> String {
    binding.keys.iter().map(Key::label).collect::<Vec<_>>().join(" / ")
}

mod remap;
pub use remap::{action_name, split_escape, KeyTable, Keymap, KeymapError};
