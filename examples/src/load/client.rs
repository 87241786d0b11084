//! A keep-alive HTTP/1.1 client with a cookie jar: one simulated browser.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, COOKIE, HOST, SET_COOKIE};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long one request may take before it counts as a failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What one request got back.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: String,
    pub took: Duration,
}

/// One browser: its own connection (reopened when the server closes it) and cookies.
pub struct Client {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
    jar: BTreeMap<String, String>,
    /// Whether `Set-Cookie` is ignored, as by a flood's throwaway clients.
    forgetful: bool,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            sender: None,
            jar: BTreeMap::new(),
            forgetful: false,
        }
    }

    /// A client that never keeps a cookie: every request is a new visitor.
    pub fn forgetful(addr: SocketAddr) -> Client {
        Client {
            forgetful: true,
            ..Client::new(addr)
        }
    }

    /// A client holding the same cookies as this one, on its own connection.
    pub fn sibling(&self) -> Client {
        Client {
            jar: self.jar.clone(),
            ..Client::new(self.addr)
        }
    }

    /// The cookies held, as a `Cookie` header value.
    pub fn cookies(&self) -> String {
        let pairs: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.join("; ")
    }

    /// Replaces the cookies held with `cookies` (a `Cookie` header value).
    pub fn set_cookies(&mut self, cookies: &str) {
        self.jar = cookies
            .split("; ")
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    }

    /// `GET path`, sending and keeping cookies as a browser does. An error is a
    /// transport failure (connection refused or reset, timeout), never a status.
    pub async fn get(&mut self, path: &str) -> Result<Reply, String> {
        self.request(Method::GET, path, None).await
    }

    /// `POST path` of an HTML form's fields (`a=1&b=2`, already encoded).
    pub async fn post_form(&mut self, path: &str, form: &str) -> Result<Reply, String> {
        self.request(Method::POST, path, Some(form.to_owned()))
            .await
    }

    async fn request(
        &mut self,
        method: Method,
        path: &str,
        form: Option<String>,
    ) -> Result<Reply, String> {
        let start = Instant::now();
        let sent = self.send(method.clone(), path, form);
        let reply = tokio::time::timeout(REQUEST_TIMEOUT, sent)
            .await
            .map_err(|_| format!("{method} {path}: no answer in {REQUEST_TIMEOUT:?}"))?;
        if reply.is_err() {
            self.sender = None;
        }
        let (status, body) = reply?;
        Ok(Reply {
            status,
            body,
            took: start.elapsed(),
        })
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: Option<String>,
    ) -> Result<(StatusCode, String), String> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, "127.0.0.1");
        if !self.jar.is_empty() {
            request = request.header(COOKIE, self.cookies());
        }
        if form.is_some() {
            request = request.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let body = Full::new(Bytes::from(form.unwrap_or_default()));
        let request = request.body(body).map_err(|e| e.to_string())?;
        let sender = match &mut self.sender {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.sender.insert(connect(self.addr).await?),
        };
        sender.ready().await.map_err(|e| format!("{path}: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let status = response.status();
        if !self.forgetful {
            for value in response.headers().get_all(SET_COOKIE) {
                self.keep(value.to_str().unwrap_or_default());
            }
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{path}: {e}"))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// Keeps (or, for an expired removal cookie, drops) one `Set-Cookie`.
    fn keep(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';').map(str::trim);
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            return;
        };
        let removed = parts.any(|a| {
            a.eq_ignore_ascii_case("Max-Age=0") || a.to_ascii_lowercase().contains("1970")
        });
        if removed || value.is_empty() {
            self.jar.remove(name);
        } else {
            self.jar.insert(name.to_owned(), value.to_owned());
        }
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake {addr}: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}
