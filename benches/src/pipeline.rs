//! The sink-side benchmark: how fast walcast turns Debezium `orders` events into enriched
//! `results` rows, next to the write ceiling and to what users run today, in the same run.
//!
//! 1. Throwaway orders PostgreSQL, results PostgreSQL, Redis and tansu (the test kit's); `orders`
//!    from `sql/init-orders.sql` filled with `--rows` rows (default 200,000) over `--customers`
//!    customers (default 10,000, loaded into Redis as hashes `customer:<id>`); `results` from
//!    `sql/init-results.sql`.
//! 2. **Kafka → results.** walcast's source snapshots `orders` into Kafka
//!    (`decimal.handling.mode=string`, the seed's setting, so the seed consumer can read it) and
//!    stops. Then, each on an empty `results`:
//!    - the write ceiling: the same rows, already enriched, with one `COPY results FROM STDIN`,
//!      right before each walcast run (both medians then come from the same stretch of time);
//!    - walcast's results sink (`deploy/connect/results-sink.json`: unwrap, rename, RedisLookup,
//!      upsert by key), clock from process start to the last results commit (`walcast_offsets`
//!      reaching the end of the topic);
//!    - with `--seed-rows N > 0` (default 20,000): the seed deployment's Python consumer
//!      (`../shared/reference/seed-consumer/seed_consumer.py`, one Redis lookup and one upsert
//!      per message) on the first N events, in a virtualenv under `target/bench/venv`.
//! 3. **WAL → results.** A slot created before a backlog of `--rows` more orders; walcast starts
//!    with the source, the results sink and the Redis cache sink; clock from process start until
//!    `results` holds every order.
//!
//! 4. **Latency.** Source, results sink and Redis cache sink running; the bench offers a steady
//!    load (`--latency-rates`, default 2,000 and 10,000 rows/s, in transactions of 5 ms worth of
//!    rows) for `--latency-secs` each, and takes per row: `source.ts_ms` (the source commit)
//!    to the moment a consumer of the topic sees the event (the Kafka ack plus one fetch), and to
//!    `results.visible_at` (a column the bench adds, `DEFAULT clock_timestamp()`, filled when the
//!    sink's transaction inserts the row; its commit follows within the same batch).
//! 5. **Snapshot and one big transaction** (`--big-rows`, default 1,000,000; 0 skips): `orders`
//!    refilled with that many rows in ONE transaction, behind a slot created before it. Then
//!    `COPY (SELECT * FROM orders) TO STDOUT` over one connection (the read ceiling), walcast's
//!    snapshot of the table into Kafka (clock until the topic holds every row), and walcast's
//!    source draining the one transaction from the slot (peak RSS must stay flat). With
//!    `BENCH_DEBEZIUM=1`, then real Debezium 3.6.3's snapshot of the same table with the same
//!    connector config (embedded engine, JsonConverter with schemas, the Java KafkaProducer as a
//!    Connect worker configures it; `src/debezium.rs`) into its own topic: clock from JVM start
//!    until the producer had every row acknowledged, and the JVM's peak RSS. Skipped with a
//!    message when java, the jars or the reference directory are missing.
//!
//! Prints a table and writes `target/bench/pipeline.json` and `target/bench/pipeline.md`; the
//! chart and the combined report come from `benches/report.py`.
//! Not a test: nothing here asserts on time. Run with `make bench`.

mod debezium;
mod procstat;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use procstat::{cpu_seconds, peak_rss_kib};
use serde_json::{json, Value};
use walcast_testkit::{free_port, workspace_bin, Postgres, Redis, Tansu};

#[derive(Parser)]
#[command(
    name = "pipeline-bench",
    about = "Kafka -> results and WAL -> results drain rates, beside COPY and the seed consumer"
)]
struct Args {
    /// Orders in the backlog.
    #[arg(long, default_value_t = 200_000)]
    rows: u64,
    /// Customers in Redis (orders pick one at random).
    #[arg(long, default_value_t = 10_000)]
    customers: u64,
    /// Events the seed's Python consumer processes (0 skips it; it runs ~1,000 rows/s).
    #[arg(long, default_value_t = 20_000)]
    seed_rows: u64,
    /// Runs of each walcast measurement; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Skip the WAL -> results scenario.
    #[arg(long)]
    no_wal: bool,
    /// Offered loads for the latency scenario, rows/s (empty skips it).
    #[arg(long, value_delimiter = ',', default_value = "2000,10000")]
    latency_rates: Vec<u64>,
    /// Seconds each offered load lasts.
    #[arg(long, default_value_t = 15)]
    latency_secs: u64,
    /// Rows of the snapshot table and of the one big transaction (0 skips both).
    #[arg(long, default_value_t = 1_000_000)]
    big_rows: u64,
    /// Seconds the one big transaction may take to reach Kafka before it counts as not done.
    #[arg(long, default_value_t = 180)]
    big_tx_timeout: u64,
    /// `consumer.override.fetch.max.wait.ms` of both sinks in the latency scenario, and the
    /// bench's own topic watcher's wait (Connect's default is 500). tansu answers a fetch that
    /// finds nothing by polling its storage again after half the remaining wait, so with 500 a
    /// record can sit up to 250 ms before the sink sees it; Apache Kafka wakes the fetch as soon
    /// as the record arrives.
    #[arg(long, default_value_t = 500)]
    latency_fetch_wait_ms: u64,
    /// Extra `KEY=VALUE` settings of the results sink in the Kafka -> results and WAL ->
    /// results runs (for trying settings; the report lists them).
    #[arg(long = "sink-setting", value_name = "KEY=VALUE")]
    sink_settings: Vec<String>,
    /// Where the JSON and Markdown reports go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// The virtualenv for the seed consumer and the chart (created when missing).
    #[arg(long, default_value = "target/bench/venv")]
    venv: PathBuf,
    /// The seed deployment's consumer script (default: the reference copy beside the
    /// repository, `../shared/reference/seed-consumer/seed_consumer.py`); skipped with a message
    /// when it is not there.
    #[arg(long)]
    seed_consumer: Option<PathBuf>,
    /// The results database's durability: `durable` (PostgreSQL's defaults, `fsync`,
    /// `synchronous_commit` and `full_page_writes` on, as the deployment's results-db runs) or
    /// `fast` (all three off, as the test kit's throwaway servers run).
    #[arg(long, default_value = "durable", value_parser = ["durable", "fast"])]
    results_db: String,
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The seed's connector configs, pointed at the throwaway services.
fn deploy_config(
    name: &str,
    orders: &Postgres,
    results: &Postgres,
    redis: &Redis,
) -> Result<Value> {
    let text = std::fs::read_to_string(repo(&format!("deploy/connect/{name}.json")))?
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
    Ok(doc)
}

/// A walcast worker started as users start it, with connector files on the command line.
struct Walcast {
    child: Child,
    started: Instant,
    dir: tempfile::TempDir,
}

impl Walcast {
    fn start(bootstrap: &str, connectors: &[Value]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let worker = dir.path().join("worker.properties");
        std::fs::write(
            &worker,
            format!(
                "bootstrap.servers={bootstrap}\nlisteners=http://127.0.0.1:{}\nwalcast.state.dir={}\n",
                free_port(),
                dir.path().join("state").display()
            ),
        )?;
        let mut cmd = Command::new(workspace_bin("walcast")?);
        cmd.arg("standalone").arg(&worker);
        for c in connectors {
            let name = c["name"].as_str().unwrap_or("connector");
            let path = dir.path().join(format!("{name}.json"));
            std::fs::write(&path, serde_json::to_vec_pretty(c)?)?;
            cmd.arg(path);
        }
        let log = std::fs::File::create(dir.path().join("walcast.log"))?;
        let started = Instant::now();
        let child = cmd
            .env(
                "RUST_LOG",
                std::env::var("BENCH_WALCAST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting walcast")?;
        Ok(Self {
            child,
            started,
            dir,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log =
                std::fs::read_to_string(self.dir.path().join("walcast.log")).unwrap_or_default();
            bail!("walcast exited with {status}:\n{log}");
        }
        Ok(())
    }

    fn stop(mut self) {
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
        if std::env::var_os("BENCH_WALCAST_LOG").is_some() {
            let kept = self.dir.keep();
            eprintln!("walcast's log: {}", kept.join("walcast.log").display());
        }
    }
}

async fn count(pg: &tokio_postgres::Client, sql: &str) -> Result<i64> {
    Ok(pg.query_one(sql, &[]).await?.get::<_, i64>(0))
}

/// The seed's source connector streaming only (`snapshot.mode=no_data`) under its own topic
/// prefix, with slot and publication `<prefix>_bench`.
fn streaming_source(
    prefix: &str,
    orders: &Postgres,
    results: &Postgres,
    redis: &Redis,
) -> Result<Value> {
    let mut source = deploy_config("orders-source", orders, results, redis)?;
    source["config"]["topic.prefix"] = prefix.into();
    source["config"]["slot.name"] = format!("{prefix}_bench").into();
    source["config"]["publication.name"] = format!("{prefix}_bench").into();
    source["config"]["snapshot.mode"] = "no_data".into();
    Ok(source)
}

/// Waits up to 60 s until the slot of [`streaming_source`]`(prefix)` is active.
async fn wait_bench_slot(oc: &tokio_postgres::Client, prefix: &str) -> Result<()> {
    let sql = format!(
        "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{prefix}_bench' AND active"
    );
    walcast_testkit::eventually(
        Duration::from_secs(60),
        &format!("the {prefix}_bench slot"),
        || async { (count(oc, &sql).await.unwrap_or(0) == 1).then_some(()) },
    )
    .await?;
    Ok(())
}

async fn fill_orders(client: &tokio_postgres::Client, rows: u64, customers: u64) -> Result<()> {
    let mut written = 0u64;
    while written < rows {
        let n = 10_000.min(rows - written);
        client
            .batch_execute(&format!(
                "INSERT INTO orders (customer_id, product_id, quantity, price, status)
                 SELECT 'CUST' || lpad(((g::bigint * 7919) % {customers} + 1)::text, 5, '0'),
                        'PROD' || (g % 1000), 1 + g % 9, round((random() * 500)::numeric, 2),
                        (ARRAY['PENDING','PAID','SHIPPED'])[1 + g % 3]
                 FROM generate_series({}, {}) AS g",
                written + 1,
                written + n
            ))
            .await?;
        written += n;
    }
    Ok(())
}

async fn load_customers(redis: &Redis, customers: u64) -> Result<HashMap<String, [String; 3]>> {
    let mut conn = redis.connect().await?;
    let tiers = ["bronze", "silver", "gold", "platinum"];
    let mut map = HashMap::new();
    let mut pipe = redis::pipe();
    for i in 1..=customers {
        let id = format!("CUST{i:05}");
        let fields = [
            format!("Customer {i}"),
            format!("customer{i}@example.com"),
            tiers[(i % 4) as usize].to_string(),
        ];
        pipe.cmd("HSET")
            .arg(format!("customer:{id}"))
            .arg("name")
            .arg(&fields[0])
            .arg("email")
            .arg(&fields[1])
            .arg("tier")
            .arg(&fields[2])
            .ignore();
        map.insert(id, fields);
        if i % 5_000 == 0 {
            let _: () = pipe.query_async(&mut conn).await?;
            pipe = redis::pipe();
        }
    }
    let _: () = pipe.query_async(&mut conn).await?;
    Ok(map)
}

/// The orders, enriched in memory, as COPY text for `results` (the write ceiling's input).
async fn enriched_copy_text(
    orders: &tokio_postgres::Client,
    customers: &HashMap<String, [String; 3]>,
) -> Result<bytes::Bytes> {
    let rows = orders
        .query(
            "SELECT id::text, customer_id, product_id, quantity::text, price::text, status,
                    created_at::text FROM orders ORDER BY id",
            &[],
        )
        .await?;
    let mut text = String::with_capacity(rows.len() * 160);
    for r in &rows {
        let cust: String = r.get(1);
        let c = customers.get(&cust);
        for i in 0..7 {
            text.push_str(&r.get::<_, String>(i));
            text.push('\t');
        }
        match c {
            Some([n, e, t]) => text.push_str(&format!("{n}\t{e}\t{t}\n")),
            None => text.push_str("\\N\t\\N\t\\N\n"),
        }
    }
    Ok(bytes::Bytes::from(text))
}

/// The write ceiling: the enriched rows into the empty `results` with one COPY.
async fn copy_ceiling(
    results: &tokio_postgres::Client,
    text: &bytes::Bytes,
) -> Result<(u64, Duration)> {
    use futures::SinkExt;
    results.batch_execute("TRUNCATE results").await?;
    let started = Instant::now();
    let sink = results
        .copy_in(
            "COPY results (order_id, customer_id, product_id, quantity, price, status, created_at,
                           customer_name, customer_email, customer_tier) FROM STDIN",
        )
        .await
        .context("COPY results")?;
    futures::pin_mut!(sink);
    sink.send(text.clone()).await?;
    let n = sink.finish().await?;
    Ok((n, started.elapsed()))
}

struct Run {
    seconds: f64,
    peak_mb: f64,
    cpu_s: f64,
}

/// Start walcast with `connectors` and wait until `done` says the work is finished.
async fn timed_walcast<F, Fut>(bootstrap: &str, connectors: &[Value], done: F) -> Result<Run>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    timed_walcast_within(bootstrap, connectors, Duration::from_secs(900), done).await
}

/// [`timed_walcast`] with a deadline of `limit`.
async fn timed_walcast_within<F, Fut>(
    bootstrap: &str,
    connectors: &[Value],
    limit: Duration,
    mut done: F,
) -> Result<Run>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let mut w = Walcast::start(bootstrap, connectors)?;
    let deadline = Instant::now() + limit;
    let mut peak = 0;
    let elapsed = loop {
        peak = peak.max(peak_rss_kib(w.pid()).unwrap_or(0));
        if done().await? {
            break w.started.elapsed();
        }
        w.check_alive()?;
        if Instant::now() > deadline {
            let peak_mb = peak_rss_kib(w.pid()).unwrap_or(0).max(peak) as f64 / 1024.0;
            let cpu_s = cpu_seconds(w.pid()).unwrap_or(0.0);
            w.stop();
            bail!(
                "walcast did not finish within {} s (CPU used {cpu_s:.1} s, peak RSS {peak_mb:.1} MB)",
                limit.as_secs()
            );
        }
        // Coarse enough that the polling (a new Kafka connection for a watermark) does not take
        // CPU from the broker being measured.
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    peak = peak.max(peak_rss_kib(w.pid()).unwrap_or(0));
    let cpu = cpu_seconds(w.pid()).unwrap_or(0.0);
    w.stop();
    Ok(Run {
        seconds: elapsed.as_secs_f64(),
        peak_mb: peak as f64 / 1024.0,
        cpu_s: cpu,
    })
}

/// Percentiles of `v` (milliseconds): p50, p99, max, and every whole percentile for the chart.
fn distribution(mut v: Vec<f64>) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v.get(i).copied().unwrap_or(0.0)
    };
    json!({
        "samples": v.len(),
        "p50_ms": at(0.50),
        "p99_ms": at(0.99),
        "max_ms": v.last().copied().unwrap_or(0.0),
        "percentiles_ms": (0..=100).map(|q| at(q as f64 / 100.0)).collect::<Vec<_>>(),
    })
}

/// What a consumer of the latency topic saw: per order id, the event's `source.ts_ms` and the
/// wall-clock millisecond the bench received it.
type Seen = HashMap<i64, (i64, i64)>;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Reads `topic` from the start until `stop` is set, recording every create event it sees.
async fn watch_topic(
    bootstrap: String,
    topic: String,
    seen: std::sync::Arc<std::sync::Mutex<Seen>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    wait: Duration,
) -> Result<()> {
    let client = walcast_kafka::connect(
        &[bootstrap],
        "walcast-bench-latency",
        Duration::from_secs(10),
    )
    .await?;
    let mut reader = loop {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        if walcast_kafka::topic_partitions(&client, &topic)
            .await?
            .is_some()
        {
            break walcast_kafka::PartitionReader::new(&client, &topic, 0, 0).await?;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let (records, _) = reader.next_batch(wait).await?;
        let received = now_ms();
        let mut batch = Vec::with_capacity(records.len());
        for r in records {
            let Some(value) = r.value else { continue };
            let Ok(doc) = serde_json::from_slice::<Value>(&value) else {
                continue;
            };
            let p = doc.get("payload").unwrap_or(&doc);
            if let (Some(id), Some(ts)) = (p["after"]["id"].as_i64(), p["source"]["ts_ms"].as_i64())
            {
                batch.push((id, (ts, received)));
            }
        }
        if let Ok(mut s) = seen.lock() {
            s.extend(batch);
        }
    }
    Ok(())
}

/// One offered load: `rate` rows/s for `secs`, in transactions of 5 ms worth of rows. Returns
/// the id range written and the rate actually achieved.
async fn offer_load(
    oc: &tokio_postgres::Client,
    rate: u64,
    secs: u64,
    customers: u64,
) -> Result<(i64, i64, f64)> {
    let first = count(oc, "SELECT coalesce(max(id), 0)::bigint FROM orders").await? + 1;
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let tx_cap = (rate / 200).max(1) * 4;
    let mut written = 0u64;
    let mut g = 0u64;
    while started.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        let due = (rate as f64 * started.elapsed().as_secs_f64()) as u64;
        let n = due.saturating_sub(written).min(tx_cap);
        if n == 0 {
            continue;
        }
        oc.batch_execute(&format!(
            "INSERT INTO orders (customer_id, product_id, quantity, price, status)
             SELECT 'CUST' || lpad(((g::bigint * 7919) % {customers} + 1)::text, 5, '0'),
                    'PROD' || (g % 1000), 1 + g % 9, round((random() * 500)::numeric, 2), 'PAID'
             FROM generate_series({}, {}) AS g",
            g + 1,
            g + n
        ))
        .await?;
        g += n;
        written += n;
    }
    let achieved = written as f64 / started.elapsed().as_secs_f64();
    let last = count(oc, "SELECT coalesce(max(id), 0)::bigint FROM orders").await?;
    Ok((first, last, achieved))
}

/// A virtualenv with the seed consumer's libraries and matplotlib (for `benches/report.py`),
/// created once.
fn seed_python(venv: &Path) -> Result<PathBuf> {
    let py = venv.join("bin/python");
    if !py.exists() {
        eprintln!(
            "creating {} (confluent-kafka, redis, psycopg2-binary, matplotlib)",
            venv.display()
        );
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(venv)
            .status()?
            .success()
            && Command::new(&py)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "confluent-kafka",
                    "redis",
                    "psycopg2-binary",
                    "matplotlib",
                ])
                .status()?
                .success();
        if !ok {
            bail!(
                "could not create the seed consumer's virtualenv in {}",
                venv.display()
            );
        }
    }
    Ok(py)
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = Args::parse();
    std::fs::create_dir_all(&a.out)?;
    let dbz = if debezium::requested() && a.big_rows > 0 {
        match debezium::Debezium::prepare() {
            Ok(d) => Some(d),
            Err(why) => {
                eprintln!("BENCH_DEBEZIUM=1, but Debezium's snapshot is skipped: {why}");
                None
            }
        }
    } else {
        None
    };
    let orders = Postgres::start().await?;
    let results = if a.results_db == "durable" {
        Postgres::builder()
            .setting("fsync", "on")
            .setting("synchronous_commit", "on")
            .setting("full_page_writes", "on")
            .start()
            .await?
    } else {
        Postgres::start().await?
    };
    let redis = Redis::start().await?;
    let tansu = Tansu::start().await?;
    let oc = orders.connect().await?;
    let rc = results.connect().await?;
    oc.batch_execute(&std::fs::read_to_string(repo("sql/init-orders.sql"))?)
        .await?;
    oc.batch_execute("TRUNCATE orders").await?;
    rc.batch_execute(&std::fs::read_to_string(repo("sql/init-results.sql"))?)
        .await?;
    eprintln!("loading {} customers into Redis", a.customers);
    let customers = load_customers(&redis, a.customers).await?;
    eprintln!("writing {} orders", a.rows);
    fill_orders(&oc, a.rows, a.customers).await?;

    // Events in Kafka: the source's snapshot, as the seed configures it.
    let mut source = deploy_config("orders-source", &orders, &results, &redis)?;
    source["config"]["topic.prefix"] = "bench".into();
    source["config"]["decimal.handling.mode"] = "string".into();
    source["config"]["snapshot.mode"] = "initial_only".into();
    let topic = "bench.public.orders";
    let bootstrap = tansu.bootstrap();
    eprintln!("snapshotting orders into {topic}");
    let produced = timed_walcast(&bootstrap, &[source.clone()], || async {
        Ok(high_watermark(&bootstrap, topic).await? >= a.rows as i64)
    })
    .await?;
    let produced_rate = a.rows as f64 / produced.seconds;
    eprintln!(
        "snapshot in Kafka after {:.1} s ({produced_rate:.0} rows/s, peak RSS {:.1} MB)",
        produced.seconds, produced.peak_mb
    );

    // The ceiling runs right before each walcast run, so both medians come from the same
    // stretch of time (this machine's speed drifts by half between quieter and busier spells).
    let copy_text = enriched_copy_text(&oc, &customers).await?;
    let mut copy_rates = Vec::new();

    let mut sink = deploy_config("results-sink", &orders, &results, &redis)?;
    sink["config"]["topics"] = topic.into();
    for kv in &a.sink_settings {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("--sink-setting {kv}: write KEY=VALUE");
        };
        sink["config"][k] = v.into();
    }
    let mut sink_runs = Vec::new();
    for run in 0..a.runs {
        let (copied, copy_time) = copy_ceiling(&rc, &copy_text).await?;
        let copy_rate = copied as f64 / copy_time.as_secs_f64();
        eprintln!("COPY ceiling run {}: {copy_rate:.0} rows/s", run + 1);
        copy_rates.push(copy_rate);
        rc.batch_execute("TRUNCATE results; DROP TABLE IF EXISTS walcast_offsets")
            .await?;
        let r = timed_walcast(&bootstrap, &[sink.clone()], || async {
            Ok(count(
                &rc,
                "SELECT coalesce(sum(next_offset), 0)::bigint FROM walcast_offsets WHERE connector = 'results-sink'",
            )
            .await
            .unwrap_or(0)
                >= a.rows as i64)
        })
        .await?;
        let n = count(&rc, "SELECT count(*) FROM results").await?;
        if n != a.rows as i64 {
            bail!("results holds {n} rows, expected {}", a.rows);
        }
        eprintln!(
            "walcast results sink run {}: {:.0} rows/s, peak RSS {:.1} MB, CPU {:.2} s",
            run + 1,
            a.rows as f64 / r.seconds,
            r.peak_mb,
            r.cpu_s
        );
        sink_runs.push(r);
    }
    let sink_rate = median(
        sink_runs
            .iter()
            .map(|r| a.rows as f64 / r.seconds)
            .collect(),
    );
    let copy_rate = median(copy_rates.clone());
    let sink_rss = sink_runs.iter().map(|r| r.peak_mb).fold(0.0, f64::max);
    let sink_cpu = median(sink_runs.iter().map(|r| r.cpu_s).collect());

    let py = seed_python(&a.venv)?;
    let script = a
        .seed_consumer
        .clone()
        .unwrap_or_else(|| repo("../shared/reference/seed-consumer/seed_consumer.py"));
    if a.seed_rows > 0 && !script.is_file() {
        eprintln!(
            "the seed consumer is not at {}: its comparison is skipped (pass --seed-consumer PATH)",
            script.display()
        );
    }
    let seed_rate = if a.seed_rows > 0 && script.is_file() {
        rc.batch_execute("TRUNCATE results").await?;
        let out = Command::new(py)
            .arg(&script)
            .arg(&bootstrap)
            .arg(topic)
            .arg(redis.port().to_string())
            .arg(results.connection_string())
            .arg(a.seed_rows.to_string())
            .output()
            .with_context(|| format!("running {}", script.display()))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let ms: f64 = text
            .split_whitespace()
            .find_map(|w| w.strip_prefix("ms="))
            .and_then(|v| v.parse().ok())
            .with_context(|| {
                format!(
                    "seed consumer output {text:?} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
        let rate = a.seed_rows as f64 / (ms / 1000.0);
        eprintln!("seed consumer: {rate:.0} rows/s");
        Some(rate)
    } else {
        None
    };

    // WAL -> results: slot first, then the backlog, then the whole pipeline.
    let wal = if a.no_wal {
        None
    } else {
        let wal_source = streaming_source("wal", &orders, &results, &redis)?;
        // The slot exists once the connector ran; then the backlog is written while nothing reads.
        let w = Walcast::start(&bootstrap, std::slice::from_ref(&wal_source))?;
        wait_bench_slot(&oc, "wal").await?;
        w.stop();
        oc.batch_execute("TRUNCATE orders").await?;
        rc.batch_execute("TRUNCATE results; DROP TABLE IF EXISTS walcast_offsets")
            .await?;
        eprintln!("writing a WAL backlog of {} orders", a.rows);
        fill_orders(&oc, a.rows, a.customers).await?;
        // The topic exists as it would after the pipeline's first run; otherwise the sinks find
        // it only at their next topic refresh (consumer.override.metadata.max.age.ms, 5 s).
        let admin = walcast_kafka::connect(
            std::slice::from_ref(&bootstrap),
            "walcast-bench",
            Duration::from_secs(10),
        )
        .await?;
        walcast_kafka::ensure_topic(&admin, "wal.public.orders", 1, 1, Duration::from_secs(10))
            .await?;
        let mut wal_sink = sink.clone();
        wal_sink["config"]["topics"] = "wal.public.orders".into();
        let mut cache = deploy_config("orders-cache", &orders, &results, &redis)?;
        cache["config"]["topics"] = "wal.public.orders".into();
        let r = timed_walcast(&bootstrap, &[wal_source, wal_sink, cache], || async {
            Ok(count(&rc, "SELECT count(*) FROM results")
                .await
                .unwrap_or(0)
                >= a.rows as i64)
        })
        .await?;
        eprintln!(
            "WAL -> results: {:.0} rows/s, peak RSS {:.1} MB",
            a.rows as f64 / r.seconds,
            r.peak_mb
        );
        Some(r)
    };

    // Latency at a steady offered load, the whole pipeline running.
    let mut latency = Vec::new();
    let mut latency_rss = None;
    if !a.latency_rates.is_empty() {
        rc.batch_execute(
            "ALTER TABLE results ADD COLUMN IF NOT EXISTS visible_at timestamptz DEFAULT clock_timestamp()",
        )
        .await?;
        // The throwaway servers run with synchronous_commit=off (fast fixtures), which leaves a
        // commit's WAL to the WAL writer's next round (wal_writer_delay, 200 ms) before a
        // walsender may send it; production commits are synchronous, so the offered load is too.
        oc.batch_execute("SET synchronous_commit = on").await?;
        let lat_source = streaming_source("lat", &orders, &results, &redis)?;
        let mut lat_sink = sink.clone();
        lat_sink["config"]["topics"] = "lat.public.orders".into();
        let mut lat_cache = deploy_config("orders-cache", &orders, &results, &redis)?;
        lat_cache["config"]["topics"] = "lat.public.orders".into();
        let wait = a.latency_fetch_wait_ms.to_string();
        lat_sink["config"]["consumer.override.fetch.max.wait.ms"] = wait.clone().into();
        lat_cache["config"]["consumer.override.fetch.max.wait.ms"] = wait.into();
        let mut w = Walcast::start(&bootstrap, &[lat_source, lat_sink, lat_cache])?;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Seen::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = tokio::spawn(watch_topic(
            bootstrap.clone(),
            "lat.public.orders".into(),
            seen.clone(),
            stop.clone(),
            Duration::from_millis(a.latency_fetch_wait_ms),
        ));
        let outcome = async {
            wait_bench_slot(&oc, "lat").await?;
            // One warm-up row through the whole pipeline before the clock matters.
            let (_, warm, _) = offer_load(&oc, 200, 1, a.customers).await?;
            walcast_testkit::eventually(Duration::from_secs(60), "the warm-up row in results", || async {
                (count(&rc, &format!("SELECT count(*) FROM results WHERE order_id = {warm}"))
                    .await
                    .unwrap_or(0)
                    == 1)
                    .then_some(())
            })
            .await?;
            let mut out = Vec::new();
            for &rate in &a.latency_rates {
                w.check_alive()?;
                eprintln!("offering {rate} rows/s for {} s", a.latency_secs);
                let (first, last, achieved) =
                    offer_load(&oc, rate, a.latency_secs, a.customers).await?;
                let n = last - first + 1;
                let range = format!("order_id BETWEEN {first} AND {last}");
                walcast_testkit::eventually(Duration::from_secs(300), "the offered rows in results", || async {
                    (count(&rc, &format!("SELECT count(*) FROM results WHERE {range}"))
                        .await
                        .unwrap_or(0)
                        >= n)
                        .then_some(())
                })
                .await?;
                walcast_testkit::eventually(Duration::from_secs(60), "the offered rows in Kafka", || async {
                    let s = seen.lock().ok()?;
                    ((first..=last).all(|id| s.contains_key(&id))).then_some(())
                })
                .await?;
                let visible = rc
                    .query(
                        &format!(
                            "SELECT order_id::bigint, (extract(epoch FROM visible_at) * 1000)::float8
                             FROM results WHERE {range}"
                        ),
                        &[],
                    )
                    .await?;
                let s = seen.lock().map_err(|_| anyhow::anyhow!("topic watcher panicked"))?;
                let mut to_results = Vec::with_capacity(visible.len());
                let mut to_kafka = Vec::with_capacity(visible.len());
                for row in &visible {
                    let id: i64 = row.get(0);
                    let at: f64 = row.get(1);
                    if let Some(&(ts, received)) = s.get(&id) {
                        to_results.push(at - ts as f64);
                        to_kafka.push((received - ts) as f64);
                    }
                }
                let results_d = distribution(to_results);
                let kafka_d = distribution(to_kafka);
                eprintln!(
                    "latency at {rate} rows/s (achieved {achieved:.0}): to results p50 {:.0} p99 {:.0} max {:.0} ms; to a Kafka consumer p50 {:.0} p99 {:.0} max {:.0} ms",
                    results_d["p50_ms"].as_f64().unwrap_or(f64::NAN),
                    results_d["p99_ms"].as_f64().unwrap_or(f64::NAN),
                    results_d["max_ms"].as_f64().unwrap_or(f64::NAN),
                    kafka_d["p50_ms"].as_f64().unwrap_or(f64::NAN),
                    kafka_d["p99_ms"].as_f64().unwrap_or(f64::NAN),
                    kafka_d["max_ms"].as_f64().unwrap_or(f64::NAN)
                );
                out.push(json!({
                    "offered_rows_per_s": rate,
                    "achieved_rows_per_s": achieved,
                    "rows": n,
                    "fetch_max_wait_ms": a.latency_fetch_wait_ms,
                    "to_results": results_d,
                    "to_kafka_consumer": kafka_d,
                }));
            }
            Ok::<_, anyhow::Error>(out)
        }
        .await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = watcher.await;
        latency_rss = peak_rss_kib(w.pid()).map(|k| k as f64 / 1024.0);
        w.stop();
        latency = outcome?;
    }

    // One table of `big_rows` rows written in ONE transaction behind a slot: the read ceiling,
    // walcast's snapshot of it, and walcast's source draining the transaction.
    let mut dbz_snapshot: Option<std::result::Result<debezium::DebeziumRun, String>> = None;
    let big = if a.big_rows == 0 {
        None
    } else {
        let big_source = streaming_source("big", &orders, &results, &redis)?;
        let w = Walcast::start(&bootstrap, std::slice::from_ref(&big_source))?;
        wait_bench_slot(&oc, "big").await?;
        w.stop();
        // Slots the earlier scenarios left behind would keep the WAL of the big transaction.
        oc.batch_execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
             WHERE slot_name <> 'big_bench' AND NOT active",
        )
        .await?;
        eprintln!("writing {} orders in one transaction", a.big_rows);
        oc.batch_execute("TRUNCATE orders").await?;
        oc.batch_execute(&format!(
            "INSERT INTO orders (customer_id, product_id, quantity, price, status)
             SELECT 'CUST' || lpad(((g::bigint * 7919) % {} + 1)::text, 5, '0'),
                    'PROD' || (g % 1000), 1 + g % 9, round((random() * 500)::numeric, 2),
                    (ARRAY['PENDING','PAID','SHIPPED'])[1 + g % 3]
             FROM generate_series(1, {}) AS g",
            a.customers, a.big_rows
        ))
        .await?;
        oc.batch_execute("VACUUM ANALYZE orders").await?;

        let read_started = Instant::now();
        let copy_bytes = {
            use futures::TryStreamExt;
            let stream = oc.copy_out("COPY (SELECT * FROM orders) TO STDOUT").await?;
            futures::pin_mut!(stream);
            let mut bytes = 0usize;
            while let Some(chunk) = stream.try_next().await? {
                bytes += chunk.len();
            }
            bytes
        };
        let read_time = read_started.elapsed().as_secs_f64();
        eprintln!(
            "COPY TO STDOUT of {} rows: {:.0} rows/s ({:.1} MB)",
            a.big_rows,
            a.big_rows as f64 / read_time,
            copy_bytes as f64 / 1e6
        );

        let mut snap = deploy_config("orders-source", &orders, &results, &redis)?;
        snap["config"]["topic.prefix"] = "snap".into();
        snap["config"]["slot.name"] = "snap_bench".into();
        snap["config"]["publication.name"] = "snap_bench".into();
        snap["config"]["snapshot.mode"] = "initial_only".into();
        let snap_run = timed_walcast(&bootstrap, &[snap], || async {
            Ok(high_watermark(&bootstrap, "snap.public.orders").await? >= a.big_rows as i64)
        })
        .await?;
        eprintln!(
            "snapshot of {} rows into Kafka: {:.0} rows/s, peak RSS {:.1} MB",
            a.big_rows,
            a.big_rows as f64 / snap_run.seconds,
            snap_run.peak_mb
        );
        let tx_run = timed_walcast_within(
            &bootstrap,
            &[big_source],
            Duration::from_secs(a.big_tx_timeout),
            || async {
                Ok(high_watermark(&bootstrap, "big.public.orders").await? >= a.big_rows as i64)
            },
        )
        .await
        .map_err(|e| format!("{e:#}"));
        match &tx_run {
            Ok(r) => eprintln!(
                "one {}-row transaction from the slot into Kafka: {:.0} rows/s, peak RSS {:.1} MB",
                a.big_rows,
                a.big_rows as f64 / r.seconds,
                r.peak_mb
            ),
            Err(e) => eprintln!("one {}-row transaction: {e}", a.big_rows),
        }
        if let Some(d) = &dbz {
            let mut config =
                deploy_config("orders-source", &orders, &results, &redis)?["config"].clone();
            config["topic.prefix"] = "dbzsnap".into();
            config["slot.name"] = "dbz_snap".into();
            config["publication.name"] = "dbz_snap".into();
            config["snapshot.mode"] = "initial_only".into();
            let topic = "dbzsnap.public.orders";
            let admin = walcast_kafka::connect(
                std::slice::from_ref(&bootstrap),
                "walcast-bench",
                Duration::from_secs(10),
            )
            .await?;
            walcast_kafka::ensure_topic(&admin, topic, 1, 1, Duration::from_secs(10)).await?;
            eprintln!("Debezium 3.6.3 snapshotting the same {} rows", a.big_rows);
            let run = d
                .run(
                    &config,
                    &[],
                    &bootstrap,
                    topic,
                    a.big_rows,
                    Duration::from_secs(1800),
                )
                .await;
            let run = match run {
                Ok(r) => {
                    let in_kafka = high_watermark(&bootstrap, topic).await?;
                    if in_kafka < a.big_rows as i64 {
                        Err(format!(
                            "only {in_kafka} of {} rows reached {topic}",
                            a.big_rows
                        ))
                    } else {
                        Ok(r)
                    }
                }
                Err(e) => Err(format!("{e:#}")),
            };
            match &run {
                Ok(r) => eprintln!(
                    "Debezium's snapshot of {} rows into Kafka: {:.0} rows/s, JVM peak RSS {:.1} MB",
                    a.big_rows,
                    a.big_rows as f64 / r.seconds,
                    r.peak_mb
                ),
                Err(e) => eprintln!("Debezium's snapshot: {e}"),
            }
            // Its slot (the snapshot's consistent point) would hold WAL from here on.
            let _ = oc
                .batch_execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                     WHERE slot_name = 'dbz_snap' AND NOT active",
                )
                .await;
            dbz_snapshot = Some(run);
        }
        Some((read_time, copy_bytes, snap_run, tx_run))
    };

    let report = json!({
        "rows": a.rows,
        "customers": a.customers,
        "results_db": a.results_db,
        "machine": machine(),
        "kafka_to_results": {
            "walcast_rows_per_s": sink_rate,
            "walcast_runs_s": sink_runs.iter().map(|r| r.seconds).collect::<Vec<_>>(),
            "walcast_peak_rss_mb": sink_rss,
            "walcast_cpu_s": sink_cpu,
            "copy_ceiling_rows_per_s": copy_rate,
            "copy_ceiling_runs_rows_per_s": copy_rates,
            "seed_consumer_rows_per_s": seed_rate,
            "seed_consumer_rows": a.seed_rows,
            "sink_settings": a.sink_settings,
        },
        "wal_to_results": wal.as_ref().map(|r| json!({
            "walcast_rows_per_s": a.rows as f64 / r.seconds,
            "seconds": r.seconds,
            "peak_rss_mb": r.peak_mb,
            "cpu_s": r.cpu_s,
        })),
        "snapshot_to_kafka": {
            "walcast_rows_per_s": produced_rate,
            "peak_rss_mb": produced.peak_mb,
        },
        "latency": latency,
        "latency_peak_rss_mb": latency_rss,
        "big": big.as_ref().map(|(read, bytes, snap, tx)| json!({
            "rows": a.big_rows,
            "copy_to_stdout_rows_per_s": a.big_rows as f64 / read,
            "copy_to_stdout_mb": *bytes as f64 / 1e6,
            "snapshot_rows_per_s": a.big_rows as f64 / snap.seconds,
            "snapshot_peak_rss_mb": snap.peak_mb,
            "snapshot_cpu_s": snap.cpu_s,
            "one_tx_rows_per_s": tx.as_ref().ok().map(|t| a.big_rows as f64 / t.seconds),
            "one_tx_peak_rss_mb": tx.as_ref().ok().map(|t| t.peak_mb),
            "one_tx_cpu_s": tx.as_ref().ok().map(|t| t.cpu_s),
            "one_tx_error": tx.as_ref().err(),
        })),
        "debezium_snapshot": dbz_snapshot.as_ref().map(|r| match r {
            Ok(d) => json!({
                "version": "3.6.3.Final",
                "rows": a.big_rows,
                "rows_per_s": a.big_rows as f64 / d.seconds,
                "seconds": d.seconds,
                "rows_per_s_after_first_event": d.after_first_record_seconds.map(|s| a.big_rows as f64 / s),
                "peak_rss_mb": d.peak_mb,
                "cpu_s": d.cpu_s,
                "walcast_over_debezium": big.as_ref().map(|(_, _, snap, _)| d.seconds / snap.seconds),
            }),
            Err(e) => json!({ "version": "3.6.3.Final", "rows": a.big_rows, "error": e }),
        }),
    });
    let mut md = String::new();
    md.push_str(&format!(
        "| scenario ({} rows, {}) | rows/s | vs. | peak RSS |\n|---|---|---|---|\n",
        a.rows,
        machine()
    ));
    md.push_str(&format!(
        "| Kafka → results: plain `COPY` of enriched rows (ceiling), median of {} | {copy_rate:.0} | 1.00× | – |\n",
        a.runs
    ));
    md.push_str(&format!(
        "| Kafka → results: walcast results sink (unwrap + RedisLookup + upsert), median of {} | {sink_rate:.0} | {:.2}× COPY | {sink_rss:.1} MB |\n",
        a.runs,
        sink_rate / copy_rate
    ));
    if let Some(s) = seed_rate {
        md.push_str(&format!(
            "| Kafka → results: seed Python consumer ({} events) | {s:.0} | walcast is {:.0}× faster | – |\n",
            a.seed_rows,
            sink_rate / s
        ));
    }
    if let Some(r) = &wal {
        md.push_str(&format!(
            "| WAL → results (source + results sink + Redis cache sink) | {:.0} | – | {:.1} MB |\n",
            a.rows as f64 / r.seconds,
            r.peak_mb
        ));
    }
    let ms = |v: &Value| v.as_f64().map_or("–".to_string(), |m| format!("{m:.0}"));
    for l in &latency {
        md.push_str(&format!(
            "| latency at {} rows/s offered ({} achieved): source commit → results p50 / p99 / max | {} / {} / {} ms | to a Kafka consumer: {} / {} / {} ms | {} |\n",
            l["offered_rows_per_s"],
            ms(&l["achieved_rows_per_s"]),
            ms(&l["to_results"]["p50_ms"]),
            ms(&l["to_results"]["p99_ms"]),
            ms(&l["to_results"]["max_ms"]),
            ms(&l["to_kafka_consumer"]["p50_ms"]),
            ms(&l["to_kafka_consumer"]["p99_ms"]),
            ms(&l["to_kafka_consumer"]["max_ms"]),
            latency_rss.map_or("–".to_string(), |m| format!("{m:.1} MB")),
        ));
    }
    if let Some((read, _, snap, tx)) = &big {
        let copy_rate = a.big_rows as f64 / read;
        md.push_str(&format!(
            "| snapshot of {} rows: `COPY (SELECT * FROM orders) TO STDOUT`, one connection (read ceiling) | {copy_rate:.0} | 1.00× | – |\n",
            a.big_rows
        ));
        md.push_str(&format!(
            "| snapshot of {} rows: walcast → Kafka (acked) | {:.0} | {:.2}× COPY TO | {:.1} MB |\n",
            a.big_rows,
            a.big_rows as f64 / snap.seconds,
            a.big_rows as f64 / snap.seconds / copy_rate,
            snap.peak_mb
        ));
        match tx {
            Ok(tx) => md.push_str(&format!(
                "| one {}-row transaction: slot → Kafka (acked) | {:.0} | – | {:.1} MB |\n",
                a.big_rows,
                a.big_rows as f64 / tx.seconds,
                tx.peak_mb
            )),
            Err(e) => md.push_str(&format!(
                "| one {}-row transaction: slot → Kafka (acked) | did not finish: {e} | – | – |\n",
                a.big_rows
            )),
        }
        match &dbz_snapshot {
            Some(Ok(d)) => md.push_str(&format!(
                "| snapshot of {} rows: Debezium 3.6.3 embedded + Java producer → Kafka (acked, from JVM start) | {:.0} | walcast is {:.2}× Debezium | {:.1} MB (JVM) |\n",
                a.big_rows,
                a.big_rows as f64 / d.seconds,
                d.seconds / snap.seconds,
                d.peak_mb
            )),
            Some(Err(e)) => md.push_str(&format!(
                "| snapshot of {} rows: Debezium 3.6.3 → Kafka | did not finish: {e} | – | – |\n",
                a.big_rows
            )),
            None => {}
        }
    }
    std::fs::write(
        a.out.join("pipeline.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    std::fs::write(a.out.join("pipeline.md"), &md)?;
    println!("{md}");
    println!(
        "reports: {} and {}",
        a.out.join("pipeline.json").display(),
        a.out.join("pipeline.md").display()
    );
    Ok(())
}

/// Where the numbers were measured.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

/// The high watermark of partition 0 of `topic` (0 when it does not exist yet).
async fn high_watermark(bootstrap: &str, topic: &str) -> Result<i64> {
    let client = walcast_kafka::connect(
        &[bootstrap.to_string()],
        "walcast-bench",
        Duration::from_secs(10),
    )
    .await?;
    if walcast_kafka::topic_partitions(&client, topic)
        .await?
        .is_none()
    {
        return Ok(0);
    }
    let mut reader = walcast_kafka::PartitionReader::new(&client, topic, 0, 0)
        .await?
        .with_max_bytes(1);
    let (_, hw) = reader.next_batch(Duration::from_millis(10)).await?;
    Ok(hw)
}
