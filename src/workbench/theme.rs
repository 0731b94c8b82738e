//! Colours of the workbench, read from `themes/*.toml`.
//!
//! A theme file has a `[ui]` table (`background foreground dim border selection status_ok
//! status_warn status_error`), `[entities] palette` (one colour per entity type, in the types
//! file's order, reused cyclically), `[relations] arrow label` and `[heatmap] scale` (weakest
//! to strongest). A colour is `"#rrggbb"` or one of the 16 terminal colour names as ratatui
//! spells them: `black red green yellow blue magenta cyan gray`, `darkgray lightred
//! lightgreen lightyellow lightblue lightmagenta lightcyan white` (case, `-`, `_` and spaces
//! ignored; `bright_red` is accepted for `lightred`, `bright_black` for `darkgray`,
//! `bright_white` for `white`).
//!
//! The three built-in themes are compiled into the binary, so it works from any directory.
//! When `NO_COLOR` is set (<https://no-color.org>) the workbench uses [`Theme::no_color`]:
//! modifiers and glyphs only, no colour at all.

use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use thiserror::Error;

use super::state::Level;

/// The built-in themes: name and TOML text.
const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("colorblind", include_str!("../../themes/colorblind.toml")),
];

/// Shade glyphs for the heatmap without colour, weakest to strongest.
const SHADES: [char; 5] = [' ', '░', '▒', '▓', '█'];

/// Why a theme could not be read. Every message names the file, and the key when one is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ThemeError {
    /// The file could not be read.
    #[error("{path}: cannot read: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// The file is not TOML.
    #[error("{path}: not valid TOML: {reason}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's reason.
        reason: String,
    },
    /// A key the theme needs is missing or has the wrong kind of value.
    #[error("{path}: {key}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// The key, as `[table] key`.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A value is not a colour.
    #[error(
        "{path}: {key}: \"{value}\" is not a colour (write \"#rrggbb\" or a terminal colour name)"
    )]
    Colour {
        /// The file.
        path: PathBuf,
        /// The key, as `[table] key`.
        key: String,
        /// The value found.
        value: String,
    },
    /// A theme name that is neither built in nor a file.
    #[error("unknown theme `{0}`: use dark, light, colorblind or the path of a .toml file")]
    Unknown(String),
}

/// The workbench's colours and styles. Views read it; nothing changes it after loading.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// The theme's name (from its `name` key, else the file name).
    pub name: String,
    /// Whether this is the colourless theme ([`Theme::no_color`]).
    pub colourless: bool,
    /// Text on the screen's background.
    pub base: Style,
    /// Secondary text: hints, counts, labels.
    pub dim: Style,
    /// Pane borders and rules.
    pub border: Style,
    /// A selected row or word range.
    pub selection: Style,
    /// The word under the cursor.
    pub cursor: Style,
    /// Good news: saved, reviewed, model ready.
    pub ok: Style,
    /// Something to look at: unsaved, proposals, warnings.
    pub warn: Style,
    /// Failures.
    pub error: Style,
    /// Relation arrows.
    pub arrow: Style,
    /// Relation type names.
    pub relation: Style,
    /// Entity colours, in the types file's order, reused cyclically.
    pub palette: Vec<Color>,
    /// Heatmap colours, weakest to strongest.
    pub scale: Vec<Color>,
}

impl Theme {
    /// A built-in theme by name: `dark`, `light` or `colorblind`.
    pub fn builtin(name: &str) -> Option<Theme> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        let path = PathBuf::from(format!("themes/{name}.toml"));
        // The built-in files are checked by the test suite, so this cannot fail at run time.
        Theme::parse(text, &path).ok()
    }

    /// Names of the built-in themes.
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(n, _)| *n)
    }

    /// Reads a theme file.
    pub fn from_file(path: &Path) -> Result<Theme, ThemeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ThemeError::Io { path: path.to_path_buf(), reason: e.to_string() })?;
        Theme::parse(&text, path)
    }

    /// Parses a theme's TOML text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Theme, ThemeError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ThemeError::Syntax {
            path: path.to_path_buf(),
            reason: e.message().to_string(),
        })?;
        let file = ThemeFile { path, table: &table };
        let name = match table.get("name") {
            Some(toml::Value::String(s)) => s.clone(),
            Some(_) => return Err(file.key_error("name", "must be a string")),
            None => path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        };
        let ui = |key: &str| file.colour("ui", key);
        let (background, foreground) = (ui("background")?, ui("foreground")?);
        let palette = file.colours("entities", "palette", 1)?;
        let scale = file.colours("heatmap", "scale", 2)?;
        let base = Style::new().fg(foreground).bg(background);
        Ok(Theme {
            name,
            colourless: false,
            base,
            dim: Style::new().fg(ui("dim")?),
            border: Style::new().fg(ui("border")?),
            selection: Style::new().bg(ui("selection")?),
            cursor: Style::new().add_modifier(Modifier::REVERSED),
            ok: Style::new().fg(ui("status_ok")?),
            warn: Style::new().fg(ui("status_warn")?),
            error: Style::new().fg(ui("status_error")?),
            arrow: Style::new().fg(file.colour("relations", "arrow")?),
            relation: Style::new().fg(file.colour("relations", "label")?),
            palette,
            scale,
        })
    }

    /// The theme for `NO_COLOR`: no colour at all, only bold, underline, reverse and dim.
    pub fn no_color() -> Theme {
        let plain = Style::new();
        Theme {
            name: "no-color".into(),
            colourless: true,
            base: plain,
            dim: plain.add_modifier(Modifier::DIM),
            border: plain.add_modifier(Modifier::DIM),
            selection: plain.add_modifier(Modifier::UNDERLINED),
            cursor: plain.add_modifier(Modifier::REVERSED),
            ok: plain.add_modifier(Modifier::BOLD),
            warn: plain.add_modifier(Modifier::BOLD),
            error: plain.add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            arrow: plain,
            relation: plain.add_modifier(Modifier::BOLD),
            palette: vec![Color::Reset],
            scale: vec![Color::Reset, Color::Reset],
        }
    }

    /// The theme to use: `flag` (a built-in name or a `.toml` path) if given; else the `theme`
    /// key of `<config_dir>/spanscope/config.toml` if there is one; else `dark`. When the
    /// environment variable `NO_COLOR` is set and not empty, [`Theme::no_color`] instead.
    pub fn resolve(flag: Option<&str>, config_dir: Option<&Path>) -> Result<Theme, ThemeError> {
        let no_color = std::env::var("NO_COLOR").ok();
        Theme::choose(flag, config_dir, no_color.as_deref())
    }

    /// [`Theme::resolve`] with the value of `NO_COLOR` given (`None`: not set).
    pub fn choose(
        flag: Option<&str>,
        config_dir: Option<&Path>,
        no_color: Option<&str>,
    ) -> Result<Theme, ThemeError> {
        let chosen = match flag {
            Some(flag) => Theme::named(flag, Path::new("."))?,
            None => match config_dir.map(|d| d.join("spanscope").join("config.toml")) {
                Some(config) if config.is_file() => match configured_theme(&config)? {
                    Some(name) => {
                        let folder = config.parent().unwrap_or(Path::new("."));
                        Theme::named(&name, folder)?
                    }
                    None => Theme::default(),
                },
                _ => Theme::default(),
            },
        };
        Ok(if no_color.is_some_and(|v| !v.is_empty()) { Theme::no_color() } else { chosen })
    }

    /// A built-in theme or a file; a relative path is taken from `folder`.
    fn named(name: &str, folder: &Path) -> Result<Theme, ThemeError> {
        if let Some(theme) = Theme::builtin(name) {
            return Ok(theme);
        }
        let path = Path::new(name);
        let looks_like_file = path.extension().is_some() || path.components().count() > 1;
        if !looks_like_file {
            return Err(ThemeError::Unknown(name.to_string()));
        }
        let path = if path.is_relative() { folder.join(path) } else { path.to_path_buf() };
        Theme::from_file(&path)
    }

    /// The colour of entity type number `type_index` (cycling through the palette).
    pub fn entity_color(&self, type_index: usize) -> Color {
        match self.palette.len() {
            0 => Color::Reset,
            n => self.palette[type_index % n],
        }
    }

    /// The style of entity type number `type_index`'s text.
    pub fn entity(&self, type_index: usize) -> Style {
        if self.colourless {
            Style::new().add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(self.entity_color(type_index))
        }
    }

    /// The heatmap colour of `value` in `0..=1`, interpolated between the scale's stops (the
    /// nearest stop for named colours). `1` gets the last stop.
    pub fn heat_color(&self, value: f32) -> Color {
        let v = if value.is_finite() { value.clamp(0.0, 1.0) } else { 0.0 };
        let Some(last) = self.scale.len().checked_sub(1) else { return Color::Reset };
        let at = v * last as f32;
        let i = (at.floor() as usize).min(last);
        let j = (i + 1).min(last);
        let t = at - i as f32;
        match (self.scale[i], self.scale[j]) {
            (Color::Rgb(r1, g1, b1), Color::Rgb(r2, g2, b2)) => {
                let mix =
                    |a: u8, b: u8| (f32::from(a) + (f32::from(b) - f32::from(a)) * t).round() as u8;
                Color::Rgb(mix(r1, r2), mix(g1, g2), mix(b1, b2))
            }
            (a, b) => {
                if t < 0.5 {
                    a
                } else {
                    b
                }
            }
        }
    }

    /// The style of a heatmap cell of `value` in `0..=1`: its colour as background (with a
    /// readable foreground for a mark drawn on it). Without colour, plain: the cell's glyph
    /// ([`Theme::heat_glyph`]) carries the value.
    pub fn heat(&self, value: f32) -> Style {
        if self.colourless {
            return Style::new();
        }
        let colour = self.heat_color(value);
        let ink = if luminance(colour) > 0.5 { Color::Black } else { Color::White };
        Style::new().bg(colour).fg(ink)
    }

    /// The glyph that fills a heatmap cell of `value`: a space in colour (the background
    /// shows it), a shade `' ░▒▓█'` without.
    pub fn heat_glyph(&self, value: f32) -> char {
        if !self.colourless {
            return ' ';
        }
        let v = if value.is_finite() { value.clamp(0.0, 1.0) } else { 0.0 };
        SHADES[((v * SHADES.len() as f32) as usize).min(SHADES.len() - 1)]
    }

    /// The style of a status message of `level`.
    pub fn level(&self, level: Level) -> Style {
        match level {
            Level::Info => self.ok,
            Level::Warning => self.warn,
            Level::Error => self.error,
        }
    }
}

impl Default for Theme {
    /// The `dark` built-in theme.
    fn default() -> Self {
        Theme::builtin("dark").unwrap_or_else(Theme::no_color)
    }
}

/// Relative luminance in `0..=1` of an RGB colour (named colours count as dark but the light
/// ones).
fn luminance(colour: Color) -> f32 {
    match colour {
        Color::Rgb(r, g, b) => {
            (0.2126 * f32::from(r) + 0.7152 * f32::from(g) + 0.0722 * f32::from(b)) / 255.0
        }
        Color::White
        | Color::Gray
        | Color::LightYellow
        | Color::LightCyan
        | Color::LightGreen
        | Color::Yellow => 1.0,
        _ => 0.0,
    }
}

/// The `theme` key of a config file, if it has one.
fn configured_theme(config: &Path) -> Result<Option<String>, ThemeError> {
    let text = std::fs::read_to_string(config)
        .map_err(|e| ThemeError::Io { path: config.to_path_buf(), reason: e.to_string() })?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ThemeError::Syntax {
        path: config.to_path_buf(),
        reason: e.message().to_string(),
    })?;
    match table.get("theme") {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ThemeError::Key {
            path: config.to_path_buf(),
            key: "theme".into(),
            reason: "must be a string: a built-in theme name or the path of a .toml file".into(),
        }),
    }
}

/// A parsed theme file, with the path for errors.
struct ThemeFile<'a> {
    path: &'a Path,
    table: &'a toml::Table,
}

impl ThemeFile<'_> {
    fn key_error(&self, key: &str, reason: &str) -> ThemeError {
        ThemeError::Key { path: self.path.to_path_buf(), key: key.into(), reason: reason.into() }
    }

    fn value(&self, section: &str, key: &str) -> Result<&toml::Value, ThemeError> {
        let name = format!("[{section}] {key}");
        match self.table.get(section) {
            Some(toml::Value::Table(t)) => {
                t.get(key).ok_or_else(|| self.key_error(&name, "missing"))
            }
            Some(_) => Err(self.key_error(&format!("[{section}]"), "must be a table")),
            None => Err(self.key_error(&name, "missing")),
        }
    }

    fn parse_colour(&self, key: &str, value: &toml::Value) -> Result<Color, ThemeError> {
        let text = match value {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        parse_colour(&text).ok_or_else(|| ThemeError::Colour {
            path: self.path.to_path_buf(),
            key: key.into(),
            value: text,
        })
    }

    fn colour(&self, section: &str, key: &str) -> Result<Color, ThemeError> {
        let value = self.value(section, key)?;
        self.parse_colour(&format!("[{section}] {key}"), value)
    }

    fn colours(&self, section: &str, key: &str, at_least: usize) -> Result<Vec<Color>, ThemeError> {
        let name = format!("[{section}] {key}");
        let reason = format!("must be a list of at least {at_least} colour(s)");
        match self.value(section, key)? {
            toml::Value::Array(items) if items.len() >= at_least => {
                items.iter().map(|v| self.parse_colour(&name, v)).collect()
            }
            _ => Err(self.key_error(&name, &reason)),
        }
    }
}

/// A colour written as `"#rrggbb"` or a terminal colour name.
pub fn parse_colour(text: &str) -> Option<Color> {
    if let Some(hex) = text.strip_prefix('#') {
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        return Some(Color::Rgb(byte(0)?, byte(2)?, byte(4)?));
    }
    let name: String = text
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let name = name.strip_prefix("bright").map(|n| format!("light{n}")).unwrap_or(name);
    Some(match name.as_str() {
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "darkgray" | "darkgrey" | "lightblack" => Color::DarkGray,
        "lightred" => Color::LightRed,
        "lightgreen" => Color::LightGreen,
        "lightyellow" => Color::LightYellow,
        "lightblue" => Color::LightBlue,
        "lightmagenta" => Color::LightMagenta,
        "lightcyan" => Color::LightCyan,
        "white" | "lightwhite" => Color::White,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_hex_or_terminal_names() {
        assert_eq!(parse_colour("#1e1f29"), Some(Color::Rgb(0x1e, 0x1f, 0x29)));
        assert_eq!(parse_colour("Bright_Red"), Some(Color::LightRed));
        assert_eq!(parse_colour("dark gray"), Some(Color::DarkGray));
        assert_eq!(parse_colour("#12"), None);
        assert_eq!(parse_colour("#gggggg"), None);
        assert_eq!(parse_colour("purple"), None);
    }

    #[test]
    fn heat_runs_from_the_first_to_the_last_stop() {
        let theme = Theme::builtin("dark").unwrap();
        assert_eq!(theme.heat_color(0.0), theme.scale[0]);
        assert_eq!(theme.heat_color(1.0), *theme.scale.last().unwrap());
        assert_eq!(theme.heat(1.0).bg, theme.scale.last().copied());
        let plain = Theme::no_color();
        assert_eq!(plain.heat_glyph(0.0), ' ');
        assert_eq!(plain.heat_glyph(1.0), '█');
        assert_eq!(plain.heat_glyph(0.5), '▒');
    }

    #[test]
    fn a_missing_key_is_named() {
        let err =
            Theme::parse("[ui]\nbackground = \"#000000\"\n", Path::new("t.toml")).unwrap_err();
        assert_eq!(err.to_string(), "t.toml: [ui] foreground: missing");
    }
}
