//! Load over real HTTP, faults under load, and memory under floods, on every store.
//!
//! ```sh
//! cargo run --release -p keepsake-examples --bin load            # the figures in BENCHMARKS.md
//! cargo run -p keepsake-examples --bin load -- --quick           # what CI runs
//! cargo run --release -p keepsake-examples --bin load -- --only redis,postgres --skip faults
//! ```
//!
//! It starts the app (`load serve`, this same binary) on a free loopback port in a
//! process of its own, drives it with keep-alive HTTP/1.1 clients that keep cookies
//! as a browser does, prints Markdown tables, and exits non-zero if anything it
//! asserts failed: a lost or phantom write, a status other than 200 (or 503 while a
//! store is down), a transport error, a record left behind, a store that kept growing.
//! The machine's services are the ones CI makes sure of (`REDIS_URL`, `MEMCACHED_URL`,
//! `POSTGRES_URL`, `MYSQL_URL` override them); the fault runs start private
//! `redis-server` and PostgreSQL servers and kill those, never the machine's. Every
//! record a run makes is removed after it.

mod app;
mod client;
mod run;
mod stores;

use std::process::ExitCode;

use stores::Kind;

/// How much load each part sends.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Concurrent clients of the throughput run, each with its own session.
    pub clients: usize,
    /// Requests per client to the session route (and as many to the session-less one).
    pub requests: usize,
    /// Sessions that each take 20 concurrent one-key writes.
    pub merge_rounds: usize,
    /// How long each fault run lasts, in seconds (the store is down for a third).
    pub fault_secs: u64,
    /// Sessions made in `MemoryStore` before they all expire.
    pub sessions: usize,
    /// Anonymous flashing requests of a flood on `MemoryStore`, and on the others.
    pub flood: (usize, usize),
    /// How long the signed-cookie app runs while its memory is sampled, in seconds.
    pub rss_secs: u64,
    /// Logins (argon2 hashes) the main example app takes while its memory is sampled.
    pub logins: usize,
}

impl Scale {
    const FULL: Scale = Scale {
        clients: 50,
        requests: 200,
        merge_rounds: 10,
        fault_secs: 12,
        sessions: 100_000,
        flood: (220_000, 30_000),
        rss_secs: 60,
        logins: 400,
    };

    const QUICK: Scale = Scale {
        clients: 20,
        requests: 50,
        merge_rounds: 3,
        fault_secs: 6,
        sessions: 20_000,
        flood: (20_000, 3_000),
        rss_secs: 5,
        logins: 50,
    };
}

/// The parts a run can skip with `--skip`.
const PARTS: [&str; 4] = ["throughput", "faults", "memory", "flood"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        return serve();
    }
    let options = match Options::parse(&args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("load: {e}\nusage: load [--quick] [--only store,..] [--skip part,..] (parts: {PARTS:?})");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let failures = runtime.block_on(run::all(&options));
    if failures.is_empty() {
        println!("\nEverything asserted held.");
        ExitCode::SUCCESS
    } else {
        eprintln!("\n{} failure(s):", failures.len());
        for failure in &failures {
            eprintln!("- {failure}");
        }
        ExitCode::FAILURE
    }
}

/// `load serve`: the app, until it is killed.
fn serve() -> ExitCode {
    let rocket = match app::rocket() {
        Ok(rocket) => rocket,
        Err(e) => {
            eprintln!("load serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rocket::execute(rocket.launch()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load serve: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the command line asked for.
pub struct Options {
    pub scale: Scale,
    pub stores: Vec<Kind>,
    pub skip: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options {
            scale: Scale::FULL,
            stores: Kind::ALL.to_vec(),
            skip: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--quick" => options.scale = Scale::QUICK,
                "--only" => {
                    options.stores = value()?
                        .split(',')
                        .map(str::parse)
                        .collect::<Result<_, _>>()?
                }
                "--skip" => {
                    for part in value()?.split(',') {
                        if !PARTS.contains(&part) {
                            return Err(format!("`{part}` is not a part"));
                        }
                        options.skip.push(part.to_owned());
                    }
                }
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        Ok(options)
    }

    pub fn runs(&self, part: &str) -> bool {
        !self.skip.iter().any(|p| p == part)
    }
}
