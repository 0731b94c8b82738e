//! What the last frame drew where, so that a mouse click can be read as the word, entity,
//! relation or document under it. The view fills a [`HitMap`] while it draws; `update` reads
//! the one of the frame the reviewer saw when clicking.

use ratatui::layout::{Position, Rect};

/// The panes a mouse wheel scrolls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// The list (or bar) of documents.
    Documents,
    /// The sentence and its neighbours.
    Sentence,
    /// The relations.
    Relations,
    /// The inspector.
    Inspector,
    /// The help or a dialog, over everything.
    Overlay,
}

/// Something drawn on the screen that a click can mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// A word of a sentence (the current one, or a neighbour shown for context).
    Word {
        /// Index into the documents.
        doc: usize,
        /// Sentence of the document.
        sentence: usize,
        /// Word of the sentence.
        token: usize,
    },
    /// The bracket or label of entity `i` of the current sentence.
    Entity(usize),
    /// The row of relation `i` of the current sentence.
    Relation(usize),
    /// A document's entry in the list or the bar.
    Document(usize),
    /// A pane, where nothing more precise was drawn.
    Pane(Pane),
}

/// Rectangles of the screen and what was drawn in each, in drawing order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HitMap {
    regions: Vec<(Rect, Hit)>,
}

impl HitMap {
    /// Records that `hit` was drawn over `area`; what is drawn later lies on top.
    pub fn push(&mut self, area: Rect, hit: Hit) {
        if area.width > 0 && area.height > 0 {
            self.regions.push((area, hit));
        }
    }

    /// What is drawn at column `x`, row `y`: the topmost thing there.
    pub fn at(&self, x: u16, y: u16) -> Option<Hit> {
        let here = Position { x, y };
        self.regions.iter().rev().find(|(r, _)| r.contains(here)).map(|(_, hit)| *hit)
    }

    /// The pane at `x`, `y`, under whatever is drawn in it.
    pub fn pane_at(&self, x: u16, y: u16) -> Option<Pane> {
        let here = Position { x, y };
        self.regions.iter().rev().find_map(|(r, hit)| match hit {
            Hit::Pane(p) if r.contains(here) => Some(*p),
            _ => None,
        })
    }

    /// Where `hit` was drawn, if it was (the first place; tests click there).
    pub fn find(&self, hit: Hit) -> Option<Rect> {
        self.regions.iter().find(|(_, h)| *h == hit).map(|(r, _)| *r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_topmost_thing_wins_and_panes_lie_under_their_contents() {
        let mut hits = HitMap::default();
        hits.push(Rect::new(0, 0, 80, 10), Hit::Pane(Pane::Sentence));
        hits.push(Rect::new(1, 1, 4, 1), Hit::Word { doc: 0, sentence: 2, token: 0 });
        hits.push(Rect::new(0, 0, 0, 5), Hit::Entity(9));
        assert_eq!(hits.at(2, 1), Some(Hit::Word { doc: 0, sentence: 2, token: 0 }));
        assert_eq!(hits.at(5, 1), Some(Hit::Pane(Pane::Sentence)));
        assert_eq!(hits.pane_at(2, 1), Some(Pane::Sentence));
        assert_eq!(hits.at(80, 1), None);
        assert_eq!(hits.find(Hit::Entity(9)), None, "nothing drawn, nothing to hit");
        hits.push(Rect::new(0, 0, 80, 24), Hit::Pane(Pane::Overlay));
        assert_eq!(hits.at(2, 1), Some(Hit::Pane(Pane::Overlay)), "an overlay covers all");
    }
}
