//! The two configuration dialects, declared once each as [`ConfigKeyDef`] tables and read into
//! one [`JdbcSinkConfig`]: Confluent's `io.confluent.connect.jdbc.JdbcSinkConnector` keys
//! ([`CONFLUENT_KEYS`]) and Debezium's `io.debezium.connector.jdbc.JdbcSinkConnector` keys
//! ([`DEBEZIUM_KEYS`]). Names, defaults and allowed values follow the two connectors; where
//! walcast adds a key (`unavailable.value.placeholder`) it says so in the doc.

use std::collections::BTreeMap;
use std::time::Duration;

use walcast_connect_api::{ConfigIssue, ConfigKeyDef, ConfigValues, Importance};
use walcast_pgwire::{PgConnectConfig, SslMode};

/// Which connector's keys a config uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `io.confluent.connect.jdbc.JdbcSinkConnector`.
    Confluent,
    /// `io.debezium.connector.jdbc.JdbcSinkConnector`.
    Debezium,
}

/// `insert.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertMode {
    /// Plain `INSERT`; a second write of the same key is a constraint violation.
    Insert,
    /// `INSERT ... ON CONFLICT (key) DO UPDATE`.
    Upsert,
    /// `UPDATE ... WHERE key = ...`; rows that do not exist are not created.
    Update,
}

/// `pk.mode` / `primary.key.mode`: where the table's key columns come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkMode {
    /// No key: rows are only inserted.
    None,
    /// `__connect_topic`, `__connect_partition`, `__connect_offset`.
    Kafka,
    /// The record key's fields (a primitive key needs one `pk.fields` name).
    RecordKey,
    /// Fields of the record value named by `pk.fields` (all of them when empty).
    RecordValue,
}

/// The Debezium placeholder for unchanged TOASTed values (`unavailable.value.placeholder`).
pub const DEFAULT_UNAVAILABLE_PLACEHOLDER: &str = "__debezium_unavailable_value";

const CONN: &str = "Connection";
const WRITES: &str = "Writes";
const MAPPING: &str = "Data Mapping";
const DDL: &str = "DDL Support";
const RETRIES: &str = "Retries";

const PLACEHOLDER_DOC: &str = "walcast extension: the text the source writes for unchanged TOASTed values (Debezium's unavailable.value.placeholder). A column holding it (as a string, as the bytes of it, or as an array of it) is left out of that row's write, so the stored value is kept.";

/// `unavailable.value.placeholder`, the same key in both dialects.
const PLACEHOLDER_KEY: ConfigKeyDef = ConfigKeyDef {
    name: "unavailable.value.placeholder",
    default: Some(DEFAULT_UNAVAILABLE_PLACEHOLDER),
    doc: PLACEHOLDER_DOC,
    importance: Importance::Low,
    group: MAPPING,
    ..ConfigKeyDef::BASE
};

/// A URL, user or password key of the Connection group (each dialect names and documents
/// them its own way).
const fn connection_key(
    name: &'static str,
    kind: &'static str,
    required: bool,
    doc: &'static str,
) -> ConfigKeyDef {
    ConfigKeyDef {
        name,
        kind,
        required,
        doc,
        importance: Importance::High,
        group: CONN,
        ..ConfigKeyDef::BASE
    }
}

/// A key of the Retries group; each dialect has its own names and defaults for the same two
/// settings (how often, how long between).
const fn retries_key(
    name: &'static str,
    kind: &'static str,
    default: &'static str,
    doc: &'static str,
) -> ConfigKeyDef {
    ConfigKeyDef {
        name,
        kind,
        default: Some(default),
        doc,
        importance: Importance::Medium,
        group: RETRIES,
        ..ConfigKeyDef::BASE
    }
}

/// Keys of `io.confluent.connect.jdbc.JdbcSinkConnector` (PostgreSQL dialect).
pub static CONFLUENT_KEYS: &[ConfigKeyDef] = &[
    connection_key("connection.url", "STRING", true, "JDBC connection URL, e.g. jdbc:postgresql://host:5432/db?sslmode=require (user, password, sslmode, sslrootcert, currentSchema, ApplicationName and connectTimeout parameters are read); postgres:// and postgresql:// URLs are accepted too. Parameters in the URL win over connection.user/connection.password, as with the PostgreSQL JDBC driver."),
    connection_key("connection.user", "STRING", false, "JDBC connection user."),
    connection_key("connection.password", "PASSWORD", false, "JDBC connection password."),
    ConfigKeyDef {
        name: "dialect.name",
        default: Some(""),
        doc: "The database dialect; walcast writes PostgreSQL only, so empty or PostgreSqlDatabaseDialect.",
        importance: Importance::Low,
        group: CONN,
        valid: &["", "PostgreSqlDatabaseDialect"],
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "insert.mode",
        default: Some("insert"),
        doc: "insert: plain INSERT; upsert: INSERT ... ON CONFLICT (key) DO UPDATE; update: UPDATE of existing rows only.",
        importance: Importance::High,
        group: WRITES,
        valid: &["insert", "upsert", "update"],
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "batch.size",
        kind: "INT",
        default: Some("3000"),
        doc: "Maximum number of records written in one transaction.",
        importance: Importance::Medium,
        group: WRITES,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "delete.enabled",
        kind: "BOOLEAN",
        default: Some("false"),
        doc: "Delete the row of a tombstone or a Debezium delete event (requires pk.mode=record_key).",
        importance: Importance::Medium,
        group: WRITES,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "table.name.format",
        default: Some("${topic}"),
        doc: "Destination table name; ${topic} is the record's topic. Dots separate schema (and database) from table like Confluent's sink: `a.b` is table b in schema a, `a.b.c` is table c in schema b of database a (which must be the database connected to). Write \"${topic}\" in double quotes to keep dots in a table name.",
        importance: Importance::Medium,
        group: MAPPING,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "pk.mode",
        default: Some("none"),
        doc: "Where the key columns come from: none, kafka (__connect_topic, __connect_partition, __connect_offset), record_key (the key's fields), record_value (value fields named by pk.fields).",
        importance: Importance::High,
        group: MAPPING,
        valid: &["none", "kafka", "record_key", "record_value"],
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "pk.fields",
        kind: "LIST",
        default: Some(""),
        doc: "Key column names: for record_key a subset of the key's fields (exactly one name for a primitive key), for record_value the value fields forming the key (all when empty), for kafka three names replacing the __connect_* defaults.",
        importance: Importance::Medium,
        group: MAPPING,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "fields.whitelist",
        kind: "LIST",
        default: Some(""),
        doc: "Value fields to write (all when empty); key columns are always written.",
        importance: Importance::Medium,
        group: MAPPING,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "db.timezone",
        default: Some("UTC"),
        doc: "Session time zone of the sink's connection: Connect Timestamp values (UTC instants) written to timestamp columns are shown as wall time in this zone.",
        importance: Importance::Medium,
        group: MAPPING,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "auto.create",
        kind: "BOOLEAN",
        default: Some("false"),
        doc: "Create a missing table (CREATE TABLE from the record's schema, primary key from the key columns).",
        importance: Importance::Medium,
        group: DDL,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "auto.evolve",
        kind: "BOOLEAN",
        default: Some("false"),
        doc: "Add columns the table lacks (ALTER TABLE ... ADD COLUMN, nullable).",
        importance: Importance::Medium,
        group: DDL,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "quote.sql.identifiers",
        default: Some("always"),
        doc: "always: names keep their case; never: names fold to lower case as unquoted SQL names do.",
        importance: Importance::Medium,
        group: DDL,
        valid: &["always", "never"],
        ..ConfigKeyDef::BASE
    },
    retries_key("max.retries", "INT", "10", "How often a batch that failed for a transient reason (connection lost, deadlock, serialization failure) is retried before the task fails."),
    retries_key("retry.backoff.ms", "INT", "3000", "Wait between retries, milliseconds."),
    PLACEHOLDER_KEY,
];

/// Keys of `io.debezium.connector.jdbc.JdbcSinkConnector` (PostgreSQL).
pub static DEBEZIUM_KEYS: &[ConfigKeyDef] = &[
    connection_key("connection.url", "STRING", true, "JDBC connection URL, e.g. jdbc:postgresql://host:5432/db (postgres:// URLs too); parameters in the URL win over connection.username/connection.password."),
    connection_key("connection.username", "STRING", false, "Database user."),
    connection_key("connection.password", "PASSWORD", false, "Database password."),
    ConfigKeyDef {
        name: "insert.mode",
        default: Some("insert"),
        doc: "insert, upsert (INSERT ... ON CONFLICT DO UPDATE) or update.",
        importance: Importance::High,
        group: WRITES,
        valid: &["insert", "upsert", "update"],
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "delete.enabled",
        kind: "BOOLEAN",
        default: Some("false"),
        doc: "Delete rows for delete events and tombstones (requires primary.key.mode=record_key).",
        importance: Importance::Medium,
        group: WRITES,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "truncate.enabled",
        kind: "BOOLEAN",
        default: Some("false"),
        doc: "Truncate the table for truncate events (op t).",
        importance: Importance::Medium,
        group: WRITES,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "batch.size",
        kind: "INT",
        default: Some("500"),
        doc: "Maximum number of records written in one transaction.",
        importance: Importance::Medium,
        group: WRITES,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "use.reduction.buffer",
        kind: "BOOLEAN",
        default: Some("false"),
        doc: "Accepted for compatibility: walcast always folds changes to the same key within a batch to the last one, which never changes the result of upsert, update or delete.",
        importance: Importance::Low,
        group: WRITES,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "primary.key.mode",
        default: Some("none"),
        doc: "none, kafka (__connect_topic, __connect_partition, __connect_offset), record_key or record_value.",
        importance: Importance::High,
        group: MAPPING,
        valid: &["none", "kafka", "record_key", "record_value"],
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "primary.key.fields",
        kind: "LIST",
        default: Some(""),
        doc: "Key fields: a subset of the record key's fields (record_key), the value fields of the key (record_value).",
        importance: Importance::Medium,
        group: MAPPING,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "collection.name.format",
        default: Some("${topic}"),
        doc: "Destination table: ${topic} is the topic with dots replaced by underscores; ${source.<field>} (e.g. ${source.schema}.${source.table}) takes a field of a Debezium event's source block. A dot separates schema and table.",
        importance: Importance::Medium,
        group: MAPPING,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "table.name.format",
        doc: "Deprecated name of collection.name.format.",
        importance: Importance::Low,
        group: MAPPING,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "field.include.list",
        kind: "LIST",
        default: Some(""),
        doc: "Value fields to write, as field or topic:field (all when empty).",
        importance: Importance::Medium,
        group: MAPPING,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "field.exclude.list",
        kind: "LIST",
        default: Some(""),
        doc: "Value fields not to write, as field or topic:field.",
        importance: Importance::Medium,
        group: MAPPING,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "database.time_zone",
        default: Some("UTC"),
        doc: "Session time zone of the sink's connection.",
        importance: Importance::Medium,
        group: MAPPING,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "schema.evolution",
        default: Some("none"),
        doc: "none: tables must exist with every column; basic: create missing tables and add missing columns.",
        importance: Importance::Medium,
        group: DDL,
        valid: &["none", "basic"],
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "quote.identifiers",
        kind: "BOOLEAN",
        default: Some("false"),
        doc: "true: names keep their case; false: names fold to lower case as unquoted SQL names do.",
        importance: Importance::Medium,
        group: DDL,
        ..ConfigKeyDef::BASE
    },
    retries_key("flush.max.retries", "INT", "5", "How often a batch that failed for a transient reason is retried before the task fails."),
    retries_key("flush.retry.delay.ms", "LONG", "1000", "Wait between retries, milliseconds."),
    PLACEHOLDER_KEY,
];

/// A JDBC sink configuration of either dialect, in one shape.
#[derive(Debug, Clone)]
pub struct JdbcSinkConfig {
    pub dialect: Dialect,
    /// Where to connect (from `connection.url` and the user/password keys).
    pub connect: PgConnectConfig,
    /// JDBC `currentSchema`: the session's `search_path`, where unqualified tables live.
    pub current_schema: Option<String>,
    pub insert_mode: InsertMode,
    pub pk_mode: PkMode,
    pub pk_fields: Vec<String>,
    /// Value fields to write (empty: all). Entries may be `topic:field` (Debezium).
    pub fields_include: Vec<String>,
    /// Value fields not to write (Debezium), `field` or `topic:field`.
    pub fields_exclude: Vec<String>,
    /// Create missing tables.
    pub auto_create: bool,
    /// Add missing columns.
    pub auto_evolve: bool,
    pub delete_enabled: bool,
    pub truncate_enabled: bool,
    /// `table.name.format` / `collection.name.format`.
    pub table_format: String,
    /// Keep the case of names (quoting on) or fold them to lower case (quoting off).
    pub quote_identifiers: bool,
    pub batch_size: usize,
    pub max_retries: u32,
    pub retry_backoff: Duration,
    /// The session `TimeZone`.
    pub timezone: String,
    /// Debezium's placeholder for unchanged TOASTed values.
    pub unavailable_placeholder: String,
}

impl JdbcSinkConfig {
    /// Read a config of `dialect`, or every problem found (key, message).
    pub fn parse(
        dialect: Dialect,
        raw: &BTreeMap<String, String>,
    ) -> Result<Self, Vec<ConfigIssue>> {
        let defs = match dialect {
            Dialect::Confluent => CONFLUENT_KEYS,
            Dialect::Debezium => DEBEZIUM_KEYS,
        };
        let c = ConfigValues::parse(defs, raw)?;
        let mut issues = Vec::new();
        let (user_key, pk_mode_key, pk_fields_key) = match dialect {
            Dialect::Confluent => ("connection.user", "pk.mode", "pk.fields"),
            Dialect::Debezium => (
                "connection.username",
                "primary.key.mode",
                "primary.key.fields",
            ),
        };
        let url = parse_url(&c.string("connection.url"));
        let url = match url {
            Ok(u) => Some(u),
            Err(m) => {
                issues.push(ConfigIssue::new("connection.url", m));
                None
            }
        };
        let insert_mode = match c.choice("insert.mode").as_str() {
            "upsert" => InsertMode::Upsert,
            "update" => InsertMode::Update,
            _ => InsertMode::Insert,
        };
        let pk_mode = match c.choice(pk_mode_key).as_str() {
            "kafka" => PkMode::Kafka,
            "record_key" => PkMode::RecordKey,
            "record_value" => PkMode::RecordValue,
            _ => PkMode::None,
        };
        let pk_fields = c.list(pk_fields_key);
        let delete_enabled = c.bool("delete.enabled");
        if delete_enabled && pk_mode != PkMode::RecordKey {
            issues.push(ConfigIssue::new(
                pk_mode_key,
                format!("delete.enabled=true needs {pk_mode_key}=record_key: deletes find their row by the record key"),
            ));
        }
        if matches!(insert_mode, InsertMode::Upsert | InsertMode::Update)
            && matches!(pk_mode, PkMode::None)
        {
            issues.push(ConfigIssue::new(
                pk_mode_key,
                format!(
                    "insert.mode={} needs a key: set {pk_mode_key} to record_key, record_value or kafka",
                    c.choice("insert.mode")
                ),
            ));
        }
        if pk_mode == PkMode::Kafka && !pk_fields.is_empty() && pk_fields.len() != 3 {
            issues.push(ConfigIssue::new(
                pk_fields_key,
                format!("{pk_mode_key}=kafka takes no or exactly three names (topic, partition and offset columns)"),
            ));
        }
        let batch_size = c.i64("batch.size");
        if batch_size < 1 {
            issues.push(ConfigIssue::new("batch.size", "must be at least 1"));
        }
        let (max_retries, backoff_ms) = match dialect {
            Dialect::Confluent => (c.i64("max.retries"), c.i64("retry.backoff.ms")),
            Dialect::Debezium => (c.i64("flush.max.retries"), c.i64("flush.retry.delay.ms")),
        };
        if max_retries < 0 || backoff_ms < 0 {
            issues.push(ConfigIssue::new(
                match dialect {
                    Dialect::Confluent => "max.retries",
                    Dialect::Debezium => "flush.max.retries",
                },
                "retries and their delay cannot be negative",
            ));
        }
        let timezone = match dialect {
            Dialect::Confluent => c.string("db.timezone"),
            Dialect::Debezium => c.string("database.time_zone"),
        };
        if timezone.is_empty() || timezone.contains(['\'', '\\', '\0']) {
            issues.push(ConfigIssue::new(
                "db.timezone",
                "must be a time zone name such as UTC or Europe/Berlin",
            ));
        }
        let (auto_create, auto_evolve, table_format, quote_identifiers, include, exclude) =
            match dialect {
                Dialect::Confluent => (
                    c.bool("auto.create"),
                    c.bool("auto.evolve"),
                    c.string("table.name.format"),
                    c.choice("quote.sql.identifiers") == "always",
                    c.list("fields.whitelist"),
                    Vec::new(),
                ),
                Dialect::Debezium => {
                    let basic = c.choice("schema.evolution") == "basic";
                    let format = if c.is_set("collection.name.format") {
                        c.string("collection.name.format")
                    } else {
                        c.opt_string("table.name.format")
                            .unwrap_or_else(|| c.string("collection.name.format"))
                    };
                    (
                        basic,
                        basic,
                        format,
                        c.bool("quote.identifiers"),
                        c.list("field.include.list"),
                        c.list("field.exclude.list"),
                    )
                }
            };
        if !include.is_empty() && !exclude.is_empty() {
            issues.push(ConfigIssue::new(
                "field.exclude.list",
                "set field.include.list or field.exclude.list, not both",
            ));
        }
        if table_format.is_empty() {
            issues.push(ConfigIssue::new(
                "table.name.format",
                "must not be empty (default ${topic})",
            ));
        }
        let user = c.opt_string(user_key);
        let password = c.opt_string("connection.password");
        let mut connect = None;
        let mut current_schema = None;
        if let Some(u) = url {
            let user = u.user.clone().or(user);
            match user {
                None => issues.push(ConfigIssue::new(
                    user_key,
                    format!("no database user: set {user_key} or user= in connection.url"),
                )),
                Some(user) => {
                    let mut pg = PgConnectConfig::new(&u.host, u.port, user, &u.dbname);
                    if let Some(p) = u.password.clone().or(password) {
                        pg = pg.with_password(p);
                    }
                    pg.sslmode = u.sslmode;
                    pg.sslrootcert = u.sslrootcert.clone().map(Into::into);
                    pg.application_name = u
                        .application_name
                        .clone()
                        .unwrap_or_else(|| "walcast-jdbc-sink".into());
                    if let Some(t) = u.connect_timeout {
                        pg.connect_timeout = t;
                    }
                    current_schema = u.current_schema.clone();
                    connect = Some(pg);
                }
            }
        }
        match connect {
            Some(connect) if issues.is_empty() => Ok(Self {
                dialect,
                connect,
                current_schema,
                insert_mode,
                pk_mode,
                pk_fields,
                fields_include: include,
                fields_exclude: exclude,
                auto_create,
                auto_evolve,
                delete_enabled,
                truncate_enabled: dialect == Dialect::Debezium && c.bool("truncate.enabled"),
                table_format,
                quote_identifiers,
                batch_size: usize::try_from(batch_size).unwrap_or(1),
                max_retries: u32::try_from(max_retries).unwrap_or(0),
                retry_backoff: Duration::from_millis(u64::try_from(backoff_ms).unwrap_or(0)),
                timezone,
                unavailable_placeholder: c.string("unavailable.value.placeholder"),
            }),
            _ => Err(issues),
        }
    }
}

/// What a connection URL says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub sslmode: SslMode,
    pub sslrootcert: Option<String>,
    pub current_schema: Option<String>,
    pub application_name: Option<String>,
    pub connect_timeout: Option<Duration>,
}

/// Parse `jdbc:postgresql://host[:port][/db][?k=v&...]`, `jdbc:postgresql:db` and
/// `postgres[ql]://[user[:password]@]host[:port][/db][?k=v&...]`. Only the first host of a
/// multi-host URL is used. Errors never repeat the URL (it may hold a password).
pub fn parse_url(url: &str) -> Result<ParsedUrl, String> {
    let url = url.trim();
    let (rest, jdbc) = if let Some(r) = url.strip_prefix("jdbc:postgresql:") {
        (r, true)
    } else if let Some(r) = url
        .strip_prefix("postgresql:")
        .or_else(|| url.strip_prefix("postgres:"))
    {
        (r, false)
    } else {
        return Err(
            "expected a PostgreSQL URL: jdbc:postgresql://host:port/database or postgres://user@host:port/database"
                .into(),
        );
    };
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let mut user = None;
    let mut password = None;
    let (host, port, dbname) = if let Some(authority_path) = main.strip_prefix("//") {
        let (authority, path) = match authority_path.split_once('/') {
            Some((a, p)) => (a, p),
            None => (authority_path, ""),
        };
        let hostport = match authority.rsplit_once('@') {
            Some((userinfo, hp)) => {
                let (u, p) = match userinfo.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (userinfo, None),
                };
                user = Some(percent_decode(u)?);
                password = p.map(percent_decode).transpose()?;
                hp
            }
            None => authority,
        };
        let first = hostport.split(',').next().unwrap_or("");
        let (host, port) = split_host_port(first)?;
        (host, port, percent_decode(path)?)
    } else if jdbc {
        ("localhost".to_string(), 5432, percent_decode(main)?)
    } else {
        return Err("expected // after the URL scheme".into());
    };
    let mut parsed = ParsedUrl {
        host: if host.is_empty() {
            "localhost".into()
        } else {
            host
        },
        port,
        dbname,
        user,
        password,
        sslmode: SslMode::Prefer,
        sslrootcert: None,
        current_schema: None,
        application_name: None,
        connect_timeout: None,
    };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v)?;
        match k {
            "user" => parsed.user = Some(v),
            "password" => parsed.password = Some(v),
            "sslmode" => {
                parsed.sslmode = v
                    .parse()
                    .map_err(|_| format!("unknown sslmode {v:?} in connection.url"))?;
            }
            "ssl" if v.eq_ignore_ascii_case("true") && parsed.sslmode == SslMode::Prefer => {
                parsed.sslmode = SslMode::VerifyFull;
            }
            "sslrootcert" => parsed.sslrootcert = Some(v),
            "currentSchema" => parsed.current_schema = Some(v),
            "ApplicationName" | "application_name" => parsed.application_name = Some(v),
            "connectTimeout" | "connect_timeout" => {
                let secs: u64 = v
                    .parse()
                    .map_err(|_| format!("{k} in connection.url must be whole seconds"))?;
                if secs > 0 {
                    parsed.connect_timeout = Some(Duration::from_secs(secs));
                }
            }
            _ => tracing::debug!(
                parameter = k,
                "connection.url parameter not used by walcast"
            ),
        }
    }
    if parsed.dbname.is_empty() {
        if let Some(u) = &parsed.user {
            parsed.dbname = u.clone();
        }
    }
    Ok(parsed)
}

fn split_host_port(s: &str) -> Result<(String, u16), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or("unclosed [ in the connection.url host")?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| "bad port in connection.url")?,
            None => 5432,
        };
        return Ok((h.to_string(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Ok((
            h.to_string(),
            p.parse().map_err(|_| "bad port in connection.url")?,
        )),
        None => Ok((s.to_string(), 5432)),
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("bad %-escape in connection.url")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "connection.url is not UTF-8 after %-decoding".into())
}

/// Whether `field` of `topic` passes an include/exclude list whose entries are `field` or
/// `topic:field`.
pub fn list_matches(list: &[String], topic: &str, field: &str) -> bool {
    list.iter().any(|e| match e.rsplit_once(':') {
        Some((t, f)) => t == topic && f == field,
        None => e == field,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn jdbc_urls() {
        let u = parse_url(
            "jdbc:postgresql://db.example:6543/results?user=sink&password=p%40ss&sslmode=require&currentSchema=app",
        )
        .unwrap();
        assert_eq!(u.host, "db.example");
        assert_eq!(u.port, 6543);
        assert_eq!(u.dbname, "results");
        assert_eq!(u.user.as_deref(), Some("sink"));
        assert_eq!(u.password.as_deref(), Some("p@ss"));
        assert_eq!(u.sslmode, SslMode::Require);
        assert_eq!(u.current_schema.as_deref(), Some("app"));
        let u = parse_url("jdbc:postgresql://h/d").unwrap();
        assert_eq!((u.port, u.sslmode), (5432, SslMode::Prefer));
        let u = parse_url("jdbc:postgresql:orders").unwrap();
        assert_eq!(
            (u.host.as_str(), u.dbname.as_str()),
            ("localhost", "orders")
        );
        let u = parse_url("jdbc:postgresql://[::1]:5433,other:5432/x").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 5433));
    }

    #[test]
    fn postgres_urls() {
        let u =
            parse_url("postgres://alice:s%3Acret@127.0.0.1:5432/results?sslmode=disable").unwrap();
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("s:cret"));
        assert_eq!(u.sslmode, SslMode::Disable);
        let u = parse_url("postgresql://bob@h").unwrap();
        assert_eq!(u.dbname, "bob");
        let e = parse_url("mysql://root:secret@h/db").unwrap_err();
        assert!(!e.contains("secret"));
        assert!(parse_url("jdbc:postgresql://h:notaport/d").is_err());
    }

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn confluent_defaults() {
        let c = JdbcSinkConfig::parse(
            Dialect::Confluent,
            &raw(&[
                ("connection.url", "jdbc:postgresql://h:1/d"),
                ("connection.user", "u"),
            ]),
        )
        .unwrap();
        assert_eq!(c.insert_mode, InsertMode::Insert);
        assert_eq!(c.pk_mode, PkMode::None);
        assert_eq!(c.batch_size, 3000);
        assert_eq!(c.max_retries, 10);
        assert_eq!(c.retry_backoff, Duration::from_millis(3000));
        assert_eq!(c.table_format, "${topic}");
        assert!(c.quote_identifiers);
        assert!(!c.auto_create && !c.auto_evolve && !c.delete_enabled);
        assert_eq!(c.timezone, "UTC");
        assert_eq!(c.connect.user, "u");
    }

    #[test]
    fn debezium_defaults_and_keys() {
        let c = JdbcSinkConfig::parse(
            Dialect::Debezium,
            &raw(&[
                ("connection.url", "jdbc:postgresql://h:1/d"),
                ("connection.username", "u"),
                ("connection.password", "p"),
                ("insert.mode", "upsert"),
                ("primary.key.mode", "record_key"),
                ("delete.enabled", "true"),
                ("truncate.enabled", "true"),
                ("schema.evolution", "basic"),
                ("collection.name.format", "${source.schema}.${source.table}"),
                ("field.exclude.list", "t:secret"),
            ]),
        )
        .unwrap();
        assert_eq!(c.batch_size, 500);
        assert!(!c.quote_identifiers);
        assert!(c.auto_create && c.auto_evolve && c.truncate_enabled && c.delete_enabled);
        assert_eq!(c.insert_mode, InsertMode::Upsert);
        assert_eq!(c.pk_mode, PkMode::RecordKey);
        assert_eq!(c.connect.password.as_deref(), Some("p"));
        assert_eq!(c.fields_exclude, ["t:secret"]);
        assert!(list_matches(&c.fields_exclude, "t", "secret"));
        assert!(!list_matches(&c.fields_exclude, "other", "secret"));
    }

    #[test]
    fn bad_combinations_are_reported() {
        let issues = JdbcSinkConfig::parse(
            Dialect::Confluent,
            &raw(&[
                ("connection.url", "jdbc:postgresql://h:1/d"),
                ("insert.mode", "upsert"),
                ("delete.enabled", "true"),
                ("pk.mode", "merge"),
            ]),
        )
        .unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["pk.mode"], "{issues:?}");
        let issues = JdbcSinkConfig::parse(
            Dialect::Confluent,
            &raw(&[
                ("connection.url", "jdbc:postgresql://h:1/d"),
                ("insert.mode", "upsert"),
                ("delete.enabled", "true"),
            ]),
        )
        .unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            ["pk.mode", "pk.mode", "connection.user"],
            "{issues:?}"
        );
    }
}
