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
    /// Go to the next proposal the model is unsure of.
    NextLowConfidence,
    /// Type a search.
    Search,
    /// Next match of the last search.
    SearchNext,
    /// Previous match of the last search.
    SearchPrev,
    /// Save every document with unsaved edits.
    Save,
    /// Undo the last edit.
    Undo,
    /// Redo the last undone edit.
    Redo,
    /// Show every key.
    Help,
    /// Quit (asks first when edits are unsaved).
    Quit,
    /// Start fine-tuning on the reviewed sentences, or cancel the run in progress.
    FineTune,
    /// Show or hide the training panel.
    TrainingPanel,
    /// Choose the current model among the fine-tuned versions.
    ModelVersions,
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
    bind!(EDIT, [plain('u')], Action::Undo, "undo"),
    bind!(EDIT, [ctrl('r')], Action::Redo, "redo"),
    bind!(FILE, [plain('/')], Action::Search, "search the words of all documents"),
    bind!(FILE, [plain('n')], Action::SearchNext, "next match"),
    bind!(FILE, [plain('N')], Action::SearchPrev, "previous match"),
    bind!(FILE, [ctrl('s')], Action::Save, "save every edited document"),
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
