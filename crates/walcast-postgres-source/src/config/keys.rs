//! Every key the PostgreSQL source reads, declared once: Debezium's names and defaults (walcast's
//! own keys start with `walcast.`). [`SourceConfig::parse`](super::SourceConfig::parse) and
//! `walcast_debezium::EventConfig` read values against these declarations; the worker's
//! validate endpoint, unknown-key warnings and `walcast config-docs` list them.

use walcast_connect_api::{ConfigKeyDef, Importance};

const CONNECTION: &str = "Connection";
const REPLICATION: &str = "Replication";
const FILTERS: &str = "Filters";
const SNAPSHOT: &str = "Snapshot";
const EVENTS: &str = "Events";
const HEARTBEAT: &str = "Heartbeat";
const KAFKA: &str = "Kafka";
const ERRORS: &str = "Error Handling";

/// The keys listed by the validate endpoint and `walcast config-docs` (the ones walcast acts on).
pub static CONFIG_KEYS: &[ConfigKeyDef] = &[
    ConfigKeyDef {
        name: "database.hostname",
        required: true,
        doc: "PostgreSQL host name or address.",
        importance: Importance::High,
        group: CONNECTION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "database.port",
        kind: "INT",
        default: Some("5432"),
        doc: "PostgreSQL port.",
        importance: Importance::High,
        group: CONNECTION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "database.user",
        required: true,
        doc: "User with the REPLICATION attribute (or superuser).",
        importance: Importance::High,
        group: CONNECTION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "database.password",
        kind: "PASSWORD",
        doc: "The user's password.",
        importance: Importance::High,
        group: CONNECTION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "database.dbname",
        required: true,
        doc: "Database to capture.",
        importance: Importance::High,
        group: CONNECTION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "database.sslmode",
        default: Some("prefer"),
        valid: &[
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ],
        doc: "Whether and how the connection uses TLS, libpq's sslmode.",
        group: CONNECTION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "database.sslrootcert",
        doc: "PEM file of the CA certificate(s) the server's certificate must chain to (verify-ca, verify-full): a private CA or e.g. RDS's global-bundle.pem; `system` for the system roots.",
        group: CONNECTION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "database.sslcert",
        doc: "PEM client certificate, for pg_hba.conf `cert` or `clientcert=verify-*`.",
        group: CONNECTION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "database.sslkey",
        doc: "PEM private key of database.sslcert (unencrypted PKCS#8, PKCS#1 or SEC1).",
        group: CONNECTION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "database.sslpassword",
        kind: "PASSWORD",
        doc: "Password of an encrypted database.sslkey. walcast cannot decrypt keys: it refuses an encrypted key with the openssl command that decrypts it.",
        group: CONNECTION,
        ..ConfigKeyDef::BASE
    },
    // Not marked required: the legacy `database.server.name` stands in for it, and the
    // connector's own check reports a config with neither.
    ConfigKeyDef {
        name: "topic.prefix",
        doc: "Prefix of every topic name: <topic.prefix>.<schema>.<table>. Required unless the legacy database.server.name is given.",
        importance: Importance::High,
        group: CONNECTION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "database.server.name",
        doc: "Debezium 1.x name of topic.prefix, used when topic.prefix is not set.",
        importance: Importance::Low,
        group: CONNECTION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "plugin.name",
        default: Some("pgoutput"),
        doc: "Logical decoding plugin; walcast supports pgoutput only.",
        group: REPLICATION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "slot.name",
        default: Some("debezium"),
        doc: "Replication slot name.",
        group: REPLICATION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "slot.drop.on.stop",
        kind: "BOOLEAN",
        default: Some("false"),
        doc: "Drop the slot when the connector is stopped or deleted.",
        group: REPLICATION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "publication.name",
        default: Some("dbz_publication"),
        doc: "Publication to stream.",
        importance: Importance::Low,
        group: REPLICATION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "publication.autocreate.mode",
        default: Some("all_tables"),
        valid: &["all_tables", "filtered", "disabled"],
        doc: "all_tables: create the publication FOR ALL TABLES when missing; filtered: create or alter it to exactly the captured tables; disabled: it must exist already.",
        importance: Importance::Low,
        group: REPLICATION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "status.update.interval.ms",
        kind: "INT",
        default: Some("100"),
        doc: "How often the acknowledged LSN is confirmed to PostgreSQL.",
        importance: Importance::Low,
        group: REPLICATION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "walcast.streaming.enable",
        kind: "BOOLEAN",
        default: Some("true"),
        doc: "Use pgoutput's streaming of large in-progress transactions (PostgreSQL 14+).",
        importance: Importance::Low,
        group: REPLICATION,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "schema.include.list",
        kind: "LIST",
        doc: "Regexes of schemas to capture.",
        importance: Importance::High,
        group: FILTERS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "schema.exclude.list",
        kind: "LIST",
        doc: "Regexes of schemas not to capture.",
        importance: Importance::High,
        group: FILTERS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "table.include.list",
        kind: "LIST",
        doc: "Regexes of schema.table to capture.",
        importance: Importance::High,
        group: FILTERS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "table.exclude.list",
        kind: "LIST",
        doc: "Regexes of schema.table not to capture.",
        importance: Importance::High,
        group: FILTERS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "column.include.list",
        kind: "LIST",
        doc: "Regexes of schema.table.column to include (legacy name: column.whitelist).",
        group: FILTERS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "column.exclude.list",
        kind: "LIST",
        doc: "Regexes of schema.table.column to exclude (legacy name: column.blacklist).",
        group: FILTERS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "message.prefix.include.list",
        kind: "LIST",
        doc: "Regexes of logical decoding message prefixes to emit.",
        group: FILTERS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "message.prefix.exclude.list",
        kind: "LIST",
        doc: "Regexes of logical decoding message prefixes not to emit.",
        group: FILTERS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "snapshot.mode",
        default: Some("initial"),
        valid: &[
            "initial",
            "initial_only",
            "no_data",
            "never",
            "always",
            "when_needed",
        ],
        doc: "When to snapshot: initial (without a recorded position, then stream), initial_only (then stop), no_data or its old name never (never), always (at every start), when_needed (also when the slot is gone).",
        group: SNAPSHOT,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "snapshot.fetch.size",
        kind: "INT",
        default: Some("10240"),
        doc: "Rows read per snapshot batch.",
        group: SNAPSHOT,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "walcast.snapshot.batch.max.bytes",
        kind: "LONG",
        default: Some("4194304"),
        doc: "Bytes of row text per snapshot batch; a batch ends at this or snapshot.fetch.size rows, whichever comes first.",
        importance: Importance::Low,
        group: SNAPSHOT,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "snapshot.locking.mode",
        default: Some("shared"),
        valid: &["shared", "none"],
        doc: "shared: lock each captured table (ACCESS SHARE) in the snapshot transaction before reading its columns, so concurrent DDL waits instead of breaking the snapshot; none: no extra lock.",
        group: SNAPSHOT,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "snapshot.lock.timeout.ms",
        kind: "LONG",
        default: Some("10000"),
        doc: "How long the snapshot waits for a table lock (DDL in progress) before it retries.",
        group: SNAPSHOT,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "message.key.columns",
        doc: "Key columns per table: schema.table:col1,col2;...",
        group: EVENTS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "decimal.handling.mode",
        default: Some("precise"),
        valid: &["precise", "string", "double"],
        doc: "How numeric and decimal columns are represented.",
        group: EVENTS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "time.precision.mode",
        default: Some("adaptive"),
        valid: &[
            "adaptive",
            "adaptive_time_microseconds",
            "isostring",
            "microseconds",
            "nanoseconds",
            "connect",
        ],
        doc: "How time, date and timestamp columns are represented.",
        group: EVENTS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "binary.handling.mode",
        default: Some("bytes"),
        valid: &["bytes", "base64", "base64-url-safe", "hex"],
        doc: "How bytea columns are represented.",
        group: EVENTS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "interval.handling.mode",
        default: Some("numeric"),
        valid: &["numeric", "string"],
        doc: "How interval columns are represented: microseconds, or ISO 8601 text.",
        group: EVENTS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "hstore.handling.mode",
        default: Some("json"),
        valid: &["json", "map"],
        doc: "How hstore columns are represented.",
        group: EVENTS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "money.fraction.digits",
        kind: "SHORT",
        default: Some("2"),
        doc: "Scale of money columns as decimals (0 to 38).",
        importance: Importance::Low,
        group: EVENTS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "include.unknown.datatypes",
        kind: "BOOLEAN",
        default: Some("false"),
        doc: "Emit columns of types walcast does not map.",
        group: EVENTS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "unavailable.value.placeholder",
        default: Some("__debezium_unavailable_value"),
        doc: "What an unchanged TOAST value becomes in update events.",
        importance: Importance::Low,
        group: EVENTS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "schema.name.adjustment.mode",
        default: Some("none"),
        valid: &["none", "avro", "avro_unicode"],
        doc: "How schema names are made valid for the converter.",
        importance: Importance::Low,
        group: EVENTS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "field.name.adjustment.mode",
        default: Some("none"),
        valid: &["none", "avro", "avro_unicode"],
        doc: "How field names are made valid for the converter.",
        importance: Importance::Low,
        group: EVENTS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "topic.delimiter",
        default: Some("."),
        doc: "Delimiter between topic.prefix, schema and table in topic names.",
        importance: Importance::Low,
        group: EVENTS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "tombstones.on.delete",
        kind: "BOOLEAN",
        default: Some("true"),
        doc: "Follow each delete with a tombstone.",
        group: EVENTS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "skipped.operations",
        kind: "LIST",
        default: Some("t"),
        valid: &["c", "u", "d", "t", "none"],
        doc: "Operations not emitted.",
        group: EVENTS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "heartbeat.interval.ms",
        kind: "INT",
        default: Some("0"),
        doc: "Heartbeat interval; 0 disables heartbeats.",
        group: HEARTBEAT,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "topic.heartbeat.prefix",
        default: Some("__debezium-heartbeat"),
        doc: "Heartbeat topic prefix.",
        importance: Importance::Low,
        group: HEARTBEAT,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "heartbeat.action.query",
        doc: "SQL run on every heartbeat.",
        group: HEARTBEAT,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "max.batch.size",
        kind: "INT",
        default: Some("2048"),
        doc: "Accepted for compatibility; walcast batches by bytes.",
        importance: Importance::Low,
        group: KAFKA,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "topic.creation.default.partitions",
        kind: "INT",
        default: Some("1"),
        doc: "Partitions of topics walcast creates.",
        group: KAFKA,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "topic.creation.default.replication.factor",
        kind: "SHORT",
        default: Some("1"),
        doc: "Replication factor of topics walcast creates (-1: 1).",
        group: KAFKA,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "producer.override.acks",
        default: Some("all"),
        doc: "Only all (-1) is accepted: the slot is confirmed once every in-sync replica has the records.",
        importance: Importance::Low,
        group: KAFKA,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "producer.override.compression.type",
        default: Some("zstd"),
        valid: &["none", "gzip", "snappy", "lz4", "zstd"],
        doc: "Compression of produced batches. walcast's default is zstd (Kafka's is none): every Debezium JSON event repeats its schema, so batches shrink about 20x.",
        group: KAFKA,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "compression.type",
        doc: "Same as producer.override.compression.type, used when that is not set.",
        importance: Importance::Low,
        group: KAFKA,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "producer.override.linger.ms",
        kind: "LONG",
        default: Some("5"),
        doc: "How long a batch waits for more records.",
        group: KAFKA,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "linger.ms",
        kind: "LONG",
        doc: "Same as producer.override.linger.ms, used when that is not set.",
        importance: Importance::Low,
        group: KAFKA,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "producer.override.batch.size",
        kind: "INT",
        default: Some("1048576"),
        doc: "Batch size in bytes.",
        group: KAFKA,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "batch.size",
        kind: "INT",
        doc: "Same as producer.override.batch.size, used when that is not set.",
        importance: Importance::Low,
        group: KAFKA,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "producer.override.max.in.flight.requests.per.connection",
        kind: "INT",
        default: Some("1"),
        doc: "Produce requests in flight per partition. 1 keeps every partition in order at all times (as Connect forces for source tasks); more is faster, and a retried batch is then followed by the later ones again, so consumers may briefly see an older version after a newer one.",
        importance: Importance::Low,
        group: KAFKA,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "producer.override.request.timeout.ms",
        kind: "INT",
        default: Some("30000"),
        doc: "How long one produce request may take before it is retried.",
        importance: Importance::Low,
        group: KAFKA,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "producer.override.delivery.timeout.ms",
        kind: "INT",
        default: Some("2147483647"),
        doc: "How long a batch is retried before the task restarts from its last confirmed position (2147483647: until it succeeds, Connect's source default).",
        importance: Importance::Low,
        group: KAFKA,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "producer.override.retries",
        kind: "INT",
        default: Some("2147483647"),
        doc: "Failed attempts of a batch before the task restarts from its last confirmed position (2147483647: unlimited).",
        importance: Importance::Low,
        group: KAFKA,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "producer.override.retry.backoff.ms",
        kind: "LONG",
        default: Some("100"),
        doc: "First wait before a failed produce request is retried (doubles up to 1 s).",
        importance: Importance::Low,
        group: KAFKA,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "walcast.max.buffered.bytes",
        kind: "LONG",
        default: Some("8388608"),
        doc: "Bytes not yet acknowledged by Kafka before reading pauses.",
        importance: Importance::Low,
        group: KAFKA,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "errors.retry.timeout",
        kind: "LONG",
        default: Some("-1"),
        doc: "How long transient failures (connection lost, server restart, serialization failure, lock timeout, broker unreachable) are retried, in ms; -1 retries until stopped, 0 fails on the first one.",
        group: ERRORS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "errors.retry.delay.max.ms",
        kind: "LONG",
        default: Some("60000"),
        doc: "Longest wait between retries (the backoff doubles from 500 ms up to this).",
        group: ERRORS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "errors.tolerance",
        default: Some("none"),
        valid: &["none", "all"],
        doc: "none: a record a transform fails on fails the task (the message names the transform, topic and LSN); all: such records are skipped, as Connect does for source connectors.",
        group: ERRORS,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "errors.log.enable",
        kind: "BOOLEAN",
        default: Some("false"),
        doc: "With errors.tolerance=all, log every skipped record (topic, LSN, cause) at WARN.",
        group: ERRORS,
        ..ConfigKeyDef::BASE
    },
];
