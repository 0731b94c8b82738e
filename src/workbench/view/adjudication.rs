//! The other annotator's layer (`annotate --compare OTHER`), under the sentence: one line per
//! span or argument pair they annotated or disputed, in italics, their labels beside the
//! reviewer's where the two differ:
//!
//! ```text
//! ─ Theirs: bob.json · 2 open here · 5 open of 7 ─────────────────
//!  ≠ Acme                   theirs Org        mine Loc
//!  ✓ John Smith → Acme      theirs Work_For   mine —        kept mine
//!  = John Smith             theirs Peop
//! ```
//!
//! `≠` an open disagreement (the selected one reversed), `✓` settled by keeping one's own, `=`
//! agreement, in that order.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;

use super::{content, count, fit_middle, put_spans, title_rule};
use crate::data::Sentence;
use crate::train::agreement::{relation_key, ItemKey};
use crate::workbench::adjudication::{counts, disputes_at, selected, theirs_of};
use crate::workbench::state::App;
use crate::workbench::theme::Theme;

/// The most lines the layer asks for; more scroll with the selected disagreement.
const MOST: usize = 6;

/// One line of the layer.
struct Line {
    key: ItemKey,
    words: String,
    theirs: Vec<String>,
    /// `Some(mine)` where the two disagree, with whether it is still open.
    dispute: Option<(Vec<String>, bool)>,
}

/// The lines of the cursor's sentence: their items in order, then what only the reviewer has.
fn lines(app: &App) -> Vec<Line> {
    let (d, s) = (app.cursor.doc, app.cursor.sentence);
    let (Some(theirs), Some(mine)) = (theirs_of(app, d, s), app.sentence()) else {
        return Vec::new();
    };
    let disputes = disputes_at(app, d, s);
    let mut out: Vec<Line> = Vec::new();
    let mut add = |key: ItemKey, label: Option<&str>, sentence: &Sentence| {
        if let Some(line) = out.iter_mut().find(|l| l.key == key) {
            if let Some(label) = label.filter(|l| !line.theirs.iter().any(|t| t == l)) {
                line.theirs.push(label.to_string());
            }
            return;
        }
        let dispute = disputes.iter().find(|(d, _)| d.key == key);
        out.push(Line {
            key,
            words: words(sentence, key),
            theirs: label.map(String::from).into_iter().collect(),
            dispute: dispute.map(|(d, open)| (d.a.clone(), *open)),
        });
    };
    for e in &theirs.entities {
        add(ItemKey::Entity((e.start, e.end)), Some(&e.entity_type), theirs);
    }
    for r in &theirs.relations {
        if let Some((h, t)) = relation_key(theirs, r, &app.types) {
            add(ItemKey::Relation(h, t), Some(&r.relation_type), theirs);
        }
    }
    for (d, _) in &disputes {
        if d.b.is_empty() {
            add(d.key, None, mine);
        }
    }
    // Open disagreements first, then settled ones, then agreement: what needs a decision is
    // on screen even when the layer has few rows.
    out.sort_by_key(|l| match l.dispute {
        Some((_, true)) => 0,
        Some((_, false)) => 1,
        None => 2,
    });
    out
}

fn words(s: &Sentence, key: ItemKey) -> String {
    let span = |(a, b): (usize, usize)| s.tokens.get(a..b).map(|w| w.join(" ")).unwrap_or_default();
    match key {
        ItemKey::Entity(e) => span(e),
        ItemKey::Relation(h, t) => {
            format!("{} → {}", fit_middle(&span(h), 16), fit_middle(&span(t), 16))
        }
    }
}

/// Content rows the layer would like (none without `--compare`).
pub(super) fn rows_wanted(app: &App) -> u16 {
    if app.compare.is_none() {
        return 0;
    }
    lines(app).len().clamp(1, MOST) as u16
}

/// Draws the layer in `area` (its first row the title rule).
pub(super) fn draw(buf: &mut Buffer, area: Rect, app: &App, theme: &Theme) {
    let Some(comparison) = &app.compare else { return };
    if area.height == 0 {
        return;
    }
    let lines = lines(app);
    let here = lines.iter().filter(|l| matches!(l.dispute, Some((_, true)))).count();
    let (open, all) = counts(app);
    let title = [Span::styled(format!("Theirs: {}", comparison.name), theme.base)];
    let right = [Span::styled(
        format!("{} here · {open} open of {all}", count(here, "open", "open")),
        if open > 0 { theme.warn } else { theme.ok },
    )];
    title_rule(buf, area, &title, &right, theme);
    let inner = content(area);
    let (d, s) = (app.cursor.doc, app.cursor.sentence);
    if theirs_of(app, d, s).is_none() {
        let note = "no sentence with these words in the other annotations";
        put_spans(buf, inner, inner.x, inner.y, &[Span::styled(note, theme.dim)]);
        return;
    }
    if lines.is_empty() {
        let note = "neither of you annotated anything here";
        put_spans(buf, inner, inner.x, inner.y, &[Span::styled(note, theme.dim)]);
        return;
    }
    let chosen = selected(app);
    let rows = usize::from(inner.height);
    let at = chosen.and_then(|k| lines.iter().position(|l| l.key == k)).unwrap_or(0);
    let skip = (at + 1).saturating_sub(rows);
    let words_w = lines.iter().map(|l| super::width(&l.words)).max().unwrap_or(0).min(36);
    // Their layer is in italics, so it never reads as the reviewer's own.
    let theirs_style = theme.base.add_modifier(Modifier::ITALIC);
    for (n, line) in lines.iter().skip(skip).take(rows).enumerate() {
        let y = inner.y + n as u16;
        let (mark, mark_style) = match &line.dispute {
            Some((_, true)) => ("≠", theme.warn),
            Some((_, false)) => ("✓", theme.ok),
            None => ("=", theme.dim),
        };
        let selected_line = chosen == Some(line.key);
        let base = if selected_line { theme.selection } else { Style::new() };
        let theirs = if line.theirs.is_empty() { "—".to_string() } else { line.theirs.join("/") };
        let mut spans = vec![
            Span::styled(format!("{mark} "), base.patch(mark_style)),
            Span::styled(
                format!("{:<words_w$}", fit_middle(&line.words, words_w)),
                base.patch(theirs_style),
            ),
            Span::styled(format!("  theirs {theirs:<10}"), base.patch(theirs_style)),
        ];
        if let Some((mine, open)) = &line.dispute {
            let mine = if mine.is_empty() { "—".to_string() } else { mine.join("/") };
            spans.push(Span::styled(format!("  mine {mine:<10}"), base.patch(theme.base)));
            if !open {
                spans.push(Span::styled("  kept mine", base.patch(theme.dim)));
            }
        }
        put_spans(buf, inner, inner.x, y, &spans);
    }
}
