//! The screen: a pure function of the state. Nothing here keeps state between frames.
//!
//! ```text
//! ▸people.json ● 2/3 │ news.json 0/4              documents (a list at the left from 100 wide)
//! ─ Sentence 1/3 · not reviewed · 3 proposals left ──────────────────
//!  John Smith , who works for the University of Chicago , met ...     words, wrapped
//!  └─Peop───┘                                   └─Loc─┘               a lane of brackets per
//!                                 └─Org───────────────┘               depth of overlap
//! ─ Relations 2 · 1 proposed ────────────────────────────────────────
//!  John Smith [Peop] → University of Chicago [Org]  Work_For  gold
//! ─ Inspector · “New York” · words 16–17 ──────────── model: Loc .93 ─
//!    H 1   3   5 ...   top heads   P(type)                            f_a heatmap, layers down
//!  a accept  x reject  t retype  ? help         accepted “Chicago”    keys, last message
//!  NORMAL  people.json · 1 unsaved │ minilm · cuda:0 │ predicting 2   mode and state
//! ```
//!
//! Panes get their minimum height first (sentence, relations, inspector, in that order), then
//! what they ask for; spare rows go to the inspector, after a row of air for the other two. At
//! any size every pane draws what fits and clips the rest, so tiny terminals never panic.

mod adjudication;
mod documents;
mod explanation;
mod grid;
mod inspector;
mod overlay;
mod relations;
mod sentence;
mod status;
mod training;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::Frame;

use super::hits::{Hit, HitMap, Pane};
use super::state::{App, Mode};
use super::theme::Theme;

/// From this width on, the documents are a list at the left; below, a bar at the top.
const WIDE: u16 = 100;

/// From this many columns and rows on, the terminal is large: spare rows show the
/// neighbouring sentences, relations get their whole context, and heatmaps wider cells.
const LARGE: (u16, u16) = (160, 50);

/// Rows at most given to the neighbouring sentences on a large terminal.
const CONTEXT_ROWS: u16 = 12;

/// Draws the whole workbench for `app`.
pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    draw_with_hits(frame, app, theme);
}

/// Draws the whole workbench for `app` and says what it drew where, for the mouse.
pub fn draw_with_hits(frame: &mut Frame, app: &App, theme: &Theme) -> HitMap {
    let area = frame.area();
    let buf = frame.buffer_mut();
    let mut hits = HitMap::default();
    buf.set_style(area, theme.base);
    let screen = Screen::of(app, area);
    hits.push(screen.sentence, Hit::Pane(Pane::Sentence));
    hits.push(screen.relations, Hit::Pane(Pane::Relations));
    hits.push(screen.inspector, Hit::Pane(Pane::Inspector));
    sentence::draw(buf, screen.sentence, app, theme, &mut hits);
    adjudication::draw(buf, screen.theirs, app, theme);
    match (&app.fine_tuning.run, app.fine_tuning.panel) {
        (Some(t), true) => training::draw(buf, screen.relations, t, theme),
        _ => relations::draw(buf, screen.relations, app, theme, &mut hits),
    }
    inspector::draw(buf, screen.inspector, app, theme);
    match screen.documents {
        Panel::List(r) => {
            hits.push(r, Hit::Pane(Pane::Documents));
            documents::draw_list(buf, r, app, theme, &mut hits);
            join_rules(buf, r);
        }
        Panel::Bar(r) => {
            hits.push(r, Hit::Pane(Pane::Documents));
            documents::draw_bar(buf, r, app, theme, &mut hits);
        }
    }
    status::draw_hints(buf, screen.hints, app, theme);
    status::draw_status(buf, screen.status, app, theme);
    overlay::draw(buf, area, app, theme);
    if matches!(app.mode, Mode::Help { .. } | Mode::Pick(_) | Mode::Confirm(_)) {
        hits.push(area, Hit::Pane(Pane::Overlay));
    }
    hits
}

/// Turns `│` into `├` where the list's right edge meets a pane's title rule.
fn join_rules(buf: &mut Buffer, list: Rect) {
    let Some(x) = list.right().checked_sub(1) else { return };
    for y in list.y + 1..list.bottom() {
        let meets_rule = buf.cell((x + 1, y)).is_some_and(|c| c.symbol() == "─");
        if let Some(cell) = buf.cell_mut((x, y)).filter(|c| c.symbol() == "│") {
            if meets_rule {
                cell.set_symbol("├");
            }
        }
    }
}

/// Where the documents go.
enum Panel {
    /// A list at the left.
    List(Rect),
    /// One row at the top.
    Bar(Rect),
}

/// The rectangles of one frame. Each pane's first row is its title rule.
struct Screen {
    documents: Panel,
    sentence: Rect,
    /// The other annotator's layer (no rows without `--compare`).
    theirs: Rect,
    relations: Rect,
    inspector: Rect,
    hints: Rect,
    status: Rect,
}

impl Screen {
    fn of(app: &App, area: Rect) -> Screen {
        let take = |rows: &mut u16, want: u16| {
            let got = want.min(*rows);
            *rows -= got;
            got
        };
        let mut rows = area.height;
        let status_h = take(&mut rows, 1);
        let hints_h = if rows >= 3 { take(&mut rows, 1) } else { 0 };
        let wide = area.width >= WIDE;
        let bar_h = if wide { 0 } else { take(&mut rows, 1) };
        let top = area.y + bar_h;
        let status = Rect::new(area.x, area.y + area.height - status_h, area.width, status_h);
        let hints = Rect::new(area.x, status.y.saturating_sub(hints_h), area.width, hints_h);
        let (documents, main_x) = if wide {
            let w = documents::list_width(app, area.width);
            (Panel::List(Rect::new(area.x, top, w, rows)), area.x + w)
        } else {
            (Panel::Bar(Rect::new(area.x, area.y, area.width, bar_h)), area.x)
        };
        let main_w = area.x + area.width - main_x;
        let content_w = main_w.saturating_sub(2);
        // Each pane: a title row plus content rows.
        let theirs_rows = adjudication::rows_wanted(app);
        let want = [
            1 + sentence::rows_wanted(app, content_w),
            if theirs_rows > 0 { 1 + theirs_rows } else { 0 },
            1 + match (&app.fine_tuning.run, app.fine_tuning.panel) {
                (Some(_), true) => training::ROWS,
                _ => relations::rows_wanted(app, content_w),
            },
            1 + inspector::rows_wanted(app),
        ];
        let least = [want[0].min(4), want[1].min(2), want[2].min(3), want[3].min(5)];
        let mut got = [0u16; 4];
        for target in [least, want] {
            for i in 0..4 {
                got[i] += take(&mut rows, target[i].saturating_sub(got[i]));
            }
        }
        // Spare rows: one of air under the sentence and the relations; on a large terminal,
        // up to a third for the neighbouring sentences, shown for context; the rest to the
        // inspector, whose empty rows then sit at the bottom of the screen.
        got[0] += take(&mut rows, 1);
        got[2] += take(&mut rows, 1);
        if area.width >= LARGE.0 && area.height >= LARGE.1 {
            let context = (rows / 3).min(CONTEXT_ROWS);
            got[0] += take(&mut rows, context);
        }
        got[3] += rows;
        let sentence = Rect::new(main_x, top, main_w, got[0]);
        let theirs = Rect::new(main_x, sentence.bottom(), main_w, got[1]);
        let relations = Rect::new(main_x, theirs.bottom(), main_w, got[2]);
        let inspector = Rect::new(main_x, relations.bottom(), main_w, got[3]);
        Screen { documents, sentence, theirs, relations, inspector, hints, status }
    }
}

/// Display width of `text` in terminal columns.
fn width(text: &str) -> usize {
    Span::raw(text).width()
}

/// Width of a list of spans.
fn spans_width(spans: &[Span<'_>]) -> usize {
    spans.iter().map(Span::width).sum()
}

/// Writes `text` at `(x, y)`, clipped to `area`; returns the column after it.
fn put(buf: &mut Buffer, area: Rect, x: u16, y: u16, text: &str, style: Style) -> u16 {
    if y < area.top() || y >= area.bottom() || x < area.left() || x >= area.right() {
        return x;
    }
    let max = usize::from(area.right() - x);
    buf.set_stringn(x, y, text, max, style).0
}

/// Writes spans one after the other from `(x, y)`, clipped to `area`; a line cut short ends
/// in `…`. Returns the column after the last one written.
fn put_spans(buf: &mut Buffer, area: Rect, x: u16, y: u16, spans: &[Span<'_>]) -> u16 {
    let total = spans_width(spans);
    let room = usize::from(area.right().saturating_sub(x));
    let mut at = x;
    if total <= room {
        for s in spans {
            at = put(buf, area, at, y, &s.content, s.style);
        }
        return at;
    }
    let mut left = room.saturating_sub(1);
    for s in spans {
        let text = clip(&s.content, left);
        left -= width(&text);
        at = put(buf, area, at, y, &text, s.style);
        if left == 0 {
            break;
        }
    }
    let style =
        spans.iter().rev().find(|s| !s.content.is_empty()).map_or(Style::new(), |s| s.style);
    put(buf, area, at, y, "…", style)
}

/// The longest prefix of `text` at most `max` columns wide.
fn clip(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = width(c.encode_utf8(&mut [0; 4]));
        if used + w > max {
            break;
        }
        used += w;
        out.push(c);
    }
    out
}

/// `text` cut to at most `max` columns, ending in `…` when cut.
fn fit(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    format!("{}…", clip(text, max - 1))
}

/// `text` cut to at most `max` columns by dropping its start (for paths): `…/data/a.json`.
fn fit_left(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let reversed: String = text.chars().rev().collect();
    let tail: String = clip(&reversed, max - 1).chars().rev().collect();
    format!("…{tail}")
}

/// `text` cut to at most `max` columns by dropping its middle: `Unive…icago`.
fn fit_middle(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    if max < 5 {
        return fit(text, max);
    }
    let head = clip(text, (max - 1).div_ceil(2));
    let tail = fit_left(text, max - width(&head));
    format!("{head}{tail}")
}

/// `text` word-wrapped to `max` columns (words longer than a line are cut).
fn wrap_text(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            let word = fit(word, max);
            if line.is_empty() {
                line = word;
            } else if width(&line) + 1 + width(&word) <= max {
                line.push(' ');
                line.push_str(&word);
            } else {
                lines.push(std::mem::replace(&mut line, word));
            }
        }
        lines.push(line);
    }
    lines
}

/// Draws a pane's title rule on the first row of `area`: `─ left ───── right ─`.
fn title_rule(buf: &mut Buffer, area: Rect, left: &[Span<'_>], right: &[Span<'_>], theme: &Theme) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let row = Rect::new(area.x, area.y, area.width, 1);
    put(buf, row, row.x, row.y, &"─".repeat(usize::from(row.width)), theme.border);
    let right_w = spans_width(right) as u16;
    // The right title only when it leaves the left one room.
    let show_right = right_w > 0 && right_w + 20 <= row.width;
    let left_end = if show_right { row.right() - right_w - 3 } else { row.right() };
    if left_end >= row.x + 4 {
        put(buf, row, row.x + 1, row.y, " ", theme.base);
        let text = Rect::new(row.x + 2, row.y, left_end - row.x - 3, 1);
        let end = put_spans(buf, text, text.x, row.y, left);
        put(buf, row, end, row.y, " ", theme.base);
    }
    if show_right {
        let x = row.right() - right_w - 2;
        put(buf, row, x - 1, row.y, " ", theme.base);
        put_spans(buf, row, x, row.y, right);
        put(buf, row, x + right_w, row.y, " ", theme.base);
    }
}

/// The content of a pane: below its title row, one column of margin each side.
fn content(area: Rect) -> Rect {
    Rect::new(
        area.x.saturating_add(1),
        area.y.saturating_add(1),
        area.width.saturating_sub(2),
        area.height.saturating_sub(1),
    )
}

/// `n` followed by `one` or `many`: "1 proposal", "2 proposals".
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A probability or contribution written compactly: `.93`, `1.00`.
fn decimal(value: f32, places: usize) -> String {
    let text = format!("{value:.places$}");
    match text.strip_prefix("0.") {
        Some(rest) => format!(".{rest}"),
        None => text,
    }
}

/// The colour index of an entity type: its place in the types file, else a stable guess.
fn type_index(app: &App, name: &str) -> usize {
    app.types.entity_index(name).unwrap_or_else(|| name.bytes().map(usize::from).sum::<usize>())
}

/// The short label of entity type `name`.
fn type_label(app: &App, name: &str) -> String {
    app.types
        .entity_index(name)
        .map(|i| app.types.entities[i].short.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_cut_to_width() {
        assert_eq!(fit("University", 5), "Univ…");
        assert_eq!(fit_left("data/people.json", 8), "…le.json");
        assert_eq!(fit_middle("University of Chicago", 11), "Unive…icago");
        assert_eq!(wrap_text("a bb ccc dddd", 6), vec!["a bb", "ccc", "dddd"]);
        assert_eq!(decimal(0.934, 2), ".93");
        assert_eq!(decimal(1.0, 2), "1.00");
    }
}
