//! Where the keys and values of a JSON object are in its text, found without parsing
//! the values: one scan over the text ([`index`]), or, when a view's decoding pass
//! noted where the keys start ([`KeyPlaces`]), no scan at all ([`index_between`]).
//! [`Entries`](super::entries::Entries) keeps what these return; nothing else reads
//! the text's layout. The text has been verified as ours (signed, or from our store):
//! the scan only has to split the object, and the values are validated where a view
//! decodes them.

use std::cmp::Ordering;
use std::ops::Range;

pub(super) struct Indexed {
    pub(super) key: Key,
    /// The key's first 8 bytes, big-endian: orders and tells keys apart without a
    /// `memcmp` call, and decides equality outright for keys of 8 bytes or fewer.
    pub(super) tag: u64,
    pub(super) value: Range<usize>,
}

/// The first 8 bytes of `key`, zero-padded, as a big-endian number.
pub(super) fn tag(key: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let n = key.len().min(8);
    word[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(word)
}

/// The order of two keys with the same tag, as their bytes order: keys of at most 8
/// bytes with one tag are one a prefix of the other, so their lengths decide (without
/// a `memcmp` call).
pub(super) fn same_tag_cmp(a: &[u8], b: &[u8]) -> Ordering {
    if a.len() <= 8 && b.len() <= 8 {
        a.len().cmp(&b.len())
    } else {
        a.cmp(b)
    }
}

/// A key of `text`: in place when it has no escapes, else unescaped on its own.
pub(super) enum Key {
    InText(Range<usize>),
    Owned(Box<str>),
}

impl Indexed {
    pub(super) fn key<'a>(&'a self, text: &'a str) -> &'a str {
        match &self.key {
            Key::InText(range) => &text[range.clone()],
            Key::Owned(key) => key,
        }
    }

    /// Orders by key: by tag, then (only past the first 8 bytes) by the bytes.
    pub(super) fn cmp_key(&self, text: &[u8], other: &Indexed) -> Ordering {
        self.tag
            .cmp(&other.tag)
            .then_with(|| same_tag_cmp(self.key_bytes(text), other.key_bytes(text)))
    }

    /// The key as bytes, for comparisons (no char-boundary checks).
    pub(super) fn key_bytes<'a>(&'a self, text: &'a [u8]) -> &'a [u8] {
        match &self.key {
            Key::InText(range) => &text[range.clone()],
            Key::Owned(key) => key.as_bytes(),
        }
    }
}

/// Where the keys of a JSON object are in its text, in order, when none is escaped:
/// up to 16 of them, kept inline (a request allocates nothing to note them).
#[derive(Clone, Copy)]
pub(crate) struct KeyPlaces {
    /// Where each key starts, past its opening quote; it ends at the next quote.
    starts: [u32; 16],
    len: u8,
}

impl KeyPlaces {
    pub(crate) fn new() -> KeyPlaces {
        KeyPlaces {
            starts: [0; 16],
            len: 0,
        }
    }

    /// Notes where the next key starts; `false` when there is no room for it.
    pub(crate) fn push(&mut self, start: usize) -> bool {
        let (Some(slot), Ok(start)) = (
            self.starts.get_mut(usize::from(self.len)),
            u32::try_from(start),
        ) else {
            return false;
        };
        *slot = start;
        self.len += 1;
        true
    }

    pub(super) fn starts(&self) -> &[u32] {
        &self.starts[..usize::from(self.len)]
    }

    /// Whether `text` has the key `key` at one of these places.
    pub(super) fn holds(&self, text: &[u8], key: &[u8]) -> bool {
        self.starts().iter().any(|&start| {
            let start = start as usize;
            text.get(start..start + key.len()) == Some(key)
                && text.get(start + key.len()) == Some(&b'"')
        })
    }
}

/// Whether `text` certainly holds no key `key`: it has no `"key"` anywhere, and no
/// escape that could spell the key otherwise.
pub(super) fn lacks(text: &[u8], key: &[u8]) -> bool {
    let Some(&first) = key.first() else {
        return false;
    };
    let quoted_at = |i: usize| {
        i > 0
            && text[i - 1] == b'"'
            && text[i..].starts_with(key)
            && text.get(i + key.len()) == Some(&b'"')
    };
    memchr::memchr(b'\\', text).is_none() && !memchr::memchr_iter(first, text).any(quoted_at)
}

/// The keys and values of the JSON object `text`, sorted by key, repeated keys
/// keeping the last.
pub(super) fn index(text: &str) -> Result<Vec<Indexed>, SplitError> {
    Ok(ordered(text, split_object(text)?))
}

/// The entries of `text`, a valid JSON object whose keys start at `keys`: each value
/// is what lies between its key's `:` and the `,` before the next key (or the
/// object's closing `}`), whitespace aside. `None` if the text is not laid out so (it
/// then is split by a scan).
pub(super) fn index_between(text: &str, keys: KeyPlaces) -> Option<Vec<Indexed>> {
    let bytes = text.as_bytes();
    let is_ws = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    // Past the whitespace from `at` on; before the whitespace that ends at `at`.
    let skip = |mut at: usize| {
        while bytes.get(at).is_some_and(|&b| is_ws(b)) {
            at += 1;
        }
        at
    };
    let skip_back = |mut at: usize| {
        while at > 0 && is_ws(bytes[at - 1]) {
            at -= 1;
        }
        at
    };
    let brace = skip_back(bytes.len()).checked_sub(1)?;
    let starts = keys.starts();
    let mut base = Vec::with_capacity(starts.len());
    for (i, &start) in starts.iter().enumerate() {
        let start = start as usize;
        // An unescaped key, between quotes (so its ends are character boundaries).
        if start == 0 || bytes.get(start - 1) != Some(&b'"') {
            return None;
        }
        let end = start + bytes.get(start..)?.iter().position(|&b| b == b'"')?;
        let colon = skip(end + 1);
        if bytes.get(colon) != Some(&b':') {
            return None;
        }
        let value = skip(colon + 1);
        let value_end = match starts.get(i + 1) {
            Some(&next) => {
                let comma = skip_back((next as usize).checked_sub(1)?).checked_sub(1)?;
                if bytes[comma] != b',' {
                    return None;
                }
                skip_back(comma)
            }
            None if bytes[brace] == b'}' => skip_back(brace),
            None => return None,
        };
        if value_end <= value {
            return None;
        }
        base.push(Indexed {
            tag: tag(&bytes[start..end]),
            key: Key::InText(start..end),
            value: value..value_end,
        });
    }
    Some(ordered(text, base))
}

/// `base` sorted by key, repeated keys keeping the last, as serde does.
pub(super) fn ordered(text: &str, mut base: Vec<Indexed>) -> Vec<Indexed> {
    let bytes = text.as_bytes();
    if !base
        .windows(2)
        .all(|w| w[0].cmp_key(bytes, &w[1]) == Ordering::Less)
    {
        // Not written by us: sort, and of repeated keys keep the last, as serde does.
        base.sort_by_cached_key(|i| i.key(text).to_owned());
        let mut deduped: Vec<Indexed> = Vec::with_capacity(base.len());
        for entry in base {
            match deduped.last_mut() {
                Some(last) if last.key(text) == entry.key(text) => *last = entry,
                _ => deduped.push(entry),
            }
        }
        base = deduped;
    }
    base
}

/// Why a text is not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a JSON object: {what} at byte {at}")]
pub(crate) struct SplitError {
    what: &'static str,
    at: usize,
}

/// Finds the top-level keys and values of the JSON object `text`.
pub(super) fn split_object(text: &str) -> Result<Vec<Indexed>, SplitError> {
    let mut s = Scanner {
        bytes: text.as_bytes(),
        at: 0,
    };
    let mut entries = Vec::with_capacity(8);
    s.skip_ws();
    s.expect(b'{', "expected `{`")?;
    s.skip_ws();
    if s.peek() == Some(b'}') {
        s.at += 1;
    } else {
        loop {
            let key_start = s.at;
            s.expect(b'"', "expected a string key")?;
            let escaped = s.skip_string()?;
            let key_end = s.at;
            let key = if escaped {
                let quoted = &text[key_start..key_end];
                let key: String =
                    serde_json::from_str(quoted).map_err(|_| s.error("invalid key"))?;
                Key::Owned(key.into())
            } else {
                Key::InText(key_start + 1..key_end - 1)
            };
            s.skip_ws();
            s.expect(b':', "expected `:`")?;
            s.skip_ws();
            let value_start = s.at;
            s.skip_value()?;
            let key_tag = match &key {
                Key::InText(range) => tag(&s.bytes[range.clone()]),
                Key::Owned(key) => tag(key.as_bytes()),
            };
            entries.push(Indexed {
                key,
                tag: key_tag,
                value: value_start..s.at,
            });
            s.skip_ws();
            match s.next() {
                Some(b',') => s.skip_ws(),
                Some(b'}') => break,
                _ => return Err(s.error("expected `,` or `}`")),
            }
        }
    }
    s.skip_ws();
    if s.at != s.bytes.len() {
        return Err(s.error("trailing characters"));
    }
    Ok(entries)
}

/// A cursor over JSON text that knows strings and nesting, and nothing more.
struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn error(&self, what: &'static str) -> SplitError {
        SplitError { what, at: self.at }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), SplitError> {
        match self.next() {
            Some(b) if b == byte => Ok(()),
            _ => Err(self.error(what)),
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Skips the rest of a string whose opening quote was consumed; whether it held
    /// an escape.
    fn skip_string(&mut self) -> Result<bool, SplitError> {
        let mut escaped = false;
        loop {
            let rest = self.bytes.get(self.at..).unwrap_or_default();
            let Some(found) = memchr::memchr2(b'"', b'\\', rest) else {
                self.at = self.bytes.len();
                return Err(self.error("unterminated string"));
            };
            self.at += found + 1;
            if rest[found] == b'"' {
                return Ok(escaped);
            }
            escaped = true;
            self.next()
                .ok_or_else(|| self.error("unterminated string"))?;
        }
    }

    /// Skips one value: a string, an object or array (to its matching bracket), or a
    /// bare literal (number, `true`, `false`, `null`).
    fn skip_value(&mut self) -> Result<(), SplitError> {
        match self.peek() {
            Some(b'"') => {
                self.at += 1;
                self.skip_string().map(drop)
            }
            Some(open @ (b'{' | b'[')) => {
                // In valid JSON a container's end is found by counting only its own
                // brackets, outside strings; the others nest within it.
                let close = if open == b'{' { b'}' } else { b']' };
                let mut depth = 0usize;
                loop {
                    let rest = self.bytes.get(self.at..).unwrap_or_default();
                    let found = memchr::memchr3(b'"', open, close, rest);
                    self.at += found.unwrap_or(rest.len());
                    match self.next() {
                        Some(b) if b == open => depth += 1,
                        Some(b) if b == close => {
                            depth -= 1;
                            if depth == 0 {
                                return Ok(());
                            }
                        }
                        Some(b'"') => {
                            self.skip_string()?;
                        }
                        Some(_) => {}
                        None => return Err(self.error("unterminated object or array")),
                    }
                }
            }
            _ => {
                let start = self.at;
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.at += 1;
                }
                if self.at == start {
                    return Err(self.error("expected a value"));
                }
                Ok(())
            }
        }
    }
}
