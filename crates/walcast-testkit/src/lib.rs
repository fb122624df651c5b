//! Throwaway services for walcast's tests: a PostgreSQL with `wal_level=logical`, a Redis with no
//! persistence and a tansu broker (Kafka wire protocol, in-memory storage), each on a free port in
//! its own temporary directory, stopped and removed when the handle is dropped.
//!
//! Nothing here skips: a missing binary is an error that says to run
//! `scripts/install-services.sh`, which installs everything these helpers use.
//!
//! PostgreSQL refuses to run as root, so when the test process is root the server is started as
//! the `postgres` user (created by Debian's package or by the install script) through `setpriv`.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

pub use tempfile::TempDir;

/// A free TCP port on 127.0.0.1 (bound and released; a later bind may race, which is acceptable
/// for tests that start a server on it right away).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

fn is_root() -> bool {
    // SAFETY-free check: `id -u` would fork; libc::geteuid is a plain syscall wrapper.
    #[allow(unsafe_code)]
    unsafe {
        libc::geteuid() == 0
    }
}

fn tools_dir() -> PathBuf {
    if let Ok(d) = std::env::var("WALCAST_TOOLS_DIR") {
        return PathBuf::from(d);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    PathBuf::from(home).join(".cache/walcast/tools")
}

fn missing(what: &str) -> anyhow::Error {
    anyhow!("{what} not found: run scripts/install-services.sh (or `make services`) first")
}

/// The directory holding PostgreSQL's server binaries (`WALCAST_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin`).
pub fn pg_bin_dir() -> Result<PathBuf> {
    if let Ok(d) = std::env::var("WALCAST_PG_BIN") {
        return Ok(PathBuf::from(d));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| missing("PostgreSQL server binaries (/usr/lib/postgresql)"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, p)| p)
        .ok_or_else(|| missing("PostgreSQL server binaries"))
}

/// The tansu broker binary (`WALCAST_TANSU`, else the install script's tools dir, else `PATH`).
pub fn tansu_bin() -> Result<PathBuf> {
    if let Ok(p) = std::env::var("WALCAST_TANSU") {
        return Ok(PathBuf::from(p));
    }
    let p = tools_dir().join("tansu");
    if p.exists() {
        return Ok(p);
    }
    which("tansu").ok_or_else(|| missing("tansu"))
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Path of a binary built from this workspace (e.g. `walcast`), found next to the running test
/// executable's profile directory (`target/<profile>/`). Build it first (`cargo build`); the
/// Makefile's test target does.
pub fn workspace_bin(name: &str) -> Result<PathBuf> {
    if let Ok(p) = std::env::var(format!(
        "WALCAST_BIN_{}",
        name.to_uppercase().replace('-', "_")
    )) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test-binary>
    let mut dir = exe.parent().map(Path::to_path_buf);
    while let Some(d) = dir {
        let candidate = d.join(name);
        if candidate.is_file() {
            check_fresh(&candidate)?;
            return Ok(candidate);
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    bail!(
        "binary {name} not found near {}: run `cargo build --bin {name}` first",
        exe.display()
    )
}

/// Fails when a source file of the workspace's crates is newer than `bin`, so an end-to-end
/// test never runs a stale binary (cargo does not rebuild binaries for `cargo test -p tests`).
fn check_fresh(bin: &Path) -> Result<()> {
    let built = std::fs::metadata(bin)?.modified()?;
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut stack = vec![crates];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name();
            if path.is_dir() {
                if name != "tests" && name != "examples" && name != "benches" {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|x| x == "rs" || x == "toml")
                && e.metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|m| m > built)
            {
                bail!(
                    "{} is older than {}: run `cargo build --workspace` first (make test does)",
                    bin.display(),
                    path.display()
                );
            }
        }
    }
    Ok(())
}

fn wait_for_port(port: u16, child: &mut Child, what: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited during startup with {status}");
        }
        if Instant::now() > deadline {
            bail!("{what} did not accept connections on port {port} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Whether a Redis server answers PING on 127.0.0.1's `port` (accepting connections is not
/// enough: another process may hold the port, or the server may still be loading its data).
pub fn redis_pong(port: u16) -> Result<()> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"PING\r\n")?;
    let mut reply = [0u8; 7];
    let mut got = 0;
    while got < reply.len() {
        match stream.read(&mut reply[got..])? {
            0 => break,
            n => got += n,
        }
    }
    if &reply[..got] == b"+PONG\r\n" {
        Ok(())
    } else {
        bail!("port {port} did not answer PING like redis-server")
    }
}

/// Kills a child process and reaps it.
fn kill_child(child: &mut Child, signal: i32) {
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Options for a throwaway PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresBuilder {
    /// Authentication for TCP connections: `trust` (default), `md5`, `scram-sha-256` or
    /// `password`. The superuser's password is always `postgres`.
    pub host_auth: String,
    /// Extra `-c name=value` server settings, after the defaults (so they override them).
    pub settings: Vec<(String, String)>,
}

impl Default for PostgresBuilder {
    fn default() -> Self {
        Self {
            host_auth: "trust".into(),
            settings: Vec::new(),
        }
    }
}

impl PostgresBuilder {
    /// Require this authentication method for TCP connections.
    pub fn host_auth(mut self, method: &str) -> Self {
        self.host_auth = method.into();
        self
    }

    /// Add a server setting (`-c name=value`).
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// initdb and start the server; returns once it accepts connections.
    pub async fn start(self) -> Result<Postgres> {
        tokio::task::spawn_blocking(move || Postgres::start_blocking(self, None)).await?
    }
}

/// A throwaway PostgreSQL server with `wal_level=logical`, listening on 127.0.0.1.
/// Superuser `postgres`, password `postgres`, database `postgres`.
pub struct Postgres {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
    builder: PostgresBuilder,
}

impl Postgres {
    /// Start one with the defaults (trust authentication).
    pub async fn start() -> Result<Self> {
        PostgresBuilder::default().start().await
    }

    pub fn builder() -> PostgresBuilder {
        PostgresBuilder::default()
    }

    fn command(bin: &Path) -> Command {
        if is_root() {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ]);
            c.arg(bin);
            c
        } else {
            Command::new(bin)
        }
    }

    fn start_blocking(builder: PostgresBuilder, reuse: Option<(TempDir, u16)>) -> Result<Self> {
        let bin = pg_bin_dir()?;
        let (dir, port, fresh) = match reuse {
            Some((d, p)) => (d, p, false),
            None => (
                tempfile::Builder::new().prefix("walcast-pg-").tempdir()?,
                free_port(),
                true,
            ),
        };
        let data = dir.path().join("data");
        if fresh {
            std::fs::set_permissions(
                dir.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o777),
            )?;
            let pwfile = dir.path().join("pw");
            std::fs::write(&pwfile, "postgres\n")?;
            std::fs::set_permissions(&pwfile, std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
            let out = Self::command(&bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "-N",
                    "--auth-local=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ])
                .arg(format!("--auth-host={}", builder.host_auth))
                .arg(format!("--pwfile={}", pwfile.display()))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .output()
                .context("running initdb")?;
            if !out.status.success() {
                bail!(
                    "initdb failed: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        // A free port can be taken by a parallel test between `free_port` and the bind: a new
        // instance then tries another one (a restarted one must keep its port).
        let mut port = port;
        let mut attempts = 0;
        let child = loop {
            attempts += 1;
            match Self::spawn_ready(&bin, &data, dir.path(), port, &builder) {
                Ok(child) => break child,
                Err(e)
                    if fresh
                        && attempts < 5
                        && e.to_string().contains("Address already in use") =>
                {
                    port = free_port();
                }
                Err(e) => return Err(e),
            }
        };
        Ok(Self {
            port,
            dir,
            child: Some(child),
            builder,
        })
    }

    /// Starts the server on `data` and `port` and waits until it answers; the error carries
    /// what the server logged.
    fn spawn_ready(
        bin: &Path,
        data: &Path,
        dir: &Path,
        port: u16,
        builder: &PostgresBuilder,
    ) -> Result<Child> {
        let mut cmd = Self::command(&bin.join("postgres"));
        cmd.arg("-D").arg(data);
        let mut settings: Vec<(String, String)> = vec![
            ("port".into(), port.to_string()),
            ("listen_addresses".into(), "127.0.0.1".into()),
            ("unix_socket_directories".into(), dir.display().to_string()),
            ("wal_level".into(), "logical".into()),
            ("max_replication_slots".into(), "20".into()),
            ("max_wal_senders".into(), "20".into()),
            ("max_connections".into(), "100".into()),
            ("fsync".into(), "off".into()),
            ("synchronous_commit".into(), "off".into()),
            ("full_page_writes".into(), "off".into()),
            ("shared_buffers".into(), "128MB".into()),
            ("logging_collector".into(), "off".into()),
        ];
        settings.extend(builder.settings.iter().cloned());
        for (k, v) in &settings {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
        let log_path = dir.join("postgres.log");
        // What this attempt logs (the file keeps earlier attempts' lines).
        let logged_before = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        let this_log = || {
            std::fs::read(&log_path)
                .map(|b| {
                    String::from_utf8_lossy(b.get(logged_before as usize..).unwrap_or(&[]))
                        .into_owned()
                })
                .unwrap_or_default()
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        cmd.stdout(Stdio::null()).stderr(log);
        let mut child = cmd.spawn().context("starting postgres")?;
        if let Err(e) = wait_for_port(port, &mut child, "postgres", Duration::from_secs(30)) {
            kill_child(&mut child, libc::SIGKILL);
            bail!("{e}\n{}", this_log());
        }
        // The port accepts connections slightly before the server finishes recovery.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "postgres exited during startup with {status} (port {port} taken?)\n{}",
                    this_log()
                );
            }
            let ok = Command::new(bin.join("pg_isready"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-U",
                    "postgres",
                    "-q",
                ])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                // pg_isready also answers for another server that took the port first.
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "postgres exited during startup with {status} (port {port} taken?)\n{}",
                        this_log()
                    );
                }
                break;
            }
            if Instant::now() > deadline {
                kill_child(&mut child, libc::SIGKILL);
                bail!("postgres on port {port} not ready within 30s");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Ok(child)
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn user(&self) -> &'static str {
        "postgres"
    }
    pub fn password(&self) -> &'static str {
        "postgres"
    }
    pub fn dbname(&self) -> &'static str {
        "postgres"
    }
    /// The server's log file (useful in assertion messages).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// libpq-style connection string for the `postgres` database.
    pub fn connection_string(&self) -> String {
        self.connection_string_for(self.dbname())
    }

    /// libpq-style connection string for another database on this server.
    pub fn connection_string_for(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres password=postgres dbname={db}",
            self.port
        )
    }

    /// `postgres://` URL for the `postgres` database.
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres:postgres@127.0.0.1:{}/postgres",
            self.port
        )
    }

    /// A connected client (its connection driven by a spawned task) to the `postgres` database.
    pub async fn connect(&self) -> Result<tokio_postgres::Client> {
        self.connect_db(self.dbname()).await
    }

    /// A connected client to another database on this server.
    pub async fn connect_db(&self, db: &str) -> Result<tokio_postgres::Client> {
        let (client, conn) =
            tokio_postgres::connect(&self.connection_string_for(db), tokio_postgres::NoTls)
                .await
                .with_context(|| format!("connecting to postgres on port {}", self.port))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }

    /// Run SQL (several statements allowed) through the simple query protocol.
    pub async fn execute(&self, sql: &str) -> Result<()> {
        let client = self.connect().await?;
        client
            .batch_execute(sql)
            .await
            .with_context(|| format!("executing: {sql}"))?;
        Ok(())
    }

    /// Run a SQL file with `psql -f`, statement by statement as a user (and the Debezium
    /// reference tool) would: each statement is its own transaction unless the file says
    /// otherwise. (`execute` sends everything as one simple query, which PostgreSQL runs as one
    /// implicit transaction.)
    pub async fn psql_file(&self, path: &Path) -> Result<()> {
        let psql = pg_bin_dir()?.join("psql");
        let out = tokio::process::Command::new(&psql)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-f",
            ])
            .arg(path)
            .env("PGPASSWORD", "postgres")
            .output()
            .await
            .with_context(|| format!("running {}", psql.display()))?;
        if !out.status.success() {
            bail!(
                "psql -f {} failed: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Stop the server abruptly (SIGQUIT: immediate shutdown, like a crash).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_child(&mut c, libc::SIGQUIT);
        }
    }

    /// Stop the server cleanly (SIGINT: fast shutdown).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_child(&mut c, libc::SIGINT);
        }
    }

    /// Start the stopped server again on the same port and data directory.
    pub async fn restart(self) -> Result<Self> {
        let mut me = self;
        me.stop();
        let port = me.port;
        let builder = me.builder.clone();
        // Take the directory out without running Drop's cleanup.
        let dir = std::mem::replace(&mut me.dir, tempfile::tempdir()?);
        drop(me);
        tokio::task::spawn_blocking(move || Self::start_blocking(builder, Some((dir, port))))
            .await?
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_child(&mut c, libc::SIGQUIT);
        }
    }
}

/// A throwaway redis-server with no persistence on 127.0.0.1.
pub struct Redis {
    port: u16,
    _dir: TempDir,
    child: Child,
}

impl Redis {
    pub async fn start() -> Result<Self> {
        tokio::task::spawn_blocking(Self::start_blocking).await?
    }

    fn start_blocking() -> Result<Self> {
        let bin = which("redis-server").ok_or_else(|| missing("redis-server"))?;
        let dir = tempfile::Builder::new()
            .prefix("walcast-redis-")
            .tempdir()?;
        // A free port can be taken by a parallel test between `free_port` and the bind, and the
        // port then answers for someone else: only a PONG from our own child counts, else a new
        // port is tried.
        let mut last = None;
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(&bin)
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting redis-server")?;
            let ready = wait_for_port(port, &mut child, "redis-server", Duration::from_secs(20))
                .and_then(|()| redis_pong(port))
                .and_then(|()| match child.try_wait()? {
                    None => Ok(()),
                    Some(status) => bail!("redis-server exited during startup with {status}"),
                });
            match ready {
                Ok(()) => {
                    return Ok(Self {
                        port,
                        _dir: dir,
                        child,
                    })
                }
                Err(e) => {
                    kill_child(&mut child, libc::SIGKILL);
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("redis-server did not start")))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub async fn connect(&self) -> Result<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(self.url())?;
        Ok(client.get_multiplexed_async_connection().await?)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        kill_child(&mut self.child, libc::SIGKILL);
    }
}

/// A throwaway tansu broker (Kafka wire protocol, memory storage) on 127.0.0.1.
///
/// Known quirks: a restart loses every topic and record; ListOffsets "latest" is not the log end
/// (use the high watermark from Fetch responses instead).
pub struct Tansu {
    port: u16,
    child: Option<Child>,
    dir: TempDir,
}

impl Tansu {
    pub async fn start() -> Result<Self> {
        tokio::task::spawn_blocking(|| {
            // A free port can be taken by a parallel test before tansu binds it; the port then
            // answers while tansu exits: try another port.
            let mut last = None;
            for _ in 0..5 {
                match Self::start_on(free_port()) {
                    Ok(t) => return Ok(t),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| anyhow::anyhow!("tansu did not start")))
        })
        .await?
    }

    fn start_on(port: u16) -> Result<Self> {
        let bin = tansu_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("walcast-tansu-")
            .tempdir()?;
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("tansu.log"))?;
        let mut child = Command::new(bin)
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .env("RUST_LOG", "warn")
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting tansu")?;
        let ready =
            wait_for_port(port, &mut child, "tansu", Duration::from_secs(30)).and_then(|()| {
                // A listener of another process on the port answers too; ours must still be running
                // once it would have failed to bind.
                std::thread::sleep(Duration::from_millis(100));
                match child.try_wait()? {
                    None => Ok(()),
                    Some(status) => bail!(
                        "tansu exited during startup with {status} (port {port} taken?): {}",
                        std::fs::read_to_string(dir.path().join("tansu.log")).unwrap_or_default()
                    ),
                }
            });
        if let Err(e) = ready {
            kill_child(&mut child, libc::SIGKILL);
            return Err(e);
        }
        Ok(Self {
            port,
            child: Some(child),
            dir,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("tansu.log")
    }

    /// The broker process's id while it runs (e.g. to SIGSTOP it and simulate a network stall).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stop the broker (simulates an unreachable broker). Its data is lost.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_child(&mut c, libc::SIGKILL);
        }
    }

    /// Start a stopped broker again on the same port (empty: the memory engine keeps nothing).
    pub async fn start_again(&mut self) -> Result<()> {
        let port = self.port;
        let fresh = tokio::task::spawn_blocking(move || Self::start_on(port)).await??;
        let mut fresh = fresh;
        self.child = fresh.child.take();
        Ok(())
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_child(&mut c, libc::SIGKILL);
        }
    }
}

/// Poll `f` until it returns `Some`, or fail after `timeout` with `what` in the message.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn services_start_and_answer() {
        let pg = Postgres::start().await.unwrap();
        let c = pg.connect().await.unwrap();
        let row = c.query_one("show wal_level", &[]).await.unwrap();
        assert_eq!(row.get::<_, String>(0), "logical");

        let redis = Redis::start().await.unwrap();
        let mut r = redis.connect().await.unwrap();
        let pong: String = redis::cmd("PING").query_async(&mut r).await.unwrap();
        assert_eq!(pong, "PONG");

        let tansu = Tansu::start().await.unwrap();
        assert!(std::net::TcpStream::connect(tansu.bootstrap()).is_ok());
    }
}
