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
//!    - the write ceiling: the same rows, already enriched, with one `COPY results FROM STDIN`;
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
//! Prints a table and writes `target/bench/pipeline.json` and `target/bench/pipeline.md`.
//! Not a test: nothing here asserts on time. Run with `make bench`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
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
    /// Where the JSON and Markdown reports go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn cpu_seconds(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
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
            .env("RUST_LOG", "warn")
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
    }
}

async fn count(pg: &tokio_postgres::Client, sql: &str) -> Result<i64> {
    Ok(pg.query_one(sql, &[]).await?.get::<_, i64>(0))
}

async fn fill_orders(client: &tokio_postgres::Client, rows: u64, customers: u64) -> Result<()> {
    let mut written = 0u64;
    while written < rows {
        let n = 10_000.min(rows - written);
        client
            .batch_execute(&format!(
                "INSERT INTO orders (customer_id, product_id, quantity, price, status)
                 SELECT 'CUST' || lpad(((g * 7919) % {customers} + 1)::text, 5, '0'),
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

/// The write ceiling: the orders, enriched in memory, into the empty `results` with one COPY.
async fn copy_ceiling(
    orders: &tokio_postgres::Client,
    results: &tokio_postgres::Client,
    customers: &HashMap<String, [String; 3]>,
) -> Result<(u64, Duration)> {
    use futures::SinkExt;
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
    results.batch_execute("TRUNCATE results").await?;
    let started = Instant::now();
    let sink = results
        .copy_in("COPY results FROM STDIN")
        .await
        .context("COPY results")?;
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from(text)).await?;
    let n = sink.finish().await?;
    Ok((n, started.elapsed()))
}

struct Run {
    seconds: f64,
    peak_mb: f64,
    cpu_s: f64,
}

/// Start walcast with `connectors` and wait until `done` says the work is finished.
async fn timed_walcast<F, Fut>(bootstrap: &str, connectors: &[Value], mut done: F) -> Result<Run>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let mut w = Walcast::start(bootstrap, connectors)?;
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut peak = 0;
    let elapsed = loop {
        peak = peak.max(peak_rss_kib(w.pid()).unwrap_or(0));
        if done().await? {
            break w.started.elapsed();
        }
        w.check_alive()?;
        if Instant::now() > deadline {
            bail!("walcast did not finish within 15 minutes");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
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

/// A virtualenv with the seed consumer's libraries, created once under `out`.
fn seed_python(out: &Path) -> Result<PathBuf> {
    let venv = out.join("venv");
    let py = venv.join("bin/python");
    if !py.exists() {
        eprintln!(
            "creating {} (confluent-kafka, redis, psycopg2-binary)",
            venv.display()
        );
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
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
    let orders = Postgres::start().await?;
    let results = Postgres::start().await?;
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
    eprintln!("snapshot in Kafka after {:.1} s", produced.seconds);

    let (copied, copy_time) = copy_ceiling(&oc, &rc, &customers).await?;
    let copy_rate = copied as f64 / copy_time.as_secs_f64();
    eprintln!("COPY ceiling: {copy_rate:.0} rows/s");

    let mut sink = deploy_config("results-sink", &orders, &results, &redis)?;
    sink["config"]["topics"] = topic.into();
    let mut sink_runs = Vec::new();
    for run in 0..a.runs {
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
            "walcast results sink run {}: {:.0} rows/s, peak RSS {:.1} MB",
            run + 1,
            a.rows as f64 / r.seconds,
            r.peak_mb
        );
        sink_runs.push(r);
    }
    let sink_rate = median(
        sink_runs
            .iter()
            .map(|r| a.rows as f64 / r.seconds)
            .collect(),
    );
    let sink_rss = sink_runs.iter().map(|r| r.peak_mb).fold(0.0, f64::max);
    let sink_cpu = median(sink_runs.iter().map(|r| r.cpu_s).collect());

    let seed_rate = if a.seed_rows > 0 {
        rc.batch_execute("TRUNCATE results").await?;
        let py = seed_python(&a.out)?;
        let script = repo("../shared/reference/seed-consumer/seed_consumer.py");
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
        let mut wal_source = deploy_config("orders-source", &orders, &results, &redis)?;
        wal_source["config"]["topic.prefix"] = "wal".into();
        wal_source["config"]["slot.name"] = "wal_bench".into();
        wal_source["config"]["publication.name"] = "wal_bench".into();
        wal_source["config"]["snapshot.mode"] = "no_data".into();
        // The slot exists once the connector ran; then the backlog is written while nothing reads.
        let w = Walcast::start(&bootstrap, &[wal_source.clone()])?;
        walcast_testkit::eventually(Duration::from_secs(60), "the bench slot", || async {
            (count(&oc, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'wal_bench' AND active")
                .await
                .unwrap_or(0)
                == 1)
                .then_some(())
        })
        .await?;
        w.stop();
        oc.batch_execute("TRUNCATE orders").await?;
        rc.batch_execute("TRUNCATE results; DROP TABLE IF EXISTS walcast_offsets")
            .await?;
        eprintln!("writing a WAL backlog of {} orders", a.rows);
        fill_orders(&oc, a.rows, a.customers).await?;
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

    let report = json!({
        "rows": a.rows,
        "customers": a.customers,
        "machine": machine(),
        "kafka_to_results": {
            "walcast_rows_per_s": sink_rate,
            "walcast_runs_s": sink_runs.iter().map(|r| r.seconds).collect::<Vec<_>>(),
            "walcast_peak_rss_mb": sink_rss,
            "walcast_cpu_s": sink_cpu,
            "copy_ceiling_rows_per_s": copy_rate,
            "seed_consumer_rows_per_s": seed_rate,
            "seed_consumer_rows": a.seed_rows,
        },
        "wal_to_results": wal.as_ref().map(|r| json!({
            "walcast_rows_per_s": a.rows as f64 / r.seconds,
            "seconds": r.seconds,
            "peak_rss_mb": r.peak_mb,
            "cpu_s": r.cpu_s,
        })),
    });
    let mut md = String::new();
    md.push_str(&format!(
        "| scenario ({} rows, {}) | rows/s | vs. | peak RSS |\n|---|---|---|---|\n",
        a.rows,
        machine()
    ));
    md.push_str(&format!(
        "| Kafka → results: plain `COPY` of enriched rows (ceiling) | {copy_rate:.0} | 1.00× | – |\n"
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
