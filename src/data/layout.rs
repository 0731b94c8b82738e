//! Writing sentences back into the layout of the file they came from: a record nobody edited
//! keeps its exact bytes, whatever tool laid it out, and so does the text around the records
//! (docs/RELIABILITY.md, "Numbers and keys of records nobody edited").

use std::borrow::Borrow;
use std::ops::Range;
use std::path::Path;

use serde::Serialize;

use super::document::Sentence;
use super::io::{duplicate_key, encode_sentences, DataError, ErrorKind, Format, Place};
use super::record::parse_record;

/// The bytes of `sentences` in `format`, laid out as `original` (the file's bytes now): the
/// text before the first record, between records and after the last is kept, a sentence equal
/// to the record at its place in `original` is written as that record's bytes, and any other
/// is written anew, indented as the file's first record is. When `original` is not a readable
/// SpERT file of `format`, the sentences are written as [`encode_sentences`] writes them.
pub fn encode_like<S: Borrow<Sentence>>(
    path: &Path,
    sentences: &[S],
    format: Format,
    original: &[u8],
) -> Result<Vec<u8>, DataError> {
    let layout = std::str::from_utf8(original).ok().and_then(|text| Layout::of(text, format));
    let Some(layout) = layout.filter(|_| !sentences.is_empty()) else {
        return encode_sentences(path, sentences, format);
    };
    let style = layout.style(format);
    let mut out = String::with_capacity(original.len());
    out.push_str(&layout.text[..layout.records[0].start]);
    for (i, sentence) in sentences.iter().enumerate() {
        let sentence = sentence.borrow();
        if i > 0 {
            out.push_str(layout.separator(i - 1, &style));
        }
        match layout.record(path, i) {
            Some((text, read)) if read == *sentence => out.push_str(text),
            _ => out.push_str(&style.write(sentence).map_err(|e| {
                DataError::new(path, Place::File, ErrorKind::Structure, e.to_string())
            })?),
        }
    }
    let last = layout.records[layout.records.len() - 1].end;
    out.push_str(&layout.text[last..]);
    Ok(out.into_bytes())
}

/// Where a file's records are.
struct Layout<'a> {
    text: &'a str,
    /// Each record's bytes, without the whitespace around it; never empty.
    records: Vec<Range<usize>>,
}

impl<'a> Layout<'a> {
    fn of(text: &'a str, format: Format) -> Option<Self> {
        let records = match format {
            Format::Json => {
                // The scan below trusts the brackets to match: the file must be JSON.
                let body = text.strip_prefix('\u{feff}').unwrap_or(text);
                serde_json::from_str::<serde::de::IgnoredAny>(body).ok()?;
                array_elements(text)?
            }
            Format::JsonLines => json_lines(text),
            Format::Text => return None,
        };
        (!records.is_empty()).then_some(Self { text, records })
    }

    /// Record `i`'s bytes and sentence, when it has one and it reads as a sentence.
    fn record(&self, path: &Path, i: usize) -> Option<(&'a str, Sentence)> {
        let text = &self.text[self.records.get(i)?.clone()];
        if duplicate_key(text).is_some() {
            return None;
        }
        let value = serde_json::from_str(text).ok()?;
        Some((text, parse_record(path, i, &value).ok()?))
    }

    /// The text after record `i` and before the next: the file's own, or for records beyond
    /// the file's, the last one it has.
    fn separator<'s>(&'s self, i: usize, style: &'s Style) -> &'s str {
        let between = |k: usize| &self.text[self.records[k].end..self.records[k + 1].start];
        match self.records.len() {
            1 => &style.separator,
            n => between(i.min(n - 2)),
        }
    }

    /// How the first record is indented: JSON laid out over several lines with an indent, or
    /// one record per line.
    fn style(&self, format: Format) -> Style {
        let first = &self.text[self.records[0].clone()];
        let line_start = self.text[..self.records[0].start].rfind('\n').map_or(0, |n| n + 1);
        let base = &self.text[line_start..self.records[0].start];
        let base = if base.chars().all(|c| c == ' ' || c == '\t') { base } else { "" };
        let indent = match (format, first.split('\n').nth(1)) {
            (Format::Json, Some(line)) => {
                let leading = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
                leading.strip_prefix(base).unwrap_or(leading).to_string()
            }
            _ => String::new(),
        };
        let separator = match format {
            Format::Json => format!(",\n{base}"),
            _ => "\n".to_string(),
        };
        Style { base: base.to_string(), indent, separator }
    }
}

/// How records are written anew.
struct Style {
    /// The whitespace before a record on its line.
    base: String,
    /// One level of indentation inside a record; empty for one record per line.
    indent: String,
    /// Between two records, when the file has no two to take it from.
    separator: String,
}

impl Style {
    fn write(&self, sentence: &Sentence) -> serde_json::Result<String> {
        if self.indent.is_empty() {
            return serde_json::to_string(sentence);
        }
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(self.indent.as_bytes());
        sentence.serialize(&mut serde_json::Serializer::with_formatter(&mut out, formatter))?;
        // JSON strings hold no raw line breaks, so every one is the layout's.
        let text = String::from_utf8(out).expect("serde_json writes UTF-8");
        Ok(text.replace('\n', &format!("\n{}", self.base)))
    }
}

/// The elements of a top-level JSON array, as byte ranges without the whitespace around them;
/// `None` unless the text is `[`, elements separated by `,`, then `]`, with only whitespace
/// (and a leading byte-order mark) around them. Elements themselves are checked when read.
fn array_elements(text: &str) -> Option<Vec<Range<usize>>> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let open = text.len() - body.trim_start().len();
    if !body.trim_start().starts_with('[') {
        return None;
    }
    let bytes = text.as_bytes();
    let (mut depth, mut in_string, mut escaped) = (1usize, false, false);
    let mut elements = Vec::new();
    let mut from = open + 1;
    let close = |from: usize, to: usize, elements: &mut Vec<Range<usize>>| {
        let element = &text[from..to];
        let start = from + (element.len() - element.trim_start().len());
        let end = from + element.trim_end().len();
        (start < end).then(|| elements.push(start..end))
    };
    for (i, &b) in bytes.iter().enumerate().skip(open + 1) {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    // `[]` has no element; `[x,]` is no JSON.
                    let last = close(from, i, &mut elements);
                    let rest = text[i + 1..].trim();
                    return (rest.is_empty() && (last.is_some() || elements.is_empty()))
                        .then_some(elements);
                }
            }
            b',' if depth == 1 => {
                close(from, i, &mut elements)?;
                from = i + 1;
            }
            _ => {}
        }
    }
    None
}

/// The non-blank lines of JSON Lines, as byte ranges without the whitespace around them (nor
/// a byte-order mark).
fn json_lines(text: &str) -> Vec<Range<usize>> {
    let mut lines = Vec::new();
    let mut at = 0;
    for line in text.split('\n') {
        let body = if at == 0 { line.strip_prefix('\u{feff}').unwrap_or(line) } else { line };
        let start = at + (line.len() - body.trim_start().len());
        let end = at + (line.len() - body.len()) + body.trim_end().len();
        if start < end {
            lines.push(start..end);
        }
        at += line.len() + 1;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str, ranges: &[Range<usize>]) -> Vec<String> {
        ranges.iter().map(|r| text[r.clone()].to_string()).collect()
    }

    #[test]
    fn array_elements_are_found_around_strings_and_nesting() {
        let text = "\u{feff} [ {\"a\": \"],[\\\"\"} ,\n [1, {\"b\": []}], 3 ]\n";
        let found = array_elements(text).unwrap();
        assert_eq!(parts(text, &found), ["{\"a\": \"],[\\\"\"}", "[1, {\"b\": []}]", "3"]);
        assert_eq!(array_elements("[]"), Some(vec![]));
        for broken in ["{}", "[1,]", "[1, 2", "[1] x", "[,1]", ""] {
            assert_eq!(array_elements(broken), None, "{broken}");
        }
    }

    #[test]
    fn json_lines_are_the_non_blank_lines_trimmed() {
        let text = "\u{feff}{\"a\":1}\n\n  {\"b\":2}  \r\n{\"c\":3}";
        assert_eq!(parts(text, &json_lines(text)), ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]);
    }
}
