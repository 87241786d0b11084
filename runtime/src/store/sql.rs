//! What the SQL stores share: table names, the JSON they send, errors, the sweep.

use std::time::Duration;

use super::{Changes, Fields, StoreError};

/// The table a store uses unless told otherwise.
pub(crate) const DEFAULT_TABLE: &str = "keepsake_sessions";

/// How often expired rows are swept unless told otherwise.
pub(crate) const DEFAULT_SWEEP: Duration = Duration::from_secs(5 * 60);

/// Rows deleted per sweep statement, so that no sweep holds locks for long.
pub(crate) const SWEEP_BATCH: i64 = 1000;

/// How long a request waits for a pooled connection before its session store is
/// unavailable (a 503).
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections per pool unless the pool is the app's own.
pub(crate) const MAX_CONNECTIONS: u32 = 10;

/// A table name that cannot change the meaning of a statement it is written into.
#[derive(Debug, thiserror::Error)]
#[error(
    "table name `{0}` is not a plain identifier; use letters, digits and `_` (at most 48), \
     starting with a letter or `_`"
)]
pub(crate) struct BadTable(String);

/// Checks a table name before it is written into statements.
pub(crate) fn check_table(name: &str) -> Result<(), BadTable> {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 48;
    if plain {
        Ok(())
    } else {
        Err(BadTable(name.to_owned()))
    }
}

/// A session key that cannot be written into a JSON path.
#[derive(Debug, thiserror::Error)]
#[error(
    "session key {0:?} holds `\"`, `\\` or a control character, which SQL JSON paths cannot name"
)]
pub(crate) struct BadKey(pub(crate) String);

/// The JSON path of a top-level key, `$."key"`.
pub(crate) fn path(key: &str) -> Result<String, BadKey> {
    if key.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return Err(BadKey(key.to_owned()));
    }
    Ok(format!("$.\"{key}\""))
}

/// An engine's JSON functions, for [`changed_data`].
pub(crate) struct JsonFunctions {
    /// Sets paths to values: `JSON_SET` / `json_set`.
    pub(crate) set: &'static str,
    /// Makes a JSON value of a bound text: `JSON_EXTRACT(?, '$')` / `json(?)`.
    pub(crate) value: &'static str,
    /// Removes paths: `JSON_REMOVE` / `json_remove`.
    pub(crate) remove: &'static str,
}

/// `data` with the changed keys set and the removed ones deleted, as one SQL
/// expression in the engine's JSON functions, and the values to bind, in order.
pub(crate) fn changed_data(
    store: &'static str,
    functions: &JsonFunctions,
    changes: &Changes,
) -> Result<(String, Vec<String>), StoreError> {
    let path = |key: &str| path(key).map_err(|e| StoreError::new(store, e));
    let mut expression = String::from("data");
    let mut binds = Vec::new();
    if !changes.set.is_empty() {
        expression = format!("{}({expression}", functions.set);
        for (key, value) in &changes.set {
            expression.push_str(", ?, ");
            expression.push_str(functions.value);
            binds.push(path(key)?);
            binds.push(value.clone());
        }
        expression.push(')');
    }
    if !changes.removed.is_empty() {
        expression = format!("{}({expression}", functions.remove);
        for key in &changes.removed {
            expression.push_str(", ?");
            binds.push(path(key)?);
        }
        expression.push(')');
    }
    Ok((expression, binds))
}

/// The `#[session(index)]` keys a store has given an SQL index (or tried to), and
/// how it went: `revoke_all` finds sessions through it.
#[derive(Debug, Default)]
pub(crate) struct IndexedKeys(std::sync::Mutex<std::collections::HashMap<String, bool>>);

impl IndexedKeys {
    /// Whether `key` was indexed, if it was tried.
    pub(crate) fn get(&self, key: &str) -> Option<bool> {
        self.lock().get(key).copied()
    }

    /// Gives each of `keys` not tried yet its index: `ddl` writes the statement for a
    /// key (or says why it cannot have one), `run` executes it.
    pub(crate) async fn ensure<Fut>(
        &self,
        store: &'static str,
        keys: &[String],
        ddl: impl Fn(&str) -> Result<String, BadKey>,
        run: impl Fn(String) -> Fut,
    ) where
        Fut: std::future::Future<Output = Result<(), sqlx::Error>>,
    {
        for key in keys {
            if self.get(key).is_some() {
                continue;
            }
            let result = match ddl(key) {
                Ok(statement) => run(statement).await.map_err(|e| failed(store, e)),
                Err(e) => Err(StoreError::new(store, e)),
            };
            self.set(store, key, result);
        }
    }

    /// Remembers whether indexing `key` worked; a failure is logged once.
    fn set(&self, store: &str, key: &str, result: Result<(), StoreError>) -> bool {
        let indexed = match result {
            Ok(()) => true,
            Err(e) => {
                log::warn!(
                    target: "rocket_keepsake",
                    "{store}: no SQL index over session key `{key}` ({}); `revoke_all` by it \
                     scans the table",
                    crate::error::report(&e)
                );
                false
            }
        };
        self.lock().insert(key.to_owned(), indexed);
        indexed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, bool>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `text` as an SQL string literal.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The name of the SQL index (or column) over session key `key` in `table`: the
/// table's name and a hash of the key, so that any key makes a plain identifier.
pub(crate) fn index_name(table: &str, key: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.as_bytes());
    format!("{table}_by_{}", hex::encode(&digest[..8]))
}

/// The keys a save sets, as one JSON object.
pub(crate) fn set_object(changes: &Changes) -> String {
    super::json_object(changes.set.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// A row's JSON object as the record's fields.
pub(crate) fn fields(store: &'static str, json: &str) -> Result<Fields, StoreError> {
    super::fields_of_object(store, json)
}

/// A database error as a store error: a pool that waited in vain, or a connection
/// that failed, means the database is unavailable; so does anything else.
pub(crate) fn failed(store: &'static str, error: sqlx::Error) -> StoreError {
    StoreError::new(store, error)
}

/// Runs `sweep` every `every` off the request path, for as long as the pool is open
/// (and the runtime runs). A sweep that fails is logged, and tried again next time.
pub(crate) fn spawn_sweeper<DB, F, Fut>(
    pool: sqlx::Pool<DB>,
    table: String,
    every: Duration,
    sweep: F,
) where
    DB: sqlx::Database,
    F: Fn(sqlx::Pool<DB>, String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<u64, StoreError>> + Send,
{
    if every.is_zero() {
        return;
    }
    rocket::tokio::spawn(async move {
        let mut tick = rocket::tokio::time::interval(every);
        tick.tick().await;
        while !pool.is_closed() {
            tick.tick().await;
            if let Err(e) = sweep(pool.clone(), table.clone()).await {
                log::warn!(target: "rocket_keepsake", "sweeping expired sessions failed: {}", crate::error::report(&e));
            }
        }
    });
}

/// Milliseconds of a TTL, at least one.
pub(crate) fn millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_and_paths() {
        for good in ["keepsake_sessions", "_t", "T1"] {
            assert!(check_table(good).is_ok(), "{good}");
        }
        for bad in ["", "1t", "a-b", "a;drop table x", "a b", &"x".repeat(49)] {
            assert!(check_table(bad).is_err(), "{bad}");
        }
        assert_eq!(path("user").unwrap(), r#"$."user""#);
        assert_eq!(path("a.b").unwrap(), r#"$."a.b""#);
        assert!(path("a\"b").is_err() && path("a\\b").is_err());
    }

    #[test]
    fn changed_data_nests_the_engines_functions() {
        let functions = JsonFunctions {
            set: "json_set",
            value: "json(?)",
            remove: "json_remove",
        };
        let changes = Changes {
            create: false,
            set: vec![("a".into(), "1".into())],
            removed: vec!["b".into()],
            index: vec![],
        };
        let (expression, binds) = changed_data("sqlite", &functions, &changes).unwrap();
        assert_eq!(expression, "json_remove(json_set(data, ?, json(?)), ?)");
        assert_eq!(binds, [r#"$."a""#, "1", r#"$."b""#]);
        let none = Changes::default();
        assert_eq!(changed_data("sqlite", &functions, &none).unwrap().0, "data");
    }

    #[test]
    fn the_set_object_holds_the_values_as_given() {
        let changes = Changes {
            create: false,
            set: vec![
                ("a".into(), "[1,{\"x\":null}]".into()),
                ("q\"".into(), "2".into()),
            ],
            removed: vec![],
            index: vec![],
        };
        assert_eq!(set_object(&changes), r#"{"a":[1,{"x":null}],"q\"":2}"#);
    }
}
