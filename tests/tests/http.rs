//! Bad cookies over real HTTP: the test app on a loopback port, sent what browsers and
//! attackers send (every single-byte change of a real cookie, truncations, empty,
//! 10 KB and 100 KB values, control bytes, several `session=` cookies, repeated
//! `Cookie` headers). Each gets a fresh session or a clean 4xx, never a 500, and the
//! server stays up, on the signed cookie and on a server-side store.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::*;
use rocket::figment::value::Value;
use rocket_keepsake::store::MemoryStore;
use rocket_keepsake::Keepsake;

/// Serves the test app on a free loopback port; the server stops with the runtime.
async fn serve(fairing: Keepsake) -> u16 {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let figment = figment(SECRET, &[("secure", Value::from(false))])
        .merge(("port", port))
        .merge(("address", "127.0.0.1"))
        .merge(("log_level", "off"));
    let rocket = rocket::custom(figment).attach(fairing).mount("/", routes());
    rocket::tokio::spawn(rocket.launch());
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return port;
        }
        rocket::tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the app did not start on port {port}");
}

/// What a server answered: its status (0 when it closed without answering), the
/// `session` cookie it set, and the body.
struct Answer {
    status: u16,
    cookie: Option<String>,
    body: String,
}

/// Sends `GET path` with the raw header lines `headers`, off the async workers.
async fn raw_get(port: u16, path: &str, headers: Vec<u8>) -> Answer {
    let path = path.to_owned();
    rocket::tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n").into_bytes();
        request.extend_from_slice(&headers);
        request.extend_from_slice(b"\r\n");
        // The server may close early on a request it refuses: that is an answer too.
        let _ = stream.write_all(&request);
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let cookie = head
            .lines()
            .filter_map(|line| line.strip_prefix("set-cookie: session="))
            .chain(
                head.lines()
                    .filter_map(|l| l.strip_prefix("Set-Cookie: session=")),
            )
            .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
            .next();
        Answer {
            status,
            cookie,
            body: body.to_owned(),
        }
    })
    .await
    .unwrap()
}

fn cookie_header(value: &[u8]) -> Vec<u8> {
    let mut header = b"Cookie: session=".to_vec();
    header.extend_from_slice(value);
    header.extend_from_slice(b"\r\n");
    header
}

/// A fresh session (200, `new=true`) or a clean refusal (4xx, or the connection
/// closed before a response for a request the server will not read).
fn assert_refused_cleanly(answer: &Answer, what: &str) {
    let fresh = answer.status == 200 && answer.body.ends_with("new=true");
    let refused = (400..500).contains(&answer.status) || answer.status == 0;
    assert!(
        fresh || refused,
        "{what}: {} {:?}",
        answer.status,
        answer.body
    );
}

async fn bad_cookies_never_500(fairing: Keepsake) {
    let port = serve(fairing).await;
    let login = raw_get(port, "/login/ada", Vec::new()).await;
    assert_eq!(login.status, 200);
    let cookie = login.cookie.expect("a session cookie");
    let read = |value: Vec<u8>| raw_get(port, "/read", cookie_header(&value));
    assert!(read(cookie.clone().into_bytes())
        .await
        .body
        .starts_with(r#"user=Some("ada")"#));

    // Every single-byte change, to another base64 character and to one that is not.
    for i in 0..cookie.len() {
        for replacement in [b'A', b'-', b'%'] {
            let mut value = cookie.clone().into_bytes();
            if value[i] == replacement {
                continue;
            }
            value[i] = replacement;
            let answer = read(value).await;
            assert_refused_cleanly(&answer, &format!("byte {i} -> {}", replacement as char));
        }
    }
    for cut in [0, 1, cookie.len() / 2, cookie.len() - 1] {
        let answer = read(cookie.as_bytes()[..cut].to_vec()).await;
        assert_refused_cleanly(&answer, &format!("truncated to {cut}"));
    }
    for size in [10 * 1024, 100 * 1024] {
        let answer = read(vec![b'A'; size]).await;
        assert_refused_cleanly(&answer, &format!("{size} bytes"));
    }
    for control in [0x01u8, 0x7f, b'\t', 0x00] {
        let mut value = cookie.clone().into_bytes();
        value.insert(value.len() / 2, control);
        let answer = read(value).await;
        assert_refused_cleanly(&answer, &format!("control byte {control:#x}"));
    }
    // Several `session=` cookies, and repeated `Cookie` headers: not a 500.
    let several = format!("Cookie: session=garbage; session={cookie}; session=\r\n");
    let answer = raw_get(port, "/read", several.into_bytes()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut repeated = cookie_header(b"garbage");
    repeated.extend(cookie_header(cookie.as_bytes()));
    let answer = raw_get(port, "/read", repeated).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    // And the server is still up, the real cookie still good.
    assert!(read(cookie.into_bytes())
        .await
        .body
        .starts_with(r#"user=Some("ada")"#));
}

#[rocket::async_test]
async fn bad_cookies_over_http_never_500_on_the_signed_cookie() {
    capture_logs();
    bad_cookies_never_500(Keepsake::fairing()).await;
}

#[rocket::async_test]
async fn bad_cookies_over_http_never_500_on_a_store() {
    capture_logs();
    bad_cookies_never_500(Keepsake::with_store(MemoryStore::new())).await;
}
