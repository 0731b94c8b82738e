//! The inspector's causal views: what the prediction depends on, by masking heads.
//!
//! ```text
//! ─ Inspector · “Amara Okafor” · words 2–3 · importance ─────── model: Peop .58 ─
//!    H 1   3   5   7   9   11    top heads       P(type)
//!   L1                           1 L3·H9 .412    none  ▍        .31
//!  |∂s/∂ξ| 0 ░░▒▒ .206 ▓▓██ .412
//!  Dr. Amara Okafor , who works for the Lagos Port Authority , lives in Ikoyi .
//!  words +Okafor .82  +Amara .40  −who .05
//!  masked words «Okafor» · P(Peop) .58 → .20 · flips Peop → none
//!  what if · masked L3·H9 (encoder): P(Peop) .58 → .09 · flips Peop → none
//!  flip set (encoder): masking L3·H9 flips Peop → none
//! ```
//!
//! Importance is |∂score/∂ξ| per head; the ablation view's grid is P(label) with each head
//! masked alone (`!` where that flips the prediction), with the what-if panel beside it. Both
//! scales start at 0. Words are shaded by their integrated gradient: green pushed the score
//! up, red pulled it down, dim ones hardly matter. The words `w` masked with `[MASK]` are
//! struck through (the line under the top words says what that did) and the word cursor is
//! reversed while the inspector has the keys; struck through rather than replaced, so the
//! sentence still reads. Where the lines below the grid do not all fit, the masked words'
//! result is kept before the heads' what-if, and the hint to mask one only fills spare room.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;

use super::grid::{self, head_name, layer_window, value, Grid};
use super::inspector::{cursor, probabilities, reading_title, top_heads, MARKED};
use super::{content, decimal, put, put_spans, title_rule, width, wrap_text};
use crate::explain::prediction::{Mode as MaskMode, Reading, Target};
use crate::explain::{Head, WordAttributions};
use crate::workbench::keymap::{InspectAction, KeyTable, INSPECT};
use crate::workbench::state::{App, InspectorView, Mode, ModelStatus};
use crate::workbench::theme::Theme;
use crate::worker::explanation::{Explanation, Masked};

/// Writes `text` wrapped from the top of `inner`.
pub(super) fn say(buf: &mut Buffer, inner: Rect, text: &str, style: Style) {
    for (n, line) in wrap_text(text, usize::from(inner.width)).iter().enumerate() {
        put(buf, inner, inner.x, inner.y + n as u16, line, style);
    }
}

/// Draws the importance or the ablation view under `title`.
pub(super) fn draw(
    buf: &mut Buffer,
    area: Rect,
    app: &App,
    mut title: Vec<Span<'static>>,
    theme: &Theme,
) {
    let inner = content(area);
    let i = &app.inspector;
    let ModelStatus::Ready(info) = &app.model else { return };
    let Some(e) = &i.explanation else {
        title_rule(buf, area, &title, &[], theme);
        let (text, style) = match &i.explain_error {
            Some(why) => (format!("the model cannot explain this: {why}"), theme.error),
            None => ("computing…".to_string(), theme.dim),
        };
        return say(buf, inner, &text, style);
    };
    let (layers, heads) = (info.layers, info.heads);
    let importance = i.view == InspectorView::Importance;
    // Below the grid: its legend, then the words and the what-if lines as far as they fit;
    // the masked words take a grid row only once a word is masked (their hint, spare room).
    let extras_wanted: u16 = if importance { 4 } else { 2 } + u16::from(!i.masked_words.is_empty());
    let least_rows = layers.min(4) as u16;
    let extras = extras_wanted.min(inner.height.saturating_sub(2 + least_rows));
    let rows = inner.height.saturating_sub(2 + extras);
    let sweep = e.sweep.as_ref().filter(|s| s.mode == i.mode);
    let values: Option<&[f32]> = if importance {
        e.importance.as_ref().map(|g| g.values.as_slice())
    } else {
        sweep.map(|s| s.probability.values.as_slice())
    };
    let marks: Vec<(Head, char)> = match (importance, &e.importance, sweep) {
        (true, Some(g), _) => g
            .ranked()
            .into_iter()
            .take(MARKED)
            .enumerate()
            .map(|(rank, (h, _))| (h, char::from(b'1' + rank as u8)))
            .collect(),
        (false, _, Some(s)) => (0..s.flips.len())
            .filter(|&n| s.flips[n])
            .map(|n| (Head { layer: n / heads, head: n % heads }, '!'))
            .collect(),
        _ => Vec::new(),
    };
    let top = match values {
        Some(v) if importance => v.iter().copied().fold(0.0, f32::max),
        _ => 1.0,
    };
    let g = Grid {
        heads,
        values: values.unwrap_or(&[]),
        top,
        marks,
        cursor: cursor(app, layers, heads),
        chosen: &i.chosen,
    };
    let keep = g.cursor.map_or_else(|| g.hot_layer(), |h| h.layer);
    let shown = layer_window(layers, keep, rows);
    if shown.len() < layers && !shown.is_empty() {
        let note = format!(" · layers {}–{} of {}", shown.start + 1, shown.end, layers);
        title.push(Span::styled(note, theme.warn));
    }
    title_rule(
        buf,
        area,
        &title,
        &reading_title(&e.prediction, &e.label, e.is_relation(), theme),
        theme,
    );
    let cell_w: u16 = if g.width(2) + 3 + 40 <= inner.width { 2 } else { 1 };
    let cell_w = grid::wider(cell_w, g.heads, 1, 3 + 40, inner.width);
    let grid_rows = shown.len() as u16;
    let legend_y = inner.y + 1 + grid_rows;
    match values {
        Some(_) => {
            grid::draw(buf, inner, (inner.x, inner.y), &g, shown, cell_w, theme);
            let name = if importance {
                "|∂s/∂ξ|".to_string()
            } else {
                format!("{} masked", measure(e))
            };
            let steps = (cell_w * heads as u16).saturating_sub(16);
            let end = grid::legend(buf, inner, (inner.x, legend_y), &name, top, steps, theme);
            if !importance {
                put(buf, inner, end, legend_y, " · ! flips it", theme.dim);
            }
        }
        None => {
            let what = if importance {
                "importance".to_string()
            } else {
                format!("single-head sweep ({})", i.mode.name())
            };
            put(buf, inner, inner.x, inner.y, &format!("{what}: computing…"), theme.dim);
        }
    }
    let x = inner.x + g.width(cell_w) + 3;
    if importance {
        let mut right = x;
        if let Some(grid) = &e.importance {
            right = top_heads(buf, inner, x, &grid.ranked(), theme) + 2;
        }
        let heading = if e.is_relation() { "score" } else { "P(type)" };
        probabilities(buf, inner, right, app, &e.prediction.probabilities, heading, theme);
    } else {
        panel(
            buf,
            Rect::new(x, inner.y, inner.right().saturating_sub(x), grid_rows + 1),
            app,
            e,
            theme,
        );
    }
    // Where not every line fits, those ranked first are kept, still drawn in this order: a
    // masked set's result ranks right after the words, the hint to mask one last.
    let masking = !i.masked_words.is_empty();
    let mut ranked = vec![Below::Words, Below::TopWords];
    ranked.extend(masking.then_some(Below::WordMasking));
    if importance {
        ranked.extend([Below::WhatIf, Below::FlipSet]);
    }
    ranked.extend((!masking).then_some(Below::WordMasking));
    let room = (inner.y + inner.height).saturating_sub(legend_y + 1);
    ranked.truncate(usize::from(room));
    let order = [Below::Words, Below::TopWords, Below::WordMasking, Below::WhatIf, Below::FlipSet];
    for (n, line) in order.into_iter().filter(|l| ranked.contains(l)).enumerate() {
        let y = legend_y + 1 + n as u16;
        match line {
            Below::Words => words_line(buf, inner, y, app, e, theme),
            Below::TopWords => top_words(buf, inner, y, e, theme),
            Below::WordMasking => {
                put_spans(buf, inner, inner.x, y, &word_masking(app, e, theme));
            }
            Below::WhatIf => {
                let mut line = vec![Span::styled("what if · ", theme.dim)];
                line.extend(what_if(app, e, theme).concat());
                put_spans(buf, inner, inner.x, y, &line);
            }
            Below::FlipSet => {
                put_spans(buf, inner, inner.x, y, &flip_line(app, e, theme));
            }
        }
    }
}

/// The lines under the grid's legend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Below {
    Words,
    TopWords,
    WordMasking,
    WhatIf,
    FlipSet,
}

/// What the label is measured by: `P(Peop)`, or a relation's `Work_For score`.
fn measure(e: &Explanation) -> String {
    if e.is_relation() {
        format!("{} score", e.label)
    } else {
        format!("P({})", e.label)
    }
}

/// Heads as few words say them: `L3·H9 + L2·H1`, `layer L2`, `L1·H1 + L1·H2 + 3 more`.
fn heads_text(heads: &[Head], per_layer: usize) -> String {
    if heads.is_empty() {
        return "no head".into();
    }
    let layer = heads[0].layer;
    if heads.len() == per_layer && per_layer > 1 && heads.iter().all(|h| h.layer == layer) {
        return format!("layer L{}", layer + 1);
    }
    let names: Vec<String> = heads.iter().take(3).map(|h| head_name(*h)).collect();
    match heads.len() {
        n if n > 3 => format!("{} + {} more", names.join(" + "), n - 3),
        _ => names.join(" + "),
    }
}

/// The custom ablation: `[masked L3·H9 (encoder):]`, `[P(Peop) .58 → .09 · ]`, `[flips ...]`,
/// as lines the panel stacks and the importance view joins.
fn what_if(app: &App, e: &Explanation, theme: &Theme) -> Vec<Vec<Span<'static>>> {
    let i = &app.inspector;
    let per_layer = e.importance.as_ref().map_or(0, |g| g.heads).max(heads_of(app));
    let Some(asked) = &i.ablation else {
        let hint = format!(
            "nothing masked yet: {} the cursor's head, {} the top n, {} the set",
            key(app, InspectAction::AblateHead),
            app.keymap.digits_label(),
            key(app, InspectAction::AblateSet)
        );
        return vec![vec![Span::styled(hint, theme.dim)]];
    };
    let done = e.ablation.as_ref().filter(|d| d.asked == *asked);
    let Some(done) = done else {
        let what = match &asked.masked {
            Masked::Heads(h) => heads_text(h, per_layer),
            Masked::Top(n) => format!("the top {n}"),
        };
        return vec![vec![Span::styled(
            format!("masking {what} ({}): computing…", asked.mode.name()),
            theme.dim,
        )]];
    };
    let masked = format!("masked {} ({}): ", heads_text(&done.heads, per_layer), asked.mode.name());
    vec![
        vec![Span::styled(masked, theme.base)],
        change(e, &done.after, theme),
        vec![verdict(e, &done.after, done.flips, theme)],
    ]
}

/// `P(Peop) .58 → .09 · `: the label's measure before and after masking.
fn change(e: &Explanation, after: &Reading, theme: &Theme) -> Vec<Span<'static>> {
    let bold = theme.base.add_modifier(Modifier::BOLD);
    vec![
        Span::styled(format!("{} ", measure(e)), theme.dim),
        Span::styled(decimal(e.prediction.probability, 2), bold),
        Span::styled(" → ", theme.dim),
        Span::styled(decimal(after.probability, 2), bold),
        Span::styled(" · ", theme.dim),
    ]
}

/// What masking did to the prediction: `flips Peop → none`, `stays Peop`; a relation's score
/// against α: `falls below α`, `stays above α`.
fn verdict(e: &Explanation, after: &Reading, flips: bool, theme: &Theme) -> Span<'static> {
    let before = &e.prediction;
    let loud = theme.warn.add_modifier(Modifier::BOLD);
    if e.is_relation() {
        let (was, now) = (before.predicted == e.label, after.predicted == e.label);
        match (was, now) {
            (true, false) => Span::styled("falls below α", loud),
            (false, true) => Span::styled("rises above α", loud),
            (true, true) => Span::styled("stays above α", theme.dim),
            (false, false) => Span::styled("stays below α", theme.dim),
        }
    } else if flips {
        Span::styled(format!("flips {} → {}", before.predicted, after.predicted), loud)
    } else {
        Span::styled(format!("stays {}", before.predicted), theme.dim)
    }
}

/// Words as few words say them: `«Okafor»`, `«Dr.» «Amara» «Okafor» + 2 more`.
fn words_text(tokens: &[String], words: &[usize]) -> String {
    let names: Vec<String> = words
        .iter()
        .take(3)
        .map(|&w| format!("«{}»", tokens.get(w).map_or("?", String::as_str)))
        .collect();
    match words.len() {
        n if n > 3 => format!("{} + {} more", names.join(" "), n - 3),
        _ => names.join(" "),
    }
}

/// The masked words: `masked words «Okafor» · P(Peop) .58 → .20 · flips Peop → none`, or how
/// to mask one.
fn word_masking(app: &App, e: &Explanation, theme: &Theme) -> Vec<Span<'static>> {
    let i = &app.inspector;
    let Some(key) = i.explain_key.as_ref().filter(|_| !i.masked_words.is_empty()) else {
        let hint = format!(
            "no word masked: {} {} move, {} masks the word",
            key(app, InspectAction::WordLeft),
            key(app, InspectAction::WordRight),
            key(app, InspectAction::ToggleWord)
        );
        return vec![Span::styled(hint, theme.dim)];
    };
    let asked: Vec<usize> = i.masked_words.iter().copied().collect();
    let named = words_text(&key.tokens, &asked);
    let Some(done) = e.word_masking.as_ref().filter(|d| d.words == asked) else {
        let (text, style) = match &i.explain_error {
            Some(why) if i.asked.is_empty() => {
                (format!("masked words {named}: {why}"), theme.error)
            }
            _ => (format!("masked words {named}: computing…"), theme.dim),
        };
        return vec![Span::styled(text, style)];
    };
    let mut line = vec![
        Span::styled("masked words ", theme.dim),
        Span::styled(named, theme.base),
        Span::styled(" · ", theme.dim),
    ];
    line.extend(change(e, &done.after, theme));
    line.push(verdict(e, &done.after, done.flips, theme));
    line
}

/// The flip-set line: `flip set (encoder): masking L3·H9 flips Peop → none`.
fn flip_line(app: &App, e: &Explanation, theme: &Theme) -> Vec<Span<'static>> {
    let mode = app.inspector.mode;
    let head = Span::styled(format!("flip set ({}): ", mode.name()), theme.dim);
    let text = match e.flip.as_ref().filter(|f| f.mode == mode) {
        Some(f) if f.flipped => {
            let after = f.after.as_ref().map_or("?", |r| r.predicted.as_str());
            let heads = f.heads.iter().map(|h| head_name(*h)).collect::<Vec<_>>().join(" + ");
            Span::styled(
                format!("masking {heads} flips {} → {after}", e.prediction.predicted),
                theme.warn.add_modifier(Modifier::BOLD),
            )
        }
        Some(f) => Span::styled(format!("no flip within {} heads", f.max_heads), theme.base),
        None if app.inspector.asked.flip == Some(mode) => Span::styled("computing…", theme.dim),
        None => Span::styled(
            format!("not searched ({} searches it)", key(app, InspectAction::FlipSet)),
            theme.dim,
        ),
    };
    vec![head, text]
}

/// The ablation view's panel beside the grid: the custom ablation, the flip set, and how
/// many single heads flip the prediction.
fn panel(buf: &mut Buffer, area: Rect, app: &App, e: &Explanation, theme: &Theme) {
    if area.width < 12 {
        return;
    }
    let i = &app.inspector;
    let mut lines: Vec<Vec<Span<'static>>> =
        vec![vec![Span::styled(format!("what if · {}", mode_words(i.mode)), theme.dim)]];
    lines.extend(what_if(app, e, theme));
    lines.push(flip_line(app, e, theme));
    if let Some(s) = e.sweep.as_ref().filter(|s| s.mode == i.mode) {
        let n = s.flips.iter().filter(|f| **f).count();
        let text = match n {
            0 => "no single head flips it".to_string(),
            1 => "1 single head flips it (!)".to_string(),
            n => format!("{n} single heads flip it (!)"),
        };
        lines.push(vec![Span::styled(text, theme.dim)]);
    }
    let mut y = area.y;
    for line in lines {
        // Long lines wrap onto the panel's next rows.
        let text: String = line.iter().map(|s| s.content.as_ref()).collect();
        if width(&text) <= usize::from(area.width) {
            put_spans(buf, area, area.x, y, &line);
            y += 1;
        } else {
            let style = line.last().map_or(theme.base, |s| s.style);
            for part in wrap_text(&text, usize::from(area.width)) {
                put(buf, area, area.x, y, &part, style);
                y += 1;
            }
        }
    }
}

fn mode_words(mode: MaskMode) -> &'static str {
    match mode {
        MaskMode::Encoder => "masking in the encoder",
        MaskMode::AttentionFeature => "masking f_a only",
    }
}

/// The model's heads per layer.
fn heads_of(app: &App) -> usize {
    match &app.model {
        ModelStatus::Ready(info) => info.heads,
        _ => 0,
    }
}

/// The first key of an inspector action, as help writes it.
fn key(app: &App, action: InspectAction) -> String {
    INSPECT
        .iter()
        .position(|b| b.action == action)
        .and_then(|n| app.keymap.row_keys(KeyTable::Inspector, n).first())
        .map_or("?".into(), |k| k.label())
}

/// The sentence's words, shaded by attribution; the target's words underlined, the masked
/// ones struck through, and the word cursor reversed while the inspector has the keys.
fn words_line(buf: &mut Buffer, inner: Rect, y: u16, app: &App, e: &Explanation, theme: &Theme) {
    let i = &app.inspector;
    let Some(key) = &i.explain_key else { return };
    let Some(words) = &e.words else {
        if i.asked.words {
            put(buf, inner, inner.x, y, "words: computing…", theme.dim);
        }
        return;
    };
    let spans: Vec<(usize, usize)> = match &key.target {
        Target::Entity { span } => vec![(span.start, span.end)],
        Target::Relation { head, tail, .. } => vec![(head.start, head.end), (tail.start, tail.end)],
    };
    let keys = matches!(app.mode, Mode::Inspect);
    // The word cursor stays in view while it is used; else the first target word does.
    let first = spans.iter().map(|s| s.0).min().unwrap_or(0);
    let keep = if keys { i.word } else { first };
    let tokens = &key.tokens;
    // Drop words from the start until the kept word fits.
    let room = usize::from(inner.width);
    let mut start = 0;
    while start < keep
        && tokens[start..=keep.min(tokens.len() - 1)].iter().map(|t| width(t) + 1).sum::<usize>()
            > room.saturating_sub(2)
    {
        start += 1;
    }
    let mut x = inner.x;
    if start > 0 {
        x = put(buf, inner, x, y, "… ", theme.dim);
    }
    for (w, token) in tokens.iter().enumerate().skip(start) {
        let mut style = word_style(words, w, theme);
        if spans.iter().any(|&(a, b)| (a..b).contains(&w)) {
            style = style.add_modifier(Modifier::UNDERLINED);
        }
        if i.masked_words.contains(&w) {
            style = style.add_modifier(Modifier::CROSSED_OUT);
        }
        if keys && w == i.word {
            style = style.add_modifier(Modifier::REVERSED);
        }
        x = put(buf, inner, x, y, token, style);
        x = put(buf, inner, x, y, " ", theme.base);
    }
}

/// Green for words that pushed the score up, red for those that pulled it down, dim for
/// those under a sixth of the largest |attribution|.
fn word_style(words: &WordAttributions, w: usize, theme: &Theme) -> Style {
    let largest = words.words.iter().map(|a| a.attribution.abs()).fold(0.0, f32::max);
    let a = words.words.iter().find(|a| a.word == w).map_or(0.0, |a| a.attribution);
    if largest <= 0.0 || a.abs() < largest / 6.0 {
        return theme.dim;
    }
    let style = if a > 0.0 { theme.ok } else { theme.error };
    if a.abs() >= largest / 2.0 {
        style.add_modifier(Modifier::BOLD)
    } else {
        style
    }
}

/// `words +Okafor .82  +Amara .40  −who .05`: the largest attributions, signed.
fn top_words(buf: &mut Buffer, inner: Rect, y: u16, e: &Explanation, theme: &Theme) {
    let Some(words) = &e.words else { return };
    let mut x = put(buf, inner, inner.x, y, "words", theme.dim);
    for a in words.ranked() {
        let sign = if a.attribution < 0.0 { '−' } else { '+' };
        let text = format!("{sign}{} {}", a.token, value(a.attribution.abs()));
        if usize::from(x) + 2 + width(&text) > usize::from(inner.right()) {
            break;
        }
        x = put(buf, inner, x + 2, y, &text, word_style(words, a.word, theme));
    }
}
