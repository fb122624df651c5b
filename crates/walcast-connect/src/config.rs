//! Worker configuration: Kafka Connect's worker properties file, environment overrides, secret
//! references, and the connector files given on the command line.
//!
//! Precedence for a worker key: `WALCAST_<KEY>` in the environment (key upper-cased, `.` and
//! `-` turned into `_`) over the properties file over the default. `${env:..}`/`${file:..}`
//! references are resolved after overrides, so an override may itself be a reference.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::auth::{RestAuth, RestTls};
use crate::error::ConfigError;
use crate::files::read_properties_file;
use crate::secrets::{self, EnvLookup, Providers, SecretError};
use walcast_connect_api::properties;

/// The only converter walcast speaks (it writes Connect's JSON envelope itself).
pub const JSON_CONVERTER: &str = "org.apache.kafka.connect.json.JsonConverter";

/// Default `walcast.state.dir`.
pub const DEFAULT_STATE_DIR: &str = "./walcast-state";

/// Default for `task.shutdown.graceful.timeout.ms`. Connect's is 5 s; walcast's tasks flush
/// produced records and confirm the slot position on stop, so it waits longer by default.
pub const DEFAULT_SHUTDOWN_TIMEOUT_MS: u64 = 30_000;

/// The prefix of environment variables that override worker keys.
pub const ENV_PREFIX: &str = "WALCAST_";

/// Worker keys Kafka Connect needs and walcast does not: accepted and ignored (logged at INFO),
/// so an existing `connect-standalone.properties` works unchanged.
pub const CONNECT_ONLY_KEYS: &[&str] = &[
    "offset.storage.file.filename",
    "offset.flush.interval.ms",
    "offset.flush.timeout.ms",
    "plugin.path",
    "plugin.discovery",
    "group.id",
    "config.storage.topic",
    "config.storage.replication.factor",
    "offset.storage.topic",
    "offset.storage.replication.factor",
    "offset.storage.partitions",
    "status.storage.topic",
    "status.storage.replication.factor",
    "status.storage.partitions",
    "internal.key.converter",
    "internal.value.converter",
    "internal.key.converter.schemas.enable",
    "internal.value.converter.schemas.enable",
    "rest.advertised.listener",
    "rest.advertised.host.port",
    "connector.client.config.override.policy",
    "exactly.once.source.support",
    "header.converter",
    "scheduled.rebalance.max.delay.ms",
];

/// Where the REST API listens, from `listeners` (or legacy `rest.host.name`/`rest.port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerAddr {
    /// Host or IP to bind; `0.0.0.0` when the listener names none (`http://:8083`).
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for ListenerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A connector given on the command line, as submitted (references unresolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorDefinition {
    pub name: String,
    /// The config as written in the file, including `name`.
    pub config: BTreeMap<String, String>,
    /// The file it came from, for error messages.
    pub path: PathBuf,
}

/// Everything the worker needs to start.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// `bootstrap.servers`: handed to connectors; the worker itself never connects to Kafka, so
    /// an unreachable broker does not stop it from starting.
    pub bootstrap_servers: String,
    /// The REST listener.
    pub listener: ListenerAddr,
    /// Host shown in `worker_id` (`rest.advertised.host.name`); defaults to the bind host, or
    /// the machine's host name when binding all interfaces.
    pub advertised_host: Option<String>,
    /// `key.converter.schemas.enable` (default true): whether keys carry the Connect schema.
    pub key_schemas_enable: bool,
    /// `value.converter.schemas.enable` (default true).
    pub value_schemas_enable: bool,
    /// `walcast.state.dir`: connectors created over REST and their target states live here.
    pub state_dir: PathBuf,
    /// `task.shutdown.graceful.timeout.ms`: how long a stopping task may take to flush.
    pub task_shutdown_timeout: Duration,
    /// Every worker property after environment overrides and secret resolution (connectors
    /// read producer/security settings from here).
    pub properties: BTreeMap<String, String>,
    /// The config providers declared by `config.providers` (none unless declared).
    pub providers: Providers,
    /// Who may call the REST API (`rest.basic.auth.credentials.file`, `rest.auth.bearer.*`).
    pub rest_auth: RestAuth,
    /// Certificate and key when `listeners` is `https://...`.
    pub rest_tls: Option<RestTls>,
    /// Connectors from files on the command line, started at boot.
    pub connectors: Vec<ConnectorDefinition>,
}

impl WorkerConfig {
    /// Read the worker properties file and connector files, with the process environment for
    /// overrides and `${env:..}`.
    pub fn load(worker_file: &Path, connector_files: &[PathBuf]) -> Result<Self, ConfigError> {
        let bytes = std::fs::read(worker_file).map_err(|source| ConfigError::Read {
            path: worker_file.to_owned(),
            source,
        })?;
        // A connector file in the worker's place would otherwise fail on whatever it happens to
        // reference first (an unset ${env:...}), which says nothing about the real mistake.
        let text = properties::decode_bytes(&bytes);
        if text.trim_start().starts_with('{') {
            return Err(ConfigError::ConnectorGivenAsWorker {
                path: worker_file.to_owned(),
                why: "it is JSON",
            });
        }
        let props = read_properties_file(worker_file)?;
        if props.contains_key("connector.class") && !props.contains_key("bootstrap.servers") {
            return Err(ConfigError::ConnectorGivenAsWorker {
                path: worker_file.to_owned(),
                why: "it has connector.class and no bootstrap.servers",
            });
        }
        let env: Vec<(String, String)> = std::env::vars().collect();
        let mut config = Self::from_properties(props, &env, &secrets::process_env)?;
        for path in connector_files {
            let def = load_connector_file(path)?;
            if let Some(first) = config.connectors.iter().find(|c| c.name == def.name) {
                return Err(ConfigError::DuplicateConnector {
                    name: def.name,
                    first: first.path.clone(),
                    second: def.path,
                });
            }
            config.connectors.push(def);
        }
        Ok(config)
    }

    /// Build from already-read properties. `env_vars` supplies `WALCAST_*` overrides and
    /// `lookup` resolves `${env:..}`; both are parameters so tests need not touch the process
    /// environment.
    pub fn from_properties(
        mut props: BTreeMap<String, String>,
        env_vars: &[(String, String)],
        lookup: EnvLookup<'_>,
    ) -> Result<Self, ConfigError> {
        apply_env_overrides(&mut props, env_vars);
        // Providers come from the worker properties themselves, as in Connect; their own
        // declarations are taken literally.
        let providers = Providers::from_properties(&props)?;
        let mut resolver = secrets::Resolver::new(&providers, lookup);
        let props = props
            .into_iter()
            .map(|(k, v)| {
                if k.starts_with("config.providers") {
                    Ok((k, v))
                } else {
                    let resolved = resolver.resolve_value(&k, &v)?;
                    Ok((k, resolved))
                }
            })
            .collect::<Result<BTreeMap<_, _>, SecretError>>()?;

        for key in props.keys() {
            if CONNECT_ONLY_KEYS.contains(&key.as_str()) {
                tracing::info!(key = %key, "ignoring Kafka Connect worker property walcast does not need");
            }
        }

        let bootstrap_servers = props
            .get("bootstrap.servers")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ConfigError::MissingKey {
                key: "bootstrap.servers".into(),
                env: env_name("bootstrap.servers"),
            })?;

        for key in ["key.converter", "value.converter"] {
            if let Some(value) = props.get(key) {
                check_converter(key, value)?;
            }
        }
        let key_schemas_enable = bool_prop(&props, "key.converter.schemas.enable", true)?;
        let value_schemas_enable = bool_prop(&props, "value.converter.schemas.enable", true)?;

        let (listener, https) = listener_from(&props)?;
        let rest_tls = RestTls::from_properties(&props, https)?;
        let rest_auth = RestAuth::from_properties(&props)?;
        let advertised_host = props
            .get("rest.advertised.host.name")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        let state_dir = PathBuf::from(
            props
                .get("walcast.state.dir")
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .unwrap_or(DEFAULT_STATE_DIR),
        );
        let timeout_ms = match props.get("task.shutdown.graceful.timeout.ms") {
            None => DEFAULT_SHUTDOWN_TIMEOUT_MS,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map_err(|_| ConfigError::InvalidValue {
                    key: "task.shutdown.graceful.timeout.ms".into(),
                    message: format!("`{v}` is not a whole number of milliseconds"),
                })?,
        };

        Ok(Self {
            bootstrap_servers,
            listener,
            advertised_host,
            key_schemas_enable,
            value_schemas_enable,
            state_dir,
            task_shutdown_timeout: Duration::from_millis(timeout_ms),
            properties: props,
            providers,
            rest_auth,
            rest_tls,
            connectors: Vec::new(),
        })
    }
}

/// The environment variable that overrides `key`: `WALCAST_` + key upper-cased with `.` and
/// `-` as `_` (`bootstrap.servers` -> `WALCAST_BOOTSTRAP_SERVERS`).
pub fn env_name(key: &str) -> String {
    let mut name = String::from(ENV_PREFIX);
    name.extend(key.chars().map(|c| match c {
        '.' | '-' => '_',
        c => c.to_ascii_uppercase(),
    }));
    name
}

/// Apply `WALCAST_*` overrides. A variable that matches a key already in the file (or a key the
/// worker knows) overrides that key; any other `WALCAST_FOO_BAR` sets `foo.bar`, so settings
/// absent from the file (e.g. `producer.*`) can be given through the environment too.
fn apply_env_overrides(props: &mut BTreeMap<String, String>, env_vars: &[(String, String)]) {
    const KNOWN: &[&str] = &[
        "bootstrap.servers",
        "listeners",
        "rest.port",
        "rest.host.name",
        "rest.advertised.host.name",
        "key.converter",
        "value.converter",
        "key.converter.schemas.enable",
        "value.converter.schemas.enable",
        "walcast.state.dir",
        "task.shutdown.graceful.timeout.ms",
    ];
    // Variables the binary itself reads; they are not worker keys.
    const NOT_KEYS: &[&str] = &["WALCAST_LOG_FORMAT"];
    let by_env: BTreeMap<String, String> = props
        .keys()
        .map(String::as_str)
        .chain(KNOWN.iter().copied())
        .flat_map(|k| {
            // `walcast.state.dir` answers to WALCAST_STATE_DIR as well as
            // WALCAST_WALCAST_STATE_DIR.
            let short = k
                .strip_prefix("walcast.")
                .map(|s| (env_name(s), k.to_owned()));
            std::iter::once((env_name(k), k.to_owned())).chain(short)
        })
        .collect();
    for (name, value) in env_vars {
        let Some(suffix) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if suffix.is_empty() || NOT_KEYS.contains(&name.as_str()) {
            continue;
        }
        let key = by_env
            .get(name)
            .cloned()
            .unwrap_or_else(|| suffix.to_ascii_lowercase().replace('_', "."));
        tracing::info!(key = %key, env = %name, "worker property overridden from the environment");
        props.insert(key, value.clone());
    }
}

fn check_converter(key: &str, value: &str) -> Result<(), ConfigError> {
    let v = value.trim();
    if v == JSON_CONVERTER || v == "JsonConverter" {
        Ok(())
    } else {
        Err(ConfigError::UnsupportedConverter {
            key: key.to_owned(),
            value: v.to_owned(),
        })
    }
}

/// Whether a converter class (worker or connector level) is one walcast supports.
pub fn is_supported_converter(value: &str) -> bool {
    check_converter("", value).is_ok()
}

fn bool_prop(
    props: &BTreeMap<String, String>,
    key: &str,
    default: bool,
) -> Result<bool, ConfigError> {
    match props.get(key) {
        None => Ok(default),
        Some(v) => parse_bool(v).ok_or_else(|| ConfigError::InvalidValue {
            key: key.to_owned(),
            message: format!("`{v}` is not true or false"),
        }),
    }
}

/// Connect's BOOLEAN parsing: case-insensitive `true`/`false`, surrounding spaces ignored.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// The REST listener and whether it is https.
fn listener_from(props: &BTreeMap<String, String>) -> Result<(ListenerAddr, bool), ConfigError> {
    let invalid = |message: String| ConfigError::InvalidValue {
        key: "listeners".into(),
        message,
    };
    if let Some(listeners) = props.get("listeners").filter(|l| !l.trim().is_empty()) {
        let all: Vec<&str> = listeners
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let first = all.first().copied().unwrap_or_default();
        if all.len() > 1 {
            tracing::warn!(listener = %first, "several listeners configured; walcast binds only the first");
        }
        let lower = first.to_ascii_lowercase();
        let https = lower.starts_with("https://");
        let rest = if lower.starts_with("http://") {
            &first["http://".len()..]
        } else if https {
            &first["https://".len()..]
        } else {
            return Err(invalid(format!(
                "`{first}` is not a listener URL like http://0.0.0.0:8083"
            )));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| invalid(format!("`{first}`: unterminated [ in IPv6 address")))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| invalid(format!("`{first}`: missing :port")))?;
            (host, port)
        } else {
            rest.rsplit_once(':')
                .ok_or_else(|| invalid(format!("`{first}`: missing :port")))?
        };
        let port = port
            .parse::<u16>()
            .map_err(|_| invalid(format!("`{first}`: `{port}` is not a port number")))?;
        let host = if host.is_empty() { "0.0.0.0" } else { host };
        return Ok((
            ListenerAddr {
                host: host.to_owned(),
                port,
            },
            https,
        ));
    }
    // Connect's deprecated pair, used only when `listeners` is absent.
    let port = match props.get("rest.port") {
        Some(p) => p
            .trim()
            .parse::<u16>()
            .map_err(|_| ConfigError::InvalidValue {
                key: "rest.port".into(),
                message: format!("`{p}` is not a port number"),
            })?,
        None => 8083,
    };
    let host = props
        .get("rest.host.name")
        .map(|h| h.trim())
        .filter(|h| !h.is_empty())
        .unwrap_or("0.0.0.0");
    Ok((
        ListenerAddr {
            host: host.to_owned(),
            port,
        },
        false,
    ))
}

/// Read a connector file: Connect's REST JSON (`{"name": .., "config": {..}}`, or a flat JSON
/// config with a `name` key) when it starts with `{`, Java properties otherwise (must contain
/// `name=`).
pub fn load_connector_file(path: &Path) -> Result<ConnectorDefinition, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = properties::decode_bytes(&bytes);
    let file_error = |message: String| ConfigError::ConnectorFile {
        path: path.to_owned(),
        message,
    };
    let (name, mut config) = if text.trim_start().starts_with('{') {
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ConfigError::Json {
                path: path.to_owned(),
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            })?;
        let body = parse_connector_body(&value).map_err(file_error)?;
        (body.name, body.config)
    } else {
        let config = properties::parse_map(&text).map_err(|source| ConfigError::Properties {
            path: path.to_owned(),
            source,
        })?;
        let name = config
            .get("name")
            .map(|n| n.trim().to_owned())
            .unwrap_or_default();
        (name, config)
    };
    if name.is_empty() {
        return Err(file_error(
            "the connector has no name: add name=<connector name>".into(),
        ));
    }
    config.insert("name".into(), name.clone());
    Ok(ConnectorDefinition {
        name,
        config,
        path: path.to_owned(),
    })
}

/// A `POST /connectors`-shaped body (or a flat config with `name`), as found in a file.
#[derive(Debug)]
pub(crate) struct ConnectorBody {
    pub name: String,
    pub config: BTreeMap<String, String>,
    /// `initial_state` (Connect 3.5+): RUNNING, PAUSED or STOPPED.
    pub initial_state: Option<String>,
}

/// Interpret a JSON connector body. Errors are plain sentences for the caller to wrap.
pub(crate) fn parse_connector_body(value: &serde_json::Value) -> Result<ConnectorBody, String> {
    let obj = value
        .as_object()
        .ok_or("expected a JSON object like {\"name\": ..., \"config\": {...}}")?;
    let top_name = match obj.get("name") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.trim().to_owned()),
        Some(_) => return Err("\"name\" must be a string".into()),
    };
    let (config, nested) = match obj.get("config") {
        Some(c) => (config_map(c)?, true),
        None if obj.contains_key("connector.class") => (config_map(value)?, false),
        None => return Err(
            "missing \"config\": expected {\"name\": ..., \"config\": {\"connector.class\": ...}}"
                .into(),
        ),
    };
    let name = match (top_name, config.get("name").map(|n| n.trim().to_owned())) {
        (Some(top), Some(inner)) if nested && top != inner => {
            return Err(format!(
                "Connector name configuration ({inner}) doesn't match connector name in the request ({top})"
            ))
        }
        (Some(top), _) => top,
        (None, Some(inner)) => inner,
        (None, None) => String::new(),
    };
    let initial_state = match obj.get("initial_state") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("\"initial_state\" must be a string".into()),
    };
    Ok(ConnectorBody {
        name,
        config,
        initial_state,
    })
}

/// A JSON object of config values. Like Connect (Jackson into `Map<String, String>`), numbers
/// and booleans are accepted as their text; nested objects, arrays and null are refused.
pub(crate) fn config_map(value: &serde_json::Value) -> Result<BTreeMap<String, String>, String> {
    let obj = value
        .as_object()
        .ok_or("the connector config must be a JSON object of string values")?;
    obj.iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(format!(
                        "config key \"{k}\" must be a string, number or boolean"
                    ))
                }
            };
            Ok((k.clone(), text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn build(pairs: &[(&str, &str)], env: &[(&str, &str)]) -> Result<WorkerConfig, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = {
            let env = env.clone();
            move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        };
        WorkerConfig::from_properties(props(pairs), &env, &lookup)
    }

    #[test]
    fn defaults_match_connect() {
        let c = build(&[("bootstrap.servers", "kafka:9092")], &[]).expect("valid");
        assert_eq!(c.bootstrap_servers, "kafka:9092");
        assert_eq!(
            c.listener,
            ListenerAddr {
                host: "0.0.0.0".into(),
                port: 8083
            }
        );
        assert!(c.key_schemas_enable && c.value_schemas_enable);
        assert_eq!(c.state_dir, PathBuf::from("./walcast-state"));
        assert_eq!(c.task_shutdown_timeout, Duration::from_secs(30));
    }

    #[test]
    fn missing_bootstrap_servers_is_an_error_naming_the_env_var() {
        let err = build(&[("listeners", "http://:8083")], &[]).expect_err("required");
        let msg = err.to_string();
        assert!(
            msg.contains("bootstrap.servers") && msg.contains("WALCAST_BOOTSTRAP_SERVERS"),
            "{msg}"
        );
    }

    #[test]
    fn env_overrides_file_values_and_adds_keys() {
        let c = build(
            &[
                ("bootstrap.servers", "file:9092"),
                ("listeners", "http://0.0.0.0:8083"),
            ],
            &[
                ("WALCAST_BOOTSTRAP_SERVERS", "env:9092"),
                ("WALCAST_LISTENERS", "http://127.0.0.1:9999"),
                ("WALCAST_VALUE_CONVERTER_SCHEMAS_ENABLE", "false"),
                ("WALCAST_PRODUCER_LINGER_MS", "5"),
                ("WALCAST_LOG_FORMAT", "json"),
                ("OTHER_BOOTSTRAP_SERVERS", "ignored"),
            ],
        )
        .expect("valid");
        assert_eq!(c.bootstrap_servers, "env:9092");
        assert_eq!(c.listener.host, "127.0.0.1");
        assert_eq!(c.listener.port, 9999);
        assert!(!c.value_schemas_enable);
        assert!(c.key_schemas_enable);
        assert_eq!(
            c.properties.get("producer.linger.ms").map(String::as_str),
            Some("5")
        );
        assert!(!c.properties.contains_key("log.format"));
    }

    #[test]
    fn env_name_mapping() {
        assert_eq!(env_name("bootstrap.servers"), "WALCAST_BOOTSTRAP_SERVERS");
        assert_eq!(env_name("walcast.state.dir"), "WALCAST_WALCAST_STATE_DIR");
        let c = build(
            &[("bootstrap.servers", "k:1")],
            &[("WALCAST_STATE_DIR", "/var/lib/walcast")],
        )
        .expect("valid");
        assert_eq!(c.state_dir, PathBuf::from("/var/lib/walcast"));
        assert_eq!(
            env_name("key.converter.schemas.enable"),
            "WALCAST_KEY_CONVERTER_SCHEMAS_ENABLE"
        );
    }

    #[test]
    fn listeners_forms() {
        let l = |v: &str| {
            build(&[("bootstrap.servers", "k:1"), ("listeners", v)], &[]).map(|c| c.listener)
        };
        assert_eq!(
            l("http://:8084").expect("ok"),
            ListenerAddr {
                host: "0.0.0.0".into(),
                port: 8084
            }
        );
        assert_eq!(
            l("HTTP://localhost:1/").expect("ok"),
            ListenerAddr {
                host: "localhost".into(),
                port: 1
            }
        );
        assert_eq!(
            l("http://[::]:8083").expect("ok"),
            ListenerAddr {
                host: "::".into(),
                port: 8083
            }
        );
        assert_eq!(
            l("http://127.0.0.1:8083, http://10.0.0.1:8083").expect("ok"),
            ListenerAddr {
                host: "127.0.0.1".into(),
                port: 8083
            }
        );
        // https needs its certificate and key.
        assert!(l("https://0.0.0.0:8443")
            .expect_err("tls")
            .to_string()
            .contains("listeners.https.ssl.certificate.location"));
        assert!(l("http://0.0.0.0").is_err());
        assert!(l("http://0.0.0.0:99999").is_err());
        assert!(l("0.0.0.0:8083").is_err());
    }

    #[test]
    fn legacy_rest_port_and_host() {
        let c = build(
            &[
                ("bootstrap.servers", "k:1"),
                ("rest.port", "8090"),
                ("rest.host.name", "127.0.0.1"),
            ],
            &[],
        )
        .expect("valid");
        assert_eq!(
            c.listener,
            ListenerAddr {
                host: "127.0.0.1".into(),
                port: 8090
            }
        );
        // `listeners` wins when both are present.
        let c = build(
            &[
                ("bootstrap.servers", "k:1"),
                ("rest.port", "8090"),
                ("listeners", "http://:8085"),
            ],
            &[],
        )
        .expect("valid");
        assert_eq!(c.listener.port, 8085);
    }

    #[test]
    fn only_json_converter_is_supported() {
        assert!(build(
            &[
                ("bootstrap.servers", "k:1"),
                (
                    "key.converter",
                    "org.apache.kafka.connect.json.JsonConverter"
                )
            ],
            &[]
        )
        .is_ok());
        let err = build(
            &[
                ("bootstrap.servers", "k:1"),
                ("value.converter", "io.confluent.connect.avro.AvroConverter"),
            ],
            &[],
        )
        .expect_err("avro");
        let msg = err.to_string();
        assert!(
            msg.contains("AvroConverter")
                && msg.contains("only supports")
                && msg.contains("JsonConverter"),
            "{msg}"
        );
    }

    #[test]
    fn bad_boolean_is_an_error() {
        assert!(build(
            &[
                ("bootstrap.servers", "k:1"),
                ("key.converter.schemas.enable", "yes")
            ],
            &[]
        )
        .is_err());
        let c = build(
            &[
                ("bootstrap.servers", "k:1"),
                ("key.converter.schemas.enable", " FALSE "),
            ],
            &[],
        )
        .expect("ok");
        assert!(!c.key_schemas_enable);
    }

    #[test]
    fn worker_properties_resolve_references_with_declared_providers() {
        let env_provider = [
            ("config.providers", "env"),
            (
                "config.providers.env.class",
                "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
            ),
        ];
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut all = env_provider.to_vec();
            all.extend_from_slice(pairs);
            all
        };
        let c = build(
            &with(&[
                ("bootstrap.servers", "${env:KAFKA}"),
                ("sasl.jaas.config", "x password=\"${env:PW}\""),
            ]),
            &[("KAFKA", "broker:9092"), ("PW", "pw")],
        )
        .expect("valid");
        assert_eq!(c.bootstrap_servers, "broker:9092");
        assert_eq!(c.properties["sasl.jaas.config"], "x password=\"pw\"");
        let err = build(
            &with(&[("bootstrap.servers", "${env:NOT_SET_ANYWHERE}")]),
            &[],
        )
        .expect_err("unset");
        assert!(err.to_string().contains("NOT_SET_ANYWHERE"));
        // Without the declaration there is no env provider.
        let err = build(
            &[("bootstrap.servers", "${env:KAFKA}")],
            &[("KAFKA", "b:1")],
        )
        .expect_err("undeclared");
        assert!(err.to_string().contains("config.providers"), "{err}");
        let _ = no_env("x");
    }

    #[test]
    fn connect_only_keys_are_accepted() {
        let c = build(
            &[
                ("bootstrap.servers", "k:1"),
                ("offset.storage.file.filename", "/tmp/connect.offsets"),
                ("plugin.path", "/usr/share/java"),
                ("group.id", "connect-cluster"),
                ("config.providers", "file"),
                (
                    "config.providers.file.class",
                    "org.apache.kafka.common.config.provider.FileConfigProvider",
                ),
            ],
            &[],
        )
        .expect("accepted");
        assert_eq!(c.properties["group.id"], "connect-cluster");
        // A declared provider without a class is refused, as in Connect.
        let err = build(
            &[("bootstrap.servers", "k:1"), ("config.providers", "env")],
            &[],
        )
        .expect_err("no class");
        assert!(
            err.to_string().contains("config.providers.env.class"),
            "{err}"
        );
    }

    fn write_file(ext: &str, content: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new()
            .suffix(ext)
            .tempfile()
            .expect("temp file");
        f.write_all(content.as_bytes()).expect("write");
        f
    }

    #[test]
    fn connector_file_properties_and_json() {
        let f = write_file(
            ".properties",
            "name=pg\nconnector.class=PostgresConnector\ntasks.max=1\n",
        );
        let d = load_connector_file(f.path()).expect("valid");
        assert_eq!(d.name, "pg");
        assert_eq!(d.config["connector.class"], "PostgresConnector");

        let f = write_file(
            ".json",
            r#"{"name": "pg2", "config": {"connector.class": "PostgresConnector", "tasks.max": 1, "x": true}}"#,
        );
        let d = load_connector_file(f.path()).expect("valid");
        assert_eq!(d.name, "pg2");
        assert_eq!(d.config["name"], "pg2");
        assert_eq!(d.config["tasks.max"], "1");
        assert_eq!(d.config["x"], "true");

        let f = write_file(".json", r#"{"name": "flat", "connector.class": "X"}"#);
        assert_eq!(
            load_connector_file(f.path()).expect("flat json").name,
            "flat"
        );
    }

    #[test]
    fn connector_file_errors_name_file_and_line() {
        let f = write_file(
            ".json",
            "{\n  \"name\": \"pg\",\n  \"config\": {\"a\": \"b\",}\n}\n",
        );
        let msg = load_connector_file(f.path())
            .expect_err("trailing comma")
            .to_string();
        assert!(
            msg.contains(&f.path().display().to_string()) && msg.contains("line 3"),
            "{msg}"
        );

        let f = write_file(".properties", "connector.class=X\nbad=\\uZZZZ\n");
        let msg = load_connector_file(f.path())
            .expect_err("bad escape")
            .to_string();
        assert!(
            msg.contains(&f.path().display().to_string()) && msg.contains("line 2"),
            "{msg}"
        );

        let f = write_file(".properties", "connector.class=X\n");
        let msg = load_connector_file(f.path())
            .expect_err("no name")
            .to_string();
        assert!(msg.contains("name="), "{msg}");

        let f = write_file(
            ".json",
            r#"{"name": "a", "config": {"name": "b", "connector.class": "X"}}"#,
        );
        let msg = load_connector_file(f.path())
            .expect_err("mismatch")
            .to_string();
        assert!(msg.contains("doesn't match"), "{msg}");

        let f = write_file(".json", r#"{"name": "a", "config": {"nested": {"x": 1}}}"#);
        let msg = load_connector_file(f.path())
            .expect_err("nested")
            .to_string();
        assert!(msg.contains("nested"), "{msg}");
    }
}
