//! Test support: in-test connector plugins and an in-process worker on a free port.
//!
//! The plugins are test doubles on purpose: these tests check the worker's own lifecycle
//! logic (supervision, states, persistence, REST), not any real connector. Each plugin records
//! what happened to it by connector name, so tests running in parallel do not interfere.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use walcast_connect::{ConnectorDefinition, Worker, WorkerConfig, WorkerError};
use walcast_connect_api::{
    ConfigIssue, ConfigKeyDef, ConnectorConfig, ConnectorError, ConnectorKind, ConnectorPlugin,
    TaskContext,
};

/// What a connector's task runs saw.
#[derive(Debug, Default, Clone)]
pub struct Record {
    pub starts: u32,
    /// Runs that returned Ok after their token was cancelled.
    pub clean_stops: u32,
    pub last_config: BTreeMap<String, String>,
    pub key_schemas_enable: Option<bool>,
    pub worker_id: String,
}

fn records() -> &'static Mutex<BTreeMap<String, Record>> {
    static RECORDS: OnceLock<Mutex<BTreeMap<String, Record>>> = OnceLock::new();
    RECORDS.get_or_init(|| Mutex::new(BTreeMap::new()))
}

pub fn record(name: &str) -> Record {
    records()
        .lock()
        .expect("records lock")
        .get(name)
        .cloned()
        .unwrap_or_default()
}

/// Wait (5 s) until the connector's record satisfies `pred`: task starts are recorded when the
/// spawned task first runs, just after the REST call that started it returned.
pub async fn wait_record(name: &str, pred: impl Fn(&Record) -> bool) -> Record {
    for _ in 0..100 {
        let r = record(name);
        if pred(&r) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("record of {name} never matched; last: {:?}", record(name));
}

fn note_start(ctx: &TaskContext) -> u32 {
    let mut all = records().lock().expect("records lock");
    let r = all.entry(ctx.name.clone()).or_default();
    r.starts += 1;
    r.last_config = ctx.config.clone();
    r.key_schemas_enable = Some(ctx.key_schemas_enable);
    r.worker_id = ctx.worker.worker_id.clone();
    r.starts
}

fn note_clean_stop(name: &str) {
    records()
        .lock()
        .expect("records lock")
        .entry(name.to_owned())
        .or_default()
        .clean_stops += 1;
}

const RUN_KEYS: &[ConfigKeyDef] = &[
    ConfigKeyDef {
        name: "topic.prefix",
        kind: "STRING",
        required: true,
        default: None,
        doc: "Prefix of topic names.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "database.hostname",
        kind: "STRING",
        required: true,
        default: None,
        doc: "Host to read from.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "database.password",
        kind: "PASSWORD",
        required: false,
        default: None,
        doc: "Password.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "flush.ms",
        kind: "LONG",
        required: false,
        default: Some("0"),
        doc: "How long the task takes to flush when stopped.",
        ..ConfigKeyDef::BASE
    },
];

/// Runs until cancelled, then "flushes" for `flush.ms` and returns Ok.
pub struct RunPlugin;

impl ConnectorPlugin for RunPlugin {
    fn class(&self) -> &'static str {
        "com.example.test.RunConnector"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["test.Runner"]
    }
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Source
    }
    fn version(&self) -> &'static str {
        "1.2.3"
    }
    fn config_keys(&self) -> &'static [ConfigKeyDef] {
        RUN_KEYS
    }
    fn validate(&self, config: &ConnectorConfig) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if config.get("topic.prefix").is_some_and(|p| p.contains(' ')) {
            issues.push(ConfigIssue::new(
                "topic.prefix",
                "topic.prefix must not contain spaces",
            ));
        }
        if let Some(ms) = config.get("flush.ms") {
            if ms.parse::<u64>().is_err() {
                // Quotes the value, as Connect's own "Invalid value ..." messages do.
                issues.push(ConfigIssue::new(
                    "flush.ms",
                    format!("flush.ms must be a number, not `{ms}`"),
                ));
            }
        }
        issues
    }
    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            note_start(&ctx);
            ctx.shutdown.cancelled().await;
            let flush_ms = ctx
                .config
                .get("flush.ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(flush_ms)).await;
            note_clean_stop(&ctx.name);
            Ok(())
        })
    }
}

/// Fails with an error after `fail.after.ms`, for its first `fail.times` runs (default: every
/// run); later runs behave like [`RunPlugin`].
pub struct FailPlugin;

impl ConnectorPlugin for FailPlugin {
    fn class(&self) -> &'static str {
        "com.example.test.FailingConnector"
    }
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Sink
    }
    fn version(&self) -> &'static str {
        "0.0.1"
    }
    fn config_keys(&self) -> &'static [ConfigKeyDef] {
        &[]
    }
    fn validate(&self, _: &ConnectorConfig) -> Vec<ConfigIssue> {
        Vec::new()
    }
    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            let run = note_start(&ctx);
            let after: u64 = ctx
                .config
                .get("fail.after.ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(50);
            let times: u32 = ctx
                .config
                .get("fail.times")
                .and_then(|v| v.parse().ok())
                .unwrap_or(u32::MAX);
            if run <= times {
                tokio::select! {
                    _ = ctx.shutdown.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_millis(after)) => {
                        // `fail.host` plays a careless connector that puts a config value in
                        // its log line and its error.
                        if let Some(host) = ctx.config.get("fail.host") {
                            tracing::error!("cannot reach {host}");
                            return Err(ConnectorError {
                                message: format!("cannot reach {host}"),
                                trace: format!("cannot reach {host}\nCaused by: no route to {host}"),
                            });
                        }
                        return Err(ConnectorError {
                            message: "sink table is gone".into(),
                            trace: "sink table is gone\nCaused by: relation \"t\" does not exist".into(),
                        });
                    }
                }
            } else {
                ctx.shutdown.cancelled().await;
            }
            note_clean_stop(&ctx.name);
            Ok(())
        })
    }
}

/// Panics shortly after starting.
pub struct PanicPlugin;

impl ConnectorPlugin for PanicPlugin {
    fn class(&self) -> &'static str {
        "com.example.test.PanickingConnector"
    }
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Source
    }
    fn version(&self) -> &'static str {
        "0.0.1"
    }
    fn config_keys(&self) -> &'static [ConfigKeyDef] {
        &[]
    }
    fn validate(&self, _: &ConnectorConfig) -> Vec<ConfigIssue> {
        Vec::new()
    }
    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            note_start(&ctx);
            tokio::time::sleep(Duration::from_millis(20)).await;
            panic!("index out of bounds in test plugin");
        })
    }
}

pub fn plugins() -> Vec<Arc<dyn ConnectorPlugin>> {
    vec![
        Arc::new(RunPlugin),
        Arc::new(FailPlugin),
        Arc::new(PanicPlugin),
    ]
}

/// A worker running in this process.
pub struct TestWorker {
    pub base: String,
    pub shutdown: CancellationToken,
    pub handle: JoinHandle<Result<(), WorkerError>>,
    pub client: reqwest::Client,
}

pub fn worker_config(state_dir: &Path, extra: &[(&str, &str)]) -> WorkerConfig {
    let mut props: BTreeMap<String, String> = [
        // Nothing listens there: the worker must start regardless.
        ("bootstrap.servers", "127.0.0.1:1"),
        ("listeners", "http://127.0.0.1:0"),
        ("task.shutdown.graceful.timeout.ms", "5000"),
        // Config providers exist only when declared, as in Connect.
        ("config.providers", "env,file,directory"),
        (
            "config.providers.env.class",
            "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
        ),
        (
            "config.providers.file.class",
            "org.apache.kafka.common.config.provider.FileConfigProvider",
        ),
        (
            "config.providers.directory.class",
            "org.apache.kafka.common.config.provider.DirectoryConfigProvider",
        ),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    props.insert("walcast.state.dir".into(), state_dir.display().to_string());
    for (k, v) in extra {
        props.insert((*k).to_owned(), (*v).to_owned());
    }
    let lookup = |name: &str| std::env::var(name).ok();
    WorkerConfig::from_properties(props, &[], &lookup).expect("valid worker config")
}

pub async fn start(state_dir: &Path) -> TestWorker {
    start_with(worker_config(state_dir, &[]), Vec::new()).await
}

pub async fn start_with(
    mut config: WorkerConfig,
    connectors: Vec<ConnectorDefinition>,
) -> TestWorker {
    config.connectors = connectors;
    let shutdown = CancellationToken::new();
    let (addr, serve) = Worker::bind(config, plugins(), shutdown.clone())
        .await
        .expect("worker starts");
    TestWorker {
        base: format!("http://{addr}"),
        shutdown,
        handle: tokio::spawn(serve),
        client: reqwest::Client::new(),
    }
}

impl TestWorker {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Send a request; returns status and parsed JSON body (Null when empty).
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request reaches the worker");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("body of {path} is not JSON ({e}): {text}"))
        };
        (status, value)
    }

    pub async fn raw(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = self
            .client
            .request(method, self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("request reaches the worker");
        (resp.status().as_u16(), resp.text().await.expect("body"))
    }

    /// Poll a connector's status until `pred` holds (5 s), failing with the last status.
    pub async fn wait_status(
        &self,
        name: &str,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let mut last = Value::Null;
        for _ in 0..100 {
            let (code, status) = self
                .call("GET", &format!("/connectors/{name}/status"), None)
                .await;
            if code == 200 && pred(&status) {
                return status;
            }
            last = status;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("connector {name} never became {what}; last status: {last}");
    }

    pub async fn wait_task_state(&self, name: &str, state: &str) -> Value {
        self.wait_status(name, state, |s| s["tasks"][0]["state"] == state)
            .await
    }

    /// Shut down and wait for the worker future.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.handle)
            .await
            .expect("worker stops in time")
            .expect("worker task did not panic")
            .expect("worker stopped cleanly");
    }
}

/// A config for [`RunPlugin`].
pub fn run_config(extra: &[(&str, &str)]) -> Value {
    let mut c = serde_json::json!({
        "connector.class": "com.example.test.RunConnector",
        "topic.prefix": "inventory",
        "database.hostname": "db.internal",
    });
    for (k, v) in extra {
        c[*k] = Value::from(*v);
    }
    c
}
