//! The `Session<'_, T>` request guard.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard};

use rocket::request::{FromRequest, Outcome};
use rocket::{Ignite, Request, Rocket, Sentinel};

use crate::error::SessionError;
use crate::record::Record;
use crate::request::{abort_unless_attached, lock, RequestSession};
use crate::view::{SessionView, Tracked};

/// A typed view `T` of the client's session: a request guard that derefs to `T`.
///
/// Read and write the fields of `T` directly. When the guard is dropped (at the end
/// of the handler), each field is compared with what it was before the handler first
/// borrowed the view mutably, and only the keys that really changed are saved:
/// `s.x = s.x.clone()` is no change, `s.cart.push(..)` is one. A view only read is
/// not compared at all. (A change made through a shared reference, to a `Cell` or
/// `RefCell` field, is therefore not seen: change fields through the guard.) Several
/// views in one handler share one record.
///
/// `Session` is `Send`, so it can be held across `.await`, and it can be requested
/// from inside another guard with `request.guard::<Session<'_, T>>().await`.
///
/// Using it in a route without the [`Keepsake`](crate::Keepsake) fairing attached
/// aborts launch.
///
/// ```rust
/// use rocket::get;
/// use rocket_keepsake::Session;
///
/// #[derive(Session, Default)]
/// struct Visits {
///     count: u32,
/// }
///
/// #[get("/")]
/// fn index(mut visits: Session<'_, Visits>) -> String {
///     visits.count += 1;
///     format!("visit number {}", visits.count)
/// }
/// ```
pub struct Session<'r, T: SessionView> {
    tracked: Tracked<T>,
    record: &'r Mutex<Box<Record>>,
}

impl<T: SessionView> Session<'_, T> {
    fn record(&self) -> MutexGuard<'_, Box<Record>> {
        lock(self.record)
    }

    /// Whether this request holds a new session: no valid session cookie arrived, or
    /// [`clear()`](Self::clear) ended the one that did.
    pub fn is_new(&self) -> bool {
        self.record().is_new()
    }

    /// Whether the session outlives the browser (Flask's `session.permanent`).
    pub fn is_permanent(&self) -> bool {
        self.record().is_permanent()
    }

    /// Makes the session permanent ("remember me"): its cookie then carries
    /// `Expires`/`Max-Age` of `max_age` (or of its own [lifetime](Self::set_lifetime)).
    /// `false` makes it end with the browser, and forgets its own lifetime.
    pub fn set_permanent(&mut self, permanent: bool) {
        self.record().set_permanent(permanent);
    }

    /// Makes the session permanent with its own lifetime, instead of `max_age`: a
    /// 30-minute kiosk login, a 30-day "remember me". The cookie's `Max-Age` and
    /// `Expires`, the check of the cookie's age when it comes back, and a store's time
    /// to live all use it, for this session only. It is capped by `max_age`, counted
    /// in whole seconds, and kept in the record (under `_lifetime`) until
    /// [`set_permanent(false)`](Self::set_permanent) or [`clear()`](Self::clear).
    ///
    /// ```rust
    /// # use rocket_keepsake::Session;
    /// # #[derive(Session, Default)] struct Auth { user: Option<String> }
    /// use std::time::Duration;
    ///
    /// fn kiosk_login(mut auth: Session<'_, Auth>, user: String) {
    ///     auth.user = Some(user);
    ///     auth.set_lifetime(Duration::from_secs(30 * 60));
    /// }
    /// ```
    pub fn set_lifetime(&mut self, lifetime: std::time::Duration) {
        self.record().set_lifetime(lifetime);
    }

    /// Re-issues the session, as after a login, against session fixation. With the
    /// signed-cookie store the record is re-signed and sent; server-side stores move
    /// it to a new id and invalidate the old one.
    pub fn cycle_id(&mut self) {
        self.record().renew();
    }

    /// Empties the whole record, every view's keys included, and resets this view to
    /// its defaults: the session is over. The client's cookie is deleted when the
    /// response goes out, and a server-side store's record with it, so a copy of the
    /// old cookie loads nothing. Whatever the request writes after the clear (a
    /// "logged out" flash, say) starts a new session, under a new id.
    pub fn clear(&mut self) {
        let mut record = lock(self.record);
        record.clear();
        self.tracked = Tracked::load(&mut record);
    }
}

impl<T: SessionView> Deref for Session<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.tracked.get()
    }
}

impl<T: SessionView> DerefMut for Session<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.tracked.get_mut()
    }
}

impl<T: SessionView> Drop for Session<'_, T> {
    fn drop(&mut self) {
        // A view only read cannot have changed: the record is not even locked.
        if self.tracked.borrowed_mut() {
            self.tracked.write_back(&mut lock(self.record));
        }
    }
}

impl<T: SessionView + fmt::Debug> fmt::Debug for Session<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Session").field(self.tracked.get()).finish()
    }
}

#[rocket::async_trait]
impl<'r, T: SessionView> FromRequest<'r> for Session<'r, T> {
    type Error = SessionError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, SessionError> {
        RequestSession::guard(req).await.map(|record| {
            let mut locked = lock(record);
            if let Some(key) = T::INDEX {
                locked.index_by(key);
            }
            let tracked = Tracked::load(&mut locked);
            drop(locked);
            Session { tracked, record }
        })
    }
}

impl<T: SessionView> Sentinel for Session<'_, T> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        abort_unless_attached(rocket)
    }
}
