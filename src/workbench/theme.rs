//! Colours from themes/*.toml (built into the binary, or any file), and the no-colour theme
//! that `NO_COLOR` selects.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use thiserror::Error;

/// The built-in themes, by name.
const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("colorblind", include_str!("../../themes/colorblind.toml")),
];

/// A theme that cannot be used.
#[derive(Debug, Error)]
pub enum ThemeError {
    /// The file could not be read.
    #[error("{}: cannot read the theme: {reason}", path.display())]
    Read {
        /// The theme file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file is not a theme.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The theme file.
        path: PathBuf,
        /// What is wrong, naming the key.
        reason: String,
    },
    /// Neither a built-in name nor a file.
    #[error("no theme \"{0}\": use dark, light, colorblind or the path of a .toml file")]
    Unknown(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    ui: UiSection,
    entities: EntitySection,
    relations: RelationSection,
    heatmap: HeatmapSection,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UiSection {
    background: String,
    foreground: String,
    dim: String,
    border: String,
    selection: String,
    status_ok: String,
    status_warn: String,
    status_error: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntitySection {
    palette: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RelationSection {
    arrow: String,
    label: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeatmapSection {
    scale: Vec<String>,
}

/// Colours of the workbench. With `color == false` every colour is `Reset` and emphasis comes
/// from modifiers and glyphs only.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// The theme's name.
    pub name: String,
    /// Whether colours are used at all.
    pub color: bool,
    /// Screen background.
    pub background: Color,
    /// Text.
    pub foreground: Color,
    /// Secondary text.
    pub dim: Color,
    /// Pane borders.
    pub border: Color,
    /// Background of selected things.
    pub selection: Color,
    /// Good news.
    pub ok: Color,
    /// Warnings.
    pub warn: Color,
    /// Errors.
    pub error: Color,
    /// Entity type colours, cycled.
    pub palette: Vec<Color>,
    /// Relation arrows.
    pub arrow: Color,
    /// Relation type labels.
    pub relation: Color,
    /// Heatmap, weakest to strongest.
    pub scale: Vec<Color>,
}

fn colour(path: &Path, key: &str, text: &str) -> Result<Color, ThemeError> {
    let valid_hex = text
        .strip_prefix('#')
        .is_some_and(|h| h.len() == 6 && h.chars().all(|c| c.is_ascii_hexdigit()));
    if text.starts_with('#') && !valid_hex {
        return Err(ThemeError::Invalid {
            path: path.into(),
            reason: format!(
                "{key}: \"{text}\" is not a colour (#rrggbb or a terminal colour name)"
            ),
        });
    }
    Color::from_str(text).map_err(|_| ThemeError::Invalid {
        path: path.into(),
        reason: format!("{key}: \"{text}\" is not a colour (#rrggbb or a terminal colour name)"),
    })
}

fn colours(path: &Path, key: &str, texts: &[String]) -> Result<Vec<Color>, ThemeError> {
    if texts.is_empty() {
        return Err(ThemeError::Invalid {
            path: path.into(),
            reason: format!("{key}: needs at least one colour"),
        });
    }
    texts.iter().map(|t| colour(path, key, t)).collect()
}

impl Theme {
    /// Parses a theme; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Theme, ThemeError> {
        let file: ThemeFile = toml::from_str(text).map_err(|e| ThemeError::Invalid {
            path: path.into(),
            reason: e.message().to_string(),
        })?;
        let ui = &file.ui;
        let name = file.name.unwrap_or_else(|| {
            path.file_stem().map_or_else(|| "theme".into(), |s| s.to_string_lossy().into_owned())
        });
        Ok(Theme {
            name,
            color: true,
            background: colour(path, "[ui] background", &ui.background)?,
            foreground: colour(path, "[ui] foreground", &ui.foreground)?,
            dim: colour(path, "[ui] dim", &ui.dim)?,
            border: colour(path, "[ui] border", &ui.border)?,
            selection: colour(path, "[ui] selection", &ui.selection)?,
            ok: colour(path, "[ui] status_ok", &ui.status_ok)?,
            warn: colour(path, "[ui] status_warn", &ui.status_warn)?,
            error: colour(path, "[ui] status_error", &ui.status_error)?,
            palette: colours(path, "[entities] palette", &file.entities.palette)?,
            arrow: colour(path, "[relations] arrow", &file.relations.arrow)?,
            relation: colour(path, "[relations] label", &file.relations.label)?,
            scale: colours(path, "[heatmap] scale", &file.heatmap.scale)?,
        })
    }

    /// A built-in theme: dark, light or colorblind.
    pub fn builtin(name: &str) -> Option<Theme> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        let path = PathBuf::from(format!("themes/{name}.toml"));
        Some(Theme::parse(text, &path).expect("built-in themes are valid"))
    }

    /// Names of the built-in themes.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// A theme file.
    pub fn from_file(path: &Path) -> Result<Theme, ThemeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ThemeError::Read { path: path.into(), reason: e.to_string() })?;
        Theme::parse(&text, path)
    }

    /// No colours at all (https://no-color.org): modifiers and glyphs carry every distinction.
    pub fn no_color() -> Theme {
        Theme {
            name: "no-color".into(),
            color: false,
            background: Color::Reset,
            foreground: Color::Reset,
            dim: Color::Reset,
            border: Color::Reset,
            selection: Color::Reset,
            ok: Color::Reset,
            warn: Color::Reset,
            error: Color::Reset,
            palette: vec![Color::Reset],
            arrow: Color::Reset,
            relation: Color::Reset,
            scale: vec![Color::Reset],
        }
    }

    /// The theme to use: `flag` (a built-in name or a file), else `theme = "..."` in
    /// `<config_dir>/spanscope/config.toml`, else dark; `NO_COLOR` overrides all of them.
    pub fn resolve(flag: Option<&str>, config_dir: Option<&Path>) -> Result<Theme, ThemeError> {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme::choose(flag, config_dir, no_color)
    }

    /// [`Theme::resolve`] with the `NO_COLOR` decision given.
    pub fn choose(
        flag: Option<&str>,
        config_dir: Option<&Path>,
        no_color: bool,
    ) -> Result<Theme, ThemeError> {
        let configured = match flag {
            Some(f) => Some(f.to_string()),
            None => config_dir
                .map(|d| d.join("spanscope").join("config.toml"))
                .filter(|p| p.exists())
                .map(|p| configured_theme(&p))
                .transpose()?
                .flatten(),
        };
        let theme = match configured.as_deref() {
            None => Theme::builtin("dark").expect("dark is built in"),
            Some(name) => match Theme::builtin(name) {
                Some(t) => t,
                None if name.ends_with(".toml") || Path::new(name).exists() => {
                    Theme::from_file(Path::new(name))?
                }
                None => return Err(ThemeError::Unknown(name.into())),
            },
        };
        Ok(if no_color { Theme::no_color() } else { theme })
    }

    /// The base style: foreground on background.
    pub fn base(&self) -> Style {
        Style::default().fg(self.foreground).bg(self.background)
    }

    /// Secondary text.
    pub fn dimmed(&self) -> Style {
        if self.color {
            Style::default().fg(self.dim)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }

    /// Borders.
    pub fn border_style(&self) -> Style {
        Style::default().fg(self.border)
    }

    /// Something selected.
    pub fn selected(&self) -> Style {
        if self.color {
            Style::default().bg(self.selection).add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }

    /// The colour of entity type number `i`.
    pub fn entity_color(&self, i: usize) -> Color {
        self.palette[i % self.palette.len()]
    }

    /// Text of entity type number `i`.
    pub fn entity(&self, i: usize) -> Style {
        if self.color {
            Style::default().fg(self.entity_color(i))
        } else {
            Style::default().add_modifier(Modifier::UNDERLINED)
        }
    }

    /// A heatmap cell for `value` in 0..=1: its style and its glyph.
    pub fn heat(&self, value: f32) -> (Style, char) {
        let v = if value.is_finite() { value.clamp(0.0, 1.0) } else { 0.0 };
        if self.color {
            let n = self.scale.len();
            let i = ((v * (n - 1) as f32).round() as usize).min(n - 1);
            (Style::default().fg(self.scale[i]).bg(self.scale[i]), ' ')
        } else {
            const SHADES: [char; 5] = [' ', '░', '▒', '▓', '█'];
            (Style::default(), SHADES[((v * 4.0).round() as usize).min(4)])
        }
    }

    /// Status text of a level: info, warning, error.
    pub fn level(&self, level: super::state::Level) -> Style {
        use super::state::Level;
        if !self.color {
            return match level {
                Level::Info => Style::default(),
                Level::Warning => Style::default().add_modifier(Modifier::BOLD),
                Level::Error => Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED),
            };
        }
        Style::default().fg(match level {
            Level::Info => self.ok,
            Level::Warning => self.warn,
            Level::Error => self.error,
        })
    }
}

fn configured_theme(path: &Path) -> Result<Option<String>, ThemeError> {
    #[derive(Deserialize)]
    struct Config {
        theme: Option<String>,
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ThemeError::Read { path: path.into(), reason: e.to_string() })?;
    let config: Config = toml::from_str(&text)
        .map_err(|e| ThemeError::Invalid { path: path.into(), reason: e.message().to_string() })?;
    Ok(config.theme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_themes_parse_and_differ() {
        let themes: Vec<Theme> =
            Theme::builtin_names().iter().map(|n| Theme::builtin(n).unwrap()).collect();
        assert_eq!(themes.len(), 3);
        assert_ne!(themes[0].background, themes[1].background);
    }

    #[test]
    fn a_bad_colour_names_the_file_and_key() {
        let text = include_str!("../../themes/dark.toml").replace("#6c7086", "#12");
        let err = Theme::parse(&text, Path::new("themes/x.toml")).unwrap_err().to_string();
        assert!(
            err.contains("themes/x.toml") && err.contains("[ui] dim") && err.contains("#12"),
            "{err}"
        );
    }

    #[test]
    fn flag_then_config_then_dark_and_no_color_wins() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Theme::choose(None, Some(dir.path()), false).unwrap().name, "dark");
        std::fs::create_dir_all(dir.path().join("spanscope")).unwrap();
        std::fs::write(dir.path().join("spanscope/config.toml"), "theme = \"light\"\n").unwrap();
        assert_eq!(Theme::choose(None, Some(dir.path()), false).unwrap().name, "light");
        assert_eq!(
            Theme::choose(Some("colorblind"), Some(dir.path()), false).unwrap().name,
            "colorblind"
        );
        assert!(!Theme::choose(Some("light"), None, true).unwrap().color);
        assert!(matches!(Theme::choose(Some("neon"), None, false), Err(ThemeError::Unknown(_))));
    }
}
