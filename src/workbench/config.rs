//! The reviewer's settings file, `~/.config/spanscope/config.toml` (or
//! `$XDG_CONFIG_HOME/spanscope/config.toml`): the theme, how reviewing behaves, every key, and
//! the fine-tuning settings.
//! `spanscope config --default` writes the defaults out; a file may hold any part of them.

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::keymap::{KeyTable, Keymap, KeymapError};
use crate::train::finetune::FinetuneConfig;
use crate::train::settings::apply_config_text;

/// Why the config file cannot be used; the text names the file and the setting.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Not TOML.
    #[error("{}: not TOML: {reason}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's words.
        reason: String,
    },
    /// A setting that is not one, or has the wrong kind of value.
    #[error("{}: {key}: {reason}", path.display())]
    Setting {
        /// The file.
        path: PathBuf,
        /// The setting, as `section.key`.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A key remapping that cannot be used.
    #[error("{}: {error}", path.display())]
    Keys {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        error: KeymapError,
    },
}

/// The settings the workbench reads from the config file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {
    /// The keys.
    pub keymap: Keymap,
    /// `review.accept_open_proposals`: marking a sentence reviewed accepts the proposals
    /// still open (instead of asking for each to be settled first).
    pub accept_open_proposals: bool,
    /// `review.low_confidence`: proposals scoring below this are "low confidence"
    /// (`annotate --low-confidence` wins).
    pub low_confidence: Option<f32>,
    /// `[finetune]`: the fine-tuning settings, keyed by `spanscope train`'s flag names (see
    /// [`crate::train::settings`]; `annotate`'s flags win).
    pub finetune: FinetuneConfig,
    /// `review.annotator`: the name recorded with every edit (`annotate --annotator` wins).
    pub annotator: Option<String>,
    /// `ui.mouse`: whether the workbench reads the mouse (`None`: the default, it does).
    pub mouse: Option<bool>,
}

/// Who is reviewing: `flag` (`annotate --annotator`), else the config file's `configured`,
/// else the user name from the environment (`env` reads a variable: `USER`, `USERNAME`,
/// `LOGNAME`), else `unknown`. Blank names count as none.
pub fn annotator(
    flag: Option<&str>,
    configured: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> String {
    let given = [flag, configured].into_iter().flatten().map(str::to_string);
    let user = ["USER", "USERNAME", "LOGNAME"].into_iter().filter_map(env);
    given
        .chain(user)
        .map(|name| name.trim().to_string())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The config file's usual place: `$XDG_CONFIG_HOME/spanscope/config.toml`, else
/// `~/.config/spanscope/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    let dir = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(dir.join("spanscope").join("config.toml"))
}

/// Reads the settings of `path`; a file that does not exist gives the defaults.
pub fn read(path: &Path) -> Result<Settings, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
        Err(e) => return Err(ConfigError::Io { path: path.into(), reason: e.to_string() }),
    };
    parse(&text, path)
}

/// Reads settings from the text of a config file (`path` is for errors).
pub fn parse(text: &str, path: &Path) -> Result<Settings, ConfigError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Syntax {
        path: path.into(),
        reason: e.message().to_string(),
    })?;
    let setting = |key: &str, reason: &str| ConfigError::Setting {
        path: path.into(),
        key: key.into(),
        reason: reason.into(),
    };
    let mut settings = Settings::default();
    for (name, value) in &table {
        match (name.as_str(), value) {
            // Read by the theme's own loader.
            ("theme", _) => {}
            ("finetune", _) => {
                settings.finetune = apply_config_text(FinetuneConfig::default(), text)
                    .map_err(|reason| setting("finetune", &reason))?;
            }
            ("review", toml::Value::Table(review)) => {
                for (key, value) in review {
                    let full = format!("review.{key}");
                    match (key.as_str(), value) {
                        ("accept_open_proposals", toml::Value::Boolean(b)) => {
                            settings.accept_open_proposals = *b
                        }
                        ("low_confidence", toml::Value::Float(p)) if (0.0..=1.0).contains(p) => {
                            settings.low_confidence = Some(*p as f32)
                        }
                        ("annotator", toml::Value::String(name)) => {
                            settings.annotator = Some(name.clone())
                        }
                        ("annotator", _) => {
                            return Err(setting(&full, "must be a name, as a string"))
                        }
                        ("accept_open_proposals", _) => {
                            return Err(setting(&full, "must be true or false"))
                        }
                        ("low_confidence", _) => {
                            return Err(setting(&full, "must be a number from 0.0 to 1.0"))
                        }
                        _ => return Err(setting(&full, "no such setting")),
                    }
                }
            }
            ("ui", toml::Value::Table(ui)) => {
                for (key, value) in ui {
                    match (key.as_str(), value) {
                        ("mouse", toml::Value::Boolean(b)) => settings.mouse = Some(*b),
                        ("mouse", _) => return Err(setting("ui.mouse", "must be true or false")),
                        _ => return Err(setting(&format!("ui.{key}"), "no such setting")),
                    }
                }
            }
            ("keys", toml::Value::Table(keys)) => {
                read_keys(&mut settings.keymap, KeyTable::Normal, keys, path)?;
                for table in KeyTable::ALL {
                    let Some(mode) = table.subsection() else { continue };
                    if let Some(value) = keys.get(mode) {
                        let toml::Value::Table(t) = value else {
                            return Err(setting(&format!("keys.{mode}"), "must be a table"));
                        };
                        read_keys(&mut settings.keymap, table, t, path)?;
                    }
                }
            }
            ("review" | "ui" | "keys", _) => {
                return Err(setting(name, "must be a table ([section])"))
            }
            _ => return Err(setting(name, "no such setting")),
        }
    }
    settings.keymap.check().map_err(|error| ConfigError::Keys { path: path.into(), error })?;
    Ok(settings)
}

fn read_keys(
    keymap: &mut Keymap,
    table: KeyTable,
    keys: &toml::Table,
    path: &Path,
) -> Result<(), ConfigError> {
    for (action, value) in keys {
        if table == KeyTable::Normal
            && KeyTable::ALL.iter().any(|t| t.subsection() == Some(action.as_str()))
        {
            continue;
        }
        let names: Vec<String> = match value {
            toml::Value::String(s) => vec![s.clone()],
            toml::Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| ConfigError::Setting {
                    path: path.into(),
                    key: format!("{}.{action}", table.section()),
                    reason: "must be a key or a list of keys, as strings".into(),
                })?,
            _ => {
                return Err(ConfigError::Setting {
                    path: path.into(),
                    key: format!("{}.{action}", table.section()),
                    reason: "must be a key or a list of keys, as strings".into(),
                })
            }
        };
        keymap
            .set(table, action, &names)
            .map_err(|error| ConfigError::Keys { path: path.into(), error })?;
    }
    Ok(())
}

/// The default config file, every setting written out with what it does.
pub fn default_text() -> String {
    let keymap = Keymap::default();
    let mut out = String::from(
        "# spanscope settings: ~/.config/spanscope/config.toml\n\
         # (or $XDG_CONFIG_HOME/spanscope/config.toml). Every setting may be left out.\n\n\
         # Colour theme: dark, light, colorblind, or the path of a theme .toml.\n\
         # theme = \"dark\"\n\n\
         [review]\n\
         # Marking a sentence reviewed (r, Enter) accepts the proposals still open. When false,\n\
         # it refuses while proposals are open and selects the first one.\n\
         accept_open_proposals = false\n\
         # Proposals the model scores below this are low confidence (! jumps to them).\n\
         low_confidence = 0.7\n\
         # The name recorded with every edit (annotate --annotator wins; default: the user name).\n\
         # annotator = \"ada\"\n\n\
         [ui]\n\
         # Read the mouse: click a word, drag a range, click an entity or a relation, scroll.\n\
         # While it is on, hold Shift to select and copy text the terminal's way.\n\
         mouse = true\n",
    );
    out.push_str(&finetune_text());
    for table in KeyTable::ALL {
        out.push_str(&format!("\n[{}]\n", table.section()));
        if table == KeyTable::Normal {
            out.push_str(
                "# Each action takes a key or a list of keys: \"j\", \"J\" (shifted), \
                 \"Ctrl-s\", \"Down\",\n# \"Up\", \"Left\", \"Right\", \"Enter\", \"Esc\", \
                 \"Tab\", \"S-Tab\", \"Space\", \"Del\", \"Bksp\", \"Home\",\n# \"End\", \
                 \"PgUp\", \"PgDn\". A key may do one thing per mode. No Alt key: terminals\n# \
                 send Alt-x as Esc then x, which the workbench reads as those two keys.\n",
            );
        }
        let note = match table {
            KeyTable::Help => "# Any other key closes the help.\n",
            KeyTable::Search => "# Other characters are typed into the query.\n",
            KeyTable::Anywhere => "# Looked up first in every mode: no mode may use these keys.\n",
            _ => "",
        };
        out.push_str(note);
        for (name, help, keys) in keymap.named_rows(table) {
            let keys: Vec<String> = keys.iter().map(|k| toml_string(&k.config_name())).collect();
            let value = match keys.as_slice() {
                [one] => one.clone(),
                many => format!("[{}]", many.join(", ")),
            };
            out.push_str(&format!("{name} = {value}  # {help}\n"));
        }
    }
    out
}

/// The `[finetune]` table with the defaults, named as `spanscope train`'s flags.
fn finetune_text() -> String {
    let d = FinetuneConfig::default();
    format!(
        "\n[finetune]\n\
         # Fine-tuning from the workbench (T), named as `spanscope train`'s flags; annotate's\n\
         # flags of the same names win. Passes over the reviewed and replayed sentences:\n\
         epochs = {}\n\
         lr = {:e}\n\
         batch-size = {}\n\
         seed = {}\n\
         # Original training sentences mixed in so that the model does not forget: this many\n\
         # per reviewed sentence trained on, at most replay-size.\n\
         replay-size = {}\n\
         replay-per-reviewed = {:?}\n\
         # Share of the reviewed sentences held out to judge the new model, and the fewest\n\
         # to judge on: below it, cross-validation with `folds` folds over every reviewed\n\
         # sentence, or \"too few reviewed sentences to judge\".\n\
         held-out = {:?}\n\
         min-held-out = {}\n\
         folds = {}\n\
         # Original sentences kept aside to check forgetting, and the F1 points it may lose.\n\
         forgetting = {}\n\
         max-forgetting = {:?}\n\
         # Examples a new type needs before the model proposes it.\n\
         propose-after = {}\n",
        d.epochs,
        d.lr,
        d.batch_size,
        d.seed,
        d.replay,
        d.replay_per_reviewed,
        d.held_out,
        d.min_held_out,
        d.folds,
        d.forgetting,
        d.max_forgetting,
        d.propose_after
    )
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workbench::keymap::HelpAction::Down;
    use crate::workbench::keymap::SearchAction::Run;
    use crate::workbench::keymap::{Action, Key};
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn here() -> &'static Path {
        Path::new("config.toml")
    }

    #[test]
    fn the_default_text_reads_back_as_the_defaults() {
        let settings = parse(&default_text(), here()).unwrap();
        assert_eq!(settings.keymap, Keymap::default());
        assert!(!settings.accept_open_proposals);
        assert_eq!(settings.low_confidence, Some(0.7));
        assert_eq!(settings.finetune, FinetuneConfig::default());
        assert_eq!(settings.mouse, Some(true));
        let off = parse("[ui]\nmouse = false\n", here()).unwrap();
        assert_eq!(off.mouse, Some(false));
        let e = parse("[ui]\nmouse = \"no\"\n", here()).unwrap_err().to_string();
        assert_eq!(e, "config.toml: ui.mouse: must be true or false");
    }

    #[test]
    fn the_finetune_table_is_read_and_checked() {
        let settings = parse("[finetune]\nheld-out = 0.3\nmin-held-out = 8\n", here()).unwrap();
        assert_eq!((settings.finetune.held_out, settings.finetune.min_held_out), (0.3, 8));
        let e = parse("[finetune]\nheld_out = 0.3\n", here()).unwrap_err().to_string();
        assert!(e.starts_with("config.toml: finetune: [finetune] has no key `held_out`"), "{e}");
    }

    #[test]
    fn a_remapped_key_replaces_the_default_and_frees_it() {
        let text = "[keys]\nnext_sentence = [\"Ctrl-n\", \"Down\"]\ntype_1 = \"F\"\n";
        let map = parse(text, here()).unwrap().keymap;
        let event = |c, m| KeyEvent::new(c, m);
        assert_eq!(
            map.normal_action(&event(KeyCode::Char('n'), KeyModifiers::CONTROL)),
            Some(Action::NextSentence)
        );
        assert_eq!(map.normal_action(&event(KeyCode::Char('j'), KeyModifiers::NONE)), None);
        assert_eq!(
            map.normal_action(&event(KeyCode::Char('F'), KeyModifiers::SHIFT)),
            Some(Action::TypeNumber(1))
        );
        assert_eq!(map.normal_action(&event(KeyCode::Char('1'), KeyModifiers::NONE)), None);
    }

    #[test]
    fn mistakes_name_the_file_and_the_setting() {
        let err = |text: &str| parse(text, Path::new("/home/me/config.toml")).unwrap_err();
        let e = err("[keys]\nnext_sentense = \"j\"\n").to_string();
        assert!(e.contains("/home/me/config.toml") && e.contains("next_sentense"), "{e}");
        let e = err("[keys]\nquit = \"j\"\n").to_string();
        assert!(e.contains("j is bound to both"), "{e}");
        let e = err("[keys]\nquit = \"Alt-q\"\n").to_string();
        assert!(e.contains("Alt keys cannot be bound"), "{e}");
        let e = err("[keys]\nquit = \"Hyper-q\"\n").to_string();
        assert!(e.contains("\"Hyper-q\" is not a key"), "{e}");
        let e = err("[review]\naccept_open_proposals = 1\n").to_string();
        assert!(e.contains("review.accept_open_proposals: must be true or false"), "{e}");
        let e = err("colour = 1\n").to_string();
        assert!(e.contains("colour: no such setting"), "{e}");
        assert!(matches!(err("[keys"), ConfigError::Syntax { .. }));
    }

    #[test]
    fn the_help_search_and_anywhere_keys_are_remapped_too() {
        let text = "[keys.help_screen]\ndown = \"n\"\n[keys.search_prompt]\nrun = \"Tab\"\n\
                    [keys.anywhere]\nquit = \"Ctrl-q\"\n";
        let map = parse(text, here()).unwrap().keymap;
        let event = |c, m| KeyEvent::new(c, m);
        assert_eq!(map.help_action(&event(KeyCode::Char('n'), KeyModifiers::NONE)), Some(Down));
        assert_eq!(map.help_action(&event(KeyCode::Char('j'), KeyModifiers::NONE)), None);
        assert_eq!(map.search_action(&event(KeyCode::Tab, KeyModifiers::NONE)), Some(Run));
        assert_eq!(map.search_action(&event(KeyCode::Enter, KeyModifiers::NONE)), None);
        let ctrl = |c| event(KeyCode::Char(c), KeyModifiers::CONTROL);
        assert_eq!(map.anywhere_action(&ctrl('q')), Some(Action::Quit));
        assert_eq!(map.anywhere_action(&ctrl('c')), None);
        let e = parse("[keys.anywhere]\nquit = \"Ctrl-s\"\n", here()).unwrap_err().to_string();
        assert!(e.contains("Ctrl-s is bound to both quit (keys.anywhere) and save"), "{e}");
    }

    #[test]
    fn the_annotator_comes_from_the_flag_the_file_or_the_environment() {
        let env = |name: &str| (name == "USERNAME").then(|| "winuser".to_string());
        assert_eq!(annotator(Some("flag"), Some("file"), env), "flag");
        assert_eq!(annotator(None, Some("file"), env), "file");
        assert_eq!(annotator(Some("  "), None, env), "winuser");
        assert_eq!(annotator(None, None, |_| None), "unknown");
        let text = "[review]\nannotator = \"maria\"\n";
        assert_eq!(parse(text, here()).unwrap().annotator.as_deref(), Some("maria"));
        let e = parse("[review]\nannotator = 1\n", here()).unwrap_err().to_string();
        assert!(e.contains("review.annotator: must be a name"), "{e}");
    }

    #[test]
    fn every_key_name_reads_back() {
        for (_, _, keys) in Keymap::default().named_rows(KeyTable::Normal) {
            for key in keys {
                assert_eq!(Key::parse(&key.config_name()), Some(key), "{}", key.config_name());
                assert_eq!(Key::parse(&key.label()), Some(key), "{}", key.label());
            }
        }
    }
}
