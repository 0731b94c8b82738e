//! Searching the documents' words as a reviewer types them: case and accents do not matter
//! (`weiss` finds "Weiß", `zurich` finds "Zürich"), and every match is counted.

use tokenizers::normalizers::StripAccents;
use tokenizers::{NormalizedString, Normalizer};

use crate::data::Sentence;

/// A word or query as search compares it: decomposed by compatibility (NFKD, so `ﬁ` is `fi`
/// and full-width letters are plain ones), without combining marks, lower case, `ß` as `ss`.
pub fn fold(text: &str) -> String {
    let mut normalized = NormalizedString::from(text);
    normalized.nfkd();
    // StripAccents cannot fail; it only drops characters.
    let _ = StripAccents.normalize(&mut normalized);
    normalized.lowercase();
    normalized.get().replace('ß', "ss")
}

/// The words of `sentence` where the folded `query` matches: the words from there on start
/// with it (so a query may span words), or the word contains it.
pub fn matches_in(sentence: &Sentence, query: &str) -> Vec<usize> {
    if query.is_empty() {
        return Vec::new();
    }
    let words: Vec<String> = sentence.tokens.iter().map(|t| fold(t)).collect();
    (0..words.len())
        .filter(|&i| words[i].contains(query) || words[i..].join(" ").starts_with(query))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_accents_fold_away() {
        assert_eq!(fold("Weiß"), "weiss");
        assert_eq!(fold("Zürich"), "zurich");
        assert_eq!(fold("ÉCOLE"), "ecole");
        assert_eq!(fold("Café"), "cafe");
        assert_eq!(fold("Cafe\u{301}"), "cafe", "an accent typed as a combining mark");
        assert_eq!(fold("ﬁnance ＡＢＣ"), "finance abc", "compatibility forms");
        assert_eq!(fold("Łódź"), "łodz", "a stroke is a letter of its own, not an accent");
    }

    #[test]
    fn a_query_matches_inside_a_word_and_across_words() {
        let s: Sentence = serde_json::from_value(serde_json::json!({
            "tokens": ["Herr", "Weiß", "lives", "in", "New", "York", "."]
        }))
        .unwrap();
        assert_eq!(matches_in(&s, &fold("WEISS")), vec![1]);
        assert_eq!(matches_in(&s, &fold("new york")), vec![4]);
        assert_eq!(matches_in(&s, "e"), vec![0, 1, 2, 4], "Weiß folds to weiss");
        assert!(matches_in(&s, "").is_empty());
    }
}
