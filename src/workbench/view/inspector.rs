//! The inspector: why the model sees an entity here, or a relation between two spans. Three
//! views, switched by a key: f_a (drawn here), importance and ablation ([`super::explanation`]).
//!
//! ```text
//! ─ Inspector · “New York” · words 16–17 · f_a ───────────── model: Loc .93 ─
//!    H 1   3   5   7   9   11    top heads     P(type)
//!   L1                           1 L3·H7 .124   none  ▍        .05
//!   ...                          2 L5·H2 .101   Loc   ███████▍ .93
//!  f_a 0 ░░▒▒ .062 ▓▓██ .124
//! ```
//!
//! The heatmap has one row per encoder layer and one cell (two columns when they fit) per
//! head, coloured from 0 to the span's largest f_a; the three strongest heads carry their
//! rank, as in the list beside it. When fewer rows fit than there are layers, the rows around
//! the strongest head (or the head cursor) are shown and the title says which. A relation
//! shows the f_a of its head span and of its tail span side by side, on one scale.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::Span;

use super::grid::{self, head_name, layer_window, value, Grid};
use super::{content, decimal, fit, put, title_rule, type_index, wrap_text};
use crate::explain::prediction::{Reading, Target};
use crate::explain::{Contribution, Head};
use crate::workbench::state::{App, InspectorView, Mode, ModelStatus};
use crate::workbench::theme::Theme;
use crate::worker::model::Inspection;

/// Heads listed beside the heatmap (and marked in it, up to [`MARKED`]).
pub(super) const TOP: usize = 5;
/// Heads marked with their rank in the heatmap.
pub(super) const MARKED: usize = 3;

/// Content rows the inspector would like.
pub(super) fn rows_wanted(app: &App) -> u16 {
    let ModelStatus::Ready(info) = &app.model else { return 2 };
    match (app.inspector.view, &app.inspector.result) {
        (InspectorView::Contribution, _) if relation(app).is_some() => {
            let beside = 2 + info.types.relations.len().min(8);
            (info.layers + 3).max(beside) as u16
        }
        (InspectorView::Contribution, Some(Ok(inspection))) => {
            let heatmap = inspection.contribution.layers + 2;
            let beside = 1 + inspection.probabilities.len().max(TOP);
            heatmap.max(beside) as u16
        }
        (InspectorView::Contribution, _) => 2,
        // The grid and its legend, the words and the top words, the what-if and flip lines.
        _ => (info.layers + 6) as u16,
    }
}

/// A selected relation, as the inspector names it.
struct Shown<'a> {
    tokens: &'a [String],
    head: (usize, usize),
    tail: (usize, usize),
    relation: &'a str,
}

/// The selected relation the inspector explains, if one is.
fn relation(app: &App) -> Option<Shown<'_>> {
    let key = app.inspector.explain_key.as_ref()?;
    match &key.target {
        Target::Relation { head, tail, relation } => Some(Shown {
            tokens: &key.tokens,
            head: (head.start, head.end),
            tail: (tail.start, tail.end),
            relation: relation.as_deref().unwrap_or("?"),
        }),
        Target::Entity { .. } => None,
    }
}

/// The head cursor, shown while the inspector has the keys.
pub(super) fn cursor(app: &App, layers: usize, heads: usize) -> Option<Head> {
    let h = app.inspector.head;
    (matches!(app.mode, Mode::Inspect) && h.layer < layers && h.head < heads).then_some(h)
}

/// Draws the inspector pane.
pub(super) fn draw(buf: &mut Buffer, area: Rect, app: &App, theme: &Theme) {
    if area.height == 0 {
        return;
    }
    let inner = content(area);
    let plain_title = |buf: &mut Buffer, extra: Vec<Span<'static>>| {
        let mut title = vec![Span::styled("Inspector", theme.base)];
        title.extend(extra);
        title_rule(buf, area, &title, &[], theme);
    };
    let say = |buf: &mut Buffer, text: &str, style| {
        for (n, line) in wrap_text(text, usize::from(inner.width)).iter().enumerate() {
            put(buf, inner, inner.x, inner.y + n as u16, line, style);
        }
    };
    match &app.model {
        ModelStatus::Loading(what) => {
            plain_title(buf, Vec::new());
            return say(buf, &format!("loading the model {what}…"), theme.dim);
        }
        ModelStatus::Failed(why) => {
            plain_title(buf, vec![Span::styled(" · no model", theme.error)]);
            return say(buf, &format!("the model could not be loaded: {why}"), theme.error);
        }
        ModelStatus::Off => {
            plain_title(buf, vec![Span::styled(" · no model", theme.dim)]);
            return say(buf, "started with --no-model: nothing to inspect", theme.dim);
        }
        ModelStatus::Ready(_) => {}
    }
    let max_words = usize::from(area.width / 3).max(8);
    let quoted = |tokens: &[String], (a, b): (usize, usize)| {
        let words = tokens.get(a..b).map(|w| w.join(" ")).unwrap_or_default();
        format!("“{}”", fit(&words, max_words / 2))
    };
    let view = app.inspector.view;
    let mut title = if let Some(r) = relation(app) {
        let (tokens, head, tail) = (r.tokens, r.head, r.tail);
        vec![
            Span::styled("Inspector · relation ", theme.base),
            Span::styled(r.relation.to_string(), theme.base.add_modifier(Modifier::BOLD)),
            Span::styled(
                format!(" · {} → {}", quoted(tokens, head), quoted(tokens, tail)),
                theme.base,
            ),
        ]
    } else {
        let Some(key) = &app.inspector.key else {
            plain_title(buf, Vec::new());
            return say(
                buf,
                "no span: put the cursor on a word, select a range (v) or an entity (Tab)",
                theme.dim,
            );
        };
        let words = key.tokens.get(key.start..key.end).map(|w| w.join(" ")).unwrap_or_default();
        let mut title = vec![
            Span::styled("Inspector · ", theme.base),
            Span::styled(
                format!("“{}”", fit(&words, usize::from(area.width / 2).max(8))),
                theme.base.add_modifier(Modifier::BOLD),
            ),
        ];
        if key.end - key.start == 1 {
            title.push(Span::styled(format!(" · word {}", key.start + 1), theme.dim));
        } else {
            title.push(Span::styled(format!(" · words {}–{}", key.start + 1, key.end), theme.dim));
        }
        title
    };
    title.push(Span::styled(format!(" · {}", view.name()), theme.warn));
    if view != InspectorView::Contribution {
        return super::explanation::draw(buf, area, app, title, theme);
    }
    if relation(app).is_some() {
        return relation_contribution(buf, area, app, title, theme);
    }
    let inspection = match &app.inspector.result {
        None => {
            title_rule(buf, area, &title, &[], theme);
            return say(buf, "explaining…", theme.dim);
        }
        Some(Err(why)) => {
            title_rule(buf, area, &title, &[], theme);
            return say(buf, &format!("the model cannot explain this span: {why}"), theme.error);
        }
        Some(Ok(inspection)) => inspection,
    };
    let c = &inspection.contribution;
    let keep = cursor(app, c.layers, c.heads).map(|h| h.layer);
    let hot = keep.unwrap_or_else(|| c.top_heads(1).first().map_or(0, |h| h.0));
    let shown = layer_window(c.layers, hot, inner.height.saturating_sub(2));
    if shown.len() < c.layers && !shown.is_empty() {
        let note = format!(" · layers {}–{} of {}", shown.start + 1, shown.end, c.layers);
        title.push(Span::styled(note, theme.warn));
    }
    title_rule(buf, area, &title, &prediction(&inspection.probabilities, theme), theme);
    if shown.is_empty() {
        return summary(buf, inner, inspection, theme);
    }
    // Two columns a head when the probabilities still fit beside.
    let cell_w: u16 =
        if grid::LABEL_W + 2 * c.heads as u16 + 3 + 18 <= inner.width { 2 } else { 1 };
    // Top heads and probabilities beside.
    let cell_w = grid::wider(cell_w, c.heads, 1, 3 + 14 + 2 + 18, inner.width);
    let heat_w = grid::LABEL_W + cell_w * c.heads as u16;
    if heat_w > inner.width {
        return summary(buf, inner, inspection, theme);
    }
    let g = contribution_grid(app, c);
    let rows = shown.len() as u16;
    grid::draw(buf, inner, (inner.x, inner.y), &g, shown, cell_w, theme);
    let steps = (cell_w * c.heads as u16).saturating_sub(16);
    grid::legend(buf, inner, (inner.x, inner.y + 1 + rows), "f_a", g.top, steps, theme);
    let mut x = inner.x + heat_w + 3;
    let top_w = 14;
    let probs_w = 6 + 3 + 5 + 4;
    if x + top_w + probs_w <= inner.right() || x + probs_w > inner.right() {
        x = top_heads(buf, inner, x, &ranked(c), theme) + 2;
    }
    probabilities(buf, inner, x, app, &inspection.probabilities, "P(type)", theme);
}

/// f_a as a grid: ranks on the strongest heads, the cursor and the set.
fn contribution_grid<'a>(app: &'a App, c: &'a Contribution) -> Grid<'a> {
    let marks = c
        .top_heads(MARKED)
        .into_iter()
        .enumerate()
        .map(|(rank, (layer, head, _))| (Head { layer, head }, char::from(b'1' + rank as u8)))
        .collect();
    Grid {
        heads: c.heads,
        values: &c.values,
        top: c.values.iter().copied().fold(0.0, f32::max),
        marks,
        cursor: cursor(app, c.layers, c.heads),
        chosen: &app.inspector.chosen,
    }
}

/// Heads by value, largest first.
fn ranked(c: &Contribution) -> Vec<(Head, f32)> {
    c.top_heads(c.values.len())
        .into_iter()
        .map(|(layer, head, v)| (Head { layer, head }, v))
        .collect()
}

/// A relation's f_a: of its head span and of its tail span, side by side on one scale.
fn relation_contribution(
    buf: &mut Buffer,
    area: Rect,
    app: &App,
    title: Vec<Span<'static>>,
    theme: &Theme,
) {
    let inner = content(area);
    let i = &app.inspector;
    let Some(e) = i.explanation.as_ref().filter(|e| e.contributions.len() == 2) else {
        title_rule(buf, area, &title, &[], theme);
        let (text, style) = match &i.explain_error {
            Some(why) => (format!("the model cannot explain this relation: {why}"), theme.error),
            None => ("computing…".to_string(), theme.dim),
        };
        return super::explanation::say(buf, inner, &text, style);
    };
    title_rule(buf, area, &title, &reading_title(&e.prediction, &e.label, true, theme), theme);
    let (head, tail) = (&e.contributions[0], &e.contributions[1]);
    let cell_w: u16 =
        if 2 * (grid::LABEL_W + 2 * head.heads as u16) + 2 + 20 <= inner.width { 2 } else { 1 };
    let cell_w = grid::wider(cell_w, head.heads, 2, 2 + 20, inner.width);
    let top = head.values.iter().chain(&tail.values).copied().fold(0.0, f32::max);
    let Some(Shown { tokens, head: hs, tail: ts, .. }) = relation(app) else { return };
    let shown = layer_window(head.layers, head.top_heads(1).first().map_or(0, |h| h.0), {
        inner.height.saturating_sub(3)
    });
    let mut x = inner.x;
    for (c, name, span) in [(head, "head", hs), (tail, "tail", ts)] {
        let mut g = contribution_grid(app, c);
        g.top = top;
        let words = tokens.get(span.0..span.1).map(|w| w.join(" ")).unwrap_or_default();
        // The label may run into the gap between the two grids.
        let room = usize::from(g.width(cell_w) + 2).saturating_sub(name.len() + 3);
        put(buf, inner, x, inner.y, &format!("{name} “{}”", fit(&words, room)), theme.dim);
        grid::draw(buf, inner, (x, inner.y + 1), &g, shown.clone(), cell_w, theme);
        x += g.width(cell_w) + 2;
    }
    let y = inner.y + 2 + shown.len() as u16;
    grid::legend(buf, inner, (inner.x, y), "f_a", top, 8, theme);
    let scores: Vec<(String, f32)> = e.prediction.probabilities.clone();
    probabilities(buf, inner, x + 1, app, &scores, "score", theme);
}

/// `model: Loc .93`: the type the model finds most likely for the span.
pub(super) fn prediction<'a>(probabilities: &[(String, f32)], theme: &Theme) -> Vec<Span<'a>> {
    let best = probabilities.iter().max_by(|a, b| a.1.total_cmp(&b.1));
    best.map(|(name, p)| {
        vec![
            Span::styled("model: ", theme.dim),
            Span::styled(
                format!("{name} {}", decimal(*p, 2)),
                theme.base.add_modifier(Modifier::BOLD),
            ),
        ]
    })
    .unwrap_or_default()
}

/// `model: Peop .58`, or for a relation below α `model: none · Work_For .32`.
pub(super) fn reading_title<'a>(
    r: &Reading,
    label: &str,
    relation: bool,
    theme: &Theme,
) -> Vec<Span<'a>> {
    let bold = theme.base.add_modifier(Modifier::BOLD);
    if relation && r.predicted != label {
        return vec![
            Span::styled("model: ", theme.dim),
            Span::styled("none", bold),
            Span::styled(format!(" · {label} {}", decimal(r.probability, 2)), theme.dim),
        ];
    }
    vec![
        Span::styled("model: ", theme.dim),
        Span::styled(format!("{label} {}", decimal(r.probability, 2)), bold),
    ]
}

/// The strongest heads with their values; returns the column after the list.
pub(super) fn top_heads(
    buf: &mut Buffer,
    inner: Rect,
    x: u16,
    ranked: &[(Head, f32)],
    theme: &Theme,
) -> u16 {
    put(buf, inner, x, inner.y, "top heads", theme.dim);
    let rows = usize::from(inner.height.saturating_sub(1)).min(TOP);
    let heads = &ranked[..rows.min(ranked.len())];
    let names: Vec<String> = heads.iter().map(|(h, _)| head_name(*h)).collect();
    let name_w = names.iter().map(|n| super::width(n)).max().unwrap_or(0);
    let mut right = x + 9;
    for (n, ((_, v), name)) in heads.iter().zip(&names).enumerate() {
        let y = inner.y + 1 + n as u16;
        let rank_style =
            if n < MARKED { theme.warn.add_modifier(Modifier::BOLD) } else { theme.dim };
        let at = put(buf, inner, x, y, &format!("{}", n + 1), rank_style) + 1;
        let at = put(buf, inner, at, y, &format!("{name:<name_w$}"), theme.base);
        right = right.max(put(buf, inner, at + 1, y, &value(*v), theme.dim));
    }
    right.max(x + 14)
}

/// The model's probability of each type (or score of each relation type), as bars.
pub(super) fn probabilities(
    buf: &mut Buffer,
    inner: Rect,
    x: u16,
    app: &App,
    probabilities: &[(String, f32)],
    heading: &str,
    theme: &Theme,
) {
    if x >= inner.right() {
        return;
    }
    put(buf, inner, x, inner.y, heading, theme.dim);
    let rows = usize::from(inner.height.saturating_sub(1));
    let mut probs: Vec<(usize, &(String, f32))> = probabilities.iter().enumerate().collect();
    if probs.len() > rows {
        probs.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
        probs.truncate(rows);
        probs.sort_by_key(|p| p.0);
    }
    let best = probabilities.iter().map(|p| p.1).fold(f32::MIN, f32::max);
    let name_w = probs.iter().map(|(_, (n, _))| super::width(n)).max().unwrap_or(4).min(10);
    let room = usize::from(inner.right() - x);
    let bar_w = room.saturating_sub(name_w + 6).clamp(3, 12);
    for (row, (_, (name, p))) in probs.iter().enumerate() {
        let y = inner.y + 1 + row as u16;
        let none = name == "none";
        let style = if none { theme.dim } else { theme.entity(type_index(app, name)) };
        let mut name_style = if none { theme.dim } else { theme.base };
        if *p == best {
            name_style = name_style.add_modifier(Modifier::BOLD);
        }
        let at = put(buf, inner, x, y, &format!("{:<name_w$}", fit(name, name_w)), name_style) + 1;
        put(buf, inner, at, y, &bar(*p, bar_w), style);
        put(buf, inner, at + bar_w as u16 + 1, y, &decimal(*p, 2), name_style);
    }
}

/// A bar of `p` in `0..=1` over `w` columns, in eighths.
fn bar(p: f32, w: usize) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (p.clamp(0.0, 1.0) * (w * 8) as f32).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push(PARTS[eighths % 8]);
    }
    let filled = s.chars().count();
    s.push_str(&" ".repeat(w.saturating_sub(filled)));
    s
}

/// One line when the heatmap does not fit: the strongest heads and the model's guess.
fn summary(buf: &mut Buffer, inner: Rect, inspection: &Inspection, theme: &Theme) {
    let heads: Vec<String> = inspection
        .contribution
        .top_heads(3)
        .into_iter()
        .map(|(layer, head, v)| format!("{} {}", head_name(Head { layer, head }), value(v)))
        .collect();
    put(buf, inner, inner.x, inner.y, &format!("top heads {}", heads.join("  ")), theme.base);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_in_eighths() {
        assert_eq!(bar(1.0, 4), "████");
        assert_eq!(bar(0.0, 3), "   ");
        assert_eq!(bar(0.5, 3), "█▌ ");
    }
}
