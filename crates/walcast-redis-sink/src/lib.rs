//! The Redis sink connector, `com.redis.kafka.connect.RedisSinkConnector` with the Redis Kafka
//! Connect sink's keys (`redis.uri`, `redis.command`, `redis.key`, `redis.separator`, ...).
//!
//! In: batches of [`ConnectRecord`](walcast_connect_api::ConnectRecord)s from the shared sink
//! runtime (`walcast-sink`: consume, convert, transform), each with the Kafka positions it
//! reaches. Out: one `MULTI ... EXEC` per batch holding the record commands and the positions
//! (`writer`), which is what makes the sink exactly-once where the Redis Kafka Connect sink
//! (offsets written apart from the data) is at-least-once.
//!
//! `config` declares and checks the keys, `template` parses `redis.key`, `render` turns
//! Connect values into Redis text (a Decimal as `19.99`, timestamps ISO-8601).

mod config;
mod render;
mod template;
mod writer;

pub use config::{RedisSinkConfig, REDIS_KEYS};
pub use writer::{offsets_key, RedisWriter};

/// The Redis Kafka Connect sink's class, the name users already have in their configs.
pub const CLASS: &str = "com.redis.kafka.connect.RedisSinkConnector";

use std::sync::LazyLock;

use futures::future::BoxFuture;
use walcast_connect_api::{
    ConfigIssue, ConfigKeyDef, ConnectorConfig, ConnectorError, ConnectorKind, ConnectorPlugin,
    TaskContext,
};

/// The sink runtime's keys (`topics`, `errors.*`, `consumer.override.*`) and the Redis keys.
static ALL_KEYS: LazyLock<Vec<ConfigKeyDef>> = LazyLock::new(|| {
    walcast_sink::SINK_KEYS
        .iter()
        .chain(REDIS_KEYS.iter())
        .cloned()
        .collect()
});

/// The plugin the worker registers.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedisSinkPlugin;

impl ConnectorPlugin for RedisSinkPlugin {
    fn class(&self) -> &'static str {
        CLASS
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["walcast.RedisSinkConnector", "RedisSinkConnector"]
    }

    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Sink
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn config_keys(&self) -> &'static [ConfigKeyDef] {
        ALL_KEYS.as_slice()
    }

    fn validate(&self, config: &ConnectorConfig) -> Vec<ConfigIssue> {
        let mut issues = walcast_sink::validate(config);
        if let Err(own) = RedisSinkConfig::parse(config) {
            for i in own {
                if !issues.iter().any(|e| e.key == i.key) {
                    issues.push(i);
                }
            }
        }
        issues
    }

    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(async move {
            let config = RedisSinkConfig::parse(&ctx.config).map_err(|issues| {
                let list: Vec<String> = issues.iter().map(ToString::to_string).collect();
                ConnectorError::new(format!(
                    "invalid Redis sink configuration: {}",
                    list.join("; ")
                ))
            })?;
            let options = walcast_sink::SinkOptions::new(config.batch_size);
            walcast_sink::run(ctx, Box::new(RedisWriter::new(config)), options).await
        })
    }
}
