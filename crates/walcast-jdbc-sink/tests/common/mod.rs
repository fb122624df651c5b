//! Helpers shared by the writer's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use walcast_connect_api::Value;
use walcast_jdbc_sink::{Dialect, JdbcSinkConfig};
use walcast_testkit::Postgres;

/// The sink's configuration for `pg`'s `postgres` database in `dialect`, plus `extra` keys.
pub fn cfg(pg: &Postgres, dialect: Dialect, extra: &[(&str, &str)]) -> Arc<JdbcSinkConfig> {
    let mut raw: BTreeMap<String, String> = BTreeMap::new();
    raw.insert(
        "connection.url".into(),
        format!(
            "jdbc:postgresql://127.0.0.1:{}/postgres?sslmode=disable",
            pg.port()
        ),
    );
    let user = match dialect {
        Dialect::Confluent => "connection.user",
        Dialect::Debezium => "connection.username",
    };
    raw.insert(user.into(), "postgres".into());
    for (k, v) in extra {
        raw.insert(k.to_string(), v.to_string());
    }
    Arc::new(JdbcSinkConfig::parse(dialect, &raw).unwrap())
}

/// A Connect Decimal's bytes for the unscaled value `v`: minimal two's complement, as Java's
/// `BigInteger.toByteArray`.
pub fn unscaled(v: i128) -> Value {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < bytes.len() - 1
        && ((bytes[start] == 0 && bytes[start + 1] & 0x80 == 0)
            || (bytes[start] == 0xFF && bytes[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    Value::Bytes(bytes[start..].to_vec())
}
