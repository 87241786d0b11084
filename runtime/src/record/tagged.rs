//! Flask's TaggedJSON, turned into the plain JSON views read, and back.
//!
//! Flask stores values JSON cannot tell apart as one-key objects whose key is a tag:
//! `{" t": [..]}` a tuple, `{" b": "..."}` bytes (base64), `{" m": ".."}` Markup,
//! `{" u": ".."}` a UUID, `{" d": ".."}` an HTTP date, and `{" di": {"k__": ..}}` a
//! dict whose only key is itself a tag name. A record read from Flask holds the
//! untagged values (a tuple is an array, bytes an array of numbers, the rest strings),
//! and keeps each key's text as Flask wrote it, so that a key no request changed goes
//! back byte for byte. A key that changed is tagged as Flask would.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The tags Flask's `TaggedJSONSerializer` registers.
const TAGS: [&str; 6] = [" t", " b", " m", " u", " d", " di"];

/// A Flask payload, untagged.
pub(crate) struct Untagged {
    /// The session as a plain JSON object.
    pub(crate) plain: String,
    /// Each key's value as Flask wrote it.
    pub(crate) originals: BTreeMap<String, Box<str>>,
}

/// Untags a Flask session payload, which must be a JSON object.
pub(crate) fn untag_object(json: &[u8]) -> Result<Untagged, serde_json::Error> {
    let raw: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(json)?;
    let mut plain = Map::new();
    let mut originals = BTreeMap::new();
    for (key, text) in raw {
        let value: Value = serde_json::from_str(text.get())?;
        plain.insert(key.clone(), untag(value));
        originals.insert(key, Box::from(text.get()));
    }
    Ok(Untagged {
        plain: serde_json::to_string(&plain)?,
        originals,
    })
}

/// Flask's `_untag_scan`: the children first, then the value itself.
fn untag(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(untag).collect()),
        Value::Object(map) => {
            let map: Map<String, Value> = map.into_iter().map(|(k, v)| (k, untag(v))).collect();
            if map.len() != 1 {
                return Value::Object(map);
            }
            let Some((tag, inner)) = map.iter().next() else {
                return Value::Object(map);
            };
            match (tag.as_str(), inner) {
                (" t" | " m" | " u" | " d", _) => inner.clone(),
                (" b", Value::String(text)) => {
                    match base64::engine::general_purpose::STANDARD.decode(text) {
                        Ok(bytes) => Value::Array(bytes.into_iter().map(Value::from).collect()),
                        Err(_) => Value::Object(map),
                    }
                }
                (" di", Value::Object(escaped)) if escaped.len() == 1 => {
                    let Some((key, value)) = escaped.iter().next() else {
                        return Value::Object(map);
                    };
                    match key.strip_suffix("__") {
                        Some(key) => {
                            Value::Object(Map::from_iter([(key.to_owned(), value.clone())]))
                        }
                        None => Value::Object(map),
                    }
                }
                _ => Value::Object(map),
            }
        }
        other => other,
    }
}

/// Tags a plain value as Flask's serializer would: a one-key object whose key is a
/// tag name is escaped, so that Flask does not read it as a tagged value.
pub(crate) fn tag(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(tag).collect()),
        Value::Object(map) => {
            let escape = map.len() == 1 && map.keys().all(|k| TAGS.contains(&k.as_str()));
            let map: Map<String, Value> = map.into_iter().map(|(k, v)| (k, tag(v))).collect();
            if !escape {
                return Value::Object(map);
            }
            let escaped: Map<String, Value> = map
                .into_iter()
                .map(|(k, v)| (format!("{k}__"), v))
                .collect();
            Value::Object(Map::from_iter([(" di".to_owned(), Value::Object(escaped))]))
        }
        other => other,
    }
}

/// Tags pending flash messages as Flask writes them: each `[category, message]` pair
/// a tuple.
pub(crate) fn tag_flashes(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| match item {
                    Value::Array(pair) if pair.len() == 2 => {
                        Value::Object(Map::from_iter([(" t".to_owned(), Value::Array(pair))]))
                    }
                    other => tag(other),
                })
                .collect(),
        ),
        other => tag(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn untagged(json: &str) -> String {
        untag_object(json.as_bytes()).unwrap().plain
    }

    #[test]
    fn every_tag_is_read_as_a_plain_value() {
        assert_eq!(
            untagged(r#"{"t":{" t":[1,"a"]},"b":{" b":"AAH/"},"m":{" m":"<b>x</b>"}}"#),
            r#"{"b":[0,1,255],"m":"<b>x</b>","t":[1,"a"]}"#
        );
        assert_eq!(
            untagged(r#"{"u":{" u":"8f9e"},"d":{" d":"Tue, 14 Nov 2023 22:13:20 GMT"}}"#),
            r#"{"d":"Tue, 14 Nov 2023 22:13:20 GMT","u":"8f9e"}"#
        );
        assert_eq!(
            untagged(r#"{"e":{" di":{" t__":{" t":[1]}}}}"#),
            r#"{"e":{" t":[1]}}"#,
            "an escaped dict, its value untagged"
        );
        assert_eq!(
            untagged(r#"{"_flashes":[{" t":["info","hi"]}],"n":[{" t":[]},{"a":1,"b":2}]}"#),
            r#"{"_flashes":[["info","hi"]],"n":[[],{"a":1,"b":2}]}"#
        );
        assert_eq!(
            untagged(r#"{"x":{" zz":1}}"#),
            r#"{"x":{" zz":1}}"#,
            "not a tag"
        );
    }

    #[test]
    fn originals_are_kept_byte_for_byte() {
        let json = r#"{"a":{" t":[1, 2]},"b":"\u00e9"}"#;
        let untagged = untag_object(json.as_bytes()).unwrap();
        assert_eq!(&*untagged.originals["a"], r#"{" t":[1, 2]}"#);
        assert_eq!(&*untagged.originals["b"], r#""\u00e9""#);
    }

    #[test]
    fn tagging_escapes_objects_whose_only_key_is_a_tag() {
        let tagged = tag(serde_json::json!({"x": {" t": [1]}, "y": [{" b": "z"}]}));
        assert_eq!(
            tagged.to_string(),
            r#"{"x":{" di":{" t__":[1]}},"y":[{" di":{" b__":"z"}}]}"#,
            "the outer map has two keys; the inner ones are escaped"
        );
        let round =
            untagged(&serde_json::json!({"k": tag(serde_json::json!({" t": [1]}))}).to_string());
        assert_eq!(round, r#"{"k":{" t":[1]}}"#);
    }

    #[test]
    fn flashes_are_written_as_tuples() {
        let flashes = tag_flashes(serde_json::json!([["info", "hi"], ["danger", "no"]]));
        assert_eq!(
            flashes.to_string(),
            r#"[{" t":["info","hi"]},{" t":["danger","no"]}]"#
        );
    }

    #[test]
    fn payloads_that_are_not_objects_are_errors() {
        for bad in ["[]", "1", "{", r#"{"a":}"#, "\u{0}"] {
            assert!(untag_object(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
