//! The sentence: its words wrapped to the pane, and under each line of words one lane of
//! brackets per depth of overlapping entities, each bracket labelled with the entity's type.
//!
//! ```text
//!  John Smith , who works for the University of Chicago , met Mary Jones in New
//!  └─Peop───┘                                   └─Loc─┘       └─Peop───┘    ┗╍╍
//!                                 └─Org───────────────┘
//!  York yesterday .
//!  ╍╍╍┛Loc? .93
//!  └╌Other? .41╌┘
//! ```
//!
//! Confirmed entities (gold, accepted, corrected, manual) have solid brackets; the model's
//! proposals dashed ones, `╌`, and a `?` with the model's score (`Loc? .93`). The selected
//! entity has heavy brackets and a reversed label. An entity wrapped over two lines has a
//! bracket on each, open at the break. The pane scrolls to keep the cursor's line in view.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::Span;

use super::{content, count, decimal, put, title_rule, type_index, type_label, width, wrap_text};
use crate::data::annotation::{self, entity_source, Item, Source};
use crate::data::Sentence;
use crate::workbench::hits::{Hit, HitMap};
use crate::workbench::state::{App, LoadState, Mode};
use crate::workbench::theme::Theme;

/// Where one word is drawn: its line and its column and width in the pane.
#[derive(Debug, Clone, Copy)]
struct Place {
    line: usize,
    x: u16,
    w: u16,
}

/// One entity's bracket on one line of words.
#[derive(Debug, Clone)]
struct Bracket {
    entity: usize,
    line: usize,
    /// First column under the entity's words on this line.
    x0: u16,
    /// One past the last column under them.
    x1: u16,
    /// Whether the entity starts on this line (else the bracket is open at the left).
    starts: bool,
    /// Whether the entity ends on this line (else the bracket is open at the right).
    ends: bool,
    /// Where the label is written, and the label, on the line (of an entity spread over
    /// lines) that carries it.
    label: Option<(u16, String)>,
    /// The columns the bracket and its label take, for lane assignment.
    span: (u16, u16),
    /// The row under the words it is drawn on; `None` when every lane the pane can show is
    /// taken there (thousands of overlapping entities), and it is not drawn.
    lane: Option<usize>,
}

/// The words of a sentence laid out in a pane of some width.
struct Wrapped {
    places: Vec<Place>,
    brackets: Vec<Bracket>,
    /// Lanes under each line of words.
    lanes: Vec<usize>,
}

impl Wrapped {
    fn of(app: &App, s: &Sentence, width: u16) -> Wrapped {
        let places = wrap(&s.tokens, width.max(1));
        let lines = places.last().map_or(1, |p| p.line + 1);
        let mut brackets = Vec::new();
        for (i, e) in s.entities.iter().enumerate() {
            if e.start >= e.end || e.end > places.len() {
                continue;
            }
            let label = label(app, s, i);
            let mut pieces = Vec::new();
            for line in places[e.start].line..=places[e.end - 1].line {
                let words: Vec<usize> =
                    (e.start..e.end).filter(|&t| places[t].line == line).collect();
                let (Some(&a), Some(&b)) = (words.first(), words.last()) else { continue };
                let x1 = places[b].x + places[b].w;
                pieces.push((line, places[a].x, x1, a == e.start, b + 1 == e.end));
            }
            let spans: Vec<(u16, u16)> = pieces.iter().map(|p| (p.1, p.2)).collect();
            let at = label_places(&spans, width_of(&label) as u16, width);
            for ((line, x0, x1, starts, ends), label_x) in pieces.into_iter().zip(at) {
                let label = label_x.map(|x| (x, label.clone()));
                brackets.push(Bracket::new(i, line, (x0, x1), (starts, ends), label));
            }
        }
        let mut lanes = vec![0; lines];
        assign_lanes(&mut brackets, &mut lanes);
        Wrapped { places, brackets, lanes }
    }

    /// Rows each line of words takes: the words and their lanes.
    fn block_rows(&self) -> Vec<usize> {
        self.lanes.iter().map(|l| 1 + l).collect()
    }
}

impl Bracket {
    fn new(
        entity: usize,
        line: usize,
        (x0, x1): (u16, u16),
        (starts, ends): (bool, bool),
        label: Option<(u16, String)>,
    ) -> Bracket {
        let span = match &label {
            Some((x, text)) => (x0.min(*x), x1.max(x + width(text) as u16)),
            None => (x0, x1),
        };
        Bracket { entity, line, x0, x1, starts, ends, label, span, lane: None }
    }
}

/// Where the label goes on each piece `(x0, x1)` of one entity's bracket (one piece a line):
/// inside every piece it fits in (`└─Peop─┘`); when it fits in none, once, outside: after
/// the last piece (`└┘Loc`), else after another, else before the first.
fn label_places(pieces: &[(u16, u16)], label_w: u16, pane: u16) -> Vec<Option<u16>> {
    let inside = |&(x0, x1): &(u16, u16)| {
        let w = x1 - x0;
        if w >= label_w + 3 {
            Some(x0 + 2)
        } else if w >= label_w + 2 {
            Some(x0 + 1)
        } else {
            None
        }
    };
    let mut at: Vec<Option<u16>> = pieces.iter().map(inside).collect();
    if at.iter().any(Option::is_some) || pieces.is_empty() {
        return at;
    }
    let after = |p: &(u16, u16)| p.1 + label_w <= pane;
    let last = pieces.len() - 1;
    let (piece, x) = if after(&pieces[last]) {
        (last, pieces[last].1)
    } else if let Some(i) = pieces.iter().position(after) {
        (i, pieces[i].1)
    } else if pieces[0].0 >= label_w {
        (0, pieces[0].0 - label_w)
    } else {
        (last, pieces[last].1)
    };
    at[piece] = Some(x);
    at
}

/// Places words on lines of `width` columns, one space apart.
fn wrap(tokens: &[String], width: u16) -> Vec<Place> {
    let mut places = Vec::with_capacity(tokens.len());
    let (mut line, mut x) = (0, 0u16);
    for t in tokens {
        let w = width_of(t).min(usize::from(width)) as u16;
        if x > 0 && x + w > width {
            line += 1;
            x = 0;
        }
        places.push(Place { line, x, w });
        x = x.saturating_add(w + 1);
    }
    places
}

fn width_of(token: &str) -> usize {
    width(token).max(1)
}

/// Lanes under one line of words, at most: no pane shows more, and bounding them bounds the
/// time to draw any sentence, however many entities overlap (issue 22).
const MAX_LANES: usize = 40;

/// Gives each bracket the nearest lane to its line of words where it overlaps no other,
/// narrowest first, so nested entities sit inside the ones that contain them. A bracket that
/// finds no free lane among [`MAX_LANES`] is left out.
fn assign_lanes(brackets: &mut [Bracket], lanes: &mut [usize]) {
    let mut order: Vec<usize> = (0..brackets.len()).collect();
    order.sort_by_key(|&i| (brackets[i].span.1 - brackets[i].span.0, brackets[i].x0, i));
    // The spans already placed, by line and lane.
    let mut taken: Vec<Vec<Vec<(u16, u16)>>> = vec![Vec::new(); lanes.len()];
    for i in order {
        let (line, (a, b)) = (brackets[i].line, brackets[i].span);
        let on_line = &mut taken[line];
        // Touching brackets keep one column between them.
        let free = |spans: &Vec<(u16, u16)>| !spans.iter().any(|&(x0, x1)| x0 <= b && a <= x1);
        let lane = on_line.iter().position(free).or_else(|| {
            (on_line.len() < MAX_LANES).then(|| {
                on_line.push(Vec::new());
                on_line.len() - 1
            })
        });
        if let Some(lane) = lane {
            on_line[lane].push((a, b));
            lanes[line] = lanes[line].max(lane + 1);
        }
        brackets[i].lane = lane;
    }
}

/// The label of entity `i`: its type, and for a proposal `?` and the score. In link mode the
/// head gets `→` after it and the candidate tail `→` before it.
fn label(app: &App, s: &Sentence, i: usize) -> String {
    let e = &s.entities[i];
    let mut label = type_label(app, &e.entity_type);
    if entity_source(e) == Source::Model {
        label.push('?');
        if let Some(score) = annotation::score(&e.extra) {
            label.push(' ');
            label.push_str(&decimal(score, 2));
        }
    }
    match app.mode {
        Mode::Link { head, .. } if head == i => label.push('→'),
        Mode::Link { tail, .. } if tail == i => label.insert(0, '→'),
        _ => {}
    }
    label
}

/// Content rows the sentence would like at `width` columns.
pub(super) fn rows_wanted(app: &App, width: u16) -> u16 {
    match (app.doc(), app.sentence()) {
        (Some(d), Some(s)) if d.load == LoadState::Loaded => {
            let rows: usize = Wrapped::of(app, s, width).block_rows().iter().sum();
            rows.max(1) as u16
        }
        (Some(d), _) => match &d.load {
            LoadState::Failed(why) => 2 + wrap_text(why, usize::from(width)).len() as u16,
            LoadState::Loaded => {
                let lines =
                    d.problems.iter().take(50).map(|p| wrap_text(p, usize::from(width)).len());
                (1 + lines.sum::<usize>()).min(usize::from(u16::MAX)) as u16
            }
            _ => 1,
        },
        _ => 1,
    }
}

/// Whether entity `i` is emphasised: selected, or the head or tail of a relation being made.
fn emphasised(app: &App, i: usize) -> bool {
    match app.mode {
        Mode::Link { head, tail } => i == head || i == tail,
        _ => app.cursor.anchor.is_none() && app.cursor.item == Some(Item::Entity(i)),
    }
}

/// Draws the sentence pane.
pub(super) fn draw(buf: &mut Buffer, area: Rect, app: &App, theme: &Theme, hits: &mut HitMap) {
    if area.height == 0 {
        return;
    }
    let inner = content(area);
    let Some(doc) = app.doc() else {
        title_rule(buf, area, &[Span::styled("Sentence", theme.base)], &[], theme);
        put(buf, inner, inner.x, inner.y, "no documents open", theme.dim);
        return;
    };
    match &doc.load {
        LoadState::Loading => {
            title_rule(buf, area, &[Span::styled("Sentence", theme.base)], &[], theme);
            put(buf, inner, inner.x, inner.y, &format!("loading {}…", doc.name()), theme.dim);
            return;
        }
        LoadState::Failed(why) => {
            let title =
                [Span::styled("Sentence", theme.base), Span::styled(" · cannot open", theme.error)];
            title_rule(buf, area, &title, &[], theme);
            put(
                buf,
                inner,
                inner.x,
                inner.y,
                &format!("{} could not be read:", doc.name()),
                theme.error,
            );
            let lines = wrap_text(why, usize::from(inner.width));
            for (n, line) in lines.iter().enumerate() {
                put(buf, inner, inner.x, inner.y + 1 + n as u16, line, theme.base);
            }
            let hint = "Fix the file: it reloads when it changes. J / K: other documents.";
            put(buf, inner, inner.x, inner.y + 1 + lines.len() as u16, hint, theme.dim);
            return;
        }
        LoadState::Loaded => {}
    }
    let Some(s) = app.sentence() else {
        title_rule(buf, area, &[Span::styled("Sentence 0/0", theme.base)], &[], theme);
        if doc.problems.is_empty() {
            put(buf, inner, inner.x, inner.y, "this document has no sentences", theme.dim);
            return;
        }
        // Nothing readable: the reasons are all there is to show.
        let head = format!("no record of {} could be read:", doc.name());
        put(buf, inner, inner.x, inner.y, &head, theme.error);
        let mut y = inner.y + 1;
        for problem in &doc.problems {
            for line in wrap_text(problem, usize::from(inner.width)) {
                if y >= inner.y + inner.height {
                    return;
                }
                put(buf, inner, inner.x, y, &line, theme.base);
                y += 1;
            }
        }
        return;
    };
    let wrapped = Wrapped::of(app, s, inner.width);
    let blocks = wrapped.block_rows();
    let inner = context(buf, inner, app, blocks.iter().sum(), theme, hits);
    let cursor_line = wrapped.places.get(app.cursor.token).map_or(0, |p| p.line);
    // Scroll by whole lines, as little as keeps the cursor's line (with its lanes) in view.
    let mut first = 0;
    while first < cursor_line
        && blocks[first..=cursor_line].iter().sum::<usize>() > usize::from(inner.height)
    {
        first += 1;
    }
    let mut shown = 0;
    let mut rows = 0;
    for b in &blocks[first..] {
        if rows + b > usize::from(inner.height) && shown > 0 {
            break;
        }
        rows += b;
        shown += 1;
    }
    let mut note = scroll_note(first, shown, blocks.len(), theme);
    let mut hidden: Vec<usize> =
        wrapped.brackets.iter().filter(|b| b.lane.is_none()).map(|b| b.entity).collect();
    hidden.dedup();
    if !hidden.is_empty() {
        note.push(Span::styled(format!(" {} overlapping not drawn ", hidden.len()), theme.dim));
    }
    title_rule(buf, area, &title(app, s, theme), &note, theme);
    let mut y = inner.y;
    for (line, rows) in blocks.iter().enumerate().skip(first).take(shown) {
        draw_words(buf, inner, y, line, &wrapped, app, s, theme);
        for (token, place) in wrapped.places.iter().enumerate().filter(|(_, p)| p.line == line) {
            let (doc, sentence) = (app.cursor.doc, app.cursor.sentence);
            let at = Rect::new(inner.x + place.x, y, place.w, 1).intersection(inner);
            hits.push(at, Hit::Word { doc, sentence, token });
        }
        for b in wrapped.brackets.iter().filter(|b| b.line == line) {
            if let Some(lane) = b.lane {
                let row = y + 1 + lane as u16;
                draw_bracket(buf, inner, row, b, app, s, theme);
                let at = Rect::new(inner.x + b.span.0, row, b.span.1 - b.span.0, 1);
                hits.push(at.intersection(inner), Hit::Entity(b.entity));
            }
        }
        y += *rows as u16;
    }
}

/// Spare rows (beyond the sentence's own and a row of air each side) from which the
/// neighbouring sentences are shown for context; the screen gives that many only to large
/// terminals.
const CONTEXT_SPARE: usize = 4;

/// A line of a neighbouring sentence: its index and its words with their places.
type ContextLine = (usize, Vec<(usize, Place)>);

/// Draws the sentences before the current one above it and those after it below, dimmed, when
/// the pane has [`CONTEXT_SPARE`] rows more than the sentence needs; returns the rows left for
/// the sentence itself. Their words can be clicked like the sentence's.
fn context(
    buf: &mut Buffer,
    inner: Rect,
    app: &App,
    needed: usize,
    theme: &Theme,
    hits: &mut HitMap,
) -> Rect {
    let spare = usize::from(inner.height).saturating_sub(needed);
    let Some(doc) = app.doc().filter(|_| spare >= CONTEXT_SPARE) else { return inner };
    let here = app.cursor.sentence;
    let lines_of = |sentence: usize| -> Vec<ContextLine> {
        let places = wrap(&doc.sentences[sentence].tokens, inner.width.max(1));
        let mut lines: Vec<ContextLine> = Vec::new();
        for (t, p) in places.into_iter().enumerate() {
            if lines.len() <= p.line {
                lines.push((sentence, Vec::new()));
            }
            lines[p.line].1.push((t, p));
        }
        lines
    };
    let above_rows = (spare - 2) / 2;
    let below_rows = spare - 2 - above_rows;
    // The nearest sentences first, until the rows are full.
    let mut above: Vec<ContextLine> = Vec::new();
    for sentence in (0..here).rev() {
        if above.len() >= above_rows {
            break;
        }
        let mut lines = lines_of(sentence);
        let keep = lines.len().min(above_rows - above.len());
        above.splice(0..0, lines.drain(lines.len() - keep..));
    }
    let mut below: Vec<ContextLine> = Vec::new();
    for sentence in here + 1..doc.sentences.len() {
        if below.len() >= below_rows {
            break;
        }
        below.extend(lines_of(sentence).into_iter().take(below_rows - below.len()));
    }
    let mut draw = |lines: &[ContextLine], y: u16| {
        for (row, (sentence, words)) in lines.iter().enumerate() {
            let tokens = &doc.sentences[*sentence].tokens;
            for &(token, p) in words {
                let (x, y) = (inner.x + p.x, y + row as u16);
                put(buf, inner, x, y, &super::fit(&tokens[token], usize::from(p.w)), theme.dim);
                let at = Rect::new(x, y, p.w, 1).intersection(inner);
                hits.push(at, Hit::Word { doc: app.cursor.doc, sentence: *sentence, token });
            }
        }
    };
    let mut top = inner.y;
    if !above.is_empty() {
        draw(&above, top);
        top += above.len() as u16 + 1;
    }
    draw(&below, top + needed as u16 + 1);
    Rect::new(inner.x, top, inner.width, inner.bottom() - top)
}

/// The title: sentence number, reviewed or not, proposals left, and what is going on.
fn title<'a>(app: &App, s: &Sentence, theme: &Theme) -> Vec<Span<'a>> {
    let doc = app.doc().expect("a document is open");
    let mut spans = vec![Span::styled(
        format!("Sentence {}/{}", app.cursor.sentence + 1, doc.sentences.len()),
        theme.base.add_modifier(Modifier::BOLD),
    )];
    let dot = || Span::styled(" · ", theme.dim);
    spans.push(dot());
    if annotation::is_reviewed(s) {
        spans.push(Span::styled("✓ reviewed", theme.ok));
    } else {
        spans.push(Span::styled("not reviewed", theme.dim));
    }
    let proposals = s.entities.iter().filter(|e| entity_source(e) == Source::Model).count()
        + s.relations.iter().filter(|r| annotation::relation_source(r) == Source::Model).count();
    spans.push(dot());
    if proposals == 0 {
        spans.push(Span::styled("no proposals left", theme.dim));
    } else {
        spans.push(Span::styled(
            format!("{} left", count(proposals, "proposal", "proposals")),
            theme.warn,
        ));
    }
    if doc.sentences.is_edited(app.cursor.sentence) {
        spans.extend([dot(), Span::styled("● edited", theme.warn)]);
    }
    if doc.predicting.contains(&app.cursor.sentence) {
        spans.extend([dot(), Span::styled("predicting…", theme.dim)]);
    }
    if !doc.problems.is_empty() || doc.locked.is_some() {
        spans.extend([dot(), Span::styled("read-only", theme.warn)]);
    }
    spans
}

/// `lines 2–4 of 6` when not every line is in view.
fn scroll_note<'a>(first: usize, shown: usize, lines: usize, theme: &Theme) -> Vec<Span<'a>> {
    if first == 0 && shown == lines {
        return Vec::new();
    }
    let arrows = match (first > 0, first + shown < lines) {
        (true, true) => "↕",
        (true, false) => "↑",
        _ => "↓",
    };
    vec![Span::styled(
        format!("{arrows} lines {}–{} of {lines}", first + 1, first + shown),
        theme.dim,
    )]
}

/// The innermost entity over word `t` (the narrowest), if any.
fn innermost(s: &Sentence, t: usize) -> Option<usize> {
    s.entities
        .iter()
        .enumerate()
        .filter(|(_, e)| e.start <= t && t < e.end)
        .min_by_key(|(i, e)| (e.width(), *i))
        .map(|(i, _)| i)
}

#[allow(clippy::too_many_arguments)]
fn draw_words(
    buf: &mut Buffer,
    inner: Rect,
    y: u16,
    line: usize,
    wrapped: &Wrapped,
    app: &App,
    s: &Sentence,
    theme: &Theme,
) {
    let (range_start, range_end) = app.cursor.range();
    let in_range = |t: usize| app.cursor.anchor.is_some() && range_start <= t && t < range_end;
    for (t, place) in wrapped.places.iter().enumerate().filter(|(_, p)| p.line == line) {
        let mut style = theme.base;
        if let Some(i) = innermost(s, t) {
            let e = &s.entities[i];
            style = style.patch(theme.entity(type_index(app, &e.entity_type)));
            if entity_source(e) == Source::Model {
                style = style.add_modifier(Modifier::ITALIC);
            }
        }
        let owner = s
            .entities
            .iter()
            .enumerate()
            .any(|(i, e)| e.start <= t && t < e.end && emphasised(app, i));
        if owner {
            style = style.add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
        }
        if in_range(t) {
            style = style.patch(theme.selection);
            if in_range(t + 1) && wrapped.places.get(t + 1).is_some_and(|p| p.line == line) {
                put(buf, inner, inner.x + place.x + place.w, y, " ", theme.selection);
            }
        }
        if t == app.cursor.token {
            style = style.patch(theme.cursor);
        }
        let text = super::fit(&s.tokens[t], usize::from(place.w));
        put(buf, inner, inner.x + place.x, y, &text, style);
    }
}

fn draw_bracket(
    buf: &mut Buffer,
    inner: Rect,
    y: u16,
    b: &Bracket,
    app: &App,
    s: &Sentence,
    theme: &Theme,
) {
    let e = &s.entities[b.entity];
    let proposal = entity_source(e) == Source::Model;
    let strong = emphasised(app, b.entity);
    let (line, left, right) = match (strong, proposal) {
        (false, false) => ('─', '└', '┘'),
        (false, true) => ('╌', '└', '┘'),
        (true, false) => ('━', '┗', '┛'),
        (true, true) => ('╍', '┗', '┛'),
    };
    let glyphs: String = (b.x0..b.x1)
        .map(|x| match (x == b.x0 && b.starts, x + 1 == b.x1 && b.ends) {
            (true, _) => left,
            (false, true) => right,
            _ => line,
        })
        .collect();
    let colour = theme.entity(type_index(app, &e.entity_type));
    let bracket_style = if theme.colourless { theme.dim } else { colour };
    put(buf, inner, inner.x + b.x0, y, &glyphs, bracket_style);
    let mut label_style = colour.add_modifier(Modifier::BOLD);
    if strong {
        label_style = label_style.add_modifier(Modifier::REVERSED);
    }
    if proposal && !strong {
        label_style = label_style.add_modifier(Modifier::ITALIC);
    }
    if let Some((x, label)) = &b.label {
        put(buf, inner, inner.x + x, y, label, label_style);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bracket(x0: u16, x1: u16, label: &str) -> Bracket {
        let at = label_places(&[(x0, x1)], width(label) as u16, 80)[0];
        Bracket::new(0, 0, (x0, x1), (true, true), at.map(|x| (x, label.to_string())))
    }

    #[test]
    fn labels_go_inside_when_they_fit_else_after() {
        assert_eq!(bracket(0, 10, "Peop").label, Some((2, "Peop".into())));
        assert_eq!(bracket(0, 6, "Peop").label, Some((1, "Peop".into())));
        let b = bracket(4, 6, "Loc");
        assert_eq!((b.label.unwrap().0, b.span), (6, (4, 9)));
        // Near the right edge, before it.
        assert_eq!(bracket(78, 80, "Loc").label.unwrap().0, 75);
    }

    #[test]
    fn a_wrapped_entity_is_labelled_once_when_the_label_fits_in_no_piece() {
        // "New" at the end of line one, "York" at the start of line two.
        assert_eq!(label_places(&[(75, 78), (0, 4)], 8, 78), vec![None, Some(4)]);
        assert_eq!(label_places(&[(0, 20), (0, 4)], 8, 78), vec![Some(2), None]);
    }

    #[test]
    fn nested_and_overlapping_brackets_get_their_own_lanes() {
        let mut brackets =
            vec![bracket(0, 20, "Org"), bracket(12, 20, "Loc"), bracket(22, 30, "Peop")];
        brackets[2].entity = 2;
        let mut lanes = vec![0];
        assign_lanes(&mut brackets, &mut lanes);
        let got: Vec<Option<usize>> = brackets.iter().map(|b| b.lane).collect();
        assert_eq!(got, vec![Some(1), Some(0), Some(0)]);
        assert_eq!(lanes, vec![2]);
    }

    #[test]
    fn thousands_of_overlapping_brackets_take_a_bounded_number_of_lanes() {
        // 10,000 entities over the same words: once froze the workbench for minutes.
        let mut brackets: Vec<Bracket> = (0..10_000).map(|_| bracket(0, 20, "Org")).collect();
        let mut lanes = vec![0];
        assign_lanes(&mut brackets, &mut lanes);
        assert_eq!(lanes, vec![MAX_LANES]);
        let drawn = brackets.iter().filter(|b| b.lane.is_some()).count();
        assert_eq!(drawn, MAX_LANES);
    }

    #[test]
    fn words_wrap_one_space_apart() {
        let tokens: Vec<String> = ["aaa", "bb", "cccc"].iter().map(|s| s.to_string()).collect();
        let places = wrap(&tokens, 7);
        let got: Vec<(usize, u16)> = places.iter().map(|p| (p.line, p.x)).collect();
        assert_eq!(got, vec![(0, 0), (0, 4), (1, 0)]);
    }
}
