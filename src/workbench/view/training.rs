//! The training panel: where a fine-tuning run is, its loss curve, and the two held-out scores.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Chart, Dataset, GraphType};
use ratatui::Frame;

use super::{inner, pane, styled};
use crate::workbench::state::{Level, Training, TrainingPhase};
use crate::workbench::theme::Theme;

/// "1:05" for 65 seconds.
pub fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// One line for the status bar.
pub fn summary(t: &Training) -> String {
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
        TrainingPhase::Cancelled => "fine-tuning cancelled".into(),
        TrainingPhase::Failed(_) => "fine-tuning failed".into(),
    }
}

/// Draws the panel.
pub fn draw(frame: &mut Frame, area: Rect, t: &Training, theme: &Theme) {
    let title = format!(
        " Fine-tuning{} (T cancels, P hides) ",
        if t.device.is_empty() { String::new() } else { format!(" on {}", t.device) }
    );
    frame.render_widget(pane(Line::from(title), theme), area);
    let body = inner(area);
    if body.height == 0 {
        return;
    }
    let (trained, replayed, held) = t.sentences;
    let mut lines = vec![Line::from(styled(summary(t), theme.base().add_modifier(Modifier::BOLD)))];
    lines.push(Line::from(styled(
        format!(
            "{trained} reviewed + {replayed} original sentences, {held} held out · {} elapsed",
            clock(t.seconds.0)
        ),
        theme.dimmed(),
    )));
    if let Some((before, after)) = &t.scores {
        lines.push(Line::from(format!(
            "held-out F1  relations {:.1} → {:.1}   entities {:.1} → {:.1}",
            before.relations.f1, after.relations.f1, before.entities.f1, after.entities.f1
        )));
    }
    if let TrainingPhase::Failed(why) = &t.phase {
        lines.push(Line::from(styled(why.clone(), theme.level(Level::Error))));
    }
    let text_rows = (lines.len() as u16).min(body.height);
    let [text, chart] =
        Layout::vertical([Constraint::Length(text_rows), Constraint::Min(0)]).areas(body);
    for (row, line) in lines.into_iter().take(text.height as usize).enumerate() {
        frame.render_widget(line, Rect { y: text.y + row as u16, height: 1, ..text });
    }
    if chart.height < 3 || t.losses.is_empty() {
        return;
    }
    let points: Vec<(f64, f64)> =
        t.losses.iter().enumerate().map(|(i, l)| ((i + 1) as f64, f64::from(*l))).collect();
    let top = points.iter().map(|p| p.1).filter(|v| v.is_finite()).fold(0.0, f64::max).max(1e-6);
    let steps = t.step.1.max(points.len()) as f64;
    let data = Dataset::default()
        .name("loss")
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(Style::default().fg(theme.relation))
        .data(&points);
    let widget = Chart::new(vec![data])
        .style(theme.base())
        .x_axis(
            Axis::default()
                .bounds([1.0, steps])
                .labels(["1".to_string(), format!("{steps:.0} steps")])
                .style(theme.dimmed()),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .labels(["0".to_string(), format!("{top:.2}")])
                .style(theme.dimmed()),
        );
    frame.render_widget(widget, chart);
}
