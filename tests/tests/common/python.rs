//! A real Python web app (Flask, Flask-Session) for the interop tests: started once
//! per test process, talked to over HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// A running Python app: its port, and the pipe whose closing (when this test process
/// exits) makes it exit.
pub struct PythonApp {
    port: u16,
    _child: Child,
    _stdin: ChildStdin,
}

/// What the app answered.
pub struct Reply {
    pub body: String,
    /// The `session` cookie it set, if any (`Some("")` when it deleted it).
    pub cookie: Option<String>,
}

impl PythonApp {
    /// Starts `tests/<script>` with `env`; it prints its port on its first line.
    pub fn start(script: &str, env: &[(&str, &str)]) -> PythonApp {
        let script = format!("{}/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("python3")
            .arg(&script)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs (.ci/run installs the Python packages)");
        let stdin = child.stdin.take().expect("a piped stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("a piped stdout"))
            .read_line(&mut line)
            .expect("the app prints its port");
        let port = line.trim().parse().unwrap_or_else(|_| {
            panic!("{script} did not start: {line:?} (are its packages installed?)")
        });
        PythonApp {
            port,
            _child: child,
            _stdin: stdin,
        }
    }

    /// GETs `path` over HTTP, sending `cookie` as `session`; the answer must be a 200.
    pub fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let (status, reply) = self.get_any(path, cookie);
        assert!(status.starts_with("HTTP/1.1 200"), "{path}: {status}");
        reply
    }

    /// GETs `path`; its status line and what it answered.
    pub fn get_any(&self, path: &str, cookie: Option<&str>) -> (String, Reply) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("the app answers");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let cookie = cookie.map_or(String::new(), |c| format!("Cookie: session={c}\r\n"));
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{cookie}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        let cookie = head.lines().find_map(|line| {
            let (name, value) = line.split_once(": ")?;
            let value = value.strip_prefix("session=")?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| value.split(';').next().unwrap_or("").to_owned())
        });
        let status = head.lines().next().unwrap_or_default().to_owned();
        let body = body.to_owned();
        (status, Reply { body, cookie })
    }
}
