//! Support for walcast's end-to-end tests: the real `walcast` binary run as a user runs it
//! (`walcast standalone worker.properties`), driven over its REST API, against throwaway
//! PostgreSQL and tansu from the test kit. Tests live in `tests/*.rs` of this crate.
#![allow(clippy::unwrap_used)]

pub mod conformance;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use walcast_testkit::{free_port, workspace_bin, Postgres};

/// A `walcast standalone` process.
pub struct Worker {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
    worker_props: PathBuf,
    http: reqwest::Client,
}

impl Worker {
    /// Start a worker with its REST API on a free port and its state in `dir`.
    pub async fn start(bootstrap: &str, dir: &Path) -> Result<Self> {
        Self::start_with(bootstrap, dir, &[]).await
    }

    /// Start with extra worker properties.
    pub async fn start_with(bootstrap: &str, dir: &Path, extra: &[(&str, &str)]) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = free_port();
        let props = dir.join("worker.properties");
        let mut text = format!(
            "bootstrap.servers={bootstrap}\nlisteners=http://127.0.0.1:{port}\nwalcast.state.dir={}\n",
            dir.join("state").display()
        );
        for (k, v) in extra {
            text.push_str(&format!("{k}={v}\n"));
        }
        std::fs::write(&props, text)?;
        let mut w = Self {
            port,
            dir: dir.to_path_buf(),
            child: None,
            worker_props: props,
            http: reqwest::Client::new(),
        };
        w.spawn().await?;
        Ok(w)
    }

    async fn spawn(&mut self) -> Result<()> {
        let bin = workspace_bin("walcast")?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("walcast.log"))?;
        let child = Command::new(bin)
            .arg("standalone")
            .arg(&self.worker_props)
            .env(
                "RUST_LOG",
                std::env::var("WALCAST_TEST_LOG").unwrap_or_else(|_| "info,walcast=debug".into()),
            )
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting walcast")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.http.get(self.url("/health")).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(c) = self.child.as_mut() {
                if let Some(st) = c.try_wait()? {
                    bail!("walcast exited during startup with {st}:\n{}", self.log());
                }
            }
            if Instant::now() > deadline {
                bail!("walcast REST API not up within 30 s:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The worker's log so far (for assertion messages).
    pub fn log(&self) -> String {
        let s = std::fs::read_to_string(self.dir.join("walcast.log")).unwrap_or_default();
        let tail: Vec<&str> = s.lines().rev().take(80).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The process id while the worker runs (for its RSS in `/proc/<pid>/status`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL the process (no flush, no final status update).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Start the same worker again (same properties and state dir, same port).
    pub async fn restart(&mut self) -> Result<()> {
        self.kill9();
        self.spawn().await
    }

    pub async fn get(&self, path: &str) -> Result<(u16, Value)> {
        let r = self.http.get(self.url(path)).send().await?;
        let status = r.status().as_u16();
        let text = r.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let m = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self.http.request(m, self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await?;
        let status = r.status().as_u16();
        let text = r.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// POST /connectors; fails unless 201.
    pub async fn create_connector(&self, name: &str, config: Value) -> Result<Value> {
        let (status, body) = self
            .send(
                "POST",
                "/connectors",
                Some(json!({"name": name, "config": config})),
            )
            .await?;
        if status != 201 {
            bail!("creating {name}: {status} {body}");
        }
        Ok(body)
    }

    /// The value of a source metric for a connector in `/metrics`, if present.
    pub async fn metric(&self, name: &str, connector: &str) -> Result<Option<f64>> {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await?
            .text()
            .await?;
        let label = format!("connector=\"{connector}\"");
        Ok(text
            .lines()
            .filter(|l| {
                l.starts_with(name) && l[name.len()..].starts_with('{') && l.contains(&label)
            })
            .find_map(|l| l.rsplit(' ').next()?.parse().ok()))
    }

    /// Waits until the connector's source task streams from its slot: its snapshot (if any) is
    /// done and acknowledged (`walcast_source_streaming` is 1). The slot being active is not
    /// enough: it is active while the snapshot is still reading too.
    pub async fn wait_streaming(&self, connector: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.metric("walcast_source_streaming", connector).await? == Some(1.0) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let (_, status) = self.get(&format!("/connectors/{connector}/status")).await?;
                bail!(
                    "connector {connector} not streaming within {timeout:?}; status {status}\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until the connector and its task report `state` (for FAILED, the task).
    pub async fn wait_state(&self, name: &str, state: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            let (code, body) = self.get(&format!("/connectors/{name}/status")).await?;
            // Like Connect, a failed task may leave its connector RUNNING.
            if code == 200
                && (body["connector"]["state"] == state || state == "FAILED")
                && body["tasks"][0]["state"] == state
            {
                return Ok(body);
            }
            last = body;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "connector {name} not {state} within {timeout:?}; last status {last}\n{}",
            self.log()
        )
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The PostgreSQL connector's config for a throwaway server, as in Debezium's examples.
pub fn pg_connector_config(pg: &Postgres, topic_prefix: &str, slot: &str) -> Value {
    json!({
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": "127.0.0.1",
        "database.port": pg.port().to_string(),
        "database.user": "postgres",
        "database.password": "postgres",
        "database.dbname": "postgres",
        "database.sslmode": "disable",
        "topic.prefix": topic_prefix,
        "plugin.name": "pgoutput",
        "slot.name": slot,
    })
}

/// Merge Java-properties text into a JSON config object (parsed like the worker parses
/// connector files: escapes, continuations and comments included).
pub fn merge_properties(config: &mut Value, text: &str) -> Result<()> {
    for (k, v) in walcast_connect_api::properties::parse_map(text)? {
        config[k] = Value::String(v);
    }
    Ok(())
}

/// Confirmed flush LSN of a slot, as u64 (0 when unknown).
pub async fn slot_confirmed_lsn(client: &tokio_postgres::Client, slot: &str) -> Result<u64> {
    let rows = client
        .query(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(0);
    };
    let s: Option<String> = row.get(0);
    Ok(s.as_deref().map(parse_lsn).transpose()?.unwrap_or(0))
}

/// Waits until `slot` is in use by a client. For a walcast connector, this is already true while
/// its snapshot reads; use [`Worker::wait_streaming`] to know changes written now are streamed.
pub async fn wait_slot_active(pg: &Postgres, slot: &str, timeout: Duration) -> Result<()> {
    let client = pg.connect().await?;
    walcast_testkit::eventually(timeout, &format!("slot {slot} active"), || async {
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1 AND active",
                &[&slot],
            )
            .await
            .ok()?
            .get(0);
        (n == 1).then_some(())
    })
    .await
}

/// Waits until `slot` has confirmed everything written so far (the current WAL end: the insert
/// position, since `pg_current_wal_lsn` is the write position, which lags behind commits when
/// `synchronous_commit` is off, as in the test kit).
pub async fn wait_slot_confirmed_to_end(
    client: &tokio_postgres::Client,
    slot: &str,
    timeout: Duration,
) -> Result<()> {
    let end: String = client
        .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
        .await?
        .get(0);
    let end = parse_lsn(&end)?;
    walcast_testkit::eventually(
        timeout,
        &format!("slot {slot} confirmed past {end:X}"),
        || async { (slot_confirmed_lsn(client, slot).await.ok()? >= end).then_some(()) },
    )
    .await
}

/// PostgreSQL's `X/Y` LSN text as a number (walcast-pgwire's `Lsn` parses it).
pub fn parse_lsn(s: &str) -> Result<u64> {
    Ok(s.parse::<walcast_pgoutput::Lsn>()?.0)
}

/// Poll `f` until it succeeds; on timeout, fail with its last error (unlike the test kit's
/// `eventually`, which only knows "not yet").
pub async fn eventually_ok<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() > deadline => {
                bail!("timed out after {timeout:?} waiting for {what}: {e:#}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A file of the repository, by its path from the root.
pub fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

/// The `config` of a connector file from deploy/connect/, pointed at the throwaway services
/// (hosts, ports and the passwords its `${env:...}` references stand for).
pub fn deploy_config(
    name: &str,
    orders: &Postgres,
    results: &Postgres,
    redis: &walcast_testkit::Redis,
) -> Result<Value> {
    let path = repo_file(&format!("deploy/connect/{name}.json"));
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .replace("\"orders-db\"", "\"127.0.0.1\"")
        .replace(
            "\"database.port\": \"5432\"",
            &format!("\"database.port\": \"{}\"", orders.port()),
        )
        .replace("results-db:5432", &format!("127.0.0.1:{}", results.port()))
        .replace("redis://redis:6379", &redis.url())
        .replace("${env:ORDERS_DB_PASSWORD}", "postgres")
        .replace("${env:RESULTS_DB_PASSWORD}", "postgres");
    let doc: Value = serde_json::from_str(&text)?;
    if doc["name"] != name {
        bail!(
            "{} names connector {}, not {name}",
            path.display(),
            doc["name"]
        );
    }
    Ok(doc["config"].clone())
}

/// Loads deploy/redis/customers.json into Redis as hashes `customer:<id>`, as the demo's
/// loader does, and returns the customers.
pub async fn load_customers(redis: &walcast_testkit::Redis) -> Result<Vec<Value>> {
    let customers: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(repo_file(
        "deploy/redis/customers.json",
    ))?)?;
    let mut conn = redis.connect().await?;
    for c in &customers {
        let id = c["id"].as_str().context("a customer without a string id")?;
        let mut cmd = redis::cmd("HSET");
        cmd.arg(format!("customer:{id}"));
        for (k, v) in c.as_object().context("a customer that is not an object")? {
            if k != "id" {
                cmd.arg(k).arg(
                    v.as_str()
                        .context("a customer field that is not a string")?,
                );
            }
        }
        let _: () = cmd.query_async(&mut conn).await?;
    }
    Ok(customers)
}
