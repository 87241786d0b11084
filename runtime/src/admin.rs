//! The `SessionAdmin` request guard: acting on sessions other than the request's own.

use std::sync::Arc;

use rocket::request::{FromRequest, Outcome};
use rocket::{Ignite, Request, Rocket, Sentinel};
use serde::Serialize;

use crate::error::SessionError;
use crate::request::abort_unless_attached;
use crate::state::{Backend, Shared};
use crate::store::{SessionStore, StoreError, StoreErrorKind};
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
        let value = serde_json::to_string(value)
            .map_err(|e| StoreError::of_kind("keepsake", StoreErrorKind::BadValue, e))?;
        let ended = self.store.revoke_all(V::INDEX_KEY, &value).await?;
        log::info!(
            target: "rocket_keepsake",
            "revoked {ended} session(s) by `{}`", V::INDEX_KEY
        );
        Ok(ended)
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SessionAdmin<'r> {
    type Error = SessionError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, SessionError> {
        match req.rocket().state::<Shared>().map(|shared| &shared.backend) {
            Some(Backend::Store(store)) => Outcome::Success(SessionAdmin { store }),
            Some(Backend::Cookie) => {
                let e = SessionError::NoServerStore;
                Outcome::Error((e.status(), e))
            }
            None => {
                let e = SessionError::NotAttached;
                Outcome::Error((e.status(), e))
            }
        }
    }
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
