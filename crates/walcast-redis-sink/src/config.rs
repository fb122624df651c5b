//! The Redis sink's keys, named and defaulted like the Redis Kafka Connect sink
//! (`com.redis.kafka.connect.RedisSinkConnector`), declared once.

use std::collections::BTreeMap;
use std::time::Duration;

use walcast_connect_api::{ConfigIssue, ConfigKeyDef, ConfigValues, Importance};

use crate::template::Template;

const G_CONN: &str = "Redis connection";
const G_WRITES: &str = "Writes";

/// Commands the Redis Kafka Connect sink offers that walcast does not implement (yet); named
/// so a config using one is refused with a clear message instead of a generic "invalid value".
const UNSUPPORTED_COMMANDS: &[&str] = &["JSONMERGE", "LPUSH", "RPUSH", "SADD", "ZADD", "TSADD"];

/// Every key of the Redis sink (the sink runtime's own keys are declared by `walcast-sink`).
pub static REDIS_KEYS: &[ConfigKeyDef] = &[
    ConfigKeyDef {
        name: "redis.uri",
        default: Some(""),
        doc: "URI of the Redis database: redis://[user:password@]host:port[/db], or rediss://... for TLS. When empty, redis.host, redis.port, redis.username, redis.password and redis.tls are used.",
        importance: Importance::High,
        group: G_CONN,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.url",
        default: Some(""),
        doc: "walcast: another name for redis.uri (the spelling walcast.transforms.RedisLookup uses). Set one or the other.",
        importance: Importance::Low,
        group: G_CONN,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.host",
        default: Some("localhost"),
        doc: "The Redis host to connect to, when redis.uri is empty.",
        importance: Importance::High,
        group: G_CONN,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.port",
        kind: "INT",
        default: Some("6379"),
        doc: "The Redis port to connect to, when redis.uri is empty.",
        importance: Importance::High,
        group: G_CONN,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.username",
        default: Some(""),
        doc: "Username (Redis ACL), when redis.uri is empty.",
        group: G_CONN,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.password",
        kind: "PASSWORD",
        default: Some(""),
        doc: "Password, when redis.uri is empty.",
        group: G_CONN,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.tls",
        kind: "BOOLEAN",
        default: Some("false"),
        doc: "Connect with TLS, when redis.uri is empty.",
        group: G_CONN,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.insecure",
        kind: "BOOLEAN",
        default: Some("false"),
        doc: "With TLS, accept any server certificate (testing only).",
        group: G_CONN,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.timeout",
        kind: "LONG",
        default: Some("60"),
        doc: "Redis command timeout in seconds; a write that times out is retried.",
        group: G_CONN,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.cluster",
        kind: "BOOLEAN",
        default: Some("false"),
        doc: "Connect to a Redis Cluster. Not supported by walcast: one MULTI/EXEC must hold the records and the positions, which a cluster only allows within one hash slot.",
        group: G_CONN,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.pool",
        kind: "INT",
        default: Some("8"),
        doc: "Accepted for compatibility; walcast writes each batch through one connection, in one MULTI/EXEC.",
        importance: Importance::Low,
        group: G_CONN,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.command",
        default: Some("XADD"),
        doc: "Destination data structure. HSET: one hash per record key, every field of the value (null fields removed from the hash), deletes and tombstones delete the key. SET: the value as a string (strings as-is, structs and maps as JSON). JSONSET: JSON.SET of the value (RedisJSON). XADD: a stream entry per record in the stream named by redis.key. DEL: delete the key of every record.",
        importance: Importance::High,
        group: G_WRITES,
        valid: &["HSET", "SET", "JSONSET", "XADD", "DEL", "JSONMERGE", "LPUSH", "RPUSH", "SADD", "ZADD", "TSADD"],
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.key",
        default: Some("${topic}"),
        doc: "The key space: the Redis key of a record is <key space><redis.separator><record key> (XADD: the stream key is the key space itself); ${topic} stands for the record's topic, and an empty key space makes the record key the Redis key. walcast extension: when it contains ${field} placeholders, it is the whole key as a template over the record's value fields, then its key fields (a tombstone has only its key), e.g. order:${id}.",
        importance: Importance::High,
        group: G_WRITES,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.separator",
        default: Some(":"),
        doc: "Separator between the key space and the record key (and between the fields of a composite record key).",
        group: G_WRITES,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.multiexec",
        kind: "BOOLEAN",
        default: Some("false"),
        doc: "Accepted for compatibility; walcast always writes a batch and its Kafka positions in one MULTI/EXEC.",
        importance: Importance::Low,
        group: G_WRITES,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.wait.replicas",
        kind: "INT",
        default: Some("0"),
        doc: "Number of replicas to wait for (WAIT) after each batch; 0 disables waiting.",
        group: G_WRITES,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.wait.timeout",
        kind: "LONG",
        default: Some("1000"),
        doc: "Timeout in milliseconds of the WAIT command.",
        group: G_WRITES,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "batch.size",
        kind: "INT",
        default: Some("500"),
        doc: "walcast: most records per MULTI/EXEC (the Redis Kafka Connect sink writes each poll of up to max.poll.records = 500).",
        group: G_WRITES,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.charset",
        default: Some("UTF-8"),
        doc: "Character set of keys and values. walcast writes UTF-8 only.",
        importance: Importance::Low,
        group: G_WRITES,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.key.file",
        default: Some(""),
        doc: "Client private key file (TLS client authentication). Not supported by walcast yet: leave empty.",
        importance: Importance::Low,
        group: G_CONN,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.key.cert",
        default: Some(""),
        doc: "Client certificate chain file (TLS client authentication). Not supported by walcast yet: leave empty.",
        importance: Importance::Low,
        group: G_CONN,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.key.password",
        kind: "PASSWORD",
        default: Some(""),
        doc: "Password of redis.key.file. Not supported by walcast yet: leave empty.",
        importance: Importance::Low,
        group: G_CONN,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.cacert",
        default: Some(""),
        doc: "CA certificate file to verify the server with. Not supported by walcast yet: rediss:// verifies against the bundled web PKI roots.",
        importance: Importance::Low,
        group: G_CONN,
        ..ConfigKeyDef::BASE
    },
];

/// The Redis command the sink writes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Hset,
    Set,
    JsonSet,
    Xadd,
    Del,
}

/// How the Redis key of a record is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMode {
    /// `<key space><separator><record key>`; an empty key space means the record key alone.
    Keyspace(Template),
    /// The whole key from `${field}` placeholders.
    Template(Template),
}

/// A validated Redis sink configuration.
#[derive(Debug, Clone)]
pub struct RedisSinkConfig {
    /// Connection URL (may hold a password: never log it; see [`RedisSinkConfig::redacted_url`]).
    pub url: String,
    pub command: Command,
    pub key: KeyMode,
    pub separator: String,
    pub timeout: Duration,
    pub wait_replicas: i64,
    pub wait_timeout_ms: i64,
    /// Most records per MULTI/EXEC.
    pub batch_size: usize,
}

impl RedisSinkConfig {
    /// Read and check the Redis keys of a connector config.
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<Self, Vec<ConfigIssue>> {
        let c = ConfigValues::parse(REDIS_KEYS, raw)?;
        let mut issues = Vec::new();
        let command = match c.string("redis.command").to_ascii_uppercase().as_str() {
            "HSET" => Some(Command::Hset),
            "SET" => Some(Command::Set),
            "JSONSET" => Some(Command::JsonSet),
            "XADD" => Some(Command::Xadd),
            "DEL" => Some(Command::Del),
            other => {
                let why = if UNSUPPORTED_COMMANDS.contains(&other) {
                    format!("{other} is not supported by walcast yet; use HSET, SET, JSONSET, XADD or DEL")
                } else {
                    format!("unknown command '{other}'; use HSET, SET, JSONSET, XADD or DEL")
                };
                issues.push(ConfigIssue::new("redis.command", why));
                None
            }
        };
        let uri = c.string("redis.uri");
        let url_alias = c.string("redis.url");
        let url = match (uri.is_empty(), url_alias.is_empty()) {
            (false, false) => {
                issues.push(ConfigIssue::new(
                    "redis.url",
                    "set redis.uri or redis.url, not both",
                ));
                uri
            }
            (false, true) => uri,
            (true, false) => url_alias,
            (true, true) => {
                let scheme = if c.bool("redis.tls") {
                    "rediss"
                } else {
                    "redis"
                };
                let user = c.string("redis.username");
                let password = c.string("redis.password");
                let auth = match (user.is_empty(), password.is_empty()) {
                    (true, true) => String::new(),
                    (_, true) => format!("{}@", percent_encode(&user)),
                    _ => format!("{}:{}@", percent_encode(&user), percent_encode(&password)),
                };
                let host = c.string("redis.host");
                let host = if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]")
                } else {
                    host
                };
                format!("{scheme}://{auth}{host}:{}", c.i64("redis.port"))
            }
        };
        let mut url = url;
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            issues.push(ConfigIssue::new(
                "redis.uri",
                "must start with redis:// or rediss:// (redis+unix and cluster URIs are not supported)",
            ));
        } else if let Err(e) = redis::parse_redis_url(&url)
            .ok_or("unparsable")
            .and_then(|_| {
                redis::Client::open(url.as_str())
                    .map(|_| ())
                    .map_err(|_| "unparsable")
            })
        {
            issues.push(ConfigIssue::new(
                "redis.uri",
                format!("{e}: expected redis://[user:password@]host:port[/db]"),
            ));
        }
        if c.bool("redis.insecure") && url.starts_with("rediss://") && !url.contains('#') {
            url.push_str("#insecure");
        }
        if c.bool("redis.cluster") {
            issues.push(ConfigIssue::new(
                "redis.cluster",
                "Redis Cluster is not supported: a batch and its Kafka positions are written in one MULTI/EXEC, which needs a single node",
            ));
        }
        let charset = c
            .string("redis.charset")
            .to_ascii_uppercase()
            .replace('_', "-");
        if charset != "UTF-8" && charset != "UTF8" {
            issues.push(ConfigIssue::new(
                "redis.charset",
                "walcast writes UTF-8 only; remove redis.charset or set it to UTF-8",
            ));
        }
        for k in [
            "redis.key.file",
            "redis.key.cert",
            "redis.key.password",
            "redis.cacert",
        ] {
            if !c.string(k).is_empty() {
                issues.push(ConfigIssue::new(
                    k,
                    "TLS client certificates and custom CA files are not supported by walcast yet; remove this key",
                ));
            }
        }
        let key = match Template::parse(c.get("redis.key").unwrap_or_default()) {
            Ok(t) if t.has_fields() => Some(KeyMode::Template(t)),
            Ok(t) => Some(KeyMode::Keyspace(t)),
            Err(e) => {
                issues.push(ConfigIssue::new("redis.key", e));
                None
            }
        };
        if matches!(&key, Some(KeyMode::Keyspace(t)) if t.parts.is_empty())
            && command == Some(Command::Xadd)
        {
            issues.push(ConfigIssue::new(
                "redis.key",
                "XADD needs a stream key: set redis.key (default ${topic})",
            ));
        }
        for k in ["redis.timeout", "redis.wait.replicas", "redis.wait.timeout"] {
            if c.i64(k) < 0 {
                issues.push(ConfigIssue::new(k, "must not be negative"));
            }
        }
        if c.i64("batch.size") < 1 {
            issues.push(ConfigIssue::new("batch.size", "must be at least 1"));
        }
        match (command, key) {
            (Some(command), Some(key)) if issues.is_empty() => Ok(Self {
                url,
                command,
                key,
                separator: c.get("redis.separator").unwrap_or(":").to_string(),
                timeout: Duration::from_secs(c.i64("redis.timeout").max(1).unsigned_abs()),
                wait_replicas: c.i64("redis.wait.replicas"),
                wait_timeout_ms: c.i64("redis.wait.timeout"),
                batch_size: usize::try_from(c.i64("batch.size")).unwrap_or(500),
            }),
            _ => Err(issues),
        }
    }

    /// The URL without user and password, for messages and logs.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// `scheme://host:port/db` of a Redis URL, without credentials or fragment.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("redis", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let rest = rest.split('#').next().unwrap_or(rest);
    format!("{scheme}://{rest}")
}

/// Percent-encode the characters that would break a URL's userinfo part.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_follow_the_redis_kafka_connect_sink() {
        let c = RedisSinkConfig::parse(&cfg(&[])).unwrap();
        assert_eq!(c.command, Command::Xadd);
        assert_eq!(c.url, "redis://localhost:6379");
        assert_eq!(
            c.key,
            KeyMode::Keyspace(Template::parse("${topic}").unwrap())
        );
        assert_eq!(c.separator, ":");
    }

    #[test]
    fn uri_template_and_refusals() {
        let c = RedisSinkConfig::parse(&cfg(&[
            ("redis.url", "redis://u:p%40ss@h:1/2"),
            ("redis.command", "hset"),
            ("redis.key", "order:${id}"),
        ]))
        .unwrap();
        assert_eq!(c.command, Command::Hset);
        assert!(matches!(c.key, KeyMode::Template(_)));
        assert_eq!(c.redacted_url(), "redis://h:1/2");
        let c = RedisSinkConfig::parse(&cfg(&[
            ("redis.host", "h"),
            ("redis.password", "p@ss"),
            ("redis.tls", "true"),
        ]))
        .unwrap();
        assert_eq!(c.url, "rediss://%3Ap%40ss@h:6379".replace("%3A", ":"));
        let issues = RedisSinkConfig::parse(&cfg(&[
            ("redis.command", "LPUSH"),
            ("redis.uri", "http://x"),
            ("redis.cluster", "true"),
            ("redis.key", "a:${b"),
        ]))
        .unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            ["redis.command", "redis.uri", "redis.cluster", "redis.key"]
        );
        assert!(issues[0].message.contains("not supported"));
    }
}
