//! The register / log in / dashboard / log out flow from Flask tutorials, with typed
//! sessions and typed flash messages, on the signed-cookie default.
//!
//! Run it with `cargo run -p keepsake-examples` and open <http://localhost:8000>.
//! The library's `store` key moves the sessions server-side with no handler change:
//! `ROCKET_KEEPSAKE_STORE=redis://127.0.0.1:6379`, `=postgres://postgres@127.0.0.1/test`,
//! `=mysql://root@127.0.0.1/test`, `=sqlite://sessions.db`, `=file:sessions`,
//! `=memcache://127.0.0.1:11211` or `=memory`. With `ROCKET_KEEPSAKE_FLASK_SESSION=true`
//! and a `redis://` store, the records are Flask-Session's, shared with
//! `examples/flask-session/app.py`.
//! Users live in memory, with argon2 password hashes; the session holds only the
//! user name. Every form posts, flashes, and redirects (Post/Redirect/Get).
//!
//! Served over plain http on a host other than localhost (a LAN address, a
//! container port), browsers drop the `Secure` session cookie: set
//! `ROCKET_KEEPSAKE_SECURE=false` for such development, or serve over HTTPS.

mod users;

use std::time::{Duration, SystemTime};

use rocket::fairing::AdHoc;
use rocket::form::{Form, FromForm};
use rocket::response::Redirect;
use rocket::{get, launch, post, routes, uri, State};
use rocket_dyn_templates::{context, Template};
use rocket_keepsake::{
    flash, flash_msg, Config, Flash, Flashes, Keepsake, Session, SessionAdmin, SessionInfo,
};

use users::{Refused, Users};

/// What this app keeps in the session.
#[derive(Session, Default)]
struct Auth {
    /// A change of user (a login) re-issues the session id, against fixation; on a
    /// server-side store, the user's sessions are indexed by it ("your devices").
    #[session(rotate, index)]
    user: Option<String>,
    visits: u32,
}

/// Flash categories; the base template renders each as `class="flash flash-<category>"`.
#[flash]
enum Notice {
    Success,
    Info,
    Warning,
    #[flash(category = "danger")]
    Error,
}

/// The fields of the login and registration forms.
#[derive(FromForm)]
struct Credentials {
    username: String,
    password: String,
    remember: bool,
}

type Redirected = Flash<Redirect, Notice>;

/// To the login page, with a message.
fn to_login(category: Notice, message: impl Into<String>) -> Redirected {
    Flash::new(
        Redirect::to(uri!(login_page(username = _))),
        category,
        message,
    )
}

#[get("/")]
fn index() -> Redirect {
    Redirect::to(uri!(dashboard))
}

/// How long "remember me" keeps a session: the configured `max_age`.
struct RememberFor(Duration);

impl RememberFor {
    /// The duration in words, e.g. "31 days" or "12 hours".
    fn describe(&self) -> String {
        let secs = self.0.as_secs();
        let (n, unit) = match secs {
            s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
            s if s >= 3_600 && s % 3_600 == 0 => (s / 3_600, "hour"),
            s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
            s => (s, "second"),
        };
        format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
    }
}

#[get("/register")]
fn register_page(auth: Session<'_, Auth>, notices: Flashes<'_, Notice>) -> Template {
    Template::render("register", context! { flashes: &notices, user: &auth.user })
}

#[post("/register", data = "<form>")]
async fn register(form: Form<Credentials>, users: &State<Users>) -> Redirected {
    let (name, password) = (form.username.trim().to_owned(), form.password.clone());
    match users.inner().clone().register(name, password).await {
        Ok(()) => to_login(
            Notice::Success,
            format!("Registered {}; you can log in now.", form.username.trim()),
        ),
        Err(refused) => Flash::new(
            Redirect::to(uri!(register_page)),
            Notice::Error,
            refused.to_string(),
        ),
    }
}

/// The login form; after a failed attempt, `username` fills the name in again.
#[get("/login?<username>")]
fn login_page(
    username: Option<&str>,
    auth: Session<'_, Auth>,
    notices: Flashes<'_, Notice>,
    remember: &State<RememberFor>,
) -> Template {
    let context = context! {
        flashes: &notices,
        user: &auth.user,
        username: username.unwrap_or_default(),
        remember_for: remember.describe(),
    };
    Template::render("login", context)
}

#[post("/login", data = "<form>")]
async fn login(
    form: Form<Credentials>,
    users: &State<Users>,
    mut auth: Session<'_, Auth>,
    mut notices: Flashes<'_, Notice>,
) -> Redirect {
    let username = form.username.trim().to_owned();
    let verified = users
        .inner()
        .clone()
        .verify(username.clone(), form.password.clone())
        .await;
    if let Err(refused) = verified {
        notices.push(Notice::Error, refused.to_string());
        // A name too long to be one is not worth sending back.
        let again = (refused != Refused::LongName).then_some(username.as_str());
        return Redirect::to(uri!(login_page(username = again)));
    }
    let username = username.as_str();
    auth.user = Some(username.to_owned());
    auth.visits = 0; // `user` is `rotate`: this response carries a new session id
    auth.set_permanent(form.remember);
    flash_msg!(notices, Notice::Success, "Welcome back, {username}!");
    Redirect::to(uri!(dashboard))
}

#[get("/dashboard")]
#[allow(clippy::result_large_err)] // a responder, returned once per request: boxing buys nothing
fn dashboard(
    mut auth: Session<'_, Auth>,
    notices: Flashes<'_, Notice>,
    remember: &State<RememberFor>,
    devices: &State<Devices>,
) -> Result<Template, Redirected> {
    let Some(user) = auth.user.clone() else {
        return Err(to_login(
            Notice::Warning,
            "Please log in to see your dashboard.",
        ));
    };
    auth.visits = auth.visits.saturating_add(1);
    let context = context! {
        flashes: &notices,
        user,
        visits: auth.visits,
        permanent: auth.is_permanent(),
        remember_for: remember.describe(),
        devices: devices.0,
    };
    Ok(Template::render("dashboard", context))
}

/// Whether sessions live in a server-side store, which can list a user's sessions
/// ("your devices"): the signed cookie cannot.
struct Devices(bool);

/// One row of the "your devices" page.
#[derive(serde::Serialize)]
struct Device {
    tag: String,
    created: String,
    last_seen: String,
    current: bool,
}

impl Device {
    fn of(session: &SessionInfo, now: SystemTime) -> Device {
        let ago = |time: SystemTime| {
            let secs = now.duration_since(time).unwrap_or_default().as_secs();
            match secs {
                0..=59 => "just now".to_owned(),
                60..=3599 => format!("{} min ago", secs / 60),
                3600..=86_399 => format!("{} h ago", secs / 3600),
                _ => format!("{} days ago", secs / 86_400),
            }
        };
        Device {
            tag: session.tag.clone(),
            created: ago(session.created),
            last_seen: ago(session.last_seen),
            current: session.current,
        }
    }
}

/// "Where you're signed in": each of the user's sessions, with a button to end it.
#[get("/devices")]
#[allow(clippy::result_large_err)] // as `dashboard`
async fn devices_page(
    auth: Session<'_, Auth>,
    admin: SessionAdmin<'_>,
    notices: Flashes<'_, Notice>,
) -> Result<Template, Redirected> {
    let Some(user) = auth.user.clone() else {
        return Err(to_login(Notice::Warning, "Please log in first."));
    };
    let (devices, error) = match admin.sessions::<Auth, str>(&user).await {
        Ok(sessions) => {
            let now = SystemTime::now();
            (sessions.iter().map(|s| Device::of(s, now)).collect(), None)
        }
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let context = context! { flashes: &notices, user, devices, error };
    Ok(Template::render("devices", context))
}

/// The "sign out" button of one device.
#[derive(FromForm)]
struct EndDevice {
    tag: String,
}

/// Ends one of the user's sessions, found by its tag: only a tag listed for this user
/// is accepted.
#[post("/devices/end", data = "<form>")]
async fn end_device(
    form: Form<EndDevice>,
    auth: Session<'_, Auth>,
    admin: SessionAdmin<'_>,
) -> Redirected {
    let back = Redirect::to(uri!(devices_page));
    let Some(user) = auth.user.as_deref() else {
        return Flash::new(back, Notice::Warning, "Please log in first.");
    };
    let listed = admin.sessions::<Auth, str>(user).await;
    let owned = listed.is_ok_and(|sessions| sessions.iter().any(|s| s.tag == form.tag));
    if !owned {
        return Flash::new(back, Notice::Warning, "That device is already signed out.");
    }
    match admin.revoke(&form.tag).await {
        Ok(true) => Flash::new(back, Notice::Success, "Signed out that device."),
        Ok(false) => Flash::new(back, Notice::Info, "That device was already signed out."),
        Err(e) => Flash::new(back, Notice::Error, format!("Could not sign it out: {e}")),
    }
}

#[post("/logout")]
fn logout(mut auth: Session<'_, Auth>) -> Redirected {
    auth.clear();
    to_login(Notice::Info, "You have been logged out.")
}

#[launch]
fn rocket() -> _ {
    app_on(rocket::Config::figment())
}

/// The app configured by `figment`; sessions live where `keepsake.store` says.
fn app_on(figment: rocket::figment::Figment) -> rocket::Rocket<rocket::Build> {
    // Templates are found next to this crate, wherever `cargo run` is started from.
    let figment = figment.join((
        "template_dir",
        concat!(env!("CARGO_MANIFEST_DIR"), "/templates"),
    ));
    rocket::custom(figment)
        .attach(Keepsake::fairing())
        .attach(Template::fairing())
        .attach(AdHoc::try_on_ignite(
            "remember-me and devices",
            |rocket| async {
                // The same `max_age` the session fairing reads; it reports a bad value.
                let Ok(config) = Config::from_figment(rocket.figment()) else {
                    return Err(rocket);
                };
                // Flask-Session keeps no index of sessions to list them by.
                let server_side = config.store.is_some() && !config.flask_session;
                let rocket = rocket
                    .manage(RememberFor(config.max_age))
                    .manage(Devices(server_side));
                // `SessionAdmin` needs a server-side store: on the cookie, the routes
                // that use it would stop the launch.
                Ok(match server_side {
                    true => rocket.mount("/", routes![devices_page, end_device]),
                    false => rocket,
                })
            },
        ))
        .manage(Users::default())
        .mount(
            "/",
            routes![
                index,
                register_page,
                register,
                login_page,
                login,
                dashboard,
                logout
            ],
        )
}

#[cfg(test)]
mod tests;
