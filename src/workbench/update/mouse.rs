//! The mouse, read against what the last frame drew ([`crate::workbench::hits`]): a click on
//! a word moves the cursor there, a drag over words selects them as `v` does (a digit or `t`
//! then types the range), a click on an entity's bracket or a relation's row selects it, a
//! click on a document opens it, and the wheel scrolls what is under it. Only in normal mode
//! (and the wheel in the help): pickers and questions keep the keyboard's answers.

use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};

use super::Effect;
use crate::data::annotation::Item;
use crate::workbench::commands;
use crate::workbench::hits::{Hit, Pane};
use crate::workbench::state::{App, Mode};

pub(super) fn mouse(app: &mut App, event: MouseEvent) -> Vec<Effect> {
    let (x, y) = (event.column, event.row);
    if let Mode::Help { scroll } = app.mode {
        app.mode = match event.kind {
            MouseEventKind::ScrollDown => Mode::Help { scroll: scroll + 3 },
            MouseEventKind::ScrollUp => Mode::Help { scroll: scroll.saturating_sub(3) },
            _ => app.mode.clone(),
        };
        return Vec::new();
    }
    if !matches!(app.mode, Mode::Normal) {
        return Vec::new();
    }
    match event.kind {
        MouseEventKind::Down(MouseButton::Left) => click(app, x, y),
        MouseEventKind::Drag(MouseButton::Left) => drag(app, x, y),
        MouseEventKind::Up(MouseButton::Left) => app.drag = None,
        MouseEventKind::ScrollDown => wheel(app, x, y, true),
        MouseEventKind::ScrollUp => wheel(app, x, y, false),
        _ => {}
    }
    Vec::new()
}

fn click(app: &mut App, x: u16, y: u16) {
    app.drag = None;
    match app.hits.at(x, y) {
        Some(Hit::Word { doc, sentence, token }) => {
            if (doc, sentence) != (app.cursor.doc, app.cursor.sentence) {
                commands::goto(app, doc, sentence);
            }
            app.cursor.token = token;
            app.cursor.anchor = None;
            app.cursor.item = None;
            app.drag = Some(token);
        }
        Some(Hit::Entity(i)) => commands::select_item(app, Item::Entity(i)),
        Some(Hit::Relation(i)) => commands::select_item(app, Item::Relation(i)),
        Some(Hit::Document(d)) if d != app.cursor.doc => {
            commands::move_doc(app, d as isize - app.cursor.doc as isize)
        }
        _ => {}
    }
}

/// Extends the range from the word the drag started on to the word under the pointer; the
/// pointer between words or off the sentence leaves it as it is.
fn drag(app: &mut App, x: u16, y: u16) {
    let Some(start) = app.drag else { return };
    if let Some(Hit::Word { doc, sentence, token }) = app.hits.at(x, y) {
        if (doc, sentence) == (app.cursor.doc, app.cursor.sentence) {
            app.cursor.anchor = Some(start);
            app.cursor.token = token;
            app.cursor.item = None;
        }
    }
}

fn wheel(app: &mut App, x: u16, y: u16, down: bool) {
    let by = if down { 1 } else { -1 };
    match app.hits.pane_at(x, y) {
        Some(Pane::Sentence) => commands::move_sentence(app, by),
        Some(Pane::Documents) => commands::move_doc(app, by),
        Some(Pane::Relations) => {
            // The wheel stops at the first and the last relation instead of going round.
            let n = app.sentence().map_or(0, |s| s.relations.len());
            let at_end = match app.cursor.item {
                Some(Item::Relation(i)) => {
                    if down {
                        i + 1 >= n
                    } else {
                        i == 0
                    }
                }
                _ => !down,
            };
            if !at_end {
                commands::cycle_relation(app, down);
            }
        }
        _ => {}
    }
}
