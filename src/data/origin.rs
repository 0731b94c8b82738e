//! Where records made from plain text came from, and bringing in a text that changed after
//! its annotations were saved (docs/DATA.md, "Provenance and text positions").
//!
//! A record split out of `X.txt` keeps, in extra keys SpERT ignores, each token's character
//! offsets (`"offsets"`) and the sentence's place in the text (`"origin"`), both counted in
//! Unicode code points from the start of the file, as Python's `str` indexes it; and a stable
//! `"id"`. Once `X.json` holds the annotations, `X.txt` is still read when the document opens:
//! its new or changed sentences come in, the records of unchanged ones keep their review.

use std::collections::{HashMap, VecDeque};

use serde_json::{json, Value};

use super::annotation::{is_reviewed, only_proposals};
use super::document::Sentence;
use super::provenance::{rejected_counts, sentence_id, ANNOTATOR_KEY, ID_KEY};
use super::text::{split_text, TextSentence};

/// The sentence key holding each token's `[start, end)` in code points.
pub const OFFSETS_KEY: &str = "offsets";
/// The sentence key holding `{"file", "start", "end"}`: the text file's name and the
/// sentence's code-point range in it.
pub const ORIGIN_KEY: &str = "origin";

/// A sentence of the text, with code-point positions.
struct Located {
    tokens: Vec<String>,
    offsets: Vec<(usize, usize)>,
}

impl Located {
    fn range(&self) -> (usize, usize) {
        (self.offsets[0].0, self.offsets[self.offsets.len() - 1].1)
    }
}

/// The sentences of `text` with code-point offsets (the splitter gives byte ranges), counted
/// from `before` code points ahead of `text`.
fn locate(text: &str, before: usize) -> Vec<Located> {
    let (mut byte, mut chars) = (0, before);
    let mut at = |to: usize| {
        chars += text[byte..to].chars().count();
        byte = to;
        chars
    };
    split_text(text)
        .iter()
        .map(|s: &TextSentence| {
            let offsets = s.tokens.iter().map(|t| (at(t.range.start), at(t.range.end))).collect();
            Located { tokens: s.tokens.iter().map(|t| t.text.clone()).collect(), offsets }
        })
        .collect()
}

fn origin(file: &str, (start, end): (usize, usize)) -> Value {
    json!({"file": file, "start": start, "end": end})
}

fn offsets(offsets: &[(usize, usize)]) -> Value {
    Value::Array(offsets.iter().map(|&(s, e)| json!([s, e])).collect())
}

fn record(file: &str, located: &Located) -> Sentence {
    let mut s = Sentence::from_tokens(located.tokens.clone());
    let (start, _) = located.range();
    let id = sentence_id(&[file, &start.to_string(), &located.tokens.join(" ")]);
    s.extra.insert(ID_KEY.into(), id.into());
    s.extra.insert(ORIGIN_KEY.into(), origin(file, located.range()));
    s.extra.insert(OFFSETS_KEY.into(), offsets(&located.offsets));
    s
}

/// The records of `text`, the file named `file` (without a byte-order mark, which is not
/// counted): its sentences, each with offsets, origin and id.
pub fn sentences_from_text(file: &str, text: &str) -> Vec<Sentence> {
    sentences_from_part(file, text, 0)
}

/// As [`sentences_from_text`], for a part of the file's text (whole paragraphs) that starts
/// `before` code points into it: what a reader going through the file a paragraph at a time
/// gives.
pub fn sentences_from_part(file: &str, part: &str, before: usize) -> Vec<Sentence> {
    locate(part, before).iter().map(|l| record(file, l)).collect()
}

/// The origin of a record made from `file`: its code-point range.
pub fn origin_in(s: &Sentence, file: &str) -> Option<(usize, usize)> {
    let o = s.extra.get(ORIGIN_KEY)?.as_object()?;
    let number = |key: &str| o.get(key)?.as_u64().and_then(|n| usize::try_from(n).ok());
    (o.get("file")?.as_str()? == file).then_some((number("start")?, number("end")?))
}

/// Whether any record was made from `file`.
pub fn made_from(sentences: &[Sentence], file: &str) -> bool {
    sentences.iter().any(|s| origin_in(s, file).is_some())
}

/// What came in from a changed text, for the reviewer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextUpdate {
    /// The text file's name.
    pub file: String,
    /// Sentences of the text that no record had: new or changed, now records to review.
    pub added: usize,
    /// Records whose sentence is still in the text (their review kept, offsets updated).
    pub unchanged: usize,
    /// Records no longer in the text that hold someone's work: kept as they are.
    pub kept: usize,
    /// Records no longer in the text with nothing a person did: dropped.
    pub dropped: usize,
}

impl std::fmt::Display for TextUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} changed: {} new or changed sentence(s) came in", self.file, self.added)?;
        if self.kept > 0 {
            write!(f, "; {} reviewed sentence(s) no longer in it were kept", self.kept)?;
        }
        if self.dropped > 0 {
            write!(f, "; {} unreviewed sentence(s) no longer in it were dropped", self.dropped)?;
        }
        write!(f, "; {} unchanged keep their review", self.unchanged)
    }
}

/// Consecutive records made from one sentence of the text (one, unless it was split), or a
/// record made from elsewhere.
struct Group {
    records: std::ops::Range<usize>,
    range: Option<(usize, usize)>,
    tokens: Vec<String>,
}

fn groups(records: &[Sentence], file: &str) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for (i, s) in records.iter().enumerate() {
        let range = origin_in(s, file);
        match out.last_mut() {
            Some(g) if range.is_some() && g.range == range => {
                g.records.end = i + 1;
                g.tokens.extend(s.tokens.iter().cloned());
            }
            _ => out.push(Group { records: i..i + 1, range, tokens: s.tokens.clone() }),
        }
    }
    out
}

/// Whether a person did anything to a record: it must not be dropped silently.
fn worked_on(s: &Sentence) -> bool {
    is_reviewed(s)
        || !only_proposals(s)
        || s.extra.contains_key(ANNOTATOR_KEY)
        || rejected_counts(s) != (0, 0)
}

/// Brings `text`, the file `file`, into `records` (read from the annotations saved for it):
/// records whose words are still a sentence of the text keep everything and get their new
/// place; sentences of the text no record has come in as new records, where they are in the
/// text; records no longer in it are kept if someone worked on them, else dropped. `None`
/// when no record was made from `file`, or the text is as the records say.
pub fn bring_in_text(
    records: &[Sentence],
    file: &str,
    text: &str,
) -> Option<(Vec<Sentence>, TextUpdate)> {
    if !made_from(records, file) {
        return None;
    }
    let located = locate(text, 0);
    let groups = groups(records, file);
    let from_text: Vec<&Group> = groups.iter().filter(|g| g.range.is_some()).collect();
    let same = from_text.len() == located.len()
        && from_text
            .iter()
            .zip(&located)
            .all(|(g, l)| g.range == Some(l.range()) && g.tokens == l.tokens);
    if same {
        return None;
    }
    // Each sentence of the text takes the first unused group with its words after the last
    // one taken, so the order of the records is the text's.
    let mut by_words: HashMap<&[String], VecDeque<usize>> = HashMap::new();
    for (g, group) in groups.iter().enumerate().filter(|(_, g)| g.range.is_some()) {
        by_words.entry(group.tokens.as_slice()).or_default().push_back(g);
    }
    let mut taken: Vec<Option<usize>> = Vec::with_capacity(located.len());
    let mut next = 0;
    for l in &located {
        let found = by_words.get_mut(l.tokens.as_slice()).and_then(|queue| {
            while queue.front().is_some_and(|&g| g < next) {
                queue.pop_front();
            }
            queue.pop_front()
        });
        if let Some(g) = found {
            next = g + 1;
        }
        taken.push(found);
    }
    let mut merged = Merged {
        records,
        groups: &groups,
        emitted: 0,
        out: Vec::with_capacity(records.len().max(located.len())),
        update: TextUpdate { file: file.to_string(), ..TextUpdate::default() },
    };
    for (l, g) in located.iter().zip(&taken) {
        match *g {
            Some(g) => {
                merged.leftovers(g);
                merged.emitted = g + 1;
                merged.update.unchanged += 1;
                let mut words = l.offsets.iter();
                for s in &records[groups[g].records.clone()] {
                    let mut s = s.clone();
                    let mine: Vec<(usize, usize)> =
                        words.by_ref().take(s.tokens.len()).copied().collect();
                    s.extra.insert(ORIGIN_KEY.into(), origin(file, l.range()));
                    s.extra.insert(OFFSETS_KEY.into(), offsets(&mine));
                    merged.out.push(s);
                }
            }
            None => {
                merged.update.added += 1;
                merged.out.push(record(file, l));
            }
        }
    }
    merged.leftovers(groups.len());
    Some((merged.out, merged.update))
}

/// The records being laid out by [`bring_in_text`].
struct Merged<'a> {
    records: &'a [Sentence],
    groups: &'a [Group],
    /// Groups before this one are laid out or dropped.
    emitted: usize,
    out: Vec<Sentence>,
    update: TextUpdate,
}

impl Merged<'_> {
    /// Lays out the groups no sentence of the text took, up to group `upto`: records from
    /// elsewhere and those someone worked on stay where they were, the rest go.
    fn leftovers(&mut self, upto: usize) {
        for group in &self.groups[self.emitted.min(upto)..upto] {
            for s in &self.records[group.records.clone()] {
                if group.range.is_none() {
                    self.out.push(s.clone());
                } else if worked_on(s) {
                    // Kept, but it no longer points into the text.
                    let mut s = s.clone();
                    s.extra.shift_remove(ORIGIN_KEY);
                    s.extra.shift_remove(OFFSETS_KEY);
                    self.update.kept += 1;
                    self.out.push(s);
                } else {
                    self.update.dropped += 1;
                }
            }
        }
        self.emitted = self.emitted.max(upto);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::annotation::REVIEWED_KEY;
    use crate::data::Entity;

    /// The characters of `text` from code point `start` to `end`.
    fn chars(text: &str, (start, end): (usize, usize)) -> String {
        text.chars().skip(start).take(end - start).collect()
    }

    fn pairs(s: &Sentence, key: &str) -> Vec<(usize, usize)> {
        let list = match key {
            OFFSETS_KEY => s.extra[key].as_array().unwrap().clone(),
            _ => vec![json!([s.extra[key]["start"], s.extra[key]["end"]])],
        };
        list.iter()
            .map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_u64().unwrap() as usize))
            .collect()
    }

    #[test]
    fn offsets_point_at_the_characters_of_each_token() {
        let text = "Zoë Ünal visited Kraków.\n\n東京に行きました。 Café 👍🏽 naïve “quotes”.";
        let sentences = sentences_from_text("notes.txt", text);
        assert_eq!(sentences.len(), 3);
        for s in &sentences {
            let offsets = pairs(s, OFFSETS_KEY);
            assert_eq!(offsets.len(), s.tokens.len());
            for (token, &range) in s.tokens.iter().zip(&offsets) {
                assert_eq!(&chars(text, range), token);
            }
            let origin = pairs(s, ORIGIN_KEY)[0];
            assert_eq!(origin, (offsets[0].0, offsets[offsets.len() - 1].1));
            assert_eq!(s.extra[ORIGIN_KEY]["file"], json!("notes.txt"));
        }
        assert_eq!(pairs(&sentences[0], OFFSETS_KEY)[1], (4, 8), "Ünal, after the ë");
        assert_eq!(chars(text, pairs(&sentences[2], ORIGIN_KEY)[0]), "Café 👍🏽 naïve “quotes”.");
    }

    fn reviewed(mut s: Sentence) -> Sentence {
        s.entities.push(Entity::new("Peop", 0, 1));
        s.extra.insert(REVIEWED_KEY.into(), true.into());
        s
    }

    #[test]
    fn an_unchanged_text_brings_nothing() {
        let text = "Anna left. Bo stayed.";
        let records = sentences_from_text("a.txt", text);
        assert_eq!(bring_in_text(&records, "a.txt", text), None);
        assert_eq!(bring_in_text(&records, "b.txt", "Other text."), None);
    }

    #[test]
    fn new_and_changed_sentences_come_in_and_reviews_stay() {
        let old = "Anna left. Bo stayed. Cy sang.";
        let mut records = sentences_from_text("a.txt", old);
        records[0] = reviewed(records[0].clone());
        records[1] = reviewed(records[1].clone());
        let id = records[0].extra[ID_KEY].clone();
        let new = "New first. Anna left. Bo stayed at home. Cy sang. Dee came.";
        let (out, update) = bring_in_text(&records, "a.txt", new).unwrap();
        let words: Vec<String> = out.iter().map(|s| s.tokens.join(" ")).collect();
        assert_eq!(
            words,
            [
                "New first .",
                "Anna left .",
                "Bo stayed at home .",
                "Bo stayed .",
                "Cy sang .",
                "Dee came ."
            ]
        );
        assert_eq!(out[1].extra[ID_KEY], id);
        assert!(is_reviewed(&out[1]) && out[1].entities.len() == 1);
        assert_eq!(chars(new, pairs(&out[1], ORIGIN_KEY)[0]), "Anna left.");
        assert!(is_reviewed(&out[3]), "a reviewed sentence no longer in the text is kept");
        assert!(!out[3].extra.contains_key(ORIGIN_KEY), "but it no longer points into it");
        assert_eq!(
            update,
            TextUpdate { file: "a.txt".into(), added: 3, unchanged: 2, kept: 1, dropped: 0 }
        );
        assert_eq!(bring_in_text(&out, "a.txt", new), None, "once in, nothing more comes");
    }

    #[test]
    fn a_split_sentence_is_one_sentence_of_the_text() {
        let old = "Anna left Oslo. Bo stayed.";
        let records = sentences_from_text("a.txt", old);
        let mut split = vec![records[0].clone(), records[0].clone(), records[1].clone()];
        split[0].tokens.truncate(2);
        split[1].tokens.drain(..2);
        split[2] = reviewed(split[2].clone());
        let (out, update) =
            bring_in_text(&split, "a.txt", "Anna left Oslo. Bo stayed. Cy too.").unwrap();
        assert_eq!(out.len(), 4);
        assert_eq!(pairs(&out[1], OFFSETS_KEY), [(10, 14), (14, 15)]);
        assert_eq!((update.added, update.unchanged, update.dropped), (1, 2, 0));
    }

    #[test]
    fn untouched_sentences_no_longer_in_the_text_go() {
        let records = sentences_from_text("a.txt", "Anna left. Bo stayed.");
        let (out, update) = bring_in_text(&records, "a.txt", "Anna left.").unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!((update.dropped, update.kept), (1, 0));
    }
}
