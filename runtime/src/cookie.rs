//! The session cookie's `Set-Cookie` headers, with the configured attributes.
//!
//! The attributes are formatted once, at ignite, by the `cookie` crate itself: a
//! response then writes its value between them, and only a permanent cookie's
//! `Max-Age` and `Expires` are formatted per response.

use rocket::http::{Cookie, Header};

use crate::config::Config;
use crate::plan::CookieLife;

/// The session cookie's headers for one configuration.
#[derive(Debug)]
pub(crate) struct CookieHeaders {
    /// `name=`.
    name: String,
    /// The attributes that follow the value: `; HttpOnly; SameSite=Lax; Path=/`, as
    /// configured.
    attributes: String,
    /// The whole header that deletes the cookie.
    removal: String,
}

impl CookieHeaders {
    pub(crate) fn new(config: &Config) -> CookieHeaders {
        let name = format!("{}=", config.cookie_name);
        let blank = cookie(config, String::new()).to_string();
        let attributes = blank.strip_prefix(&name).unwrap_or_default().to_owned();
        let mut removal = cookie(config, String::new());
        // Expired a year before launch, and `Max-Age=0`: in the past for good.
        removal.make_removal();
        CookieHeaders {
            name,
            attributes,
            removal: removal.to_string(),
        }
    }

    /// The `Set-Cookie` header. Written without percent-encoding, which Rocket's
    /// conversion applies character by character: our values are URL-safe base64.
    pub(crate) fn set(&self, value: &str, life: CookieLife, now: u64) -> Header<'static> {
        let mut header =
            String::with_capacity(self.name.len() + value.len() + self.attributes.len() + 64);
        header.push_str(&self.name);
        header.push_str(value);
        header.push_str(&self.attributes);
        if let CookieLife::Permanent(lifetime) = life {
            let max_age = time::Duration::try_from(lifetime).unwrap_or(time::Duration::MAX);
            let now = time::OffsetDateTime::from_unix_timestamp(now.try_into().unwrap_or(0))
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            // `; Max-Age=…; Expires=…`, last as the `cookie` crate writes them.
            let lifetime = Cookie::build(("", ""))
                .max_age(max_age)
                .expires(now.saturating_add(max_age))
                .build()
                .to_string();
            header.push_str(lifetime.strip_prefix('=').unwrap_or_default());
        }
        Header::new("Set-Cookie", header)
    }

    /// The `Set-Cookie` header that deletes the session cookie.
    pub(crate) fn removal(&self) -> Header<'static> {
        Header::new("Set-Cookie", self.removal.clone())
    }
}

/// The session cookie with its configured attributes.
fn cookie(config: &Config, value: String) -> Cookie<'static> {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rocket::http::SameSite;

    use super::*;

    /// The header as the `cookie` crate writes the whole cookie.
    fn whole(config: &Config, value: &str, life: CookieLife, now: u64) -> String {
        let mut cookie = cookie(config, value.to_owned());
        if let CookieLife::Permanent(lifetime) = life {
            let max_age = time::Duration::try_from(lifetime).unwrap();
            let now = time::OffsetDateTime::from_unix_timestamp(now as i64).unwrap();
            cookie.set_max_age(max_age);
            cookie.set_expires(now + max_age);
        }
        cookie.to_string()
    }

    #[test]
    fn headers_are_what_the_cookie_crate_writes() {
        let configs = [
            Config::default(),
            Config {
                cookie_name: "sid".into(),
                cookie_path: "/app".into(),
                cookie_domain: Some("example.com".into()),
                secure: true,
                partitioned: true,
                ..Config::default()
            },
            Config {
                http_only: false,
                same_site: SameSite::None,
                ..Config::default()
            },
            Config {
                same_site: SameSite::Strict,
                secure: true,
                ..Config::default()
            },
        ];
        let lives = [
            CookieLife::Browser,
            CookieLife::Permanent(Duration::from_secs(31 * 24 * 3600)),
            CookieLife::Permanent(Duration::from_secs(1)),
        ];
        for config in &configs {
            let headers = CookieHeaders::new(config);
            for life in lives {
                let value = "AQAAAABnZ3Y-abc_123";
                let header = headers.set(value, life, 1_733_400_000);
                assert_eq!(
                    header.value(),
                    whole(config, value, life, 1_733_400_000),
                    "{config:?} {life:?}"
                );
            }
            let removal = Cookie::parse(headers.removal().value().to_owned()).unwrap();
            assert_eq!(removal.name(), config.cookie_name);
            assert_eq!(removal.value(), "");
            assert_eq!(removal.max_age(), Some(time::Duration::ZERO));
            assert!(removal.expires_datetime().unwrap() < time::OffsetDateTime::now_utc());
            assert_eq!(removal.path(), Some(&*config.cookie_path));
            assert_eq!(removal.secure(), cookie(config, String::new()).secure());
        }
    }
}
