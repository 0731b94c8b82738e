//! The open documents: a list at the left of wide screens, a bar at the top of narrow ones.
//! Each shows the file name, `●` when it has unsaved edits, and how many sentences are
//! reviewed, or that it is loading, failed or read-only; while a filter is set, how many of
//! its matches the document holds (`[4]`).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::Span;

use super::{fit, put, put_spans, spans_width, title_rule, width};
use crate::workbench::hits::{Hit, HitMap};
use crate::workbench::state::{App, Disk, Document, LoadState};
use crate::workbench::theme::Theme;

/// The width of the list: the longest entry, within a quarter of the screen; wider (up to a
/// third) when the current document's name needs it.
pub(super) fn list_width(app: &App, screen: u16) -> u16 {
    // Margin, marker, name, space, state, margin, rule.
    let entry =
        |d: &Document| width(&d.name()) + spans_width(&state(app, d, &Theme::no_color())) + 6;
    let longest = app.docs.iter().map(entry).max().unwrap_or(12) as u16;
    let current = app.doc().map_or(0, |d| width(&d.name()) + 5) as u16;
    let quarter = (screen / 4).max(20);
    longest.clamp(20, quarter).max(current.min(screen / 3))
}

/// The document's state after its name: `3/5`, `loading…`, `failed`, `read-only`, and
/// `[4]` matches of the filter.
fn state<'a>(app: &App, doc: &Document, theme: &Theme) -> Vec<Span<'a>> {
    let mut spans = Vec::new();
    if let Some(filter) = &app.filter {
        let found: usize = doc.sentences.iter().map(|s| filter.matches_in(s).len()).sum();
        let style = if found > 0 { theme.warn } else { theme.dim };
        spans.push(Span::styled(format!("[{found}] "), style));
    }
    if doc.is_dirty() {
        spans.push(Span::styled("● ", theme.warn));
    }
    match &doc.load {
        LoadState::Loading => spans.push(Span::styled("loading…", theme.dim)),
        LoadState::Failed(_) => spans.push(Span::styled("✗ failed", theme.error)),
        LoadState::Loaded => {
            if !doc.problems.is_empty() {
                spans.push(Span::styled("read-only ", theme.warn));
            }
            if doc.disk == Disk::Removed {
                spans.push(Span::styled("removed ", theme.warn));
            }
            let (done, all) = (doc.reviewed_count(), doc.sentences.len());
            let style = if done == all && all > 0 { theme.ok } else { theme.dim };
            spans.push(Span::styled(format!("{done}/{all}"), style));
        }
    }
    spans
}

/// The list of documents, the current one highlighted, with a rule at its right.
pub(super) fn draw_list(buf: &mut Buffer, area: Rect, app: &App, theme: &Theme, hits: &mut HitMap) {
    if area.width < 3 || area.height == 0 {
        return;
    }
    let list = Rect::new(area.x, area.y, area.width - 1, area.height);
    title_rule(buf, list, &[Span::styled("Documents", theme.base)], &[], theme);
    for y in area.y..area.bottom() {
        let glyph = if y == area.y { "┬" } else { "│" };
        put(buf, area, area.right() - 1, y, glyph, theme.border);
    }
    let rows = usize::from(area.height.saturating_sub(1));
    // Scroll so that the current document is visible.
    let first = (app.cursor.doc + 1).saturating_sub(rows);
    for (n, (i, doc)) in app.docs.iter().enumerate().skip(first).take(rows).enumerate() {
        let y = area.y + 1 + n as u16;
        let current = i == app.cursor.doc;
        let row = Rect::new(list.x, y, list.width, 1);
        hits.push(row, Hit::Document(i));
        if current {
            buf.set_style(row, theme.selection);
        }
        let mut state = state(app, doc, theme);
        // The current name is shown whole, even at the cost of its state.
        if current && width(&doc.name()) + spans_width(&state) + 5 > usize::from(list.width) {
            state.clear();
        }
        let state_w = spans_width(&state) as u16;
        let marker = if current { "▸ " } else { "  " };
        let name_w = usize::from(list.width.saturating_sub(state_w + 4));
        let mut name_style = theme.base;
        if current {
            name_style = name_style.add_modifier(Modifier::BOLD);
        }
        let x = put(buf, row, row.x + 1, y, marker, theme.warn);
        put(buf, row, x, y, &fit(&doc.name(), name_w), name_style);
        put_spans(buf, row, row.right().saturating_sub(state_w + 1), y, &state);
    }
    if app.docs.is_empty() {
        put(buf, list, list.x + 1, area.y + 1, "no documents", theme.dim);
    }
}

/// One row: the documents as tabs, the current one highlighted and always visible; `‹2` and
/// `3›` count the ones that do not fit.
pub(super) fn draw_bar(buf: &mut Buffer, area: Rect, app: &App, theme: &Theme, hits: &mut HitMap) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let tabs: Vec<Vec<Span>> = app
        .docs
        .iter()
        .enumerate()
        .map(|(i, doc)| {
            let current = i == app.cursor.doc;
            let mut name_style = if current { theme.selection } else { theme.base };
            if current {
                name_style = name_style.add_modifier(Modifier::BOLD);
            }
            let marker = if current { "▸" } else { " " };
            let mut spans = vec![Span::styled(format!("{marker}{} ", doc.name()), name_style)];
            let state = state(app, doc, theme);
            spans.extend(state.into_iter().map(|s| {
                if current {
                    Span::styled(s.content, theme.selection.patch(s.style))
                } else {
                    s
                }
            }));
            let pad = if current { theme.selection } else { theme.base };
            spans.push(Span::styled(" ", pad));
            spans
        })
        .collect();
    if tabs.is_empty() {
        put(buf, area, area.x + 1, area.y, "no documents", theme.dim);
        return;
    }
    let widths: Vec<usize> = tabs.iter().map(|t| spans_width(t) + 1).collect();
    let room = usize::from(area.width).saturating_sub(6);
    let current = app.cursor.doc.min(tabs.len() - 1);
    let (mut first, mut last) = (current, current);
    let mut used = widths[current];
    loop {
        if last + 1 < tabs.len() && used + widths[last + 1] <= room {
            last += 1;
            used += widths[last];
        } else if first > 0 && used + widths[first - 1] <= room {
            first -= 1;
            used += widths[first];
        } else {
            break;
        }
    }
    let mut x = area.x;
    if first > 0 {
        x = put(buf, area, x, area.y, &format!("‹{first}"), theme.dim);
    }
    for (i, tab) in tabs.iter().enumerate().take(last + 1).skip(first) {
        if i > first {
            x = put(buf, area, x, area.y, "│", theme.border);
        }
        let start = x;
        x = put_spans(buf, area, x, area.y, tab);
        hits.push(Rect::new(start, area.y, x - start, 1), Hit::Document(i));
    }
    let after = tabs.len() - 1 - last;
    if after > 0 {
        put(buf, area, x + 1, area.y, &format!("{after}›"), theme.dim);
    }
}
