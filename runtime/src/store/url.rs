//! The `store` configuration key: a URL that picks the store at launch.

use std::sync::Arc;

use super::{MemoryStore, SessionStore};

/// Why the `store` URL could not give a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreUrlError {
    /// The scheme's store is behind a cargo feature this build does not have.
    #[error(
        "`{url}` needs rocket_keepsake's `{feature}` feature; enable it: \
         rocket_keepsake = {{ .., features = [\"{feature}\"] }}"
    )]
    MissingFeature {
        /// The URL, its password hidden.
        url: String,
        /// The feature to enable.
        feature: &'static str,
    },
    /// No store has this scheme.
    #[error(
        "`{0}` names no store; use `memory`, `file:`, `redis://`, `rediss://`, `redis+cluster://`, \
         `redis+sentinel://`, `postgres://`, \
         `postgresql://`, `mysql://`, `mariadb://`, `sqlite://` or `memcache://`"
    )]
    UnknownScheme(String),
    /// With `flask_session`, a store Flask-Session does not share.
    #[error(
        "`{0}` is not a store `flask_session` can share with Flask-Session: use the Redis \
         your Flask app's `SESSION_REDIS` names (`redis://`, `rediss://`, `redis+cluster://` \
         or `redis+sentinel://`), the Memcached of `SESSION_MEMCACHED` (`memcache://`) or \
         the database of `SESSION_SQLALCHEMY` (`postgres://`, `mysql://`, `sqlite://`); its \
         filesystem and cachelib layouts store pickles"
    )]
    NotFlaskSession(String),
    /// The store refused the URL.
    #[error("`{url}` is not a valid URL for its store")]
    Malformed {
        /// The URL, its password hidden.
        url: String,
        /// What the store said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// An SQL store in Flask-Session's layout: its table `table`, its ids under `prefix`.
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
fn flask_sql<E: super::Engine>(
    store: super::SqlStore<E>,
    table: Option<&str>,
    prefix: &str,
) -> Arc<dyn SessionStore> {
    let store = store.flask_session(prefix);
    match table {
        Some(table) => Arc::new(store.with_table(table)),
        None => Arc::new(store),
    }
}

/// `store` in Flask-Session's layout, its keys under `prefix`.
#[cfg(feature = "redis")]
fn flask_session(store: super::RedisStore, prefix: &str) -> super::RedisStore {
    store.flask_session().with_prefix(prefix)
}

/// `url` with the password of its user info, if any, replaced by `***`: for logs.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// What configuration names inside a store: `store_table`, `store_prefix`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Names<'a> {
    /// The table of an SQL store.
    pub(crate) table: Option<&'a str>,
    /// The key prefix of a Redis or Memcached store.
    pub(crate) prefix: Option<&'a str>,
    /// Flask-Session's layout (`flask_session`), with this key prefix.
    pub(crate) flask_session: Option<&'a str>,
}

/// The scheme of a store URL, in lower case (`memory` for `memory` and
/// `memory?max_sessions=N`).
fn scheme(url: &str) -> Option<String> {
    let url = url.trim();
    match url.split_once(':') {
        _ if url == "memory" || url.starts_with("memory?") => Some("memory".to_owned()),
        Some((scheme, _)) => Some(scheme.to_ascii_lowercase()),
        None => None,
    }
}

/// Which names the store at `url` takes: a table (`store_table`), a key prefix
/// (`store_prefix`). `None` for a URL that names no store, which [`open`] refuses.
pub(crate) fn names_taken(url: &str) -> Option<(bool, bool)> {
    match scheme(url)?.as_str() {
        "postgres" | "postgresql" | "mysql" | "mariadb" | "sqlite" => Some((true, false)),
        "redis" | "rediss" | "redis+cluster" | "redis+sentinel" | "memcache" => Some((false, true)),
        "memory" | "file" => Some((false, false)),
        _ => None,
    }
}

/// The store `url` names, with `names` applied. Builds it without connecting: stores
/// connect on first use.
pub(crate) fn open(url: &str, names: Names<'_>) -> Result<Arc<dyn SessionStore>, StoreUrlError> {
    let url = url.trim();
    let Some(scheme) = scheme(url) else {
        return Err(StoreUrlError::UnknownScheme(redact(url)));
    };
    #[allow(unused)] // used by the features this build lacks
    let missing = |feature| StoreUrlError::MissingFeature {
        url: redact(url),
        feature,
    };
    let malformed = |source: Box<dyn std::error::Error + Send + Sync>| StoreUrlError::Malformed {
        url: redact(url),
        source,
    };
    #[allow(unused)] // used by the stores this build has
    let (table, prefix) = (names.table, names.prefix);
    /// The store a constructor gave, with `$name` applied by `$with` if set.
    #[allow(unused)] // used by the stores this build has
    macro_rules! made {
        ($made:expr, $name:expr, $with:ident) => {
            $made
                .map(|store| match $name {
                    Some(name) => store.$with(name),
                    None => store,
                })
                .map(|store| Arc::new(store) as Arc<dyn SessionStore>)
                .map_err(|e| malformed(e.into()))
        };
    }
    if let Some(prefix) = names.flask_session {
        #[cfg(feature = "redis")]
        let redis = |store| Ok(Arc::new(flask_session(store, prefix)) as Arc<dyn SessionStore>);
        #[cfg(not(feature = "redis"))]
        let _ = prefix;
        return match scheme.as_str() {
            #[cfg(feature = "redis")]
            "redis" | "rediss" => super::RedisStore::new(url)
                .map_err(|e| malformed(e.into()))
                .and_then(redis),
            #[cfg(feature = "redis")]
            "redis+cluster" => super::RedisStore::cluster_url(url)
                .map_err(|e| malformed(e.into()))
                .and_then(redis),
            #[cfg(feature = "redis")]
            "redis+sentinel" => super::RedisStore::sentinel_url(url)
                .map_err(|e| malformed(e.into()))
                .and_then(redis),
            #[cfg(not(feature = "redis"))]
            "redis" | "rediss" | "redis+cluster" | "redis+sentinel" => Err(missing("redis")),
            #[cfg(feature = "memcached")]
            "memcache" => super::MemcachedStore::new(url)
                .map(|store| store.flask_session().with_prefix(prefix))
                .map(|store| Arc::new(store) as Arc<dyn SessionStore>)
                .map_err(|e| malformed(e.into())),
            #[cfg(not(feature = "memcached"))]
            "memcache" => Err(missing("memcached")),
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => super::PostgresStore::new(url)
                .map(|store| flask_sql(store, table, prefix))
                .map_err(|e| malformed(e.into())),
            #[cfg(not(feature = "postgres"))]
            "postgres" | "postgresql" => Err(missing("postgres")),
            #[cfg(feature = "mysql")]
            "mysql" | "mariadb" => super::MySqlStore::new(url)
                .map(|store| flask_sql(store, table, prefix))
                .map_err(|e| malformed(e.into())),
            #[cfg(not(feature = "mysql"))]
            "mysql" | "mariadb" => Err(missing("mysql")),
            #[cfg(feature = "sqlite")]
            "sqlite" => super::SqliteStore::new(url)
                .map(|store| flask_sql(store, table, prefix))
                .map_err(|e| malformed(e.into())),
            #[cfg(not(feature = "sqlite"))]
            "sqlite" => Err(missing("sqlite")),
            _ => Err(StoreUrlError::NotFlaskSession(redact(url))),
        };
    }
    match scheme.as_str() {
        "memory" => memory(url).map_err(|source| malformed(source.into())),
        "redis" | "rediss" => {
            #[cfg(feature = "redis")]
            return made!(super::RedisStore::new(url), prefix, with_prefix);
            #[cfg(not(feature = "redis"))]
            Err(missing("redis"))
        }
        "redis+cluster" => {
            #[cfg(feature = "redis")]
            return made!(super::RedisStore::cluster_url(url), prefix, with_prefix);
            #[cfg(not(feature = "redis"))]
            Err(missing("redis"))
        }
        "redis+sentinel" => {
            #[cfg(feature = "redis")]
            return made!(super::RedisStore::sentinel_url(url), prefix, with_prefix);
            #[cfg(not(feature = "redis"))]
            Err(missing("redis"))
        }
        "postgres" | "postgresql" => {
            #[cfg(feature = "postgres")]
            return made!(super::PostgresStore::new(url), table, with_table);
            #[cfg(not(feature = "postgres"))]
            Err(missing("postgres"))
        }
        "mysql" | "mariadb" => {
            #[cfg(feature = "mysql")]
            return made!(super::MySqlStore::new(url), table, with_table);
            #[cfg(not(feature = "mysql"))]
            Err(missing("mysql"))
        }
        "sqlite" => {
            #[cfg(feature = "sqlite")]
            return made!(super::SqliteStore::new(url), table, with_table);
            #[cfg(not(feature = "sqlite"))]
            Err(missing("sqlite"))
        }
        "file" => file_path(url)
            .map(|dir| Arc::new(super::FileStore::new(dir)) as Arc<dyn SessionStore>)
            .ok_or_else(|| StoreUrlError::Malformed {
                url: redact(url),
                source: "expected `file:///absolute/dir` or `file:relative/dir`".into(),
            }),
        "memcache" => {
            #[cfg(feature = "memcached")]
            return made!(super::MemcachedStore::new(url), prefix, with_prefix);
            #[cfg(not(feature = "memcached"))]
            Err(missing("memcached"))
        }
        _ => Err(StoreUrlError::UnknownScheme(redact(url))),
    }
}

/// The store of `memory`, or `memory?max_sessions=N`.
fn memory(url: &str) -> Result<Arc<dyn SessionStore>, String> {
    let store = MemoryStore::new();
    let Some(query) = url.strip_prefix("memory?") else {
        return Ok(Arc::new(store));
    };
    let max = query
        .strip_prefix("max_sessions=")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .ok_or("expected `memory` or `memory?max_sessions=N`, N a positive integer")?;
    Ok(Arc::new(store.with_max_sessions(max)))
}

/// The directory of a `file:` URL: `file:///abs/dir` (or `file://localhost/abs/dir`)
/// is absolute, `file:rel/dir` relative to the working directory.
fn file_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = &url["file:".len()..];
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => {
            let path = authority_and_path
                .strip_prefix("localhost")
                .unwrap_or(authority_and_path);
            path.starts_with('/').then_some(path)?
        }
        None => rest,
    };
    (!path.is_empty() && !path.contains(['?', '#'])).then(|| path.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact("postgres://app:hunter2@db:5432/app?sslmode=require"),
            "postgres://app:***@db:5432/app?sslmode=require"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact("redis://:pw@host/0"), "redis://:***@host/0");
        assert_eq!(redact("mysql://root@host/db"), "mysql://root@host/db");
        assert_eq!(redact("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn schemes_pick_stores_or_say_why_not() {
        assert!(open("memory", Names::default()).is_ok());
        assert!(open("memory?max_sessions=500", Names::default()).is_ok());
        for bad in [
            "memory?max_sessions=0",
            "memory?max_sessions=x",
            "memory?cap=5",
        ] {
            assert!(
                matches!(
                    open(bad, Names::default()),
                    Err(StoreUrlError::Malformed { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(names_taken("memory"), Some((false, false)));
        assert_eq!(names_taken("memory?max_sessions=5"), Some((false, false)));
        assert_eq!(names_taken("file:sessions"), Some((false, false)));
        assert_eq!(names_taken("MySQL://root@h/db"), Some((true, false)));
        assert_eq!(names_taken("redis+sentinel://h:1/s"), Some((false, true)));
        assert_eq!(names_taken("mongodb://x"), None);
        assert!(matches!(
            open("mongodb://x", Names::default()),
            Err(StoreUrlError::UnknownScheme(_))
        ));
        assert!(matches!(
            open("nothing", Names::default()),
            Err(StoreUrlError::UnknownScheme(_))
        ));
        assert!(open("file:///tmp/keepsake-sessions", Names::default()).is_ok());
        assert_eq!(file_path("file:///srv/s"), Some("/srv/s".into()));
        assert_eq!(file_path("file://localhost/srv/s"), Some("/srv/s".into()));
        assert_eq!(file_path("file:sessions"), Some("sessions".into()));
        assert_eq!(file_path("file://host/srv/s"), None, "no remote hosts");
        assert_eq!(file_path("file:"), None);
        assert!(matches!(
            open("file://elsewhere/s", Names::default()),
            Err(StoreUrlError::Malformed { .. })
        ));
        #[cfg(feature = "memcached")]
        assert!(open(
            "memcache://127.0.0.1:11211,127.0.0.1:11212",
            Names::default()
        )
        .is_ok());
        #[cfg(not(feature = "memcached"))]
        assert!(matches!(
            open("memcache://127.0.0.1:11211", Names::default()),
            Err(StoreUrlError::MissingFeature {
                feature: "memcached",
                ..
            })
        ));
        #[cfg(feature = "redis")]
        assert!(open(
            "redis+cluster://127.0.0.1:7000,127.0.0.1:7001",
            Names::default()
        )
        .is_ok());
        #[cfg(feature = "redis")]
        assert!(open(
            "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/svc",
            Names::default()
        )
        .is_ok());
        #[cfg(feature = "redis")]
        assert!(matches!(
            open("redis+sentinel://127.0.0.1:26379", Names::default()),
            Err(StoreUrlError::Malformed { .. })
        ));
        #[cfg(feature = "redis")]
        assert!(matches!(
            open("redis://host:notaport", Names::default()),
            Err(StoreUrlError::Malformed { .. })
        ));
        #[cfg(feature = "postgres")]
        assert!(open("postgres://postgres@127.0.0.1/test", Names::default()).is_ok());
        #[cfg(not(feature = "postgres"))]
        assert!(matches!(
            open("postgres://u:pw@h/db", Names::default()),
            Err(StoreUrlError::MissingFeature { feature: "postgres", url }) if !url.contains("pw")
        ));
    }
}
