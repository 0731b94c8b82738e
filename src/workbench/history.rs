//! Unlimited undo and redo across documents. Every edit is the sentences it replaced and what
//! replaced them (one for one, or two for one and one for two when a sentence is split or
//! merged), so undoing puts them back exactly, whatever happened elsewhere in between.

use crate::data::Sentence;

/// One edit: the sentences of document `doc` from index `sentence` on went from `before` to
/// `after` (one sentence each, except for a split or a merge).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The document's id.
    pub doc: u64,
    /// The index in the document of the first sentence edited.
    pub sentence: usize,
    /// The sentences before the edit.
    pub before: Vec<Sentence>,
    /// The sentences after the edit.
    pub after: Vec<Sentence>,
    /// What the edit was, for the status line and the journal ("add entity", ...).
    pub label: String,
}

/// The undo and redo stacks.
#[derive(Debug, Default)]
pub struct History {
    undo: Vec<Change>,
    redo: Vec<Change>,
}

impl History {
    /// Records a new edit; whatever could have been redone is forgotten, as in every editor.
    pub fn record(&mut self, change: Change) {
        self.undo.push(change);
        self.redo.clear();
    }

    /// The edit to take back, moved to the redo stack.
    pub fn undo(&mut self) -> Option<&Change> {
        let change = self.undo.pop()?;
        self.redo.push(change);
        self.redo.last()
    }

    /// The edit to make again, moved back to the undo stack.
    pub fn redo(&mut self) -> Option<&Change> {
        let change = self.redo.pop()?;
        self.undo.push(change);
        self.undo.last()
    }

    /// Edits that can be undone.
    pub fn undo_len(&self) -> usize {
        self.undo.len()
    }

    /// Edits that can be redone.
    pub fn redo_len(&self) -> usize {
        self.redo.len()
    }

    /// Forgets the edits of a document whose sentences were replaced wholesale (reloaded from
    /// disk): their indices and contents no longer describe it.
    pub fn forget(&mut self, doc: u64) {
        self.undo.retain(|c| c.doc != doc);
        self.redo.retain(|c| c.doc != doc);
    }
}
