//! The session cookie's `Set-Cookie` headers, with the configured attributes.

use rocket::http::{Cookie, Header};

use crate::config::Config;
use crate::plan::CookieLife;

/// The `Set-Cookie` header. Written without percent-encoding, which Rocket's
/// conversion applies character by character: our values are URL-safe base64.
pub(crate) fn set(config: &Config, value: String, life: CookieLife, now: u64) -> Header<'static> {
    let mut cookie = base(config, value);
    if let CookieLife::Permanent(lifetime) = life {
        let max_age = time::Duration::try_from(lifetime).unwrap_or(time::Duration::MAX);
        let now = time::OffsetDateTime::from_unix_timestamp(now.try_into().unwrap_or(0))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        cookie.set_max_age(max_age);
        cookie.set_expires(now.saturating_add(max_age));
    }
    Header::new("Set-Cookie", cookie.to_string())
}

/// The `Set-Cookie` header that deletes the session cookie.
pub(crate) fn removal(config: &Config) -> Header<'static> {
    let mut cookie = base(config, String::new());
    cookie.make_removal();
    Header::new("Set-Cookie", cookie.to_string())
}

/// The session cookie with its configured attributes.
fn base(config: &Config, value: String) -> Cookie<'static> {
    let mut cookie = Cookie::build((config.cookie_name.clone(), value))
        .path(config.cookie_path.clone())
        .secure(config.secure)
        .http_only(config.http_only)
        .same_site(config.same_site);
    if config.partitioned {
        cookie = cookie.partitioned(true);
    }
    if let Some(domain) = &config.cookie_domain {
        cookie = cookie.domain(domain.clone());
    }
    cookie.build()
}
