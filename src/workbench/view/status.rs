//! The two bottom rows: the keys that matter now, generated from the key tables (so they are
//! never stale), with the last message at the right; and the status line: mode, file, save
//! state, model and device, predictions running.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::Span;

use super::{count, fit, fit_left, put, put_spans, spans_width, width};
use crate::data::annotation::{entity_source, relation_source, Item, Source};
use crate::workbench::keymap::{
    Action, Binding, HelpAction, InspectAction, Key, KeyTable, Keymap, LinkAction, PickAction,
    HELP, INSPECT, LABELS, LINK, PICKER,
};
use crate::workbench::state::{App, Disk, Level, LoadState, Mode, ModelStatus};
use crate::workbench::theme::Theme;
use crate::workbench::update::answers;

/// A key hint: keys and a word or two.
struct Hint {
    keys: String,
    what: String,
}

/// The hint for normal-mode `actions` (their first keys, run together), if bound.
fn normal(keymap: &Keymap, actions: &[Action], what: &str) -> Option<Hint> {
    let keys: Option<Vec<String>> =
        actions.iter().map(|a| keymap.normal_keys(*a).first().map(|k| k.label())).collect();
    keys.map(|k| Hint { keys: k.concat(), what: what.into() })
}

/// The hints for `actions` of `table`, in that order: first key and help text of each.
fn table<A: PartialEq + Copy>(
    keymap: &Keymap,
    kind: KeyTable,
    table: &[Binding<A>],
    actions: &[A],
) -> Vec<Hint> {
    actions
        .iter()
        .filter_map(|a| table.iter().position(|b| b.action == *a))
        .filter_map(|i| {
            let key = keymap.row_keys(kind, i).first()?;
            Some(Hint { keys: key.label(), what: table[i].help.into() })
        })
        .collect()
}

/// The hints for normal mode, for what is selected; the last one is kept when cutting.
fn normal_hints(app: &App) -> Vec<Hint> {
    let km = &app.keymap;
    let s = app.sentence();
    let proposal = match (app.cursor.item, s) {
        (Some(Item::Entity(i)), Some(s)) => {
            s.entities.get(i).is_some_and(|e| entity_source(e) == Source::Model)
        }
        (Some(Item::Relation(i)), Some(s)) => {
            s.relations.get(i).is_some_and(|r| relation_source(r) == Source::Model)
        }
        _ => false,
    };
    let delete = if proposal { "reject" } else { "delete" };
    let accept = proposal.then(|| normal(km, &[Action::Accept], "accept")).flatten();
    let digits = Some(Hint { keys: km.digits_label(), what: "type n".into() });
    let mut hints: Vec<Option<Hint>> = match (app.cursor.anchor, app.cursor.item) {
        (Some(_), _) => vec![
            normal(km, &[Action::ToggleRange], "end range"),
            normal(km, &[Action::PickType], "type"),
            digits,
            normal(km, &[Action::Escape], "clear"),
        ],
        (None, Some(Item::Entity(_))) => vec![
            accept,
            normal(km, &[Action::Delete], delete),
            normal(km, &[Action::PickType], "retype"),
            normal(
                km,
                &[Action::StartLeft, Action::StartRight, Action::EndLeft, Action::EndRight],
                "bounds",
            ),
            normal(km, &[Action::AddRelation], "relate"),
            normal(km, &[Action::NextEntity], "next"),
            normal(km, &[Action::Escape], "clear"),
        ],
        (None, Some(Item::Relation(_))) => vec![
            accept,
            normal(km, &[Action::Delete], delete),
            normal(km, &[Action::Flip], "flip"),
            normal(km, &[Action::PickType], "retype"),
            normal(km, &[Action::NextRelation], "next"),
            normal(km, &[Action::Escape], "clear"),
        ],
        (None, None) => vec![
            normal(km, &[Action::NextEntity], "entity"),
            normal(km, &[Action::NextRelation], "relation"),
            normal(km, &[Action::ToggleRange], "range"),
            normal(km, &[Action::PickType], "type"),
            normal(km, &[Action::ReviewAndNext], "reviewed"),
            normal(km, &[Action::NextUnreviewed], "unreviewed"),
        ],
    };
    hints.extend([
        normal(km, &[Action::Inspect], "inspect"),
        normal(km, &[Action::Undo], "undo"),
        normal(km, &[Action::Save], "save"),
        normal(km, &[Action::Search], "search"),
        normal(km, &[Action::Quit], "quit"),
        normal(km, &[Action::Help], "help"),
    ]);
    hints.into_iter().flatten().collect()
}

/// The hints for the current mode; the last one is kept when the row is too narrow.
fn hints(app: &App) -> Vec<Hint> {
    let km = &app.keymap;
    match &app.mode {
        Mode::Normal => normal_hints(app),
        // The most useful first, as the row is cut from the end (the last one stays).
        Mode::Pick(_) => {
            let mut hints = table(km, KeyTable::Picker, PICKER, &[PickAction::Choose]);
            hints.push(Hint { keys: km.digits_label(), what: "choose type n".into() });
            hints.extend(table(
                km,
                KeyTable::Picker,
                PICKER,
                &[PickAction::Down, PickAction::Up, PickAction::Cancel],
            ));
            hints
        }
        Mode::Link { .. } => table(
            km,
            KeyTable::Link,
            LINK,
            &[LinkAction::Choose, LinkAction::Next, LinkAction::Prev, LinkAction::Cancel],
        ),
        Mode::Inspect => {
            let mut hints = Vec::new();
            let keys = |a: InspectAction| {
                INSPECT
                    .iter()
                    .position(|b| b.action == a)
                    .and_then(|i| km.row_keys(KeyTable::Inspector, i).first())
                    .map(|k| k.label())
            };
            let arrows: Option<Vec<String>> =
                [InspectAction::Left, InspectAction::Down, InspectAction::Up, InspectAction::Right]
                    .into_iter()
                    .map(keys)
                    .collect();
            if let Some(arrows) = arrows {
                hints.push(Hint { keys: arrows.concat(), what: "head".into() });
            }
            let short = [
                (InspectAction::NextView, "view"),
                (InspectAction::Toggle, "toggle"),
                (InspectAction::AblateSet, "mask set"),
                (InspectAction::AblateHead, "mask head"),
                (InspectAction::AblateLayer, "mask layer"),
                (InspectAction::ToggleMode, "mode"),
                (InspectAction::FlipSet, "flip set"),
            ];
            for (action, what) in short {
                if let Some(k) = keys(action) {
                    hints.push(Hint { keys: k, what: what.into() });
                }
            }
            hints.insert(
                hints.len().min(2),
                Hint { keys: km.digits_label(), what: "mask top n".into() },
            );
            let word: Option<Vec<String>> =
                [InspectAction::WordLeft, InspectAction::WordRight, InspectAction::ToggleWord]
                    .into_iter()
                    .map(keys)
                    .collect();
            if let Some(k) = word {
                let hint =
                    Hint { keys: format!("{}{} {}", k[0], k[1], k[2]), what: "mask word".into() };
                hints.insert(hints.len().min(3), hint);
            }
            if let Some(k) = keys(InspectAction::Leave) {
                hints.push(Hint { keys: k, what: "back".into() });
            }
            hints
        }
        Mode::Search(_) | Mode::Filter(_) => Vec::new(),
        Mode::Labels(editor) if editor.prompt.is_some() => vec![
            Hint { keys: "Enter".into(), what: "done".into() },
            Hint { keys: "Esc".into(), what: "cancel".into() },
        ],
        Mode::Labels(_) => {
            LABELS.iter().map(|b| Hint { keys: b.keys[0].label(), what: b.help.into() }).collect()
        }
        Mode::Help { .. } | Mode::Stats { .. } => {
            let first = |action| {
                HELP.iter()
                    .position(|b| b.action == action)
                    .and_then(|i| km.row_keys(KeyTable::Help, i).first())
                    .map_or(String::new(), Key::label)
            };
            vec![
                Hint {
                    keys: format!("{} / {}", first(HelpAction::Down), first(HelpAction::Up)),
                    what: "scroll".into(),
                },
                Hint {
                    keys: format!(
                        "{} / {}",
                        first(HelpAction::PageDown),
                        first(HelpAction::PageUp)
                    ),
                    what: "page".into(),
                },
                Hint { keys: "any other key".into(), what: "close".into() },
            ]
        }
        Mode::Confirm(question) => answers(question)
            .iter()
            .map(|(key, _, what)| Hint {
                keys: key.to_string(),
                what: what.split([',', ';', '(']).next().unwrap_or(what).trim().into(),
            })
            .collect(),
    }
}

/// Draws the key hints, or the prompt of the search or the filter line.
pub(super) fn draw_hints(buf: &mut Buffer, area: Rect, app: &App, theme: &Theme) {
    if area.height == 0 {
        return;
    }
    let prompt = match &app.mode {
        Mode::Search(query) => Some(("/", query, "Enter search · Esc cancel".to_string())),
        Mode::Filter(line) => {
            let help = match &app.message {
                // A parse error, shown whole in a box above when it does not fit here.
                Some((Level::Error, e)) => e.clone(),
                _ => "type:Org source:model score<.7 rel:Work_For reviewed:no · Enter · Esc"
                    .to_string(),
            };
            Some(("filter: ", line, help))
        }
        _ => None,
    };
    if let Some((sign, text, help)) = prompt {
        let x = put(buf, area, area.x + 1, area.y, sign, theme.warn.add_modifier(Modifier::BOLD));
        let x = put(buf, area, x, area.y, text, theme.base);
        put(buf, area, x, area.y, " ", theme.cursor);
        let style = if matches!(app.message, Some((Level::Error, _))) && sign != "/" {
            theme.error
        } else {
            theme.dim
        };
        let room = usize::from(area.right().saturating_sub(x + 3));
        let help = fit(&help, room);
        let hx = area.right().saturating_sub(width(&help) as u16 + 1);
        if hx > x + 2 {
            put(buf, area, hx, area.y, &help, style);
        }
        return;
    }
    // The last message sits at the right.
    let mut right = area.right();
    if let Some((level, text)) = &app.message {
        let text = fit(text, message_room(*level, text, area.width).saturating_sub(2));
        right = area.right().saturating_sub(width(&text) as u16 + 1);
        put(buf, area, right, area.y, &text, theme.level(*level));
    }
    let hints = hints(app);
    let spans = |hs: &[&Hint]| -> Vec<Span<'static>> {
        let mut out = Vec::new();
        for (i, h) in hs.iter().enumerate() {
            if i > 0 {
                out.push(Span::styled("  ", theme.base));
            }
            out.push(Span::styled(h.keys.clone(), theme.base.add_modifier(Modifier::BOLD)));
            out.push(Span::styled(format!(" {}", h.what), theme.dim));
        }
        out
    };
    let Some((last, rest)) = hints.split_last() else { return };
    let room = usize::from(right.saturating_sub(area.x + 3));
    let mut shown: Vec<&Hint> = rest.iter().collect();
    loop {
        let mut all = shown.clone();
        all.push(last);
        let line = spans(&all);
        if spans_width(&line) <= room || shown.is_empty() {
            let row = Rect::new(area.x, area.y, right.saturating_sub(area.x + 1), 1);
            put_spans(buf, row, area.x + 1, area.y, &line);
            return;
        }
        shown.pop();
    }
}

/// How much of a `width`-column bottom row a message may take: errors two thirds, warnings
/// half; other messages half, or the whole row when that lets them fit (the hints give way).
/// What does not fit is shown whole in a box above, see `overlay::error_box`.
pub(super) fn message_room(level: Level, text: &str, width: u16) -> usize {
    let share = if level == Level::Error { 3 } else { 2 };
    let room = usize::from(width) * (share - 1) / share;
    let needed = super::width(text) + 2;
    if level == Level::Info && needed > room && needed <= usize::from(width) {
        usize::from(width)
    } else {
        room
    }
}

/// The mode's name for the status line.
fn mode_name(mode: &Mode) -> &'static str {
    match mode {
        Mode::Normal => "NORMAL",
        Mode::Pick(_) => "TYPE",
        Mode::Link { .. } => "LINK",
        Mode::Search(_) => "SEARCH",
        Mode::Filter(_) => "FILTER",
        Mode::Help { .. } => "HELP",
        Mode::Confirm(_) => "ANSWER",
        Mode::Inspect => "INSPECT",
        Mode::Stats { .. } => "STATS",
        Mode::Labels(_) => "LABELS",
    }
}

/// The status line after the mode: file and save state, model and device, predictions. The
/// path is cut to at most `path_max` columns, the model's name to `model_max`.
fn state(app: &App, theme: &Theme, (path_max, model_max): (usize, usize)) -> Vec<Span<'static>> {
    let sep = || Span::styled(" │ ", theme.border);
    let mut spans = Vec::new();
    if let Some(doc) = app.doc() {
        let path = doc.source.save_path.display().to_string();
        spans.push(Span::styled(fit_left(&path, path_max), theme.base));
        spans.push(Span::styled(" · ", theme.dim));
        let (text, style) = if doc.load == LoadState::Loading {
            ("loading…".to_string(), theme.dim)
        } else if matches!(doc.load, LoadState::Failed(_)) {
            ("not loaded".to_string(), theme.error)
        } else if doc.saving.is_some() {
            ("saving…".to_string(), theme.dim)
        } else if !doc.problems.is_empty() && !doc.is_dirty() {
            ("read-only".to_string(), theme.warn)
        } else if doc.is_dirty() {
            (format!("{} unsaved", doc.sentences.edited_count()), theme.warn)
        } else if doc.fingerprint.is_none() && doc.source.read_path != doc.source.save_path {
            // A .txt document: its annotations go to this .json on the first save.
            ("no edits yet".to_string(), theme.dim)
        } else {
            ("saved".to_string(), theme.ok)
        };
        spans.push(Span::styled(text, style));
        let others = app.dirty_docs().filter(|d| d.id != doc.id).count();
        if others > 0 {
            spans.push(Span::styled(format!(" +{}", count(others, "file", "files")), theme.warn));
        }
        match doc.disk {
            Disk::InSync => {}
            Disk::Changed => spans.push(Span::styled(" · changed on disk", theme.warn)),
            Disk::Removed => spans.push(Span::styled(" · removed from disk", theme.warn)),
        }
        spans.push(sep());
    }
    match &app.model {
        ModelStatus::Ready(info) => {
            spans.push(Span::styled(fit(&info.name, model_max), theme.base));
            spans.push(Span::styled(format!(" · {}", info.device), theme.dim));
        }
        ModelStatus::Loading(_) => spans.push(Span::styled("model loading…", theme.warn)),
        ModelStatus::Failed(_) => spans.push(Span::styled("model failed", theme.error)),
        ModelStatus::Off => spans.push(Span::styled("no model: proposals off", theme.dim)),
    }
    if let Some(filter) = &app.filter {
        spans.push(sep());
        spans.push(Span::styled(format!("filter {}", fit(&filter.text, 30)), theme.warn));
    }
    let predicting: usize = app.docs.iter().map(|d| d.predicting.len()).sum();
    if predicting > 0 {
        spans.push(sep());
        spans.push(Span::styled(format!("predicting {predicting}"), theme.warn));
    }
    if let Some(t) = app.fine_tuning.run.as_ref().filter(|t| t.is_running()) {
        spans.push(sep());
        let text = match t.phase {
            crate::workbench::state::TrainingPhase::Training => format!(
                "training {}/{} {}% · {} left",
                t.epoch.0,
                t.epoch.1,
                100 * t.step.0 / t.step.1.max(1),
                super::training::clock(t.seconds.1)
            ),
            _ => "training…".to_string(),
        };
        spans.push(Span::styled(text, theme.warn));
    }
    spans
}

/// Draws the status line: the mode, then [`state`], cutting the path (down to its file name)
/// and then the model's name (down to 12 columns) when the row is narrow.
pub(super) fn draw_status(buf: &mut Buffer, area: Rect, app: &App, theme: &Theme) {
    if area.height == 0 {
        return;
    }
    let badge = format!(" {} ", mode_name(&app.mode));
    let badge_style = theme.base.add_modifier(Modifier::REVERSED | Modifier::BOLD);
    let x = put(buf, area, area.x, area.y, &badge, badge_style) + 1;
    let room = usize::from(area.right().saturating_sub(x + 1));
    let (path_w, file_w) = app.doc().map_or((0, 0), |d| {
        (width(&d.source.save_path.display().to_string()), width(&d.name()) + 1)
    });
    let model_w = match &app.model {
        ModelStatus::Ready(info) => width(&info.name),
        _ => 0,
    };
    let mut over = spans_width(&state(app, theme, (usize::MAX, usize::MAX))).saturating_sub(room);
    let path_cut = over.min(path_w.saturating_sub(file_w));
    over -= path_cut;
    let model_cut = over.min(model_w.saturating_sub(12));
    let mut spans = state(app, theme, (path_w - path_cut, model_w - model_cut));
    if spans_width(&spans) > room {
        // Other unsaved files are counted only where there is room (the list marks them too).
        spans.retain(|s| !s.content.starts_with(" +"));
    }
    put_spans(buf, area, x, area.y, &spans);
}
