//! The Redis sink connector, `com.redis.kafka.connect.RedisSinkConnector` with the Redis Kafka
//! Connect sink's keys (`redis.uri`, `redis.command`, `redis.key`, `redis.separator`, ...).
//!
//! In: batches of [`ConnectRecord`](walcast_connect_api::ConnectRecord)s from the shared sink
//! runtime (`walcast-sink`: consume, convert, transform), each with the Kafka positions it
//! reaches. Out: one `MULTI ... EXEC` per batch holding the record commands and the positions
//! ([`writer`]), which is what makes the sink exactly-once where the Redis Kafka Connect sink
//! (offsets written apart from the data) is at-least-once.
//!
//! [`config`] declares and checks the keys, [`template`] parses `redis.key`, [`render`] turns
//! Connect values into Redis text (a Decimal as `19.99`, timestamps ISO-8601).

pub mod config;
pub mod render;
pub mod template;
pub mod writer;

pub use config::{RedisSinkConfig, REDIS_KEYS};
pub use writer::{offsets_key, RedisWriter};

/// The Redis Kafka Connect sink's class, the name users already have in their configs.
pub const CLASS: &str = "com.redis.kafka.connect.RedisSinkConnector";
