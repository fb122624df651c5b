//! The Redis [`SinkWriter`]: one batch of records becomes one `MULTI ... EXEC` holding the
//! record commands *and* the Kafka positions the batch reaches (`HSET walcast:offsets:<connector>
//! <topic>/<partition> <next offset>`), so after a crash at any instant Redis holds either the
//! whole batch with its positions or neither, and the restart resumes exactly after the last
//! batch that was stored.
//!
//! Redis does not roll a transaction back when one of its commands fails at run time (an HSET on
//! a key holding a string fails with WRONGTYPE while the rest of the transaction is applied). So
//! before the transaction the writer asks the `TYPE` of every key it will write with a
//! type-sensitive command (HSET, XADD, JSON.SET), in one round trip, and replays the batch over
//! those types; a key of the wrong type makes the batch a data error (nothing written; the
//! runtime finds the record and dead-letters it or fails). The keys are not `WATCH`ed: Redis
//! 7.0's WATCH costs O(n²) in the number of keys (3000 keys: 55 ms per batch), and another
//! client turning a key into another type between the check and `EXEC` is a misuse that is
//! still caught: the error inside `EXEC` fails the task with a message saying so.
//!
//! Records: a flat record (after `ExtractNewRecordState`, schemas on or off) is an upsert of its
//! value; a Debezium envelope is read natively (`c`/`r`/`u` upsert `after`, `d` deletes, `t` and
//! `m` are skipped); a tombstone deletes. An upsert is HSET (every field in natural text, null
//! fields HDEL'd), SET, JSON.SET or XADD per `redis.command`; a delete is DEL (XADD skips deletes
//! and tombstones: a stream only appends).

use std::collections::HashMap;
use std::time::Instant;

use futures::future::BoxFuture;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, RedisError};
use walcast_connect_api::{ConnectRecord, Position, SinkError, SinkWriter, TopicPartition};
use walcast_connect_api::{Schema, Value};

use crate::config::{Command, KeyMode, RedisSinkConfig};
use crate::render::{json, value_bytes, value_text};

/// The hash holding a connector's positions: field `<topic>/<partition>`, value the next offset.
/// Kafka topic names cannot contain `/`, so the field splits unambiguously.
pub fn offsets_key(connector: &str) -> String {
    format!("walcast:offsets:{connector}")
}

/// Writes batches to one Redis database through one connection, reconnecting after failures.
pub struct RedisWriter {
    config: RedisSinkConfig,
    /// `None` until the first `open`, and again after a connection-level failure so the next
    /// call reconnects.
    conn: Option<MultiplexedConnection>,
}

impl RedisWriter {
    pub fn new(config: RedisSinkConfig) -> Self {
        Self { config, conn: None }
    }

    async fn connection(&mut self) -> Result<MultiplexedConnection, SinkError> {
        if let Some(c) = &self.conn {
            return Ok(c.clone());
        }
        let where_ = self.config.redacted_url();
        let client = redis::Client::open(self.config.url.as_str())
            .map_err(|e| SinkError::fatal(format!("invalid Redis URL {where_}: {:?}", e.kind())))?;
        let cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(self.config.timeout)
            .set_response_timeout(self.config.timeout);
        let conn = client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
            .map_err(|e| classify(&e, &format!("connecting to Redis at {where_}")))?;
        self.conn = Some(conn.clone());
        Ok(conn)
    }

    /// Map a Redis error and forget the connection when it is the connection that failed.
    fn fail(&mut self, e: &RedisError, what: &str) -> SinkError {
        let err = classify(e, what);
        if err.kind == walcast_connect_api::SinkErrorKind::Transient {
            self.conn = None;
        }
        err
    }

    async fn read_positions(&mut self, connector: &str) -> Result<Vec<Position>, SinkError> {
        let mut conn = self.connection().await?;
        let key = offsets_key(connector);
        let stored: Vec<(String, String)> =
            match redis::cmd("HGETALL").arg(&key).query_async(&mut conn).await {
                Ok(v) => v,
                Err(e) => return Err(self.fail(&e, &format!("reading positions from hash {key}"))),
            };
        let mut out = Vec::with_capacity(stored.len());
        for (field, value) in stored {
            let parsed = field.rsplit_once('/').and_then(|(topic, p)| {
                Some(Position {
                    tp: TopicPartition::new(topic, p.parse().ok()?),
                    next_offset: value.parse().ok()?,
                })
            });
            match parsed {
                Some(p) => out.push(p),
                None => {
                    return Err(SinkError::fatal(format!(
                        "hash {key} field '{field}' is not a walcast position (<topic>/<partition> = <next offset>); delete the field or the hash to start that partition from the beginning"
                    )))
                }
            }
        }
        out.sort_by(|a, b| a.tp.cmp(&b.tp));
        Ok(out)
    }

    async fn write_batch(
        &mut self,
        connector: &str,
        records: &[ConnectRecord],
        positions: &[Position],
    ) -> Result<(), SinkError> {
        let ops = records
            .iter()
            .map(|r| plan(&self.config, r))
            .collect::<Result<Vec<Op>, SinkError>>()?;
        let mut conn = self.connection().await?;

        // TYPE of every key a type-sensitive command will write, in one round trip.
        let mut checked: Vec<&[u8]> = Vec::new();
        let mut seen: HashMap<&[u8], usize> = HashMap::new();
        for op in &ops {
            if let Some(key) = op.typed_key() {
                if !seen.contains_key(key) {
                    seen.insert(key, checked.len());
                    checked.push(key);
                }
            }
        }
        if !checked.is_empty() {
            let mut pipe = redis::pipe();
            for k in &checked {
                pipe.cmd("TYPE").arg(*k);
            }
            let replies = match conn.req_packed_commands(&pipe, 0, checked.len()).await {
                Ok(r) => r,
                Err(e) => return Err(self.fail(&e, "checking key types before the write")),
            };
            let mut types: HashMap<&[u8], String> = HashMap::new();
            for (k, reply) in checked.iter().zip(replies.iter()) {
                let t = match reply {
                    redis::Value::SimpleString(s) => s.clone(),
                    redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                    other => {
                        return Err(SinkError::transient(format!(
                            "unexpected TYPE reply from Redis ({})",
                            reply_kind(other)
                        )));
                    }
                };
                types.insert(*k, t);
            }
            // Replay the batch over the key types to find a command Redis would reject.
            for (op, record) in ops.iter().zip(records) {
                if let Some(problem) = op.check_type(&mut types) {
                    return Err(SinkError::data(format!(
                        "{}: {problem}; delete or rename that key in Redis, or choose another redis.key",
                        coordinates(record)
                    )));
                }
            }
        }

        let mut pipe = redis::pipe();
        pipe.atomic();
        for op in &ops {
            op.add_to(&mut pipe);
        }
        if !positions.is_empty() {
            pipe.cmd("HSET").arg(offsets_key(connector));
            for p in positions {
                pipe.arg(format!("{}/{}", p.tp.topic, p.tp.partition))
                    .arg(p.next_offset);
            }
            pipe.ignore();
        }
        let started = Instant::now();
        // MULTI's and the QUEUED replies are skipped; the one reply kept is EXEC's. An error
        // among the skipped ones means a command was refused while queuing, after which Redis
        // discards the whole transaction (EXECABORT): nothing was written.
        let queued = pipe.cmd_iter().count() + 1;
        let reply = match conn.req_packed_commands(&pipe, queued, 1).await {
            Ok(mut r) => r.pop().unwrap_or(redis::Value::Nil),
            Err(e) => {
                let err = self.fail(&e, "writing a batch (MULTI/EXEC)");
                if err.kind == walcast_connect_api::SinkErrorKind::Transient {
                    return Err(err);
                }
                return Err(SinkError::fatal(format!(
                    "Redis refused a command of the batch ({}{}); nothing was written.{}",
                    e.code().unwrap_or("error"),
                    e.detail().map(|d| format!(": {d}")).unwrap_or_default(),
                    if self.config.command == Command::JsonSet {
                        " redis.command=JSONSET needs the RedisJSON module (JSON.SET) in Redis."
                    } else {
                        ""
                    }
                )));
            }
        };
        match &reply {
            redis::Value::Nil => {
                return Err(SinkError::transient(
                    "Redis aborted the batch's transaction (EXEC answered nil); nothing was written, retrying",
                ))
            }
            redis::Value::Array(items) => {
                if let Some(redis::Value::ServerError(e)) =
                    items.iter().find(|v| matches!(v, redis::Value::ServerError(_)))
                {
                    // Redis applied the transaction's other commands (it has no rollback).
                    return Err(SinkError::fatal(format!(
                        "Redis rejected a command inside the batch's MULTI/EXEC ({}); the batch's other commands and its positions were applied. Fix the cause and restart the task",
                        e.code()
                    )));
                }
            }
            other => {
                return Err(SinkError::fatal(format!(
                    "unexpected {} reply to EXEC; check that redis.uri points at a Redis server",
                    reply_kind(other)
                )))
            }
        }
        metrics::histogram!("walcast_redis_sink_exec_seconds", "connector" => connector.to_string())
            .record(started.elapsed().as_secs_f64());

        if self.config.wait_replicas > 0 {
            let reached: i64 = match redis::cmd("WAIT")
                .arg(self.config.wait_replicas)
                .arg(self.config.wait_timeout_ms)
                .query_async(&mut conn)
                .await
            {
                Ok(n) => n,
                Err(e) => return Err(self.fail(&e, "waiting for replicas (WAIT)")),
            };
            if reached < self.config.wait_replicas {
                tracing::warn!(
                    connector,
                    reached,
                    wanted = self.config.wait_replicas,
                    "fewer Redis replicas acknowledged the batch than redis.wait.replicas within redis.wait.timeout"
                );
            }
        }
        Ok(())
    }
}

impl SinkWriter for RedisWriter {
    fn open<'a>(
        &'a mut self,
        connector: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Position>, SinkError>> {
        Box::pin(self.read_positions(connector))
    }

    fn write<'a>(
        &'a mut self,
        connector: &'a str,
        records: &'a [ConnectRecord],
        positions: &'a [Position],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(self.write_batch(connector, records, positions))
    }
}

/// What one record does to Redis.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    Hset {
        key: Vec<u8>,
        set: FieldValues,
        del: Vec<String>,
    },
    Set {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    JsonSet {
        key: Vec<u8>,
        json: Vec<u8>,
    },
    Xadd {
        key: Vec<u8>,
        fields: FieldValues,
    },
    Del {
        key: Vec<u8>,
    },
    Skip,
}

impl Op {
    /// The key of a command that fails on a key of another type, with the type it needs.
    fn typed_key(&self) -> Option<&[u8]> {
        match self {
            Op::Hset { key, .. } | Op::Xadd { key, .. } | Op::JsonSet { key, .. } => Some(key),
            _ => None,
        }
    }

    /// Apply this command to the simulated key types; the problem if Redis would refuse it.
    fn check_type<'a>(&'a self, types: &mut HashMap<&'a [u8], String>) -> Option<String> {
        let (key, needs) = match self {
            Op::Hset { key, .. } => (key, "hash"),
            Op::Xadd { key, .. } => (key, "stream"),
            Op::JsonSet { key, .. } => (key, "ReJSON-RL"),
            Op::Del { key } => {
                if let Some(t) = types.get_mut(key.as_slice()) {
                    *t = "none".into();
                }
                return None;
            }
            Op::Set { key, .. } => {
                if let Some(t) = types.get_mut(key.as_slice()) {
                    *t = "string".into();
                }
                return None;
            }
            Op::Skip => return None,
        };
        let t = types.entry(key.as_slice()).or_insert_with(|| "none".into());
        if t == "none" || t == needs {
            *t = needs.into();
            None
        } else {
            Some(format!(
                "its Redis key holds a {t}, not a {needs} (WRONGTYPE)"
            ))
        }
    }

    fn add_to(&self, pipe: &mut redis::Pipeline) {
        match self {
            Op::Hset { key, set, del } => {
                if !del.is_empty() {
                    pipe.cmd("HDEL").arg(key);
                    for f in del {
                        pipe.arg(f);
                    }
                    pipe.ignore();
                }
                if !set.is_empty() {
                    pipe.cmd("HSET").arg(key);
                    for (f, v) in set {
                        pipe.arg(f).arg(v);
                    }
                    pipe.ignore();
                }
            }
            Op::Set { key, value } => {
                pipe.cmd("SET").arg(key).arg(value).ignore();
            }
            Op::JsonSet { key, json } => {
                pipe.cmd("JSON.SET").arg(key).arg("$").arg(json).ignore();
            }
            Op::Xadd { key, fields } => {
                pipe.cmd("XADD").arg(key).arg("*");
                for (f, v) in fields {
                    pipe.arg(f).arg(v);
                }
                pipe.ignore();
            }
            Op::Del { key } => {
                pipe.cmd("DEL").arg(key).ignore();
            }
            Op::Skip => {}
        }
    }
}

/// What a record stands for, read from a flat record or a Debezium envelope.
enum Image<'a> {
    /// Write this row (its schema when it has one).
    Upsert(Option<&'a Schema>, &'a Value),
    /// Delete the key; `before` is the envelope's old row image when there is one, used for key
    /// templates.
    Delete(Option<(Option<&'a Schema>, &'a Value)>),
    /// Nothing to write (truncate and message events).
    Skip,
}

fn image(record: &ConnectRecord) -> Result<Image<'_>, SinkError> {
    if record.is_tombstone() {
        return Ok(Image::Delete(None));
    }
    let schema = record.value_schema.as_deref();
    if !record.value.is_debezium_envelope() {
        return Ok(Image::Upsert(schema, &record.value));
    }
    let op = record
        .value
        .member("op")
        .and_then(|(_, v)| v.as_str())
        .unwrap_or_default();
    let part = |name| record.value.member(name).filter(|(_, v)| !v.is_null());
    match op {
        "c" | "r" | "u" => match part("after") {
            Some((s, v)) => Ok(Image::Upsert(s, v)),
            None => Err(SinkError::data(format!(
                "{}: change event with op '{op}' has no 'after' row",
                coordinates(record)
            ))),
        },
        "d" => Ok(Image::Delete(part("before"))),
        _ => Ok(Image::Skip),
    }
}

/// `topic-partition@offset` of a record, for messages.
fn coordinates(record: &ConnectRecord) -> String {
    format!(
        "record {}-{}@{}",
        record.topic,
        record
            .partition
            .map_or_else(|| "?".to_string(), |p| p.to_string()),
        record
            .offset
            .map_or_else(|| "?".to_string(), |o| o.to_string())
    )
}

/// The text of a record key: a primitive as text, a struct's or map's field values joined by
/// the separator (the common one-column key `{"id": 7}` is just `7`).
fn record_key_text(record: &ConnectRecord, separator: &str) -> Option<String> {
    let schema = record.key_schema.as_deref();
    match &record.key {
        Value::Null => None,
        Value::Struct(s) => {
            let parts: Vec<String> = s
                .iter()
                .map(|(f, v)| value_text(Some(&f.schema), v).unwrap_or_default())
                .collect();
            Some(parts.join(separator))
        }
        Value::Map(entries) => {
            let parts: Vec<String> = entries
                .iter()
                .map(|(_, v)| value_text(None, v).unwrap_or_default())
                .collect();
            Some(parts.join(separator))
        }
        other => value_text(schema, other),
    }
}

/// The Redis key of a record; `row` is the row image for template fields.
fn redis_key(
    config: &RedisSinkConfig,
    record: &ConnectRecord,
    row: Option<(Option<&Schema>, &Value)>,
    collection: bool,
) -> Result<Vec<u8>, SinkError> {
    match &config.key {
        KeyMode::Template(t) => {
            t.render(&record.topic, |name| {
                row.and_then(|(_, v)| v.member(name))
                    .filter(|(_, v)| !v.is_null())
                    .or_else(|| record.key.member(name))
                    .and_then(|(s, v)| value_text(s, v))
            })
            .map(String::into_bytes)
            .map_err(|field| {
                SinkError::data(format!(
                    "{}: redis.key needs field '{field}', which the record's value and key do not have (or is null)",
                    coordinates(record)
                ))
            })
        }
        KeyMode::Keyspace(t) => {
            let keyspace = t.render(&record.topic, |_| None).unwrap_or_default();
            if collection {
                return Ok(keyspace.into_bytes());
            }
            let key = record_key_text(record, &config.separator).ok_or_else(|| {
                SinkError::data(format!(
                    "{}: the record has no key, and redis.key is a key space (<key space>{}<record key>); give the topic keys or set redis.key to a template such as order:${{id}}",
                    coordinates(record),
                    config.separator
                ))
            })?;
            if keyspace.is_empty() {
                Ok(key.into_bytes())
            } else {
                Ok(format!("{keyspace}{}{key}", config.separator).into_bytes())
            }
        }
    }
}

/// Field names with their rendered values.
type FieldValues = Vec<(String, Vec<u8>)>;

/// Field names and rendered values of a row; null fields separately.
fn row_fields(value: &Value) -> Option<(FieldValues, Vec<String>)> {
    let mut set = Vec::new();
    let mut del = Vec::new();
    let mut put = |name: &str, s: Option<&Schema>, v: &Value| match value_bytes(s, v) {
        Some(b) => set.push((name.to_string(), b)),
        None => del.push(name.to_string()),
    };
    match value {
        Value::Struct(st) => {
            for (f, v) in st.iter() {
                put(&f.name, Some(&f.schema), v);
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries {
                let name = value_text(None, k)?;
                put(&name, None, v);
            }
        }
        _ => return None,
    }
    Some((set, del))
}

/// The command for one record.
fn plan(config: &RedisSinkConfig, record: &ConnectRecord) -> Result<Op, SinkError> {
    let img = image(record)?;
    if config.command == Command::Del {
        let row = match img {
            Image::Upsert(s, v) => Some((s, v)),
            Image::Delete(before) => before,
            Image::Skip => return Ok(Op::Skip),
        };
        return Ok(Op::Del {
            key: redis_key(config, record, row, false)?,
        });
    }
    let (schema, value) = match img {
        Image::Skip => return Ok(Op::Skip),
        Image::Delete(_) if config.command == Command::Xadd => return Ok(Op::Skip),
        Image::Delete(before) => {
            return Ok(Op::Del {
                key: redis_key(config, record, before, false)?,
            })
        }
        Image::Upsert(s, v) => (s, v),
    };
    let not_a_row = || {
        SinkError::data(format!(
            "{}: redis.command {} needs a struct or map value (a row); this value is neither. Put a transform such as ExtractNewRecordState before the sink, or use SET",
            coordinates(record),
            if config.command == Command::Hset { "HSET" } else { "XADD" }
        ))
    };
    match config.command {
        Command::Hset => {
            let key = redis_key(config, record, Some((schema, value)), false)?;
            let (set, del) = row_fields(value).ok_or_else(not_a_row)?;
            Ok(Op::Hset { key, set, del })
        }
        Command::Xadd => {
            let key = redis_key(config, record, Some((schema, value)), true)?;
            let (fields, _) = row_fields(value).ok_or_else(not_a_row)?;
            if fields.is_empty() {
                return Ok(Op::Skip);
            }
            Ok(Op::Xadd { key, fields })
        }
        Command::Set => Ok(Op::Set {
            key: redis_key(config, record, Some((schema, value)), false)?,
            value: value_bytes(schema, value).unwrap_or_default(),
        }),
        Command::JsonSet => {
            let json = match value {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Bytes(b) => b.clone(),
                other => json(schema, other).into_bytes(),
            };
            Ok(Op::JsonSet {
                key: redis_key(config, record, Some((schema, value)), false)?,
                json,
            })
        }
        Command::Del => Ok(Op::Skip),
    }
}

/// A short name of a reply type, for messages.
fn reply_kind(v: &redis::Value) -> &'static str {
    match v {
        redis::Value::Nil => "nil",
        redis::Value::Int(_) => "integer",
        redis::Value::ServerError(_) => "error",
        redis::Value::Array(_) => "array",
        _ => "other",
    }
}

/// Transient (retry the batch) or fatal, with a message naming the step.
fn classify(e: &RedisError, what: &str) -> SinkError {
    let transient_server = matches!(
        e.kind(),
        redis::ErrorKind::TryAgain
            | redis::ErrorKind::BusyLoadingError
            | redis::ErrorKind::MasterDown
            | redis::ErrorKind::ReadOnly
            | redis::ErrorKind::ClusterDown
    ) || e.code() == Some("OOM");
    if e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || transient_server
    {
        SinkError::transient(format!("{what}: {e}; retrying"))
    } else if e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"))
    {
        SinkError::fatal(format!(
            "{what}: Redis refused the credentials ({}); check the user and password in redis.uri",
            e.code().unwrap_or("auth")
        ))
    } else {
        SinkError::fatal(format!("{what}: {e}"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use walcast_connect_api::{Field, SchemaType, Struct};

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> RedisSinkConfig {
        let raw: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RedisSinkConfig::parse(&raw).unwrap()
    }

    fn record(key: Value, value: Value) -> ConnectRecord {
        ConnectRecord {
            topic: "shop.public.orders".into(),
            partition: Some(0),
            offset: Some(3),
            timestamp_ms: None,
            key_schema: None,
            key,
            value_schema: None,
            value,
            headers: Vec::new(),
        }
    }

    fn map(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (Value::String(k.to_string()), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn keyspace_keys_use_the_record_key() {
        let c = config(&[("redis.command", "HSET"), ("redis.key", "order")]);
        let r = record(
            map(&[("id", Value::Int64(7))]),
            map(&[("id", Value::Int64(7)), ("note", Value::Null)]),
        );
        assert_eq!(
            plan(&c, &r).unwrap(),
            Op::Hset {
                key: b"order:7".to_vec(),
                set: vec![("id".into(), b"7".to_vec())],
                del: vec!["note".into()],
            }
        );
        let c = config(&[("redis.command", "SET"), ("redis.separator", "/")]);
        let r = record(Value::String("k".into()), Value::String("v".into()));
        assert_eq!(
            plan(&c, &r).unwrap(),
            Op::Set {
                key: b"shop.public.orders/k".to_vec(),
                value: b"v".to_vec()
            }
        );
        let c = config(&[("redis.command", "XADD"), ("redis.key", "s:${topic}")]);
        match plan(&c, &r) {
            Err(e) => assert_eq!(e.kind, walcast_connect_api::SinkErrorKind::Data),
            Ok(op) => panic!("a string value is not a row: {op:?}"),
        }
        let no_key = record(Value::Null, map(&[("a", Value::Int64(1))]));
        let c = config(&[("redis.command", "HSET")]);
        let e = plan(&c, &no_key).unwrap_err();
        assert!(
            e.message.contains("shop.public.orders-0@3"),
            "{}",
            e.message
        );
    }

    #[test]
    fn envelopes_and_tombstones() {
        let c = config(&[("redis.command", "HSET"), ("redis.key", "order:${id}")]);
        let row = map(&[
            ("id", Value::Int64(5)),
            ("status", Value::String("NEW".into())),
        ]);
        let env = |op: &str, before: Value, after: Value| {
            map(&[
                ("before", before),
                ("after", after),
                ("source", map(&[])),
                ("op", Value::String(op.into())),
            ])
        };
        let key = map(&[("id", Value::Int64(5))]);
        let upsert = record(key.clone(), env("u", Value::Null, row.clone()));
        assert!(matches!(plan(&c, &upsert).unwrap(), Op::Hset { key, .. } if key == b"order:5"));
        let delete = record(key.clone(), env("d", row, Value::Null));
        assert_eq!(
            plan(&c, &delete).unwrap(),
            Op::Del {
                key: b"order:5".to_vec()
            }
        );
        // A tombstone has only its key: the template falls back to the key's fields.
        let tomb = record(key, Value::Null);
        assert_eq!(
            plan(&c, &tomb).unwrap(),
            Op::Del {
                key: b"order:5".to_vec()
            }
        );
        let trunc = record(Value::Null, env("t", Value::Null, Value::Null));
        assert_eq!(plan(&c, &trunc).unwrap(), Op::Skip);
        let xadd = config(&[("redis.command", "XADD")]);
        assert_eq!(plan(&xadd, &tomb_of(5)).unwrap(), Op::Skip);
    }

    fn tomb_of(id: i64) -> ConnectRecord {
        record(map(&[("id", Value::Int64(id))]), Value::Null)
    }

    #[test]
    fn struct_keys_and_type_simulation() {
        let ks = Arc::new(Schema::structure(
            None,
            vec![
                Field::new("a", Schema::primitive(SchemaType::String)),
                Field::new("b", Schema::primitive(SchemaType::Int32)),
            ],
        ));
        let mut k = Struct::new(ks.clone());
        k.put("a", Value::String("x".into()));
        k.put("b", Value::Int32(2));
        let mut r = record(Value::Struct(k), Value::Null);
        r.key_schema = Some(ks);
        assert_eq!(record_key_text(&r, ":").as_deref(), Some("x:2"));

        let hset = Op::Hset {
            key: b"k".to_vec(),
            set: vec![],
            del: vec![],
        };
        let set = Op::Set {
            key: b"k".to_vec(),
            value: vec![],
        };
        let del = Op::Del { key: b"k".to_vec() };
        let mut types: HashMap<&[u8], String> = HashMap::new();
        types.insert(b"k", "string".into());
        assert!(hset.check_type(&mut types).is_some());
        assert!(del.check_type(&mut types).is_none());
        assert!(hset.check_type(&mut types).is_none());
        assert!(set.check_type(&mut types).is_none());
        assert!(hset.check_type(&mut types).unwrap().contains("WRONGTYPE"));
    }
}
