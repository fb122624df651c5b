//! Checking a submitted connector config, shared by `POST /connectors`, `PUT .../config`, the
//! validate endpoint and connectors loaded at boot, so all four agree on what is valid.
//!
//! The worker checks what Connect's worker checks (name, class, `tasks.max`, converters) plus
//! the plugin's required keys; the plugin's [`ConnectorPlugin::validate`] checks values. Values
//! are checked after `${...}` resolution; a reference that cannot be resolved is an issue on
//! its key.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::config::{is_supported_converter, JSON_CONVERTER};
use crate::secrets::{self, EnvLookup, Providers};
use walcast_connect_api::{ConfigIssue, ConfigKeyDef, ConnectorConfig, ConnectorPlugin};

/// The keys every connector has, Connect's "Common" group.
pub const COMMON_KEYS: &[ConfigKeyDef] = &[
    ConfigKeyDef {
        name: "name",
        kind: "STRING",
        required: true,
        default: None,
        doc: "Globally unique name to use for this connector.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "connector.class",
        kind: "STRING",
        required: true,
        default: None,
        doc: "Name or alias of the class for this connector.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "tasks.max",
        kind: "INT",
        required: false,
        default: Some("1"),
        doc: "Maximum number of tasks to use for this connector. walcast runs one task per connector.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "key.converter",
        kind: "CLASS",
        required: false,
        default: None,
        doc: "Converter for record keys; only org.apache.kafka.connect.json.JsonConverter is supported.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "value.converter",
        kind: "CLASS",
        required: false,
        default: None,
        doc: "Converter for record values; only org.apache.kafka.connect.json.JsonConverter is supported.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "key.converter.schemas.enable",
        kind: "BOOLEAN",
        required: false,
        default: None,
        doc: "Overrides the worker's key.converter.schemas.enable for this connector.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "value.converter.schemas.enable",
        kind: "BOOLEAN",
        required: false,
        default: None,
        doc: "Overrides the worker's value.converter.schemas.enable for this connector.",
        ..ConfigKeyDef::BASE
    },
];

/// Connect's message for a required key that is absent.
pub fn missing_message(key: &str) -> String {
    format!("Missing required configuration \"{key}\" which has no default value.")
}

/// All issues with `submitted` for `plugin`. Resolution of `${...}` uses the worker's declared
/// `providers` (`env` backs the env provider). Messages may quote resolved values (a plugin
/// saying "invalid value ..."); everything that shows them to a caller passes them through
/// [`crate::redact::scrub`].
pub fn check(
    plugin: &dyn ConnectorPlugin,
    submitted: &ConnectorConfig,
    providers: &Providers,
    env: EnvLookup<'_>,
) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let present = |k: &str| submitted.get(k).is_some_and(|v| !v.trim().is_empty());
    for def in COMMON_KEYS.iter().chain(plugin.config_keys()) {
        if def.required && def.default.is_none() && !present(def.name) {
            issues.push(ConfigIssue::new(def.name, missing_message(def.name)));
        }
    }
    if let Some(v) = submitted.get("tasks.max") {
        match v.trim().parse::<i64>() {
            Ok(n) if n >= 1 => {}
            Ok(_) => issues.push(ConfigIssue::new(
                "tasks.max",
                format!("Invalid value {v} for configuration tasks.max: Value must be at least 1"),
            )),
            Err(_) => issues.push(ConfigIssue::new(
                "tasks.max",
                format!("Invalid value {v} for configuration tasks.max: Not a number of type INT"),
            )),
        }
    }
    for key in ["key.converter", "value.converter"] {
        if let Some(v) = submitted.get(key) {
            if !is_supported_converter(v) {
                issues.push(ConfigIssue::new(
                    key,
                    format!("{v} is not supported: walcast only supports {JSON_CONVERTER}"),
                ));
            }
        }
    }
    for key in [
        "key.converter.schemas.enable",
        "value.converter.schemas.enable",
    ] {
        if let Some(v) = submitted.get(key) {
            if crate::config::parse_bool(v).is_none() {
                issues.push(ConfigIssue::new(
                    key,
                    format!("Invalid value {v} for configuration {key}: Expected value to be either true or false"),
                ));
            }
        }
    }
    // A key that is one or two typos away from a key the connector knows is almost certainly
    // misspelled: refuse it with a suggestion rather than ignore it (a misspelled
    // `table.include.list` would otherwise capture every table).
    let known: Vec<&str> = COMMON_KEYS
        .iter()
        .chain(plugin.config_keys())
        .map(|d| d.name)
        .collect();
    for key in unknown_keys(plugin, submitted) {
        if let Some(suggestion) = walcast_connect_api::did_you_mean(&key, known.iter().copied()) {
            if !submitted.contains_key(suggestion) {
                issues.push(ConfigIssue::new(
                    key.clone(),
                    format!("Unknown configuration key {key}: did you mean {suggestion}?"),
                ));
            }
        }
    }
    // The plugin sees every config (plugins check their own required keys, e.g. the source's
    // `topic.prefix`-or-`database.server.name`); a key reported above is not reported twice.
    match secrets::resolve_config(submitted, providers, env) {
        Ok(resolved) => {
            for issue in plugin.validate(&resolved) {
                if !issues.iter().any(|i| i.key == issue.key) {
                    issues.push(issue);
                }
            }
        }
        Err(e) => issues.push(ConfigIssue::new(e.key(), e.to_string())),
    }
    issues
}

/// Keys in `submitted` that neither the worker nor the plugin knows (warned about, accepted).
pub fn unknown_keys(plugin: &dyn ConnectorPlugin, submitted: &ConnectorConfig) -> Vec<String> {
    // Prefixes Connect itself interprets; plugins never list these.
    const PREFIXES: &[&str] = &[
        "transforms",
        "predicates",
        "errors.",
        "key.converter.",
        "value.converter.",
        "header.converter",
        "config.action.reload",
        "config.providers",
        "producer.override.",
        "consumer.override.",
        "admin.override.",
        "topic.creation.",
        "exactly.once.",
        "offsets.storage.topic",
        "transaction.boundary",
    ];
    submitted
        .keys()
        .filter(|k| {
            !COMMON_KEYS.iter().any(|d| d.name == k.as_str())
                && !plugin.config_keys().iter().any(|d| d.name == k.as_str())
                && !PREFIXES.iter().any(|p| k.starts_with(p))
        })
        .cloned()
        .collect()
}

/// Connect's "invalid config" message for `POST /connectors` and friends.
pub fn invalid_message(issues: &[ConfigIssue]) -> String {
    let mut msg = format!(
        "Connector configuration is invalid and contains the following {} error(s):\n",
        issues.len()
    );
    for issue in issues {
        msg.push_str(&issue.message);
        msg.push('\n');
    }
    msg.push_str(
        "You can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`",
    );
    msg
}

/// The body of `PUT /connector-plugins/{class}/config/validate`, in Connect's shape.
pub fn validation_body(
    plugin: &dyn ConnectorPlugin,
    submitted: &ConnectorConfig,
    issues: &[ConfigIssue],
) -> Value {
    let plugin_group = "Connector";
    let mut configs = Vec::new();
    let mut order_in_group: BTreeMap<&str, usize> = BTreeMap::new();
    let mut reported = std::collections::BTreeSet::new();
    let defs = COMMON_KEYS
        .iter()
        .map(|d| ("Common", d))
        .chain(plugin.config_keys().iter().map(|d| (plugin_group, d)));
    for (group, def) in defs {
        let order = order_in_group.entry(group).or_insert(0);
        *order += 1;
        let errors: Vec<String> = issues
            .iter()
            .filter(|i| i.key == def.name)
            .map(|i| crate::redact::scrub(&i.message))
            .collect();
        reported.insert(def.name);
        let value = submitted
            .get(def.name)
            .map(|v| {
                if def.kind == "PASSWORD" || crate::redact::is_secret_key(def.name) {
                    Value::from(crate::redact::HIDDEN)
                } else {
                    Value::from(v.as_str())
                }
            })
            .or_else(|| def.default.map(Value::from))
            .unwrap_or(Value::Null);
        configs.push(json!({
            "definition": {
                "name": def.name,
                "type": def.kind,
                "required": def.required && def.default.is_none(),
                "default_value": def.default,
                "importance": if def.required { "HIGH" } else { "MEDIUM" },
                "documentation": def.doc,
                "group": group,
                "width": "NONE",
                "display_name": def.name,
                "dependents": [],
                "order": *order,
            },
            "value": {
                "name": def.name,
                "value": value,
                "recommended_values": [],
                "errors": errors,
                "visible": true,
            }
        }));
    }
    // Issues on keys no definition lists (a plugin check or an unresolvable reference on an
    // extra key) still have to be visible and counted.
    for issue in issues.iter().filter(|i| !reported.contains(i.key.as_str())) {
        configs.push(json!({
            "definition": {
                "name": issue.key,
                "type": "STRING",
                "required": false,
                "default_value": null,
                "importance": "LOW",
                "documentation": "",
                "group": plugin_group,
                "width": "NONE",
                "display_name": issue.key,
                "dependents": [],
                "order": -1,
            },
            "value": {
                "name": issue.key,
                "value": submitted.get(&issue.key).map(|v| crate::redact::redact_value(&issue.key, v)),
                "recommended_values": [],
                "errors": [crate::redact::scrub(&issue.message)],
                "visible": true,
            }
        }));
    }
    json!({
        "name": plugin.class(),
        "error_count": issues.len(),
        "groups": ["Common", plugin_group],
        "configs": configs,
    })
}
