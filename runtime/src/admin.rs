//! The `SessionAdmin` request guard: acting on sessions other than the request's own.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rocket::request::{FromRequest, Outcome};
use rocket::{Ignite, Request, Rocket, Sentinel};
use serde::Serialize;

use crate::codec::{self, Tags};
use crate::error::SessionError;
use crate::record::{Record, CREATED_KEY, SEEN_KEY};
use crate::request::abort_unless_attached;
use crate::state::{Backend, Shared};
use crate::store::{SessionId, SessionStore, StoreError, StoreErrorKind};
use crate::view::IndexedView;

/// A request guard for acting on every session of the store, not just the
/// request's own: "log out everywhere".
///
/// It needs a server-side store: a route using it with the signed-cookie store aborts
/// launch, since a cookie a client has copied cannot be revoked. (An
/// `#[session(index)]` field on the cookie store is simply not indexed, so one view
/// serves both.)
///
/// ```rust
/// use rocket::{post, response::Redirect};
/// use rocket_keepsake::{Session, SessionAdmin};
///
/// #[derive(Session, Default)]
/// struct Auth {
///     #[session(index)] // sessions are indexed by the user id
///     user_id: Option<u64>,
/// }
///
/// #[post("/logout-everywhere")]
/// async fn logout_everywhere(auth: Session<'_, Auth>, admin: SessionAdmin<'_>) -> Redirect {
///     if let Some(id) = auth.user_id {
///         let ended = admin.revoke_all::<Auth, u64>(&id).await;
///         println!("ended {ended:?} sessions");
///     }
///     Redirect::to("/login")
/// }
/// ```
pub struct SessionAdmin<'r> {
    store: &'r Arc<dyn SessionStore>,
    /// Makes session tags; none where the store cannot list sessions anyway.
    tags: Option<&'r Tags>,
    /// The id of the session the request's cookie names, if it verifies.
    current: Option<SessionId>,
}

/// One live session of a user, as [`SessionAdmin::sessions`] lists them: a device or
/// browser where they are signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// A handle for this session, to pass to [`SessionAdmin::revoke`]: the same each
    /// time the session is listed, and not its id. It grants nothing: no cookie can be
    /// made from it, and only this server can read it (it is the id encrypted with a
    /// key derived from `secret_key`). Show it only to the session's owner all the
    /// same, as a button's value.
    pub tag: String,
    /// When the session began: its first request, as a visitor or signed in.
    pub created: SystemTime,
    /// The last request that saved the session: any request that changed it, and,
    /// when a store write refreshes its expiry anyway, every request (a permanent
    /// session with `refresh_each_request`, the default, or any session with an
    /// `idle_timeout`). A request that only reads a session that is neither is not
    /// noted: tracking it would cost a store write it does not otherwise make.
    pub last_seen: SystemTime,
    /// Whether this is the session of the request asking.
    pub current: bool,
}

impl SessionAdmin<'_> {
    /// Ends every session whose `#[session(index)]` field of view `V` holds `value`,
    /// and returns how many ended: each is deleted from the store, so its cookie,
    /// wherever it was copied, loads a fresh session. The request's own session is
    /// among them if it matches: a change this request makes to it afterwards is not
    /// saved (a revoked session is never recreated).
    ///
    /// `value` is compared as the field's JSON: for an `Option<u64>` field, pass the
    /// `u64`. Expired sessions are not counted.
    pub async fn revoke_all<V: IndexedView, K: Serialize + ?Sized>(
        &self,
        value: &K,
    ) -> Result<usize, StoreError> {
        let ended = self.store.revoke_all(V::INDEX_KEY, &json(value)?).await?;
        log::info!(
            target: "rocket_keepsake",
            "revoked {ended} session(s) by `{}`", V::INDEX_KEY
        );
        Ok(ended)
    }

    /// The live sessions whose `#[session(index)]` field of view `V` holds `value`:
    /// "where you're signed in". The asking request's own session comes first, then
    /// the others, most recently seen first. `value` is compared as in
    /// [`revoke_all`](SessionAdmin::revoke_all). End one with
    /// [`revoke`](SessionAdmin::revoke) and its [`tag`](SessionInfo::tag).
    ///
    /// A session is listed from the first request that saves it with the index field
    /// set; each keeps two small reserved keys for its times (`_created`, `_seen`),
    /// written with the store writes its requests make anyway. A store that keeps no
    /// index (Memcached, a Redis Cluster, the signed cookie) answers with an
    /// [`Unsupported`](StoreErrorKind::Unsupported) error.
    ///
    /// ```rust
    /// use rocket::get;
    /// use rocket_keepsake::{Session, SessionAdmin};
    ///
    /// #[derive(Session, Default)]
    /// struct Auth {
    ///     #[session(index)]
    ///     user_id: Option<u64>,
    /// }
    ///
    /// #[get("/devices")]
    /// async fn devices(auth: Session<'_, Auth>, admin: SessionAdmin<'_>) -> Option<String> {
    ///     let sessions = admin.sessions::<Auth, u64>(&auth.user_id?).await.ok()?;
    ///     let lines = sessions.iter().map(|s| {
    ///         let this = if s.current { " (this device)" } else { "" };
    ///         format!("{}: last seen {:?}{this}", s.tag, s.last_seen)
    ///     });
    ///     Some(lines.collect::<Vec<_>>().join("\n"))
    /// }
    /// ```
    pub async fn sessions<V: IndexedView, K: Serialize + ?Sized>(
        &self,
        value: &K,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let found = self.store.find(V::INDEX_KEY, &json(value)?).await?;
        let Some(tags) = self.tags else {
            return Ok(Vec::new());
        };
        let mut sessions: Vec<SessionInfo> = found
            .into_iter()
            .map(|(id, loaded)| {
                let mut record = Record::from_store(id.clone(), loaded, 0, false);
                let mut time = |key| {
                    let seconds = record.get(key).and_then(|t| t.parse().ok());
                    UNIX_EPOCH + Duration::from_secs(seconds.unwrap_or(0))
                };
                SessionInfo {
                    tag: tags.tag(&id),
                    created: time(CREATED_KEY),
                    last_seen: time(SEEN_KEY),
                    current: self.current.as_ref() == Some(&id),
                }
            })
            .collect();
        sessions.sort_by(|a, b| {
            let order = b.current.cmp(&a.current);
            order
                .then(b.last_seen.cmp(&a.last_seen))
                .then(a.tag.cmp(&b.tag))
        });
        Ok(sessions)
    }

    /// Ends the session `tag` names (a [`SessionInfo::tag`]): it is deleted, so its
    /// cookie, wherever it is, loads a fresh session. `true` if it was live, `false`
    /// if there was none (already ended or expired, or a tag this server did not
    /// make, or made before a change of `secret_key`).
    ///
    /// The tag itself grants nothing, but it does end a session: check that it is
    /// among the ones [`sessions`](SessionAdmin::sessions) lists for the user asking,
    /// as a "sign out this device" button's handler would. Ending the request's own
    /// session works as with [`revoke_all`](SessionAdmin::revoke_all): this request's
    /// changes to it are not saved.
    pub async fn revoke(&self, tag: &str) -> Result<bool, StoreError> {
        let Some(id) = self.tags.and_then(|tags| tags.open(tag)) else {
            return Ok(false);
        };
        let live = self.store.load_record(&id).await?.is_some();
        self.store.delete(&id).await?;
        log::info!(target: "rocket_keepsake", "revoked one session by its tag");
        Ok(live)
    }
}

/// A value to find sessions by, as the JSON an index holds.
fn json<K: Serialize + ?Sized>(value: &K) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::of_kind("keepsake", StoreErrorKind::BadValue, e))
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SessionAdmin<'r> {
    type Error = SessionError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, SessionError> {
        let Some(shared) = req.rocket().state::<Shared>() else {
            let e = SessionError::NotAttached;
            return Outcome::Error((e.status(), e));
        };
        match &shared.backend {
            Backend::Store(store) => Outcome::Success(SessionAdmin {
                store,
                tags: shared.tags.as_ref(),
                current: current(shared, req),
            }),
            Backend::Cookie => {
                let e = SessionError::NoServerStore;
                Outcome::Error((e.status(), e))
            }
        }
    }
}

/// The id of the session the request's cookie names, if it verifies: no store call.
fn current(shared: &Shared, req: &Request<'_>) -> Option<SessionId> {
    let cookie = req.cookies().get(&shared.config.cookie_name)?;
    let opened = codec::open(&shared.format, &shared.limits, cookie.value(), shared.now()).ok()?;
    SessionId::from_verified(opened.payload)
}

impl Sentinel for SessionAdmin<'_> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        if abort_unless_attached(rocket) {
            return true;
        }
        let cookie = matches!(
            rocket.state::<Shared>().map(|shared| &shared.backend),
            Some(Backend::Cookie)
        );
        if cookie {
            log::error!(target: "rocket_keepsake", "{}", SessionError::NoServerStore);
        }
        cookie
    }
}
