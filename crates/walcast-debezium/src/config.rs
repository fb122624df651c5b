//! The event-shaping part of a Debezium PostgreSQL connector configuration: how values are
//! represented (`*.handling.mode`, `time.precision.mode`), which columns make the key and which
//! are left out, which records are emitted (tombstones, skipped operations) and how topics are
//! named. Read from the same property names, with the same defaults, as Debezium 3.x, so that a
//! pasted Debezium configuration produces the same records.

use std::collections::BTreeMap;

use regex::{Regex, RegexBuilder};
use walcast_pgoutput::TableId;

/// The placeholder Debezium writes for TOAST values that an UPDATE did not touch.
pub const DEFAULT_UNAVAILABLE_VALUE_PLACEHOLDER: &str = "__debezium_unavailable_value";

/// The `source.version` walcast reports: the version of the Debezium release whose event format
/// walcast produces (3.6.3.Final), then `+walcast.<version>`.
///
/// Consumers must be able to tell walcast's events from Debezium's (to report bugs to the right
/// project, or to work around one's quirk), and consumers that branch on the Debezium version
/// must keep working. The Debezium version comes first, unchanged, so a prefix or
/// `major.minor` check still sees 3.6.3; the suffix uses SemVer's build-metadata form (`+`),
/// which version comparisons ignore, and names walcast and its release.
pub const DEFAULT_SOURCE_VERSION: &str = concat!("3.6.3.Final+walcast.", env!("CARGO_PKG_VERSION"));

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required property is absent.
    #[error("missing required property {key}")]
    Missing { key: &'static str },
    /// A property has a value outside its allowed set.
    #[error("invalid value {value:?} for {key}: allowed values are {allowed}")]
    InvalidValue {
        key: String,
        value: String,
        allowed: &'static str,
    },
    /// A regular expression in a property does not compile.
    #[error("invalid regular expression {pattern:?} in {key}: {reason}")]
    InvalidRegex {
        key: String,
        pattern: String,
        reason: String,
    },
    /// `message.key.columns` is not `table:col,col;table:col`.
    #[error("invalid entry {entry:?} in message.key.columns: expected <schema.table regex>:<column>[,<column>...]")]
    InvalidKeyColumns { entry: String },
    /// Both an include and an exclude list were given for columns.
    #[error("column.include.list and column.exclude.list cannot both be set")]
    BothColumnLists,
}

impl ConfigError {
    /// The property the error is about, so a validation report can attach it to that key.
    pub fn key(&self) -> &str {
        match self {
            ConfigError::Missing { key } => key,
            ConfigError::InvalidValue { key, .. } | ConfigError::InvalidRegex { key, .. } => key,
            ConfigError::InvalidKeyColumns { .. } => "message.key.columns",
            ConfigError::BothColumnLists => "column.exclude.list",
        }
    }
}

/// `decimal.handling.mode`: how `numeric`/`decimal` and `money` columns are represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DecimalMode {
    /// Connect `Decimal` (bytes of the unscaled value), or `VariableScaleDecimal` for unconstrained
    /// `numeric`.
    #[default]
    Precise,
    /// A plain decimal string.
    String,
    /// A `float64`.
    Double,
}

/// `time.precision.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TimePrecisionMode {
    /// Milli-, micro- or nano- logical types by column precision.
    #[default]
    Adaptive,
    /// Like adaptive, but `time` columns are always `MicroTime`.
    AdaptiveTimeMicroseconds,
    /// Kafka Connect's own `Date`/`Time`/`Timestamp` logical types (millisecond precision).
    Connect,
    /// ISO-8601 strings (`IsoDate`, `IsoTime`, `IsoTimestamp`).
    IsoString,
    /// `MicroTime` / `MicroTimestamp` whatever the column precision.
    Microseconds,
    /// `NanoTime` / `NanoTimestamp`.
    Nanoseconds,
}

/// `binary.handling.mode`: how `bytea` columns are represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BinaryMode {
    /// Connect `bytes` (base64 in JSON).
    #[default]
    Bytes,
    /// A base64 string.
    Base64,
    /// A URL-safe base64 string.
    Base64UrlSafe,
    /// A lower-case hex string.
    Hex,
}

/// `interval.handling.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IntervalMode {
    /// `MicroDuration` (int64 microseconds, a month counted as 30.4375 days).
    #[default]
    Numeric,
    /// An ISO-8601 duration string (`io.debezium.time.Interval`).
    String,
}

/// `hstore.handling.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HstoreMode {
    /// A JSON document string (`io.debezium.data.Json`).
    #[default]
    Json,
    /// A Connect map of string to optional string.
    Map,
}

/// `schema.name.adjustment.mode` / `field.name.adjustment.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NameAdjustmentMode {
    /// Names are used as they are (Debezium 2.x+ default).
    #[default]
    None,
    /// Characters not valid in Avro names become `_`.
    Avro,
    /// Characters not valid in Avro names become `_uxxxx`.
    AvroUnicode,
}

/// The operations `skipped.operations` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SkippedOperations {
    pub create: bool,
    pub update: bool,
    pub delete: bool,
    pub truncate: bool,
}

/// One `message.key.columns` entry: tables whose `schema.table` fully matches `table` use
/// `columns` as the message key.
#[derive(Debug, Clone)]
pub struct KeyColumnsRule {
    pub table: Regex,
    pub columns: Vec<String>,
}

/// `column.include.list` / `column.exclude.list`: regexes fully matched, case-insensitively,
/// against `schema.table.column`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum ColumnFilter {
    /// Every column is captured.
    #[default]
    All,
    /// Only columns matching one of these.
    Include(Vec<Regex>),
    /// Every column except those matching one of these.
    Exclude(Vec<Regex>),
}

impl ColumnFilter {
    /// Whether `schema.table.column` is captured.
    pub fn captures(&self, table: &TableId, column: &str) -> bool {
        match self {
            ColumnFilter::All => true,
            ColumnFilter::Include(r) => {
                let id = format!("{}.{}.{}", table.schema, table.table, column);
                r.iter().any(|r| r.is_match(&id))
            }
            ColumnFilter::Exclude(r) => {
                let id = format!("{}.{}.{}", table.schema, table.table, column);
                !r.iter().any(|r| r.is_match(&id))
            }
        }
    }
}

/// Everything that decides the shape of walcast's Debezium-compatible records.
#[derive(Debug, Clone)]
pub struct EventConfig {
    /// `topic.prefix` (legacy `database.server.name`): first part of every topic and schema name,
    /// and `source.name`.
    pub topic_prefix: String,
    /// `topic.delimiter` (default `.`), between prefix, schema and table in topic names.
    pub topic_delimiter: String,
    /// `database.dbname`, reported as `source.db`.
    pub database: String,
    pub decimal_mode: DecimalMode,
    pub time_precision_mode: TimePrecisionMode,
    pub binary_mode: BinaryMode,
    pub interval_mode: IntervalMode,
    pub hstore_mode: HstoreMode,
    /// `schema.name.adjustment.mode` for the Key/Value/Envelope schema names.
    pub schema_name_adjustment: NameAdjustmentMode,
    /// `field.name.adjustment.mode` for column field names.
    pub field_name_adjustment: NameAdjustmentMode,
    /// `include.unknown.datatypes`: columns of types Debezium has no mapping for are left out
    /// unless this is set.
    pub include_unknown_datatypes: bool,
    /// `tombstones.on.delete`: a delete is followed by a record with the key and a null value, so
    /// that log compaction can drop the key.
    pub tombstones_on_delete: bool,
    /// `message.key.columns`, in the order given; the first matching rule wins.
    pub message_key_columns: Vec<KeyColumnsRule>,
    /// `column.include.list` / `column.exclude.list`.
    pub column_filter: ColumnFilter,
    /// `skipped.operations` (default `t`: truncates are not emitted).
    pub skipped_operations: SkippedOperations,
    /// `money.fraction.digits` (default 2): the scale of `money` as a decimal.
    pub money_fraction_digits: u8,
    /// `unavailable.value.placeholder`: what unchanged TOAST values become.
    pub unavailable_value_placeholder: String,
    /// Whether the key converter writes `{"schema","payload"}` (`key.converter.schemas.enable`).
    pub key_schemas_enable: bool,
    /// Whether the value converter writes `{"schema","payload"}`
    /// (`value.converter.schemas.enable`).
    pub value_schemas_enable: bool,
    /// `source.version` in every event.
    pub source_version: String,
}

fn prop<'a>(p: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    p.get(key).map(|s| s.trim()).filter(|s| !s.is_empty())
}

fn choice<T: Copy>(
    p: &BTreeMap<String, String>,
    key: &str,
    default: T,
    allowed: &'static str,
    options: &[(&str, T)],
) -> Result<T, ConfigError> {
    let Some(v) = prop(p, key) else {
        return Ok(default);
    };
    options
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(v))
        .map(|(_, t)| *t)
        .ok_or_else(|| ConfigError::InvalidValue {
            key: key.to_string(),
            value: v.to_string(),
            allowed,
        })
}

fn boolean(p: &BTreeMap<String, String>, key: &str, default: bool) -> Result<bool, ConfigError> {
    choice(
        p,
        key,
        default,
        "true, false",
        &[("true", true), ("false", false)],
    )
}

fn regex(key: &str, pattern: &str) -> Result<Regex, ConfigError> {
    RegexBuilder::new(&format!("^(?:{pattern})$"))
        .case_insensitive(true)
        .build()
        .map_err(|e| ConfigError::InvalidRegex {
            key: key.to_string(),
            pattern: pattern.to_string(),
            reason: e.to_string(),
        })
}

fn regex_list(
    p: &BTreeMap<String, String>,
    keys: &[&str],
) -> Result<Option<Vec<Regex>>, ConfigError> {
    for key in keys {
        if let Some(v) = prop(p, key) {
            return walcast_connect_api::split_list(v)
                .iter()
                .map(|pat| regex(key, pat))
                .collect::<Result<Vec<_>, _>>()
                .map(Some);
        }
    }
    Ok(None)
}

fn parse_key_columns(v: &str) -> Result<Vec<KeyColumnsRule>, ConfigError> {
    let mut rules = Vec::new();
    for entry in v.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        // The table part is a regex and may itself contain ':' only in exotic cases; Debezium
        // splits on the last ':' as well.
        let (table, cols) =
            entry
                .rsplit_once(':')
                .ok_or_else(|| ConfigError::InvalidKeyColumns {
                    entry: entry.to_string(),
                })?;
        let columns: Vec<String> = cols
            .split(',')
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        if table.trim().is_empty() || columns.is_empty() {
            return Err(ConfigError::InvalidKeyColumns {
                entry: entry.to_string(),
            });
        }
        rules.push(KeyColumnsRule {
            table: regex("message.key.columns", table.trim())?,
            columns,
        });
    }
    Ok(rules)
}

fn parse_skipped(v: Option<&str>) -> Result<SkippedOperations, ConfigError> {
    let v = v.unwrap_or("t");
    let mut s = SkippedOperations::default();
    for op in v.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match op.to_ascii_lowercase().as_str() {
            "c" => s.create = true,
            "u" => s.update = true,
            "d" => s.delete = true,
            "t" => s.truncate = true,
            "none" => s = SkippedOperations::default(),
            _ => {
                return Err(ConfigError::InvalidValue {
                    key: "skipped.operations".into(),
                    value: v.to_string(),
                    allowed: "a comma-separated list of c, u, d, t, or none",
                })
            }
        }
    }
    Ok(s)
}

impl EventConfig {
    /// Reads the event-shaping properties of a Debezium PostgreSQL connector configuration.
    /// `key_schemas_enable`/`value_schemas_enable` come from the converter configuration, which
    /// the caller owns (see [`schemas_enable_from_properties`] for the usual property names).
    pub fn from_properties(
        props: &BTreeMap<String, String>,
        key_schemas_enable: bool,
        value_schemas_enable: bool,
    ) -> Result<Self, ConfigError> {
        let topic_prefix = prop(props, "topic.prefix")
            .or_else(|| prop(props, "database.server.name"))
            .ok_or(ConfigError::Missing {
                key: "topic.prefix",
            })?
            .to_string();
        let decimal_mode = choice(
            props,
            "decimal.handling.mode",
            DecimalMode::Precise,
            "precise, string, double",
            &[
                ("precise", DecimalMode::Precise),
                ("string", DecimalMode::String),
                ("double", DecimalMode::Double),
            ],
        )?;
        let time_precision_mode = choice(
            props,
            "time.precision.mode",
            TimePrecisionMode::Adaptive,
            "adaptive, adaptive_time_microseconds, isostring, microseconds, nanoseconds, connect",
            &[
                ("adaptive", TimePrecisionMode::Adaptive),
                (
                    "adaptive_time_microseconds",
                    TimePrecisionMode::AdaptiveTimeMicroseconds,
                ),
                ("connect", TimePrecisionMode::Connect),
                ("isostring", TimePrecisionMode::IsoString),
                ("microseconds", TimePrecisionMode::Microseconds),
                ("nanoseconds", TimePrecisionMode::Nanoseconds),
            ],
        )?;
        let binary_mode = choice(
            props,
            "binary.handling.mode",
            BinaryMode::Bytes,
            "bytes, base64, base64-url-safe, hex",
            &[
                ("bytes", BinaryMode::Bytes),
                ("base64", BinaryMode::Base64),
                ("base64-url-safe", BinaryMode::Base64UrlSafe),
                ("hex", BinaryMode::Hex),
            ],
        )?;
        let interval_mode = choice(
            props,
            "interval.handling.mode",
            IntervalMode::Numeric,
            "numeric, string",
            &[
                ("numeric", IntervalMode::Numeric),
                ("string", IntervalMode::String),
            ],
        )?;
        let hstore_mode = choice(
            props,
            "hstore.handling.mode",
            HstoreMode::Json,
            "json, map",
            &[("json", HstoreMode::Json), ("map", HstoreMode::Map)],
        )?;
        let adjust = |key| {
            choice(
                props,
                key,
                NameAdjustmentMode::None,
                "none, avro, avro_unicode",
                &[
                    ("none", NameAdjustmentMode::None),
                    ("avro", NameAdjustmentMode::Avro),
                    ("avro_unicode", NameAdjustmentMode::AvroUnicode),
                ],
            )
        };
        let schema_name_adjustment = adjust("schema.name.adjustment.mode")?;
        let field_name_adjustment = adjust("field.name.adjustment.mode")?;
        let include = regex_list(props, &["column.include.list", "column.whitelist"])?;
        let exclude = regex_list(props, &["column.exclude.list", "column.blacklist"])?;
        let column_filter = match (include, exclude) {
            (Some(_), Some(_)) => return Err(ConfigError::BothColumnLists),
            (Some(i), None) => ColumnFilter::Include(i),
            (None, Some(e)) => ColumnFilter::Exclude(e),
            (None, None) => ColumnFilter::All,
        };
        let money_fraction_digits = match prop(props, "money.fraction.digits") {
            None => 2,
            Some(v) => v.parse::<u8>().ok().filter(|d| *d <= 38).ok_or_else(|| {
                ConfigError::InvalidValue {
                    key: "money.fraction.digits".into(),
                    value: v.to_string(),
                    allowed: "an integer from 0 to 38",
                }
            })?,
        };
        Ok(EventConfig {
            topic_prefix,
            topic_delimiter: props
                .get("topic.delimiter")
                .filter(|d| !d.is_empty())
                .cloned()
                .unwrap_or_else(|| ".".to_string()),
            database: prop(props, "database.dbname").unwrap_or("").to_string(),
            decimal_mode,
            time_precision_mode,
            binary_mode,
            interval_mode,
            hstore_mode,
            schema_name_adjustment,
            field_name_adjustment,
            include_unknown_datatypes: boolean(props, "include.unknown.datatypes", false)?,
            tombstones_on_delete: boolean(props, "tombstones.on.delete", true)?,
            message_key_columns: match prop(props, "message.key.columns") {
                Some(v) => parse_key_columns(v)?,
                None => Vec::new(),
            },
            column_filter,
            skipped_operations: parse_skipped(prop(props, "skipped.operations"))?,
            money_fraction_digits,
            unavailable_value_placeholder: props
                .get("unavailable.value.placeholder")
                .cloned()
                .unwrap_or_else(|| DEFAULT_UNAVAILABLE_VALUE_PLACEHOLDER.to_string()),
            key_schemas_enable,
            value_schemas_enable,
            source_version: DEFAULT_SOURCE_VERSION.to_string(),
        })
    }

    /// A configuration with Debezium's defaults and the given topic prefix and database, schemas
    /// enabled on both converters.
    pub fn with_defaults(topic_prefix: &str, database: &str) -> Self {
        let mut p = BTreeMap::new();
        p.insert("topic.prefix".to_string(), topic_prefix.to_string());
        p.insert("database.dbname".to_string(), database.to_string());
        match Self::from_properties(&p, true, true) {
            Ok(c) => c,
            // Unreachable: the defaults are valid; fall back to a hand-built copy of them.
            Err(_) => EventConfig {
                topic_prefix: topic_prefix.to_string(),
                topic_delimiter: ".".into(),
                database: database.to_string(),
                decimal_mode: DecimalMode::Precise,
                time_precision_mode: TimePrecisionMode::Adaptive,
                binary_mode: BinaryMode::Bytes,
                interval_mode: IntervalMode::Numeric,
                hstore_mode: HstoreMode::Json,
                schema_name_adjustment: NameAdjustmentMode::None,
                field_name_adjustment: NameAdjustmentMode::None,
                include_unknown_datatypes: false,
                tombstones_on_delete: true,
                message_key_columns: Vec::new(),
                column_filter: ColumnFilter::All,
                skipped_operations: SkippedOperations {
                    truncate: true,
                    ..Default::default()
                },
                money_fraction_digits: 2,
                unavailable_value_placeholder: DEFAULT_UNAVAILABLE_VALUE_PLACEHOLDER.into(),
                key_schemas_enable: true,
                value_schemas_enable: true,
                source_version: DEFAULT_SOURCE_VERSION.into(),
            },
        }
    }

    /// The `message.key.columns` of `table`, if a rule matches it.
    pub fn key_columns_for(&self, table: &TableId) -> Option<&[String]> {
        let name = format!("{}.{}", table.schema, table.table);
        self.message_key_columns
            .iter()
            .find(|r| r.table.is_match(&name))
            .map(|r| r.columns.as_slice())
    }
}

/// Reads the converters' `schemas.enable` flags the way Kafka Connect does:
/// `key.converter.schemas.enable` / `value.converter.schemas.enable`, falling back to
/// `converter.schemas.enable` (the embedded engine's shared prefix), default true. Returns
/// `(key, value)`.
pub fn schemas_enable_from_properties(
    props: &BTreeMap<String, String>,
) -> Result<(bool, bool), ConfigError> {
    let shared = boolean(props, "converter.schemas.enable", true)?;
    Ok((
        boolean(props, "key.converter.schemas.enable", shared)?,
        boolean(props, "value.converter.schemas.enable", shared)?,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn props(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_follow_debezium() {
        let c =
            EventConfig::from_properties(&props(&[("topic.prefix", "db1")]), true, true).unwrap();
        assert_eq!(c.topic_prefix, "db1");
        assert_eq!(c.decimal_mode, DecimalMode::Precise);
        assert_eq!(c.time_precision_mode, TimePrecisionMode::Adaptive);
        assert_eq!(c.binary_mode, BinaryMode::Bytes);
        assert_eq!(c.interval_mode, IntervalMode::Numeric);
        assert_eq!(c.hstore_mode, HstoreMode::Json);
        assert!(!c.include_unknown_datatypes);
        assert!(c.tombstones_on_delete);
        assert!(c.skipped_operations.truncate);
        assert!(!c.skipped_operations.create);
        assert_eq!(c.money_fraction_digits, 2);
        assert_eq!(
            c.unavailable_value_placeholder,
            "__debezium_unavailable_value"
        );
        assert_eq!(c.topic_delimiter, ".");
    }

    #[test]
    fn legacy_server_name_and_missing_prefix() {
        let c =
            EventConfig::from_properties(&props(&[("database.server.name", "legacy")]), true, true)
                .unwrap();
        assert_eq!(c.topic_prefix, "legacy");
        let e = EventConfig::from_properties(&props(&[]), true, true).unwrap_err();
        assert_eq!(
            e,
            ConfigError::Missing {
                key: "topic.prefix"
            }
        );
    }

    #[test]
    fn invalid_values_name_key_value_and_allowed() {
        let e = EventConfig::from_properties(
            &props(&[("topic.prefix", "x"), ("decimal.handling.mode", "exact")]),
            true,
            true,
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("decimal.handling.mode"), "{msg}");
        assert!(msg.contains("exact"), "{msg}");
        assert!(msg.contains("precise, string, double"), "{msg}");
        let e = EventConfig::from_properties(
            &props(&[("topic.prefix", "x"), ("skipped.operations", "c,x")]),
            true,
            true,
        )
        .unwrap_err();
        assert!(e.to_string().contains("skipped.operations"));
    }

    #[test]
    fn modes_are_case_insensitive() {
        let c = EventConfig::from_properties(
            &props(&[
                ("topic.prefix", "x"),
                ("binary.handling.mode", "BASE64-URL-SAFE"),
                ("time.precision.mode", "Connect"),
            ]),
            true,
            true,
        )
        .unwrap();
        assert_eq!(c.binary_mode, BinaryMode::Base64UrlSafe);
        assert_eq!(c.time_precision_mode, TimePrecisionMode::Connect);
    }

    #[test]
    fn key_columns_and_column_lists() {
        let c = EventConfig::from_properties(
            &props(&[
                ("topic.prefix", "x"),
                (
                    "message.key.columns",
                    "public.customers:email;inventory.orders:customer_id,status;public\\.no_.*:a",
                ),
                ("column.exclude.list", "public.customers.email,.*\\.b"),
            ]),
            true,
            true,
        )
        .unwrap();
        assert_eq!(
            c.key_columns_for(&TableId::new("inventory", "orders")),
            Some(&["customer_id".to_string(), "status".to_string()][..])
        );
        assert_eq!(
            c.key_columns_for(&TableId::new("public", "no_pk")),
            Some(&["a".to_string()][..])
        );
        assert_eq!(c.key_columns_for(&TableId::new("public", "other")), None);
        let t = TableId::new("public", "customers");
        assert!(!c.column_filter.captures(&t, "email"));
        assert!(!c.column_filter.captures(&t, "b"));
        assert!(c.column_filter.captures(&t, "name"));
        // Full match: a prefix is not enough.
        assert!(c.column_filter.captures(&t, "email2"));
        let e = EventConfig::from_properties(
            &props(&[("topic.prefix", "x"), ("message.key.columns", "nocolon")]),
            true,
            true,
        )
        .unwrap_err();
        assert!(matches!(e, ConfigError::InvalidKeyColumns { .. }));
        let e = EventConfig::from_properties(
            &props(&[
                ("topic.prefix", "x"),
                ("column.include.list", "a"),
                ("column.exclude.list", "b"),
            ]),
            true,
            true,
        )
        .unwrap_err();
        assert_eq!(e, ConfigError::BothColumnLists);
        let e = EventConfig::from_properties(
            &props(&[("topic.prefix", "x"), ("column.exclude.list", "(")]),
            true,
            true,
        )
        .unwrap_err();
        assert!(matches!(e, ConfigError::InvalidRegex { .. }));
    }

    #[test]
    fn skipped_operations_none_and_lists() {
        let c = EventConfig::from_properties(
            &props(&[("topic.prefix", "x"), ("skipped.operations", "none")]),
            true,
            true,
        )
        .unwrap();
        assert_eq!(c.skipped_operations, SkippedOperations::default());
        let c = EventConfig::from_properties(
            &props(&[("topic.prefix", "x"), ("skipped.operations", "c, u")]),
            true,
            true,
        )
        .unwrap();
        assert!(c.skipped_operations.create && c.skipped_operations.update);
        assert!(!c.skipped_operations.truncate);
    }

    #[test]
    fn converter_flags() {
        assert_eq!(
            schemas_enable_from_properties(&props(&[])).unwrap(),
            (true, true)
        );
        assert_eq!(
            schemas_enable_from_properties(&props(&[("key.converter.schemas.enable", "false")]))
                .unwrap(),
            (false, true)
        );
        assert_eq!(
            schemas_enable_from_properties(&props(&[("converter.schemas.enable", "false")]))
                .unwrap(),
            (false, false)
        );
    }
}
