//! Drawing the workbench: a pure function of the state. Panes are laid out for the terminal's
//! size on every frame, from 80x24 up; anything smaller gets what fits.

mod inspector;
mod overlay;
mod panes;
mod sentence;
mod training;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders};
use ratatui::Frame;

use super::state::{App, Mode};
use super::theme::Theme;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    let area = frame.area();
    frame.buffer_mut().set_style(area, theme.base());
    if area.width < 20 || area.height < 6 {
        let text = Line::from("spanscope: enlarge the terminal (80x24 or more)");
        frame.render_widget(text.style(theme.base()), area);
        return;
    }
    let [main, hints, status] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(1), Constraint::Length(1)])
            .areas(area);
    let docs_width = match main.width {
        w if w >= 130 => 28,
        w if w >= 100 => 24,
        w if w >= 78 => 18,
        _ => 0,
    };
    let [docs, right] =
        Layout::horizontal([Constraint::Length(docs_width), Constraint::Min(20)]).areas(main);
    if docs_width > 0 {
        panes::documents(frame, docs, app, theme);
    }
    let sentence_height = (right.height * 2 / 5).max(6);
    let [sentence_area, lower] =
        Layout::vertical([Constraint::Length(sentence_height), Constraint::Min(4)]).areas(right);
    sentence::draw(frame, sentence_area, app, theme);
    if lower.width >= 110 {
        let [relations, inspector_area] =
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                .areas(lower);
        relations_or_training(frame, relations, app, theme);
        inspector::draw(frame, inspector_area, app, theme);
    } else {
        let inspector_height = inspector::wanted_height(app).min(lower.height.saturating_sub(3));
        let [relations, inspector_area] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(inspector_height)])
                .areas(lower);
        relations_or_training(frame, relations, app, theme);
        inspector::draw(frame, inspector_area, app, theme);
    }
    panes::hints(frame, hints, app, theme);
    panes::status(frame, status, app, theme);
    match &app.mode {
        Mode::Help { scroll } => overlay::help(frame, area, *scroll, theme),
        Mode::Pick(picker) => overlay::picker(frame, area, app, picker, theme),
        Mode::Confirm(question) => overlay::confirm(frame, area, app, question, theme),
        _ => {}
    }
}

/// The relation list, or the training panel while it is shown.
fn relations_or_training(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    match (&app.training, app.show_training) {
        (Some(t), true) => training::draw(frame, area, t, theme),
        _ => panes::relations(frame, area, app, theme),
    }
}

/// A bordered pane with a title.
fn pane<'a>(title: Line<'a>, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(theme.border_style())
        .title(title)
        .style(theme.base())
}

/// Cuts `text` to `width` columns, with an ellipsis when it was longer.
fn fit(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width {
        text.to_string()
    } else if width == 0 {
        String::new()
    } else {
        let mut out: String = text.chars().take(width - 1).collect();
        out.push('…');
        out
    }
}

/// A span of `text` in `style`.
fn styled(text: impl Into<String>, style: Style) -> Span<'static> {
    Span::styled(text.into(), style)
}

/// The inner area of a pane of `area`.
fn inner(area: Rect) -> Rect {
    Rect {
        x: area.x + 1,
        y: area.y + 1,
        width: area.width.saturating_sub(2),
        height: area.height.saturating_sub(2),
    }
}
