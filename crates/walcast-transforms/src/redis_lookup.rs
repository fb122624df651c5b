//! `walcast.transforms.RedisLookup`: enrich each record with data looked up in Redis, the seed
//! deployment's "look the customer up in Redis" step as a transform.
//!
//! In: records whose value is a flat row (a struct with a schema, or a schemaless map), or a
//! Debezium change event envelope when the transform runs before `ExtractNewRecordState`. Out:
//! the same records with the looked-up fields appended (named `<prefix><field>`), tombstones
//! untouched.
//!
//! - `key` is a template over the row's fields (`customer:${customer_id}`); `${name}` is always
//!   a record field, never a config-provider reference (those contain colons and are resolved by
//!   the worker before the transform is built).
//! - `redis.type=hash` (default) reads the key with HGETALL, `json` with GET and parses a JSON
//!   object, `string` with GET into one field (named by `fields`, default `value`). The key is
//!   not called `type`: `transforms.<alias>.type` is Connect's transform class.
//! - Lookups of one batch are pipelined in one round trip in [`Transformation::prepare`]
//!   (distinct keys, cached ones skipped); [`Transformation::apply`] then only reads what
//!   `prepare` fetched. Found values are cached in-process for `cache.ttl.ms`, at most
//!   `cache.max.entries` keys (oldest first out); missing keys are not cached, so a value added
//!   to Redis is seen on the next batch.
//! - Schemas: added fields are optional strings (for `redis.type=json`, the JSON value's type:
//!   int64, float64, boolean, string; nested objects and arrays as JSON text, and a field keeps
//!   its last type while its value is null). The new struct schema keeps the old one's name,
//!   version, doc and parameters, with the added fields last. Schemaless maps get entries.
//! - Envelopes: the row the event stands for is enriched: `after`, or `before` for a delete.
//!   Both `before` and `after` get the new schema (Debezium gives them one schema), the other
//!   image with the added fields null. Events without a row (truncate, message) pass through.
//! - Failures: Redis unreachable fails `prepare` with a transient error (the runtime retries
//!   the batch); a key holding another type (WRONGTYPE), a JSON value that is not an object, a
//!   template field the record lacks, or a missing key with `on.missing=fail` fail that record
//!   only, so `errors.tolerance` and the dead letter queue decide.

mod added;
mod key;
mod lookup;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use walcast_connect_api::ConfigValues;
use walcast_connect_api::{
    ConfigIssue, ConfigKeyDef, ConnectRecord, ConnectorConfig, Importance, TransformError,
    Transformation,
};
use walcast_connect_api::{Field, Schema, SchemaRef, SchemaType, Value};

use added::{convert_added, map_put, same_signature, Signature};
use key::KeyTemplate;
use lookup::{Added, Cache, Key, Lookup, LookupType, RandomState};

/// The transform's keys (without the `transforms.<alias>.` prefix).
pub(crate) static KEYS: &[ConfigKeyDef] = &[
    ConfigKeyDef {
        name: "redis.url",
        required: true,
        doc: "Redis to look up in: redis://[user:password@]host:port[/db], rediss://... for TLS.",
        importance: Importance::High,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "key",
        required: true,
        doc: "Template of the Redis key over the record's fields, e.g. customer:${customer_id}. ${name} is a field of the row (the envelope's after, or before for a delete).",
        importance: Importance::High,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.type",
        default: Some("hash"),
        doc: "What the key holds: hash (HGETALL), json (GET, a JSON object), string (GET into one field). (Named redis.type because transforms.<alias>.type is Connect's transform class.)",
        valid: &["hash", "json", "string"],
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "fields",
        kind: "LIST",
        default: Some(""),
        doc: "Fields to take from the hash or JSON object (default: all, in name order; set it when records have schemas, so every record gets the same fields). For redis.type=string, the name of the one added field (default value).",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "prefix",
        default: Some(""),
        doc: "Prepended to the name of every added field, e.g. customer_.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "on.missing",
        default: Some("null"),
        doc: "When the key does not exist: null adds the fields as null; fail makes the record an error (errors.tolerance and the dead letter queue decide).",
        valid: &["null", "fail"],
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "cache.ttl.ms",
        kind: "LONG",
        default: Some("60000"),
        doc: "How long a looked-up value is reused without asking Redis again; 0 disables the cache.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "cache.max.entries",
        kind: "LONG",
        default: Some("100000"),
        doc: "Most keys kept in the cache (the oldest leave first); 0 disables the cache.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "redis.timeout.ms",
        kind: "LONG",
        default: Some("10000"),
        doc: "Connect and response timeout of the lookups; a batch whose lookups time out is retried.",
        importance: Importance::Low,
        ..ConfigKeyDef::BASE
    },
];

/// Build the transform from its own keys.
pub fn build(config: &ConnectorConfig) -> Result<Box<dyn Transformation>, Vec<ConfigIssue>> {
    let mut issues = crate::unknown_keys(config, KEYS);
    let c = match ConfigValues::parse(KEYS, config) {
        Ok(c) => c,
        Err(mut i) => {
            i.extend(issues);
            return Err(i);
        }
    };
    let url = c.string("redis.url");
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        issues.push(ConfigIssue::new(
            "redis.url",
            "must be redis://[user:password@]host:port[/db] or rediss://... for TLS",
        ));
    } else if redis::Client::open(url.as_str()).is_err() {
        issues.push(ConfigIssue::new(
            "redis.url",
            "cannot be parsed: expected redis://[user:password@]host:port[/db]",
        ));
    }
    let template = match KeyTemplate::parse(&c.string("key")) {
        Ok(t) => Some(t),
        Err(e) => {
            issues.push(ConfigIssue::new("key", e));
            None
        }
    };
    let kind = match c.choice("redis.type").as_str() {
        "json" => LookupType::Json,
        "string" => LookupType::String,
        _ => LookupType::Hash,
    };
    let mut fields = c.list("fields");
    if kind == LookupType::String {
        match fields.len() {
            0 => fields.push("value".into()),
            1 => {}
            _ => issues.push(ConfigIssue::new(
                "fields",
                "redis.type=string adds one field: give at most one name",
            )),
        }
    }
    for k in ["cache.ttl.ms", "cache.max.entries", "redis.timeout.ms"] {
        if c.i64(k) < 0 {
            issues.push(ConfigIssue::new(k, "must not be negative"));
        }
    }
    let Some(template) = template else {
        return Err(issues);
    };
    if !issues.is_empty() {
        return Err(issues);
    }
    let timeout = Duration::from_millis(c.i64("redis.timeout.ms").max(1).unsigned_abs());
    Ok(Box::new(RedisLookup {
        redacted: redact_url(&url),
        url,
        template,
        kind,
        fields,
        prefix: c.string("prefix"),
        fail_on_missing: c.choice("on.missing") == "fail",
        timeout,
        conn: None,
        cache: Cache::new(
            Duration::from_millis(c.i64("cache.ttl.ms").unsigned_abs()),
            usize::try_from(c.i64("cache.max.entries")).unwrap_or(usize::MAX),
        ),
        batch: HashMap::default(),
        found: Vec::new(),
        prepared: Vec::new(),
        cursor: 0,
        key: String::new(),
        schemas: Vec::new(),
        json_types: HashMap::new(),
        metrics: LookupMetrics::new(""),
    }))
}

/// Which part of a record is the row to enrich.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    /// The value itself.
    Flat,
    /// The envelope's `after` or `before`.
    Image(&'static str),
    /// Nothing to enrich (tombstone, or an envelope without a row).
    None,
}

fn row_of(record: &ConnectRecord) -> Row {
    if record.is_tombstone() {
        return Row::None;
    }
    if !record.value.is_debezium_envelope() {
        return Row::Flat;
    }
    let present = |n| record.value.member(n).is_some_and(|(_, v)| !v.is_null());
    if present("after") {
        Row::Image("after")
    } else if present("before") {
        Row::Image("before")
    } else {
        Row::None
    }
}

/// The row's schema and value.
fn row_value(record: &ConnectRecord, row: Row) -> Option<&Value> {
    match row {
        Row::Flat => Some(&record.value),
        Row::Image(name) => record.value.member(name).map(|(_, v)| v),
        Row::None => None,
    }
}

/// The transform.
struct RedisLookup {
    /// Connection URL; may hold a password, so messages use `redacted`.
    url: String,
    redacted: String,
    template: KeyTemplate,
    kind: LookupType,
    /// Fields to take (empty: all); for `type=string`, the one added field.
    fields: Vec<String>,
    prefix: String,
    fail_on_missing: bool,
    timeout: Duration,
    /// `None` before the first lookup and after a connection failure (reconnect next batch).
    conn: Option<MultiplexedConnection>,
    cache: Cache,
    /// The distinct keys of the current batch, each with its slot in `found`.
    batch: HashMap<Key, usize, RandomState>,
    /// What the current batch's keys hold, filled by `prepare` (cache hits included, so a
    /// cache eviction between `prepare` and `apply` cannot lose a value).
    found: Vec<Lookup>,
    /// Per record of the current batch, in order, as `prepare` saw it: `apply` takes them in
    /// turn, so a record's key is neither rendered nor looked up again.
    prepared: Vec<Prepared>,
    /// The entry of `prepared` for the next `apply`.
    cursor: usize,
    /// The key of the record at hand, rendered into one reused buffer.
    key: String,
    /// Output row schemas by input row schema and added fields, a few entries (one per table
    /// and field set); compared by pointer first, then by value.
    schemas: Vec<(SchemaRef, Signature, SchemaRef)>,
    /// For `type=json` with schemas: the last type of each added field, used while it is null.
    json_types: HashMap<String, SchemaType>,
    metrics: LookupMetrics,
}

/// One record of a prepared batch: its coordinates (to check that `apply` got the record
/// `prepare` saw at this position) and its key's slot in `found` (`None`: the record has no
/// row, or lacks a template field).
#[derive(Debug, Clone, Copy)]
struct Prepared {
    partition: Option<i32>,
    offset: Option<i64>,
    slot: Option<usize>,
}

/// Cache hits and misses and the latency of one batch's pipelined lookups, labelled with the
/// connector.
struct LookupMetrics {
    hits: metrics::Counter,
    misses: metrics::Counter,
    latency: metrics::Histogram,
}

impl LookupMetrics {
    fn new(connector: &str) -> Self {
        let label = || [("connector", connector.to_string())];
        Self {
            hits: metrics::counter!("walcast_redis_lookup_cache_hits_total", &label()),
            misses: metrics::counter!("walcast_redis_lookup_cache_misses_total", &label()),
            latency: metrics::histogram!("walcast_redis_lookup_seconds", &label()),
        }
    }
}

impl RedisLookup {
    async fn connection(&mut self) -> Result<MultiplexedConnection, TransformError> {
        if let Some(c) = &self.conn {
            return Ok(c.clone());
        }
        let client = redis::Client::open(self.url.as_str()).map_err(|_| {
            TransformError::new(format!(
                "RedisLookup: cannot parse redis.url {}",
                self.redacted
            ))
        })?;
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout);
        let conn = client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
            .map_err(|e| {
                TransformError::transient(format!(
                    "RedisLookup: cannot connect to Redis at {}: {e}; retrying",
                    self.redacted
                ))
            })?;
        self.conn = Some(conn.clone());
        Ok(conn)
    }

    async fn prepare_batch(&mut self, records: &[ConnectRecord]) -> Result<(), TransformError> {
        self.forget_batch();
        let now = Instant::now();
        // Slots of `found` to ask Redis for, with their keys.
        let mut to_fetch: Vec<(usize, Key)> = Vec::new();
        let (mut hits, mut misses) = (0u64, 0u64);
        let mut key = std::mem::take(&mut self.key);
        for r in records {
            let rendered = row_value(r, row_of(r))
                .is_some_and(|row| self.template.render_into(row, &mut key).is_ok());
            // Without a key, `apply` reports the missing field (or has no row to enrich).
            let slot = rendered.then(|| match self.batch.get(key.as_str()) {
                Some(&slot) => {
                    hits += 1;
                    slot
                }
                None => {
                    let slot = self.found.len();
                    let k = Key::from(key.as_str());
                    match self.cache.get(&key, now) {
                        Some(v) => {
                            hits += 1;
                            self.found.push(Lookup::Found(v));
                        }
                        None => {
                            misses += 1;
                            // Placeholder until the reply arrives.
                            self.found.push(Lookup::Missing);
                            to_fetch.push((slot, k.clone()));
                        }
                    }
                    self.batch.insert(k, slot);
                    slot
                }
            });
            self.prepared.push(Prepared {
                partition: r.partition,
                offset: r.offset,
                slot,
            });
        }
        self.key = key;
        self.metrics.hits.increment(hits);
        self.metrics.misses.increment(misses);
        if to_fetch.is_empty() {
            return Ok(());
        }
        let mut conn = self.connection().await?;
        let mut pipe = redis::pipe();
        for (_, k) in &to_fetch {
            pipe.cmd(self.kind.command()).arg(k.as_str());
        }
        let started = Instant::now();
        let replies = match conn.req_packed_commands(&pipe, 0, to_fetch.len()).await {
            Ok(r) => r,
            Err(e) => {
                self.forget_batch();
                if e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                {
                    self.conn = None;
                }
                return Err(TransformError::transient(format!(
                    "RedisLookup: {} lookups at {} failed: {e}; retrying the batch",
                    to_fetch.len(),
                    self.redacted
                )));
            }
        };
        self.metrics.latency.record(started.elapsed().as_secs_f64());
        if replies.len() != to_fetch.len() {
            self.forget_batch();
            return Err(TransformError::transient(format!(
                "RedisLookup: Redis at {} answered {} of {} lookups; retrying the batch",
                self.redacted,
                replies.len(),
                to_fetch.len()
            )));
        }
        for ((slot, key), reply) in to_fetch.into_iter().zip(replies) {
            let lookup = self.read_reply(reply);
            if let Lookup::Found(v) = &lookup {
                self.cache.put(key, Arc::clone(v), now);
            }
            if let Some(f) = self.found.get_mut(slot) {
                *f = lookup;
            }
        }
        Ok(())
    }

    /// Drops what `prepare` found for the last batch: `apply` then finds nothing prepared.
    fn forget_batch(&mut self) {
        self.batch.clear();
        self.found.clear();
        self.prepared.clear();
        self.cursor = 0;
    }

    /// What `prepare` found for `record`: by its slot when `prepared` (what `prepare` saw at
    /// the record's position) is this record, else by rendering its key again.
    fn lookup_for(
        &mut self,
        record: &ConnectRecord,
        row: &Value,
        prepared: Option<Prepared>,
    ) -> Result<Lookup, TransformError> {
        if let Some(Prepared {
            partition,
            offset: Some(offset),
            slot: Some(slot),
        }) = prepared
        {
            if partition == record.partition && Some(offset) == record.offset {
                if let Some(found) = self.found.get(slot) {
                    return Ok(found.clone());
                }
            }
        }
        if let Err(field) = self.template.render_into(row, &mut self.key) {
            return Err(TransformError::new(format!(
                "RedisLookup: record {} has no field '{field}' (or it is null) for key template '{}'",
                Self::coordinates(record),
                self.template.text
            )));
        }
        self.batch
            .get(self.key.as_str())
            .and_then(|&slot| self.found.get(slot))
            .cloned()
            .ok_or_else(|| {
                TransformError::new(format!(
                    "RedisLookup: record {} was not prepared (prepare must run on the batch before apply)",
                    Self::coordinates(record)
                ))
            })
    }

    /// One reply as the record will see it.
    fn read_reply(&self, reply: redis::Value) -> Lookup {
        use redis::Value as R;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match (self.kind, reply) {
            (_, R::ServerError(e)) => Lookup::Unusable(match e.code() {
                "WRONGTYPE" => format!(
                    "holds another Redis type than redis.type={} reads (WRONGTYPE)",
                    match self.kind {
                        LookupType::Hash => "hash",
                        LookupType::Json => "json",
                        LookupType::String => "string",
                    }
                ),
                code => format!("Redis answered the lookup with an error ({code})"),
            }),
            (_, R::Nil) => Lookup::Missing,
            (LookupType::Hash, R::Array(items)) => {
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    if let (R::BulkString(k), R::BulkString(v)) = (k, v) {
                        pairs.push((text(&k), text(&v)));
                    }
                }
                self.hash_fields(pairs)
            }
            (LookupType::Hash, R::Map(items)) => {
                let pairs = items
                    .into_iter()
                    .filter_map(|(k, v)| match (k, v) {
                        (R::BulkString(k), R::BulkString(v)) => Some((text(&k), text(&v))),
                        _ => None,
                    })
                    .collect();
                self.hash_fields(pairs)
            }
            (LookupType::String, R::BulkString(b)) => {
                let name = self
                    .fields
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "value".into());
                Lookup::Found(Arc::new(vec![(name, Added::Text(text(&b)))]))
            }
            (LookupType::Json, R::BulkString(b)) => match serde_json::from_slice(&b) {
                Ok(serde_json::Value::Object(mut obj)) => {
                    let taken: Vec<(String, Added)> = if self.fields.is_empty() {
                        let mut all: Vec<_> =
                            obj.into_iter().map(|(k, v)| (k, Added::Json(v))).collect();
                        all.sort_by(|a, b| a.0.cmp(&b.0));
                        all
                    } else {
                        self.fields
                            .iter()
                            .map(|f| {
                                let v = obj.remove(f).unwrap_or(serde_json::Value::Null);
                                (f.clone(), Added::Json(v))
                            })
                            .collect()
                    };
                    Lookup::Found(Arc::new(taken))
                }
                Ok(_) => {
                    Lookup::Unusable("holds JSON that is not an object (redis.type=json)".into())
                }
                Err(_) => {
                    Lookup::Unusable("holds a string that is not JSON (redis.type=json)".into())
                }
            },
            (_, other) => Lookup::Unusable(format!(
                "gave an unexpected {} reply",
                match other {
                    R::Int(_) => "integer",
                    R::Array(_) => "array",
                    _ => "non-string",
                }
            )),
        }
    }

    /// The taken fields of a hash; an empty hash does not exist in Redis.
    fn hash_fields(&self, mut pairs: Vec<(String, String)>) -> Lookup {
        if pairs.is_empty() {
            return Lookup::Missing;
        }
        let taken: Vec<(String, Added)> = if self.fields.is_empty() {
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            pairs
                .into_iter()
                .map(|(k, v)| (k, Added::Text(v)))
                .collect()
        } else {
            self.fields
                .iter()
                .map(|f| {
                    let v = pairs
                        .iter()
                        .position(|(k, _)| k == f)
                        .map(|i| std::mem::take(&mut pairs[i].1));
                    (
                        f.clone(),
                        v.map_or(Added::Json(serde_json::Value::Null), Added::Text),
                    )
                })
                .collect()
        };
        Lookup::Found(Arc::new(taken))
    }

    fn coordinates(record: &ConnectRecord) -> String {
        format!(
            "{}-{}@{}",
            record.topic,
            record
                .partition
                .map_or_else(|| "?".into(), |p| p.to_string()),
            record.offset.map_or_else(|| "?".into(), |o| o.to_string())
        )
    }

    /// The row schema with the added fields appended, cached.
    fn row_schema(
        &mut self,
        schema: &SchemaRef,
        added: &[(String, SchemaType)],
    ) -> Result<SchemaRef, String> {
        if let Some((_, _, out)) = self
            .schemas
            .iter()
            .find(|(i, a, _)| Arc::ptr_eq(i, schema) && a.as_slice() == added)
        {
            return Ok(Arc::clone(out));
        }
        // The same schema under another `Arc`: remembered under this one too, so the records
        // that follow find it by pointer.
        if let Some(out) = self
            .schemas
            .iter()
            .find(|(i, a, _)| a.as_slice() == added && **i == **schema)
            .map(|(_, _, out)| Arc::clone(out))
        {
            self.remember(schema, added, &out);
            return Ok(out);
        }
        let mut fields = schema.fields.clone();
        for (name, t) in added {
            if fields.iter().any(|f| &f.name == name) {
                return Err(format!(
                    "the record already has a field named {name}; choose another prefix"
                ));
            }
            fields.push(Field::new(name.clone(), Schema::optional(*t)));
        }
        let out = Arc::new(Schema {
            fields,
            ..(**schema).clone()
        });
        self.remember(schema, added, &out);
        Ok(out)
    }

    fn remember(&mut self, schema: &SchemaRef, added: &[(String, SchemaType)], out: &SchemaRef) {
        if self.schemas.len() >= 64 {
            self.schemas.remove(0);
        }
        self.schemas
            .push((Arc::clone(schema), added.to_vec(), Arc::clone(out)));
    }

    fn enrich(&mut self, mut record: ConnectRecord) -> Result<ConnectRecord, TransformError> {
        // Every record takes its position in the prepared batch, enriched or not.
        let prepared = self.prepared.get(self.cursor).copied();
        self.cursor += 1;
        let row = row_of(&record);
        let Some(value) = row_value(&record, row) else {
            return Ok(record);
        };
        let lookup = self.lookup_for(&record, value, prepared)?;
        match &lookup {
            Lookup::Unusable(why) => {
                return Err(TransformError::new(format!(
                    "RedisLookup: for record {}, the Redis key from template '{}' {why}; fix the data in Redis or the transform's type",
                    Self::coordinates(&record),
                    self.template.text
                )))
            }
            Lookup::Missing if self.fail_on_missing => {
                return Err(TransformError::new(format!(
                    "RedisLookup: for record {}, the Redis key from template '{}' does not exist (on.missing=fail)",
                    Self::coordinates(&record),
                    self.template.text
                )))
            }
            _ => {}
        }
        // Field names (without prefix) and values to add: what was found, else the configured
        // fields as null.
        let found: &[(String, Added)] = match &lookup {
            Lookup::Found(v) => v.as_slice(),
            _ => &[],
        };
        let schemaless = record.value_schema.is_none();
        let mut added: Vec<(&str, SchemaType, Value)> =
            Vec::with_capacity(found.len().max(self.fields.len()));
        if !found.is_empty() {
            for (name, a) in found {
                let (t, v) =
                    convert_added(self.kind, &mut self.json_types, name, Some(a), schemaless);
                added.push((name, t, v));
            }
        } else if self.kind == LookupType::String || !self.fields.is_empty() {
            for name in &self.fields {
                let (t, v) = convert_added(self.kind, &mut self.json_types, name, None, schemaless);
                added.push((name, t, v));
            }
        }
        if added.is_empty() {
            return Ok(record);
        }
        let bad = |e: String, r: &ConnectRecord| {
            TransformError::new(format!("RedisLookup: record {}: {e}", Self::coordinates(r)))
        };
        if let (Row::Flat, Some(schema)) = (row, record.value_schema.clone()) {
            // The hot path: one cached schema per table and field set, found without allocating.
            let hit = self
                .schemas
                .iter()
                .find(|(i, sig, _)| {
                    Arc::ptr_eq(i, &schema) && same_signature(sig, &self.prefix, &added)
                })
                .map(|(_, _, out)| Arc::clone(out));
            let new_schema = match hit {
                Some(out) => {
                    if let Value::Struct(s) = &mut record.value {
                        s.values.extend(added.into_iter().map(|(_, _, v)| v));
                    }
                    out
                }
                None => {
                    let sig: Signature = added
                        .iter()
                        .map(|(n, t, _)| (format!("{}{n}", self.prefix), *t))
                        .collect();
                    let values: Vec<Value> = added.into_iter().map(|(_, _, v)| v).collect();
                    let out = self
                        .row_schema(&schema, &sig)
                        .map_err(|e| bad(e, &record))?;
                    if let Value::Struct(s) = &mut record.value {
                        s.values.extend(values);
                    }
                    out
                }
            };
            if let Value::Struct(s) = &mut record.value {
                s.schema = Arc::clone(&new_schema);
            }
            record.value_schema = Some(new_schema);
            return Ok(record);
        }
        let added: Vec<(String, SchemaType, Value)> = added
            .into_iter()
            .map(|(n, t, v)| (format!("{}{n}", self.prefix), t, v))
            .collect();
        match (row, record.value_schema.clone()) {
            (Row::Flat, None) => {
                if let Value::Map(m) = &mut record.value {
                    for (name, _, v) in added {
                        map_put(m, &name, v);
                    }
                }
            }
            (Row::Flat, Some(_)) => {}
            (Row::Image(image), None) => {
                if let Value::Map(env) = &mut record.value {
                    if let Some((_, Value::Map(m))) =
                        env.iter_mut().find(|(k, _)| k.as_str() == Some(image))
                    {
                        for (name, _, v) in added {
                            map_put(m, &name, v);
                        }
                    }
                }
            }
            (Row::Image(image), Some(env_schema)) => {
                let sig: Signature = added.iter().map(|(n, t, _)| (n.clone(), *t)).collect();
                let Some((_, row_field)) = env_schema.field(image) else {
                    return Ok(record);
                };
                let row_schema = Arc::clone(&row_field.schema);
                let new_row = self
                    .row_schema(&row_schema, &sig)
                    .map_err(|e| bad(e, &record))?;
                // Both images share the row schema in Debezium's envelope: replace it in both.
                let mut env_fields = env_schema.fields.clone();
                for f in env_fields.iter_mut() {
                    if (f.name == "before" || f.name == "after") && *f.schema == *row_schema {
                        f.schema = Arc::clone(&new_row);
                    }
                }
                let new_env = Arc::new(Schema {
                    fields: env_fields,
                    ..(*env_schema).clone()
                });
                if let Value::Struct(env) = &mut record.value {
                    env.schema = Arc::clone(&new_env);
                    for (i, f) in new_env.fields.iter().enumerate() {
                        if !Arc::ptr_eq(&f.schema, &new_row) {
                            continue;
                        }
                        if let Some(Value::Struct(s)) = env.values.get_mut(i) {
                            s.schema = Arc::clone(&new_row);
                            if f.name == image {
                                s.values.extend(added.iter().map(|(_, _, v)| v.clone()));
                            } else {
                                s.values.extend(added.iter().map(|_| Value::Null));
                            }
                        }
                    }
                }
                record.value_schema = Some(new_env);
            }
            (Row::None, _) => {}
        }
        Ok(record)
    }
}

impl Transformation for RedisLookup {
    fn prepare<'a>(
        &'a mut self,
        records: &'a [ConnectRecord],
    ) -> BoxFuture<'a, Result<(), TransformError>> {
        Box::pin(self.prepare_batch(records))
    }

    fn apply(&mut self, record: ConnectRecord) -> Result<Option<ConnectRecord>, TransformError> {
        self.enrich(record).map(Some)
    }

    fn set_connector(&mut self, name: &str) {
        self.metrics = LookupMetrics::new(name);
    }
}

/// `scheme://host:port/db` without credentials.
fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("redis", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    format!("{scheme}://{rest}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// `apply` finds a record's lookup by the slot `prepare` gave the record at its position;
    /// a record at another position (or one `prepare` never saw) has its key rendered again.
    #[tokio::test]
    async fn apply_out_of_prepared_order_still_finds_each_records_lookup() {
        let redis = walcast_testkit::Redis::start().await.unwrap();
        let mut conn = redis.connect().await.unwrap();
        for (k, name) in [("customer:C1", "Ada"), ("customer:C2", "Alan")] {
            let _: () = redis::cmd("HSET")
                .arg(k)
                .arg("name")
                .arg(name)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        let cfg: ConnectorConfig = [
            ("redis.url", redis.url()),
            ("key", "customer:${customer_id}".into()),
            ("fields", "name".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let mut t = build(&cfg).map_err(|e| format!("{e:?}")).unwrap();
        let schema = Arc::new(Schema::structure(
            Some("orders.Value".into()),
            vec![Field::new(
                "customer_id",
                Schema::optional(SchemaType::String),
            )],
        ));
        let record = |offset: i64, customer: &str| {
            let mut s = walcast_connect_api::Struct::new(Arc::clone(&schema));
            s.put("customer_id", Value::String(customer.into()));
            ConnectRecord {
                topic: "orders".into(),
                partition: Some(0),
                offset: Some(offset),
                timestamp_ms: None,
                key_schema: None,
                key: Value::Null,
                value_schema: Some(Arc::clone(&schema)),
                value: Value::Struct(s),
                headers: Vec::new(),
            }
        };
        let name = |r: &ConnectRecord| match &r.value {
            Value::Struct(s) => s.get("name").cloned(),
            _ => None,
        };
        let batch = [record(0, "C1"), record(1, "C2"), record(2, "C1")];
        t.prepare(&batch).await.unwrap();
        let [a, b, c] = batch;
        for (r, want) in [(b, "Alan"), (a, "Ada"), (c, "Ada")] {
            let out = t.apply(r).unwrap().unwrap();
            assert_eq!(name(&out), Some(Value::String(want.into())));
        }
        // A key the batch did not have was not prepared.
        let err = t.apply(record(3, "C9")).unwrap_err();
        assert!(err.message.contains("was not prepared"), "{}", err.message);
    }

    #[test]
    fn config_issues() {
        let cfg = |pairs: &[(&str, &str)]| -> ConnectorConfig {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let issues = build(&cfg(&[
            ("redis.url", "http://x"),
            ("key", "k"),
            ("typo", "1"),
        ]))
        .err()
        .unwrap();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["typo", "redis.url", "key"], "{issues:?}");
        assert!(build(&cfg(&[
            ("redis.url", "redis://u:secret@h:6379/1"),
            ("key", "c:${id}"),
            ("redis.type", "string"),
            ("fields", "a,b"),
        ]))
        .is_err());
        assert_eq!(
            redact_url("rediss://u:secret@h:6379/1"),
            "rediss://h:6379/1"
        );
    }
}
