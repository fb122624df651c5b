//! The source drain benchmark: how fast walcast empties a replication slot's backlog into Kafka,
//! next to `pg_recvlogical` (pgoutput to /dev/null, the ceiling for any client of one slot) on the
//! same backlog, in the same run.
//!
//! 1. Start throwaway PostgreSQL and tansu (the test kit's), create `orders` (sql/seed.sql) and a
//!    publication, and create three slots at the same position: `recv_before`, `walcast_bench`,
//!    `recv_after`.
//! 2. Write the backlog (`--rows`, default 200,000, in transactions of `--tx-rows` rows) while
//!    nothing reads, and note the WAL end.
//! 3. Drain `recv_before` with pg_recvlogical (`--endpos`), then start the release `walcast`
//!    binary with a connector on `walcast_bench` (`snapshot.mode=no_data`) and stop the clock when
//!    that slot's `confirmed_flush_lsn` passes the backlog's end (walcast confirms only what Kafka
//!    acknowledged), then drain `recv_after`.
//! 4. Check every row reached Kafka, and print rates and walcast's peak RSS (VmHWM).
//! 5. With `BENCH_DEBEZIUM=1`: a fourth slot `dbz_bench` at the same position, drained after the
//!    others by real Debezium 3.6.3 (embedded engine, JsonConverter with schemas, the Java
//!    KafkaProducer as a Connect worker configures it; `src/debezium.rs`) into its own topic;
//!    clock from JVM start until the producer had every row acknowledged, and the JVM's peak RSS.
//!    Its producer compresses with `--compression` when given, else with the producer's default
//!    (none). Skipped with a message when java, the jars or the reference directory are missing.
//!
//! Run with `make bench` (release build). Not a test: nothing here asserts on time.

mod debezium;
mod procstat;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use procstat::{cpu_seconds, peak_rss_kib};
use walcast_pgoutput::Lsn;
use walcast_testkit::{free_port, pg_bin_dir, workspace_bin, Postgres, Tansu};

struct Args {
    rows: u64,
    tx_rows: u64,
    /// Record a `perf` CPU profile of walcast during the drain into this file.
    perf: Option<String>,
    /// `producer.override.compression.type` for walcast's connector (walcast's default when
    /// not given).
    compression: Option<String>,
    /// Also write the figures as JSON to this file (for `benches/report.py`).
    json: Option<String>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        rows: 200_000,
        tx_rows: 1_000,
        perf: None,
        compression: None,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = |name: &str| -> Result<u64> {
            it.next()
                .with_context(|| format!("{name} needs a value"))?
                .parse()
                .with_context(|| format!("{name} needs a number"))
        };
        match flag.as_str() {
            "--rows" => a.rows = val("--rows")?,
            "--tx-rows" => a.tx_rows = val("--tx-rows")?.max(1),
            "-h" | "--help" => {
                println!(
                    "drain-bench: how fast walcast drains a replication slot's backlog into Kafka, next to pg_recvlogical\n\n\
                     Usage: drain-bench [--rows N] [--tx-rows N] [--compression none|gzip|snappy|lz4|zstd] [--perf FILE] [--json FILE]\n\n\
                     --rows N            rows in the backlog (default 200000)\n\
                     --tx-rows N         rows per transaction (default 1000)\n\
                     --compression C     walcast's producer.override.compression.type (default: walcast's, zstd)\n\
                     --perf FILE         record a perf CPU profile of walcast\n\
                     --json FILE         also write the figures as JSON"
                );
                std::process::exit(0);
            }
            "--perf" => a.perf = Some(it.next().context("--perf needs a file")?),
            "--json" => a.json = Some(it.next().context("--json needs a file")?),
            "--compression" => {
                a.compression = Some(it.next().context("--compression needs a codec")?)
            }
            other => bail!(
                "unknown argument {other}; use --rows N --tx-rows N --compression CODEC --perf FILE --json FILE"
            ),
        }
    }
    Ok(a)
}

async fn lsn_of(client: &tokio_postgres::Client, sql: &str) -> Result<u64> {
    let row = client.query_one(sql, &[]).await?;
    let s: Option<String> = row.get(0);
    Ok(s.as_deref().unwrap_or("0/0").parse::<Lsn>()?.0)
}

fn recvlogical(pg: &Postgres, slot: &str, end: u64) -> Result<Duration> {
    let bin = pg_bin_dir()?.join("pg_recvlogical");
    let started = Instant::now();
    let status = Command::new(bin)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port().to_string(),
            "-U",
            "postgres",
        ])
        .args(["-d", "postgres", "--slot", slot, "--start", "--no-loop"])
        .args(["--endpos", &Lsn(end).to_string()])
        .args(["-o", "proto_version=1", "-o", "publication_names=bench_pub"])
        .args(["-f", "/dev/null"])
        .env("PGPASSWORD", "postgres")
        .stderr(Stdio::inherit())
        .status()
        .context("running pg_recvlogical")?;
    let took = started.elapsed();
    if !status.success() {
        bail!("pg_recvlogical exited with {status}");
    }
    Ok(took)
}

/// The pid of the process listening as the broker (tansu) on `port`.
fn broker_pid(port: u16) -> Option<u32> {
    let out = Command::new("pgrep")
        .args([
            "-f",
            &format!("tansu broker --listener-url tcp://127.0.0.1:{port}"),
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = args()?;
    let walcast = workspace_bin("walcast")?;
    let dbz = if debezium::requested() {
        match debezium::Debezium::prepare() {
            Ok(d) => Some(d),
            Err(why) => {
                eprintln!("BENCH_DEBEZIUM=1, but the Debezium run is skipped: {why}");
                None
            }
        }
    } else {
        None
    };
    let pg = Postgres::start().await?;
    let tansu = Tansu::start().await?;
    let client = pg.connect().await?;
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql/seed.sql");
    client
        .batch_execute(&std::fs::read_to_string(&seed).context("reading sql/seed.sql")?)
        .await?;
    client
        .batch_execute("CREATE PUBLICATION bench_pub FOR TABLE public.orders")
        .await?;
    let mut slots = vec!["recv_before", "walcast_bench", "recv_after"];
    if dbz.is_some() {
        slots.push("dbz_bench");
    }
    for slot in slots {
        client
            .execute(
                "SELECT pg_create_logical_replication_slot($1, 'pgoutput')",
                &[&slot],
            )
            .await?;
    }

    eprintln!(
        "writing backlog: {} rows in transactions of {}",
        a.rows, a.tx_rows
    );
    let write_start = Instant::now();
    let mut written = 0u64;
    while written < a.rows {
        let n = a.tx_rows.min(a.rows - written);
        client
            .batch_execute(&format!(
                "INSERT INTO orders (customer_id, status, amount, note)
                 SELECT (g % 5000) + 1, (ARRAY['new','paid','shipped','delivered'])[1 + g % 4],
                        round((random() * 1000)::numeric, 2),
                        'order note ' || md5(g::text)
                 FROM generate_series({} , {}) AS g",
                written + 1,
                written + n
            ))
            .await?;
        written += n;
    }
    // The insert position, not pg_current_wal_lsn() (the write position): the throwaway servers
    // run with synchronous_commit=off, so the last commit's WAL may not be written yet, and a
    // one-transaction backlog then ended before its own commit (the slot's start already passed it).
    let end = lsn_of(&client, "SELECT pg_current_wal_insert_lsn()::text").await?;
    eprintln!(
        "backlog written in {:.1} s, WAL end {}",
        write_start.elapsed().as_secs_f64(),
        Lsn(end)
    );

    let before = recvlogical(&pg, "recv_before", end)?;

    // walcast, as a user runs it: worker properties + the connector's JSON.
    let dir = tempfile::tempdir()?;
    let rest_port = free_port();
    let worker = dir.path().join("worker.properties");
    std::fs::write(
        &worker,
        format!(
            "bootstrap.servers={}\nlisteners=http://127.0.0.1:{rest_port}\nwalcast.state.dir={}\n",
            tansu.bootstrap(),
            dir.path().join("state").display()
        ),
    )?;
    let connector = dir.path().join("bench.json");
    let mut connector_json = serde_json::json!({
            "name": "bench",
            "config": {
                "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
                "database.hostname": "127.0.0.1",
                "database.port": pg.port().to_string(),
                "database.user": "postgres",
                "database.password": "postgres",
                "database.dbname": "postgres",
                "database.sslmode": "disable",
                "topic.prefix": "bench",
                "plugin.name": "pgoutput",
                "slot.name": "walcast_bench",
                "publication.name": "bench_pub",
                "publication.autocreate.mode": "disabled",
                "snapshot.mode": "no_data",
            }
    });
    if let Some(c) = &a.compression {
        connector_json["config"]["producer.override.compression.type"] = c.clone().into();
    }
    std::fs::write(&connector, serde_json::to_vec_pretty(&connector_json)?)?;
    let broker = broker_pid(tansu.port());
    let broker_cpu_before = broker.and_then(cpu_seconds).unwrap_or(0.0);
    let started = Instant::now();
    let mut child = Command::new(&walcast)
        .arg("standalone")
        .arg(&worker)
        .arg(&connector)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", walcast.display()))?;
    let pid = child.id();
    let mut perf = match &a.perf {
        Some(file) => Some(
            Command::new("perf")
                .args([
                    "record",
                    "-e",
                    "cpu-clock",
                    "-F",
                    "2000",
                    "-g",
                    "-o",
                    file,
                    "-p",
                ])
                .arg(pid.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting perf record")?,
        ),
        None => None,
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut peak_kib = 0;
    let walcast_time = loop {
        let confirmed = lsn_of(
            &client,
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'walcast_bench'",
        )
        .await?;
        peak_kib = peak_kib.max(peak_rss_kib(pid).unwrap_or(0));
        if confirmed >= end {
            break started.elapsed();
        }
        if let Some(status) = child.try_wait()? {
            bail!("walcast exited early with {status}");
        }
        if Instant::now() > deadline {
            bail!("walcast did not confirm {} within 10 minutes", Lsn(end));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    peak_kib = peak_kib.max(peak_rss_kib(pid).unwrap_or(0));
    let walcast_cpu = cpu_seconds(pid).unwrap_or(0.0);
    if let Some(p) = perf.as_mut() {
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(p.id() as i32, libc::SIGINT);
        }
        let _ = p.wait();
    }
    let broker_cpu = broker.and_then(cpu_seconds).unwrap_or(0.0) - broker_cpu_before;
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let _ = child.wait();

    let after = recvlogical(&pg, "recv_after", end)?;

    // Debezium on the same backlog, from its own slot, into its own topic.
    let dbz_run = match &dbz {
        Some(d) => {
            let mut config = connector_json["config"].clone();
            config["topic.prefix"] = "dbz".into();
            config["slot.name"] = "dbz_bench".into();
            config
                .as_object_mut()
                .map(|c| c.remove("producer.override.compression.type"));
            let admin = walcast_kafka::connect(
                &[tansu.bootstrap()],
                "walcast-bench",
                Duration::from_secs(10),
            )
            .await?;
            walcast_kafka::ensure_topic(&admin, "dbz.public.orders", 1, 1, Duration::from_secs(10))
                .await?;
            let producer: Vec<(&str, &str)> = a
                .compression
                .as_deref()
                .map(|c| ("compression.type", c))
                .into_iter()
                .collect();
            eprintln!("Debezium draining the same backlog from slot dbz_bench");
            let broker_before = broker.and_then(cpu_seconds).unwrap_or(0.0);
            let r = d
                .run(
                    &config,
                    &producer,
                    &tansu.bootstrap(),
                    "dbz.public.orders",
                    a.rows,
                    Duration::from_secs(1800),
                )
                .await
                .context("Debezium's drain")?;
            let broker_cpu = broker.and_then(cpu_seconds).unwrap_or(0.0) - broker_before;
            let in_kafka = walcast_kafka::read_topic_to_end(&tansu.bootstrap(), "dbz.public.orders")
                .await
                .context("reading Debezium's topic back")?
                .len() as u64;
            Some((r, in_kafka, broker_cpu))
        }
        None => None,
    };

    let records = walcast_kafka::read_topic_to_end(&tansu.bootstrap(), "bench.public.orders")
        .await
        .context("reading the orders topic back")?
        .len() as u64;

    let rate = |d: Duration| a.rows as f64 / d.as_secs_f64();
    let ceiling = rate(before).max(rate(after));
    println!(
        "rows in backlog:            {} (compression: {})",
        a.rows,
        a.compression.as_deref().unwrap_or("walcast default")
    );
    println!(
        "pg_recvlogical (before):    {:>9.0} rows/s  ({:.2} s)",
        rate(before),
        before.as_secs_f64()
    );
    println!(
        "pg_recvlogical (after):     {:>9.0} rows/s  ({:.2} s)",
        rate(after),
        after.as_secs_f64()
    );
    println!(
        "walcast -> tansu (acked):   {:>9.0} rows/s  ({:.2} s, incl. process start)",
        rate(walcast_time),
        walcast_time.as_secs_f64()
    );
    println!(
        "walcast / pg_recvlogical:   {:>9.2}x  (target >= 0.8x)",
        rate(walcast_time) / ceiling
    );
    println!(
        "walcast peak RSS:           {:>9.1} MB (target <= 64 MB)",
        peak_kib as f64 / 1024.0
    );
    println!(
        "CPU during walcast's drain:  walcast {walcast_cpu:.2} s, broker {broker_cpu:.2} s (of {:.2} s x 2 cores)",
        walcast_time.as_secs_f64()
    );
    println!("records in Kafka:           {records}");
    if let Some((d, in_kafka, broker_cpu)) = &dbz_run {
        println!(
            "Debezium 3.6.3 -> tansu:    {:>9.0} rows/s  ({:.2} s from JVM start to the last ack; {} after the first event; compression {})",
            rate(Duration::from_secs_f64(d.seconds)),
            d.seconds,
            d.after_first_record_seconds
                .map_or("–".to_string(), |s| format!("{:.0} rows/s", a.rows as f64 / s)),
            a.compression.as_deref().unwrap_or("none (producer default)")
        );
        println!(
            "walcast / Debezium:         {:>9.2}x",
            rate(walcast_time) / rate(Duration::from_secs_f64(d.seconds))
        );
        println!("Debezium JVM peak RSS:      {:>9.1} MB", d.peak_mb);
        println!(
            "CPU during Debezium's drain: JVM {:.2} s, broker {broker_cpu:.2} s (of {:.2} s x 2 cores)",
            d.cpu_s, d.seconds
        );
        println!("records in Debezium's topic: {in_kafka}");
    }
    if let Some(file) = &a.json {
        let doc = serde_json::json!({
            "rows": a.rows,
            "tx_rows": a.tx_rows,
            "compression": a.compression.as_deref().unwrap_or("default"),
            "pg_recvlogical_rows_per_s": ceiling,
            "pg_recvlogical_before_rows_per_s": rate(before),
            "pg_recvlogical_after_rows_per_s": rate(after),
            "walcast_rows_per_s": rate(walcast_time),
            "walcast_seconds": walcast_time.as_secs_f64(),
            "walcast_peak_rss_mb": peak_kib as f64 / 1024.0,
            "walcast_cpu_s": walcast_cpu,
            "broker_cpu_s": broker_cpu,
            "records_in_kafka": records,
            "debezium": dbz_run.as_ref().map(|(d, in_kafka, broker_cpu)| serde_json::json!({
                "version": "3.6.3.Final",
                "compression": a.compression.as_deref().unwrap_or("none"),
                "rows_per_s": a.rows as f64 / d.seconds,
                "seconds": d.seconds,
                "rows_per_s_after_first_event": d.after_first_record_seconds.map(|s| a.rows as f64 / s),
                "peak_rss_mb": d.peak_mb,
                "cpu_s": d.cpu_s,
                "broker_cpu_s": broker_cpu,
                "records_in_kafka": in_kafka,
                "walcast_over_debezium": rate(walcast_time) * d.seconds / a.rows as f64,
            })),
        });
        std::fs::write(file, serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("writing {file}"))?;
    }
    if records < a.rows {
        bail!("only {records} of {} rows reached Kafka", a.rows);
    }
    if let Some((_, in_kafka, _)) = &dbz_run {
        if *in_kafka < a.rows {
            bail!(
                "only {in_kafka} of {} rows reached Debezium's topic",
                a.rows
            );
        }
    }
    Ok(())
}
