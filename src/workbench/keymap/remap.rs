//! The reviewer's remappings: the keys in force, read from the config file's `[keys]` table over
//! the default tables of the parent module, and the errors a bad remapping gets.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;

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
