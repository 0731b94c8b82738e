//! The training panel, shown in place of the relations while a fine-tuning run is on screen:
//! where the run is, its loss curve, and the two held-out scores.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Widget};

use super::{content, put, put_spans, title_rule};
use crate::workbench::state::{Training, TrainingPhase};
use crate::workbench::theme::Theme;

/// Rows the panel would like: title, three lines of text, a chart.
pub(super) const ROWS: u16 = 11;

/// "1:05" for 65 seconds.
pub(super) fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// The run in one line, for the panel and the status line.
pub(super) fn summary(t: &Training) -> String {
    match &t.phase {
        TrainingPhase::Preparing => "fine-tuning: preparing…".into(),
        TrainingPhase::Training => format!(
            "fine-tuning {}/{} · step {}/{} · loss {:.3} · {} left",
            t.epoch.0,
            t.epoch.1,
            t.step.0,
            t.step.1,
            t.losses.last().copied().unwrap_or(f32::NAN),
            clock(t.seconds.1)
        ),
        TrainingPhase::Scoring => "fine-tuning: scoring both models…".into(),
        TrainingPhase::Deciding => "fine-tuned model scored worse: decide".into(),
        TrainingPhase::Done(what) => format!("fine-tuned: {what}"),
        TrainingPhase::Cancelled => "fine-tuning cancelled; the model is unchanged".into(),
        TrainingPhase::Failed(why) => format!("fine-tuning failed, nothing changed: {why}"),
    }
}

/// Draws the panel into `area` (its first row is the title rule).
pub(super) fn draw(buf: &mut Buffer, area: Rect, t: &Training, theme: &Theme) {
    if area.height == 0 {
        return;
    }
    let device = if t.device.is_empty() { String::new() } else { format!(" on {}", t.device) };
    title_rule(
        buf,
        area,
        &[Span::styled(format!("Fine-tuning{device}"), theme.base)],
        &[Span::styled("T cancels · P hides", theme.dim)],
        theme,
    );
    let body = content(area);
    let (trained, replayed, held) = t.sentences;
    let mut lines: Vec<Vec<Span>> = vec![
        vec![Span::styled(summary(t), theme.base)],
        vec![Span::styled(
            format!(
                "{trained} reviewed + {replayed} original sentences, {} · {} elapsed",
                match t.folds {
                    Some(k) => format!("judged by {k}-fold cross-validation"),
                    None => format!("{held} held out"),
                },
                clock(t.seconds.0)
            ),
            theme.dim,
        )],
    ];
    // The speed tells whether a run on this device is worth waiting for.
    if let (Some((steps, sentences)), TrainingPhase::Training) = (t.rate, &t.phase) {
        lines.push(vec![Span::styled(
            format!("{steps:.1} steps/s · {sentences:.1} sentences/s"),
            theme.dim,
        )]);
    }
    if let Some((before, after)) = &t.scores {
        lines.push(vec![Span::styled(
            format!(
                "held-out F1: relations {:.1} → {:.1} · entities {:.1} → {:.1}",
                before.relations.f1, after.relations.f1, before.entities.f1, after.entities.f1
            ),
            theme.base,
        )]);
    }
    // The judged sentences whose prediction changed, as many as there is room for.
    let room = usize::from(body.height).saturating_sub(lines.len() + 1);
    let shown = if t.changed.len() > room { room.saturating_sub(1) } else { t.changed.len() };
    for c in &t.changed[..shown] {
        lines.push(vec![Span::styled(
            format!("changed «{}»: {} → {}", c.text, c.before, c.after),
            theme.dim,
        )]);
    }
    if shown < t.changed.len() {
        lines.push(vec![Span::styled(
            format!("{} more changed sentence(s) in finetune.json", t.changed.len() - shown),
            theme.dim,
        )]);
    }
    let mut y = body.y;
    for line in &lines {
        if y >= body.bottom() {
            return;
        }
        put_spans(buf, body, body.x, y, line);
        y += 1;
    }
    let chart = Rect::new(body.x, y, body.width, body.bottom().saturating_sub(y));
    if chart.height < 3 || t.losses.is_empty() {
        if chart.height > 0 && t.losses.is_empty() {
            put(
                buf,
                chart,
                chart.x,
                chart.y,
                "the loss curve appears with the first steps",
                theme.dim,
            );
        }
        return;
    }
    let points: Vec<(f64, f64)> =
        t.losses.iter().enumerate().map(|(i, l)| ((i + 1) as f64, f64::from(*l))).collect();
    let top = points.iter().map(|p| p.1).filter(|v| v.is_finite()).fold(0.0, f64::max).max(1e-6);
    let steps = t.step.1.max(points.len()).max(2) as f64;
    let data = Dataset::default()
        .name("loss")
        .marker(if theme.colourless { Marker::Dot } else { Marker::Braille })
        .graph_type(GraphType::Line)
        .style(theme.relation)
        .data(&points);
    Chart::new(vec![data])
        .style(theme.base)
        .x_axis(
            Axis::default()
                .bounds([1.0, steps])
                .labels([String::from("1"), format!("{steps:.0} steps")])
                .style(theme.dim),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .labels([String::from("0"), format!("{top:.2}")])
                .style(theme.dim),
        )
        .render(chart, buf);
}
