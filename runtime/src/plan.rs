//! The save decision: what a response must do about the session, as a pure function
//! of the record, the configuration, whether a cookie arrived, and the time.
//!
//! Flask's rules, and keepsake's on top: a cookie is sent when the record was
//! modified, or is permanent with `refresh_each_request`, or must be re-signed (a
//! fallback key verified it, `cycle_id()`, an `idle_timeout` to renew); it is deleted
//! when a session that arrived was emptied; a cookie over 4096 bytes drops the oldest
//! pending flashes until it fits, and is a 500 if it does not fit without any.

use std::time::Duration;

use crate::codec::{Format, Stamp, MAX_COOKIE_LEN};
use crate::config::Config;
use crate::error::{LargestKeys, SaveError};
use crate::record::{Lifecycle, Record};
use crate::store::{Changes, SessionId, SessionStore};

/// What [`plan`] needs to know of the fairing.
pub(crate) struct Rules<'a> {
    pub(crate) config: &'a Config,
    /// Seals the record for the cookie store (unused by server-side stores).
    pub(crate) format: &'a Format,
    /// The server-side store records live in, if any; the cookie then holds a
    /// signed id.
    pub(crate) store: Option<&'a dyn SessionStore>,
}

/// What a response must do about the session.
pub(crate) enum Plan<'a> {
    Nothing,
    /// The changes cannot be saved: a 500, with this logged.
    Fail(SaveError),
    /// Delete the cookie, and the record from the store that holds it, if one does.
    Remove {
        stored: Option<(&'a dyn SessionStore, SessionId)>,
    },
    /// Send this sealed record as the cookie.
    Cookie {
        value: String,
        life: CookieLife,
        /// When it was sealed (unix seconds), which its `Expires` counts from.
        issued: u64,
        /// How many of the oldest pending flashes were dropped to make it fit.
        dropped_flashes: usize,
    },
    /// Write to the store, then send a cookie sealing the id the record lives under.
    Store {
        store: &'a dyn SessionStore,
        write: Write,
        stamp: Stamp,
        life: CookieLife,
    },
}

/// One request's write to a server-side store.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Write {
    pub(crate) target: Target,
    pub(crate) changes: Changes,
    pub(crate) ttl: Duration,
    /// How many random bytes a new id holds.
    pub(crate) id_bytes: usize,
}

/// Which record a store write goes to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// A new record under a new id.
    Create,
    /// The record under this id; it is not recreated if it is gone.
    Update(SessionId),
    /// Move the record under `from` to a new id first (`cycle_id()`).
    Rename { from: SessionId },
    /// Delete the record under `retired` (`clear()`), then create a new one.
    Replace { retired: SessionId },
}

/// How long the browser keeps the cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CookieLife {
    /// Until the browser closes: neither `Expires` nor `Max-Age`.
    Browser,
    /// This long (`max_age`, or the session's own shorter lifetime): both `Expires`
    /// and `Max-Age`.
    Permanent(Duration),
}

impl CookieLife {
    fn of(permanent: bool, lifetime: Duration) -> CookieLife {
        if permanent {
            CookieLife::Permanent(lifetime)
        } else {
            CookieLife::Browser
        }
    }
}

/// How long the session may live between requests: its own lifetime, capped by `max_age`.
pub(crate) fn lifetime(record: &mut Record, config: &Config) -> Duration {
    record
        .lifetime()
        .map_or(config.max_age, |own| own.min(config.max_age))
}

/// Decides what the response does about `record`: `had_cookie` tells whether a
/// session cookie arrived, `now` the time (unix seconds), each asked only if the
/// decision needs it (a request that changed nothing asks neither).
pub(crate) fn plan<'a>(
    record: &mut Record,
    rules: &Rules<'a>,
    had_cookie: &dyn Fn() -> bool,
    now: &dyn Fn() -> u64,
) -> Plan<'a> {
    record.flush();
    if let Some(failure) = record.take_failure() {
        return Plan::Fail(failure);
    }
    let config = rules.config;
    let purged = matches!(record.lifecycle(), Lifecycle::Purged { .. });
    if record.is_empty() {
        if (record.is_modified() || purged) && had_cookie() {
            let stored = match record.lifecycle() {
                Lifecycle::Loaded { id, .. } => id.clone(),
                Lifecycle::Renewed { from } => from.clone(),
                Lifecycle::Purged { retired } => retired.clone(),
                Lifecycle::New => None,
            };
            let stored = stored.and_then(|id| Some((rules.store?, id)));
            return Plan::Remove { stored };
        }
        return Plan::Nothing;
    }
    let permanent = record.is_permanent();
    let send = match record.lifecycle() {
        Lifecycle::Loaded { rotated, .. } => {
            *rotated
                || record.is_modified()
                || (permanent && config.refresh_each_request)
                || config.idle_timeout.is_some()
        }
        Lifecycle::New | Lifecycle::Renewed { .. } | Lifecycle::Purged { .. } => true,
    };
    if !send {
        return Plan::Nothing;
    }
    let now = now();
    // A cleared session that got new contents is a new session.
    let created = if purged { now } else { record.created() };
    let stamp = Stamp {
        issued: now,
        created,
    };
    let lifetime = lifetime(record, config);
    let life = CookieLife::of(permanent, lifetime);
    if let Some(store) = rules.store {
        if !config.flask_session {
            // Flask-Session keeps no index to list sessions by: its records get no
            // keys of keepsake's own.
            record.note_visit(now, created);
        }
        let (target, changes) = match record.lifecycle() {
            Lifecycle::Loaded { id: Some(id), .. } => {
                (Target::Update(id.clone()), record.changes())
            }
            Lifecycle::Renewed { from: Some(from) } => {
                (Target::Rename { from: from.clone() }, record.changes())
            }
            Lifecycle::Purged {
                retired: Some(retired),
            } => (
                Target::Replace {
                    retired: retired.clone(),
                },
                record.all_changes(),
            ),
            _ => (Target::Create, record.all_changes()),
        };
        let mut ttl = ttl(config, lifetime, created, now);
        if !permanent && record.holds_only_flashes() {
            // An anonymous visitor's flash: read on the next page, or never.
            ttl = ttl.min(config.flash_only_ttl);
        }
        let id_bytes = match config.flask_session {
            true => SessionId::FLASK_SESSION_BYTES,
            false => SessionId::BYTES,
        };
        let write = Write {
            target,
            changes,
            ttl,
            id_bytes,
        };
        return Plan::Store {
            store,
            write,
            stamp,
            life,
        };
    }
    let mut dropped_flashes = 0;
    loop {
        let payload = if rules.format.is_flask() {
            record.encode_flask_json()
        } else {
            record.encode_json()
        };
        let value = match rules.format.seal(stamp, &payload) {
            Ok(value) => value,
            Err(e) => return Plan::Fail(SaveError::NoRandom(e)),
        };
        let size = config.cookie_name.len() + 1 + value.len();
        if size <= MAX_COOKIE_LEN {
            return Plan::Cookie {
                value,
                life,
                issued: now,
                dropped_flashes,
            };
        }
        if !record.drop_oldest_flash() {
            let largest = record
                .largest_keys(3)
                .into_iter()
                .map(|(key, bytes)| (key.to_owned(), bytes))
                .collect();
            return Plan::Fail(SaveError::TooBig {
                size,
                largest: LargestKeys(largest),
            });
        }
        dropped_flashes += 1;
        if record.is_empty() {
            return plan(record, rules, had_cookie, &|| now);
        }
    }
}

/// How long a stored record lives unless refreshed: the idle timeout if set, else
/// `lifetime` (`max_age`, or the session's own), never more than `lifetime`, and never
/// past the absolute timeout.
pub(crate) fn ttl(config: &Config, lifetime: Duration, created: u64, now: u64) -> Duration {
    let ttl = config.idle_timeout.unwrap_or(lifetime).min(lifetime);
    match config.absolute_timeout {
        Some(absolute) => {
            let lived = Duration::from_secs(now.saturating_sub(created));
            ttl.min(absolute.saturating_sub(lived))
                .max(Duration::from_secs(1))
        }
        None => ttl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Purpose, Signed};
    use crate::config::Secret;
    use crate::store::{Fields, Loaded, MemoryStore};

    const NOW: u64 = 1_700_000_000;

    fn format() -> Format {
        Format::Signed(Signed::new(Purpose::Record, &Secret(vec![3; 32]), &[]))
    }

    fn loaded(json: &str) -> Record {
        Record::from_json(json.as_bytes(), NOW - 100, false).unwrap()
    }

    fn stored(id: &SessionId, json: &[(&str, &str)]) -> Record {
        let fields: Fields = json
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Record::from_store(id.clone(), Loaded::Fields(fields), NOW - 100, false)
    }

    /// The plan's kind and its main facts, for a table of cases.
    fn summary(plan: &Plan) -> String {
        match plan {
            Plan::Nothing => "nothing".into(),
            Plan::Fail(e) => format!("fail: {e}"),
            Plan::Remove { stored } => format!("remove stored={}", stored.is_some()),
            Plan::Cookie {
                life,
                dropped_flashes,
                ..
            } => format!("cookie {} dropped={dropped_flashes}", life_name(*life)),
            Plan::Store { write, life, .. } => {
                let target = match write.target {
                    Target::Create => "create",
                    Target::Update(_) => "update",
                    Target::Rename { .. } => "rename",
                    Target::Replace { .. } => "replace",
                };
                let life = life_name(*life);
                format!("store {target} {life} create={}", write.changes.create)
            }
        }
    }

    fn life_name(life: CookieLife) -> &'static str {
        match life {
            CookieLife::Browser => "Browser",
            CookieLife::Permanent(_) => "Permanent",
        }
    }

    fn run(mut record: Record, config: &Config, server_side: bool, had_cookie: bool) -> String {
        let (format, memory) = (format(), MemoryStore::new());
        let rules = Rules {
            config,
            format: &format,
            store: server_side.then_some(&memory as &dyn SessionStore),
        };
        summary(&plan(&mut record, &rules, &|| had_cookie, &|| NOW))
    }

    #[test]
    fn flasks_rules_for_the_cookie_store() {
        let default = Config::default();
        let no_refresh = Config {
            refresh_each_request: false,
            ..Config::default()
        };
        let idle = Config {
            idle_timeout: Some(Duration::from_secs(60)),
            ..Config::default()
        };
        let modified = || {
            let mut r = loaded(r#"{"a":1}"#);
            r.set("a", "2".into());
            r
        };
        let permanent = || loaded(r#"{"_permanent":true,"a":1}"#);
        let emptied = || {
            let mut r = loaded(r#"{"a":1}"#);
            r.remove("a");
            r
        };
        let cleared_new = || {
            let mut r = Record::new(NOW);
            r.clear();
            r
        };
        let rotated = Record::from_json(&br#"{"a":1}"#[..], NOW, true).unwrap();
        let mut renewed = loaded(r#"{"a":1}"#);
        renewed.renew();
        let cases: Vec<(&str, Record, &Config, bool, &str)> = vec![
            ("untouched", loaded(r#"{"a":1}"#), &default, true, "nothing"),
            (
                "modified",
                modified(),
                &default,
                true,
                "cookie Browser dropped=0",
            ),
            (
                "permanent, refreshed",
                permanent(),
                &default,
                true,
                "cookie Permanent dropped=0",
            ),
            (
                "permanent, no refresh",
                permanent(),
                &no_refresh,
                true,
                "nothing",
            ),
            (
                "idle renewal",
                loaded(r#"{"a":1}"#),
                &idle,
                true,
                "cookie Browser dropped=0",
            ),
            ("emptied", emptied(), &default, true, "remove stored=false"),
            (
                "emptied, no cookie came",
                emptied(),
                &default,
                false,
                "nothing",
            ),
            (
                "cleared a bad cookie",
                cleared_new(),
                &default,
                true,
                "remove stored=false",
            ),
            (
                "cleared with no cookie",
                cleared_new(),
                &default,
                false,
                "nothing",
            ),
            (
                "new and empty",
                Record::new(NOW),
                &default,
                false,
                "nothing",
            ),
            (
                "fallback key re-signs",
                rotated,
                &default,
                true,
                "cookie Browser dropped=0",
            ),
            (
                "cycle_id re-signs",
                renewed,
                &default,
                true,
                "cookie Browser dropped=0",
            ),
        ];
        for (name, record, config, had_cookie, expected) in cases {
            assert_eq!(run(record, config, false, had_cookie), expected, "{name}");
        }
    }

    #[test]
    fn server_side_writes_name_their_target() {
        let config = Config::default();
        let id = SessionId::generate().unwrap();
        let mut update = stored(&id, &[("a", "1")]);
        update.set("a", "2".into());
        let mut rename = stored(&id, &[("a", "1")]);
        rename.renew();
        let mut replace = stored(&id, &[("user", "\"ada\"")]);
        replace.clear();
        replace.push_flash("info", "logged out".into());
        let mut cleared = stored(&id, &[("a", "1")]);
        cleared.clear();
        let mut new = Record::new(NOW);
        new.set("a", "1".into());
        let cases = [
            ("update", update, "store update Browser create=false"),
            ("cycle_id", rename, "store rename Browser create=false"),
            (
                "write after clear",
                replace,
                "store replace Browser create=true",
            ),
            ("clear", cleared, "remove stored=true"),
            ("new", new, "store create Browser create=true"),
        ];
        for (name, record, expected) in cases {
            assert_eq!(run(record, &config, true, true), expected, "{name}");
        }
    }

    #[test]
    fn a_write_after_clear_is_a_new_session_with_only_the_new_keys() {
        let (config, format, memory) = (Config::default(), format(), MemoryStore::new());
        let rules = Rules {
            config: &config,
            format: &format,
            store: Some(&memory),
        };
        let id = SessionId::generate().unwrap();
        let mut record = stored(&id, &[("user", "\"ada\"")]);
        record.clear();
        record.push_flash("info", "bye".into());
        let Plan::Store { write, stamp, .. } = plan(&mut record, &rules, &|| true, &|| NOW) else {
            panic!("a store write")
        };
        assert_eq!(write.target, Target::Replace { retired: id });
        assert_eq!(
            write.changes.set,
            [("_flashes".to_owned(), r#"[["info","bye"]]"#.to_owned())]
        );
        assert_eq!(stamp.created, NOW, "the new session starts now");
    }

    #[test]
    fn an_indexed_sessions_writes_note_when_it_began_and_was_last_seen() {
        let (config, format, memory) = (Config::default(), format(), MemoryStore::new());
        let rules = Rules {
            config: &config,
            format: &format,
            store: Some(&memory),
        };
        let set_keys = |record: &mut Record| match plan(record, &rules, &|| true, &|| NOW) {
            Plan::Store { write, .. } => {
                let keys = write
                    .changes
                    .set
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}"));
                keys.collect::<Vec<_>>().join(" ")
            }
            Plan::Nothing => "nothing".to_owned(),
            _ => panic!("a store write or nothing"),
        };
        let id = SessionId::generate().unwrap();
        // A visitor's session (its index field unset): nothing more is written.
        let mut visitor = stored(&id, &[("user_id", "null")]);
        visitor.index_by("user_id");
        visitor.set("cart", "[1]".into());
        assert_eq!(set_keys(&mut visitor), "cart=[1]");
        // Signing in: when it began (the cookie's creation time) and now.
        let mut signed_in = stored(&id, &[("user_id", "null")]);
        signed_in.index_by("user_id");
        signed_in.set("user_id", "7".into());
        let began = NOW - 100;
        assert_eq!(
            set_keys(&mut signed_in),
            format!("_created={began} _seen={NOW} user_id=7")
        );
        // Later writes move `_seen` only, whichever views they used; a request that
        // writes nothing writes nothing for it either.
        let times = [("_created", "5"), ("_seen", "6"), ("user_id", "7")];
        let mut later = stored(&id, &times);
        later.set("theme", "\"dark\"".into());
        assert_eq!(set_keys(&mut later), format!("_seen={NOW} theme=\"dark\""));
        assert_eq!(set_keys(&mut stored(&id, &times)), "nothing");
    }

    #[test]
    fn oversize_drops_the_oldest_flashes_then_fails() {
        let config = Config::default();
        let mut flashed = loaded(r#"{"a":1}"#);
        for i in 0..10 {
            flashed.push_flash("info", format!("{i}{}", "x".repeat(400)));
        }
        let fits = run(flashed, &config, false, true);
        assert!(fits.starts_with("cookie Browser dropped="), "{fits}");
        let dropped: usize = fits.rsplit('=').next().unwrap().parse().unwrap();
        assert!((2..=4).contains(&dropped), "{fits}");

        let mut too_big = loaded(r#"{"a":1}"#);
        too_big.set("big", format!("\"{}\"", "y".repeat(4000)).into());
        too_big.push_flash("info", "hello".into());
        let failed = run(too_big, &config, false, true);
        assert!(
            failed.starts_with("fail: session cookie would be"),
            "{failed}"
        );
        assert!(failed.contains("`big` (4005 B)"), "{failed}");
    }

    #[test]
    fn store_ttls_follow_idle_then_max_age_capped_by_absolute() {
        let mut config = Config {
            max_age: Duration::from_secs(1000),
            ..Config::default()
        };
        let max = config.max_age;
        assert_eq!(ttl(&config, max, NOW, NOW), Duration::from_secs(1000));
        let own = Duration::from_secs(40);
        assert_eq!(ttl(&config, own, NOW, NOW), own, "a session's own lifetime");
        config.idle_timeout = Some(Duration::from_secs(60));
        assert_eq!(ttl(&config, max, NOW, NOW), Duration::from_secs(60));
        assert_eq!(
            ttl(&config, own, NOW, NOW),
            own,
            "shorter than the idle timeout"
        );
        config.absolute_timeout = Some(Duration::from_secs(100));
        assert_eq!(ttl(&config, max, NOW - 70, NOW), Duration::from_secs(30));
        assert_eq!(ttl(&config, max, NOW - 500, NOW), Duration::from_secs(1));
    }

    #[test]
    fn records_holding_only_flashes_live_briefly_in_a_store() {
        let (config, format, memory) = (Config::default(), format(), MemoryStore::new());
        let rules = Rules {
            config: &config,
            format: &format,
            store: Some(&memory),
        };
        let ttl_of = |mut record: Record| match plan(&mut record, &rules, &|| false, &|| NOW) {
            Plan::Store { write, .. } => write.ttl,
            other => panic!("{}", summary(&other)),
        };
        let mut anonymous = Record::new(NOW);
        anonymous.push_flash("danger", "wrong password".into());
        assert_eq!(ttl_of(anonymous), config.flash_only_ttl);
        let mut user = Record::new(NOW);
        user.push_flash("success", "welcome".into());
        user.set("user", r#""ada""#.into());
        assert_eq!(ttl_of(user), config.max_age);
        let mut remembered = Record::new(NOW);
        remembered.push_flash("info", "hi".into());
        remembered.set_permanent(true);
        assert_eq!(
            ttl_of(remembered),
            config.max_age,
            "permanent: its lifetime"
        );
    }

    #[test]
    fn a_sessions_own_lifetime_is_capped_by_max_age() {
        let config = Config {
            max_age: Duration::from_secs(1000),
            ..Config::default()
        };
        let mut record = loaded(r#"{"a":1}"#);
        record.set_lifetime(Duration::from_secs(60));
        assert_eq!(
            CookieLife::of(record.is_permanent(), lifetime(&mut record, &config)),
            CookieLife::Permanent(Duration::from_secs(60))
        );
        record.set_lifetime(Duration::from_secs(5000));
        assert_eq!(
            CookieLife::of(record.is_permanent(), lifetime(&mut record, &config)),
            CookieLife::Permanent(Duration::from_secs(1000))
        );
        record.set_permanent(false);
        assert_eq!(
            CookieLife::of(record.is_permanent(), lifetime(&mut record, &config)),
            CookieLife::Browser
        );
        assert_eq!(record.lifetime(), None, "set_permanent(false) forgets it");
    }
}
