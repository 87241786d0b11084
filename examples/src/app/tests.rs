//! End-to-end tests of the whole flow, through a client that keeps cookies like a browser.

use rocket::http::{ContentType, Status};
use rocket::local::asynchronous::Client;

async fn browser() -> Client {
    Client::tracked(super::app_on(rocket::Config::figment()))
        .await
        .expect("valid rocket")
}

/// A browser on the app with sessions in the store at `url`.
async fn browser_on(url: &str) -> Client {
    let figment = rocket::Config::figment().merge(("keepsake.store", url));
    Client::tracked(super::app_on(figment))
        .await
        .expect("valid rocket")
}

/// A key prefix of a test's own in the Redis at `REDIS_URL`, whose keys are deleted
/// when it is dropped.
struct RedisScratch {
    url: String,
    prefix: String,
}

impl RedisScratch {
    fn new(name: &str) -> RedisScratch {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let prefix = format!("keepsake-example-{name}-{nanos}:");
        RedisScratch { url, prefix }
    }

    /// The app's configuration: sessions in this Redis, under this prefix.
    fn figment(&self) -> rocket::figment::Figment {
        rocket::Config::figment()
            .merge(("keepsake.store", &self.url))
            .merge(("keepsake.store_prefix", &self.prefix))
    }

    /// The keys under the prefix.
    fn keys(&self) -> Vec<String> {
        let mut con = redis::Client::open(self.url.as_str())
            .and_then(|client| client.get_connection())
            .expect("Redis answers at REDIS_URL");
        redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut con)
            .unwrap()
    }
}

impl Drop for RedisScratch {
    fn drop(&mut self) {
        let keys = self.keys();
        if keys.is_empty() {
            return;
        }
        if let Ok(mut con) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        {
            let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query(&mut con);
        }
    }
}

/// POSTs a form; returns where it redirects.
async fn post(client: &Client, path: &str, form: &str) -> String {
    let response = client
        .post(path)
        .header(ContentType::Form)
        .body(form)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther, "{path} {form}");
    response
        .headers()
        .get_one("Location")
        .expect("a redirect")
        .to_owned()
}

/// GETs a page; returns its status and HTML.
async fn page(client: &Client, path: &str) -> (Status, String) {
    let response = client.get(path).dispatch().await;
    (
        response.status(),
        response.into_string().await.unwrap_or_default(),
    )
}

/// How a rendered flash message starts (the stylesheet names the classes too).
const FLASH_ELEMENT: &str = r#"<div class="flash "#;

fn flash(class: &str, text: &str) -> String {
    format!(r#"<div class="flash flash-{class}" role="status">{text}</div>"#)
}

#[rocket::async_test]
async fn register_login_dashboard_logout() {
    the_whole_flow(browser().await).await;
}

#[rocket::async_test]
async fn register_login_dashboard_logout_on_redis() {
    let redis = RedisScratch::new("flow");
    let client = Client::tracked(super::app_on(redis.figment()))
        .await
        .expect("valid rocket");
    the_whole_flow(client).await;
}

#[rocket::async_test]
async fn register_login_dashboard_logout_on_postgres() {
    let url = std::env::var("POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    the_whole_flow(browser_on(&url).await).await;
    // The flow leaves no rows; drop the default table the store created.
    let pool = sqlx::PgPool::connect(&url)
        .await
        .expect("PostgreSQL answers");
    sqlx::query("DROP TABLE IF EXISTS keepsake_sessions")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[rocket::async_test]
async fn an_unknown_store_fails_launch() {
    let figment = rocket::Config::figment().merge(("keepsake.store", "mongodb://127.0.0.1"));
    let error = super::app_on(figment)
        .ignite()
        .await
        .expect_err("launch must fail");
    assert!(matches!(
        error.kind(),
        rocket::error::ErrorKind::FailedFairings(_)
    ));
}

async fn the_whole_flow(client: Client) {
    assert_eq!(
        post(&client, "/register", "username=ada&password=lovelace").await,
        "/login"
    );
    let (_, html) = page(&client, "/login").await;
    assert!(
        html.contains(&flash("success", "Registered ada; you can log in now.")),
        "{html}"
    );
    // read once: a reload shows it no more
    assert!(!page(&client, "/login").await.1.contains(FLASH_ELEMENT));

    assert_eq!(
        post(&client, "/login", "username=ada&password=lovelace").await,
        "/dashboard"
    );
    let (status, html) = page(&client, "/dashboard").await;
    assert_eq!(status, Status::Ok);
    assert!(html.contains("<h1>Hello, ada</h1>"), "{html}");
    assert!(
        html.contains(&flash("success", "Welcome back, ada!")),
        "{html}"
    );
    assert!(
        html.contains("1 time(s)") && !html.contains("remembered"),
        "{html}"
    );
    let (_, html) = page(&client, "/dashboard").await;
    assert!(
        html.contains("2 time(s)") && !html.contains(FLASH_ELEMENT),
        "{html}"
    );

    assert_eq!(post(&client, "/logout", "").await, "/login");
    let (_, html) = page(&client, "/login").await;
    assert!(
        html.contains(&flash("info", "You have been logged out.")),
        "{html}"
    );
    assert!(
        html.contains(r#"href="/register""#),
        "the navigation shows no user: {html}"
    );

    // logged out: the dashboard sends us back with a warning
    let response = client.get("/dashboard").dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    let (_, html) = page(&client, "/login").await;
    assert!(
        html.contains(&flash("warning", "Please log in to see your dashboard.")),
        "{html}"
    );
}

/// `user` is `#[session(rotate)]`: logging in moves the session to a new id, so an id
/// planted before the login (session fixation) is worth nothing after it.
#[rocket::async_test]
async fn logging_in_reissues_the_session_id() {
    let client = browser_on("memory").await;
    post(&client, "/register", "username=ada&password=lovelace").await;
    post(&client, "/login", "username=ada&password=wrong").await;
    let before = client
        .cookies()
        .get("session")
        .expect("a session")
        .value()
        .to_owned();
    post(&client, "/login", "username=ada&password=lovelace").await;
    let after = client
        .cookies()
        .get("session")
        .expect("a session")
        .value()
        .to_owned();
    assert_ne!(before, after);
    let (status, html) = page(&client, "/dashboard").await;
    assert!(
        status == Status::Ok && html.contains("Hello, ada"),
        "{html}"
    );
    let planted = client
        .get("/dashboard")
        .cookie(rocket::http::Cookie::new("session", before))
        .dispatch()
        .await;
    assert_eq!(
        planted.status(),
        Status::SeeOther,
        "the old id is not logged in"
    );
}

#[rocket::async_test]
async fn remember_me_makes_the_session_permanent() {
    let client = browser().await;
    post(&client, "/register", "username=grace&password=hopper1").await;
    let response = client
        .post("/login")
        .header(ContentType::Form)
        .body("username=grace&password=hopper1&remember=on")
        .dispatch()
        .await;
    let cookie = response.cookies().get("session").expect("a session cookie");
    assert!(cookie.max_age().is_some(), "{cookie}");
    assert!(page(&client, "/dashboard")
        .await
        .1
        .contains("remembered for 31 days"));
}

#[rocket::async_test]
async fn registration_mistakes_are_flashed_as_errors() {
    let client = browser().await;
    post(&client, "/register", "username=ada&password=lovelace").await;
    let cases = [
        (
            "username=&password=",
            "Please enter a username and a password.",
        ),
        (
            "username=al&password=secret1",
            "Usernames have at least 3 characters.",
        ),
        (
            "username=alan&password=short",
            "Passwords have at least 6 characters.",
        ),
        (
            "username=ada&password=another1",
            "The username ada is taken.",
        ),
    ];
    for (form, message) in cases {
        assert_eq!(post(&client, "/register", form).await, "/register");
        let (_, html) = page(&client, "/register").await;
        assert!(html.contains(&flash("danger", message)), "{form}: {html}");
    }
}

#[rocket::async_test]
async fn login_mistakes_are_flashed_as_errors() {
    let client = browser().await;
    post(&client, "/register", "username=ada&password=lovelace").await;
    page(&client, "/login").await; // read the registration message
    let cases = [
        (
            "username=&password=",
            "Please enter a username and a password.",
        ),
        (
            "username=bob&password=whatever",
            "There is no user called bob.",
        ),
        ("username=ada&password=wrong-one", "Wrong password."),
    ];
    for (form, message) in cases {
        let to = post(&client, "/login", form).await;
        assert!(to.starts_with("/login"), "{to}");
        let (_, html) = page(&client, &to).await;
        assert!(html.contains(&flash("danger", message)), "{form}: {html}");
        assert!(!html.contains("Log out"), "{form}: not logged in");
    }
}

#[rocket::async_test]
async fn the_session_never_holds_the_password() {
    let client = browser().await;
    post(&client, "/register", "username=ada&password=lovelace").await;
    let response = client
        .post("/login")
        .header(ContentType::Form)
        .body("username=ada&password=lovelace")
        .dispatch()
        .await;
    let cookie = response
        .cookies()
        .get("session")
        .expect("a session cookie")
        .value()
        .to_owned();
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cookie)
        .unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains(r#""user":"ada""#), "{text}");
    assert!(
        !text.contains("lovelace") && !text.contains("argon2"),
        "{text}"
    );
}

#[rocket::async_test]
async fn a_failed_login_keeps_the_username_in_the_form() {
    let client = browser().await;
    post(&client, "/register", "username=ada&password=lovelace").await;
    let to = post(&client, "/login", "username=ada&password=wrong-one").await;
    assert_eq!(to, "/login?username=ada");
    let (_, html) = page(&client, &to).await;
    assert!(html.contains(r#"value="ada""#), "{html}");
    let to = post(&client, "/login", "username=%3Cb%3E&password=whatever").await;
    let (_, html) = page(&client, &to).await;
    assert!(html.contains(r#"value="&lt;b&gt;""#), "escaped: {html}");
}

#[rocket::async_test]
async fn long_usernames_are_refused_and_never_500() {
    let client = browser().await;
    let long = "n".repeat(3500);
    let form = format!("username={long}&password=lovelace");
    assert_eq!(post(&client, "/register", &form).await, "/register");
    let (status, html) = page(&client, "/register").await;
    assert_eq!(status, Status::Ok);
    assert!(html.contains(&flash("danger", "Usernames have at most 64 characters.")));
    let to = post(&client, "/login", &form).await;
    assert_eq!(to, "/login", "a name that long is not sent back");
    assert_eq!(page(&client, &to).await.0, Status::Ok);
}

#[rocket::async_test]
async fn remember_me_names_the_configured_lifetime() {
    let figment = rocket::Config::figment().merge(("keepsake.max_age", "12h"));
    let client = Client::tracked(super::app_on(figment))
        .await
        .expect("valid rocket");
    assert!(page(&client, "/login")
        .await
        .1
        .contains("Remember me for 12 hours"));
    post(&client, "/register", "username=grace&password=hopper1").await;
    post(
        &client,
        "/login",
        "username=grace&password=hopper1&remember=on",
    )
    .await;
    let (_, html) = page(&client, "/dashboard").await;
    assert!(html.contains("remembered for 12 hours"), "{html}");
}

#[test]
fn lifetimes_read_as_words() {
    use std::time::Duration;
    let words = |secs| super::RememberFor(Duration::from_secs(secs)).describe();
    assert_eq!(words(31 * 86_400), "31 days");
    assert_eq!(words(86_400), "1 day");
    assert_eq!(words(7_200), "2 hours");
    assert_eq!(words(90), "90 seconds");
    assert_eq!(words(1_800), "30 minutes");
}

/// The `session` cookie a response sets, if any.
fn session_cookie(response: &rocket::local::asynchronous::LocalResponse<'_>) -> Option<String> {
    response
        .cookies()
        .get("session")
        .map(|cookie| cookie.value().to_owned())
}

/// "Your devices" on Redis: two browsers signed in as one user; one lists both and
/// signs the other out.
#[rocket::async_test]
async fn your_devices_lists_both_browsers_and_signs_one_out() {
    use rocket::http::Cookie;

    let redis = RedisScratch::new("devices");
    let client = Client::untracked(super::app_on(redis.figment()))
        .await
        .expect("valid rocket");
    let form = "username=grace&password=hopper1";
    let send = |path: &'static str, cookie: Option<&str>, body: Option<String>| {
        let mut request = match &body {
            Some(body) => client
                .post(path)
                .header(ContentType::Form)
                .body(body.clone()),
            None => client.get(path),
        };
        if let Some(cookie) = cookie {
            request = request.cookie(Cookie::new("session", cookie.to_owned()));
        }
        request.dispatch()
    };
    send("/register", None, Some(form.into())).await;
    let laptop = session_cookie(&send("/login", None, Some(form.into())).await).expect("in");
    let phone = session_cookie(&send("/login", None, Some(form.into())).await).expect("in");

    let html = send("/dashboard", Some(&laptop), None)
        .await
        .into_string()
        .await
        .unwrap();
    assert!(
        html.contains(r#"<a href="/devices">Your devices</a>"#),
        "{html}"
    );
    let html = send("/devices", Some(&laptop), None)
        .await
        .into_string()
        .await
        .unwrap();
    assert_eq!(html.matches(r#"<li class="device">"#).count(), 2, "{html}");
    assert_eq!(html.matches("(this device)").count(), 1, "{html}");
    let tag = html
        .split(r#"name="tag" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a sign-out button for the phone")
        .to_owned();

    // A tag that is not one of the user's sessions is refused.
    let forged = send("/devices/end", Some(&laptop), Some("tag=AAAA".into())).await;
    assert_eq!(forged.headers().get_one("Location"), Some("/devices"));
    let html = send("/devices", Some(&laptop), None)
        .await
        .into_string()
        .await
        .unwrap();
    assert!(html.contains("already signed out"), "{html}");
    assert_eq!(html.matches(r#"<li class="device">"#).count(), 2, "{html}");

    let ended = send("/devices/end", Some(&laptop), Some(format!("tag={tag}"))).await;
    assert_eq!(ended.headers().get_one("Location"), Some("/devices"));
    let html = send("/dashboard", Some(&phone), None).await;
    assert_eq!(html.status(), Status::SeeOther, "the phone is signed out");
    let html = send("/devices", Some(&laptop), None)
        .await
        .into_string()
        .await
        .unwrap();
    assert!(
        html.contains(&flash("success", "Signed out that device.")),
        "{html}"
    );
    assert_eq!(html.matches(r#"<li class="device">"#).count(), 1, "{html}");
    let again = send("/devices/end", Some(&laptop), Some(format!("tag={tag}"))).await;
    assert_eq!(again.status(), Status::SeeOther);

    // Log out: the user is indexed no more. (What is left, visitors' sessions holding
    // a flash, the logout's and the phone's, goes with the scratch prefix.)
    send("/logout", Some(&laptop), Some(String::new())).await;
    let keys = redis.keys();
    let index: Vec<&String> = keys.iter().filter(|k| k.contains(":index:")).collect();
    assert!(index.is_empty(), "{index:?}");
}

#[rocket::async_test]
async fn on_the_cookie_there_is_no_devices_page() {
    let client = browser().await;
    assert_eq!(page(&client, "/devices").await.0, Status::NotFound);
    post(&client, "/register", "username=ada&password=lovelace").await;
    post(&client, "/login", "username=ada&password=lovelace").await;
    let (_, html) = page(&client, "/dashboard").await;
    assert!(!html.contains("Your devices"), "{html}");
}
