//! The JDBC sink connectors, writing into PostgreSQL: Confluent's
//! `io.confluent.connect.jdbc.JdbcSinkConnector` ([`JdbcSinkPlugin::CONFLUENT`]) and Debezium's
//! `io.debezium.connector.jdbc.JdbcSinkConnector` ([`JdbcSinkPlugin::DEBEZIUM`]), each with its
//! own keys (`config`), both running the same writer ([`PgSinkWriter`]) on the shared
//! sink runtime (`walcast-sink`).
//!
//! In: batches of [`ConnectRecord`](walcast_connect_api::ConnectRecord)s (already converted
//! from JsonConverter JSON and transformed) with the partition positions they reach. Out: one
//! PostgreSQL transaction per batch holding the rows and the positions.
//!
//! # Records
//! A Debezium change event is read natively, with or without an unwrap transform: `c`/`r`/`u`
//! write `after`; `d` and tombstones delete by key when `delete.enabled` (and are skipped
//! otherwise); `t` truncates when `truncate.enabled`; `m` (logical messages) changes nothing.
//! Flat records (after `ExtractNewRecordState`, with or without schemas) are written as rows.
//! Keys per `pk.mode`/`primary.key.mode`: `kafka` (`__connect_topic`, `__connect_partition`,
//! `__connect_offset`), `record_key` (the key's fields, or `pk.fields` of them; a primitive key
//! needs one `pk.fields` name), `record_value` (the value fields named by `pk.fields`, all when
//! empty), `none` (insert only).
//!
//! # Table names
//! - Confluent: `table.name.format` (`${topic}`) is split on dots as Confluent's sink does
//!   (`TableId` parsing in its dialects): `orders` is a table in the search path, `app.orders`
//!   table `orders` in schema `app`, and `server.public.orders` — a Debezium topic name —
//!   table `orders` in schema `public` of *database* `server`. PostgreSQL cannot write across
//!   databases, so walcast refuses a database part other than the one connected to, with a
//!   message pointing to `RegexRouter` or to quoting: `table.name.format="${topic}"` (with the
//!   double quotes) makes one table literally named `server.public.orders`.
//! - Debezium: `collection.name.format` (`${topic}`), where `${topic}` is the topic with dots
//!   replaced by underscores (`server_public_orders`, as Debezium's
//!   `DefaultCollectionNamingStrategy`), and `${source.<field>}` is a field of the event's
//!   `source` block (`${source.schema}.${source.table}`); a record that is not a Debezium event
//!   is skipped with a warning when the format needs its source block, as Debezium does. A dot in
//!   the result separates schema and table.
//! - Quoting: `quote.sql.identifiers=always` (Confluent default) and `quote.identifiers=true`
//!   keep names as they are; `never` / `false` (Debezium default) fold them to lower case, which
//!   is what unquoted SQL names do. walcast always emits quoted SQL, so no name can break a
//!   statement.
//!
//! # Tables and types
//! `auto.create` / `schema.evolution=basic` create a missing table from the record's Connect
//! schema (never from guessing at JSON values) with the key columns as primary key, and
//! `auto.evolve` / `schema.evolution=basic` add missing columns (`ALTER TABLE ... ADD COLUMN`,
//! always nullable). Types (`types::pg_type`): int8/int16 smallint, int32 integer, int64
//! bigint, float32 real, float64 double precision, boolean, string text (`varchar(n)` with
//! Debezium's `__debezium.source.column.type`/`length` hints), bytes bytea, Decimal
//! `numeric(p,s)` (`connect.decimal.precision`, or the source column hints) with the exact
//! value, VariableScaleDecimal numeric, Date/io.debezium.time.Date date,
//! Time/MicroTime/NanoTime time, Timestamp/MicroTimestamp/NanoTimestamp timestamp,
//! ZonedTimestamp timestamptz, ZonedTime timetz, Json jsonb, Uuid uuid, Xml xml,
//! Interval/MicroDuration interval, Bits `bit varying(n)`, Enum text, arrays arrays of the
//! element type, maps and structs jsonb. Schemaless records can be written to existing tables
//! but cannot create or evolve one (a fatal error says so).
//!
//! # Unchanged TOAST values
//! A column whose value is Debezium's placeholder (`__debezium_unavailable_value`, or the
//! `unavailable.value.placeholder` key) — as a string, as its bytes, as base64 or hex text of
//! them, or inside an array or as a map key — is left out of that row's statement, so the row
//! keeps its stored value. Rows of a batch are grouped by which columns they carry.
//!
//! # Reduction
//! Within a batch, changes to the same key are folded to the last one (a delete then an insert
//! is the insert; an insert then a delete is the delete; a TOAST-placeholder column takes the
//! value an earlier change in the batch wrote), so one statement never touches a row twice.
//! Debezium's `use.reduction.buffer` is accepted; walcast always reduces (it never changes the
//! outcome of upsert, update or delete). `pk.mode` none and kafka are not folded.
//!
//! # Offsets (exactly once)
//! `walcast_offsets(connector, topic, partition, next_offset)`, created in the connection's
//! default schema when missing, is updated in the same transaction as the rows, and read when the
//! task starts. Deleting a connector leaves its rows; re-creating it with the same name resumes.
//! To start over: `DELETE FROM walcast_offsets WHERE connector = '<name>';` while it is stopped.
//!
//! # Errors
//! By SQLSTATE (`error::classify`): lost connections, 40001, 40P01, 55P03, 57P0x are
//! transient; 22xxx/23xxx are data errors (the runtime isolates the record); missing tables or
//! columns without auto-create/evolve, permissions and the rest are fatal, with what to set.
//! Messages carry SQLSTATE, message, hint and table/column/constraint names, never values.
//!
//! # Write path (measured)
//! Three ways to write one statement per batch and table, all in the same transaction as the
//! offsets row ([`WriteMethod`]): multi-row `INSERT ... VALUES ... ON CONFLICT` with one text
//! parameter per value; `INSERT ... SELECT ... FROM unnest($1::text[], ...) ON CONFLICT` with
//! one text array per column; and `COPY` (text format) into a temporary staging table followed
//! by `INSERT ... SELECT ... ON CONFLICT` (`UPDATE ... FROM`, `DELETE ... USING` for the other
//! statements). Values are rendered once, in PostgreSQL's text input form, and cast to the
//! column types the catalog reports.
//!
//! Measured with `cargo run --release -p walcast-jdbc-sink --example write_methods`: 200,000
//! rows of the seed's `results` table (int key, three varchar(20), int, numeric(10,2),
//! timestamptz, three text), upserted by key into an empty table, PostgreSQL 15 from
//! walcast-testkit on the same 2-core machine, which other builds kept at load 14–16 (so the
//! figures are low and noisy; the ratios held over two runs), rows/s:
//!
//! | batch | VALUES | unnest | COPY + merge |
//! |---|---|---|---|
//! | 500 | 42,500 | 54,400 | 37,900 |
//! | 1,000 | 55,700 | 62,900 | 67,200 |
//! | 2,000 | 41,600 | 61,200 | 65,900 |
//! | 3,000 | 38,900 / 43,500 | 56,100 / 75,100 | 63,000 / 98,600 |
//! | 10,000 | 31,800 | 45,700 | 52,400 |
//!
//! A plain `COPY` of the same rows into the empty table (one transaction, no key check, the
//! ceiling): 172,700 / 181,300 rows/s. The default is unnest below
//! `writer::DEFAULT_COPY_THRESHOLD` (1,000) rows per batch and COPY + merge from there on;
//! VALUES is never faster. The COPY into the staging table is text format (PostgreSQL parses
//! each value).
//!
//! **Insert fast path of upserts.** An upsert of at least `writer::DIRECT_MIN_ROWS` (64) rows
//! first tries a `COPY` straight into the table inside a savepoint: while the keys a stream
//! brings are new (an initial load, a stream of inserts) the table takes the rows exactly as
//! the upsert would have inserted them, at the cost of a plain COPY (in `psql` on this machine,
//! 200,000 rows: direct COPY 277 ms, COPY into staging plus `INSERT ... ON CONFLICT` 614 ms).
//! The first key already present (or any other refusal) rolls back to the savepoint and the
//! batch is merged as above in the same transaction; the attempt is then skipped for the next
//! 1, 2, 4 ... up to 64 upserts (one per table and column set of a batch), so a stream of updates rarely pays for it; at most 16 tables' rows of
//! one transaction take it (each savepoint is a subtransaction). Columns that must be parsed
//! through another type first (a Connect Timestamp into `timestamp`) always take the merge.
//! The direct COPY goes in PostgreSQL's binary form when every column of the shape has one
//! here (`binary.rs`: integers, booleans, floats and strings into columns of exactly their
//! type, Decimal and decimal strings (`decimal.handling.mode=string`, plain `-12.34` form)
//! into `numeric`, ZonedTimestamp and Connect Timestamp into `timestamptz`,
//! Debezium Timestamp/MicroTimestamp into `timestamp`), else in text form. The server then
//! skips parsing the values: a `COPY` of the 200,000 rows above took 15 % less time in binary
//! form (257 vs 304 ms in `psql`, three runs each), and the Kafka → results drain of
//! `pipeline-bench` went from 165,968 to 178,224 rows/s (medians of 8 interleaved runs each).
//! A value an encoder cannot write (a ZonedTimestamp with seven fractional digits, an int
//! beyond its column's range) abandons the binary COPY and the rows are copied again as text,
//! which stores what the text form always stored (`tests/binary_copy.rs` compares the two).
//! Forcing a method with `PgSinkWriter::with_method` turns the fast path off.
//!
//! **Round trips.** Requests that do not need the answer of the one before go out together
//! (tokio-postgres pipelines requests whose futures are polled before the earlier answers
//! arrive): `BEGIN` goes out before the batch is planned, the savepoint and the start of a
//! direct COPY go out before its rows are rendered, and the offsets upsert travels with the
//! `COMMIT` in one message (values inline, escaped). A batch on the fast path now makes four
//! round trips instead of seven (`BEGIN`, whose answer arrives while the batch is planned; the
//! savepoint with the COPY's start; the COPY's end; the offsets with the commit), which matters
//! most when the results database is across a network.

mod binary;
mod change;
mod config;
mod error;
mod method;
mod offsets;
mod plan;
mod table;
mod types;
mod writer;

use std::sync::LazyLock;

use futures::future::BoxFuture;
use walcast_connect_api::{
    ConfigIssue, ConfigKeyDef, ConnectorConfig, ConnectorError, ConnectorKind, ConnectorPlugin,
    TaskContext,
};

pub use config::{Dialect, JdbcSinkConfig};
pub use method::WriteMethod;
pub use types::render as render_pg_text;
pub use writer::PgSinkWriter;

/// Confluent's JDBC sink class.
pub const CONFLUENT_CLASS: &str = "io.confluent.connect.jdbc.JdbcSinkConnector";
/// Debezium's JDBC sink class.
pub const DEBEZIUM_CLASS: &str = "io.debezium.connector.jdbc.JdbcSinkConnector";

static CONFLUENT_ALL_KEYS: LazyLock<Vec<ConfigKeyDef>> =
    LazyLock::new(|| keys(config::CONFLUENT_KEYS));
static DEBEZIUM_ALL_KEYS: LazyLock<Vec<ConfigKeyDef>> =
    LazyLock::new(|| keys(config::DEBEZIUM_KEYS));

/// The runtime's keys, then the connector's (a connector key of the same name wins: both JDBC
/// sinks have their own `batch.size` default).
fn keys(own: &[ConfigKeyDef]) -> Vec<ConfigKeyDef> {
    walcast_sink::SINK_KEYS
        .iter()
        .filter(|k| !own.iter().any(|o| o.name == k.name))
        .chain(own.iter())
        .cloned()
        .collect()
}

/// One of the two JDBC sink connector classes; register both
/// ([`JdbcSinkPlugin::CONFLUENT`] and [`JdbcSinkPlugin::DEBEZIUM`]).
#[derive(Debug, Clone, Copy)]
pub struct JdbcSinkPlugin {
    pub dialect: Dialect,
}

impl JdbcSinkPlugin {
    pub const CONFLUENT: JdbcSinkPlugin = JdbcSinkPlugin {
        dialect: Dialect::Confluent,
    };
    pub const DEBEZIUM: JdbcSinkPlugin = JdbcSinkPlugin {
        dialect: Dialect::Debezium,
    };
}

impl ConnectorPlugin for JdbcSinkPlugin {
    fn class(&self) -> &'static str {
        match self.dialect {
            Dialect::Confluent => CONFLUENT_CLASS,
            Dialect::Debezium => DEBEZIUM_CLASS,
        }
    }

    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Sink
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn config_keys(&self) -> &'static [ConfigKeyDef] {
        match self.dialect {
            Dialect::Confluent => CONFLUENT_ALL_KEYS.as_slice(),
            Dialect::Debezium => DEBEZIUM_ALL_KEYS.as_slice(),
        }
    }

    fn validate(&self, config: &ConnectorConfig) -> Vec<ConfigIssue> {
        let mut issues = walcast_sink::validate(config);
        if let Err(own) = JdbcSinkConfig::parse(self.dialect, config) {
            for i in own {
                if !issues.iter().any(|e| e.key == i.key) {
                    issues.push(i);
                }
            }
        }
        issues
    }

    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Result<(), ConnectorError>> {
        let dialect = self.dialect;
        Box::pin(async move {
            let cfg = JdbcSinkConfig::parse(dialect, &ctx.config).map_err(|issues| {
                let list: Vec<String> = issues.iter().map(ToString::to_string).collect();
                ConnectorError::new(format!(
                    "invalid JDBC sink configuration: {}",
                    list.join("; ")
                ))
            })?;
            let options = walcast_sink::SinkOptions {
                batch_size: cfg.batch_size,
                max_retries: Some(cfg.max_retries),
                retry_backoff: cfg.retry_backoff,
            };
            let writer = PgSinkWriter::new(std::sync::Arc::new(cfg));
            walcast_sink::run(ctx, Box::new(writer), options).await
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_classes_with_their_own_keys() {
        let c = JdbcSinkPlugin::CONFLUENT;
        let d = JdbcSinkPlugin::DEBEZIUM;
        assert_eq!(c.class(), CONFLUENT_CLASS);
        assert_eq!(d.class(), DEBEZIUM_CLASS);
        let has = |p: &JdbcSinkPlugin, k: &str| p.config_keys().iter().any(|d| d.name == k);
        assert!(has(&c, "pk.mode") && has(&c, "topics") && !has(&c, "primary.key.mode"));
        assert!(has(&d, "primary.key.mode") && has(&d, "topics") && !has(&d, "pk.mode"));
        let batch = |p: &JdbcSinkPlugin| {
            let v: Vec<_> = p
                .config_keys()
                .iter()
                .filter(|k| k.name == "batch.size")
                .map(|k| k.default)
                .collect();
            v
        };
        assert_eq!(batch(&c), [Some("3000")]);
        assert_eq!(batch(&d), [Some("500")]);
        let config: ConnectorConfig = [
            ("connector.class", DEBEZIUM_CLASS),
            ("topics", "a"),
            ("connection.url", "jdbc:postgresql://h/d"),
            ("connection.username", "u"),
            ("primary.key.mode", "kafka"),
            ("insert.mode", "upsert"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert!(d.validate(&config).is_empty(), "{:?}", d.validate(&config));
        let issues = c.validate(&config);
        assert!(
            issues.iter().any(|i| i.key == "connection.user"),
            "{issues:?}"
        );
    }
}
