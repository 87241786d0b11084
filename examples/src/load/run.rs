//! The runs: throughput with exact counters, per-key merge, faults, memory, floods.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::client::{Client, Reply};
use crate::stores::{self, Kind, Private, PrivatePostgres, PrivateRedis, Target};
use crate::{Options, Scale};

/// A fixed key for the app: the release profile needs one.
const SECRET_KEY: &str = "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=";

/// Runs every part asked for, printing its table; returns what failed.
pub async fn all(options: &Options) -> Vec<String> {
    let mut failures = Vec::new();
    let scale = options.scale;
    println!(
        "Load over real HTTP, {} clients × {} requests; build: {}",
        scale.clients,
        scale.requests,
        profile()
    );
    if options.runs("throughput") {
        println!("\n## Throughput, exact counters, per-key merge\n");
        println!(
            "| store | route | req/s | p50 | p99 | worst | not 200 | merge (20 keys × {}) |",
            scale.merge_rounds
        );
        println!("|---|---|---:|---:|---:|---:|---:|---|");
        for &kind in &options.stores {
            if let Err(e) = throughput(kind, scale).await {
                failures.push(format!("throughput on {kind}: {e}"));
            }
        }
    }
    if options.runs("faults") {
        println!("\n## Faults under load: the store killed and restarted\n");
        println!("| store | requests | 200 | 503 | other | down for | first 200 after restart | every client back |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for kind in [Kind::Redis, Kind::Postgres] {
            if !options.stores.contains(&kind) {
                continue;
            }
            let private = match kind {
                Kind::Redis => {
                    PrivateRedis::start().map(|r| Box::new(r) as Box<dyn Private + Send>)
                }
                _ => PrivatePostgres::start().map(|p| Box::new(p) as Box<dyn Private + Send>),
            };
            if let Err(e) = async { fault(kind, private?, scale).await }.await {
                failures.push(format!("fault on {kind}: {e}"));
            }
        }
    }
    if options.runs("memory") {
        println!("\n## Memory\n");
        if options.stores.contains(&Kind::Memory) {
            if let Err(e) = memory_expiry(scale).await {
                failures.push(format!("MemoryStore expiry: {e}"));
            }
        }
        if options.stores.contains(&Kind::Cookie) {
            if let Err(e) = cookie_rss(scale).await {
                failures.push(format!("signed-cookie RSS: {e}"));
            }
            if let Err(e) = example_logins(scale).await {
                failures.push(format!("example app logins: {e}"));
            }
        }
    }
    if options.runs("flood") {
        println!("\n## Anonymous flood (flash_only_ttl = 3s)\n");
        println!("| store | requests | req/s | records before / after flood / 5 s later | app RSS before / after flood / 5 s later | Redis used_memory |");
        println!("|---|---:|---:|---|---|---|");
        for &kind in &options.stores {
            if matches!(kind, Kind::Cookie | Kind::Memcached) {
                continue; // the cookie stores nothing; Memcached bounds itself (LRU, -m)
            }
            if let Err(e) = flood(kind, scale).await {
                failures.push(format!("flood on {kind}: {e}"));
            }
        }
    }
    failures
}

fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug (figures are not representative)"
    } else {
        "release"
    }
}

/// The app, in a process of its own, on a free port.
struct App {
    child: Child,
    addr: SocketAddr,
}

impl App {
    fn start(target: &Target, env: &[(&str, &str)]) -> Result<App, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut command = Command::new(exe);
        command
            .arg("serve")
            .envs(target.env())
            .envs(env.iter().copied());
        App::spawn(command)
    }

    /// The main example app (`--bin app`), built beside this program, on the signed
    /// cookie.
    fn example() -> Result<App, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let exe = exe.with_file_name("app");
        if !exe.exists() {
            return Err(format!(
                "{} is missing: build it beside this program \
                 (`cargo build -p keepsake-examples --bin app --bin load`, same profile)",
                exe.display()
            ));
        }
        App::spawn(Command::new(exe))
    }

    /// Runs `command` on a free port and waits until it listens.
    fn spawn(mut command: Command) -> Result<App, String> {
        let port = stores::free_port();
        let child = command
            .env("ROCKET_ADDRESS", "127.0.0.1")
            .env("ROCKET_PORT", port.to_string())
            .env("ROCKET_LOG_LEVEL", "critical")
            .env("ROCKET_SECRET_KEY", SECRET_KEY)
            .env("ROCKET_CLI_COLORS", "false")
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting the app: {e}"))?;
        let mut app = App {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(app.addr).is_err() {
            app.alive()?;
            if start.elapsed() > Duration::from_secs(60) {
                return Err(format!(
                    "the app does not listen on {} after 60 s",
                    app.addr
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(app)
    }

    /// An error if the app has exited (a panic that took it down, say).
    fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("the app exited: {status}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The app's resident memory, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()));
        status
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many records the store holds: `MemoryStore` says through the app's `/records`.
async fn records(target: &Target, app: &App) -> Result<Option<u64>, String> {
    if target.kind != Kind::Memory {
        return target.records().await;
    }
    let reply = Client::new(app.addr).get("/records").await?;
    reply
        .body
        .parse()
        .map(Some)
        .map_err(|_| format!("/records said {:?}", reply.body))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Latencies, statuses and transport errors of many requests.
#[derive(Debug, Default)]
struct Stats {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, usize>,
    errors: Vec<String>,
    wall: Duration,
}

impl Stats {
    fn add(&mut self, reply: &Result<Reply, String>) {
        match reply {
            Ok(reply) => {
                self.latencies.push(reply.took);
                *self.statuses.entry(reply.status.as_u16()).or_default() += 1;
            }
            Err(e) => self.errors.push(e.clone()),
        }
    }

    fn merge(&mut self, other: Stats) {
        self.latencies.extend(other.latencies);
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.errors.extend(other.errors);
        self.wall += other.wall;
    }

    fn count(&self, status: u16) -> usize {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    fn not_ok(&self) -> usize {
        self.latencies.len() - self.count(200) + self.errors.len()
    }

    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() as f64 * p) as usize)
            .min(self.latencies.len().saturating_sub(1));
        self.latencies.get(i).copied().unwrap_or_default()
    }

    fn row(&mut self, store: Kind, route: &str, extra: &str) {
        println!(
            "| {store} | `{route}` | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {} | {extra} |",
            self.per_second(),
            self.percentile(0.50).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3,
            self.percentile(1.0).as_secs_f64() * 1e3,
            self.not_ok(),
        );
    }

    /// An error naming what was not a 200.
    fn all_ok(&self, what: &str) -> Result<(), String> {
        if self.not_ok() == 0 {
            return Ok(());
        }
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{n}×{s}"))
            .collect();
        let errors = self
            .errors
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        Err(format!("{what}: {} ({errors})", statuses.join(", ")))
    }
}

/// Every client sends `requests` GETs of `path`, one after another, all clients at
/// once. With `counting`, each reply must be the client's previous count plus one.
async fn drive(
    clients: Vec<(Client, u64)>,
    path: &'static str,
    requests: usize,
    counting: bool,
) -> (Vec<(Client, u64)>, Stats, Vec<String>) {
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for (i, (mut client, mut count)) in clients.into_iter().enumerate() {
        tasks.spawn(async move {
            let mut stats = Stats::default();
            let mut wrong = None;
            for _ in 0..requests {
                let reply = client.get(path).await;
                stats.add(&reply);
                if let (true, Ok(reply)) = (counting, &reply) {
                    let got = reply.body.parse::<u64>().ok();
                    if reply.status == 200 && got != Some(count + 1) && wrong.is_none() {
                        wrong = Some(format!(
                            "client {i}: expected count {}, got {:?}",
                            count + 1,
                            reply.body
                        ));
                    }
                    count = got.unwrap_or(count);
                }
            }
            (i, client, count, stats, wrong)
        });
    }
    let mut done = Vec::new();
    let mut stats = Stats::default();
    let mut wrong = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (i, client, count, s, w) = joined.expect("a client task");
        done.push((i, client, count));
        stats.merge(s);
        wrong.extend(w);
    }
    stats.wall = start.elapsed();
    done.sort_by_key(|(i, ..)| *i);
    (
        done.into_iter().map(|(_, c, n)| (c, n)).collect(),
        stats,
        wrong,
    )
}

/// Clients × requests on `/count` and as many on `/plain`, interleaved in two
/// halves; every count exact; then 20 concurrent one-key writes per session; then
/// every session reset and the store left empty.
async fn throughput(kind: Kind, scale: Scale) -> Result<(), String> {
    let target = Target::machine(kind, "load");
    let result = async {
        let mut app = App::start(&target, &[])?;
        warm_up(app.addr).await?;
        let mut clients: Vec<(Client, u64)> = (0..scale.clients)
            .map(|_| (Client::new(app.addr), 0))
            .collect();
        let (mut plain, mut session) = (Stats::default(), Stats::default());
        let mut wrong = Vec::new();
        for half in [scale.requests / 2, scale.requests - scale.requests / 2] {
            let (c, s, _) = drive(clients, "/plain", half, false).await;
            plain.merge(s);
            let (c, s, w) = drive(c, "/count", half, true).await;
            session.merge(s);
            wrong.extend(w);
            clients = c;
        }
        let short: Vec<String> = clients
            .iter()
            .enumerate()
            .filter(|(_, (_, n))| *n != scale.requests as u64)
            .map(|(i, (_, n))| format!("client {i} counted {n}"))
            .collect();
        // A cookie cannot merge concurrent writes: it keeps the last.
        let merge = if kind.is_server_side() {
            Some(per_key_merge(app.addr, scale.merge_rounds).await)
        } else {
            None
        };
        let merge_cell = match &merge {
            Some(Ok(())) => "all 20 kept, every round".to_owned(),
            Some(Err(e)) => e.clone(),
            None => "n/a: a cookie keeps the last write".to_owned(),
        };
        plain.row(kind, "/plain", "");
        session.row(kind, "/count", &merge_cell);
        let (_, resets, _) = drive(clients, "/reset", 1, false).await;
        app.alive()?;
        plain.all_ok("/plain")?;
        session.all_ok("/count")?;
        resets.all_ok("/reset")?;
        if let Some(w) = wrong.first().or(short.first()) {
            return Err(format!("a lost or phantom write: {w}"));
        }
        if let Some(merge) = merge {
            merge?;
        }
        match records(&target, &app).await? {
            Some(0) | None => Ok(()),
            Some(n) => Err(format!("{n} records left after every session was reset")),
        }
    }
    .await;
    target.clean().await?;
    result
}

/// A few hundred requests first, so that connections and caches are warm.
async fn warm_up(addr: SocketAddr) -> Result<(), String> {
    let mut client = Client::new(addr);
    for path in ["/plain", "/count"].repeat(100) {
        client.get(path).await?;
    }
    client.get("/reset").await.map(drop)
}

/// Per round: one session, 20 requests at once on 20 connections each setting its
/// own key, then all 20 must be set.
async fn per_key_merge(addr: SocketAddr, rounds: usize) -> Result<(), String> {
    for round in 0..rounds {
        let mut owner = Client::new(addr);
        owner.get("/count").await?;
        let mut tasks = JoinSet::new();
        for i in 0..20 {
            let mut sibling = owner.sibling();
            tasks.spawn(async move { sibling.get(&format!("/key/{i}")).await });
        }
        while let Some(reply) = tasks.join_next().await {
            let reply = reply.map_err(|e| e.to_string())??;
            if reply.status != 200 {
                return Err(format!(
                    "round {round}: a one-key write got {}",
                    reply.status
                ));
            }
        }
        let kept = owner.get("/keys").await?;
        if kept.body != "20" {
            return Err(format!("round {round}: {} of 20 keys kept", kept.body));
        }
        owner.get("/reset").await?;
    }
    Ok(())
}

/// One request's outcome at a moment of the fault run.
struct Event {
    at: Instant,
    status: Option<u16>,
    count: Option<u64>,
}

/// Clients count for `fault_secs` while the store is killed a third of the way in
/// and restarted after another third. Asserted: only 200s and 503s, no transport
/// error, the app alive, counts that never go back and never skip more than the
/// failed requests could have written, a session reset before the crash still
/// gone after it; reported: how soon service came back.
async fn fault(
    kind: Kind,
    mut private: Box<dyn Private + Send>,
    scale: Scale,
) -> Result<(), String> {
    let target = Target::on(kind, private.url(), "fault");
    let mut app = App::start(&target, &[])?;
    warm_up(app.addr).await?;
    // A session counted to 3, then reset: its old cookie must never count on.
    let mut ended = Client::new(app.addr);
    for _ in 0..3 {
        ended.get("/count").await?;
    }
    let old_cookie = ended.cookies();
    ended.get("/reset").await?;

    let third = Duration::from_millis(scale.fault_secs * 1000 / 3);
    let start = Instant::now();
    let deadline = start + 3 * third;
    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let mut client = Client::new(app.addr);
        tasks.spawn(async move {
            let mut events = Vec::new();
            while Instant::now() < deadline {
                let reply = client.get("/count").await;
                let (status, count) = match &reply {
                    Ok(r) => (Some(r.status.as_u16()), r.body.parse().ok()),
                    Err(_) => (None, None),
                };
                events.push(Event {
                    at: Instant::now(),
                    status,
                    count,
                });
                if status != Some(200) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            client.get("/reset").await.ok();
            events
        });
    }
    tokio::time::sleep(third).await;
    let (private, killed, restarted) = tokio::task::spawn_blocking(move || {
        let killed = Instant::now();
        private.kill()?;
        std::thread::sleep(third.saturating_sub(killed.elapsed()));
        let restarting = Instant::now();
        private.start()?;
        Ok::<_, String>((private, killed, restarting))
    })
    .await
    .map_err(|e| e.to_string())??;
    let mut clients = Vec::new();
    while let Some(events) = tasks.join_next().await {
        clients.push(events.map_err(|e| e.to_string())?);
    }
    app.alive()?;

    let mut revived = Client::new(app.addr);
    revived.set_cookies(&old_cookie);
    let revived = revived.get("/count").await?;

    let events = clients.iter().flatten();
    let total = events.clone().count();
    let ok = events.clone().filter(|e| e.status == Some(200)).count();
    let unavailable = events.clone().filter(|e| e.status == Some(503)).count();
    let other = total - ok - unavailable;
    let first_back = events
        .clone()
        .filter(|e| e.status == Some(200) && e.at > restarted)
        .map(|e| e.at - restarted)
        .min();
    let all_back = clients
        .iter()
        .map(|c| {
            c.iter()
                .find(|e| e.status == Some(200) && e.at > restarted)
                .map(|e| e.at - restarted)
        })
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.into_iter().max());
    let secs =
        |d: Option<Duration>| d.map_or("never".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()));
    println!(
        "| {kind} | {total} | {ok} | {unavailable} | {other} | {:.2} s | {} | {} |",
        (restarted - killed).as_secs_f64(),
        secs(first_back),
        secs(all_back),
    );
    drop(app);
    drop(private);

    if other > 0 {
        let seen: BTreeMap<Option<u16>, usize> = clients
            .iter()
            .flatten()
            .filter(|e| !matches!(e.status, Some(200 | 503)))
            .fold(BTreeMap::new(), |mut m, e| {
                *m.entry(e.status).or_default() += 1;
                m
            });
        return Err(format!(
            "{other} replies were neither 200 nor 503 (None: no answer): {seen:?}"
        ));
    }
    if unavailable == 0 {
        return Err("no 503 while the store was down: the fault was not seen".to_owned());
    }
    if all_back.is_none() {
        return Err("some client never got a 200 after the restart".to_owned());
    }
    for (i, events) in clients.iter().enumerate() {
        let mut last = 0;
        let mut failed_since = 0;
        for event in events {
            match (event.status, event.count) {
                (Some(200), Some(count)) => {
                    if count <= last || count > last + 1 + failed_since {
                        return Err(format!(
                            "client {i}: count {count} after {last} with {failed_since} failed requests between"
                        ));
                    }
                    (last, failed_since) = (count, 0);
                }
                _ => failed_since += 1,
            }
        }
    }
    if revived.body != "1" {
        return Err(format!(
            "a session reset before the crash counted on: {}",
            revived.body
        ));
    }
    Ok(())
}

/// `MemoryStore` filled with `sessions` sessions that then all expire, four times
/// over: the sweep must remove them each time, and each fill must reuse the memory
/// of the last (glibc keeps freed memory for reuse rather than handing it back, so
/// RSS settles at a plateau instead of returning to the start; a leak would add a
/// whole fill's growth every round).
async fn memory_expiry(scale: Scale) -> Result<(), String> {
    const ROUNDS: u64 = 4;
    let target = Target::machine(Kind::Memory, "expiry");
    let idle = 8;
    let app = App::start(
        &target,
        &[("ROCKET_KEEPSAKE_IDLE_TIMEOUT", &format!("{idle}s"))],
    )?;
    warm_up(app.addr).await?;
    let start = app.rss_kib();
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let filled = anonymous(app.addr, "/count", scale.sessions).await;
        filled.all_ok("filling")?;
        let full = (app.rss_kib(), records(&target, &app).await?.unwrap_or(0));
        tokio::time::sleep(Duration::from_secs(idle + 1)).await;
        // The sweep runs on writes: a few new visitors trigger it.
        anonymous(app.addr, "/count", 600)
            .await
            .all_ok("after expiry")?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let swept = (app.rss_kib(), records(&target, &app).await?.unwrap_or(0));
        rounds.push((filled.per_second(), full, swept));
    }
    let steps: Vec<String> = rounds
        .iter()
        .map(|(_, full, swept)| {
            format!(
                "{} ({}) → {} ({})",
                mib(full.0),
                full.1,
                mib(swept.0),
                swept.1
            )
        })
        .collect();
    println!(
        "- `MemoryStore`, {} sessions made at {:.0} req/s then all expired (idle_timeout {idle}s), \
         {ROUNDS} times: app RSS {} at start; per round, full (records) → swept (records): {}.",
        scale.sessions,
        rounds[0].0,
        mib(start),
        steps.join("; "),
    );
    if let Some((_, _, swept)) = rounds.iter().find(|(_, _, swept)| swept.1 > 600) {
        return Err(format!(
            "{} records left after every session expired",
            swept.1
        ));
    }
    let first_growth = rounds[0].1 .0.saturating_sub(start);
    let peak = rounds.iter().map(|(_, full, _)| full.0).max().unwrap_or(0);
    if peak > start + 3 * first_growth {
        return Err(format!(
            "RSS grew to {} over {ROUNDS} fills of expired sessions (start {}, one fill {}): \
             the memory of expired sessions is not reused",
            mib(peak),
            mib(start),
            mib(first_growth)
        ));
    }
    Ok(())
}

/// The signed-cookie app under steady load for `rss_secs`: its memory stays flat.
async fn cookie_rss(scale: Scale) -> Result<(), String> {
    let target = Target::machine(Kind::Cookie, "rss");
    let app = App::start(&target, &[])?;
    warm_up(app.addr).await?;
    let deadline = Instant::now() + Duration::from_secs(scale.rss_secs);
    let mut tasks = JoinSet::new();
    for _ in 0..scale.clients {
        let mut client = Client::new(app.addr);
        tasks.spawn(async move {
            let mut stats = Stats::default();
            while Instant::now() < deadline {
                stats.add(&client.get("/count").await);
            }
            stats
        });
    }
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        samples.push(app.rss_kib());
    }
    let mut stats = Stats::default();
    while let Some(s) = tasks.join_next().await {
        stats.merge(s.map_err(|e| e.to_string())?);
    }
    let (first, last) = (samples[0], *samples.last().expect("a sample"));
    let peak = samples.iter().copied().max().unwrap_or(0);
    println!(
        "- Signed cookie, {} clients for {} s ({} requests): app RSS {} after 1 s, {} at the end, peak {}.",
        scale.clients,
        scale.rss_secs,
        stats.latencies.len(),
        mib(first),
        mib(last),
        mib(peak),
    );
    stats.all_ok("/count")?;
    if last > first + first / 5 {
        return Err(format!("RSS grew from {} to {}", mib(first), mib(last)));
    }
    Ok(())
}

/// The most the example app may hold after its logins: its start, the argon2 working
/// memory it keeps (2 × 19 MiB), and room for the allocator.
const LOGINS_RSS_LIMIT_KIB: u64 = 120 * 1024;

/// The main example app through `scale.logins` logins (argon2, 19 MiB each) from four
/// clients: the hashing memory is reused, so its memory stays bounded.
async fn example_logins(scale: Scale) -> Result<(), String> {
    const FORM: &str = "username=loaduser&password=load-password";
    let app = App::example()?;
    let start = app.rss_kib();
    let mut first = Client::new(app.addr);
    let registered = first.post_form("/register", FORM).await?;
    if !registered.status.is_redirection() {
        return Err(format!("POST /register: {}", registered.status));
    }
    let began = Instant::now();
    let mut tasks = JoinSet::new();
    for c in 0..4 {
        let share = scale.logins / 4 + usize::from(c < scale.logins % 4);
        tasks.spawn(async move {
            let mut client = Client::new(app.addr);
            let mut stats = Stats::default();
            for _ in 0..share {
                stats.add(&client.post_form("/login", FORM).await);
            }
            stats
        });
    }
    let mut peak = start;
    while !tasks.is_empty() {
        tokio::select! {
            Some(done) = tasks.join_next() => {
                let stats = done.map_err(|e| e.to_string())?;
                if let Some(error) = stats.errors.first() {
                    return Err(error.clone());
                }
                if let Some(bad) = stats.statuses.keys().find(|s| **s != 303) {
                    return Err(format!("POST /login answered {bad}"));
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(200)) => peak = peak.max(app.rss_kib()),
        }
    }
    let end = app.rss_kib();
    first.post_form("/login", FORM).await?;
    let dashboard = first.get("/dashboard").await?;
    println!(
        "- The example app, {} logins (argon2, 19 MiB each, at most 2 at once) from 4 clients \
         in {:.1} s: app RSS {} at start, peak {}, {} at the end.",
        scale.logins,
        began.elapsed().as_secs_f64(),
        mib(start),
        mib(peak),
        mib(end),
    );
    if !dashboard.body.contains("loaduser") {
        return Err("after logging in, the dashboard does not name the user".into());
    }
    if peak.max(end) > LOGINS_RSS_LIMIT_KIB {
        return Err(format!(
            "RSS reached {} (limit {})",
            mib(peak.max(end)),
            mib(LOGINS_RSS_LIMIT_KIB)
        ));
    }
    Ok(())
}

/// `n` requests to `path`, from 20 clients that keep no cookie: `n` new visitors.
async fn anonymous(addr: SocketAddr, path: &'static str, n: usize) -> Stats {
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for c in 0..20 {
        let share = n / 20 + usize::from(c < n % 20);
        tasks.spawn(async move {
            let mut client = Client::forgetful(addr);
            let mut stats = Stats::default();
            for _ in 0..share {
                stats.add(&client.get(path).await);
            }
            stats
        });
    }
    let mut stats = Stats::default();
    while let Some(s) = tasks.join_next().await {
        stats.merge(s.expect("a client task"));
    }
    stats.wall = start.elapsed();
    stats
}

/// What a store and the app hold at one moment of a flood.
struct Held {
    records: Option<u64>,
    rss_kib: u64,
    redis_bytes: Option<u64>,
}

/// Anonymous visitors that each get one pending flash (a failed login): the store
/// holds them for `flash_only_ttl`, then lets them go.
async fn flood(kind: Kind, scale: Scale) -> Result<(), String> {
    let target = Target::machine(kind, "flood");
    let result = async {
        let env = [
            ("ROCKET_KEEPSAKE_FLASH_ONLY_TTL", "3s"),
            ("LOAD_SWEEP", "1"),
        ];
        let app = App::start(&target, &env)?;
        warm_up(app.addr).await?;
        let n = if kind == Kind::Memory {
            scale.flood.0
        } else {
            scale.flood.1
        };
        let measure = || async {
            let records = records(&target, &app).await?;
            let redis = match kind {
                Kind::Redis => Some(target.redis_used_memory().await?),
                _ => None,
            };
            Ok::<_, String>(Held {
                records,
                rss_kib: app.rss_kib(),
                redis_bytes: redis,
            })
        };
        let before = measure().await?;
        let flooded = anonymous(app.addr, "/flash", n).await;
        let during = measure().await?;
        tokio::time::sleep(Duration::from_secs(5)).await;
        // `MemoryStore` sweeps on writes: a few more visitors trigger it.
        let later = anonymous(app.addr, "/flash", 300).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = measure().await?;
        let cell = |f: &dyn Fn(&Held) -> Option<String>| {
            [&before, &during, &after]
                .map(|m| f(m).unwrap_or_else(|| "–".to_owned()))
                .join(" / ")
        };
        println!(
            "| {kind} | {n} | {:.0} | {} | {} | {} |",
            flooded.per_second(),
            cell(&|m| m.records.map(|r| r.to_string())),
            cell(&|m| Some(mib(m.rss_kib))),
            cell(&|m| m.redis_bytes.map(|b| mib(b / 1024))),
        );
        flooded.all_ok("/flash")?;
        later.all_ok("/flash")?;
        if let (Some(_), Some(left)) = (during.records, after.records) {
            // What is left: the last visitors' records, younger than flash_only_ttl.
            if left > 300 + 50 {
                return Err(format!("{left} records left after flash_only_ttl"));
            }
        }
        Ok(())
    }
    .await;
    target.clean().await?;
    result
}
