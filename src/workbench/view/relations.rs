//! The relations of the sentence, one a line, in columns:
//!
//! ```text
//! ▸John Smith [Peop] → University of Chicago [Org]  Work_For  gold          “, who works for the”
//!  Mary Jones [Peop] ⇢ New York [Loc]               Live_In?  proposed .82  “in”
//! ```
//!
//! `→` a confirmed relation, `⇢` a proposal (whose type also gets a `?`), `↔` a symmetric
//! type. The words between head and tail follow where there is room, elided in the middle.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;

use super::{
    content, count, decimal, fit_middle, put, put_spans, spans_width, title_rule, type_index,
    type_label, width, wrap_text,
};
use crate::data::annotation::{self, relation_source, Item, Source};
use crate::data::{Relation, Sentence};
use crate::workbench::hits::{Hit, HitMap};
use crate::workbench::state::{App, LoadState, Mode};
use crate::workbench::theme::Theme;

/// One relation's columns.
struct Row<'a> {
    head: Vec<Span<'a>>,
    arrow: Span<'a>,
    tail: Vec<Span<'a>>,
    kind: Span<'a>,
    source: Span<'a>,
    context: String,
    selected: bool,
}

/// `Mary Jones [Peop]`, the text at most `max` columns.
fn entity<'a>(app: &App, s: &Sentence, i: usize, max: usize, theme: &Theme) -> Vec<Span<'a>> {
    let Some(e) = s.entities.get(i) else {
        return vec![Span::styled("(missing entity)", theme.error)];
    };
    let words = s.tokens.get(e.start..e.end).map(|w| w.join(" ")).unwrap_or_default();
    let style = theme.entity(type_index(app, &e.entity_type));
    vec![
        Span::styled(fit_middle(&words, max), style),
        Span::styled(format!(" [{}]", type_label(app, &e.entity_type)), theme.dim),
    ]
}

/// The words between the two entities, `None` when they touch or overlap.
fn between(s: &Sentence, r: &Relation) -> Option<String> {
    let (h, t) = (s.entities.get(r.head)?, s.entities.get(r.tail)?);
    let (from, to) = if h.end <= t.start { (h.end, t.start) } else { (t.end, h.start) };
    (from < to && to <= s.tokens.len()).then(|| s.tokens[from..to].join(" "))
}

fn row<'a>(app: &App, s: &Sentence, i: usize, max: usize, theme: &Theme) -> Row<'a> {
    let r = &s.relations[i];
    let source = relation_source(r);
    let proposal = source == Source::Model;
    let symmetric = app.types.relations.iter().any(|t| t.name == r.relation_type && t.symmetric);
    let arrow = match (symmetric, proposal) {
        (true, _) => "↔",
        (false, true) => "⇢",
        (false, false) => "→",
    };
    let mut kind = app
        .types
        .relation_index(&r.relation_type)
        .map(|k| app.types.relations[k].short.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| r.relation_type.clone());
    if proposal {
        kind.push('?');
    }
    let score =
        annotation::score(&r.extra).map(|p| format!(" {}", decimal(p, 2))).unwrap_or_default();
    let source_style = if proposal { theme.warn } else { theme.dim };
    let mut kind_style = theme.relation;
    if proposal {
        kind_style = kind_style.add_modifier(Modifier::ITALIC);
    }
    Row {
        head: entity(app, s, r.head, max, theme),
        arrow: Span::styled(arrow, theme.arrow),
        tail: entity(app, s, r.tail, max, theme),
        kind: Span::styled(kind, kind_style),
        source: Span::styled(format!("{}{score}", source.label()), source_style),
        context: between(s, r).unwrap_or_default(),
        selected: app.cursor.item == Some(Item::Relation(i)) && app.cursor.anchor.is_none(),
    }
}

/// The relation being made in link mode, as a row.
fn pending<'a>(
    app: &App,
    s: &Sentence,
    head: usize,
    tail: usize,
    max: usize,
    theme: &Theme,
) -> Row<'a> {
    Row {
        head: entity(app, s, head, max, theme),
        arrow: Span::styled("→", theme.arrow),
        tail: entity(app, s, tail, max, theme),
        kind: Span::styled("new", theme.relation.add_modifier(Modifier::BOLD)),
        source: Span::styled("Enter: pick its type", theme.dim),
        context: String::new(),
        selected: true,
    }
}

/// The width of the rows with their columns aligned (marker, head, arrow, tail, type, source).
fn aligned_width(rows: &[Row]) -> usize {
    let max = |f: &dyn Fn(&Row) -> usize| rows.iter().map(f).max().unwrap_or(0);
    1 + max(&|r| spans_width(&r.head))
        + 3
        + max(&|r| spans_width(&r.tail))
        + 2
        + max(&|r| r.kind.width())
        + 2
        + max(&|r| r.source.width())
}

fn pad<'a>(spans: &[Span<'a>], to: usize, style: Style) -> Vec<Span<'a>> {
    let mut out = spans.to_vec();
    let w = spans_width(spans);
    if w < to {
        out.push(Span::styled(" ".repeat(to - w), style));
    }
    out
}

/// Draws the relations pane.
pub(super) fn draw(buf: &mut Buffer, area: Rect, app: &App, theme: &Theme, hits: &mut HitMap) {
    if area.height == 0 {
        return;
    }
    let inner = content(area);
    let s = match (app.doc(), app.sentence()) {
        (Some(d), Some(s)) if d.load == LoadState::Loaded => s,
        _ => {
            title_rule(buf, area, &[Span::styled("Relations", theme.base)], &[], theme);
            return;
        }
    };
    let proposals = s.relations.iter().filter(|r| relation_source(r) == Source::Model).count();
    let mut title = vec![Span::styled(format!("Relations {}", s.relations.len()), theme.base)];
    if proposals > 0 {
        title.push(Span::styled(" · ", theme.dim));
        title.push(Span::styled(count(proposals, "proposed", "proposed"), theme.warn));
    }
    let mut right = Vec::new();
    if let Mode::Link { .. } = app.mode {
        right.push(Span::styled("new relation: choose its tail", theme.warn));
    }
    title_rule(buf, area, &title, &right, theme);
    let build = |cap: usize| {
        let mut rows: Vec<Row> = Vec::new();
        if let Mode::Link { head, tail } = app.mode {
            rows.push(pending(app, s, head, tail, cap, theme));
        }
        rows.extend((0..s.relations.len()).map(|i| row(app, s, i, cap, theme)));
        rows
    };
    // Entity texts are cut in the middle, as little as lets the columns fit.
    let room = usize::from(inner.width) + 1;
    let mut cap = usize::from(inner.width);
    let mut rows = build(cap);
    while aligned_width(&rows) > room && cap > 10 {
        cap = cap.saturating_sub((aligned_width(&rows) - room).div_ceil(2)).max(10);
        rows = build(cap);
    }
    if rows.is_empty() {
        put(
            buf,
            inner,
            inner.x,
            inner.y,
            "no relations · select an entity and press R to add one",
            theme.dim,
        );
        return;
    }
    let selected = rows.iter().position(|r| r.selected).unwrap_or(0);
    let height = usize::from(inner.height);
    let first = (selected + 1).saturating_sub(height);
    let head_w = rows.iter().map(|r| spans_width(&r.head)).max().unwrap_or(0);
    let tail_w = rows.iter().map(|r| spans_width(&r.tail)).max().unwrap_or(0);
    let kind_w = rows.iter().map(|r| r.kind.width()).max().unwrap_or(0);
    let source_w = rows.iter().map(|r| r.source.width()).max().unwrap_or(0);
    let aligned = aligned_width(&rows) <= room;
    let (hw, tw, kw) = if aligned { (head_w, tail_w, kind_w) } else { (0, 0, 0) };
    // What a row takes before its context.
    let used = |r: &Row| {
        let source = if aligned { source_w } else { r.source.width() };
        1 + spans_width(&r.head).max(hw)
            + 3
            + spans_width(&r.tail).max(tw)
            + 2
            + r.kind.width().max(kw)
            + 2
            + source
    };
    // A large pane gives a context that does not fit beside its relation the lines under
    // it, when every relation still fits.
    let below: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let beside = usize::from(inner.width).saturating_sub(used(r) + 4);
            if inner.width < LARGE_PANE || r.context.is_empty() || width(&r.context) + 2 <= beside {
                return Vec::new();
            }
            wrap_text(&format!("“{}”", r.context), usize::from(inner.width).saturating_sub(4))
        })
        .collect();
    let expanded = below.iter().any(|b| !b.is_empty())
        && rows.len() + below.iter().map(Vec::len).sum::<usize>() <= height;
    let mut y = inner.y;
    let first = if expanded { 0 } else { first };
    for (n, r) in rows.iter().enumerate().skip(first).take(height) {
        if y >= inner.bottom() {
            break;
        }
        let line = Rect::new(area.x, y, area.width, 1);
        // In link mode the first row is the relation being made.
        let relation = n.checked_sub(usize::from(matches!(app.mode, Mode::Link { .. })));
        if let Some(i) = relation {
            hits.push(line, Hit::Relation(i));
        }
        let base = if r.selected { theme.selection } else { theme.base };
        if r.selected {
            buf.set_style(line, theme.selection);
        }
        let gap = |n: usize| Span::styled(" ".repeat(n), base);
        let marker = Span::styled(if r.selected { "▸" } else { " " }, theme.warn);
        let mut spans = vec![marker];
        spans.extend(pad(&r.head, hw, base));
        spans.extend([gap(1), r.arrow.clone(), gap(1)]);
        spans.extend(pad(&r.tail, tw, base));
        spans.push(gap(2));
        spans.extend(pad(std::slice::from_ref(&r.kind), kw, base));
        spans.extend([gap(2), r.source.clone()]);
        let used = spans_width(&spans) + if aligned { source_w - r.source.width() } else { 0 };
        let room = usize::from(inner.width).saturating_sub(used + 4);
        let whole_below = expanded && !below[n].is_empty();
        if !r.context.is_empty() && room >= 8 && !whole_below {
            spans.push(gap(2 + if aligned { source_w - r.source.width() } else { 0 }));
            let snippet = format!("“{}”", fit_middle(&r.context, room - 2));
            spans.push(Span::styled(snippet, theme.dim.add_modifier(Modifier::ITALIC)));
        }
        let spans: Vec<Span> =
            spans.into_iter().map(|s| Span::styled(s.content, base.patch(s.style))).collect();
        // The marker goes in the margin, so the words line up with the sentence's.
        put_spans(buf, Rect::new(area.x, y, area.width.saturating_sub(1), 1), area.x, y, &spans);
        y += 1;
        if expanded {
            for text in &below[n] {
                let style = theme.dim.add_modifier(Modifier::ITALIC);
                put(buf, inner, inner.x + 3, y, text, style);
                if let Some(i) = relation {
                    hits.push(Rect::new(area.x, y, area.width, 1), Hit::Relation(i));
                }
                y += 1;
            }
        }
    }
}

/// From this pane width on, a relation's context that does not fit beside it is shown whole
/// on the lines under it.
const LARGE_PANE: u16 = 120;

/// Content rows the relations would like at `width` columns: one each, and on a large pane
/// roughly what their contexts need below them.
pub(super) fn rows_wanted(app: &App, width: u16) -> u16 {
    let pending = usize::from(matches!(app.mode, Mode::Link { .. }));
    let Some(s) = app.sentence() else { return 1 };
    let mut rows = s.relations.len() + pending;
    if width >= LARGE_PANE {
        // A context longer than half the pane rarely fits beside its relation.
        let half = usize::from(width) / 2;
        for r in &s.relations {
            let context = between(s, r).unwrap_or_default();
            if super::width(&context) > half {
                rows += wrap_text(&context, usize::from(width).saturating_sub(6)).len();
            }
        }
    }
    rows.max(1) as u16
}
