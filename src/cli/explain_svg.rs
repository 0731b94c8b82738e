//! `spanscope explain --svg FILE`: the f_a map (head and tail for a relation), the importance
//! map and the words shaded by attribution, as one SVG written by hand (as the calibration
//! diagram is): a handful of rectangles and labels need no drawing library.

use std::fmt::Write;

use spanscope::explain::{HeadGrid, Target};

use super::explain::Explanation;

const CELL: f32 = 20.0;
/// Room for the `L1..` labels left of a map.
const LABELS: f32 = 34.0;
const MARGIN: f32 = 20.0;
const TITLE: f32 = 56.0;
/// Panel title and the `H1..` labels above a map.
const HEADER: f32 = 36.0;
/// The colour legend under a map.
const LEGEND: f32 = 40.0;
const WORD_HEIGHT: f32 = 22.0;

/// Light to dark blue, for maps that start at 0.
const LOW: (f32, f32, f32) = (247.0, 251.0, 255.0);
const HIGH: (f32, f32, f32) = (8.0, 48.0, 107.0);
/// Word attributions: negative blue, positive red.
const NEGATIVE: (f32, f32, f32) = (33.0, 102.0, 172.0);
const POSITIVE: (f32, f32, f32) = (178.0, 24.0, 43.0);

/// The drawing.
pub fn render(ex: &Explanation) -> String {
    let mut maps: Vec<(String, HeadGrid)> = Vec::new();
    let spans = target_spans(&ex.target);
    if let Some(contribution) = &ex.contribution {
        for (c, (name, s, e)) in contribution.iter().zip(&spans) {
            let grid = HeadGrid { layers: c.layers, heads: c.heads, values: c.values.clone() };
            let what = if spans.len() > 1 { format!("{name} ") } else { String::new() };
            maps.push((format!("f_a of {what}\"{}\"", ex.tokens[*s..*e].join(" ")), grid));
        }
    }
    maps.push(("importance |∂score/∂ξ|".into(), ex.importance.clone()));

    let panel_width = |g: &HeadGrid| LABELS + g.heads as f32 * CELL + MARGIN;
    let maps_width: f32 = maps.iter().map(|(_, g)| panel_width(g)).sum();
    let width = (maps_width + 2.0 * MARGIN).max(480.0);
    let layers = maps.iter().map(|(_, g)| g.layers).max().unwrap_or(0) as f32;
    let maps_bottom = TITLE + HEADER + layers * CELL + LEGEND;
    let (words_svg, words_height) = word_map(ex, MARGIN, maps_bottom + 24.0, width - 2.0 * MARGIN);
    let height = maps_bottom + 24.0 + words_height + MARGIN;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\">"
    );
    let _ = writeln!(svg, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        svg,
        "<text x=\"{MARGIN}\" y=\"22\" font-size=\"14\">{}</text>",
        escape(&title(ex))
    );
    let _ = writeln!(
        svg,
        "<text x=\"{MARGIN}\" y=\"42\" font-size=\"12\">{}</text>",
        escape(&ex.tokens.join(" "))
    );
    let mut x = MARGIN;
    for (k, (name, g)) in maps.iter().enumerate() {
        svg.push_str(&map(name, g, x, TITLE, k));
        x += panel_width(g);
    }
    svg.push_str(&words_svg);
    svg.push_str("</svg>\n");
    svg
}

/// The target's spans with their role: `("head", start, end)`, ...
fn target_spans(target: &Target) -> Vec<(&'static str, usize, usize)> {
    match target {
        Target::Entity { span } => vec![("span", span.start, span.end)],
        Target::Relation { head, tail, .. } => {
            vec![("head", head.start, head.end), ("tail", tail.start, tail.end)]
        }
    }
}

fn title(ex: &Explanation) -> String {
    let text = |s: usize, e: usize| ex.tokens[s..e].join(" ");
    match &ex.target {
        Target::Entity { span } => format!(
            "{} \"{}\": {} (P {:.2}; the target underlined below)",
            super::heads::words_label(span.start, span.end),
            text(span.start, span.end),
            ex.prediction.predicted,
            ex.prediction.probability
        ),
        Target::Relation { head, tail, .. } => format!(
            "relation \"{}\" → \"{}\": {} (logit {:+.2}; predicted {})",
            text(head.start, head.end),
            text(tail.start, tail.end),
            ex.label,
            ex.prediction.score,
            ex.prediction.predicted
        ),
    }
}

/// One map: title, `H..` across, `L..` down, a cell per head, and a legend from 0 to the
/// largest value. `k` keeps the gradient's id unique.
fn map(name: &str, g: &HeadGrid, x0: f32, y0: f32, k: usize) -> String {
    let max = g.values.iter().copied().fold(0.0f32, f32::max);
    let gx = x0 + LABELS;
    let gy = y0 + HEADER;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<text x=\"{gx}\" y=\"{}\" font-size=\"12\">{}</text>",
        y0 + 14.0,
        escape(name)
    );
    for h in 0..g.heads {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">H{}</text>",
            gx + (h as f32 + 0.5) * CELL,
            gy - 6.0,
            h + 1
        );
    }
    for l in 0..g.layers {
        let y = gy + l as f32 * CELL;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">L{}</text>",
            gx - 4.0,
            y + CELL * 0.7,
            l + 1
        );
        for h in 0..g.heads {
            let v = g.values[l * g.heads + h];
            let t = if max > 0.0 { (v / max).clamp(0.0, 1.0) } else { 0.0 };
            let _ = writeln!(
                s,
                "<rect x=\"{}\" y=\"{y}\" width=\"{CELL}\" height=\"{CELL}\" fill=\"{}\" \
                 stroke=\"white\" stroke-width=\"0.5\"><title>L{}·H{} {v:.4}</title></rect>",
                gx + h as f32 * CELL,
                colour(LOW, HIGH, t),
                l + 1,
                h + 1
            );
        }
    }
    let ly = gy + g.layers as f32 * CELL + 10.0;
    let lw = g.heads as f32 * CELL;
    let _ = writeln!(
        s,
        "<defs><linearGradient id=\"scale{k}\"><stop offset=\"0\" stop-color=\"{}\"/>\
         <stop offset=\"1\" stop-color=\"{}\"/></linearGradient></defs>",
        colour(LOW, HIGH, 0.0),
        colour(LOW, HIGH, 1.0)
    );
    let _ = writeln!(
        s,
        "<rect x=\"{gx}\" y=\"{ly}\" width=\"{lw}\" height=\"10\" fill=\"url(#scale{k})\" \
         stroke=\"#999999\" stroke-width=\"0.5\"/>"
    );
    for (frac, anchor) in [(0.0, "start"), (0.5, "middle"), (1.0, "end")] {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            gx + frac * lw,
            ly + 22.0,
            value(max * frac)
        );
    }
    s
}

/// The sentence's words as boxes shaded by attribution (red pushed the score up, blue
/// down), the target's words underlined, wrapped to `width`; returns the drawing and its
/// height.
fn word_map(ex: &Explanation, x0: f32, y0: f32, width: f32) -> (String, f32) {
    let max = ex.words.words.iter().map(|w| w.attribution.abs()).fold(0.0f32, f32::max);
    let spans = target_spans(&ex.target);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<text x=\"{x0}\" y=\"{}\" font-size=\"12\">words by attribution (integrated gradients, \
         {} steps): red raised the score, blue lowered it</text>",
        y0, ex.words.steps
    );
    let (mut x, mut y) = (x0, y0 + 10.0);
    for w in &ex.words.words {
        // About 6.5 px per character at 12 px sans-serif: boxes need not be exact.
        let box_width = w.token.chars().count() as f32 * 6.5 + 10.0;
        if x + box_width > x0 + width && x > x0 {
            x = x0;
            y += WORD_HEIGHT + 6.0;
        }
        let t = if max > 0.0 { (w.attribution / max).clamp(-1.0, 1.0) } else { 0.0 };
        let fill = if t >= 0.0 { colour(LOW, POSITIVE, t) } else { colour(LOW, NEGATIVE, -t) };
        let ink = if t.abs() > 0.6 { "white" } else { "black" };
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"{y}\" width=\"{box_width}\" height=\"{WORD_HEIGHT}\" \
             fill=\"{fill}\" stroke=\"#cccccc\" stroke-width=\"0.5\"><title>{} {:+.4}</title></rect>",
            escape(&w.token),
            w.attribution
        );
        let underline = spans.iter().any(|(_, a, b)| (*a..*b).contains(&w.word));
        let decoration =
            if underline { " text-decoration=\"underline\" font-weight=\"bold\"" } else { "" };
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" fill=\"{ink}\"{decoration}>{}</text>",
            x + box_width / 2.0,
            y + WORD_HEIGHT * 0.7,
            escape(&w.token)
        );
        x += box_width + 4.0;
    }
    // The diverging legend under the words.
    let ly = y + WORD_HEIGHT + 12.0;
    let lw = 240.0;
    let _ = writeln!(
        s,
        "<defs><linearGradient id=\"words\"><stop offset=\"0\" stop-color=\"{}\"/>\
         <stop offset=\"0.5\" stop-color=\"{}\"/><stop offset=\"1\" stop-color=\"{}\"/>\
         </linearGradient></defs>",
        colour(LOW, NEGATIVE, 1.0),
        colour(LOW, LOW, 0.0),
        colour(LOW, POSITIVE, 1.0)
    );
    let _ = writeln!(
        s,
        "<rect x=\"{x0}\" y=\"{ly}\" width=\"{lw}\" height=\"10\" fill=\"url(#words)\" \
         stroke=\"#999999\" stroke-width=\"0.5\"/>"
    );
    for (frac, anchor, v) in [(0.0, "start", -max), (0.5, "middle", 0.0), (1.0, "end", max)] {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            x0 + frac * lw,
            ly + 22.0,
            value(v)
        );
    }
    (s, ly + 22.0 - y0)
}

/// `#rrggbb` at `t` from `a` to `b`.
fn colour(a: (f32, f32, f32), b: (f32, f32, f32), t: f32) -> String {
    let mix = |x: f32, y: f32| (x + (y - x) * t).round().clamp(0.0, 255.0) as u8;
    format!("#{:02x}{:02x}{:02x}", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn value(v: f32) -> String {
    if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Text for XML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no place for other control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_xml() {
        assert_eq!(escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot; ");
    }

    #[test]
    fn colours_run_from_one_end_to_the_other() {
        assert_eq!(colour(LOW, HIGH, 0.0), "#f7fbff");
        assert_eq!(colour(LOW, HIGH, 1.0), "#08306b");
    }
}
