//! A document's sentences in the workbench: one copy of each, as the reviewer sees it, and what
//! the file holds only for the sentences that differ from it (the unsaved edits).
//!
//! The file's version of a sentence is kept when it is first edited, not for every sentence
//! (docs/RELIABILITY.md, "The workbench on a million records"): a document is held once, not
//! once as edited and once as on disk. Each sentence is shared (`Arc`), so a save hands the
//! store worker the sentences as they are without copying them, and an edit made while it
//! writes replaces that sentence only in the document.

use std::collections::BTreeMap;
use std::ops::Index;
use std::sync::Arc;

use crate::data::annotation::is_reviewed;
use crate::data::Sentence;
pub use crate::worker::store::Snapshot;

/// A document's sentences, what the file holds where they differ, and how many are reviewed.
#[derive(Debug, Clone, Default)]
pub struct Sentences {
    /// The sentences as the reviewer sees them.
    current: Vec<Arc<Sentence>>,
    /// For each sentence that differs from the file: the file's version (plus the model's
    /// proposals, which are not edits). Its keys are the unsaved edits.
    originals: BTreeMap<usize, Arc<Sentence>>,
    /// How many of `current` are marked reviewed: the document list shows it on every frame.
    reviewed: usize,
    /// What the file holds, shared, only while the number of sentences differs from it (a
    /// split or merge not saved yet).
    file: Option<Vec<Arc<Sentence>>>,
}

impl Sentences {
    /// The sentences of a file just read: nothing edited.
    pub fn loaded(sentences: Vec<Sentence>) -> Self {
        let reviewed = sentences.iter().filter(|s| is_reviewed(s)).count();
        let current = sentences.into_iter().map(Arc::new).collect();
        Self { current, originals: BTreeMap::new(), reviewed, file: None }
    }

    /// How many sentences there are.
    pub fn len(&self) -> usize {
        self.current.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }

    /// Sentence `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&Sentence> {
        self.current.get(i).map(|s| &**s)
    }

    /// The sentences in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Sentence> + Clone + '_ {
        self.current.iter().map(|s| &**s)
    }

    /// The sentences, each shared.
    pub fn as_slice(&self) -> &[Arc<Sentence>] {
        &self.current
    }

    /// A copy of the sentences (for tests and small documents; a save shares them instead).
    pub fn to_vec(&self) -> Vec<Sentence> {
        self.iter().cloned().collect()
    }

    /// Puts `after` in place of sentence `i` as the reviewer's edit, and returns what was
    /// there. The sentence is unsaved while it differs from the file's version, so an edit
    /// undone is not. Panics when there is no sentence `i`, as indexing does.
    pub fn edit(&mut self, i: usize, after: Sentence) -> Sentence {
        let before = self.replace(i, after);
        let now = &self.current[i];
        match self.originals.get(&i) {
            Some(original) if **original == **now => {
                self.originals.remove(&i);
            }
            Some(_) => {}
            None if *before != **now => {
                self.originals.insert(i, before.clone());
            }
            None => {}
        }
        Arc::try_unwrap(before).unwrap_or_else(|shared| (*shared).clone())
    }

    /// Puts the model's proposals for sentence `i` in place: what the file is compared with
    /// moves with it, so they are not an edit. Only for a sentence with no unsaved edit.
    pub fn propose(&mut self, i: usize, filled: Sentence) {
        debug_assert!(!self.is_edited(i), "proposals go only to unedited sentences");
        let filled = Arc::new(filled);
        if let Some(file) = &mut self.file {
            // Past a split or merge the file's version sits as many places away as the number
            // of sentences changed.
            let moved = self.current.len() as isize - file.len() as isize;
            let now = &self.current[i];
            let twin = [Some(i), i.checked_add_signed(-moved)]
                .into_iter()
                .flatten()
                .find(|&j| file.get(j).is_some_and(|f| Arc::ptr_eq(f, now) || f == now));
            if let Some(j) = twin {
                file[j] = filled.clone();
            }
        }
        self.replace_shared(i, filled);
    }

    fn replace(&mut self, i: usize, after: Sentence) -> Arc<Sentence> {
        self.replace_shared(i, Arc::new(after))
    }

    fn replace_shared(&mut self, i: usize, after: Arc<Sentence>) -> Arc<Sentence> {
        self.reviewed += usize::from(is_reviewed(&after));
        let before = std::mem::replace(&mut self.current[i], after);
        self.reviewed -= usize::from(is_reviewed(&before));
        before
    }

    /// Puts `with` in place of the sentences `at..at + count` (a split or a merge, or its undo)
    /// and returns them. Panics when the range is out of bounds, as `Vec::splice` does.
    ///
    /// While the document has another number of sentences than the file, what the file holds
    /// is kept as shared sentences (one pointer each, no copy): the sentences the two share at
    /// the start and at the end compare with their own file versions, and those between are
    /// unsaved whatever they hold, until saved or until the change is undone.
    pub fn splice(&mut self, at: usize, count: usize, with: Vec<Sentence>) -> Vec<Sentence> {
        if self.file.is_none() {
            let file = (0..self.current.len())
                .map(|i| self.originals.get(&i).unwrap_or(&self.current[i]).clone())
                .collect();
            self.file = Some(file);
        }
        let added = with.len();
        let removed: Vec<Arc<Sentence>> =
            self.current.splice(at..at + count, with.into_iter().map(Arc::new)).collect();
        let reviewed = |s: &[Arc<Sentence>]| s.iter().filter(|s| is_reviewed(s)).count();
        self.reviewed =
            self.reviewed + reviewed(&self.current[at..at + added]) - reviewed(&removed);
        self.realign();
        removed.into_iter().map(|s| Arc::try_unwrap(s).unwrap_or_else(|s| (*s).clone())).collect()
    }

    /// Re-derives the unsaved edits from the file's sentences kept by a split or merge (or a
    /// save), and forgets those once the sentences line up with them again.
    fn realign(&mut self) {
        let Some(file) = &self.file else { return };
        let same = |a: &Arc<Sentence>, b: &Arc<Sentence>| Arc::ptr_eq(a, b) || a == b;
        let now = &self.current;
        self.originals.clear();
        if file.len() == now.len() {
            for (i, (now, then)) in now.iter().zip(file).enumerate() {
                if !same(now, then) {
                    self.originals.insert(i, then.clone());
                }
            }
            self.file = None;
            return;
        }
        let prefix = now.iter().zip(file).take_while(|(a, b)| same(a, b)).count();
        let room = now.len().min(file.len()) - prefix;
        let suffix = now
            .iter()
            .rev()
            .zip(file.iter().rev())
            .take(room)
            .take_while(|(a, b)| same(a, b))
            .count();
        // No sentence of the file is where these are: never equal to their "file version".
        for i in prefix..now.len() - suffix {
            self.originals.insert(i, Arc::default());
        }
        if self.originals.is_empty() && !now.is_empty() {
            // Only sentences without words went: still not what the file holds.
            self.originals.insert(prefix.min(now.len() - 1), Arc::default());
        }
    }

    /// Whether sentence `i` differs from the file: an unsaved edit.
    pub fn is_edited(&self, i: usize) -> bool {
        self.originals.contains_key(&i)
    }

    /// The indices of the unsaved edits, in order.
    pub fn edited(&self) -> impl Iterator<Item = usize> + '_ {
        self.originals.keys().copied()
    }

    /// How many sentences have unsaved edits.
    pub fn edited_count(&self) -> usize {
        self.originals.len()
    }

    /// How many sentences are marked reviewed.
    pub fn reviewed_count(&self) -> usize {
        self.reviewed
    }

    /// The sentences as they are now, for a save: shared, not copied.
    pub fn snapshot(&self) -> Snapshot {
        self.current.iter().cloned().collect()
    }

    /// `written` is in the file now: it is what the sentences are compared with. A sentence
    /// edited since that snapshot was taken stays unsaved.
    pub fn saved(&mut self, written: &[Arc<Sentence>]) {
        // The same allocation is the same sentence; only those replaced since are compared.
        self.file = Some(written.to_vec());
        self.realign();
    }
}

impl Index<usize> for Sentences {
    type Output = Sentence;

    fn index(&self, i: usize) -> &Sentence {
        &self.current[i]
    }
}

/// Equal when the reviewer sees the same sentences, whatever is saved.
impl PartialEq for Sentences {
    fn eq(&self, other: &Self) -> bool {
        self.current == other.current
    }
}

impl PartialEq<Vec<Sentence>> for Sentences {
    fn eq(&self, other: &Vec<Sentence>) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Sentence {
        Sentence::from_tokens(text.split(' ').map(String::from).collect())
    }

    fn reviewed(mut s: Sentence) -> Sentence {
        s.extra.insert(crate::data::annotation::REVIEWED_KEY.into(), true.into());
        s
    }

    #[test]
    fn an_edit_undone_is_not_unsaved_and_keeps_no_copy() {
        let mut s = Sentences::loaded(vec![words("a b"), words("c d")]);
        let before = s.edit(1, reviewed(words("c d")));
        assert_eq!(before, words("c d"));
        assert_eq!(s.edited().collect::<Vec<_>>(), [1]);
        assert_eq!((s.edited_count(), s.reviewed_count()), (1, 1));
        s.edit(1, words("c d"));
        assert_eq!((s.edited_count(), s.reviewed_count()), (0, 0));
        assert!(s.originals.is_empty(), "the file's version is dropped once equal again");
        assert_eq!(s, vec![words("a b"), words("c d")]);
    }

    #[test]
    fn a_second_edit_keeps_comparing_with_the_file() {
        let mut s = Sentences::loaded(vec![words("a b")]);
        s.edit(0, reviewed(words("a b")));
        let mut other = reviewed(words("a b"));
        other.extra.insert("note".into(), "x".into());
        assert_eq!(s.edit(0, other), reviewed(words("a b")));
        assert!(s.is_edited(0));
        s.edit(0, words("a b"));
        assert!(!s.is_edited(0), "back to the file's version after two edits");
    }

    #[test]
    fn proposals_move_what_the_file_is_compared_with() {
        let mut s = Sentences::loaded(vec![words("a b")]);
        let mut filled = words("a b");
        filled.entities.push(crate::data::Entity::new("X", 0, 1));
        s.propose(0, filled.clone());
        assert!(!s.is_edited(0));
        s.edit(0, words("a b"));
        assert!(s.is_edited(0), "removing a proposal is an edit");
        s.edit(0, filled);
        assert!(!s.is_edited(0));
    }

    #[test]
    fn a_save_makes_its_snapshot_the_files_version() {
        let mut s = Sentences::loaded(vec![words("a"), words("b"), words("c")]);
        s.edit(0, reviewed(words("a")));
        s.edit(1, reviewed(words("b")));
        let written = s.snapshot();
        assert!(Arc::ptr_eq(&written[2], &s.current[2]), "a snapshot copies no sentence");
        // Edited while the save writes: one back as on disk before, one anew.
        s.edit(1, words("b"));
        s.edit(2, reviewed(words("c")));
        s.saved(&written);
        assert_eq!(s.edited().collect::<Vec<_>>(), [1, 2]);
        s.edit(1, reviewed(words("b")));
        assert_eq!(s.edited().collect::<Vec<_>>(), [2], "sentence 1 is as written");
        assert_eq!(s.reviewed_count(), 3);
    }

    #[test]
    fn a_split_is_unsaved_until_undone_or_saved_and_the_sentences_after_it_move() {
        let mut s = Sentences::loaded(vec![words("a b"), words("c d"), words("e")]);
        let before = s.splice(0, 1, vec![words("a"), words("b")]);
        assert_eq!(before, vec![words("a b")]);
        assert_eq!(s.edited().collect::<Vec<_>>(), [0, 1]);
        s.edit(3, reviewed(words("e")));
        assert_eq!(s.edited().collect::<Vec<_>>(), [0, 1, 3], "\"e\" compares with its own");
        assert_eq!(s.reviewed_count(), 1);
        s.edit(3, words("e"));
        assert_eq!(s.edited().collect::<Vec<_>>(), [0, 1]);
        s.edit(1, reviewed(words("b")));
        s.edit(1, words("b"));
        assert!(s.is_edited(1), "a half of a split is unsaved whatever it holds");
        s.splice(0, 2, vec![words("a b")]);
        assert_eq!(s.edited_count(), 0, "an undone split is no edit");
        assert!(s.file.is_none(), "nor kept once the sentences line up again");
        s.splice(0, 1, vec![words("a"), words("b")]);
        let written = s.snapshot();
        s.saved(&written);
        assert_eq!(s.edited_count(), 0, "a save makes the split the file's");
        s.splice(0, 2, vec![words("a b")]);
        assert_eq!(s.edited().collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn an_undone_merge_is_no_edit_and_a_save_in_flight_sees_the_count_change() {
        let mut s = Sentences::loaded(vec![words("a"), words("b"), words("c")]);
        let written = s.snapshot();
        s.splice(0, 2, vec![words("a b")]);
        assert_eq!(s.edited().collect::<Vec<_>>(), [0]);
        s.splice(0, 1, vec![words("a"), words("b")]);
        assert_eq!(s.edited_count(), 0);
        s.splice(1, 2, vec![words("b c")]);
        s.saved(&written);
        assert_eq!(s.edited().collect::<Vec<_>>(), [1], "the file holds three sentences");
        let mut filled = words("a");
        filled.entities.push(crate::data::Entity::new("X", 0, 1));
        s.propose(0, filled);
        assert_eq!(s.edited().collect::<Vec<_>>(), [1], "proposals are no edit past a merge");
        s.splice(1, 1, vec![words("b"), words("c")]);
        assert_eq!(s.edited_count(), 0);
    }
}
