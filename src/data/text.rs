//! Plain text to sentences of word tokens, tokenised the way SpERT's datasets (CoNLL04,
//! SciERC) are: words and punctuation are separate tokens, abbreviations (`U.S.`, `Mr.`,
//! `Inc.`), numbers (`3.5`, `1,000`) and hyphenated words (`1-2`, `state-of-the-art`) stay one
//! token, clitics split the Penn Treebank way (`do` `n't`, `John` `'s`). Every token keeps its
//! byte range in the original text, so a view can map tokens back to what the user wrote.
//!
//! Word boundaries come from Unicode's word segmentation (UAX #29, via unicode-segmentation),
//! which already keeps `3.5`, `1,000`, `can't`, `U.S` and emoji sequences whole and splits CJK
//! ideographs; the rules here only adjust it for the datasets' conventions. Sentences end after
//! `.`, `!`, `?`, `…` and their CJK forms (plus closing quotes and brackets), unless the next
//! word starts in lower case; a blank line always ends a sentence.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

use super::document::Sentence;

/// A word token of a plain text and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextToken {
    /// The token, exactly as in the text.
    pub text: String,
    /// Its byte range in the original text (`&text[range] == self.text`).
    pub range: Range<usize>,
}

/// A sentence split out of a plain text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextSentence {
    /// Its tokens, in text order; never empty.
    pub tokens: Vec<TextToken>,
}

impl TextSentence {
    /// The sentence as a SpERT record without annotations.
    pub fn to_sentence(&self) -> Sentence {
        Sentence::from_tokens(self.tokens.iter().map(|t| t.text.clone()).collect())
    }

    /// Byte range of the whole sentence in the original text.
    pub fn range(&self) -> Range<usize> {
        match (self.tokens.first(), self.tokens.last()) {
            (Some(first), Some(last)) => first.range.start..last.range.end,
            _ => 0..0,
        }
    }
}

/// The word tokens of a text with its sentences run together, for input that is meant as one
/// sentence (`spanscope heads --text`, `spanscope encode --text`).
pub fn words(text: &str) -> Vec<String> {
    split_text(text).into_iter().flat_map(|s| s.tokens).map(|t| t.text).collect()
}

/// Splits a text into sentences of word tokens. Empty or blank text gives no sentences.
pub fn split_text(text: &str) -> Vec<TextSentence> {
    let mut sentences = Vec::new();
    for paragraph in paragraphs(text) {
        let offset = paragraph.start;
        let tokens = tokenize(&text[paragraph]);
        let mut current = TextSentence::default();
        for (i, range) in tokens.iter().enumerate() {
            let range = range.start + offset..range.end + offset;
            current.tokens.push(TextToken { text: text[range.clone()].to_string(), range });
            if ends_sentence(&text[offset..], &tokens, i) {
                sentences.push(std::mem::take(&mut current));
            }
        }
        if !current.tokens.is_empty() {
            sentences.push(current);
        }
    }
    sentences
}

/// Byte ranges of the paragraphs: runs of lines that are not blank.
fn paragraphs(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut current: Option<Range<usize>> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let range = offset..offset + line.len();
        offset = range.end;
        if line.trim().is_empty() {
            out.extend(current.take());
        } else {
            current = Some(current.map_or(range.clone(), |c| c.start..range.end));
        }
    }
    out.extend(current);
    out
}

/// Byte ranges of the word tokens of `text`, in order.
pub fn tokenize(text: &str) -> Vec<Range<usize>> {
    let mut tokens: Vec<Range<usize>> = Vec::new();
    for (start, segment) in text.split_word_bound_indices() {
        let trimmed = segment.trim_start();
        let start = start + segment.len() - trimmed.len();
        let trimmed = trimmed.trim_end();
        if trimmed.is_empty() {
            continue;
        }
        let seg = start..start + trimmed.len();
        if let Some(last) = tokens.last_mut() {
            let previous = &text[last.clone()];
            let glued = last.end == seg.start;
            let period = trimmed == "." && (is_abbreviation(previous) || is_run_of(previous, '.'));
            let dashes = trimmed == "-" && is_run_of(previous, '-');
            if glued && (period || dashes) {
                last.end = seg.end;
                continue;
            }
        }
        if joins_hyphenated(text, &tokens, &seg) {
            let n = tokens.len();
            tokens[n - 2].end = seg.end;
            tokens.pop();
            continue;
        }
        match clitic_split(trimmed) {
            Some(at) => {
                tokens.push(seg.start..seg.start + at);
                tokens.push(seg.start + at..seg.end);
            }
            None => tokens.push(seg),
        }
    }
    tokens
}

/// `word-word` without spaces (also `1-2`, `U.K.-based`): the hyphen and both sides become one
/// token.
fn joins_hyphenated(text: &str, tokens: &[Range<usize>], seg: &Range<usize>) -> bool {
    let [.., word, hyphen] = tokens else { return false };
    &text[hyphen.clone()] == "-"
        && word.end == hyphen.start
        && hyphen.end == seg.start
        && text[word.clone()].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '.')
        && !is_run_of(&text[word.clone()], '.')
        && text[seg.clone()].chars().next().is_some_and(char::is_alphanumeric)
}

/// Abbreviations whose period is part of the word and does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "inc", "ltd", "co", "corp", "vs", "etc",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "gen",
    "col", "lt", "sgt", "capt", "gov", "sen", "rep", "rev", "mt", "ft", "fig", "al", "approx",
    "dept", "univ", "ave", "blvd", "bros", "cf", "ca", "resp", "eq", "eqs", "vol", "pp",
];

/// `U.S`, `e.g`, `Ph.D` (letters with inner periods), a single letter (`J. Smith`, `b. 1950`,
/// `p. 5`), `No` (`No. 2`), or a listed word.
fn is_abbreviation(word: &str) -> bool {
    let mut chars = word.chars();
    let single_letter = matches!((chars.next(), chars.next()), (Some(c), None) if c.is_uppercase() || c.is_lowercase());
    let dotted = word.contains('.')
        && word.split('.').all(|p| !p.is_empty() && p.chars().all(char::is_alphabetic));
    single_letter
        || dotted
        || word == "No"
        || ABBREVIATIONS.iter().any(|a| a.eq_ignore_ascii_case(word))
}

/// `...`, `--`: punctuation repeated, kept as one token.
fn is_run_of(word: &str, c: char) -> bool {
    !word.is_empty() && word.chars().all(|w| w == c)
}

/// Where a clitic starts in a word: `don't` → `do|n't`, `John's` → `John|'s`.
fn clitic_split(word: &str) -> Option<usize> {
    let lower = word.to_lowercase();
    if lower.len() != word.len() {
        return None; // case mapping changed byte lengths; offsets would not line up
    }
    for suffix in ["n't", "n’t"] {
        if lower.ends_with(suffix) && lower.len() > suffix.len() {
            return Some(word.len() - suffix.len());
        }
    }
    for apostrophe in ['\'', '’'] {
        for clitic in ["s", "re", "ve", "ll", "d", "m"] {
            let suffix = format!("{apostrophe}{clitic}");
            if lower.ends_with(&suffix) && lower.len() > suffix.len() {
                return Some(word.len() - suffix.len());
            }
        }
    }
    None
}

fn is_terminator(token: &str) -> bool {
    !token.is_empty()
        && token
            .chars()
            .all(|c| matches!(c, '.' | '!' | '?' | '…' | '。' | '！' | '？' | '‼' | '⁇'))
}

fn is_closer(token: &str) -> bool {
    matches!(token, "\"" | "'" | "”" | "’" | ")" | "]" | "}" | "»" | "」" | "』" | "）")
}

/// Whether a sentence ends after token `i`: it is a terminator, or a closer after one, and the
/// next token neither continues the run of terminators/closers nor starts in lower case.
fn ends_sentence(text: &str, tokens: &[Range<usize>], i: usize) -> bool {
    let token = &text[tokens[i].clone()];
    let closing_after_end = is_closer(token) && i > 0 && {
        let mut j = i;
        while j > 0 && is_closer(&text[tokens[j].clone()]) {
            j -= 1;
        }
        is_terminator(&text[tokens[j].clone()])
    };
    if !is_terminator(token) && !closing_after_end {
        return false;
    }
    let Some(next) = tokens.get(i + 1) else { return true };
    let next_text = &text[next.clone()];
    let straight_quote = matches!(next_text, "\"" | "'");
    // No sentence begins with a comma, semicolon, colon or percent sign ("Bethany, Conn.,
    // was" goes on after the abbreviation), nor right after a stop with no space between
    // ("his .38-caliber Colt").
    // (Scripts without spaces, as Japanese, end sentences with glued stops of their own.)
    let glued = token == "."
        && next.start == tokens[i].end
        && next_text.starts_with(|c: char| c.is_ascii_alphanumeric());
    let continues = is_terminator(next_text)
        || glued
        || next_text.starts_with([',', ';', ':', '%'])
        || (is_closer(next_text) && (!straight_quote || next.start == tokens[i].end));
    !continues && !next_text.chars().next().is_some_and(char::is_lowercase)
}

/// `NextSentence` -> `next_sentence`: how the config file and the Python API name a Rust
/// variant.
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn words(text: &str) -> Vec<Vec<String>> {
        split_text(text).iter().map(|s| s.tokens.iter().map(|t| t.text.clone()).collect()).collect()
    }

    fn flat(text: &str) -> Vec<String> {
        words(text).concat()
    }

    #[test]
    fn no_sentence_starts_with_a_comma_or_right_after_a_glued_stop() {
        let text = "Marie Ferraro of Bethany , Conn. , was shot. Ruby fired his .38-caliber Colt .";
        let sentences = words(text);
        assert_eq!(sentences.len(), 2, "{sentences:?}");
        assert_eq!(sentences[1][0], "Ruby");
    }

    #[test]
    fn empty_and_blank_text_has_no_sentences() {
        assert!(split_text("").is_empty());
        assert!(split_text("   \n\t\n  \r\n").is_empty());
    }

    #[test]
    fn words_and_punctuation_are_separate() {
        assert_eq!(
            words("John Wilkes Booth, who assassinated President Lincoln, was an actor."),
            [vec![
                "John",
                "Wilkes",
                "Booth",
                ",",
                "who",
                "assassinated",
                "President",
                "Lincoln",
                ",",
                "was",
                "an",
                "actor",
                "."
            ]]
        );
    }

    #[test]
    fn sentences_end_at_terminators() {
        assert_eq!(
            words("It rained. Was it cold? Yes!"),
            [vec!["It", "rained", "."], vec!["Was", "it", "cold", "?"], vec!["Yes", "!"]]
        );
    }

    #[test]
    fn abbreviations_stay_whole_and_do_not_end_sentences() {
        assert_eq!(
            words("Mr. Smith of Acme Inc. met Dr. J. Doe in the U.S. on Main St. today. Next one."),
            [
                vec![
                    "Mr.", "Smith", "of", "Acme", "Inc.", "met", "Dr.", "J.", "Doe", "in", "the",
                    "U.S.", "on", "Main", "St.", "today", "."
                ],
                vec!["Next", "one", "."],
            ]
        );
        assert_eq!(flat("e.g. this"), ["e.g.", "this"]);
    }

    #[test]
    fn numbers_stay_whole() {
        assert_eq!(
            flat("It cost $1,000.50 or 3.5% on June 1-2."),
            ["It", "cost", "$", "1,000.50", "or", "3.5", "%", "on", "June", "1-2", "."]
        );
    }

    #[test]
    fn hyphenated_words_stay_whole_but_dashes_do_not() {
        assert_eq!(flat("state-of-the-art - and -5"), ["state-of-the-art", "-", "and", "-", "5"]);
    }

    #[test]
    fn numbered_and_lettered_abbreviations() {
        assert_eq!(
            words("The No. 2 seed (b. 1950) won. See p. 5."),
            [
                vec!["The", "No.", "2", "seed", "(", "b.", "1950", ")", "won", "."],
                vec!["See", "p.", "5", "."]
            ]
        );
        assert_eq!(flat("U.K.-based -- not"), ["U.K.-based", "--", "not"]);
    }

    #[test]
    fn contractions_split_like_the_treebank() {
        assert_eq!(
            flat("I don't think John's car won’t start; O'Brien's"),
            [
                "I", "do", "n't", "think", "John", "'s", "car", "wo", "n’t", "start", ";",
                "O'Brien", "'s"
            ]
        );
    }

    #[test]
    fn quotes_and_brackets_are_separate() {
        assert_eq!(
            flat("\"Hi\" (yes) [no] «oui»"),
            ["\"", "Hi", "\"", "(", "yes", ")", "[", "no", "]", "«", "oui", "»"]
        );
    }

    #[test]
    fn closing_quotes_stay_with_the_sentence() {
        assert_eq!(
            words("He said \"Go.\" Then he left."),
            [vec!["He", "said", "\"", "Go", ".", "\""], vec!["Then", "he", "left", "."]]
        );
        assert_eq!(
            words("(See above.) Done."),
            [vec!["(", "See", "above", ".", ")"], vec!["Done", "."]]
        );
    }

    #[test]
    fn ellipsis_is_one_token_and_lower_case_continues() {
        assert_eq!(
            words("Wait... and see. Ok"),
            [vec!["Wait", "...", "and", "see", "."], vec!["Ok"]]
        );
        assert_eq!(words("Really?! Yes."), [vec!["Really", "?", "!"], vec!["Yes", "."]]);
    }

    #[test]
    fn blank_lines_end_sentences_and_single_newlines_do_not() {
        assert_eq!(
            words("A title\n\nThe body\ncontinues here"),
            [vec!["A", "title"], vec!["The", "body", "continues", "here"]]
        );
        assert_eq!(words("one\r\n  \r\ntwo"), [vec!["one"], vec!["two"]]);
    }

    #[test]
    fn non_ascii_text() {
        assert_eq!(flat("Café Straße naïve Ærø."), ["Café", "Straße", "naïve", "Ærø", "."]);
        assert_eq!(
            words("東京に行きました。大阪も。"),
            [
                vec!["東", "京", "に", "行", "き", "ま", "し", "た", "。"],
                vec!["大", "阪", "も", "。"]
            ]
        );
        assert_eq!(flat("Great 👍🏽 job 👨‍👩‍👧!"), ["Great", "👍🏽", "job", "👨‍👩‍👧", "!"]);
    }

    #[test]
    fn byte_ranges_point_into_the_original_text() {
        let text = "Zoë  met\n Ünal.\n\n東京 👍";
        for sentence in split_text(text) {
            for token in &sentence.tokens {
                assert_eq!(&text[token.range.clone()], token.text);
            }
        }
        let s = split_text(text);
        assert_eq!(s[0].tokens[1].range, 6..9);
        assert_eq!(&text[s[0].range()], "Zoë  met\n Ünal.");
    }

    proptest! {
        #[test]
        fn never_panics_and_ranges_are_ordered(text in "\\PC{0,80}|[a-zA-Z .,'\"!?\n-]{0,80}") {
            let mut last_end = 0;
            for sentence in split_text(&text) {
                prop_assert!(!sentence.tokens.is_empty());
                for token in &sentence.tokens {
                    prop_assert!(token.range.start >= last_end && token.range.start < token.range.end);
                    prop_assert_eq!(&text[token.range.clone()], token.text.as_str());
                    prop_assert!(!token.text.chars().next().is_some_and(char::is_whitespace));
                    last_end = token.range.end;
                }
            }
        }

        #[test]
        fn arbitrary_unicode_never_panics(text in any::<String>()) {
            for sentence in split_text(&text) {
                for token in &sentence.tokens {
                    prop_assert_eq!(&text[token.range.clone()], token.text.as_str());
                }
            }
        }
    }
}
