//! Pop-ups over the screen: the help, the type picker, questions.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::{fit, pane, styled};
use crate::workbench::keymap::{self, keys_label};
use crate::workbench::state::{App, PickTarget, Picker, Question};
use crate::workbench::theme::Theme;
use crate::workbench::update::answers;

fn centred(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

/// Every key, grouped, from the key tables.
pub fn help_lines() -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    for b in keymap::NORMAL {
        out.push((b.group.to_string(), keys_label(b), b.help.to_string()));
    }
    let (group, keys, help) = keymap::DIGIT_HELP;
    let at = out.iter().rposition(|(g, _, _)| g == group).map_or(out.len(), |i| i + 1);
    out.insert(at, (group.into(), keys.into(), help.into()));
    for b in keymap::PICKER {
        out.push((b.group.to_string(), keys_label(b), b.help.to_string()));
    }
    out.push(("Type picker".into(), "1-9".into(), "choose type n".into()));
    for b in keymap::LINK {
        out.push((b.group.to_string(), keys_label(b), b.help.to_string()));
    }
    out.push(("Search".into(), "Enter / Esc".into(), "search / cancel; Bksp deletes".into()));
    out
}

/// The help overlay.
pub fn help(frame: &mut Frame, area: Rect, scroll: u16, theme: &Theme) {
    let popup = centred(area, area.width.saturating_sub(4).min(96), area.height.saturating_sub(2));
    frame.render_widget(Clear, popup);
    let mut lines: Vec<Line> = Vec::new();
    let mut group = String::new();
    for (g, keys, help) in help_lines() {
        if g != group {
            if !lines.is_empty() {
                lines.push(Line::from(""));
            }
            lines.push(Line::from(styled(
                g.clone(),
                Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            )));
            group = g;
        }
        lines.push(Line::from(vec![
            styled(
                format!("  {keys:<24}"),
                Style::default().add_modifier(Modifier::BOLD).fg(theme.relation),
            ),
            styled(help, theme.base()),
        ]));
    }
    let block = pane(Line::from(" Keys (j/k scroll, any other key closes) "), theme);
    frame.render_widget(
        Paragraph::new(lines).block(block).scroll((scroll, 0)).style(theme.base()),
        popup,
    );
}

/// The type picker.
pub fn picker(frame: &mut Frame, area: Rect, app: &App, picker: &Picker, theme: &Theme) {
    let s = app.sentence();
    let words = |a: usize, b: usize| {
        s.map(|s| s.tokens[a.min(s.tokens.len())..b.min(s.tokens.len())].join(" "))
            .unwrap_or_default()
    };
    let entity_words = |i: usize| {
        s.and_then(|s| s.entities.get(i)).map(|e| words(e.start, e.end)).unwrap_or_default()
    };
    let title = match picker.target {
        PickTarget::NewEntity { start, end } => format!(" Type of \"{}\" ", words(start, end)),
        PickTarget::EntityType(i) => format!(" Retype \"{}\" ", entity_words(i)),
        PickTarget::NewRelation { head, tail } => {
            format!(" Relation {} → {} ", entity_words(head), entity_words(tail))
        }
        PickTarget::RelationType(_) => " Retype relation ".to_string(),
        PickTarget::ModelVersion => {
            " Current model (Enter switches; nothing is deleted) ".to_string()
        }
    };
    let width = (picker.options.iter().map(|o| o.chars().count()).max().unwrap_or(8) + 10)
        .max(title.chars().count() + 2) as u16;
    let popup = centred(area, width, picker.options.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    let lines: Vec<Line> = picker
        .options
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let number = if i < 9 { format!("{} ", i + 1) } else { "  ".into() };
            let style = match picker.target {
                PickTarget::NewEntity { .. } | PickTarget::EntityType(_) => theme.entity(i),
                _ => Style::default().fg(theme.relation),
            };
            let line =
                Line::from(vec![styled(number, theme.dimmed()), styled(name.clone(), style)]);
            if i == picker.index {
                line.patch_style(theme.selected())
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(pane(Line::from(fit(&title, width as usize - 2)), theme)),
        popup,
    );
}

/// A question with its answers.
pub fn confirm(frame: &mut Frame, area: Rect, app: &App, question: &Question, theme: &Theme) {
    let name = |doc: u64| app.doc_index(doc).map(|i| app.docs[i].name()).unwrap_or_default();
    let (title, text) = match question {
        Question::Quit => {
            let dirty: Vec<String> = app.dirty_docs().map(|d| d.name()).collect();
            (
                " Quit? ".to_string(),
                format!("{} document(s) have unsaved edits: {}.", dirty.len(), dirty.join(", ")),
            )
        }
        Question::Recover { doc, recovered } => {
            let age = recovered.modified.elapsed().map(|d| d.as_secs()).unwrap_or(0);
            let when = match age {
                a if a < 120 => format!("{a} s ago"),
                a if a < 7200 => format!("{} min ago", a / 60),
                a => format!("{} h ago", a / 3600),
            };
            (
                " Recover unsaved edits? ".to_string(),
                format!("{} has {} unsaved edit(s) from a session that did not end with a save (last {when}).", name(*doc), recovered.entries.len()),
            )
        }
        Question::KeepModel { outcome } => (
            " The fine-tuned model scored worse ".to_string(),
            format!(
                "On {} held-out reviewed sentences: relations F1 {:.1} (current) vs {:.1} (new); entities F1 {:.1} vs {:.1}.",
                outcome.held_out,
                outcome.before.relations.f1,
                outcome.after.relations.f1,
                outcome.before.entities.f1,
                outcome.after.entities.f1
            ),
        ),
        Question::DiskChanged { doc } => (
            " Changed on disk ".to_string(),
            format!(
                "{} was changed by another program while you have unsaved edits of it.",
                name(*doc)
            ),
        ),
        Question::SaveConflict { doc } => (
            " Not saved: changed on disk ".to_string(),
            format!("{} changed on disk since it was read; nothing was written.", name(*doc)),
        ),
    };
    let mut lines = vec![Line::from(text), Line::from("")];
    for (key, what) in answers(question) {
        lines.push(Line::from(vec![
            styled(format!("  {key}  "), theme.selected()),
            styled(format!(" {what}"), theme.base()),
        ]));
    }
    let width = area.width.saturating_sub(6).min(76);
    let popup = centred(area, width, lines.len() as u16 + 4);
    frame.render_widget(Clear, popup);
    let paragraph =
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(pane(Line::from(title), theme));
    frame.render_widget(paragraph, popup);
}
