//! PostgreSQL's `jsonb` refuses two things JSON text can hold, the escape `\u0000`
//! (U+0000 has no place in PostgreSQL's text) and a lone surrogate escape such as
//! `\ud800`; MariaDB's `JSON_VALID` refuses the second. Any string a client can put in
//! a session must still round-trip, so these two stores write them, inside JSON
//! strings, with an escape character of their own, and read them back: U+E000 (a
//! private-use character) followed by `0` stands for U+0000, by `u` and four hex
//! digits for a lone surrogate escape, and by `E` for U+E000 itself. Every other text
//! passes unchanged, and is checked in one scan.

use std::borrow::Cow;

/// The escape character, U+E000.
const MARK: char = '\u{E000}';

/// `json` as `jsonb` can hold it.
pub(crate) fn to_db(json: &str) -> Cow<'_, str> {
    if !json.contains(['\\', MARK]) || !needs_mark(json) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    let mut rest = json;
    while let Some(at) = rest.find(['\\', MARK]) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix(MARK) {
            out.push(MARK);
            out.push('E');
            rest = after;
            continue;
        }
        // A backslash escape: two characters, or six for `\uXXXX`.
        // (Text that is not valid JSON, which no caller passes, is copied, never cut
        // inside a character.)
        let escaped = rest[1..].chars().next().map_or(0, char::len_utf8);
        let escape = match rest.as_bytes().get(1) {
            Some(b'u') => rest.get(..6).unwrap_or(&rest[..2]),
            _ => &rest[..1 + escaped],
        };
        rest = &rest[escape.len()..];
        match unit(escape) {
            Some(0) => {
                out.push(MARK);
                out.push('0');
            }
            Some(0xE000) => {
                out.push(MARK);
                out.push('E');
            }
            Some(0xD800..=0xDBFF) if low_follows(rest) => {
                // A pair is a character `jsonb` holds: keep both escapes.
                out.push_str(escape);
                out.push_str(&rest[..6]);
                rest = &rest[6..];
            }
            Some(0xD800..=0xDFFF) => {
                out.push(MARK);
                out.push('u');
                out.push_str(&escape[2..]);
            }
            _ => out.push_str(escape),
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// A plain text (a key bound as `text`) as PostgreSQL can hold it.
pub(crate) fn text_to_db(text: &str) -> Cow<'_, str> {
    if !text.contains(['\0', MARK]) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        match c {
            '\0' => out.push_str("\u{E000}0"),
            MARK => out.push_str("\u{E000}E"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// JSON text read from `jsonb`, as it was before [`to_db`].
pub(crate) fn from_db(json: String) -> String {
    if !json.contains(MARK) {
        return json;
    }
    let mut out = String::with_capacity(json.len());
    let mut chars = json.chars();
    while let Some(c) = chars.next() {
        if c != MARK {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push_str("\\u0000"),
            Some('E') => out.push(MARK),
            Some('u') => {
                out.push_str("\\u");
                out.extend(chars.by_ref().take(4));
            }
            // Not written by `to_db`: kept as found.
            Some(other) => {
                out.push(MARK);
                out.push(other);
            }
            None => out.push(MARK),
        }
    }
    out
}

/// Whether `json` holds anything [`to_db`] changes.
fn needs_mark(json: &str) -> bool {
    if json.contains(MARK) {
        return true;
    }
    let bytes = json.as_bytes();
    memchr::memmem::find_iter(bytes, b"\\u").any(|at| {
        let Some(hex) = json.get(at..at + 6) else {
            return false;
        };
        matches!(unit(hex), Some(0 | 0xE000 | 0xD800..=0xDFFF))
    })
}

/// The code unit of a `\uXXXX` escape.
fn unit(escape: &str) -> Option<u32> {
    let hex = escape.strip_prefix("\\u")?;
    (hex.len() == 4).then(|| u32::from_str_radix(hex, 16).ok())?
}

/// Whether `rest` starts with a low surrogate escape.
fn low_follows(rest: &str) -> bool {
    rest.get(..6)
        .and_then(unit)
        .is_some_and(|unit| (0xDC00..=0xDFFF).contains(&unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(json: &str) -> String {
        from_db(to_db(json).into_owned())
    }

    #[test]
    fn nul_lone_surrogates_and_the_mark_round_trip() {
        for json in [
            r#"{"a":"x\u0000y"}"#,
            r#"{"k\u0000":"\u0000\u0000"}"#,
            r#"{"a":"\ud800","b":"\udfff z","c":"\ud800\ud800"}"#,
            "{\"a\":\"\u{E000}0 and \\ue000\"}",
            r#"{"a":"\\u0000 is text"}"#,
            r#"{"a":"\ud83d\ude00"}"#,
            r#"{"a":"\\"}"#,
        ] {
            let back = round_trip(json);
            let (a, b): (serde_json::Value, serde_json::Value) =
                match (serde_json::from_str(json), serde_json::from_str(&back)) {
                    (Ok(a), Ok(b)) => (a, b),
                    // Lone surrogates: serde_json cannot read them; the text must match.
                    _ => {
                        assert_eq!(back, json);
                        continue;
                    }
                };
            assert_eq!(a, b, "{json} -> {back}");
        }
    }

    #[test]
    fn other_text_is_not_copied() {
        for json in [r#"{"a":1}"#, r#"{"a":"\n\"\\"}"#, r#"{"a":"\u00e9"}"#] {
            assert!(matches!(to_db(json), Cow::Borrowed(_)), "{json}");
        }
        assert!(matches!(text_to_db("key"), Cow::Borrowed(_)));
        assert_eq!(text_to_db("k\0"), "k\u{E000}0");
        assert_eq!(from_db("{}".into()), "{}");
    }

    #[test]
    fn text_that_is_not_json_is_copied_without_a_panic() {
        for text in ["\\", "\\é", "\\u", "\\u00", "\\uéé\\u0000", "a\\u0000\\"] {
            let back = from_db(to_db(text).into_owned());
            assert_eq!(back, text);
        }
    }

    #[test]
    fn the_mark_is_escaped_so_that_stored_text_cannot_fake_a_nul() {
        let json = "{\"a\":\"\u{E000}0\"}";
        let stored = to_db(json);
        assert_eq!(stored, "{\"a\":\"\u{E000}E0\"}");
        assert_eq!(from_db(stored.into_owned()), json);
    }
}
