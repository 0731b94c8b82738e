//! The span inspector: f_a of the span over every layer (down) and head (across), its colour
//! scale, the strongest heads, and the model's probability for each type.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::{fit, inner, pane, styled};
use crate::explain::contribution::Contribution;
use crate::workbench::inference::Inspection;
use crate::workbench::state::{App, Level, ModelStatus};
use crate::workbench::theme::Theme;

/// Rows the inspector would like: a header, one per layer, a legend, and the borders.
pub fn wanted_height(app: &App) -> u16 {
    let layers = match &app.model {
        ModelStatus::Ready(info) => info.layers,
        _ => 6,
    };
    layers as u16 + 4
}

/// Draws the inspector.
pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let span_words =
        app.inspector.key.as_ref().map(|k| k.tokens[k.start..k.end].join(" ")).unwrap_or_default();
    let title = if span_words.is_empty() {
        " Inspector ".to_string()
    } else {
        format!(" Why \"{}\"? ", fit(&span_words, (area.width as usize).saturating_sub(14)))
    };
    frame.render_widget(pane(Line::from(title), theme), area);
    let body = inner(area);
    if body.height == 0 || body.width == 0 {
        return;
    }
    let note = |frame: &mut Frame, text: String, style: Style| {
        frame.render_widget(
            Line::from(styled(fit(&text, body.width as usize), style)),
            Rect { height: 1, ..body },
        );
    };
    match (&app.model, &app.inspector.result) {
        (ModelStatus::Loading(name), _) => note(frame, format!("loading {name}…"), theme.dimmed()),
        (ModelStatus::Failed(why), _) => note(frame, format!("no model: {why}"), theme.dimmed()),
        (ModelStatus::Ready(_), None) if app.inspector.key.is_some() => {
            note(frame, "explaining…".into(), theme.dimmed())
        }
        (ModelStatus::Ready(_), None) => note(frame, "select a span".into(), theme.dimmed()),
        (ModelStatus::Ready(_), Some(Err(why))) => {
            note(frame, why.clone(), theme.level(Level::Warning))
        }
        (ModelStatus::Ready(_), Some(Ok(inspection))) => {
            inspection_view(frame, body, inspection, theme)
        }
    }
}

fn inspection_view(frame: &mut Frame, body: Rect, inspection: &Inspection, theme: &Theme) {
    let c = &inspection.contribution;
    let cell = if body.width as usize >= 4 + c.heads * 2 + 24 { 2 } else { 1 };
    let map_width = (4 + c.heads * cell) as u16;
    let map = Rect { width: map_width.min(body.width), ..body };
    heatmap(frame, map, c, cell, theme);
    if body.width > map_width + 4 {
        let side = Rect { x: body.x + map_width + 2, width: body.width - map_width - 2, ..body };
        details(frame, side, inspection, theme);
    }
}

fn heatmap(frame: &mut Frame, area: Rect, c: &Contribution, cell: usize, theme: &Theme) {
    let max = c.values.iter().copied().filter(|v| v.is_finite()).fold(0.0f32, f32::max);
    let min = c.values.iter().copied().filter(|v| v.is_finite()).fold(f32::INFINITY, f32::min);
    let rows = area.height as usize;
    // Header: head numbers every few columns.
    let mut header = String::from("    ");
    for h in 0..c.heads {
        let label = format!("{}", h + 1);
        if cell == 2 || (h + 1) % 3 == 1 {
            header.push_str(&format!(
                "{:<width$}",
                if h % 2 == 0 || cell == 2 { label } else { String::new() },
                width = cell
            ));
        } else {
            header.push_str(&" ".repeat(cell));
        }
    }
    frame.render_widget(
        Line::from(styled(fit(&header, area.width as usize), theme.dimmed())),
        Rect { height: 1, ..area },
    );
    let layer_rows = rows.saturating_sub(2).min(c.layers);
    for l in 0..layer_rows {
        let mut spans = vec![styled(format!("L{:<2} ", l + 1), theme.dimmed())];
        for h in 0..c.heads {
            let v = c.get(l, h).unwrap_or(0.0);
            let norm = if max > 0.0 { v / max } else { 0.0 };
            let (style, ch) = theme.heat(norm);
            spans.push(styled(ch.to_string().repeat(cell), style));
        }
        frame
            .render_widget(Line::from(spans), Rect { y: area.y + 1 + l as u16, height: 1, ..area });
    }
    // Legend: the scale from the smallest to the largest value of this span.
    let y = area.y + 1 + layer_rows as u16;
    if y < area.y + area.height {
        let mut spans = vec![styled(format!("{:.3} ", min.min(max)), theme.dimmed())];
        for k in 0..8 {
            let (style, ch) = theme.heat(k as f32 / 7.0);
            spans.push(styled(ch.to_string(), style));
        }
        spans.push(styled(format!(" {max:.3}"), theme.dimmed()));
        if layer_rows < c.layers {
            spans.push(styled(
                format!("  L1-{layer_rows} of {}", c.layers),
                theme.level(Level::Warning),
            ));
        }
        frame.render_widget(Line::from(spans), Rect { y, height: 1, ..area });
    }
}

fn details(frame: &mut Frame, area: Rect, inspection: &Inspection, theme: &Theme) {
    let w = area.width as usize;
    let mut lines: Vec<Line> =
        vec![Line::from(styled("type probability", theme.dimmed().add_modifier(Modifier::BOLD)))];
    let best = inspection
        .probabilities
        .iter()
        .enumerate()
        .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
        .map(|(i, _)| i);
    let name_width =
        inspection.probabilities.iter().map(|(n, _)| n.chars().count()).max().unwrap_or(4).min(10);
    for (i, (name, p)) in inspection.probabilities.iter().enumerate() {
        let bar_room = w.saturating_sub(name_width + 7).min(12);
        let filled = ((p.clamp(0.0, 1.0)) * bar_room as f32).round() as usize;
        let style = if Some(i) == best {
            Style::default().add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        lines.push(Line::from(vec![
            styled(format!("{:<name_width$} ", fit(name, name_width)), style),
            styled(format!("{p:.2} "), style),
            styled("█".repeat(filled), Style::default().fg(theme.relation)),
        ]));
    }
    lines.push(Line::from(styled("top heads", theme.dimmed().add_modifier(Modifier::BOLD))));
    let room = (area.height as usize).saturating_sub(lines.len());
    for (l, h, v) in inspection.contribution.top_heads(room.min(5)) {
        lines.push(Line::from(vec![
            styled(format!("L{}·H{:<3}", l + 1, h + 1), Style::default()),
            styled(format!("{v:.3}"), theme.dimmed()),
        ]));
    }
    for (row, line) in lines.into_iter().take(area.height as usize).enumerate() {
        frame.render_widget(line, Rect { y: area.y + row as u16, height: 1, ..area });
    }
    let _ = Span::raw("");
}
