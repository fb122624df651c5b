//! Turning a `connector.class` into a registered [`ConnectorPlugin`], with Connect's matching
//! rules: the full class name, a plugin alias, the simple class name (`PostgresConnector`) or
//! the simple name without its `Connector` suffix (`Postgres`).
//!
//! A class walcast knows of but cannot run yet is refused with a message that says so, instead
//! of "not found" or, worse, being accepted and idling. That list is [`RECOGNISED_UNIMPLEMENTED`];
//! registered plugins are matched first, so a plugin that implements one of those classes wins
//! without editing the list.

use std::sync::Arc;

use walcast_connect_api::ConnectorPlugin;

/// Connector classes users commonly submit that no walcast plugin implements yet.
pub const RECOGNISED_UNIMPLEMENTED: &[&str] = &[
    "io.confluent.connect.jdbc.JdbcSinkConnector",
    "io.debezium.connector.jdbc.JdbcSinkConnector",
];

/// Why a `connector.class` did not select a plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClassError {
    #[error("Connector class {class} is recognised but not implemented in this walcast version")]
    NotImplemented { class: String },
    #[error(
        "Failed to find any class that implements Connector and which name matches {requested}, available connectors are: {}",
        if available.is_empty() { "(none)".to_owned() } else { available.join(", ") }
    )]
    NotFound {
        requested: String,
        available: Vec<String>,
    },
    #[error(
        "More than one connector matches alias {requested}: {}. Please use the full class name.",
        candidates.join(", ")
    )]
    Ambiguous {
        requested: String,
        candidates: Vec<String>,
    },
}

/// `a.b.PostgresConnector` -> `PostgresConnector`.
fn simple_name(class: &str) -> &str {
    class.rsplit(['.', '$']).next().unwrap_or(class)
}

/// `PostgresConnector` -> `Postgres` (Connect's "pruned" alias).
fn pruned_name(class: &str) -> Option<&str> {
    simple_name(class)
        .strip_suffix("Connector")
        .filter(|p| !p.is_empty())
}

/// How well `requested` names `class`: 2 for the full name, 1 for a short name, 0 for no match.
fn match_rank(class: &str, requested: &str) -> u8 {
    if class == requested {
        2
    } else if simple_name(class) == requested || pruned_name(class) == Some(requested) {
        1
    } else {
        0
    }
}

/// Resolve `requested` (a `connector.class` value; surrounding whitespace is ignored like
/// Connect's CLASS type does) against the registered plugins.
pub fn resolve(
    requested: &str,
    plugins: &[Arc<dyn ConnectorPlugin>],
) -> Result<Arc<dyn ConnectorPlugin>, ClassError> {
    let requested = requested.trim();
    for rank in [2, 1] {
        let matches: Vec<&Arc<dyn ConnectorPlugin>> = plugins
            .iter()
            .filter(|p| {
                std::iter::once(p.class())
                    .chain(p.aliases().iter().copied())
                    .any(|name| match_rank(name, requested) == rank)
            })
            .collect();
        match matches.as_slice() {
            [] => continue,
            [one] => return Ok(Arc::clone(one)),
            many => {
                return Err(ClassError::Ambiguous {
                    requested: requested.to_owned(),
                    candidates: many.iter().map(|p| p.class().to_owned()).collect(),
                })
            }
        }
    }
    if let Some(class) = RECOGNISED_UNIMPLEMENTED
        .iter()
        .find(|c| match_rank(c, requested) > 0)
    {
        // A short name like `JdbcSinkConnector` matches both JDBC sinks; name the one whose full
        // name was given if it was, otherwise the first, the message says the same for both.
        let class = RECOGNISED_UNIMPLEMENTED
            .iter()
            .find(|c| **c == requested)
            .unwrap_or(class);
        return Err(ClassError::NotImplemented {
            class: (*class).to_owned(),
        });
    }
    Err(ClassError::NotFound {
        requested: requested.to_owned(),
        available: plugins.iter().map(|p| p.class().to_owned()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::future::BoxFuture;
    use walcast_connect_api::{
        ConfigIssue, ConfigKeyDef, ConnectorConfig, ConnectorError, ConnectorKind, TaskContext,
    };

    struct Fake {
        class: &'static str,
        aliases: &'static [&'static str],
    }

    impl ConnectorPlugin for Fake {
        fn class(&self) -> &'static str {
            self.class
        }
        fn aliases(&self) -> &'static [&'static str] {
            self.aliases
        }
        fn kind(&self) -> ConnectorKind {
            ConnectorKind::Source
        }
        fn version(&self) -> &'static str {
            "1"
        }
        fn config_keys(&self) -> &'static [ConfigKeyDef] {
            &[]
        }
        fn validate(&self, _: &ConnectorConfig) -> Vec<ConfigIssue> {
            Vec::new()
        }
        fn run(&self, _: TaskContext) -> BoxFuture<'static, Result<(), ConnectorError>> {
            Box::pin(async { Ok(()) })
        }
    }

    fn plugins() -> Vec<Arc<dyn ConnectorPlugin>> {
        vec![
            Arc::new(Fake {
                class: "io.debezium.connector.postgresql.PostgresConnector",
                aliases: &["walcast.PgSource"],
            }),
            Arc::new(Fake {
                class: "com.example.RedisSinkConnector",
                aliases: &[],
            }),
        ]
    }

    fn class_of(
        requested: &str,
        plugins: &[Arc<dyn ConnectorPlugin>],
    ) -> Result<&'static str, ClassError> {
        resolve(requested, plugins).map(|p| p.class())
    }

    #[test]
    fn full_name_alias_simple_and_pruned_names() {
        let p = plugins();
        let pg = "io.debezium.connector.postgresql.PostgresConnector";
        assert_eq!(class_of(pg, &p), Ok(pg));
        assert_eq!(
            class_of("  io.debezium.connector.postgresql.PostgresConnector ", &p),
            Ok(pg)
        );
        assert_eq!(class_of("PostgresConnector", &p), Ok(pg));
        assert_eq!(class_of("Postgres", &p), Ok(pg));
        assert_eq!(class_of("walcast.PgSource", &p), Ok(pg));
        assert_eq!(class_of("PgSource", &p), Ok(pg));
        assert_eq!(
            class_of("RedisSink", &p),
            Ok("com.example.RedisSinkConnector")
        );
    }

    #[test]
    fn unknown_class_uses_connects_message() {
        let err = class_of("com.acme.Nope", &plugins()).expect_err("unknown");
        let msg = err.to_string();
        assert!(
            msg.starts_with(
                "Failed to find any class that implements Connector and which name matches com.acme.Nope"
            ),
            "{msg}"
        );
        assert!(msg.contains("PostgresConnector"), "{msg}");
        // Case matters, as in Connect.
        assert!(class_of("postgresconnector", &plugins()).is_err());
    }

    #[test]
    fn jdbc_sinks_are_recognised_but_not_implemented() {
        for requested in [
            "io.confluent.connect.jdbc.JdbcSinkConnector",
            "io.debezium.connector.jdbc.JdbcSinkConnector",
            "JdbcSinkConnector",
            "JdbcSink",
        ] {
            let err = class_of(requested, &plugins()).expect_err("not implemented");
            assert!(
                err.to_string()
                    .contains("is recognised but not implemented in this walcast version"),
                "{err}"
            );
        }
        let err =
            class_of("io.debezium.connector.jdbc.JdbcSinkConnector", &plugins()).expect_err("x");
        assert!(err
            .to_string()
            .contains("io.debezium.connector.jdbc.JdbcSinkConnector"));
    }

    #[test]
    fn a_registered_plugin_wins_over_the_unimplemented_list() {
        let mut p = plugins();
        p.push(Arc::new(Fake {
            class: "walcast.sink.JdbcSink",
            aliases: &["io.confluent.connect.jdbc.JdbcSinkConnector"],
        }));
        assert_eq!(
            class_of("io.confluent.connect.jdbc.JdbcSinkConnector", &p),
            Ok("walcast.sink.JdbcSink")
        );
        assert_eq!(
            class_of("JdbcSinkConnector", &p),
            Ok("walcast.sink.JdbcSink")
        );
    }

    #[test]
    fn ambiguous_short_name_is_refused() {
        let p: Vec<Arc<dyn ConnectorPlugin>> = vec![
            Arc::new(Fake {
                class: "a.FooConnector",
                aliases: &[],
            }),
            Arc::new(Fake {
                class: "b.FooConnector",
                aliases: &[],
            }),
        ];
        assert!(matches!(
            resolve("FooConnector", &p),
            Err(ClassError::Ambiguous { .. })
        ));
        assert_eq!(class_of("a.FooConnector", &p), Ok("a.FooConnector"));
    }
}
