//! Corpus-scale input and output, for `spanscope predict` over inputs of any size.
//!
//! Input: a file (`.jsonl` and `.txt` read line by line, a `.json` array read whole: use JSON
//! Lines for large corpora), a directory (every such file under it, by path; hidden ones and
//! `types.json` skipped), or `-` for standard input (JSON Lines, a JSON array or plain text, told apart by
//! the first character). Sentences come out one at a time with the input bytes read so far,
//! so memory does not grow with the corpus.
//!
//! Output: JSON Lines streamed into `<output>.partial`, renamed to `<output>` when complete,
//! then `<output>.done` (a small JSON record) written, all atomically: a scheduler or a
//! person sees either no output or a whole one. [`Output::resume`] continues a partial file
//! from its last whole chunk of sentences. See docs/SCALE.md.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::document::Sentence;
use super::io::{
    each_json_array_record, open_regular, read_file, syntax_reason, write_atomic, DataError,
    ErrorKind, Format, Place, RawRecord,
};
use super::origin::sentences_from_part;

/// Where the sentences of a run come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Files, in the order they are read.
    Files(Vec<PathBuf>),
    /// Standard input.
    Stdin,
}

/// The name standard input goes by in messages.
pub const STDIN_NAME: &str = "standard input";

impl Input {
    /// The input `arg` names: `-`, a directory, or a file.
    pub fn open(arg: &Path) -> Result<Input, DataError> {
        if arg == Path::new("-") {
            return Ok(Input::Stdin);
        }
        if arg.is_dir() {
            let mut files = Vec::new();
            collect_files(arg, &mut files)?;
            if files.is_empty() {
                let reason = "no .json, .jsonl or .txt files in this folder";
                return Err(DataError::new(arg, Place::File, ErrorKind::Format, reason));
            }
            files.sort();
            return Ok(Input::Files(files));
        }
        Format::of(arg)?;
        Ok(Input::Files(vec![arg.to_path_buf()]))
    }

    /// The bytes there are to read, when known (files), for progress.
    pub fn total_bytes(&self) -> Option<u64> {
        match self {
            Input::Files(files) => {
                Some(files.iter().filter_map(|f| fs::metadata(f).ok()).map(|m| m.len()).sum())
            }
            Input::Stdin => None,
        }
    }

    /// Hands every sentence of the input to `each`, in order, with the input bytes read so
    /// far; a record that cannot be read is handed over as its problem. Stops early when
    /// `each` returns `false`. `Err` when a file cannot be read at all.
    pub fn read_each(&self, mut each: impl FnMut(Item, u64) -> bool) -> Result<(), DataError> {
        let mut done = 0u64;
        match self {
            Input::Stdin => {
                let stdin = io::stdin();
                let mut reader = BufReader::with_capacity(1 << 16, stdin.lock());
                let format = sniff(&mut reader)
                    .map_err(|e| DataError::io(Path::new(STDIN_NAME), "read", &e))?;
                read_one(Path::new(STDIN_NAME), reader, format, &mut done, &mut each)?;
            }
            Input::Files(files) => {
                for file in files {
                    let format = Format::of(file)?;
                    let reader = BufReader::with_capacity(1 << 16, open_regular(file)?);
                    if !read_one(file, reader, format, &mut done, &mut each)? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// The number of sentences the input holds (read through once, nothing kept).
    pub fn count(&self) -> Result<usize, DataError> {
        let mut n = 0;
        self.read_each(|item, _| {
            n += usize::from(matches!(item, Item::Sentence(_)));
            true
        })?;
        Ok(n)
    }
}

/// One record of the input.
#[derive(Debug)]
pub enum Item {
    /// A sentence to predict.
    Sentence(Sentence),
    /// A record that could not be read: reported, not predicted.
    Problem(DataError),
}

/// Every readable input file under `dir`, hidden files and folders (`.spanscope/`) and
/// types files (`types.json`) left out.
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let entries = fs::read_dir(dir).map_err(|e| DataError::io(dir, "list", &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, "list", &e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        // A folder's types.json is its types file, not sentences (as `validate` reads folders).
        if name.starts_with('.') || name == "types.json" {
            continue;
        }
        let kind = entry.file_type().map_err(|e| DataError::io(&path, "inspect", &e))?;
        if kind.is_dir() {
            collect_files(&path, out)?;
        } else if Format::from_path(&path).is_some() {
            out.push(path);
        }
    }
    Ok(())
}

/// The format of standard input, from its first character that is not white space.
fn sniff(reader: &mut impl BufRead) -> io::Result<Format> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(Format::Text);
        }
        let skip = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if skip < buf.len() {
            return Ok(match buf[skip] {
                b'{' => Format::JsonLines,
                b'[' => Format::Json,
                _ => Format::Text,
            });
        }
        // Leading white space carries no meaning in any of the formats.
        reader.consume(skip);
    }
}

/// Reads one file (or standard input) in `format`; `false` when `each` asked to stop.
fn read_one(
    path: &Path,
    mut reader: impl BufRead,
    format: Format,
    done: &mut u64,
    each: &mut impl FnMut(Item, u64) -> bool,
) -> Result<bool, DataError> {
    let io_error = |e: io::Error| DataError::io(path, "read", &e);
    match format {
        Format::Json => {
            // An array is one JSON value: read whole, then handed over record by record.
            let bytes = if path == Path::new(STDIN_NAME) {
                let mut bytes = Vec::new();
                reader.read_to_end(&mut bytes).map_err(io_error)?;
                bytes
            } else {
                read_file(path)?
            };
            *done += bytes.len() as u64;
            let mut go = true;
            let mut records = Vec::new();
            each_json_array_record(path, &bytes, |r| records.push(r))?;
            for record in records {
                if !go {
                    break;
                }
                let item = match record.parse(path) {
                    Ok(sentence) => Item::Sentence(sentence),
                    Err(mut problems) => Item::Problem(problems.swap_remove(0)),
                };
                go = each(item, *done);
            }
            Ok(go)
        }
        Format::JsonLines => {
            let (mut line, mut number, mut index) = (Vec::new(), 0usize, 0usize);
            loop {
                line.clear();
                let n = reader.read_until(b'\n', &mut line).map_err(io_error)?;
                if n == 0 {
                    return Ok(true);
                }
                *done += n as u64;
                number += 1;
                let start = (*done - n as u64) as usize;
                let Some(item) = json_line(path, &line, number, start, &mut index) else {
                    continue;
                };
                if !each(item, *done) {
                    return Ok(false);
                }
            }
        }
        Format::Text => {
            // Paragraphs (runs of lines that are not blank) split independently: the same
            // sentences as splitting the whole text at once.
            let (mut line, mut paragraph, mut first) = (Vec::new(), String::new(), true);
            let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
            // Code points read before this line, and before the paragraph: offsets count them.
            let (mut chars, mut paragraph_start) = (0, 0);
            loop {
                line.clear();
                let n = reader.read_until(b'\n', &mut line).map_err(io_error)?;
                *done += n as u64;
                let text = std::str::from_utf8(&line)
                    .map_err(|e| DataError::utf8(path, (*done as usize - n) + e.valid_up_to()))?;
                let text = if first { text.strip_prefix('\u{feff}').unwrap_or(text) } else { text };
                first = false;
                let blank = text.trim().is_empty();
                if !blank {
                    if paragraph.is_empty() {
                        paragraph_start = chars;
                    }
                    paragraph.push_str(text);
                }
                chars += text.chars().count();
                if (blank || n == 0) && !paragraph.is_empty() {
                    for sentence in sentences_from_part(&name, &paragraph, paragraph_start) {
                        if !each(Item::Sentence(sentence), *done) {
                            return Ok(false);
                        }
                    }
                    paragraph.clear();
                }
                if n == 0 {
                    return Ok(true);
                }
            }
        }
    }
}

/// One line of JSON Lines as an item; `None` for a blank line. `index` counts records.
fn json_line(
    path: &Path,
    line: &[u8],
    number: usize,
    start: usize,
    index: &mut usize,
) -> Option<Item> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    *index += 1;
    let text = match std::str::from_utf8(line) {
        Ok(text) if number == 1 => text.strip_prefix('\u{feff}').unwrap_or(text),
        Ok(text) => text,
        Err(e) => return Some(Item::Problem(DataError::utf8(path, start + e.valid_up_to()))),
    };
    if text.trim().is_empty() {
        *index -= 1;
        return None;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value) => {
            let duplicate_key = super::io::duplicate_key(text);
            let record = RawRecord { index: *index - 1, line: Some(number), value, duplicate_key };
            Some(match record.parse(path) {
                Ok(sentence) => Item::Sentence(sentence),
                Err(problems) => Item::Problem(record.locate(problems).swap_remove(0)),
            })
        }
        Err(e) => {
            let place = Place::Line { line: number, column: e.column() };
            Some(Item::Problem(DataError::new(path, place, ErrorKind::Syntax, syntax_reason(&e))))
        }
    }
}

/// A deterministic share of the input: the `index`-th of `count` runs of whole chunks, so
/// the shards' outputs laid end to end are the unsharded output, byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based: `0..count`.
    pub index: usize,
    /// How many shards the input is split into.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}`: expected I/N with 0 <= I < N, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The whole input.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// The sentence indices of this shard, of `total` sentences cut into chunks of `chunk`.
    pub fn range(self, total: usize, chunk: usize) -> std::ops::Range<usize> {
        let chunks = total.div_ceil(chunk);
        let at = |i: usize| (i * chunks / self.count * chunk).min(total);
        at(self.index)..at(self.index + 1)
    }
}

/// A JSON Lines output being written: into `<path>.partial` until [`Output::finish`].
pub struct Output {
    path: PathBuf,
    partial: PathBuf,
    file: io::BufWriter<File>,
    /// Sentences already in the file when the run started (kept from an earlier run).
    pub resumed: usize,
}

/// `<path>` with `suffix` added to its file name.
pub fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

impl Output {
    /// The completion marker of `path`.
    pub fn marker(path: &Path) -> PathBuf {
        beside(path, ".done")
    }

    /// Starts `path` afresh (an earlier partial file is replaced, an earlier marker removed).
    pub fn create(path: &Path) -> Result<Output, DataError> {
        remove_if_there(&Output::marker(path))?;
        let partial = beside(path, ".partial");
        let file = File::create(&partial).map_err(|e| DataError::io(&partial, "create", &e))?;
        let file = io::BufWriter::with_capacity(1 << 20, file);
        Ok(Output { path: path.to_path_buf(), partial, file, resumed: 0 })
    }

    /// Continues `<path>.partial` from its last whole chunk of `chunk` lines (a kill may have
    /// left a chunk half written: it is cut off and predicted again, in the same batches as
    /// the first time). Without a partial file it starts afresh.
    pub fn resume(path: &Path, chunk: usize) -> Result<Output, DataError> {
        let partial = beside(path, ".partial");
        let mut file = match OpenOptions::new().read(true).write(true).open(&partial) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Output::create(path),
            Err(e) => return Err(DataError::io(&partial, "open", &e)),
        };
        remove_if_there(&Output::marker(path))?;
        let (mut lines, mut keep, mut at) = (0usize, 0u64, 0u64);
        let mut reader = BufReader::with_capacity(1 << 20, &mut file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| DataError::io(&partial, "read", &e))?;
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            at += n as u64;
            lines += 1;
            if lines.is_multiple_of(chunk) {
                keep = at;
            }
        }
        drop(reader);
        let sync = |r: io::Result<()>| r.map_err(|e| DataError::io(&partial, "truncate", &e));
        sync(file.set_len(keep))?;
        sync(file.seek(SeekFrom::Start(keep)).map(drop))?;
        let resumed = (lines / chunk) * chunk;
        let file = io::BufWriter::with_capacity(1 << 20, file);
        Ok(Output { path: path.to_path_buf(), partial, file, resumed })
    }

    /// Appends one chunk's records and pushes them to the disk, so a kill loses at most the
    /// chunk being written.
    pub fn write_chunk(&mut self, sentences: &[Sentence]) -> Result<(), DataError> {
        let fail = |e: io::Error| DataError::io(&self.partial, "write", &e);
        for sentence in sentences {
            serde_json::to_writer(&mut self.file, sentence)
                .map_err(io::Error::from)
                .map_err(fail)?;
            self.file.write_all(b"\n").map_err(fail)?;
        }
        self.file.flush().map_err(fail)
    }

    /// Appends a finished JSON Lines file (a worker's shard) as it is; returns its lines.
    pub fn append_from(&mut self, file: &mut File) -> Result<usize, DataError> {
        let fail = |e: io::Error| DataError::io(&self.partial, "write", &e);
        let mut lines = 0usize;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        loop {
            let buf = reader.fill_buf().map_err(fail)?;
            if buf.is_empty() {
                break;
            }
            lines += buf.iter().filter(|&&b| b == b'\n').count();
            self.file.write_all(buf).map_err(fail)?;
            let n = buf.len();
            reader.consume(n);
        }
        Ok(lines)
    }

    /// Syncs and renames the partial file to the output, then writes the completion marker
    /// holding `summary`.
    pub fn finish(mut self, summary: &Value) -> Result<(), DataError> {
        let fail = |e: io::Error| DataError::io(&self.partial, "write", &e);
        self.file.flush().map_err(fail)?;
        self.file.get_ref().sync_all().map_err(fail)?;
        fs::rename(&self.partial, &self.path)
            .map_err(|e| DataError::io(&self.path, "rename the finished output to", &e))?;
        let mut bytes = serde_json::to_vec_pretty(summary).expect("a JSON value serialises");
        bytes.push(b'\n');
        write_atomic(&Output::marker(&self.path), &bytes)
    }
}

fn remove_if_there(path: &Path) -> Result<(), DataError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(DataError::io(path, "remove", &e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::io::read_sentences;

    fn sentences(input: &Input) -> Vec<Sentence> {
        let mut out = Vec::new();
        input
            .read_each(|item, _| {
                if let Item::Sentence(s) = item {
                    out.push(s);
                }
                true
            })
            .unwrap();
        out
    }

    #[test]
    fn streamed_files_read_as_whole_files_do() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("a.txt");
        fs::write(&text, "\u{feff}Dr. Ann Lee met Bob.  He left\nearly.\n\n\nNext one!\nLast")
            .unwrap();
        let lines = dir.path().join("b.jsonl");
        fs::write(&lines, "{\"tokens\":[\"x\"],\"orig_id\":7}\n\n{\"tokens\":[\"y\",\"z\"]}\n")
            .unwrap();
        let array = dir.path().join("c.json");
        fs::write(&array, "[{\"tokens\":[\"q\"]}]").unwrap();
        for file in [&text, &lines, &array] {
            let streamed = sentences(&Input::open(file).unwrap());
            assert_eq!(streamed, read_sentences(file).unwrap().sentences, "{}", file.display());
        }
        // A folder: its files by name, hidden ones and unknown extensions left out.
        fs::write(dir.path().join(".hidden.jsonl"), "{\"tokens\":[\"h\"]}\n").unwrap();
        fs::write(dir.path().join("notes.md"), "# no").unwrap();
        fs::write(dir.path().join("types.json"), "{\"entities\": {}}").unwrap();
        let all = Input::open(dir.path()).unwrap();
        assert_eq!(all, Input::Files(vec![text.clone(), lines.clone(), array.clone()]));
        let expected: Vec<Sentence> = [&text, &lines, &array]
            .iter()
            .flat_map(|f| read_sentences(f).unwrap().sentences)
            .collect();
        assert_eq!(sentences(&all), expected);
        assert_eq!(all.count().unwrap(), expected.len());
    }

    #[test]
    fn a_bad_line_is_a_problem_naming_its_line_and_the_rest_reads() {
        let dir = tempfile::tempdir().unwrap();
        let lines = dir.path().join("b.jsonl");
        fs::write(&lines, "{\"tokens\":[\"x\"]}\n{\"tokens\": 3}\n{oops\n{\"tokens\":[\"y\"]}\n")
            .unwrap();
        let mut items = Vec::new();
        Input::open(&lines)
            .unwrap()
            .read_each(|item, _| {
                items.push(match item {
                    Item::Sentence(s) => s.tokens.join(" "),
                    Item::Problem(p) => format!("problem: {p}"),
                });
                true
            })
            .unwrap();
        assert_eq!(items.len(), 4);
        assert_eq!((items[0].as_str(), items[3].as_str()), ("x", "y"));
        assert!(items[1].contains("b.jsonl") && items[1].contains("line 2"), "{}", items[1]);
        assert!(items[2].contains("line 3"), "{}", items[2]);
    }

    #[test]
    fn shards_cover_the_input_in_whole_chunks_in_order() {
        for total in [0, 1, 63, 64, 65, 1000] {
            for count in 1..6 {
                let ranges: Vec<_> =
                    (0..count).map(|index| Shard { index, count }.range(total, 64)).collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[count - 1].end, total);
                for pair in ranges.windows(2) {
                    assert_eq!(pair[0].end, pair[1].start);
                    assert!(pair[0].end.is_multiple_of(64) || pair[0].end == total);
                }
            }
        }
        assert_eq!("2/4".parse::<Shard>().unwrap(), Shard { index: 2, count: 4 });
        for bad in ["4/4", "1/0", "a/2", "3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn resume_keeps_whole_chunks_and_cuts_a_half_written_one() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("o.jsonl");
        let s = |w: &str| Sentence::from_tokens(vec![w.to_string()]);
        let mut output = Output::create(&out).unwrap();
        output.write_chunk(&[s("a"), s("b")]).unwrap();
        output.write_chunk(&[s("c"), s("d")]).unwrap();
        drop(output);
        // A kill in the middle of the third chunk: one line and a half.
        let partial = beside(&out, ".partial");
        let mut f = OpenOptions::new().append(true).open(&partial).unwrap();
        f.write_all(b"{\"tokens\":[\"e\"]}\n{\"tok").unwrap();
        drop(f);

        let mut output = Output::resume(&out, 2).unwrap();
        assert_eq!(output.resumed, 4);
        output.write_chunk(&[s("e"), s("f")]).unwrap();
        output.finish(&serde_json::json!({"sentences": 6})).unwrap();
        let back = read_sentences(&out).unwrap().sentences;
        let words: Vec<_> = back.iter().map(|s| s.tokens[0].as_str()).collect();
        assert_eq!(words, ["a", "b", "c", "d", "e", "f"]);
        assert!(!partial.exists());
        assert!(fs::read_to_string(Output::marker(&out)).unwrap().contains("\"sentences\": 6"));
        // A fresh start removes the marker until it is done again.
        let output = Output::create(&out).unwrap();
        assert!(!Output::marker(&out).exists());
        drop(output);
    }
}
