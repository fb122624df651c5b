//! The PostgreSQL source connector (`io.debezium.connector.postgresql.PostgresConnector`):
//! snapshot and streaming from a logical replication slot, Debezium-compatible events into Kafka,
//! and the slot's LSN confirmed only once Kafka has acknowledged everything before it.
//!
//! Stages: [`task`] (connect, publication, slot, snapshot decision, clean stop) →
//! [`snapshot`] (exported-snapshot reads) → [`engine`] (pgoutput → records → producer, and the
//! status task that confirms the acknowledged LSN). [`events`] is the single seam to the
//! Debezium encoder; [`transforms`] runs the connector's transform chain (`transforms=...`) on
//! records before they are produced, when one is configured; [`spill`] keeps streamed
//! in-progress transactions on disk; [`state`] remembers whether the snapshot finished.

mod config;
mod engine;
mod error;
mod events;
mod metric;
mod snapshot;
mod spill;
mod state;
mod task;
mod transforms;

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use walcast_connect_api::{
    ConfigIssue, ConfigKeyDef, ConnectorError, ConnectorKind, ConnectorPlugin, TaskContext,
};

pub use config::SourceConfig;
pub use error::SourceError;

/// Debezium's PostgreSQL connector class, the name users already have in their configs.
pub const CLASS: &str = "io.debezium.connector.postgresql.PostgresConnector";

/// The plugin the worker registers.
#[derive(Debug, Default, Clone, Copy)]
pub struct PostgresSourcePlugin;

impl ConnectorPlugin for PostgresSourcePlugin {
    fn class(&self) -> &'static str {
        CLASS
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["PostgresConnector", "postgres", "walcast.postgres.source"]
    }

    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Source
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn config_keys(&self) -> &'static [ConfigKeyDef] {
        config::CONFIG_KEYS
    }

    fn validate(&self, config: &BTreeMap<String, String>) -> Vec<ConfigIssue> {
        let mut issues = match SourceConfig::parse(config) {
            Ok(_) => Vec::new(),
            Err(issues) => issues,
        };
        // The transform chain, built as the task builds it, so a config the task would refuse
        // is refused when the connector is created.
        for issue in walcast_transforms::validate(config) {
            if !issues.iter().any(|i| i.key == issue.key) {
                issues.push(issue);
            }
        }
        let schemas = walcast_debezium::schemas_enable_from_properties(config);
        let (k, v) = schemas.clone().unwrap_or((true, true));
        for e in [
            schemas.err(),
            walcast_debezium::EventConfig::from_properties(config, k, v).err(),
        ]
        .into_iter()
        .flatten()
        {
            let key = e.key().to_string();
            if !issues.iter().any(|i| i.key == key) {
                issues.push(ConfigIssue::new(key, e.to_string()));
            }
        }
        issues
    }

    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(task::run(ctx))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn transform_chains_are_checked_like_the_task_builds_them() {
        let config = |extra: &[(&str, &str)]| -> BTreeMap<String, String> {
            [
                ("database.hostname", "h"),
                ("database.user", "u"),
                ("database.dbname", "d"),
                ("topic.prefix", "p"),
                ("transforms", "unwrap,route"),
                (
                    "transforms.unwrap.type",
                    "io.debezium.transforms.ExtractNewRecordState",
                ),
                (
                    "transforms.route.type",
                    "org.apache.kafka.connect.transforms.RegexRouter",
                ),
                ("transforms.route.regex", "p\\.public\\.(.*)"),
                ("transforms.route.replacement", "flat.$1"),
            ]
            .iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        };
        assert!(PostgresSourcePlugin.validate(&config(&[])).is_empty());
        let issues = PostgresSourcePlugin.validate(&config(&[(
            "transforms.unwrap.delete.tombstone.handling.mode",
            "rewrit",
        )]));
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(
            issues[0].key,
            "transforms.unwrap.delete.tombstone.handling.mode"
        );
        // Headers are produced: add.headers is a valid setting.
        let issues =
            PostgresSourcePlugin.validate(&config(&[("transforms.unwrap.add.headers", "op")]));
        assert!(issues.is_empty(), "{issues:?}");
    }
}
