//! The text of a JSON object of keys to JSON values, as the record and the stores
//! that keep a record as one value write and read it: written in one place, keys
//! escaped only when they must be.

use std::ops::Range;

/// Whether `key` needs escaping to be a JSON string's contents.
pub(crate) fn needs_escape(key: &str) -> bool {
    key.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20)
}

/// Appends `key` to `out` as a JSON string; where its contents stand in `out` when
/// they needed no escaping.
pub(crate) fn push_key(out: &mut String, key: &str) -> Option<Range<usize>> {
    if needs_escape(key) {
        // A `&str` always serializes.
        out.push_str(&serde_json::to_string(key).unwrap_or_default());
        return None;
    }
    out.push('"');
    let start = out.len();
    out.push_str(key);
    let end = out.len();
    out.push('"');
    Some(start..end)
}

/// Keys with their values' JSON text as one JSON object, in the order given.
pub(crate) fn object<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::with_capacity(64);
    write_object(&mut out, fields);
    out
}

/// Appends the JSON object of [`object`] to `out`.
pub(crate) fn write_object<'a>(
    out: &mut String,
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    out.push('{');
    for (i, (key, value)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_key(out, key);
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
}

/// A JSON object's text as its keys, each with its value's JSON text as written.
#[cfg(any(
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite",
    feature = "rocket_db_pools",
    feature = "memcached"
))]
pub(crate) fn fields(
    text: &str,
) -> Result<std::collections::HashMap<String, String>, serde_json::Error> {
    let raw: std::collections::HashMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_str(text)?;
    Ok(raw
        .into_iter()
        .map(|(key, value)| (key, value.get().to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_escaped_only_when_they_must_be() {
        let mut out = String::new();
        assert_eq!(push_key(&mut out, "user"), Some(1..5));
        assert_eq!(push_key(&mut out, "a\"b\n"), None);
        assert_eq!(out, r#""user""a\"b\n""#);
        assert_eq!(object([("a", "[1]"), ("q\"", "2")]), r#"{"a":[1],"q\"":2}"#);
        assert_eq!(object([]), "{}");
    }
}
