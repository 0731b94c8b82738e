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

/// The keys in force: the tables above with the reviewer's remappings from the config file.
/// Each table row keeps its action, help text and group; only its keys can change.
#[derive(Debug, Clone, PartialEq)]
pub struct Keymap {
    /// Keys of each row of [`NORMAL`], in its order.
    normal: Vec<Vec<Key>>,
    /// Keys giving type 1 to 9 (in normal mode and in the type picker).
    digits: Vec<Vec<Key>>,
    /// Keys of each row of [`PICKER`].
    picker: Vec<Vec<Key>>,
    /// Keys of each row of [`LINK`].
    link: Vec<Vec<Key>>,
    /// Keys of each row of [`INSPECT`].
    inspect: Vec<Vec<Key>>,
    /// Keys of each row of [`HELP`].
    help: Vec<Vec<Key>>,
    /// Keys of each row of [`SEARCH`].
    search: Vec<Vec<Key>>,
    /// Keys of each row of [`ANYWHERE`].
    anywhere: Vec<Vec<Key>>,
}

impl Default for Keymap {
    fn default() -> Self {
        fn rows<A>(table: &[Binding<A>]) -> Vec<Vec<Key>> {
            table.iter().map(|b| b.keys.to_vec()).collect()
        }
        Keymap {
            normal: rows(NORMAL),
            digits: (1..=9u8).map(|n| vec![plain(char::from(b'0' + n))]).collect(),
            picker: rows(PICKER),
            link: rows(LINK),
            inspect: rows(INSPECT),
            help: rows(HELP),
            search: rows(SEARCH),
            anywhere: rows(ANYWHERE),
        }
    }
}

/// A mode whose keys the config file can set, with its section name there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTable {
    /// `[keys]`: normal mode, digits included.
    Normal,
    /// `[keys.picker]`: the type picker.
    Picker,
    /// `[keys.link]`: choosing a relation's tail.
    Link,
    /// `[keys.inspector]`: the inspector, while it has the keys.
    Inspector,
    /// `[keys.help_screen]`: the help, while it is shown (`[keys]` has `help`, the key opening it).
    Help,
    /// `[keys.search_prompt]`: the search prompt (`[keys]` has `search`, the key opening it).
    Search,
    /// `[keys.anywhere]`: keys that mean the same in every mode.
    Anywhere,
}

impl KeyTable {
    /// Every table, in the config file's order.
    pub const ALL: [KeyTable; 7] = [
        KeyTable::Normal,
        KeyTable::Picker,
        KeyTable::Link,
        KeyTable::Inspector,
        KeyTable::Help,
        KeyTable::Search,
        KeyTable::Anywhere,
    ];

    /// The config file's section.
    pub fn section(self) -> &'static str {
        match self {
            KeyTable::Normal => "keys",
            KeyTable::Picker => "keys.picker",
            KeyTable::Link => "keys.link",
            KeyTable::Inspector => "keys.inspector",
            KeyTable::Help => "keys.help_screen",
            KeyTable::Search => "keys.search_prompt",
            KeyTable::Anywhere => "keys.anywhere",
        }
    }

    /// The section's name inside `[keys]` (`picker` for `[keys.picker]`); none for `[keys]`.
    pub fn subsection(self) -> Option<&'static str> {
        self.section().strip_prefix("keys.")
    }
}

/// Why a remapping cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    /// The section names no such action.
    #[error("[{section}] has no action \"{name}\" (`spanscope config --default` lists them)")]
    UnknownAction {
        /// The section.
        section: &'static str,
        /// The name given.
        name: String,
    },
    /// A key name that is not a key.
    #[error("[{section}] {action}: \"{key}\" is not a key (write e.g. \"j\", \"J\", \"Ctrl-s\", \"Down\", \"Enter\", \"Space\")")]
    BadKey {
        /// The section.
        section: &'static str,
        /// The action.
        action: String,
        /// The key as written.
        key: String,
    },
    /// An Alt key: terminals send Alt-x as Esc then x, which [`split_escape`] reads as the two
    /// keys, so an Alt binding could never be pressed.
    #[error("[{section}] {action}: \"{key}\": Alt keys cannot be bound (terminals send Alt-x as Esc then x, read as those two keys)")]
    AltKey {
        /// The section.
        section: &'static str,
        /// The action.
        action: String,
        /// The key as written.
        key: String,
    },
    /// Two actions of one mode on the same key.
    #[error("[{section}] {key} is bound to both {first} and {second}")]
    Conflict {
        /// The section.
        section: &'static str,
        /// The key.
        key: String,
        /// One action.
        first: String,
        /// The other.
        second: String,
    },
    /// An action left with no key at all.
    #[error("[{section}] {action} needs at least one key")]
    NoKey {
        /// The section.
        section: &'static str,
        /// The action.
        action: String,
    },
}

/// The config file's name of an action: its variant name in snake case (`NextSentence` is
/// `next_sentence`; type digits are `type_1` to `type_9`).
pub fn action_name(action: impl std::fmt::Debug) -> String {
    crate::data::text::snake_case(&format!("{action:?}"))
}

impl Key {
    /// The key as the config file writes it: `j`, `J`, `Ctrl-s`, `Down`, `S-Tab`, `Space`.
    pub fn config_name(&self) -> String {
        let name = match self.code {
            KeyCode::Up => "Up".to_string(),
            KeyCode::Down => "Down".into(),
            KeyCode::Left => "Left".into(),
            KeyCode::Right => "Right".into(),
            _ => return self.label_with_alt(),
        };
        self.with_mods(name)
    }

    fn label_with_alt(&self) -> String {
        let label = self.label();
        if self.mods.contains(KeyModifiers::ALT) {
            format!("Alt-{label}")
        } else {
            label
        }
    }

    fn with_mods(&self, name: String) -> String {
        let mut out = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            out.push_str("Ctrl-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            out.push_str("Alt-");
        }
        out + &name
    }

    /// Reads a key as help or the config file writes it (`Ctrl-s`, `Down`, `↓`, `PgDn`, `x`).
    pub fn parse(text: &str) -> Option<Key> {
        let mut rest = text;
        let mut mods = KeyModifiers::NONE;
        loop {
            if let Some(r) = rest.strip_prefix("Ctrl-").or_else(|| rest.strip_prefix("C-")) {
                mods |= KeyModifiers::CONTROL;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("Alt-").or_else(|| rest.strip_prefix("M-")) {
                mods |= KeyModifiers::ALT;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "Space" => KeyCode::Char(' '),
            "Up" | "↑" => KeyCode::Up,
            "Down" | "↓" => KeyCode::Down,
            "Left" | "←" => KeyCode::Left,
            "Right" | "→" => KeyCode::Right,
            "Enter" | "Return" => KeyCode::Enter,
            "Esc" | "Escape" => KeyCode::Esc,
            "Tab" => KeyCode::Tab,
            "S-Tab" | "BackTab" => KeyCode::BackTab,
            "Del" | "Delete" => KeyCode::Delete,
            "Bksp" | "Backspace" => KeyCode::Backspace,
            "Home" => KeyCode::Home,
            "End" => KeyCode::End,
            "PgUp" | "PageUp" => KeyCode::PageUp,
            "PgDn" | "PageDown" => KeyCode::PageDown,
            other => {
                let mut chars = other.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if !c.is_control() => {
                        KeyCode::Char(if mods.is_empty() { c } else { c.to_ascii_lowercase() })
                    }
                    _ => return None,
                }
            }
        };
        Some(Key { code, mods })
    }
}

fn find<A: Copy>(rows: &[Vec<Key>], table: &[Binding<A>], event: &KeyEvent) -> Option<A> {
    rows.iter().position(|keys| keys.iter().any(|k| k.matches(event))).map(|i| table[i].action)
}

impl Keymap {
    /// The normal-mode action for a key event.
    pub fn normal_action(&self, event: &KeyEvent) -> Option<Action> {
        self.digit(event).map(Action::TypeNumber).or_else(|| find(&self.normal, NORMAL, event))
    }

    /// The type number 1-9 a key event gives, if any.
    pub fn digit(&self, event: &KeyEvent) -> Option<u8> {
        let n = self.digits.iter().position(|keys| keys.iter().any(|k| k.matches(event)))?;
        u8::try_from(n + 1).ok()
    }

    /// The type picker's action for a key event (digits choose type n).
    pub fn picker_action(&self, event: &KeyEvent) -> Option<PickAction> {
        find(&self.picker, PICKER, event).or_else(|| self.digit(event).map(PickAction::Number))
    }

    /// The link mode's action for a key event.
    pub fn link_action(&self, event: &KeyEvent) -> Option<LinkAction> {
        find(&self.link, LINK, event)
    }

    /// The inspector's action for a key event (digits mask the top n heads).
    pub fn inspect_action(&self, event: &KeyEvent) -> Option<InspectAction> {
        find(&self.inspect, INSPECT, event)
            .or_else(|| self.digit(event).map(InspectAction::AblateTop))
    }

    /// The help's action for a key event (any other key closes the help).
    pub fn help_action(&self, event: &KeyEvent) -> Option<HelpAction> {
        find(&self.help, HELP, event)
    }

    /// The search prompt's action for a key event (other characters are typed).
    pub fn search_action(&self, event: &KeyEvent) -> Option<SearchAction> {
        find(&self.search, SEARCH, event)
    }

    /// The action a key event means in every mode, looked up before the mode's own.
    pub fn anywhere_action(&self, event: &KeyEvent) -> Option<Action> {
        find(&self.anywhere, ANYWHERE, event)
    }

    /// The keys of normal-mode `action` (empty when it has none).
    pub fn normal_keys(&self, action: Action) -> &[Key] {
        if let Action::TypeNumber(n) = action {
            return self.digits.get(usize::from(n).wrapping_sub(1)).map_or(&[], Vec::as_slice);
        }
        NORMAL.iter().position(|b| b.action == action).map_or(&[], |i| &self.normal[i])
    }

    /// The keys of row `i` of `table`.
    pub fn row_keys(&self, table: KeyTable, i: usize) -> &[Key] {
        let rows = match table {
            KeyTable::Normal => &self.normal,
            KeyTable::Picker => &self.picker,
            KeyTable::Link => &self.link,
            KeyTable::Inspector => &self.inspect,
            KeyTable::Help => &self.help,
            KeyTable::Search => &self.search,
            KeyTable::Anywhere => &self.anywhere,
        };
        rows.get(i).map_or(&[], Vec::as_slice)
    }

    /// How the digit keys are written in help: `1-9` when they are the digits.
    pub fn digits_label(&self) -> String {
        if self.digits == Keymap::default().digits {
            "1-9".into()
        } else {
            let first: Vec<String> =
                self.digits.iter().map(|k| k.first().map_or("-".into(), Key::label)).collect();
            first.join(" ")
        }
    }

    /// Sets the keys of the action called `name` in `table` (as the config file names it).
    pub fn set(&mut self, table: KeyTable, name: &str, keys: &[String]) -> Result<(), KeymapError> {
        let section = table.section();
        let parsed: Vec<Key> = keys
            .iter()
            .map(|k| {
                Key::parse(k).ok_or_else(|| KeymapError::BadKey {
                    section,
                    action: name.into(),
                    key: k.clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        if parsed.is_empty() {
            return Err(KeymapError::NoKey { section, action: name.into() });
        }
        if let Some(i) = parsed.iter().position(|k| k.mods.contains(KeyModifiers::ALT)) {
            return Err(KeymapError::AltKey { section, action: name.into(), key: keys[i].clone() });
        }
        fn names<A: Copy + std::fmt::Debug>(t: &[Binding<A>]) -> Vec<String> {
            t.iter().map(|b| action_name(b.action)).collect()
        }
        let (rows, row_names) = match table {
            KeyTable::Normal => {
                if let Some(n) = name.strip_prefix("type_").and_then(|n| n.parse::<usize>().ok()) {
                    if (1..=9).contains(&n) {
                        self.digits[n - 1] = parsed;
                        return Ok(());
                    }
                }
                (&mut self.normal, names(NORMAL))
            }
            KeyTable::Picker => (&mut self.picker, names(PICKER)),
            KeyTable::Link => (&mut self.link, names(LINK)),
            KeyTable::Inspector => (&mut self.inspect, names(INSPECT)),
            KeyTable::Help => (&mut self.help, names(HELP)),
            KeyTable::Search => (&mut self.search, names(SEARCH)),
            KeyTable::Anywhere => (&mut self.anywhere, names(ANYWHERE)),
        };
        let i = row_names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| KeymapError::UnknownAction { section, name: name.into() })?;
        rows[i] = parsed;
        Ok(())
    }

    /// Every (name, keys) of `table`, in the table's order (digits last in normal mode).
    pub fn named_rows(&self, table: KeyTable) -> Vec<(String, &'static str, Vec<Key>)> {
        fn rows<A: Copy + std::fmt::Debug>(
            table: &[Binding<A>],
            keys: &[Vec<Key>],
        ) -> Vec<(String, &'static str, Vec<Key>)> {
            table
                .iter()
                .zip(keys)
                .map(|(b, k)| (action_name(b.action), b.help, k.clone()))
                .collect()
        }
        match table {
            KeyTable::Normal => {
                let mut out = rows(NORMAL, &self.normal);
                for (n, keys) in self.digits.iter().enumerate() {
                    out.push((format!("type_{}", n + 1), "give type n", keys.clone()));
                }
                out
            }
            KeyTable::Picker => rows(PICKER, &self.picker),
            KeyTable::Link => rows(LINK, &self.link),
            KeyTable::Inspector => rows(INSPECT, &self.inspect),
            KeyTable::Help => rows(HELP, &self.help),
            KeyTable::Search => rows(SEARCH, &self.search),
            KeyTable::Anywhere => rows(ANYWHERE, &self.anywhere),
        }
    }

    /// Checks that no key of one mode does two things. The keys of `[keys.anywhere]` are
    /// looked up first in every mode, so a mode's key among them could never be used.
    pub fn check(&self) -> Result<(), KeymapError> {
        let anywhere = self.named_rows(KeyTable::Anywhere);
        for table in KeyTable::ALL.into_iter().filter(|t| *t != KeyTable::Anywhere) {
            for (name, _, keys) in self.named_rows(table) {
                let shadowed = anywhere.iter().find_map(|(first, _, any)| {
                    keys.iter().find(|k| any.contains(k)).map(|k| (first, k))
                });
                if let Some((first, key)) = shadowed {
                    return Err(KeymapError::Conflict {
                        section: table.section(),
                        key: key.config_name(),
                        first: format!("{first} (keys.anywhere)"),
                        second: name,
                    });
                }
            }
        }
        for table in KeyTable::ALL {
            let rows = self.named_rows(table);
            let mut seen: Vec<(Key, &str)> = Vec::new();
            for (name, _, keys) in &rows {
                for key in keys {
                    if let Some((_, first)) = seen.iter().find(|(k, _)| k == key) {
                        return Err(KeymapError::Conflict {
                            section: table.section(),
                            key: key.config_name(),
                            first: first.to_string(),
                            second: name.clone(),
                        });
                    }
                    seen.push((*key, name));
                }
            }
        }
        Ok(())
    }
}

/// The key events a terminal event stands for. Terminals send Escape as the byte ESC, and
/// Alt-x as ESC followed by x, so a quick `Esc 0` arrives as "Alt-0". The workbench binds no
/// Alt key, so Alt-x is always read as the two keys the reviewer most likely pressed: Esc,
/// then x.
pub fn split_escape(event: KeyEvent) -> Vec<KeyEvent> {
    let alt_only = event.modifiers.contains(KeyModifiers::ALT)
        && !event.modifiers.contains(KeyModifiers::CONTROL);
    match event.code {
        KeyCode::Char(_) if alt_only => {
            let mut rest = event;
            rest.modifiers.remove(KeyModifiers::ALT);
            vec![KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE), rest]
        }
        _ => vec![event],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn shifted_characters_and_control_keys_match() {
        assert_eq!(
            normal_action(&key(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::LastSentence)
        );
        assert_eq!(
            normal_action(&key(KeyCode::Char('s'), KeyModifiers::CONTROL)),
            Some(Action::Save)
        );
        assert_eq!(
            normal_action(&key(KeyCode::Char('r'), KeyModifiers::CONTROL)),
            Some(Action::Redo)
        );
        assert_eq!(
            normal_action(&key(KeyCode::Char('r'), KeyModifiers::NONE)),
            Some(Action::ToggleReviewed)
        );
        assert_eq!(normal_action(&key(KeyCode::Char('s'), KeyModifiers::NONE)), None);
        assert_eq!(
            normal_action(&key(KeyCode::Char('3'), KeyModifiers::NONE)),
            Some(Action::TypeNumber(3))
        );
        assert_eq!(
            normal_action(&key(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::PrevEntity)
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_a_table() {
        fn check<A>(table: &[Binding<A>]) {
            let keys: Vec<Key> = table.iter().flat_map(|b| b.keys.iter().copied()).collect();
            for (i, a) in keys.iter().enumerate() {
                assert!(!keys[i + 1..].contains(a), "{} is bound twice", a.label());
            }
        }
        check(NORMAL);
        check(PICKER);
        check(LINK);
        check(INSPECT);
    }

    #[test]
    fn the_required_keys_exist() {
        let find = |a: Action| NORMAL.iter().find(|b| b.action == a).map(keys_label);
        assert_eq!(find(Action::Help).as_deref(), Some("?"));
        assert_eq!(find(Action::Save).as_deref(), Some("Ctrl-s"));
        assert_eq!(find(Action::Undo).as_deref(), Some("u"));
        assert_eq!(find(Action::Redo).as_deref(), Some("Ctrl-r"));
        assert_eq!(find(Action::Quit).as_deref(), Some("q"));
    }
}
