//! Test helpers for [`rocket::local`]: seed the session a client carries, and read
//! back, typed, the session and flashes it holds — on every store and cookie format.
//!
//! Flask has `session_transaction()`; here, on a tracked client:
//!
//! ```rust
//! use rocket::{get, routes, local::blocking::Client};
//! use rocket_keepsake::testing::{ClientExt, RequestExt};
//! use rocket_keepsake::{flash, Flashes, Keepsake, Session};
//!
//! #[derive(Session, Default, Debug, PartialEq)]
//! struct Auth {
//!     user: Option<String>,
//! }
//!
//! #[flash]
//! enum Notice { Info }
//!
//! #[get("/")]
//! fn index(auth: Session<'_, Auth>, mut notices: Flashes<'_, Notice>) -> String {
//!     notices.push(Notice::Info, "seen");
//!     format!("{:?}", auth.user)
//! }
//!
//! let rocket = rocket::build().attach(Keepsake::fairing()).mount("/", routes![index]);
//! let client = Client::tracked(rocket).unwrap();
//!
//! // Seed the session the client's next requests carry, as if it had logged in.
//! client.set_session(&Auth { user: Some("ada".into()) });
//! assert_eq!(client.get("/").dispatch().into_string().unwrap(), r#"Some("ada")"#);
//!
//! // Read back what the client now holds, without taking the flashes.
//! assert_eq!(client.session::<Auth>().unwrap().user.as_deref(), Some("ada"));
//! assert_eq!(client.flashes::<Notice>(), [(Notice::Info, "seen".to_string())]);
//!
//! // Or seed one request, of any client.
//! let bob = Auth { user: Some("bob".into()) };
//! let response = client.get("/").with_session(&bob).dispatch();
//! assert_eq!(response.into_string().unwrap(), r#"Some("bob")"#);
//! ```
//!
//! The seeded session is saved exactly as a handler's change would be: signed (or
//! encrypted, or in Flask's format) with the app's own keys, or written to its store.
//! [`ClientExt::set_session`] goes through one request to a route the fairing mounts,
//! `TRACE /__keepsake/testing/seed`, at the highest priority; that route only answers
//! a request these helpers made in the same process (it forwards every other request),
//! so it is inert in production. It is a `TRACE` route because Rocket matches a
//! request only against the routes of its method, and browsers never send `TRACE`:
//! the `GET` and `POST` requests of an app do not pay for it.
//!
//! [`asynchronous`] has the same helpers for `rocket::local::asynchronous`.
//!
//! These helpers panic, with the reason, where a test should fail: the fairing is not
//! attached, the store fails, a field cannot be serialized.

use std::future::Future;

use rocket::http::{Method, Status};
use rocket::route::{Handler, Outcome, Route};
use rocket::{Data, Orbit, Request, Rocket};

use crate::error::report;
use crate::flash::FlashCategory;
use crate::plan::{plan, Plan, Rules};
use crate::record::Record;
use crate::request::{lock, RequestSession};
use crate::save::apply;
use crate::state::Shared;
use crate::view::{encode_fields, SessionView, Tracked};

/// The path of the route that [`ClientExt::set_session`] seeds a session through.
const SEED_PATH: &str = "/__keepsake/testing/seed";

/// A session view's encoded fields, to write into the record of the request that
/// carries them in its local cache: only code in this process can put them there.
struct Seed(Vec<(&'static str, Box<str>)>);

/// Seeds the request's session with the fields of its [`Seed`]; forwards any request
/// without one.
#[derive(Clone)]
struct SeedHandler;

#[rocket::async_trait]
impl Handler for SeedHandler {
    async fn handle<'r>(&self, req: &'r Request<'_>, data: Data<'r>) -> Outcome<'r> {
        let Some(Seed(fields)) = req.local_cache(|| None::<Seed>) else {
            return Outcome::forward(data, Status::NotFound);
        };
        match RequestSession::load(req).await {
            Ok(record) => {
                let mut record = lock(record);
                for (key, value) in fields {
                    record.set(key, value.clone());
                }
                Outcome::from(req, Status::NoContent)
            }
            Err(e) => Outcome::Error(e.status()),
        }
    }
}

/// The seeding route the fairing mounts.
pub(crate) fn seed_route() -> Route {
    let mut route = Route::ranked(isize::MIN, Method::Trace, SEED_PATH, SeedHandler);
    route.name = Some("rocket_keepsake test seeding (inert outside tests)".into());
    route
}

/// The fairing's state, or a panic saying to attach it.
fn shared(rocket: &Rocket<Orbit>) -> &Shared {
    rocket
        .state::<Shared>()
        .expect("the `Keepsake` fairing is not attached to this client's Rocket")
}

/// A view's fields, or a panic naming the field that cannot be serialized.
fn seed_of<T: SessionView>(view: &T) -> Vec<(&'static str, Box<str>)> {
    encode_fields(view).unwrap_or_else(|e| panic!("cannot seed the session: {}", report(&e)))
}

/// The record behind a session cookie's value: `None` without a cookie, or when it
/// does not open (tampered, expired, unknown id).
async fn record_of(shared: &Shared, cookie: Option<String>) -> Option<Record> {
    let record = shared
        .load_cookie(cookie.as_deref())
        .await
        .unwrap_or_else(|e| panic!("cannot read the session: {}", report(&e)));
    (!record.is_new()).then_some(*record)
}

fn view_of<T: SessionView>(record: Option<Record>) -> Option<T> {
    record.map(|mut record| Tracked::<T>::load(&mut record).into_value())
}

fn flashes_of<C: FlashCategory>(record: Option<Record>) -> Vec<(C, String)> {
    let Some(mut record) = record else {
        return Vec::new();
    };
    record
        .flashes()
        .iter()
        .filter_map(|(category, message)| Some((C::from_category(category)?, message.clone())))
        .collect()
}

/// A cookie value for a new session holding `fields`, saved as a response would save
/// it: sealed, or written to the store.
async fn new_session(shared: &Shared, fields: Vec<(&'static str, Box<str>)>) -> Option<String> {
    let now = shared.now();
    let mut record = Record::new(now);
    for (key, value) in fields {
        record.set(key, value);
    }
    let rules = Rules {
        config: &shared.config,
        format: &shared.format,
        store: shared.backend.store(),
    };
    match plan(&mut record, &rules, &|| false, &|| now) {
        Plan::Cookie { value, .. } => Some(value),
        Plan::Store {
            store,
            write,
            stamp,
            ..
        } => {
            let id = apply(store, write)
                .await
                .unwrap_or_else(|e| panic!("cannot seed the session: {}", report(&e)))?;
            let sealed = shared.format.seal(stamp, id.as_str().as_bytes());
            Some(sealed.unwrap_or_else(|e| panic!("cannot seal the session cookie: {e}")))
        }
        Plan::Fail(e) => panic!("cannot seed the session: {}", report(&e)),
        Plan::Nothing | Plan::Remove { .. } => None,
    }
}

/// Runs `future` on the runtime the client's Rocket ignited on, where the store's
/// connections live.
fn block_on<F: Future>(shared: &Shared, future: F) -> F::Output {
    shared
        .runtime
        .as_ref()
        .expect("Rocket ignites on a runtime, whose handle the fairing keeps")
        .block_on(future)
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for rocket::local::blocking::Client {}
    impl Sealed for rocket::local::blocking::LocalRequest<'_> {}
    impl Sealed for rocket::local::asynchronous::Client {}
    impl Sealed for rocket::local::asynchronous::LocalRequest<'_> {}
}

/// Session helpers for a [`rocket::local::blocking::Client`]; the [module
/// docs](self) show each in use, and [`asynchronous::ClientExt`] is the same for an
/// asynchronous client.
///
/// ```rust
/// use rocket::local::blocking::Client;
/// use rocket_keepsake::testing::ClientExt;
/// use rocket_keepsake::{Keepsake, Session};
///
/// #[derive(Session, Default)]
/// struct Auth {
///     user: Option<String>,
/// }
///
/// let client = Client::tracked(rocket::build().attach(Keepsake::fairing())).unwrap();
/// client.set_session(&Auth { user: Some("ada".into()) });
/// assert_eq!(client.session::<Auth>().unwrap().user.as_deref(), Some("ada"));
/// ```
pub trait ClientExt: sealed::Sealed {
    /// Seeds the session this client's next requests carry with `view`'s fields,
    /// keeping the other keys of the session it holds (Flask's
    /// `session_transaction`). Needs a tracked client (`Client::tracked`).
    ///
    /// # Panics
    /// If the client does not keep cookies, the fairing is not attached, the store
    /// fails, or a field cannot be serialized.
    fn set_session<T: SessionView>(&self, view: &T);

    /// The view `T` of the session this client now holds; `None` when it holds none
    /// (no cookie, or one that no longer opens: expired, revoked, cleared).
    fn session<T: SessionView>(&self) -> Option<T>;

    /// The pending flash messages of categories `C` in the session this client holds,
    /// oldest first, without taking them.
    fn flashes<C: FlashCategory>(&self) -> Vec<(C, String)>;
}

/// Session helpers for a [`rocket::local::blocking::LocalRequest`].
///
/// ```rust
/// use rocket::local::blocking::Client;
/// use rocket::{get, routes};
/// use rocket_keepsake::testing::RequestExt;
/// use rocket_keepsake::{Keepsake, Session};
///
/// #[derive(Session, Default)]
/// struct Auth {
///     user: Option<String>,
/// }
///
/// #[get("/")]
/// fn index(auth: Session<'_, Auth>) -> String {
///     format!("{:?}", auth.user)
/// }
///
/// let rocket = rocket::build().attach(Keepsake::fairing()).mount("/", routes![index]);
/// // Any client, tracked or not: the session goes with this one request.
/// let client = Client::untracked(rocket).unwrap();
/// let bob = Auth { user: Some("bob".into()) };
/// let response = client.get("/").with_session(&bob).dispatch();
/// assert_eq!(response.into_string().unwrap(), r#"Some("bob")"#);
/// ```
pub trait RequestExt: sealed::Sealed + Sized {
    /// Sends this request with a new session holding `view`'s fields, whatever
    /// session the client holds: for any client, tracked or not.
    ///
    /// # Panics
    /// If the fairing is not attached, the store fails, or a field cannot be serialized.
    fn with_session<T: SessionView>(self, view: &T) -> Self;
}

fn session_cookie(jar: &rocket::http::CookieJar<'_>, shared: &Shared) -> Option<String> {
    jar.get(&shared.config.cookie_name)
        .map(|cookie| cookie.value().to_owned())
}

fn check_seeded(status: Status, holds_session: bool, seeded: bool) {
    assert_eq!(
        status,
        Status::NoContent,
        "set_session: the app answered the seeding request with {status}"
    );
    assert!(
        holds_session || !seeded,
        "set_session needs a client that keeps cookies: use `Client::tracked`, or \
         `request.with_session(..)` for one request"
    );
}

impl ClientExt for rocket::local::blocking::Client {
    fn set_session<T: SessionView>(&self, view: &T) {
        let seed = seed_of(view);
        let seeded = !seed.is_empty();
        let request = self.req(Method::Trace, SEED_PATH);
        request.inner().local_cache(|| Some(Seed(seed)));
        let status = request.dispatch().status();
        let holds = session_cookie(&self.cookies(), shared(self.rocket())).is_some();
        check_seeded(status, holds, seeded);
    }

    fn session<T: SessionView>(&self) -> Option<T> {
        let shared = shared(self.rocket());
        let cookie = session_cookie(&self.cookies(), shared);
        view_of(block_on(shared, record_of(shared, cookie)))
    }

    fn flashes<C: FlashCategory>(&self) -> Vec<(C, String)> {
        let shared = shared(self.rocket());
        let cookie = session_cookie(&self.cookies(), shared);
        flashes_of(block_on(shared, record_of(shared, cookie)))
    }
}

impl RequestExt for rocket::local::blocking::LocalRequest<'_> {
    fn with_session<T: SessionView>(self, view: &T) -> Self {
        let seed = seed_of(view);
        let shared = shared(self.inner().rocket());
        match block_on(shared, new_session(shared, seed)) {
            Some(value) => self.cookie((shared.config.cookie_name.clone(), value)),
            None => self,
        }
    }
}

/// The same helpers for `rocket::local::asynchronous`, as `async` methods.
///
/// ```rust
/// # rocket::async_test(async {
/// use rocket::local::asynchronous::Client;
/// use rocket_keepsake::testing::asynchronous::ClientExt;
/// use rocket_keepsake::{store::MemoryStore, Keepsake, Session};
///
/// #[derive(Session, Default)]
/// struct Auth {
///     user: Option<String>,
/// }
///
/// let rocket = rocket::build().attach(Keepsake::with_store(MemoryStore::new()));
/// let client = Client::tracked(rocket).await.unwrap();
/// client.set_session(&Auth { user: Some("ada".into()) }).await;
/// let auth = client.session::<Auth>().await.unwrap();
/// assert_eq!(auth.user.as_deref(), Some("ada"));
/// # });
/// ```
pub mod asynchronous {
    use std::future::Future;

    use super::*;
    use rocket::local::asynchronous::{Client, LocalRequest};

    /// Session helpers for a [`rocket::local::asynchronous::Client`]: see
    /// [`super::ClientExt`].
    pub trait ClientExt: sealed::Sealed {
        /// Seeds the session this client's next requests carry: see
        /// [`super::ClientExt::set_session`].
        fn set_session<T: SessionView + Sync>(&self, view: &T) -> impl Future<Output = ()> + Send;

        /// The view `T` of the session this client now holds, if any.
        fn session<T: SessionView>(&self) -> impl Future<Output = Option<T>> + Send;

        /// The pending flash messages of categories `C`, without taking them.
        fn flashes<C: FlashCategory>(&self) -> impl Future<Output = Vec<(C, String)>> + Send;
    }

    /// Session helpers for a [`rocket::local::asynchronous::LocalRequest`]: see
    /// [`super::RequestExt`].
    pub trait RequestExt: sealed::Sealed + Sized {
        /// Sends this request with a new session holding `view`'s fields.
        fn with_session<T: SessionView + Sync>(self, view: &T)
            -> impl Future<Output = Self> + Send;
    }

    impl ClientExt for Client {
        async fn set_session<T: SessionView + Sync>(&self, view: &T) {
            let seed = seed_of(view);
            let seeded = !seed.is_empty();
            let request = self.req(Method::Trace, SEED_PATH);
            request.inner().local_cache(|| Some(Seed(seed)));
            let status = request.dispatch().await.status();
            let holds = session_cookie(&self.cookies(), shared(self.rocket())).is_some();
            check_seeded(status, holds, seeded);
        }

        async fn session<T: SessionView>(&self) -> Option<T> {
            let shared = shared(self.rocket());
            let cookie = session_cookie(&self.cookies(), shared);
            view_of(record_of(shared, cookie).await)
        }

        async fn flashes<C: FlashCategory>(&self) -> Vec<(C, String)> {
            let shared = shared(self.rocket());
            let cookie = session_cookie(&self.cookies(), shared);
            flashes_of(record_of(shared, cookie).await)
        }
    }

    impl RequestExt for LocalRequest<'_> {
        async fn with_session<T: SessionView + Sync>(self, view: &T) -> Self {
            let seed = seed_of(view);
            let shared = shared(self.inner().rocket());
            match new_session(shared, seed).await {
                Some(value) => self.cookie((shared.config.cookie_name.clone(), value)),
                None => self,
            }
        }
    }
}
