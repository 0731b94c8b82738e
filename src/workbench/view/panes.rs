//! The document list, the relation list, the key hints and the status line.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::{fit, inner, pane, styled};
use crate::data::Sentence;
use crate::workbench::annotation::{self, Item, Source};
use crate::workbench::keymap::{self, keys_label, Action, Binding};
use crate::workbench::state::{App, Disk, LoadState, Mode, ModelStatus};
use crate::workbench::theme::Theme;

/// The document list.
pub fn documents(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let reviewed: usize = app.docs.iter().map(|d| d.reviewed_count()).sum();
    let total: usize = app.docs.iter().map(|d| d.sentences.len()).sum();
    let block = pane(Line::from(format!(" Documents {reviewed}/{total} ")), theme);
    let body = inner(area);
    frame.render_widget(block, area);
    let w = body.width as usize;
    let height = body.height as usize;
    let top = app.cursor.doc.saturating_sub(height.saturating_sub(1));
    for (row, (i, d)) in app.docs.iter().enumerate().skip(top).take(height).enumerate() {
        let mark = if d.is_dirty() { "●" } else { " " };
        let state = match &d.load {
            LoadState::Loading => "…".to_string(),
            LoadState::Failed(_) => "failed".to_string(),
            LoadState::Loaded if !d.problems.is_empty() => "read-only".to_string(),
            LoadState::Loaded => match d.disk {
                Disk::Removed => "removed".into(),
                _ => format!("{}/{}", d.reviewed_count(), d.sentences.len()),
            },
        };
        let name_width = w.saturating_sub(state.chars().count() + 3);
        let name = fit(&d.name(), name_width);
        let pad = w.saturating_sub(2 + name.chars().count() + state.chars().count());
        let style = if i == app.cursor.doc { theme.selected() } else { Style::default() };
        let state_style = match &d.load {
            LoadState::Failed(_) => theme.level(crate::workbench::state::Level::Error),
            _ if d.sentences.len() == d.reviewed_count() && !d.sentences.is_empty() => {
                theme.level(crate::workbench::state::Level::Info)
            }
            _ => theme.dimmed(),
        };
        let line = Line::from(vec![
            styled(mark, theme.level(crate::workbench::state::Level::Warning)),
            styled(format!("{name}{} ", " ".repeat(pad)), style),
            styled(
                state,
                state_style.patch(if i == app.cursor.doc {
                    theme.selected()
                } else {
                    Style::default()
                }),
            ),
        ]);
        frame.render_widget(line, Rect { y: body.y + row as u16, height: 1, ..body });
    }
}

fn entity_text(s: &Sentence, i: usize) -> String {
    s.entities.get(i).map_or_else(
        || "?".into(),
        |e| s.tokens[e.start.min(s.tokens.len())..e.end.min(s.tokens.len())].join(" "),
    )
}

fn source_text(source: Source, extra: &serde_json::Map<String, serde_json::Value>) -> String {
    match (source, annotation::score(extra)) {
        (Source::Model, Some(p)) => format!("proposed {p:.2}"),
        (s, _) => s.label().to_string(),
    }
}

/// The relation list of the sentence: head → tail, types, provenance, the words between.
pub fn relations(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let s = app.sentence();
    let count = s.map_or(0, |s| s.relations.len());
    let block = pane(Line::from(format!(" Relations {count} ")), theme);
    let body = inner(area);
    frame.render_widget(block, area);
    let Some(s) = s else { return };
    let w = body.width as usize;
    if s.relations.is_empty() {
        let hint =
            if s.entities.len() >= 2 { "none yet: select an entity (Tab), then R" } else { "none" };
        frame.render_widget(Line::from(styled(hint, theme.dimmed())), Rect { height: 1, ..body });
        return;
    }
    let selected = match app.cursor.item {
        Some(Item::Relation(i)) => Some(i),
        _ => None,
    };
    let height = body.height as usize;
    let top = selected.map_or(0, |i| i.saturating_sub(height.saturating_sub(1)));
    for (row, (i, r)) in s.relations.iter().enumerate().skip(top).take(height).enumerate() {
        let symmetric =
            app.types.relations.iter().any(|t| t.name == r.relation_type && t.symmetric);
        let arrow = if symmetric { " ↔ " } else { " → " };
        let (Some(head), Some(tail)) = (s.entities.get(r.head), s.entities.get(r.tail)) else {
            continue;
        };
        let type_style = |ty: &str| theme.entity(app.types.entity_index(ty).unwrap_or(0));
        let source = annotation::relation_source(r);
        let mut spans = vec![
            styled(
                entity_text(s, r.head),
                type_style(&head.entity_type).add_modifier(Modifier::BOLD),
            ),
            styled(format!(" [{}]", head.entity_type), theme.dimmed()),
            styled(arrow, Style::default().fg(theme.arrow)),
            styled(
                entity_text(s, r.tail),
                type_style(&tail.entity_type).add_modifier(Modifier::BOLD),
            ),
            styled(format!(" [{}]", tail.entity_type), theme.dimmed()),
            styled(
                format!("  {}", r.relation_type),
                Style::default().fg(theme.relation).add_modifier(Modifier::BOLD),
            ),
            styled(
                format!("  {}", source_text(source, &r.extra)),
                if source == Source::Model {
                    theme.level(crate::workbench::state::Level::Warning)
                } else {
                    theme.dimmed()
                },
            ),
        ];
        let used: usize = spans.iter().map(|sp| sp.content.chars().count()).sum();
        let (lo, hi) =
            if head.end <= tail.start { (head.end, tail.start) } else { (tail.end, head.start) };
        if hi > lo && w > used + 8 {
            let between = s.tokens[lo..hi.min(s.tokens.len())].join(" ");
            spans.push(styled(format!("  “…{}…”", fit(&between, w - used - 7)), theme.dimmed()));
        }
        let mut line = Line::from(spans);
        if Some(i) == selected {
            line = line.patch_style(theme.selected());
        }
        frame.render_widget(line, Rect { y: body.y + row as u16, height: 1, ..body });
    }
}

/// Actions worth a hint in normal mode, in order.
const NORMAL_HINTS: &[Action] = &[
    Action::NextSentence,
    Action::NextEntity,
    Action::ToggleRange,
    Action::PickType,
    Action::Accept,
    Action::Delete,
    Action::ReviewAndNext,
    Action::AddRelation,
    Action::Undo,
    Action::Save,
    Action::Help,
    Action::Quit,
];

fn short(help: &str) -> &str {
    help.split([':', '(', ',']).next().unwrap_or(help).trim()
}

fn hint<A>(b: &Binding<A>) -> (String, String) {
    let key = b.keys.first().map(keymap::Key::label).unwrap_or_default();
    (key, short(b.help).to_string())
}

/// The key hints for the current mode, from the same tables that handle the keys.
pub fn hints(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let pairs: Vec<(String, String)> = match &app.mode {
        Mode::Normal => {
            let mut v: Vec<(String, String)> = NORMAL_HINTS
                .iter()
                .filter_map(|a| keymap::NORMAL.iter().find(|b| b.action == *a))
                .map(hint)
                .collect();
            v.insert(3, ("1-9".into(), "type".into()));
            v
        }
        Mode::Pick(_) => {
            let mut v: Vec<(String, String)> =
                keymap::PICKER.iter().map(|b| (keys_label(b), short(b.help).into())).collect();
            v.push(("1-9".into(), "choose type n".into()));
            v
        }
        Mode::Link { .. } => {
            keymap::LINK.iter().map(|b| (keys_label(b), short(b.help).into())).collect()
        }
        Mode::Search(_) => vec![("Enter".into(), "search".into()), ("Esc".into(), "cancel".into())],
        Mode::Help { .. } => {
            vec![("j/k".into(), "scroll".into()), ("any other key".into(), "close".into())]
        }
        Mode::Confirm(q) => crate::workbench::update::answers(q)
            .iter()
            .map(|(k, h)| (k.to_string(), short(h).to_string()))
            .collect(),
    };
    let mut spans: Vec<Span> = Vec::new();
    let mut used = 0;
    for (key, what) in pairs {
        let len = key.chars().count() + what.chars().count() + 3;
        if used + len > area.width as usize {
            break;
        }
        spans.push(styled(key, Style::default().add_modifier(Modifier::BOLD).fg(theme.relation)));
        spans.push(styled(format!(" {what}  "), theme.dimmed()));
        used += len;
    }
    frame.render_widget(Line::from(spans), area);
}

/// The status line: file and save state, model and device, work in progress, the message.
pub fn status(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let w = area.width as usize;
    if let Mode::Search(query) = &app.mode {
        let line = Line::from(vec![
            styled("/", theme.selected()),
            styled(format!("{query}▏"), Style::default()),
        ]);
        frame.render_widget(line, area);
        return;
    }
    let mut left: Vec<Span> = Vec::new();
    if let Some(d) = app.doc() {
        left.push(styled(format!(" {} ", d.source.save_path.display()), theme.selected()));
        let (state, level) = if d.saving.is_some() {
            ("saving…".to_string(), crate::workbench::state::Level::Info)
        } else if d.read_only_reason().is_some() && matches!(d.load, LoadState::Loaded) {
            ("read-only".to_string(), crate::workbench::state::Level::Warning)
        } else if d.is_dirty() {
            (format!("{} unsaved", d.edited.len()), crate::workbench::state::Level::Warning)
        } else {
            ("saved".to_string(), crate::workbench::state::Level::Info)
        };
        left.push(styled(format!(" {state} "), theme.level(level)));
    }
    let predicting: usize = app.docs.iter().map(|d| d.predicting.len()).sum();
    let mut right = match &app.model {
        ModelStatus::Loading(name) => format!("{name} loading…"),
        ModelStatus::Ready(info) => format!("{} · {}", info.name, info.device),
        ModelStatus::Failed(_) => "no model".to_string(),
    };
    if predicting > 0 {
        right = format!("predicting {predicting} · {right}");
    }
    if let Some(t) = app.training.as_ref().filter(|t| t.is_running()) {
        right = format!("{} · {right}", super::training::summary(t));
    }
    right = format!(" {right} ");
    let used: usize =
        left.iter().map(|s| s.content.chars().count()).sum::<usize>() + right.chars().count();
    if let Some((level, text)) = &app.message {
        let room = w.saturating_sub(used + 2);
        left.push(styled(format!(" {}", fit(text, room)), theme.level(*level)));
    }
    let used_left: usize = left.iter().map(|s| s.content.chars().count()).sum();
    let pad = w.saturating_sub(used_left + right.chars().count());
    left.push(Span::raw(" ".repeat(pad)));
    left.push(styled(fit(&right, w.saturating_sub(used_left)), theme.dimmed()));
    frame.render_widget(Line::from(left), area);
}
