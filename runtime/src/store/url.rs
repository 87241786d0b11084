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
        "`{0}` names no store; use `memory`, `file:`, `redis://`, `rediss://`, `redis+cluster://`, `postgres://`, \
         `postgresql://`, `mysql://`, `mariadb://`, `sqlite://` or `memcache://`"
    )]
    UnknownScheme(String),
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

/// The store `url` names. Builds it without connecting: stores connect on first use.
pub(crate) fn open(url: &str) -> Result<Arc<dyn SessionStore>, StoreUrlError> {
    let url = url.trim();
    if url == "memory" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    let scheme = match url.split_once(':') {
        Some((scheme, _)) => scheme.to_ascii_lowercase(),
        None => return Err(StoreUrlError::UnknownScheme(redact(url))),
    };
    #[allow(unused)] // used by the features this build lacks
    let missing = |feature| StoreUrlError::MissingFeature {
        url: redact(url),
        feature,
    };
    #[allow(unused)] // used by the stores this build has
    let malformed = |source: Box<dyn std::error::Error + Send + Sync>| StoreUrlError::Malformed {
        url: redact(url),
        source,
    };
    match scheme.as_str() {
        "redis" | "rediss" => {
            #[cfg(feature = "redis")]
            return super::RedisStore::new(url)
                .map(|s| Arc::new(s) as Arc<dyn SessionStore>)
                .map_err(|e| malformed(e.into()));
            #[cfg(not(feature = "redis"))]
            Err(missing("redis"))
        }
        "redis+cluster" => {
            #[cfg(feature = "redis")]
            return super::RedisStore::cluster_url(url)
                .map(|s| Arc::new(s) as Arc<dyn SessionStore>)
                .map_err(|e| malformed(e.into()));
            #[cfg(not(feature = "redis"))]
            Err(missing("redis"))
        }
        "postgres" | "postgresql" => {
            #[cfg(feature = "postgres")]
            return super::PostgresStore::new(url)
                .map(|s| Arc::new(s) as Arc<dyn SessionStore>)
                .map_err(|e| malformed(e.into()));
            #[cfg(not(feature = "postgres"))]
            Err(missing("postgres"))
        }
        "mysql" | "mariadb" => {
            #[cfg(feature = "mysql")]
            return super::MySqlStore::new(url)
                .map(|s| Arc::new(s) as Arc<dyn SessionStore>)
                .map_err(|e| malformed(e.into()));
            #[cfg(not(feature = "mysql"))]
            Err(missing("mysql"))
        }
        "sqlite" => {
            #[cfg(feature = "sqlite")]
            return super::SqliteStore::new(url)
                .map(|s| Arc::new(s) as Arc<dyn SessionStore>)
                .map_err(|e| malformed(e.into()));
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
            return super::MemcachedStore::new(url)
                .map(|s| Arc::new(s) as Arc<dyn SessionStore>)
                .map_err(|e| malformed(e.into()));
            #[cfg(not(feature = "memcached"))]
            Err(missing("memcached"))
        }
        _ => Err(StoreUrlError::UnknownScheme(redact(url))),
    }
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
        assert!(open("memory").is_ok());
        assert!(matches!(
            open("mongodb://x"),
            Err(StoreUrlError::UnknownScheme(_))
        ));
        assert!(matches!(
            open("nothing"),
            Err(StoreUrlError::UnknownScheme(_))
        ));
        assert!(open("file:///tmp/keepsake-sessions").is_ok());
        assert_eq!(file_path("file:///srv/s"), Some("/srv/s".into()));
        assert_eq!(file_path("file://localhost/srv/s"), Some("/srv/s".into()));
        assert_eq!(file_path("file:sessions"), Some("sessions".into()));
        assert_eq!(file_path("file://host/srv/s"), None, "no remote hosts");
        assert_eq!(file_path("file:"), None);
        assert!(matches!(
            open("file://elsewhere/s"),
            Err(StoreUrlError::Malformed { .. })
        ));
        #[cfg(feature = "memcached")]
        assert!(open("memcache://127.0.0.1:11211,127.0.0.1:11212").is_ok());
        #[cfg(not(feature = "memcached"))]
        assert!(matches!(
            open("memcache://127.0.0.1:11211"),
            Err(StoreUrlError::MissingFeature {
                feature: "memcached",
                ..
            })
        ));
        #[cfg(feature = "redis")]
        assert!(open("redis+cluster://127.0.0.1:7000,127.0.0.1:7001").is_ok());
        #[cfg(feature = "redis")]
        assert!(matches!(
            open("redis://host:notaport"),
            Err(StoreUrlError::Malformed { .. })
        ));
        #[cfg(feature = "postgres")]
        assert!(open("postgres://postgres@127.0.0.1/test").is_ok());
        #[cfg(not(feature = "postgres"))]
        assert!(matches!(
            open("postgres://u:pw@h/db"),
            Err(StoreUrlError::MissingFeature { feature: "postgres", url }) if !url.contains("pw")
        ));
    }
}
