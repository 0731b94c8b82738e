//! Word to word-piece alignment for BERT-family encoders.
//!
//! SpERT tokenises each word of a sentence on its own (no special tokens) and remembers which
//! word pieces belong to which word; spans over words then map to ranges of pieces. We do the
//! same, in one call into the tokenizers crate (pre-tokenized input, one "word" per word, word
//! ids from the encoding), which gives exactly the per-word result because the tokenizer
//! normalises and pre-tokenises every pre-tokenized word separately.
//!
//! Because a word's pieces do not depend on its neighbours, they are also remembered: the
//! tokenizer (its BERT normaliser most of all) can take longer over a sentence than the rest of
//! a GPU prediction; a remembered word costs one hash lookup. A word never seen before, if it is
//! printable ASCII and the tokenizer is BERT's, skips the normaliser and pre-tokenizer
//! ([`AsciiWords`]). Timings: docs/BENCHMARKS.md, "Figures that were code comments".

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{AddedToken, InputSequence, Tokenizer};

use super::io::{DataError, ErrorKind, Place};

/// The longest word WordPiece splits; longer words become `[UNK]` (BERT's value).
const MAX_INPUT_CHARS_PER_WORD: usize = 100;

/// Distinct words whose pieces are remembered; the memory starts afresh when it is full
/// (CoNLL04's train split has 6,675 distinct words; the memory at this size:
/// docs/BENCHMARKS.md, "Figures that were code comments").
const REMEMBERED_WORDS: usize = 1 << 18;

/// The pieces of words already tokenised, shared by clones of one [`WordPieces`].
#[derive(Clone)]
struct WordMemory {
    words: Arc<Mutex<HashMap<String, Box<[u32]>>>>,
    capacity: usize,
}

impl WordMemory {
    fn new(capacity: usize) -> Self {
        Self { words: Arc::default(), capacity }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Box<[u32]>>> {
        // A panic elsewhere cannot leave a half-written entry: insertion is one call.
        self.words.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for WordMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} remembered words", self.lock().len())
    }
}

/// A checkpoint's tokenizer with its special token ids.
#[derive(Debug, Clone)]
pub struct WordPieces {
    tokenizer: Tokenizer,
    files: Vec<PathBuf>,
    /// Id of `[CLS]`, the first piece of every sentence.
    pub cls_id: u32,
    /// Id of `[SEP]`, the last piece of every sentence.
    pub sep_id: u32,
    /// Id of `[PAD]`, for batching.
    pub pad_id: u32,
    /// Id of `[UNK]`, also given to words that yield no pieces.
    pub unk_id: u32,
    /// Id of `[MASK]`, for word masking in explanations; `None` when the vocabulary has none.
    pub mask_id: Option<u32>,
    memory: WordMemory,
    /// BERT's own normaliser and pre-tokenizer, for words of printable ASCII.
    ascii: Option<AsciiWords>,
}

/// What BERT's normaliser and pre-tokenizer do to a word of printable ASCII, done here: they
/// lower-case it (when the tokenizer does) and cut it at each punctuation character, and
/// nothing else (no control characters to clean, no accents to strip, no Chinese characters).
/// WordPiece then splits each part, as in the tokenizer's own pipeline. Much faster than the
/// pipeline, whose normaliser walks every character through Unicode tables.
#[derive(Debug, Clone)]
struct AsciiWords {
    lowercase: bool,
    /// The added tokens' texts (`[CLS]`, `[MASK]`, ...), as typed and lower-cased: the
    /// tokenizer matches them before normalising, so a word containing one takes its path.
    added: Vec<String>,
}

impl AsciiWords {
    /// The shortcut for `tokenizer`, if it is exactly a BERT normaliser, BERT pre-tokenizer and
    /// WordPiece model.
    fn of(tokenizer: &Tokenizer) -> Option<Self> {
        use tokenizers::{ModelWrapper, NormalizerWrapper, PreTokenizerWrapper};
        let Some(NormalizerWrapper::BertNormalizer(normaliser)) = tokenizer.get_normalizer() else {
            return None;
        };
        let bert_split =
            matches!(tokenizer.get_pre_tokenizer(), Some(PreTokenizerWrapper::BertPreTokenizer(_)));
        let wordpiece = matches!(tokenizer.get_model(), ModelWrapper::WordPiece(_));
        let mut added = Vec::new();
        for token in tokenizer.get_added_tokens_decoder().into_values() {
            added.push(token.content.to_ascii_lowercase());
            added.push(token.content);
        }
        (bert_split && wordpiece).then_some(Self { lowercase: normaliser.lowercase, added })
    }

    /// The parts WordPiece splits, or `None` for a word the tokenizer must see.
    fn parts(&self, word: &str) -> Option<Vec<String>> {
        if word.is_empty() || !word.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        let word = if self.lowercase { word.to_ascii_lowercase() } else { word.to_string() };
        if self.added.iter().any(|a| !a.is_empty() && word.contains(a.as_str())) {
            return None;
        }
        let mut parts = Vec::new();
        let mut run = String::new();
        for c in word.chars() {
            if c.is_ascii_punctuation() {
                if !run.is_empty() {
                    parts.push(std::mem::take(&mut run));
                }
                parts.push(c.to_string());
            } else {
                run.push(c);
            }
        }
        if !run.is_empty() {
            parts.push(run);
        }
        Some(parts)
    }
}

/// A sentence as word-piece ids, with the pieces of every kept word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSentence {
    /// `[CLS]`, the pieces of the kept words, `[SEP]`.
    pub ids: Vec<u32>,
    /// For each kept word, its positions in `ids` (word 0 starts at 1, after `[CLS]`).
    pub word_pieces: Vec<Range<usize>>,
    /// How many words (from the start) fit in the piece budget.
    pub words_kept: usize,
}

/// Words `[first, first + encoded.words_kept)` of a sentence, encoded on their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The sentence's index of the window's first word.
    pub first: usize,
    /// The window's words as a sentence of their own (word 0 is the sentence's word `first`).
    pub encoded: EncodedSentence,
}

impl Window {
    /// One past the sentence's index of the window's last word.
    pub fn end(&self) -> usize {
        self.first + self.encoded.words_kept
    }
}

/// The special tokens' names, from tokenizer_config.json or BERT's defaults.
struct SpecialNames {
    cls: String,
    sep: String,
    pad: String,
    unk: String,
    mask: String,
}

impl WordPieces {
    /// Loads the tokenizer of a checkpoint directory: `tokenizer.json` when present (its
    /// normalizer decides casing), else a BERT WordPiece tokenizer built from `vocab.txt`
    /// and `tokenizer_config.json` (`do_lower_case`, default true; `strip_accents`, default
    /// following lower-casing; `tokenize_chinese_chars`, default true).
    pub fn from_dir(dir: &Path) -> Result<Self, DataError> {
        let config_path = dir.join("tokenizer_config.json");
        let config = read_config(&config_path)?;
        let names = SpecialNames {
            cls: config_str(&config, "cls_token", "[CLS]"),
            sep: config_str(&config, "sep_token", "[SEP]"),
            pad: config_str(&config, "pad_token", "[PAD]"),
            unk: config_str(&config, "unk_token", "[UNK]"),
            mask: config_str(&config, "mask_token", "[MASK]"),
        };
        let json_path = dir.join("tokenizer.json");
        let vocab_path = dir.join("vocab.txt");
        let (tokenizer, mut files) = if json_path.is_file() {
            let tokenizer = Tokenizer::from_file(&json_path)
                .map_err(|e| tokenizer_error(&json_path, format!("cannot load tokenizer: {e}")))?;
            (tokenizer, vec![json_path.clone()])
        } else if vocab_path.is_file() {
            (bert_tokenizer(&vocab_path, &config, &names)?, vec![vocab_path.clone()])
        } else {
            let reason = "no tokenizer.json or vocab.txt in the checkpoint directory";
            return Err(tokenizer_error(dir, reason.to_string()));
        };
        if config.is_some() {
            files.push(config_path);
        }
        Self::with_tokenizer(tokenizer, files, &names)
    }

    fn with_tokenizer(
        mut tokenizer: Tokenizer,
        files: Vec<PathBuf>,
        names: &SpecialNames,
    ) -> Result<Self, DataError> {
        let source = files.first().cloned().unwrap_or_default();
        // Our own budget decides truncation; a checkpoint's truncation or padding settings
        // would cut or pad single words.
        tokenizer
            .with_truncation(None)
            .map_err(|e| tokenizer_error(&source, format!("cannot disable truncation: {e}")))?;
        tokenizer.with_padding(None);
        let id = |name: &str| {
            tokenizer.token_to_id(name).ok_or_else(|| {
                tokenizer_error(&source, format!("special token {name} is not in the vocabulary"))
            })
        };
        Ok(Self {
            cls_id: id(&names.cls)?,
            sep_id: id(&names.sep)?,
            pad_id: id(&names.pad)?,
            unk_id: id(&names.unk)?,
            mask_id: tokenizer.token_to_id(&names.mask),
            ascii: AsciiWords::of(&tokenizer),
            tokenizer,
            files,
            memory: WordMemory::new(REMEMBERED_WORDS),
        })
    }

    /// Forgets the pieces of every word seen so far (shared with clones): the next sentences
    /// are tokenised from scratch, as text never seen before. For timing tokenisation.
    pub fn forget_words(&self) {
        self.memory.lock().clear();
    }

    /// The files the tokenizer was loaded from, for copying into a new checkpoint.
    pub fn files(&self) -> Vec<PathBuf> {
        self.files.clone()
    }

    /// The size of the vocabulary, special and added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// Encodes words as `[CLS] pieces… [SEP]`, each word tokenised on its own and given at
    /// least one piece (`[UNK]` when it yields none). Keeps the longest prefix of whole words
    /// whose pieces fit in `max_pieces` including `[CLS]` and `[SEP]`.
    pub fn encode(&self, words: &[String], max_pieces: usize) -> EncodedSentence {
        self.encode_pieces(&self.pieces_per_word(words), max_pieces)
    }

    /// A sentence longer than `max_pieces` as overlapping windows, each encoded like a
    /// sentence of its own (`[CLS] pieces… [SEP]`): every window holds as many whole words as
    /// fit, and the next one starts about half a window (in pieces) after it, so that every
    /// span of up to half a window lies whole in some window. A single word with more pieces
    /// than a window holds lies in none. A sentence that fits is one window.
    pub fn encode_windows(&self, words: &[String], max_pieces: usize) -> Vec<Window> {
        let per_word = self.pieces_per_word(words);
        let budget = max_pieces.saturating_sub(2);
        let mut windows = Vec::new();
        let mut first = 0;
        while first < words.len() {
            let encoded = self.encode_pieces(&per_word[first..], max_pieces);
            if encoded.words_kept == 0 {
                // A word longer than a window: no window can hold it.
                first += 1;
                continue;
            }
            let last = first + encoded.words_kept;
            windows.push(Window { first, encoded });
            if last == words.len() {
                break;
            }
            let mut next = first + 1;
            let mut advanced = per_word[first].len();
            while next < last && advanced < budget / 2 {
                advanced += per_word[next].len();
                next += 1;
            }
            first = next;
        }
        windows
    }

    /// `[CLS]`, the pieces of the longest prefix of words that fits in `max_pieces`, `[SEP]`.
    fn encode_pieces(&self, per_word: &[Vec<u32>], max_pieces: usize) -> EncodedSentence {
        let mut ids = vec![self.cls_id];
        let mut word_pieces = Vec::with_capacity(per_word.len());
        for pieces in per_word {
            if ids.len() + pieces.len() + 1 > max_pieces {
                break;
            }
            let start = ids.len();
            ids.extend_from_slice(pieces);
            word_pieces.push(start..ids.len());
        }
        ids.push(self.sep_id);
        EncodedSentence { words_kept: word_pieces.len(), ids, word_pieces }
    }

    /// The piece ids of each word, never empty: remembered words from memory, the others in
    /// one call into the tokenizer.
    fn pieces_per_word(&self, words: &[String]) -> Vec<Vec<u32>> {
        let mut per_word = vec![Vec::new(); words.len()];
        let mut unseen = Vec::new();
        {
            let memory = self.memory.lock();
            for (i, word) in words.iter().enumerate() {
                match memory.get(word.as_str()) {
                    Some(pieces) => per_word[i].extend_from_slice(pieces),
                    None => unseen.push(i),
                }
            }
        }
        if unseen.is_empty() {
            return per_word;
        }
        let fresh: Vec<String> = unseen.iter().map(|&i| words[i].clone()).collect();
        let tokenised = self.tokenise(&fresh);
        let mut memory = self.memory.lock();
        if memory.len() + fresh.len() > self.memory.capacity {
            memory.clear();
        }
        for ((i, word), pieces) in unseen.into_iter().zip(fresh).zip(tokenised) {
            per_word[i].clone_from(&pieces);
            memory.insert(word, pieces.into_boxed_slice());
        }
        per_word
    }

    /// The piece ids of each word, never empty: printable ASCII words by [`AsciiWords`] and
    /// WordPiece, the others from the tokenizer's whole pipeline.
    fn tokenise(&self, words: &[String]) -> Vec<Vec<u32>> {
        let mut per_word = vec![Vec::new(); words.len()];
        let mut others = Vec::new();
        for (i, word) in words.iter().enumerate() {
            match self.ascii_pieces(word) {
                Some(pieces) if !pieces.is_empty() => per_word[i] = pieces,
                _ => others.push(i),
            }
        }
        if others.is_empty() {
            return per_word;
        }
        let rest: Vec<String> = others.iter().map(|&i| words[i].clone()).collect();
        for (i, pieces) in others.into_iter().zip(self.tokenise_fully(&rest)) {
            per_word[i] = pieces;
        }
        per_word
    }

    /// A printable ASCII word's piece ids through [`AsciiWords`] and the WordPiece model.
    fn ascii_pieces(&self, word: &str) -> Option<Vec<u32>> {
        use tokenizers::Model;
        let parts = self.ascii.as_ref()?.parts(word)?;
        let model = self.tokenizer.get_model();
        let mut ids = Vec::new();
        for part in parts {
            ids.extend(model.tokenize(&part).ok()?.iter().map(|t| t.id));
        }
        Some(ids)
    }

    /// Turns the ASCII shortcut off: every word goes through the tokenizer's pipeline (for tests
    /// that compare the two).
    #[doc(hidden)]
    pub fn without_ascii_shortcut(mut self) -> Self {
        self.ascii = None;
        self
    }

    /// Whether printable ASCII words take the shortcut (the tokenizer is BERT's).
    #[doc(hidden)]
    pub fn has_ascii_shortcut(&self) -> bool {
        self.ascii.is_some()
    }

    /// The piece ids of each word from the tokenizer's pipeline, never empty.
    fn tokenise_fully(&self, words: &[String]) -> Vec<Vec<u32>> {
        let mut per_word = vec![Vec::new(); words.len()];
        let input = InputSequence::PreTokenizedOwned(words.into());
        // `encode`, not `encode_fast`: the fast path drops the word ids we align by.
        match self.tokenizer.encode(input, false) {
            Ok(encoding) => {
                for (&id, word) in encoding.get_ids().iter().zip(encoding.get_word_ids()) {
                    if let Some(pieces) = word.and_then(|w| per_word.get_mut(w as usize)) {
                        pieces.push(id);
                    }
                }
            }
            Err(_) => {
                // The batch failed as a whole (a model error on some word): fall back to one
                // call per word so that only the failing words become [UNK].
                for (pieces, word) in per_word.iter_mut().zip(words) {
                    if let Ok(encoding) = self.tokenizer.encode_fast(word.as_str(), false) {
                        pieces.extend_from_slice(encoding.get_ids());
                    }
                }
            }
        }
        for pieces in &mut per_word {
            if pieces.is_empty() {
                pieces.push(self.unk_id);
            }
        }
        per_word
    }
}

fn tokenizer_error(file: &Path, reason: String) -> DataError {
    DataError::new(file, Place::File, ErrorKind::Tokenizer, reason)
}

fn read_config(path: &Path) -> Result<Option<Value>, DataError> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, "read", &e))?;
    serde_json::from_str(&text).map(Some).map_err(|e| DataError::syntax(path, &e))
}

/// A string setting of tokenizer_config.json; special tokens may also be `{"content": ..}`.
fn config_str(config: &Option<Value>, key: &str, default: &str) -> String {
    match config.as_ref().and_then(|c| c.get(key)) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => {
            o.get("content").and_then(Value::as_str).unwrap_or(default).to_string()
        }
        _ => default.to_string(),
    }
}

fn config_bool(config: &Option<Value>, key: &str) -> Option<bool> {
    config.as_ref().and_then(|c| c.get(key)).and_then(Value::as_bool)
}

/// BERT's tokenizer from vocab.txt, as Hugging Face's BertTokenizerFast builds it.
fn bert_tokenizer(
    vocab: &Path,
    config: &Option<Value>,
    names: &SpecialNames,
) -> Result<Tokenizer, DataError> {
    let vocab_str = vocab
        .to_str()
        .ok_or_else(|| tokenizer_error(vocab, "the path is not valid UTF-8".to_string()))?;
    let model = WordPiece::from_file(vocab_str)
        .unk_token(names.unk.clone())
        .continuing_subword_prefix("##".to_string())
        .max_input_chars_per_word(MAX_INPUT_CHARS_PER_WORD)
        .build()
        .map_err(|e| tokenizer_error(vocab, format!("cannot load the vocabulary: {e}")))?;
    let lowercase = config_bool(config, "do_lower_case").unwrap_or(true);
    let normalizer = BertNormalizer::new(
        true,
        config_bool(config, "tokenize_chinese_chars").unwrap_or(true),
        config_bool(config, "strip_accents"),
        lowercase,
    );
    let mut tokenizer = Tokenizer::new(model);
    tokenizer
        .with_normalizer(Some(normalizer))
        .map_err(|e| tokenizer_error(vocab, format!("cannot set the normalizer: {e}")))?;
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    // Special tokens are never split or normalised, as in tokenizer.json files.
    let specials: Vec<AddedToken> = [&names.pad, &names.unk, &names.cls, &names.sep, &names.mask]
        .into_iter()
        .filter(|name| tokenizer.token_to_id(name).is_some())
        .map(|name| AddedToken::from(name.clone(), true))
        .collect();
    tokenizer
        .add_special_tokens(specials)
        .map_err(|e| tokenizer_error(vocab, format!("cannot add the special tokens: {e}")))?;
    Ok(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOCAB: &[&str] = &[
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "un", "##believ", "##able", "cafe",
        "!", ",", "Cafe", "The", "東", "京", "x", "##x",
    ];

    fn dir_with(config: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("vocab.txt"), VOCAB.join("\n") + "\n").unwrap();
        if let Some(config) = config {
            std::fs::write(dir.path().join("tokenizer_config.json"), config).unwrap();
        }
        dir
    }

    fn words(text: &[&str]) -> Vec<String> {
        text.iter().map(|w| w.to_string()).collect()
    }

    fn id(token: &str) -> u32 {
        VOCAB.iter().position(|t| *t == token).unwrap() as u32
    }

    #[test]
    fn aligns_words_to_pieces() {
        let dir = dir_with(None);
        let wp = WordPieces::from_dir(dir.path()).unwrap();
        assert_eq!((wp.cls_id, wp.sep_id, wp.pad_id, wp.unk_id), (2, 3, 0, 1));
        assert_eq!(wp.files(), vec![dir.path().join("vocab.txt")]);
        let e = wp.encode(&words(&["The", "unbelievable", "Café", "!"]), 512);
        let expected =
            vec![2, id("the"), id("un"), id("##believ"), id("##able"), id("cafe"), id("!"), 3];
        assert_eq!(e.ids, expected);
        assert_eq!(e.word_pieces, vec![1..2, 2..5, 5..6, 6..7]);
        assert_eq!(e.words_kept, 4);
    }

    #[test]
    fn cased_checkpoint_keeps_case_and_accents() {
        let dir = dir_with(Some(r#"{"do_lower_case": false}"#));
        let wp = WordPieces::from_dir(dir.path()).unwrap();
        let e = wp.encode(&words(&["The", "the", "Cafe", "Café"]), 512);
        assert_eq!(e.ids, vec![2, id("The"), id("the"), id("Cafe"), 1, 3]);
        assert_eq!(wp.files().len(), 2);
    }

    #[test]
    fn words_without_pieces_get_unk() {
        let wp = WordPieces::from_dir(dir_with(None).path()).unwrap();
        let e = wp.encode(&words(&["x", "\u{200b}", "\u{7}", "", "zzz", "x"]), 512);
        assert_eq!(e.ids, vec![2, id("x"), 1, 1, 1, 1, id("x"), 3]);
        assert_eq!(e.word_pieces, vec![1..2, 2..3, 3..4, 4..5, 5..6, 6..7]);
    }

    #[test]
    fn one_word_with_several_pre_tokens_stays_one_word() {
        let wp = WordPieces::from_dir(dir_with(None).path()).unwrap();
        let e = wp.encode(&words(&["x,x", "東京", "[CLS]"]), 512);
        assert_eq!(e.ids, vec![2, id("x"), id(","), id("x"), id("東"), id("京"), 2, 3]);
        assert_eq!(e.word_pieces, vec![1..4, 4..6, 6..7]);
    }

    #[test]
    fn truncation_keeps_whole_words() {
        let wp = WordPieces::from_dir(dir_with(None).path()).unwrap();
        let w = words(&["the", "unbelievable", "the"]);
        let e = wp.encode(&w, 5);
        assert_eq!(e.words_kept, 1);
        assert_eq!(e.ids, vec![2, id("the"), 3]);
        assert_eq!(e.word_pieces, vec![1..2]);
        assert_eq!(wp.encode(&w, 6).words_kept, 2);
        assert_eq!(wp.encode(&w, 7).words_kept, 3);
        assert_eq!(wp.encode(&w, 0).ids, vec![2, 3]);
        assert_eq!(wp.encode(&[], 512).ids, vec![2, 3]);
    }

    #[test]
    fn batch_equals_per_word_tokenisation() {
        let wp = WordPieces::from_dir(dir_with(None).path()).unwrap();
        let w = words(&["Unbelievable", "x,x", "\u{200b}", "東京!", "theX", "CAFÉ"]);
        let e = wp.encode(&w, 512);
        for (word, range) in w.iter().zip(&e.word_pieces) {
            let mut alone = wp.tokenizer.encode(word.as_str(), false).unwrap().get_ids().to_vec();
            if alone.is_empty() {
                alone.push(wp.unk_id);
            }
            assert_eq!(&e.ids[range.clone()], alone.as_slice(), "{word}");
        }
    }

    #[test]
    fn remembered_words_encode_as_the_tokenizer_does() {
        let dir = dir_with(None);
        let wp = WordPieces::from_dir(dir.path()).unwrap();
        let first = words(&["Unbelievable", "the", "x,x", "\u{200b}"]);
        let second = words(&["the", "\u{200b}", "CAFÉ", "Unbelievable", "the", "x,x", "the"]);
        wp.encode(&first, 512);
        assert_eq!(wp.memory.lock().len(), 4);
        // Remembered words, in new places and next to new ones, against a fresh tokenizer.
        let fresh = WordPieces::from_dir(dir.path()).unwrap();
        assert_eq!(wp.encode(&second, 512), fresh.encode(&second, 512));
        assert_eq!(wp.memory.lock().len(), 5);
        // A full memory starts afresh and stays correct.
        let mut small = wp.clone();
        small.memory = WordMemory::new(6);
        small.encode(&first, 512);
        assert_eq!(small.encode(&second, 512), fresh.encode(&second, 512));
        let third = words(&["theX", "東京!", "zzz"]);
        assert_eq!(small.encode(&third, 512), fresh.encode(&third, 512));
        assert_eq!(small.memory.lock().len(), 3, "5 remembered + 3 new > 6: started afresh");
        assert_eq!(small.encode(&second, 512), fresh.encode(&second, 512));
        small.forget_words();
        assert_eq!(small.memory.lock().len(), 0);
    }

    #[test]
    fn missing_tokenizer_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = WordPieces::from_dir(dir.path()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Tokenizer);
        assert!(err
            .to_string()
            .ends_with("no tokenizer.json or vocab.txt in the checkpoint directory"));
        std::fs::write(dir.path().join("vocab.txt"), "a\nb\n").unwrap();
        let err = WordPieces::from_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is not in the vocabulary"), "{err}");
    }
}
