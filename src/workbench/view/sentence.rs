//! The sentence pane: words wrapped to the width, and under each line the entity brackets
//! with their type labels, in lanes so nested and overlapping spans all stay visible.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::Frame;
use unicode_segmentation::UnicodeSegmentation;

use super::{fit, inner, pane, styled};
use crate::data::Sentence;
use crate::workbench::annotation::{self, is_reviewed, Item, Source};
use crate::workbench::state::{App, LoadState, Mode};
use crate::workbench::theme::Theme;

/// Display width of a word (grapheme count; good enough for the scripts of our corpora).
fn width(word: &str) -> usize {
    word.graphemes(true).count().max(1)
}

/// A word placed on a wrapped line.
struct Placed {
    word: usize,
    x: usize,
    width: usize,
}

/// Words wrapped into lines of at most `cols` columns, one space apart.
fn wrap(tokens: &[String], cols: usize) -> Vec<Vec<Placed>> {
    let mut lines: Vec<Vec<Placed>> = vec![Vec::new()];
    let mut x = 0;
    for (word, token) in tokens.iter().enumerate() {
        let w = width(token).min(cols.max(1));
        if x > 0 && x + w > cols {
            lines.push(Vec::new());
            x = 0;
        }
        lines.last_mut().expect("one line at least").push(Placed { word, x, width: w });
        x += w + 1;
    }
    lines
}

/// One entity's piece on one line: columns `[x0, x1)`, whether it starts and ends here.
struct Segment {
    entity: usize,
    x0: usize,
    x1: usize,
    starts: bool,
    ends: bool,
    label: String,
}

fn label(s: &Sentence, i: usize) -> String {
    let e = &s.entities[i];
    match annotation::entity_source(e) {
        Source::Model => match annotation::score(&e.extra) {
            Some(p) if p >= 0.995 => format!("{}?1", e.entity_type),
            Some(p) => format!("{}?{}", e.entity_type, format!("{p:.2}").trim_start_matches('0')),
            None => format!("{}?", e.entity_type),
        },
        _ => e.entity_type.clone(),
    }
}

fn segments(s: &Sentence, line: &[Placed]) -> Vec<Segment> {
    let (Some(first), Some(last)) = (line.first(), line.last()) else { return Vec::new() };
    let mut out = Vec::new();
    for (i, e) in s.entities.iter().enumerate() {
        if e.end <= first.word || e.start > last.word || e.start >= e.end {
            continue;
        }
        let inside: Vec<&Placed> =
            line.iter().filter(|p| p.word >= e.start && p.word < e.end).collect();
        let (Some(a), Some(b)) = (inside.first(), inside.last()) else { continue };
        out.push(Segment {
            entity: i,
            x0: a.x,
            x1: b.x + b.width,
            starts: e.start >= first.word,
            ends: e.end <= last.word + 1,
            label: label(s, i),
        });
    }
    out
}

/// Whether the label fits inside the bracket (`└─Org─┘`); otherwise it follows it (`└┘Org`).
fn label_inside(s: &Segment) -> bool {
    s.x1 - s.x0 >= s.label.chars().count() + 2
}

/// The column after the segment's bracket and label.
fn label_end(s: &Segment) -> usize {
    if label_inside(s) || !s.starts {
        s.x1
    } else {
        s.x1 + s.label.chars().count()
    }
}

/// Lanes for the segments of a line: short spans nearest the words, each lane free of
/// overlaps (a label wider than its span reserves the room it needs).
fn lanes(segments: &[Segment]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..segments.len()).collect();
    order.sort_by_key(|&i| (segments[i].x1 - segments[i].x0, segments[i].x0));
    let mut lanes: Vec<Vec<usize>> = Vec::new();
    let footprint = |s: &Segment| (s.x0, label_end(s) + 1);
    for i in order {
        let (a0, a1) = footprint(&segments[i]);
        let lane = lanes.iter().position(|lane| {
            lane.iter().all(|&j| {
                let (b0, b1) = footprint(&segments[j]);
                a1 <= b0 || b1 <= a0
            })
        });
        match lane {
            Some(l) => lanes[l].push(i),
            None => lanes.push(vec![i]),
        }
    }
    lanes
}

fn type_index(app: &App, ty: &str) -> usize {
    app.types.entity_index(ty).unwrap_or_else(|| ty.bytes().map(usize::from).sum())
}

/// Draws the pane.
pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(doc) = app.doc() else {
        frame.render_widget(pane(Line::from(" No documents "), theme), area);
        return;
    };
    let sentence = app.sentence();
    let title = match (&doc.load, sentence) {
        (LoadState::Loaded, Some(s)) => {
            let proposals =
                s.entities.iter().filter(|e| annotation::entity_source(e) == Source::Model).count()
                    + s.relations
                        .iter()
                        .filter(|r| annotation::relation_source(r) == Source::Model)
                        .count();
            let mut spans = vec![styled(
                format!(
                    " {} · sentence {}/{} · ",
                    doc.name(),
                    app.cursor.sentence + 1,
                    doc.sentences.len()
                ),
                theme.base(),
            )];
            if is_reviewed(s) {
                spans.push(styled(
                    "✓ reviewed",
                    theme.level(crate::workbench::state::Level::Info).add_modifier(Modifier::BOLD),
                ));
            } else {
                spans.push(styled("not reviewed", theme.dimmed()));
            }
            if proposals > 0 {
                spans.push(styled(
                    format!(" · {proposals} to review"),
                    theme.level(crate::workbench::state::Level::Warning),
                ));
            }
            if doc.predicting.contains(&app.cursor.sentence) {
                spans.push(styled(" · predicting…", theme.dimmed()));
            }
            spans.push(Span::raw(" "));
            Line::from(spans)
        }
        _ => Line::from(format!(" {} ", doc.name())),
    };
    let block = pane(title, theme);
    let body = inner(area);
    frame.render_widget(block, area);
    let lines = match (&doc.load, sentence) {
        (LoadState::Loading, _) => vec![Line::from(styled("loading…", theme.dimmed()))],
        (LoadState::Failed(why), _) => wrap_text(
            &format!("This document could not be opened: {why}"),
            body.width as usize,
            theme.level(crate::workbench::state::Level::Error),
        ),
        (LoadState::Loaded, None) => {
            vec![Line::from(styled("This document has no sentences.", theme.dimmed()))]
        }
        (LoadState::Loaded, Some(s)) => sentence_lines(app, s, body.width as usize, theme),
    };
    let cursor_row =
        lines.iter().position(|l| l.style.add_modifier.contains(Modifier::SLOW_BLINK)).unwrap_or(0);
    let height = body.height as usize;
    let top = if cursor_row + 2 > height { cursor_row + 2 - height } else { 0 };
    for (row, line) in lines.into_iter().skip(top).take(height).enumerate() {
        let mut line = line;
        line.style = Style::default();
        let r = Rect { y: body.y + row as u16, height: 1, ..body };
        frame.render_widget(line, r);
    }
}

fn wrap_text(text: &str, cols: usize, style: Style) -> Vec<Line<'static>> {
    let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    wrap(&words, cols)
        .into_iter()
        .map(|line| {
            Line::from(styled(
                line.iter().map(|p| words[p.word].as_str()).collect::<Vec<_>>().join(" "),
                style,
            ))
        })
        .collect()
}

/// The rendered lines: each text line followed by its lanes. The line holding the cursor is
/// marked (with a modifier the caller strips) so the pane can scroll to it.
fn sentence_lines(app: &App, s: &Sentence, cols: usize, theme: &Theme) -> Vec<Line<'static>> {
    let cols = cols.max(4);
    let (range_lo, range_hi) = app.cursor.range();
    let in_range = |w: usize| app.cursor.anchor.is_some() && w >= range_lo && w < range_hi;
    let selected = match app.cursor.item {
        Some(Item::Entity(i)) => Some(i),
        Some(Item::Relation(r)) => s.relations.get(r).map(|r| r.head),
        None => None,
    };
    let (link_head, link_tail) = match app.mode {
        Mode::Link { head, tail } => (Some(head), Some(tail)),
        _ => (None, None),
    };
    let relation_tail = match app.cursor.item {
        Some(Item::Relation(r)) => s.relations.get(r).map(|r| r.tail),
        _ => None,
    };
    let mut out = Vec::new();
    for line in wrap(&s.tokens, cols) {
        // The words, coloured by the innermost entity that holds them.
        let mut spans: Vec<Span> = Vec::new();
        let mut x = 0;
        let mut has_cursor = false;
        for p in &line {
            if p.x > x {
                let gap_in_range = in_range(p.word) && p.word > range_lo;
                spans.push(styled(
                    " ".repeat(p.x - x),
                    if gap_in_range { theme.selected() } else { Style::default() },
                ));
            }
            let innermost = s
                .entities
                .iter()
                .enumerate()
                .filter(|(_, e)| e.start <= p.word && p.word < e.end)
                .min_by_key(|(_, e)| e.end - e.start);
            let mut style = match innermost {
                Some((_, e)) => theme.entity(type_index(app, &e.entity_type)),
                None => Style::default(),
            };
            if let Some((i, e)) = innermost {
                if annotation::entity_source(e) != Source::Model {
                    style = style.add_modifier(Modifier::BOLD);
                }
                if Some(i) == selected
                    || Some(i) == link_head
                    || Some(i) == link_tail
                    || Some(i) == relation_tail
                {
                    style = style.add_modifier(Modifier::UNDERLINED);
                }
            }
            if in_range(p.word) {
                style = style.patch(theme.selected());
            }
            if p.word == app.cursor.token {
                style = style.add_modifier(Modifier::REVERSED);
                has_cursor = true;
            }
            spans.push(styled(fit(&s.tokens[p.word], p.width), style));
            x = p.x + p.width;
        }
        let mut text = Line::from(spans);
        if has_cursor {
            text.style = Style::default().add_modifier(Modifier::SLOW_BLINK);
        }
        out.push(text);
        // The brackets, lane by lane.
        let segs = segments(s, &line);
        for lane in lanes(&segs) {
            let mut cells: Vec<(char, Style)> = vec![(' ', Style::default()); cols];
            for &k in &lane {
                let seg = &segs[k];
                let e = &s.entities[seg.entity];
                let proposal = annotation::entity_source(e) == Source::Model;
                let mut style = theme.entity(type_index(app, &e.entity_type));
                let emphasised = Some(seg.entity) == selected
                    || Some(seg.entity) == link_tail
                    || Some(seg.entity) == relation_tail
                    || Some(seg.entity) == link_head;
                if emphasised {
                    style = style.add_modifier(Modifier::BOLD | Modifier::REVERSED);
                } else if proposal && theme.color {
                    style = style.add_modifier(Modifier::DIM);
                }
                let dash = if proposal { '╌' } else { '─' };
                for (c, cell) in cells.iter_mut().enumerate().take(seg.x1.min(cols)).skip(seg.x0) {
                    let ch = if c == seg.x0 && seg.starts {
                        '└'
                    } else if c + 1 == seg.x1 && seg.ends {
                        '┘'
                    } else {
                        dash
                    };
                    *cell = (ch, style);
                }
                if seg.starts || label_inside(seg) {
                    let mut name = seg.label.clone();
                    if Some(seg.entity) == link_head {
                        name = format!("head:{name}");
                    } else if Some(seg.entity) == link_tail {
                        name = format!("tail?:{name}");
                    }
                    let at = if label_inside(seg) { seg.x0 + 1 } else { seg.x1 };
                    for (k, ch) in name.chars().enumerate() {
                        if let Some(cell) = cells.get_mut(at + k) {
                            *cell = (ch, style);
                        }
                    }
                }
            }
            let spans: Vec<Span> =
                cells.into_iter().map(|(ch, st)| styled(ch.to_string(), st)).collect();
            out.push(Line::from(spans));
        }
    }
    if s.tokens.is_empty() {
        out.push(Line::from(styled("(no words)", theme.dimmed())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_wrap_at_the_width() {
        let tokens: Vec<String> =
            ["aa", "bbb", "c", "dddd"].iter().map(|s| s.to_string()).collect();
        let lines = wrap(&tokens, 7);
        let words: Vec<Vec<usize>> =
            lines.iter().map(|l| l.iter().map(|p| p.word).collect()).collect();
        assert_eq!(words, vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn overlapping_spans_get_separate_lanes() {
        let mut s =
            Sentence::from_tokens(["a", "b", "c", "d"].iter().map(|t| t.to_string()).collect());
        s.entities = vec![
            crate::data::Entity::new("X", 0, 2),
            crate::data::Entity::new("Y", 1, 3),
            crate::data::Entity::new("Z", 3, 4),
        ];
        let line = wrap(&s.tokens, 40).remove(0);
        let segs = segments(&s, &line);
        let lanes = lanes(&segs);
        assert_eq!(lanes.len(), 2);
    }
}
