//! The span inspector: why the model sees an entity here.
//!
//! ```text
//! ─ Inspector · “New York” · words 16–17 ─────────────── model: Loc .93 ─
//!    H 1   3   5   7   9   11    top heads     P(type)
//!   L1                           1 L3·H7 .124   none  ▍        .05
//!   ...                          2 L5·H2 .101   Loc   ███████▍ .93
//!  f_a .000 ████████████ .124
//! ```
//!
//! The heatmap has one row per encoder layer and one cell (two columns when they fit) per
//! head, coloured by f_a normalised to the span's largest value; the three strongest heads
//! carry their rank, as in the list beside it. When fewer rows fit than there are layers, the
//! rows around the strongest head are shown and the title says which.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::Span;

use super::{content, decimal, fit, put, title_rule, type_index, wrap_text};
use crate::explain::Contribution;
use crate::workbench::inference::Inspection;
use crate::workbench::state::{App, ModelStatus};
use crate::workbench::theme::Theme;

/// Heads listed beside the heatmap (and marked in it, up to [`MARKED`]).
const TOP: usize = 5;
/// Heads marked with their rank in the heatmap.
const MARKED: usize = 3;
/// Columns of the `L12 ` labels.
const LABEL_W: u16 = 4;

/// Content rows the inspector would like.
pub(super) fn rows_wanted(app: &App) -> u16 {
    match (&app.model, &app.inspector.result) {
        (ModelStatus::Ready(_), Some(Ok(inspection))) => {
            let heatmap = inspection.contribution.layers + 2;
            let beside = 1 + inspection.probabilities.len().max(TOP);
            heatmap.max(beside) as u16
        }
        _ => 2,
    }
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
        ModelStatus::Ready(_) => {}
    }
    let Some(key) = &app.inspector.key else {
        plain_title(buf, Vec::new());
        return say(
            buf,
            "no span: put the cursor on a word, select a range (v) or an entity (Tab)",
            theme.dim,
        );
    };
    let words = key.tokens.get(key.start..key.end).map(|w| w.join(" ")).unwrap_or_default();
    let max_words = usize::from(area.width / 2).max(8);
    let mut title = vec![
        Span::styled("Inspector · ", theme.base),
        Span::styled(
            format!("“{}”", fit(&words, max_words)),
            theme.base.add_modifier(Modifier::BOLD),
        ),
    ];
    if key.end - key.start == 1 {
        title.push(Span::styled(format!(" · word {}", key.start + 1), theme.dim));
    } else {
        title.push(Span::styled(format!(" · words {}–{}", key.start + 1, key.end), theme.dim));
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
    let shown = layer_window(c, inner.height.saturating_sub(2));
    if shown.len() < c.layers && !shown.is_empty() {
        let note = format!(" · layers {}–{} of {}", shown.start + 1, shown.end, c.layers);
        title.push(Span::styled(note, theme.warn));
    }
    title_rule(buf, area, &title, &prediction(inspection, theme), theme);
    if shown.is_empty() {
        return summary(buf, inner, inspection, theme);
    }
    // Two columns a head when the probabilities still fit beside.
    let cell_w: u16 = if LABEL_W + 2 * c.heads as u16 + 3 + 18 <= inner.width { 2 } else { 1 };
    let heat_w = LABEL_W + cell_w * c.heads as u16;
    if heat_w > inner.width {
        return summary(buf, inner, inspection, theme);
    }
    heatmap(buf, inner, c, shown, cell_w, theme);
    let mut x = inner.x + heat_w + 3;
    let top_w = 14;
    let probs_w = 6 + 3 + 5 + 4;
    if x + top_w + probs_w <= inner.right() || x + probs_w > inner.right() {
        x = top_heads(buf, inner, x, c, theme) + 2;
    }
    probabilities(buf, inner, x, app, inspection, theme);
}

/// The layers that fit in `rows`: all, or a window around the strongest head.
fn layer_window(c: &Contribution, rows: u16) -> std::ops::Range<usize> {
    let rows = usize::from(rows);
    if rows >= c.layers {
        return 0..c.layers;
    }
    let hot = c.top_heads(1).first().map_or(0, |h| h.0);
    let first = hot.saturating_sub(rows / 2).min(c.layers - rows);
    first..first + rows
}

/// `model: Loc .93`: the type the model finds most likely for the span.
fn prediction<'a>(inspection: &Inspection, theme: &Theme) -> Vec<Span<'a>> {
    let best = inspection.probabilities.iter().max_by(|a, b| a.1.total_cmp(&b.1));
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

/// A compact value: `.124`, `1.20`, `0`.
fn value(v: f32) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else if v.abs() < 0.001 {
        format!("{v:.0e}")
    } else {
        decimal(v, 3)
    }
}

fn heatmap(
    buf: &mut Buffer,
    inner: Rect,
    c: &Contribution,
    shown: std::ops::Range<usize>,
    cell_w: u16,
    theme: &Theme,
) {
    let max = c.values.iter().copied().fold(0.0f32, f32::max);
    let min = c.values.iter().copied().fold(f32::INFINITY, f32::min);
    let norm = |v: f32| if max > 0.0 { v / max } else { 0.0 };
    // Head numbers, as many as fit with a space between them.
    put(buf, inner, inner.x, inner.y, "  H", theme.dim);
    let step = [1, 2, 4, 5, 10].into_iter().find(|s| s * cell_w as usize >= 3).unwrap_or(10);
    for h in (0..c.heads).step_by(step) {
        let x = inner.x + LABEL_W + cell_w * h as u16;
        put(buf, inner, x, inner.y, &(h + 1).to_string(), theme.dim);
    }
    let marks: Vec<(usize, usize)> =
        c.top_heads(MARKED).into_iter().map(|(l, h, _)| (l, h)).collect();
    let rows = shown.len();
    for (row, layer) in shown.enumerate() {
        let y = inner.y + 1 + row as u16;
        put(buf, inner, inner.x, y, &format!("{:>3}", format!("L{}", layer + 1)), theme.dim);
        for head in 0..c.heads {
            let v = norm(c.get(layer, head).unwrap_or(0.0));
            let x = inner.x + LABEL_W + cell_w * head as u16;
            let glyph = theme.heat_glyph(v).to_string().repeat(usize::from(cell_w));
            put(buf, inner, x, y, &glyph, theme.heat(v));
            if let Some(rank) = marks.iter().position(|&m| m == (layer, head)) {
                put(
                    buf,
                    inner,
                    x,
                    y,
                    &(rank + 1).to_string(),
                    theme.heat(v).add_modifier(Modifier::BOLD),
                );
            }
        }
    }
    // The scale: min, the colours from weakest to strongest, max.
    let y = inner.y + 1 + rows as u16;
    let x = put(buf, inner, inner.x, y, "f_a", theme.dim) + 1;
    let x = put(buf, inner, x, y, &value(if min.is_finite() { min } else { 0.0 }), theme.dim) + 1;
    let steps = (cell_w * c.heads as u16).saturating_sub(12).clamp(4, 12);
    let mut at = x;
    for i in 0..steps {
        let v = f32::from(i) / f32::from(steps - 1);
        at = put(buf, inner, at, y, &theme.heat_glyph(v).to_string(), theme.heat(v));
    }
    put(buf, inner, at + 1, y, &value(max), theme.dim);
}

/// The strongest heads with their values; returns the column after the list.
fn top_heads(buf: &mut Buffer, inner: Rect, x: u16, c: &Contribution, theme: &Theme) -> u16 {
    put(buf, inner, x, inner.y, "top heads", theme.dim);
    let rows = usize::from(inner.height.saturating_sub(1)).min(TOP);
    let heads = c.top_heads(rows);
    let names: Vec<String> =
        heads.iter().map(|(l, h, _)| format!("L{}·H{}", l + 1, h + 1)).collect();
    let name_w = names.iter().map(|n| super::width(n)).max().unwrap_or(0);
    let mut right = x + 9;
    for (n, ((_, _, v), name)) in heads.into_iter().zip(&names).enumerate() {
        let y = inner.y + 1 + n as u16;
        let rank_style =
            if n < MARKED { theme.warn.add_modifier(Modifier::BOLD) } else { theme.dim };
        let at = put(buf, inner, x, y, &format!("{}", n + 1), rank_style) + 1;
        let at = put(buf, inner, at, y, &format!("{name:<name_w$}"), theme.base);
        right = right.max(put(buf, inner, at + 1, y, &value(v), theme.dim));
    }
    right.max(x + 14)
}

/// The model's probability of each type for the span, as bars.
fn probabilities(
    buf: &mut Buffer,
    inner: Rect,
    x: u16,
    app: &App,
    inspection: &Inspection,
    theme: &Theme,
) {
    if x >= inner.right() {
        return;
    }
    put(buf, inner, x, inner.y, "P(type)", theme.dim);
    let rows = usize::from(inner.height.saturating_sub(1));
    let mut probs: Vec<(usize, &(String, f32))> =
        inspection.probabilities.iter().enumerate().collect();
    if probs.len() > rows {
        probs.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
        probs.truncate(rows);
        probs.sort_by_key(|p| p.0);
    }
    let best = inspection.probabilities.iter().map(|p| p.1).fold(f32::MIN, f32::max);
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
        .map(|(l, h, v)| format!("L{}·H{} {}", l + 1, h + 1, value(v)))
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

    #[test]
    fn the_window_holds_the_strongest_layer() {
        let mut values = vec![0.0; 12 * 12];
        values[10 * 12 + 3] = 1.0;
        let c = Contribution { layers: 12, heads: 12, values };
        assert_eq!(layer_window(&c, 6), 6..12);
        assert_eq!(layer_window(&c, 20), 0..12);
        let w = layer_window(&Contribution { layers: 12, heads: 12, values: vec![0.0; 144] }, 4);
        assert_eq!(w, 0..4);
    }
}
