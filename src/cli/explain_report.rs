//! The terminal report of `spanscope explain` for one prediction.

use std::fmt::Write;

use spanscope::explain::prediction::Reading;
use spanscope::explain::{HeadGrid, Mode, Target};

use super::explain::{head_name, Ablated, Explanation};
use super::heads::{cell_text, SHADES};

/// The whole report: sentence, prediction, importance grid, sweep, flip sets, words, and the
/// `--ablate*` readings when asked for.
pub fn render(ex: &Explanation, top: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", marked_sentence(&ex.tokens, &ex.target));
    let _ = writeln!(out, "{}", prediction(ex));
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "head importance |∂ {} / ∂ξ| (ξ: a gate on each head's output):",
        score_name(ex)
    );
    out.push_str(&grid(&ex.importance));
    let heads: Vec<String> =
        ex.top_heads.iter().map(|h| format!("{} {}", h.name, number(h.value))).collect();
    let _ = writeln!(out, "top heads: {}", heads.join(", "));

    for (mode, report) in ex.modes.iter() {
        let _ = writeln!(out);
        let sweep = &report.sweep;
        let _ =
            writeln!(out, "single-head ablation, {} ({} heads):", mode_words(mode), sweep.heads);
        if sweep.flips.is_empty() {
            let _ = writeln!(out, "  no single head flips {}", ex.label);
        } else {
            let flips: Vec<String> = sweep
                .flips
                .iter()
                .map(|h| {
                    format!(
                        "{} → {} {}",
                        h.name,
                        h.ablated.reading.predicted,
                        short(ex, &h.ablated.reading)
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "  {} flip {}: {}",
                flips.len(),
                ex.prediction.predicted,
                flips.join(", ")
            );
        }
        let drops: Vec<String> = sweep
            .largest_drops
            .iter()
            .map(|h| format!("{} {}", h.name, signed(-h.ablated.drop)))
            .collect();
        let _ = writeln!(out, "  largest drops of the score: {}", drops.join(", "));
        let set = &report.flip_set;
        let names: Vec<String> = set.heads.iter().map(|&h| head_name(h)).collect();
        let line = match (&set.after, set.flipped) {
            (Some(after), true) => {
                format!("masking {} flips {}", names.join(" + "), change(ex, after))
            }
            (Some(after), false) => format!(
                "no flip within {} heads (masking {} gives {})",
                set.max_heads,
                names.join(" + "),
                change(ex, after)
            ),
            (None, _) => format!("no flip within {} heads", set.max_heads),
        };
        let passes = if set.passes == 1 { "pass" } else { "passes" };
        let _ = writeln!(out, "  smallest flip set (greedy, {} {passes}): {line}", set.passes);
    }

    let _ = writeln!(out);
    let total: f32 = ex.words.words.iter().map(|w| w.attribution).sum();
    let _ = writeln!(
        out,
        "words by attribution (integrated gradients, {} steps; they add up to {}, score − \
         baseline {}):",
        ex.words.steps,
        signed(total),
        signed(ex.prediction.score - ex.words.baseline_score)
    );
    for w in ex.words.ranked().into_iter().take(top) {
        let _ = writeln!(out, "  {:>3} {:<20} {}", w.word, w.token, signed(w.attribution));
    }
    if !ex.word_masking.is_empty() {
        let _ = writeln!(out, "words replaced by [MASK]:");
        for m in &ex.word_masking {
            let flip = if m.ablated.flips { "  flips" } else { "" };
            let _ = writeln!(
                out,
                "  {:<32} {}{flip}",
                m.tokens.join(" + "),
                change(ex, &m.ablated.reading)
            );
        }
    }

    if let Some(ab) = &ex.ablation {
        let _ = writeln!(out);
        let names: Vec<String> = ab.heads.iter().map(|h| h.name.clone()).collect();
        let count =
            if names.len() == 1 { "1 head".to_string() } else { format!("{} heads", names.len()) };
        let _ = writeln!(out, "masking {} ({count}):", names.join(", "));
        for (mode, a) in ab.modes.iter() {
            let _ = writeln!(out, "  {:<24} {}", mode_words(mode), ablation_verdict(ex, a));
        }
    }
    out
}

/// The sentence with the target's words in brackets: `[..]` for a span, `[..]₁` and `[..]₂`
/// for a relation's head and tail.
fn marked_sentence(tokens: &[String], target: &Target) -> String {
    let marks: Vec<(usize, usize, &str)> = match target {
        Target::Entity { span } => vec![(span.start, span.end, "")],
        Target::Relation { head, tail, .. } => {
            vec![(head.start, head.end, "₁"), (tail.start, tail.end, "₂")]
        }
    };
    let words: Vec<String> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut w = String::new();
            for &(s, _, _) in &marks {
                if i == s {
                    w.push('[');
                }
            }
            w.push_str(t);
            for &(_, e, tag) in &marks {
                if i + 1 == e {
                    w.push(']');
                    w.push_str(tag);
                }
            }
            w
        })
        .collect();
    words.join(" ")
}

/// The target and what the model predicts for it.
fn prediction(ex: &Explanation) -> String {
    let p = &ex.prediction;
    let text = |s: usize, e: usize| ex.tokens[s..e].join(" ");
    match &ex.target {
        Target::Entity { span } => {
            let mut sorted = p.probabilities.clone();
            sorted.sort_by(|a, b| b.1.total_cmp(&a.1));
            let all: Vec<String> =
                sorted.iter().map(|(t, v)| format!("{t} {}", prob(*v))).collect();
            format!(
                "{} \"{}\": {} (P {}; {})",
                super::heads::words_label(span.start, span.end),
                text(span.start, span.end),
                p.predicted,
                prob(p.probability),
                all.join(", ")
            )
        }
        Target::Relation { head, tail, .. } => {
            let verdict = if p.predicted == "none" { "below α: none" } else { "predicted" };
            format!(
                "relation {} \"{}\" → {} \"{}\": {} logit {:+.3}, σ {} vs α {} ({verdict}; score {})",
                super::heads::words_label(head.start, head.end),
                text(head.start, head.end),
                super::heads::words_label(tail.start, tail.end),
                text(tail.start, tail.end),
                ex.label,
                p.score,
                prob(sigmoid(p.score)),
                prob(ex.relation_threshold),
                prob(p.probability)
            )
        }
    }
}

/// What "score" is for this target, for headings.
fn score_name(ex: &Explanation) -> String {
    if ex.is_relation() {
        format!("logit({})", ex.label)
    } else {
        format!("log P({})", ex.label)
    }
}

/// `Peop → none (P .58 → .09)`, or for a relation `Work_For → none (σ .91 → .31, α .40)`.
fn change(ex: &Explanation, after: &Reading) -> String {
    let before = &ex.prediction;
    if ex.is_relation() {
        format!(
            "{} → {} (σ {} → {}, α {})",
            before.predicted,
            after.predicted,
            prob(sigmoid(before.score)),
            prob(sigmoid(after.score)),
            prob(ex.relation_threshold)
        )
    } else {
        format!(
            "{} → {} (P {} → {})",
            before.predicted,
            after.predicted,
            prob(before.probability),
            prob(after.probability)
        )
    }
}

/// The explained label's number after a masking: `P .09`, or `σ .31` for a relation.
fn short(ex: &Explanation, after: &Reading) -> String {
    if ex.is_relation() {
        format!("σ {}", prob(sigmoid(after.score)))
    } else {
        format!("P {}", prob(after.probability))
    }
}

/// An `--ablate*` reading: the change and whether the type flips or the relation falls below α.
fn ablation_verdict(ex: &Explanation, a: &Ablated) -> String {
    let verdict = match (ex.is_relation(), a.flips) {
        (true, true) if a.reading.predicted == "none" => "falls below α".to_string(),
        (true, false) if ex.prediction.predicted == "none" => "stays below α".to_string(),
        (true, false) => "stays above α".to_string(),
        (true, true) => "rises above α".to_string(),
        (false, true) => "flips".to_string(),
        (false, false) => "no flip".to_string(),
    };
    format!("{}: {verdict}", change(ex, &a.reading))
}

fn mode_words(mode: Mode) -> &'static str {
    match mode {
        Mode::Encoder => "in the encoder",
        Mode::AttentionFeature => "on f_a only",
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// A probability as `.58` (`1.00` when it is one).
fn prob(p: f32) -> String {
    let text = format!("{p:.2}");
    text.strip_prefix('0').map(str::to_string).unwrap_or(text)
}

/// A signed change: three decimals, or two significant digits when smaller than that (a
/// saturated probability moves its log by millionths).
fn signed(v: f32) -> String {
    if v == 0.0 {
        "+0.000".into()
    } else if v.abs() >= 0.0005 {
        format!("{v:+.3}")
    } else {
        format!("{v:+.1e}")
    }
}

/// A value with three significant decimals at most, for lists of heads.
fn number(v: f32) -> String {
    if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// A grid as text: layers down, heads across, each cell's value shaded on a scale from 0 to
/// the largest value, then the legend of the shades.
pub(super) fn grid(g: &HeadGrid) -> String {
    let max = g.values.iter().copied().fold(0.0f32, f32::max);
    let mut out = String::new();
    let _ = write!(out, "    ");
    for h in 0..g.heads {
        let _ = write!(out, "{:>6}", format!("H{} ", h + 1));
    }
    let _ = writeln!(out);
    for l in 0..g.layers {
        let _ = write!(out, "{:>4}", format!("L{}", l + 1));
        for h in 0..g.heads {
            let v = g.values[l * g.heads + h];
            let _ = write!(out, "{:>5}{}", cell_text(v, max), shade(v, max));
        }
        let _ = writeln!(out);
    }
    out.push_str(&legend(max));
    out
}

fn shade(v: f32, max: f32) -> char {
    let level = if max > 0.0 { (v / max).clamp(0.0, 1.0) } else { 0.0 };
    SHADES[(level * 4.0).round() as usize]
}

/// The value range of each shade, as [`shade`] rounds.
fn legend(max: f32) -> String {
    let bound = |k: f32| cell_text(max * k / 8.0, max);
    format!(
        "    scale 0 to {}: '{}' < {}, {} < {}, {} < {}, {} < {}, {} ≥ {}\n",
        cell_text(max, max),
        SHADES[0],
        bound(1.0),
        SHADES[1],
        bound(3.0),
        SHADES[2],
        bound(5.0),
        SHADES[3],
        bound(7.0),
        SHADES[4],
        bound(7.0)
    )
}

/// A grid in one character per head (for many grids at once), with its scale.
pub(super) fn compact_grid(g: &HeadGrid) -> String {
    let max = g.values.iter().copied().fold(0.0f32, f32::max);
    let mut out = String::new();
    let _ = write!(out, "      ");
    for h in 0..g.heads {
        let _ = write!(out, "{}", (h + 1) % 10);
    }
    let _ = writeln!(out, "  (heads; {} = {})", SHADES[4], cell_text(max, max));
    for l in 0..g.layers {
        let row: String = (0..g.heads).map(|h| shade(g.values[l * g.heads + h], max)).collect();
        let _ = writeln!(out, "  {:>3} {row}", format!("L{}", l + 1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use spanscope::explain::Words;

    #[test]
    fn the_target_is_bracketed() {
        let tokens: Vec<String> = ["Ann", "works", "for", "Acme", "Inc"].map(String::from).to_vec();
        let entity = Target::Entity { span: Words::new(3, 5) };
        assert_eq!(marked_sentence(&tokens, &entity), "Ann works for [Acme Inc]");
        let relation =
            Target::Relation { head: Words::new(0, 1), tail: Words::new(3, 5), relation: None };
        assert_eq!(marked_sentence(&tokens, &relation), "[Ann]₁ works for [Acme Inc]₂");
    }

    #[test]
    fn grid_shades_from_zero_and_names_the_shades() {
        let g = HeadGrid { layers: 2, heads: 2, values: vec![0.0, 0.8, 0.4, 0.1] };
        let text = grid(&g);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "       H1    H2 ");
        assert_eq!(lines[1], "  L1 .000  .800█");
        assert_eq!(lines[2], "  L2 .400▒ .100░");
        assert_eq!(
            lines[3],
            "    scale 0 to .800: ' ' < .100, ░ < .300, ▒ < .500, ▓ < .700, █ ≥ .700"
        );
        let compact = compact_grid(&g);
        assert_eq!(compact.lines().nth(1), Some("   L1  █"));
    }

    #[test]
    fn probabilities_are_written_short() {
        assert_eq!(prob(0.583), ".58");
        assert_eq!(prob(1.0), "1.00");
        assert_eq!(signed(-1.25), "-1.250");
        assert_eq!(signed(-0.0), "+0.000");
        assert_eq!(signed(0.0000123), "+1.2e-5");
    }
}
