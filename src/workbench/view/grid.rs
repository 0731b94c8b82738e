//! A layers x heads grid of values, as every inspector view draws one: head numbers on top,
//! a row per layer, cells coloured on a scale from 0 (never from the smallest value, so that
//! tiny differences do not look large), and a legend that says what the colours are worth.

use std::collections::BTreeSet;
use std::ops::Range;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;

use super::{decimal, put};
use crate::explain::Head;
use crate::workbench::theme::Theme;

/// Columns of the `L12 ` labels.
pub(super) const LABEL_W: u16 = 4;

/// From this pane width on, a head may take three columns (a larger heatmap).
const LARGE_PANE: u16 = 120;

/// `cell_w`, or three columns a head on a large pane where `grids` grids of `heads` heads
/// still leave `beside` columns for what is drawn next to them.
pub(super) fn wider(cell_w: u16, heads: usize, grids: u16, beside: u16, pane: u16) -> u16 {
    let fits = grids * (LABEL_W + 3 * heads as u16) + beside <= pane;
    if pane >= LARGE_PANE && fits {
        3
    } else {
        cell_w
    }
}

/// One grid to draw.
pub(super) struct Grid<'a> {
    pub heads: usize,
    /// Row-major `layers x heads`.
    pub values: &'a [f32],
    /// The value at full colour; colours run from 0 to it.
    pub top: f32,
    /// Text drawn over cells: a rank, `!` for a head that flips the prediction.
    pub marks: Vec<(Head, char)>,
    /// The head cursor, when the inspector has the keys.
    pub cursor: Option<Head>,
    /// Heads in the set to mask, drawn `•`.
    pub chosen: &'a BTreeSet<Head>,
}

impl Grid<'_> {
    fn get(&self, layer: usize, head: usize) -> f32 {
        self.values.get(layer * self.heads + head).copied().unwrap_or(0.0)
    }

    /// The layer of the largest value.
    pub fn hot_layer(&self) -> usize {
        let best =
            (0..self.values.len()).max_by(|&a, &b| self.values[a].total_cmp(&self.values[b]));
        best.map_or(0, |i| i / self.heads.max(1))
    }

    /// The width of the grid with `cell_w` columns a head, labels included.
    pub fn width(&self, cell_w: u16) -> u16 {
        LABEL_W + cell_w * self.heads as u16
    }
}

/// The layers that fit in `rows`: all, or a window around `keep` (the cursor's layer or the
/// strongest one).
pub(super) fn layer_window(layers: usize, keep: usize, rows: u16) -> Range<usize> {
    let rows = usize::from(rows);
    if rows >= layers {
        return 0..layers;
    }
    let first = keep.saturating_sub(rows / 2).min(layers - rows);
    first..first + rows
}

/// Draws the head numbers at row `y` and the `shown` layers below, from column `x`.
pub(super) fn draw(
    buf: &mut Buffer,
    area: Rect,
    (x, y): (u16, u16),
    grid: &Grid<'_>,
    shown: Range<usize>,
    cell_w: u16,
    theme: &Theme,
) {
    let norm = |v: f32| if grid.top > 0.0 { (v / grid.top).clamp(0.0, 1.0) } else { 0.0 };
    put(buf, area, x, y, "  H", theme.dim);
    let step = [1, 2, 4, 5, 10].into_iter().find(|s| s * cell_w as usize >= 3).unwrap_or(10);
    for h in (0..grid.heads).step_by(step) {
        put(buf, area, x + LABEL_W + cell_w * h as u16, y, &(h + 1).to_string(), theme.dim);
    }
    for (row, layer) in shown.enumerate() {
        let ry = y + 1 + row as u16;
        put(buf, area, x, ry, &format!("{:>3}", format!("L{}", layer + 1)), theme.dim);
        for head in 0..grid.heads {
            let v = norm(grid.get(layer, head));
            let cx = x + LABEL_W + cell_w * head as u16;
            let at = Head { layer, head };
            let style = if grid.cursor == Some(at) { theme.cursor } else { theme.heat(v) };
            let glyph = theme.heat_glyph(v).to_string().repeat(usize::from(cell_w));
            put(buf, area, cx, ry, &glyph, style);
            let mark = grid.marks.iter().find(|(h, _)| *h == at).map(|(_, c)| *c);
            let mark = mark.or(grid.chosen.contains(&at).then_some('•'));
            let mark = mark.or((grid.cursor == Some(at)).then_some('+'));
            if let Some(c) = mark {
                put(buf, area, cx, ry, &c.to_string(), style.add_modifier(Modifier::BOLD));
            }
        }
    }
}

/// The scale under a grid: `name 0 ░░▒▒ .062 ▓▓██ .124`; returns the column after it.
pub(super) fn legend(
    buf: &mut Buffer,
    area: Rect,
    (x, y): (u16, u16),
    name: &str,
    top: f32,
    steps: u16,
    theme: &Theme,
) -> u16 {
    let steps = steps.clamp(4, 12) & !1;
    let at = put(buf, area, x, y, name, theme.dim) + 1;
    let mut at = put(buf, area, at, y, "0", theme.dim) + 1;
    for i in 0..steps {
        if i == steps / 2 {
            at = put(buf, area, at + 1, y, &value(top / 2.0), theme.dim) + 1;
        }
        let v = f32::from(i) / f32::from(steps - 1);
        at = put(buf, area, at, y, &theme.heat_glyph(v).to_string(), theme.heat(v));
    }
    put(buf, area, at + 1, y, &value(top), theme.dim)
}

/// A compact value: `.124`, `1.20`, `0`, `3e-4`.
pub(super) fn value(v: f32) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else if v.abs() < 0.001 {
        format!("{v:.0e}")
    } else {
        decimal(v, 3)
    }
}

/// `L3·H9`: a head as the tools show it, from 1.
pub(super) fn head_name(h: Head) -> String {
    format!("L{}·H{}", h.layer + 1, h.head + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_holds_the_layer_kept() {
        assert_eq!(layer_window(12, 10, 6), 6..12);
        assert_eq!(layer_window(12, 10, 20), 0..12);
        assert_eq!(layer_window(12, 0, 4), 0..4);
    }

    #[test]
    fn values_are_compact() {
        assert_eq!(value(0.1234), ".123");
        assert_eq!(value(1.5), "1.50");
        assert_eq!(value(0.0), "0");
        assert_eq!(head_name(Head { layer: 2, head: 8 }), "L3·H9");
    }
}
